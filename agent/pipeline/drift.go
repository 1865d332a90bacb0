package pipeline

import (
	"math"
	"time"

	"millwright/models/drift"
	"millwright/wire"
)

// DriftOptions tune drift detection. Zero fields take the defaults.
type DriftOptions struct {
	// MinGap is the least event time between two drift reports of one
	// machine (default 10m); reports in between are counted and dropped.
	MinGap time.Duration
	// Baseline is how many vectors fix each feature's scale before its
	// Page-Hinkley test starts (default 100).
	Baseline int
	// Disabled turns drift detection off.
	Disabled bool
}

func (o *DriftOptions) fill() {
	if o.MinGap <= 0 {
		o.MinGap = 10 * time.Minute
	}
	if o.Baseline <= 0 {
		o.Baseline = 100
	}
}

// machineDrift watches one machine: ADWIN on the champion's score, and a
// Page-Hinkley test on each input feature standardised by the scale seen in
// its first Baseline vectors (so one threshold fits every unit).
type machineDrift struct {
	score    *drift.ADWIN
	feats    []featureDrift
	lastSent int64 // event time of the last report
	sent     bool
}

type featureDrift struct {
	ph         *drift.PageHinkley
	n          uint64  // values seen
	mean, m2   float64 // Welford over the baseline
	scale      float64 // sigma of the baseline; 0 until fixed
	recent     float64 // fast EWMA of the raw value, the "after" level
	sinceReset uint64
}

func newMachineDrift(dim int) machineDrift {
	d := machineDrift{score: drift.NewADWIN(drift.ADWINOptions{}), feats: make([]featureDrift, dim)}
	for i := range d.feats {
		d.feats[i].ph = drift.NewPageHinkley(drift.PageHinkleyOptions{Delta: 0.1, Threshold: 50, MinSamples: 30})
	}
	return d
}

// resetScore starts the score's window over, when the champion changes.
func (d *machineDrift) resetScore() {
	if d.score != nil {
		d.score = drift.NewADWIN(drift.ADWINOptions{})
	}
}

// observeDrift feeds one vector's champion score and features to the
// machine's drift detectors and reports a drift when one fires.
func (p *Pipeline) observeDrift(m *machine, score float64, evt int64) {
	if p.opts.Drift.Disabled || m.drift.score == nil {
		return
	}
	d := &m.drift
	before, width := d.score.Mean(), d.score.Width()
	if d.score.Add(score) {
		p.reportDrift(m, evt, "adwin", "score", before, d.score.Mean(), width)
	}
	for i := range d.feats {
		f := &d.feats[i]
		x := m.latest[i]
		if !finite(x) {
			continue
		}
		f.n++
		if f.n == 1 {
			f.recent = x
		}
		f.recent += (x - f.recent) * 0.05
		if f.scale == 0 {
			delta := x - f.mean
			f.mean += delta / float64(f.n)
			f.m2 += delta * (x - f.mean)
			if f.n >= uint64(p.opts.Drift.Baseline) {
				f.scale = max(math.Sqrt(f.m2/float64(f.n)), 1e-9*max(1, math.Abs(f.mean)))
			}
			continue
		}
		z := (x - f.mean) / f.scale
		prev := f.ph.Mean()
		f.sinceReset++
		if f.ph.Add(z) {
			p.reportDrift(m, evt, "page-hinkley", m.sensors[i], f.mean+prev*f.scale, f.recent, f.sinceReset)
			f.sinceReset = 0
		}
	}
}

// reportDrift hands a drift to the sink unless the machine reported one
// less than MinGap ago. Drifts are rare: this may allocate.
func (p *Pipeline) reportDrift(m *machine, evt int64, detector, signal string, before, after float64, samples uint64) {
	d := &m.drift
	if d.sent && evt-d.lastSent < int64(p.opts.Drift.MinGap) {
		p.driftsDropped.Add(1)
		return
	}
	d.sent, d.lastSent = true, evt
	p.drifts.Add(1)
	ch := m.champion()
	msg := &wire.Drift{
		Env:      wire.Envelope{Version: wire.Version, Sender: p.opts.Gateway, Time: evt},
		Machine:  m.id,
		Model:    ch.name,
		Role:     wire.RoleChampion,
		Detector: detector,
		Signal:   signal,
		Before:   before,
		After:    after,
		Samples:  samples,
	}
	p.log.Info("drift detected", "machine", m.id, "detector", detector, "signal", signal, "before", before, "after", after, "samples", samples)
	if err := p.opts.Sink.Drift(msg); err != nil {
		p.log.Warn("drift not queued", "machine", m.id, "err", err)
	}
}
