package pipeline

import (
	"math"
	"strconv"
	"time"

	"millwright/models"
	"millwright/wire"
)

// historyLen is how many recent champion scores an alert quotes.
const historyLen = 8

// scoreRing keeps a machine's recent champion scores.
type scoreRing struct {
	v [historyLen]float64
	n int // scores added, ever
}

func (r *scoreRing) add(v float64) {
	r.v[r.n%historyLen] = v
	r.n++
}

// appendTo appends the kept scores, oldest first, separated by spaces.
func (r *scoreRing) appendTo(b []byte) []byte {
	k := min(r.n, historyLen)
	for i := range k {
		if i > 0 {
			b = append(b, ' ')
		}
		b = strconv.AppendFloat(b, r.v[(r.n-k+i)%historyLen], 'f', 3, 64)
	}
	return b
}

// robustStat tracks a feature's median and mean absolute deviation from it
// in O(1) memory (a frugal streaming median with a step that follows the
// spread), so that an alert can say which features are far from usual even
// when the model cannot explain itself.
type robustStat struct {
	med, mad float64
	n        uint64
}

func updateStats(st []robustStat, x []float64) {
	for i := range st {
		v := x[i]
		if !finite(v) {
			continue
		}
		s := &st[i]
		s.n++
		if s.n == 1 {
			s.med = v
			continue
		}
		d := v - s.med
		step := max(s.mad, 1e-9) * 0.05
		if s.n < 32 { // fast start: a running mean until the spread is known
			s.med += d / float64(s.n)
		} else if d > 0 {
			s.med += min(step, d)
		} else if d < 0 {
			s.med -= min(step, -d)
		}
		s.mad += (math.Abs(d) - s.mad) / float64(min(s.n, 100))
	}
}

// z is the robust z of v against s (0 when unknown).
func (s *robustStat) z(v float64) float64 {
	if s.n < 2 || !finite(v) {
		return 0
	}
	// 1.2533 turns a mean absolute deviation into a normal sigma.
	return math.Abs(v-s.med) / (1.2533*s.mad + 1e-12)
}

// raise builds and hands over one alert. Alerts are rare: this path may
// allocate.
func (p *Pipeline) raise(m *machine, s *slot, v float64) {
	thr := s.thresholdOr(p.opts.Alert.Threshold)
	a := &p.alert
	*a = wire.Alert{
		Env:          wire.Envelope{Version: wire.Version, Sender: p.opts.Gateway, Time: s.overStart},
		Machine:      m.id,
		Model:        s.name,
		Severity:     wire.SeverityWarning,
		Score:        v,
		Threshold:    thr,
		Contributors: a.Contributors[:0],
	}
	if v >= p.opts.Alert.Critical {
		a.Severity = wire.SeverityCritical
	}
	buf := p.contrib[:len(m.sensors)]
	clear(buf)
	basis := "robust z"
	if ex, ok := s.det.(models.Explainer); ok {
		ex.Contributions(buf)
		basis = "model"
	} else {
		for i := range buf {
			buf[i] = m.stats[i].z(m.latest[i])
		}
	}
	a.Contributors = topContributors(a.Contributors, m.sensors, buf, 3)
	msg := make([]byte, 0, 160)
	msg = append(msg, "score "...)
	msg = strconv.AppendFloat(msg, v, 'f', 4, 64)
	msg = append(msg, " at or over "...)
	msg = strconv.AppendFloat(msg, thr, 'f', 4, 64)
	msg = append(msg, " for "...)
	msg = strconv.AppendInt(msg, int64(s.over), 10)
	msg = append(msg, " vectors in a row; recent scores ["...)
	msg = m.history.appendTo(msg)
	msg = append(msg, ']')
	if len(a.Contributors) > 0 {
		msg = append(msg, "; top features ("...)
		msg = append(msg, basis...)
		msg = append(msg, "):"...)
		for i, c := range a.Contributors {
			if i > 0 {
				msg = append(msg, ',')
			}
			msg = append(msg, ' ')
			msg = append(msg, c.Feature...)
			msg = append(msg, '=')
			msg = strconv.AppendFloat(msg, m.latest[indexOf(m.sensors, c.Feature)], 'g', 5, 64)
		}
	}
	a.Message = string(msg)
	p.alerts.Add(1)
	if err := p.opts.Sink.Alert(a); err != nil {
		p.log.Error("alert not queued", "machine", m.id, "err", err)
		return
	}
	p.log.Info("alert raised", "machine", m.id, "model", s.name, "score", v, "severity", a.Severity,
		"since", time.Unix(0, s.overStart).UTC(), "message", a.Message)
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return 0
}

// topContributors appends the k features with the largest shares in buf
// (which it overwrites).
func topContributors(dst []wire.Contribution, sensors []string, buf []float64, k int) []wire.Contribution {
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
