package baseline

import (
	"fmt"
	"math"

	"millwright/models/calibrate"
	"millwright/models/snapshot"
)

const version = 1

type state struct {
	Dim     int             `cbor:"1,keyasint"`
	Alpha   float64         `cbor:"2,keyasint"`
	Rate    float64         `cbor:"3,keyasint"`
	Warmup  int             `cbor:"4,keyasint"`
	Combine int             `cbor:"5,keyasint"`
	N       []uint64        `cbor:"6,keyasint"`
	Mean    []float64       `cbor:"7,keyasint"`
	Var     []float64       `cbor:"8,keyasint"`
	Med     []float64       `cbor:"9,keyasint"`
	MAD     []float64       `cbor:"10,keyasint"`
	Warm    []float64       `cbor:"11,keyasint"`
	Samples uint64          `cbor:"12,keyasint"`
	Missing uint64          `cbor:"13,keyasint"`
	Cal     calibrate.State `cbor:"14,keyasint"`
}

func errDim(dim int) error {
	return fmt.Errorf("baseline: dimension %d out of range [1, %d]", dim, maxDim)
}

// MarshalSnapshot returns the detector's whole state as versioned CBOR.
func (d *Detector) MarshalSnapshot() ([]byte, error) {
	s := state{
		Dim: d.dim, Alpha: d.opt.Alpha, Rate: d.opt.Rate, Warmup: d.opt.Warmup,
		Combine: int(d.opt.Combine), Warm: d.warm, Samples: d.samples, Missing: d.missing,
		Cal: d.cal.State(),
	}
	for _, f := range d.feat {
		s.N = append(s.N, f.n)
		s.Mean = append(s.Mean, f.mean)
		s.Var = append(s.Var, f.vr)
		s.Med = append(s.Med, f.med)
		s.MAD = append(s.MAD, f.mad)
	}
	return snapshot.Marshal(Kind, version, &s)
}

// UnmarshalSnapshot replaces the state with a snapshot's, which may have
// another dimension and options. On error the state is unchanged.
func (d *Detector) UnmarshalSnapshot(b []byte) error {
	var s state
	if _, err := snapshot.Unmarshal(b, Kind, version, &s); err != nil {
		return err
	}
	nd, err := fromState(&s)
	if err != nil {
		return snapshot.Corrupt(Kind, "%v", err)
	}
	*d = *nd
	return nil
}

func finite(vs ...[]float64) bool {
	for _, v := range vs {
		for _, x := range v {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return false
			}
		}
	}
	return true
}

func fromState(s *state) (*Detector, error) {
	opt := Options{Alpha: s.Alpha, Rate: s.Rate, Warmup: s.Warmup, Combine: Combine(s.Combine)}
	if s.Dim < 1 || s.Dim > maxDim {
		return nil, errDim(s.Dim)
	}
	if s.Warmup < 1 || s.Warmup > maxWarmup || opt.withDefaults().Alpha != s.Alpha ||
		opt.withDefaults().Rate != s.Rate || (s.Combine != int(Max) && s.Combine != int(RMS)) {
		return nil, fmt.Errorf("options out of range")
	}
	n := s.Dim
	if len(s.N) != n || len(s.Mean) != n || len(s.Var) != n || len(s.Med) != n || len(s.MAD) != n || len(s.Warm) != n*s.Warmup {
		return nil, fmt.Errorf("feature arrays do not match dimension %d", n)
	}
	if !finite(s.Mean, s.Var, s.Med, s.MAD, s.Warm) {
		return nil, fmt.Errorf("non-finite feature state")
	}
	cal, err := calibrate.Restore(s.Cal)
	if err != nil {
		return nil, err
	}
	opt.Calibration = cal.Options()
	d, err := New(n, opt)
	if err != nil {
		return nil, err
	}
	for i := range d.feat {
		if s.Var[i] < 0 || s.MAD[i] < 0 || s.N[i] > s.Samples {
			return nil, fmt.Errorf("feature %d state out of range", i)
		}
		d.feat[i] = feature{n: s.N[i], mean: s.Mean[i], vr: s.Var[i], med: s.Med[i], mad: s.MAD[i]}
	}
	copy(d.warm, s.Warm)
	d.cal = cal
	d.samples, d.missing = s.Samples, s.Missing
	return d, nil
}
