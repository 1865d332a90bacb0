package skab_test

import (
	"math"
	"sync"
	"testing"

	"millwright/models"
	"millwright/models/skab"
)

// gridCache scores a configuration grid once per test binary: the
// leaderboard and the cross-validation tests share it.
type gridCache struct {
	once    sync.Once
	configs []skab.Config
	scored  []skab.Scored
}

var (
	absGrid, relGrid gridCache
	medOnce          sync.Once
	medScored        skab.Scored
)

func (g *gridCache) get(t testing.TB, grid func() []skab.Config) ([]skab.Config, []skab.Scored) {
	t.Helper()
	fs := files(t)
	g.once.Do(func() {
		g.configs = grid()
		g.scored = make([]skab.Scored, len(g.configs))
		for c, cfg := range g.configs {
			g.scored[c] = skab.Score(fs, cfg.New)
		}
	})
	return g.configs, g.scored
}

// cvCache runs one cross-validation once per test binary: under -race
// the threshold sweep over a 72-configuration grid takes most of a minute.
type cvCache struct {
	once  sync.Once
	folds []skab.Fold
	r     skab.Result
	err   error
}

var absCV, relCV cvCache

func (c *cvCache) get(t testing.TB, g *gridCache, grid func() []skab.Config, rule skab.Choose) ([]skab.Fold, skab.Result) {
	t.Helper()
	configs, scored := g.get(t, grid)
	c.once.Do(func() { c.folds, c.r, c.err = skab.CrossValidateScored(configs, scored, rule) })
	if c.err != nil {
		t.Fatal(c.err)
	}
	return c.folds, c.r
}

// medianScored is skab.MedianConfig's scores, from the cached grid.
func medianScored(t testing.TB) skab.Scored {
	_, sc := relGrid.get(t, skab.RelativeGrid)
	medOnce.Do(func() { medScored = skab.MedianScored(sc) })
	return medScored
}

// ramp scores its n-th vector x[0] (uncalibrated: raw/(1+raw)).
type ramp struct{ n uint64 }

func (r *ramp) Update(x []float64) float64 { r.n++; return x[0] / (1 + x[0]) }
func (r *ramp) Score(x []float64) float64  { return x[0] / (1 + x[0]) }
func (r *ramp) Kind() string               { return "ramp" }
func (r *ramp) Samples() uint64            { return r.n }

func TestRelative(t *testing.T) {
	newRamp := func(int, uint64) models.Detector { return &ramp{} }
	tests := []struct {
		name string
		opt  skab.RelativeOptions
		warm []float64 // raw statistic of warm-up rows 0..To-1
		raw  float64   // a later row's statistic
		want float64   // its relative statistic raw/ref
	}{
		{"max of rows From..To", skab.RelativeOptions{From: 2, To: 5}, []float64{100, 50, 1, 4, 2}, 8, 2},
		{"median", skab.RelativeOptions{From: 1, To: 4, Quantile: 0.5}, []float64{9, 3, 1, 2}, 4, 2},
		{"defaults: rows 200..399", skab.RelativeOptions{}, append(make([]float64, 200), fill(200, 0.5)...), 1, 2},
		{"silent warm-up", skab.RelativeOptions{From: 0, To: 3}, []float64{0, 0, 0}, 1, 1e9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := skab.Relative(tt.opt, newRamp)(1, 0)
			for i, w := range tt.warm {
				if got := d.Update([]float64{w}); got != 0 {
					t.Fatalf("warm-up row %d scored %v, want 0", i, got)
				}
			}
			x := []float64{tt.raw}
			s := d.Score(x)
			if u := d.Update(x); u != s {
				t.Fatalf("Score %v, Update %v", s, u)
			}
			// s/(1-s) loses digits as s nears 1.
			if got := s / (1 - s); math.Abs(got-tt.want) > 1e-6*tt.want {
				t.Fatalf("relative statistic %v, want %v", got, tt.want)
			}
			if th := skab.RelativeThreshold(tt.want * (1 - 1e-9)); s < th || d.Score([]float64{tt.raw * 0.99}) >= th {
				t.Fatalf("RelativeThreshold(%v) = %v does not split at the row's statistic (score %v)", tt.want, th, s)
			}
		})
	}
}

func fill(n int, v float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func TestMedian(t *testing.T) {
	c := func(v float64) func(int, uint64) models.Detector { return newConstant(v) }
	tests := []struct {
		kids []func(int, uint64) models.Detector
		want float64
	}{
		{[]func(int, uint64) models.Detector{c(0.9)}, 0.9},
		{[]func(int, uint64) models.Detector{c(0.9), c(0.1), c(0.5)}, 0.5},
		{[]func(int, uint64) models.Detector{c(0.9), c(0.1), c(0.5), c(0.2)}, 0.35},
	}
	for _, tt := range tests {
		d := skab.Median(tt.kids...)(1, 0)
		if got := d.Update([]float64{0}); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("%d children: Update %v, want %v", len(tt.kids), got, tt.want)
		}
		if got := d.Score([]float64{0}); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("%d children: Score %v, want %v", len(tt.kids), got, tt.want)
		}
	}
}

// TestMedianScoredMatchesDetector checks that the leaderboard's shortcut
// (the median of the cached grid's scores) is what the Median detector
// itself scores, on two files.
func TestMedianScoredMatchesDetector(t *testing.T) {
	if testing.Short() {
		t.Skip("scores the relative grid; skipped in -short mode")
	}
	fs := files(t)
	med := medianScored(t)
	for _, i := range []int{0, len(fs) - 1} {
		got := skab.Score(fs[i:i+1], skab.MedianConfig().New).Scores[0]
		for j, want := range med.Scores[i] {
			if got[j] != want {
				t.Fatalf("%s row %d: detector %v, median of cached grid %v", fs[i].Name, skab.WarmUp+j, got[j], want)
			}
		}
	}
}

func TestMarginToTarget(t *testing.T) {
	fs := files(t)
	sc := skab.Score(fs, newConstant(1))
	always, never := sc.At(0.5), sc.At(2)
	label := sc.Decide(func(i, j int, _ float64) bool { return fs[i].Anomaly[skab.WarmUp+j] })
	// The label oracle (FAR 0, MAR 0) is deepest inside the bounds; never
	// alarming (MAR 1, 3.6 times its bound) is nearer than always alarming
	// (FAR 1, 7.4 times its bound).
	for _, c := range []struct {
		a, b skab.Result
		want bool
	}{
		{label, always, true}, {always, label, false},
		{label, never, true}, {never, always, true}, {always, never, false},
		{label, label, false},
	} {
		if got := skab.MarginToTarget(c.a, c.b); got != c.want {
			t.Errorf("MarginToTarget(FAR %.2f MAR %.2f, FAR %.2f MAR %.2f) = %v, want %v",
				c.a.FAR(), c.a.MAR(), c.b.FAR(), c.b.MAR(), got, c.want)
		}
	}
}

func TestRelativeAndMedianAllocateNothing(t *testing.T) {
	d := skab.MedianConfig().New(skab.Dim, 0)
	x := make([]float64, skab.Dim)
	for i := range skab.WarmUp + 10 {
		x[0], x[1], x[7] = float64(i%7), float64(i%5), float64(i%3)
		d.Update(x)
	}
	if n := testing.AllocsPerRun(100, func() { d.Update(x) }); n != 0 {
		t.Errorf("Update allocates %v times per vector", n)
	}
}

// TestCrossValidatedMedian asserts the target on the honest row:
// the median of the relative pca grid, whose one threshold c is chosen,
// leaving one group out, on the other two (MarginToTarget), pooled over
// the held-out groups. It checks that the folds partition the files.
func TestCrossValidatedMedian(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-validation over the relative grid skipped in -short mode")
	}
	fs := files(t)
	folds, cv, err := skab.CrossValidateScored([]skab.Config{skab.MedianConfig()}, []skab.Scored{medianScored(t)}, skab.MarginToTarget)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range folds {
		t.Logf("held out %-7s: c %.2f → %s (on the other groups %s)", f.Group, skab.RawThreshold(f.Threshold), row(f.Test), row(f.Train))
		n += f.Test.Files
	}
	if n != len(fs) || len(folds) != len(skab.Groups) {
		t.Errorf("%d folds over %d files, want %d over %d", len(folds), n, len(skab.Groups), len(fs))
	}
	t.Logf("cross-validated median: %s", row(cv))
	if !meetsTarget(cv) {
		t.Errorf("cross-validated median: %s, want F1 ≥ 0.80, FAR ≤ 13.5%%, MAR ≤ 28%%, NAB > 32.4", row(cv))
	}
}

func meetsTarget(r skab.Result) bool {
	return r.F1() >= 0.80 && r.FAR() <= 0.135 && r.MAR() <= 0.28 && r.NAB[0] > 32.4
}

// BenchmarkMedianUpdate times one vector through the cross-validated
// detector: 72 frozen pca models and their median.
func BenchmarkMedianUpdate(b *testing.B) {
	fs := files(b)
	d := skab.MedianConfig().New(skab.Dim, 0)
	x := make([]float64, skab.Dim)
	f := fs[0]
	for _, row := range f.X[:skab.WarmUp] {
		copy(x, row[:])
		d.Update(x)
	}
	b.ReportAllocs()
	j := skab.WarmUp
	for b.Loop() {
		copy(x, f.X[j][:])
		d.Update(x)
		if j++; j == len(f.X) {
			j = skab.WarmUp
		}
	}
}
