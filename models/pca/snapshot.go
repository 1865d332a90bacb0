package pca

import (
	"math"

	"millwright/models/calibrate"
	"millwright/models/snapshot"
)

const snapshotVersion = 1

type state struct {
	Dim         int             `cbor:"1,keyasint"`
	Components  int             `cbor:"2,keyasint"`
	Variance    float64         `cbor:"3,keyasint"`
	Forget      float64         `cbor:"4,keyasint"`
	Refresh     int             `cbor:"5,keyasint"`
	MinSamples  int             `cbor:"6,keyasint"`
	FreezeAfter uint64          `cbor:"7,keyasint"`
	Smooth      int             `cbor:"8,keyasint"`
	Diff        bool            `cbor:"9,keyasint"`
	Statistic   int             `cbor:"10,keyasint"`
	N           uint64          `cbor:"11,keyasint"`
	Mean        []float64       `cbor:"12,keyasint"`
	Cov         []float64       `cbor:"13,keyasint"`
	Since       int             `cbor:"14,keyasint"`
	Ready       bool            `cbor:"15,keyasint"`
	Scale       []float64       `cbor:"16,keyasint"`
	Val         []float64       `cbor:"17,keyasint"`
	Vec         []float64       `cbor:"18,keyasint"`
	K           int             `cbor:"19,keyasint"`
	EQ          float64         `cbor:"20,keyasint"`
	Prev        []float64       `cbor:"21,keyasint"`
	PrevOK      []bool          `cbor:"22,keyasint"`
	Smoothed    float64         `cbor:"23,keyasint"`
	SmoothN     uint64          `cbor:"24,keyasint"`
	Cal         calibrate.State `cbor:"25,keyasint"`
	Raw         bool            `cbor:"26,keyasint"`
	Prefilter   int             `cbor:"27,keyasint"`
	Filt        []float64       `cbor:"28,keyasint"`
	FiltOK      []bool          `cbor:"29,keyasint"`
	CalAfter    uint64          `cbor:"30,keyasint"`
	Seen        uint64          `cbor:"31,keyasint"`
	Robust      float64         `cbor:"32,keyasint,omitempty"`
	CalUntil    uint64          `cbor:"33,keyasint,omitempty"`
}

// MarshalSnapshot returns the whole state as versioned CBOR.
func (d *Detector) MarshalSnapshot() ([]byte, error) {
	o := d.opt
	return snapshot.Marshal(Kind, snapshotVersion, state{
		Dim: d.dim, Components: o.Components, Variance: o.Variance, Forget: o.Forget,
		Refresh: o.Refresh, MinSamples: o.MinSamples, FreezeAfter: o.FreezeAfter,
		Smooth: o.Smooth, Diff: o.Diff, Statistic: o.Statistic, Raw: o.Uncalibrated, Prefilter: o.Prefilter, CalAfter: o.CalibrateAfter, Robust: o.Robust, CalUntil: o.CalibrateUntil, Filt: d.filt, FiltOK: d.filtOK,
		N: d.n, Seen: d.seen, Mean: d.mean, Cov: d.cov, Since: d.since, Ready: d.ready,
		Scale: d.scale, Val: d.val, Vec: d.vec, K: d.k, EQ: d.eq,
		Prev: d.prev, PrevOK: d.prevOK, Smoothed: d.smooth, SmoothN: d.smoothN,
		Cal: d.cal.State(),
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
	o := Options{Components: s.Components, Variance: s.Variance, Forget: s.Forget,
		Refresh: s.Refresh, MinSamples: s.MinSamples, FreezeAfter: s.FreezeAfter,
		Smooth: s.Smooth, Diff: s.Diff, Statistic: s.Statistic, Uncalibrated: s.Raw, Prefilter: s.Prefilter, CalibrateAfter: s.CalAfter, Robust: s.Robust, CalibrateUntil: s.CalUntil}
	cal, err := calibrate.Restore(s.Cal)
	if err != nil {
		return snapshot.Corrupt(Kind, "%v", err)
	}
	o.Calibrate = cal.Options()
	if o.withDefaults(s.Dim) != o {
		return snapshot.Corrupt(Kind, "options out of range")
	}
	p := s.Dim
	if s.Diff {
		p *= 2
	}
	if len(s.Mean) != p || len(s.Cov) != p*p || len(s.Scale) != p || len(s.Val) != p ||
		len(s.Vec) != p*p || len(s.Prev) != s.Dim || len(s.PrevOK) != s.Dim ||
		len(s.Filt) != s.Dim || len(s.FiltOK) != s.Dim {
		return snapshot.Corrupt(Kind, "vector lengths do not match dimension %d", s.Dim)
	}
	for _, v := range [][]float64{s.Mean, s.Cov, s.Scale, s.Val, s.Vec, s.Prev, s.Filt, {s.EQ, s.Smoothed}} {
		for _, x := range v {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return snapshot.Corrupt(Kind, "non-finite value")
			}
		}
	}
	if s.Ready && (s.K < 1 || s.K > p || !(s.EQ > 0)) {
		return snapshot.Corrupt(Kind, "%d components of %d, E[Q] %v", s.K, p, s.EQ)
	}
	// Before its first decomposition a model counts every sample since the
	// start; after it, at most Refresh samples pass between two.
	if s.Since < 0 || uint64(s.Since) > s.N || (s.Ready && s.Since > o.Refresh) {
		return snapshot.Corrupt(Kind, "%d samples since refresh, refresh every %d, %d samples", s.Since, o.Refresh, s.N)
	}
	nd := &Detector{opt: o}
	nd.alloc(s.Dim)
	nd.n, nd.seen, nd.since, nd.ready, nd.k, nd.eq = s.N, s.Seen, s.Since, s.Ready, s.K, s.EQ
	nd.smooth, nd.smoothN = s.Smoothed, s.SmoothN
	copy(nd.mean, s.Mean)
	copy(nd.cov, s.Cov)
	copy(nd.scale, s.Scale)
	copy(nd.val, s.Val)
	copy(nd.vec, s.Vec)
	copy(nd.prev, s.Prev)
	copy(nd.prevOK, s.PrevOK)
	copy(nd.filt, s.Filt)
	copy(nd.filtOK, s.FiltOK)
	nd.cal = cal
	*d = *nd
	return nil
}
