package drift

import (
	"math"

	"millwright/models/snapshot"
)

// PageHinkleyOptions configures a PageHinkley test. The zero value gives
// the usual defaults; Delta and Threshold are in the units of the values.
type PageHinkleyOptions struct {
	// Delta is the magnitude of change tolerated. Default 0.005.
	Delta float64
	// Threshold is λ, how far the cumulative sum must rise above its
	// minimum to alarm. Default 50.
	Threshold float64
	// Alpha is the forgetting factor of the cumulative sum. Default 0.9999.
	Alpha float64
	// MinSamples is the number of values before any alarm. Default 30.
	MinSamples int
}

func (o *PageHinkleyOptions) fill() {
	if !(o.Delta >= 0) || math.IsInf(o.Delta, 0) {
		o.Delta = 0
	}
	if o.Delta == 0 {
		o.Delta = 0.005
	}
	if !(o.Threshold > 0) || math.IsInf(o.Threshold, 0) {
		o.Threshold = 50
	}
	if !(o.Alpha > 0 && o.Alpha <= 1) {
		o.Alpha = 0.9999
	}
	if o.MinSamples <= 0 {
		o.MinSamples = 30
	}
}

// PageHinkley is the two-sided Page-Hinkley test. After a drift it starts
// over, learning the new mean. Use NewPageHinkley.
type PageHinkley struct {
	opt       PageHinkleyOptions
	n         uint64 // values since the last reset
	mean      float64
	up, upMin float64 // cumulative sum for an increase, and its minimum
	dn, dnMax float64 // cumulative sum for a decrease, and its maximum
	samples   uint64
	drifts    uint64
}

// NewPageHinkley returns a fresh test.
func NewPageHinkley(o PageHinkleyOptions) *PageHinkley {
	o.fill()
	return &PageHinkley{opt: o}
}

// Drifts is the number of drifts detected so far.
func (p *PageHinkley) Drifts() uint64 { return p.drifts }

// Samples is the number of values added (NaN and ±Inf are skipped).
func (p *PageHinkley) Samples() uint64 { return p.samples }

// Mean is the running mean since the last drift.
func (p *PageHinkley) Mean() float64 { return p.mean }

// Add adds x and reports whether a drift (either way) was detected at it.
// NaN and ±Inf are ignored.
func (p *PageHinkley) Add(x float64) bool {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return false
	}
	p.samples++
	p.n++
	p.mean += (x - p.mean) / float64(p.n)
	a := p.opt.Alpha
	p.up = a*p.up + (x - p.mean - p.opt.Delta)
	p.upMin = min(p.upMin, p.up)
	p.dn = a*p.dn + (x - p.mean + p.opt.Delta)
	p.dnMax = max(p.dnMax, p.dn)
	if p.n < uint64(p.opt.MinSamples) {
		return false
	}
	if p.up-p.upMin > p.opt.Threshold || p.dnMax-p.dn > p.opt.Threshold {
		p.drifts++
		p.n, p.mean, p.up, p.upMin, p.dn, p.dnMax = 0, 0, 0, 0, 0, 0
		return true
	}
	return false
}

const (
	phKind    = "pagehinkley"
	phVersion = 1
)

type phState struct {
	Delta      float64 `cbor:"1,keyasint"`
	Threshold  float64 `cbor:"2,keyasint"`
	Alpha      float64 `cbor:"3,keyasint"`
	MinSamples int     `cbor:"4,keyasint"`
	N          uint64  `cbor:"5,keyasint"`
	Mean       float64 `cbor:"6,keyasint"`
	Up         float64 `cbor:"7,keyasint"`
	UpMin      float64 `cbor:"8,keyasint"`
	Dn         float64 `cbor:"9,keyasint"`
	DnMax      float64 `cbor:"10,keyasint"`
	Samples    uint64  `cbor:"11,keyasint"`
	Drifts     uint64  `cbor:"12,keyasint"`
}

// MarshalSnapshot returns the whole state as a versioned CBOR snapshot.
func (p *PageHinkley) MarshalSnapshot() ([]byte, error) {
	return snapshot.Marshal(phKind, phVersion, phState{
		Delta: p.opt.Delta, Threshold: p.opt.Threshold, Alpha: p.opt.Alpha,
		MinSamples: p.opt.MinSamples, N: p.n, Mean: p.mean, Up: p.up, UpMin: p.upMin,
		Dn: p.dn, DnMax: p.dnMax, Samples: p.samples, Drifts: p.drifts,
	})
}

// UnmarshalSnapshot replaces the state with a snapshot's, refusing another
// kind, an unknown version or an inconsistent state and leaving the state
// as it was.
func (p *PageHinkley) UnmarshalSnapshot(b []byte) error {
	var s phState
	if _, err := snapshot.Unmarshal(b, phKind, phVersion, &s); err != nil {
		return err
	}
	o := PageHinkleyOptions{Delta: s.Delta, Threshold: s.Threshold, Alpha: s.Alpha, MinSamples: s.MinSamples}
	o.fill()
	if o != (PageHinkleyOptions{Delta: s.Delta, Threshold: s.Threshold, Alpha: s.Alpha, MinSamples: s.MinSamples}) {
		return snapshot.Corrupt(phKind, "invalid options")
	}
	for _, v := range []float64{s.Mean, s.Up, s.UpMin, s.Dn, s.DnMax} {
		if !finite(v) {
			return snapshot.Corrupt(phKind, "non-finite sum")
		}
	}
	if s.UpMin > s.Up || s.DnMax < s.Dn {
		return snapshot.Corrupt(phKind, "extremum beyond its sum")
	}
	*p = PageHinkley{opt: o, n: s.N, mean: s.Mean, up: s.Up, upMin: s.UpMin,
		dn: s.Dn, dnMax: s.DnMax, samples: s.Samples, drifts: s.Drifts}
	return nil
}
