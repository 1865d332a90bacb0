package pipeline

import (
	"math"
	"strconv"
	"time"

	"millwright/models"
	"millwright/wire"
)

// machine is the per-machine state. It holds several models (slots) so that
// a champion and its learning twin or challengers can score the same vector.
type machine struct {
	id string

	// While learning is non-nil the sensor set is still being learned.
	learning  map[string]struct{}
	learnMsgs int

	sensors []string
	index   map[string]int
	latest  []float64 // the feature vector, reused
	lastEvt int64     // event time of the newest vector

	slots []*slot
}

// slot is one model of a machine with its alert state and interval metrics.
type slot struct {
	name string // model instance name: the kind, for now
	role string
	det  models.Detector

	// alerting (champion only)
	over      int   // consecutive vectors at or over the threshold
	overStart int64 // event time of the first of them
	active    bool  // in an episode that raised an alert; ends below Clear
	fired     bool  // an alert was ever raised
	lastFire  int64 // event time the last alert was raised

	// interval metrics
	count     uint64
	sum, max  float64
	last      float64
	overCount uint64
	latency   time.Duration
}

// score builds the machine's vector from msg and runs every model on it.
func (p *Pipeline) score(m *machine, msg *wire.Telemetry) {
	evt := msg.Env.Time
	got := false
	for i := range msg.Readings {
		r := &msg.Readings[i]
		idx, ok := m.index[r.Sensor]
		if !ok {
			p.ignored.Add(1)
			continue
		}
		m.latest[idx] = r.Value
		if !got || r.Time > evt {
			evt = r.Time
		}
		got = true
	}
	if !got {
		return
	}
	m.lastEvt = evt
	for _, s := range m.slots {
		start := time.Now()
		v := s.det.Update(m.latest)
		lat := time.Since(start)
		if !(v >= 0) { // NaN too
			v = 0
		}
		v = min(v, 1)
		p.vectors.Add(1)
		if p.opts.Latency != nil {
			p.opts.Latency.Observe(lat.Seconds())
		}
		s.count++
		s.sum += v
		s.max = max(s.max, v)
		s.last = v
		s.latency += lat
		if v >= p.opts.Alert.Threshold {
			s.overCount++
		}
		if s.role == wire.RoleChampion {
			p.decide(m, s, v, evt)
		}
	}
}

// decide runs the alert state machine of one champion on one score.
func (p *Pipeline) decide(m *machine, s *slot, v float64, evt int64) {
	a := &p.opts.Alert
	if s.active {
		if v < a.Clear {
			s.active = false
			s.over = 0
		}
		return
	}
	if v < a.Threshold {
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
	s.over = 0
}

// raise builds and hands over one alert. Alerts are rare: this path may
// allocate.
func (p *Pipeline) raise(m *machine, s *slot, v float64) {
	a := &p.alert
	*a = wire.Alert{
		Env:          wire.Envelope{Version: wire.Version, Sender: p.opts.Gateway, Time: s.overStart},
		Machine:      m.id,
		Model:        s.name,
		Severity:     wire.SeverityWarning,
		Score:        v,
		Threshold:    p.opts.Alert.Threshold,
		Contributors: a.Contributors[:0],
	}
	if v >= p.opts.Alert.Critical {
		a.Severity = wire.SeverityCritical
	}
	if ex, ok := s.det.(models.Explainer); ok {
		a.Contributors = topContributors(a.Contributors, ex, m.sensors, p.contrib[:len(m.sensors)], 3)
	}
	a.Message = "score " + strconv.FormatFloat(v, 'f', 4, 64) + " at or over " +
		strconv.FormatFloat(p.opts.Alert.Threshold, 'f', 4, 64) + " for " +
		strconv.Itoa(s.over) + " vectors in a row"
	p.alerts.Add(1)
	if err := p.opts.Sink.Alert(a); err != nil {
		p.log.Error("alert not queued", "machine", m.id, "err", err)
		return
	}
	p.log.Info("alert raised", "machine", m.id, "model", s.name, "score", v, "severity", a.Severity, "since", time.Unix(0, s.overStart).UTC())
}

// topContributors appends the k features with the largest shares.
func topContributors(dst []wire.Contribution, ex models.Explainer, sensors []string, buf []float64, k int) []wire.Contribution {
	for i := range buf {
		buf[i] = 0
	}
	ex.Contributions(buf)
	for range min(k, len(buf)) {
		best := -1
		for i, c := range buf {
			if c > 0 && !math.IsNaN(c) && (best < 0 || c > buf[best]) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		dst = append(dst, wire.Contribution{Feature: sensors[best], Value: buf[best]})
		buf[best] = 0
	}
	return dst
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
				Machine:   m.id,
				Model:     s.name,
				Role:      s.role,
				Count:     s.count,
				ScoreMax:  s.max,
				ScoreLast: s.last,
				Alerts:    s.overCount,
				Samples:   s.det.Samples(),
				Threshold: p.opts.Alert.Threshold,
			}
			if s.count > 0 {
				mm.ScoreMean = s.sum / float64(s.count)
				mm.LatencyNs = s.latency.Nanoseconds() / int64(s.count)
			}
			mt.Series = append(mt.Series, mm)
			s.count, s.sum, s.max, s.overCount, s.latency = 0, 0, 0, 0, 0
		}
	}
	if len(mt.Series) == 0 {
		return
	}
	if err := p.opts.Sink.Metrics(mt); err != nil {
		p.log.Warn("metrics not queued", "err", err)
	}
}
