package calibrate

import (
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
)

func TestBounds(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := range 300 {
		s := make([]float64, n)
		for i := range s {
			s[i] = float64(r.IntN(8))
		}
		slices.Sort(s)
		for x := -1.0; x <= 9; x += 0.5 {
			if got, want := lowerBound(s, x), sort.Search(n, func(i int) bool { return s[i] >= x }); got != want {
				t.Fatalf("lowerBound(%v, %v) = %d, want %d", s, x, got, want)
			}
			if got, want := upperBound(s, x), sort.Search(n, func(i int) bool { return s[i] > x }); got != want {
				t.Fatalf("upperBound(%v, %v) = %d, want %d", s, x, got, want)
			}
			y := 8.5 - x
			lo, hi, at := bounds(s, x, y)
			if lo != lowerBound(s, x) || hi != upperBound(s, x) || at != lowerBound(s, y) {
				t.Fatalf("bounds(%v, %v, %v) = %d, %d, %d; want %d, %d, %d", s, x, y, lo, hi, at,
					lowerBound(s, x), upperBound(s, x), lowerBound(s, y))
			}
		}
	}
}

func TestReplaceSortedKeepsOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	c := New(Options{Window: 64})
	for range 5000 {
		c.Observe(float64(r.IntN(20)))
		if !slices.IsSorted(c.sorted) {
			t.Fatal("window no longer sorted")
		}
		want := slices.Sorted(slices.Values(c.ring))
		if !slices.Equal(want, c.sorted) {
			t.Fatal("sorted window differs from ring contents")
		}
	}
}

func TestColdStartIsQuiet(t *testing.T) {
	c := New(Options{})
	for i := range c.Options().MinSamples {
		if p := c.Update(float64(i * i)); p != 0 {
			t.Fatalf("score %v during cold start at sample %d", p, i)
		}
	}
	if p := c.Prob(1e9); p < 0.99 {
		t.Fatalf("after cold start, a record score calibrates to %v", p)
	}
}

// TestCalibration checks that p means the same under very different raw
// score distributions: the fraction of fresh scores above a threshold q
// is about 1-q.
func TestCalibration(t *testing.T) {
	dists := []struct {
		name string
		draw func(r *rand.Rand) float64
	}{
		{"normal", func(r *rand.Rand) float64 { return r.NormFloat64() }},
		{"exponential", func(r *rand.Rand) float64 { return 1000 * r.ExpFloat64() }},
		{"pareto", func(r *rand.Rand) float64 { return math.Pow(r.Float64(), -1/2.5) }},
		{"lognormal", func(r *rand.Rand) float64 { return math.Exp(2 * r.NormFloat64()) }},
	}
	for _, d := range dists {
		t.Run(d.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(7, 8))
			c := New(Options{})
			for range 20000 {
				c.Update(d.draw(r))
			}
			const n = 100000
			var over90, over99, over999 int
			for range n {
				p := c.Prob(d.draw(r))
				if p > 0.9 {
					over90++
				}
				if p > 0.99 {
					over99++
				}
				if p > 0.999 {
					over999++
				}
			}
			check := func(q float64, got int, lo, hi float64) {
				f := float64(got) / n
				if f < lo || f > hi {
					t.Errorf("P(p > %v) = %.4f, want in [%v, %v]", q, f, lo, hi)
				}
			}
			check(0.9, over90, 0.07, 0.13)
			check(0.99, over99, 0.004, 0.02)
			check(0.999, over999, 0.0002, 0.004)
		})
	}
}

func TestStateRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, cut := range []int{0, 50, 700, 5000} {
		a := New(Options{Window: 256, Peaks: 32})
		xs := make([]float64, cut+3000)
		for i := range xs {
			xs[i] = r.ExpFloat64()
		}
		for _, x := range xs[:cut] {
			a.Update(x)
		}
		b, err := Restore(a.State())
		if err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		for i, x := range xs[cut:] {
			pa, pb := a.Update(x), b.Update(x)
			if math.Float64bits(pa) != math.Float64bits(pb) {
				t.Fatalf("cut %d sample %d: %v after restore, %v uninterrupted", cut, i, pb, pa)
			}
		}
	}
}

func TestRestoreRefuses(t *testing.T) {
	good := New(Options{}).State()
	cases := []struct {
		name string
		edit func(s *State)
	}{
		{"window", func(s *State) { s.Window = -1 }},
		{"level", func(s *State) { s.Level = 1.5 }},
		{"too many recent", func(s *State) { s.Recent = make([]float64, s.Window+1); s.N = uint64(len(s.Recent)) }},
		{"recent beyond count", func(s *State) { s.Recent = []float64{1}; s.N = 0 }},
		{"NaN", func(s *State) { s.Recent = []float64{math.NaN()}; s.N = 1 }},
		{"negative peak", func(s *State) { s.Exceed = []float64{-1} }},
	}
	for _, c := range cases {
		s := good
		c.edit(&s)
		if _, err := Restore(s); err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
}

func TestNoAllocs(t *testing.T) {
	c := New(Options{})
	r := rand.New(rand.NewPCG(1, 1))
	for range 5000 {
		c.Update(r.NormFloat64())
	}
	if a := testing.AllocsPerRun(1000, func() { c.Update(r.NormFloat64()) }); a != 0 {
		t.Fatalf("%v allocs per update", a)
	}
}

func BenchmarkUpdate(b *testing.B) {
	c := New(Options{})
	r := rand.New(rand.NewPCG(1, 1))
	xs := make([]float64, 4096)
	for i := range xs {
		xs[i] = r.NormFloat64()
		c.Update(xs[i])
	}
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		c.Update(xs[i&4095])
		i++
	}
}

// TestConstantScoresAreNeutral: a detector whose raw score never changes
// (a perfectly steady machine) must not look anomalous on that score.
func TestConstantScoresAreNeutral(t *testing.T) {
	c := New(Options{})
	for range 3000 {
		if p := c.Update(0.25); p > 0.51 {
			t.Fatalf("constant score calibrated to %v", p)
		}
	}
	if p := c.Prob(0.25); math.Abs(p-0.5) > 0.01 {
		t.Fatalf("constant score calibrated to %v, want about 0.5", p)
	}
	if p := c.Prob(0.2); p > 0.01 {
		t.Fatalf("a lower score calibrated to %v", p)
	}
}

// TestFewPeaksTail checks the tail of a calibrator that has seen too few
// exceedances for a GPD fit, as a detector frozen after a short warm-up
// has: a record score must be able to exceed 1 - 1/n (so that thresholds
// like 0.9999 are usable), and fresh scores of the same distribution must
// still exceed a threshold q about 1-q of the time, not more.
func TestFewPeaksTail(t *testing.T) {
	for _, n := range []int{200, 600} {
		r := rand.New(rand.NewPCG(11, uint64(n)))
		c := New(Options{})
		for range n {
			c.Update(r.ExpFloat64())
		}
		if c.pcount >= c.opt.MinPeaks {
			t.Fatalf("n=%d: %d peaks, the test wants fewer than %d", n, c.pcount, c.opt.MinPeaks)
		}
		if p := c.Prob(50); p < 0.9999 {
			t.Errorf("n=%d: a score of 50 (e^-50 for an exponential) calibrates to %v, want ≥ 0.9999", n, p)
		}
		const m = 200000
		over := 0
		for range m {
			if c.Prob(r.ExpFloat64()) > 0.999 {
				over++
			}
		}
		if f := float64(over) / m; f > 0.004 || f == 0 {
			t.Errorf("n=%d: P(p > 0.999) = %.5f, want in (0, 0.004]", n, f)
		}
	}
}
