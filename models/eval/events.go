package eval

import "time"

// Events accumulates event-level metrics over one or more series of
// timestamped rows. An anomaly window is a maximal run of labelled rows
// within a series; an alarm event is a maximal run of alarmed rows. The zero
// value is ready to use.
type Events struct {
	windows, detected int
	falseAlarms       int
	delaySum          time.Duration
	delayMax          time.Duration
	observed          time.Duration

	// per-series state
	started   bool
	first     time.Time
	last      time.Time
	inWindow  bool
	winStart  time.Time
	winHit    bool
	prevAlarm bool
}

// Add counts one row at time t. Rows of a series must come in time order.
func (e *Events) Add(t time.Time, label, alarm bool) {
	if !e.started {
		e.started = true
		e.first = t
	}
	e.last = t
	if label && !e.inWindow {
		e.inWindow = true
		e.winStart = t
		e.winHit = false
		e.windows++
	}
	if !label && e.inWindow {
		e.closeWindow()
	}
	if label && alarm && !e.winHit {
		e.winHit = true
		e.detected++
		d := t.Sub(e.winStart)
		e.delaySum += d
		e.delayMax = max(e.delayMax, d)
	}
	// An alarm run that began inside a window and outlasts it is the same
	// event, not a new false alarm.
	if alarm && !label && !e.prevAlarm {
		e.falseAlarms++
	}
	e.prevAlarm = alarm
}

func (e *Events) closeWindow() {
	e.inWindow = false
}

// Break ends the current series: an open window ends with its last row and
// the next row starts a new series (its time span is counted separately).
func (e *Events) Break() {
	if e.inWindow {
		e.closeWindow()
	}
	if e.started {
		e.observed += e.last.Sub(e.first)
	}
	e.started = false
	e.prevAlarm = false
}

// EventStats is a summary of an Events accumulator.
type EventStats struct {
	Windows     int           // labelled anomaly windows seen
	Detected    int           // windows with at least one alarm inside
	Missed      int           // windows without any alarm
	MeanDelay   time.Duration // mean detection delay over detected windows
	MaxDelay    time.Duration // largest detection delay
	FalseAlarms int           // alarm events starting outside every window
	Observed    time.Duration // total time spanned by the series
	// FalseAlarmsPerDay is FalseAlarms per 24 h of observed time; 0 when
	// no time was observed.
	FalseAlarmsPerDay float64
}

// Stats summarises what was counted so far, including the open series.
func (e *Events) Stats() EventStats {
	s := EventStats{
		Windows:     e.windows,
		Detected:    e.detected,
		Missed:      e.windows - e.detected,
		MaxDelay:    e.delayMax,
		FalseAlarms: e.falseAlarms,
		Observed:    e.observed,
	}
	if e.started {
		s.Observed += e.last.Sub(e.first)
	}
	if e.detected > 0 {
		s.MeanDelay = e.delaySum / time.Duration(e.detected)
	}
	if s.Observed > 0 {
		s.FalseAlarmsPerDay = float64(e.falseAlarms) / (s.Observed.Hours() / 24)
	}
	return s
}
