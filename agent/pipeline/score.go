package pipeline

import (
	"math"
	"time"

	"millwright/models"
	"millwright/wire"
)

// machine is the per-machine state: its vector layout and its models. The
// champion is always slots[0] and its learning twin slots[1]; challengers
// follow. prev and prevTwin are the champion pair a deploy replaced, kept
// for an instant rollback; they do not score.
type machine struct {
	id string

	// While learning is non-nil the sensor set is still being learned.
	learning  map[string]struct{}
	learnMsgs int

	sensors []string // the vector's feature names
	inputs  []string // the machine's own sensors, sorted
	index   map[string]int
	latest  []float64 // the feature vector, reused
	stream  *streamState
	lastEvt int64 // event time of the newest vector

	slots          []*slot
	prev, prevTwin *slot
	nextChallenger int

	drift   machineDrift
	stats   []robustStat // per feature, for alert context without an Explainer
	history scoreRing    // the champion's recent scores
	alarm   bool         // the champion is in an alert episode
}

func (m *machine) champion() *slot { return m.slots[0] }

// slot is one model of a machine with its alert state and interval metrics.
type slot struct {
	name string // model instance name
	role string
	kind string
	hash string // content hash of the snapshot it started from, "" for none
	det  models.Detector
	// threshold is this model's decision threshold; 0 follows the
	// pipeline's alert threshold.
	threshold float64
	// warm counts the vectors left in a champion's warm-up: while it is
	// positive the champion learns (gated), at zero it is frozen. Twins and
	// challengers ignore it and keep learning.
	warm int

	// alerting (champion only)
	over      int   // consecutive vectors at or over the threshold
	overStart int64 // event time of the first of them
	active    bool  // in an episode that raised an alert; ends below Clear
	fired     bool  // an alert was ever raised
	lastFire  int64 // event time the last alert was raised

	// interval metrics
	count                     uint64
	sum, max                  float64
	last                      float64
	overCount                 uint64
	latency                   time.Duration
	both, onlyModel, onlyChmp uint64
	hist                      [wire.HistBins]uint32
}

func (s *slot) thresholdOr(def float64) float64 {
	if s.threshold > 0 {
		return s.threshold
	}
	return def
}

func clamp01(v float64) float64 {
	if !(v >= 0) { // NaN too
		return 0
	}
	return min(v, 1)
}

// score puts the message's readings through the machine's event-time
// stages and scores every vector they release.
func (p *Pipeline) score(m *machine, msg *wire.Telemetry) {
	p.rel = p.rel[:0]
	for i := range msg.Readings {
		r := &msg.Readings[i]
		if _, ok := m.stream.rawIdx[r.Sensor]; !ok {
			p.ignored.Add(1)
			continue
		}
		p.push(m, r.Sensor, r.Time, r.Value)
	}
	p.release(m)
}

// scoreLate scores a vector of readings released behind the watermark by
// every model, without learning, alerting or drift: its time has passed.
func (p *Pipeline) scoreLate(m *machine, vec []float64) {
	p.vectors.Add(1)
	a := &p.opts.Alert
	for _, s := range m.slots {
		start := time.Now()
		v := clamp01(s.det.Score(vec))
		p.account(s, v, time.Since(start), s.thresholdOr(a.Threshold))
	}
}

// scoreVector runs every model of m on m.latest at event time evt.
func (p *Pipeline) scoreVector(m *machine, evt int64) {
	m.lastEvt = evt
	p.vectors.Add(1)
	a := &p.opts.Alert
	ch := m.champion()
	chThr := ch.thresholdOr(a.Threshold)

	// The champion first: its decision gates what the others learn.
	start := time.Now()
	v := p.runChampion(m, ch)
	p.account(ch, v, time.Since(start), chThr)
	chAlarm := v >= chThr
	m.history.add(v)
	p.decide(m, ch, v, evt)
	gate := chAlarm || ch.active
	if !gate {
		updateStats(m.stats, m.latest)
	}
	p.observeDrift(m, v, evt)

	for _, s := range m.slots[1:] {
		start := time.Now()
		var sv float64
		if gate {
			sv = clamp01(s.det.Score(m.latest))
		} else {
			sv = clamp01(s.det.Update(m.latest))
		}
		thr := s.thresholdOr(a.Threshold)
		p.account(s, sv, time.Since(start), thr)
		switch alarm := sv >= thr; {
		case alarm && chAlarm:
			s.both++
		case alarm:
			s.onlyModel++
		case chAlarm:
			s.onlyChmp++
		}
	}
}

// runChampion scores the vector with the champion, learning from it while
// the champion warms up: unconditionally until it has learned ScoreAfter
// vectors, then only from vectors scoring below Clear, so that it never
// learns a developing fault. After the warm-up it learns as Options.Champion
// says.
func (p *Pipeline) runChampion(m *machine, ch *slot) float64 {
	if ch.warm <= 0 {
		switch p.opts.Champion {
		case ChampionFrozen:
			return clamp01(ch.det.Score(m.latest))
		case ChampionGated:
			v := clamp01(ch.det.Score(m.latest))
			if v < p.opts.Alert.Clear {
				ch.det.Update(m.latest)
			}
			return v
		}
		return clamp01(ch.det.Update(m.latest))
	}
	ch.warm--
	if !canScore(ch.det, p.opts.ScoreAfter) {
		return clamp01(ch.det.Update(m.latest))
	}
	v := clamp01(ch.det.Score(m.latest))
	if v < p.opts.Alert.Clear {
		ch.det.Update(m.latest)
	}
	if ch.warm == 0 {
		p.log.Info("champion warm-up done", "machine", m.id, "model", ch.name, "samples", ch.det.Samples(), "then", p.opts.Champion)
	}
	return v
}

func (p *Pipeline) account(s *slot, v float64, lat time.Duration, thr float64) {
	if p.opts.Latency != nil {
		p.opts.Latency.Observe(lat.Seconds())
	}
	s.count++
	s.sum += v
	s.max = max(s.max, v)
	s.last = v
	s.latency += lat
	if v >= thr {
		s.overCount++
	}
	s.hist[min(int(v*wire.HistBins), wire.HistBins-1)]++
}

// decide runs the alert state machine of one champion on one score.
func (p *Pipeline) decide(m *machine, s *slot, v float64, evt int64) {
	a := &p.opts.Alert
	if s.active {
		if v < a.Clear {
			s.active = false
			s.over = 0
			p.setAlarm(m, false)
		}
		return
	}
	if v < s.thresholdOr(a.Threshold) {
		s.over = 0
		return
	}
	if s.over == 0 {
		s.overStart = evt
	}
	s.over++
	if s.over < a.Consecutive {
		return
	}
	if s.fired && a.Cooldown > 0 && evt-s.lastFire < int64(a.Cooldown) {
		return // keep counting: it fires once the cooldown is over
	}
	s.active, s.fired, s.lastFire = true, true, evt
	p.raise(m, s, v)
	p.setAlarm(m, true)
	s.over = 0
}

func (p *Pipeline) setAlarm(m *machine, on bool) {
	if m.alarm == on {
		return
	}
	m.alarm = on
	if p.opts.OnAlarm != nil {
		p.opts.OnAlarm(m.id, on)
	}
}

// EmitMetrics hands one wire.Metrics covering every model since the last
// call to the sink and starts a new interval.
func (p *Pipeline) EmitMetrics(now time.Time) {
	mt := &p.metrics
	mt.Env = wire.Envelope{Version: wire.Version, Sender: p.opts.Gateway, Time: now.UnixNano()}
	mt.IntervalNs = now.Sub(p.lastEmt).Nanoseconds()
	p.lastEmt = now
	mt.Series = mt.Series[:0]
	for _, m := range p.order {
		for _, s := range m.slots {
			mm := wire.ModelMetric{
				Machine:      m.id,
				Model:        s.name,
				Role:         s.role,
				Count:        s.count,
				ScoreMax:     s.max,
				ScoreLast:    s.last,
				Alerts:       s.overCount,
				Samples:      s.det.Samples(),
				Threshold:    s.thresholdOr(p.opts.Alert.Threshold),
				Both:         s.both,
				OnlyModel:    s.onlyModel,
				OnlyChampion: s.onlyChmp,
				Hist:         make([]uint32, wire.HistBins), // metrics are per interval: may allocate
				Kind:         s.kind,
				Snapshot:     s.hash,
			}
			copy(mm.Hist, s.hist[:])
			if s.count > 0 {
				mm.ScoreMean = s.sum / float64(s.count)
				mm.LatencyNs = s.latency.Nanoseconds() / int64(s.count)
			}
			mt.Series = append(mt.Series, mm)
			s.count, s.sum, s.max, s.overCount, s.latency = 0, 0, 0, 0, 0
			s.both, s.onlyModel, s.onlyChmp = 0, 0, 0
			s.hist = [wire.HistBins]uint32{}
		}
	}
	if len(mt.Series) == 0 {
		return
	}
	// Said once when queuing starts failing (a full disk, say) and once
	// when it works again; the outbox counts every failure.
	switch err := p.opts.Sink.Metrics(mt); {
	case err != nil && !p.metricsFailing:
		p.metricsFailing = true
		p.log.Warn("metrics not queued; said once until they are again", "err", err)
	case err == nil && p.metricsFailing:
		p.metricsFailing = false
		p.log.Info("metrics queued again")
	}
}

// finite reports whether v is a usable number.
func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// readier is a detector that knows when its scores mean something.
type readier interface{ Ready() bool }

func canScore(d models.Detector, after int) bool {
	if r, ok := d.(readier); ok {
		return r.Ready()
	}
	return d.Samples() >= uint64(after)
}
