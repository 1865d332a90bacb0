package drift_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"millwright/models/drift"
	"millwright/models/snapshot"
)

// detector is what both tests drive.
type detector interface {
	Add(x float64) bool
	Drifts() uint64
	MarshalSnapshot() ([]byte, error)
	UnmarshalSnapshot(b []byte) error
}

var makers = []struct {
	name string
	make func() detector
	// noise is the noise level the detector is tested at: Page-Hinkley's
	// threshold is in the units of the values.
	noise float64
}{
	{"adwin", func() detector { return drift.NewADWIN(drift.ADWINOptions{}) }, 1},
	{"pagehinkley", func() detector { return drift.NewPageHinkley(drift.PageHinkleyOptions{}) }, 0.2},
}

func TestNoFalseDriftStationary(t *testing.T) {
	for _, m := range makers {
		t.Run(m.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			d := m.make()
			for i := range 100_000 {
				if d.Add(5 + m.noise*rng.NormFloat64()) {
					t.Fatalf("false drift at value %d", i)
				}
			}
		})
	}
}

func TestDetectsMeanShift(t *testing.T) {
	// Page-Hinkley's delay is about Threshold/shift: 50/0.2 = 250 values for
	// a one-sigma shift at its test noise of 0.2.
	tests := []struct {
		shift    float64 // in units of the noise
		maxDelay map[string]int
	}{
		{+1, map[string]int{"adwin": 400, "pagehinkley": 400}},
		{-1, map[string]int{"adwin": 400, "pagehinkley": 400}},
		{+3, map[string]int{"adwin": 100, "pagehinkley": 120}},
		{-5, map[string]int{"adwin": 100, "pagehinkley": 70}},
	}
	for _, m := range makers {
		for _, tt := range tests {
			t.Run(m.name, func(t *testing.T) {
				for seed := range uint64(5) {
					rng := rand.New(rand.NewPCG(seed, 7))
					d := m.make()
					const at = 5000
					delay := -1
					for i := range at + 2000 {
						x := m.noise * rng.NormFloat64()
						if i >= at {
							x += tt.shift * m.noise
						}
						if d.Add(x) {
							if i < at {
								t.Fatalf("seed %d: drift at %d before the shift at %d", seed, i, at)
							}
							delay = i - at
							break
						}
					}
					if delay < 0 || delay > tt.maxDelay[m.name] {
						t.Errorf("seed %d shift %+v: delay %d, want detection within %d", seed, tt.shift, delay, tt.maxDelay[m.name])
					}
				}
			})
		}
	}
}

func TestADWINWindowStatistics(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	a := drift.NewADWIN(drift.ADWINOptions{})
	var xs []float64
	for range 10_000 {
		x := 2 + 3*rng.NormFloat64()
		xs = append(xs, x)
		a.Add(x)
	}
	if a.Width() != uint64(len(xs)) {
		t.Fatalf("width = %d, want %d (no drift)", a.Width(), len(xs))
	}
	var sum, sq float64
	for _, x := range xs {
		sum += x
	}
	mean := sum / float64(len(xs))
	for _, x := range xs {
		sq += (x - mean) * (x - mean)
	}
	if math.Abs(a.Mean()-mean) > 1e-9 || math.Abs(a.Variance()-sq/float64(len(xs))) > 1e-6 {
		t.Fatalf("mean, var = %v, %v; want %v, %v", a.Mean(), a.Variance(), mean, sq/float64(len(xs)))
	}
	// After a shift the window forgets the old part.
	for range 3000 {
		a.Add(20 + 3*rng.NormFloat64())
	}
	if a.Width() > 3100 || math.Abs(a.Mean()-20) > 0.5 {
		t.Fatalf("after shift: width %d mean %v, want ≤ 3100 values around 20", a.Width(), a.Mean())
	}
	if a.Drifts() == 0 {
		t.Fatal("no drift counted")
	}
}

func TestSkipsNonFinite(t *testing.T) {
	for _, m := range makers {
		d := m.make()
		for _, x := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
			if d.Add(x) {
				t.Errorf("%s: drift on %v", m.name, x)
			}
		}
		if s, ok := d.(interface{ Samples() uint64 }); ok && s.Samples() != 0 {
			t.Errorf("%s: %d samples learned from non-finite values", m.name, s.Samples())
		}
	}
}

func TestSnapshotResume(t *testing.T) {
	for _, m := range makers {
		t.Run(m.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(9, 9))
			stream := make([]float64, 20_000)
			for i := range stream {
				stream[i] = m.noise * rng.NormFloat64()
				if i > 8000 {
					stream[i] += 2 * m.noise
				}
				if i > 14000 {
					stream[i] -= 4 * m.noise
				}
			}
			whole, first := m.make(), m.make()
			for _, x := range stream[:5000] {
				whole.Add(x)
				first.Add(x)
			}
			b, err := first.MarshalSnapshot()
			if err != nil {
				t.Fatal(err)
			}
			resumed := m.make()
			if err := resumed.UnmarshalSnapshot(b); err != nil {
				t.Fatal(err)
			}
			for i, x := range stream[5000:] {
				if w, r := whole.Add(x), resumed.Add(x); w != r {
					t.Fatalf("value %d: uninterrupted %v, resumed %v", i+5000, w, r)
				}
			}
			if whole.Drifts() != resumed.Drifts() || whole.Drifts() < 2 {
				t.Fatalf("drifts: uninterrupted %d, resumed %d; want equal and ≥ 2", whole.Drifts(), resumed.Drifts())
			}
		})
	}
}

func TestSnapshotRefused(t *testing.T) {
	a := drift.NewADWIN(drift.ADWINOptions{})
	p := drift.NewPageHinkley(drift.PageHinkleyOptions{})
	for i := range 100 {
		a.Add(float64(i % 3))
		p.Add(float64(i % 3))
	}
	ab, _ := a.MarshalSnapshot()
	pb, _ := p.MarshalSnapshot()
	tests := []struct {
		name string
		into detector
		b    []byte
		want error
	}{
		{"adwin into pagehinkley", p, ab, snapshot.ErrKind},
		{"pagehinkley into adwin", a, pb, snapshot.ErrKind},
		{"truncated adwin", a, ab[:len(ab)/2], snapshot.ErrCorrupt},
		{"garbage", p, []byte{0xff, 0x00}, snapshot.ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := tt.into.MarshalSnapshot()
			if err := tt.into.UnmarshalSnapshot(tt.b); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			after, _ := tt.into.MarshalSnapshot()
			if string(before) != string(after) {
				t.Fatal("state changed by a refused snapshot")
			}
		})
	}
}

func FuzzADWINSnapshot(f *testing.F) {
	a := drift.NewADWIN(drift.ADWINOptions{})
	for i := range 500 {
		a.Add(float64(i%7) * 0.1)
	}
	b, _ := a.MarshalSnapshot()
	f.Add(b)
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, b []byte) {
		d := drift.NewADWIN(drift.ADWINOptions{})
		if err := d.UnmarshalSnapshot(b); err != nil {
			return
		}
		// An accepted snapshot keeps working and round-trips.
		for i := range 100 {
			d.Add(float64(i))
		}
		out, err := d.MarshalSnapshot()
		if err != nil {
			t.Fatal(err)
		}
		if err := drift.NewADWIN(drift.ADWINOptions{}).UnmarshalSnapshot(out); err != nil {
			t.Fatalf("re-encoded snapshot refused: %v", err)
		}
	})
}

func FuzzPageHinkleySnapshot(f *testing.F) {
	p := drift.NewPageHinkley(drift.PageHinkleyOptions{})
	for i := range 500 {
		p.Add(float64(i%7) * 0.1)
	}
	b, _ := p.MarshalSnapshot()
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		d := drift.NewPageHinkley(drift.PageHinkleyOptions{})
		if err := d.UnmarshalSnapshot(b); err != nil {
			return
		}
		d.Add(1)
		out, err := d.MarshalSnapshot()
		if err != nil {
			t.Fatal(err)
		}
		if err := drift.NewPageHinkley(drift.PageHinkleyOptions{}).UnmarshalSnapshot(out); err != nil {
			t.Fatalf("re-encoded snapshot refused: %v", err)
		}
	})
}

func BenchmarkAdd(b *testing.B) {
	for _, m := range makers {
		b.Run(m.name, func(b *testing.B) {
			b.ReportAllocs()
			rng := rand.New(rand.NewPCG(1, 1))
			xs := make([]float64, 4096)
			for i := range xs {
				xs[i] = rng.NormFloat64()
			}
			d := m.make()
			i := 0
			for b.Loop() {
				d.Add(xs[i&4095])
				i++
			}
		})
	}
}
