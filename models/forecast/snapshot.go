package forecast

import (
	"math"

	"millwright/models/calibrate"
	"millwright/models/snapshot"
)

const snapshotVersion = 1

type state struct {
	Dim        int             `cbor:"1,keyasint"`
	Order      int             `cbor:"2,keyasint"`
	Forget     float64         `cbor:"3,keyasint"`
	Normalise  float64         `cbor:"4,keyasint"`
	MinSamples int             `cbor:"5,keyasint"`
	Smooth     int             `cbor:"6,keyasint"`
	Seen       uint64          `cbor:"7,keyasint"`
	N          []uint64        `cbor:"8,keyasint"`
	Mean       []float64       `cbor:"9,keyasint"`
	Var        []float64       `cbor:"10,keyasint"`
	Res        []float64       `cbor:"11,keyasint"`
	Hist       []float64       `cbor:"12,keyasint"`
	Theta      []float64       `cbor:"13,keyasint"`
	P          []float64       `cbor:"14,keyasint"`
	Smoothed   float64         `cbor:"15,keyasint"`
	SmoothN    uint64          `cbor:"16,keyasint"`
	Cal        calibrate.State `cbor:"17,keyasint"`
}

// MarshalSnapshot returns the whole state as versioned CBOR.
func (d *Detector) MarshalSnapshot() ([]byte, error) {
	o := d.opt
	return snapshot.Marshal(Kind, snapshotVersion, state{
		Dim: d.dim, Order: o.Order, Forget: o.Forget, Normalise: o.Normalise,
		MinSamples: o.MinSamples, Smooth: o.Smooth, Seen: d.seen, N: d.n,
		Mean: d.mean, Var: d.vr, Res: d.res, Hist: d.hist, Theta: d.th, P: d.pm,
		Smoothed: d.smooth, SmoothN: d.smoothN, Cal: d.cal.State(),
	})
}

// UnmarshalSnapshot replaces the state with a snapshot's. A snapshot of
// another kind, of an unknown version, or inconsistent is refused, leaving
// the state as it was.
func (d *Detector) UnmarshalSnapshot(b []byte) error {
	var s state
	if _, err := snapshot.Unmarshal(b, Kind, snapshotVersion, &s); err != nil {
		return err
	}
	if s.Dim < 1 || s.Dim > MaxDim {
		return snapshot.Corrupt(Kind, "dimension %d", s.Dim)
	}
	cal, err := calibrate.Restore(s.Cal)
	if err != nil {
		return snapshot.Corrupt(Kind, "%v", err)
	}
	o := Options{Order: s.Order, Forget: s.Forget, Normalise: s.Normalise,
		MinSamples: s.MinSamples, Smooth: s.Smooth, Calibrate: cal.Options()}
	if o.withDefaults() != o {
		return snapshot.Corrupt(Kind, "options out of range")
	}
	q := s.Order + 1
	if len(s.N) != s.Dim || len(s.Mean) != s.Dim || len(s.Var) != s.Dim || len(s.Res) != s.Dim ||
		len(s.Hist) != s.Dim*s.Order || len(s.Theta) != s.Dim*q || len(s.P) != s.Dim*q*q {
		return snapshot.Corrupt(Kind, "vector lengths do not match dimension %d, order %d", s.Dim, s.Order)
	}
	for _, v := range [][]float64{s.Mean, s.Var, s.Res, s.Hist, s.Theta, s.P, {s.Smoothed}} {
		for _, x := range v {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return snapshot.Corrupt(Kind, "non-finite value")
			}
		}
	}
	for j := range s.Dim {
		if s.Var[j] < 0 || s.Res[j] < 0 {
			return snapshot.Corrupt(Kind, "negative variance")
		}
	}
	nd := &Detector{opt: o}
	nd.alloc(s.Dim)
	nd.seen, nd.smooth, nd.smoothN, nd.cal = s.Seen, s.Smoothed, s.SmoothN, cal
	copy(nd.n, s.N)
	copy(nd.mean, s.Mean)
	copy(nd.vr, s.Var)
	copy(nd.res, s.Res)
	copy(nd.hist, s.Hist)
	copy(nd.th, s.Theta)
	copy(nd.pm, s.P)
	*d = *nd
	return nil
}
