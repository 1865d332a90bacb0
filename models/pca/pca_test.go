package pca_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"millwright/models"
	"millwright/models/calibrate"
	"millwright/models/modeltest"
	"millwright/models/pca"
)

// variants are the option sets the conformance suite runs against.
var variants = []struct {
	name string
	opt  pca.Options
}{
	{"defaults", pca.Options{}},
	{"features", pca.Options{Diff: true, Prefilter: 3, Smooth: 4, Statistic: pca.StatT2Q, Components: 2}},
	{"frozen uncalibrated", pca.Options{FreezeAfter: 400, Prefilter: 5, Smooth: 20, Statistic: pca.StatT2, Uncalibrated: true}},
	{"Q only, no forgetting", pca.Options{Statistic: pca.StatQ, Forget: 1}},
	{"plant: Q, robust, calibration frozen", pca.Options{Components: 1, Statistic: pca.StatQ, Forget: 0.9999, Robust: 2.5, CalibrateUntil: 600}},
	{"residual T², robust", pca.Options{Components: 1, Statistic: pca.StatR, Robust: 5, Calibrate: calibrate.Options{Window: 256}}},
}

func factory(opt pca.Options) modeltest.New {
	return func(dim int, _ uint64) models.Detector {
		d, err := pca.New(dim, opt)
		if err != nil {
			panic(err)
		}
		return d
	}
}

func TestConformance(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) { modeltest.Run(t, factory(v.opt)) })
	}
}

func FuzzSnapshot(f *testing.F) { modeltest.FuzzSnapshot(f, factory(variants[1].opt)) }

// FuzzSnapshotPlant covers the options of catalog "pca" (Robust,
// CalibrateUntil) in the snapshot decoder.
func FuzzSnapshotPlant(f *testing.F) { modeltest.FuzzSnapshot(f, factory(variants[4].opt)) }

func TestNewRefusesDimension(t *testing.T) {
	for _, dim := range []int{0, -1, pca.MaxDim + 1} {
		if _, err := pca.New(dim, pca.Options{}); err == nil {
			t.Errorf("New(%d) accepted", dim)
		}
	}
}

// correlated returns n vectors whose 2nd feature follows the 1st closely
// and whose 3rd is independent.
func correlated(seed uint64, n int) [][]float64 {
	r := rand.New(rand.NewPCG(seed, 1))
	out := make([][]float64, n)
	for i := range out {
		a := r.NormFloat64()
		out[i] = []float64{10 + a, 20 + 2*a + 0.1*r.NormFloat64(), 5 + r.NormFloat64()}
	}
	return out
}

func TestBrokenCorrelation(t *testing.T) {
	// (a, 2a) is a typical pair at a = 2.5; (2.5, -5) has the same marginal
	// deviations but breaks the correlation: only a multivariate model sees it.
	for _, st := range []int{pca.StatT2Q, pca.StatQ} {
		d, _ := pca.New(3, pca.Options{Statistic: st, Components: 1})
		for _, x := range correlated(1, 3000) {
			d.Update(x)
		}
		along := d.Score([]float64{12.5, 25, 5})
		across := d.Score([]float64{12.5, 15, 5})
		if !(across > 0.99 && along < across) {
			t.Errorf("statistic %d: along the correlation %.4f, across it %.4f; want across > 0.99 and above along", st, along, across)
		}
	}
}

func TestForgettingAdapts(t *testing.T) {
	// After a lasting shift, a forgetting model accepts the new level; a
	// frozen one keeps flagging it.
	adapt, _ := pca.New(3, pca.Options{Forget: 0.99})
	frozen, _ := pca.New(3, pca.Options{FreezeAfter: 1000})
	xs := correlated(2, 4000)
	for i, x := range xs {
		if i >= 1000 {
			x[2] += 10
		}
		adapt.Update(x)
		frozen.Update(x)
	}
	probe := slices.Clone(xs[len(xs)-1])
	if a, f := adapt.Score(probe), frozen.Score(probe); !(a < 0.99 && f > 0.99) {
		t.Fatalf("after the shift: adapting %.4f, frozen %.4f; want < 0.99 and > 0.99", a, f)
	}
	if frozen.Samples() != 4000 {
		t.Fatalf("frozen Samples = %d, want 4000 (every vector counts)", frozen.Samples())
	}
}

func TestFrozenStateDoesNotChange(t *testing.T) {
	d, _ := pca.New(3, pca.Options{FreezeAfter: 500})
	xs := correlated(3, 1000)
	for _, x := range xs[:500] {
		d.Update(x)
	}
	probes := xs[900:]
	var before []float64
	for _, x := range probes {
		before = append(before, d.Score(x))
	}
	for _, x := range xs[500:900] {
		d.Update(x)
	}
	for i, x := range probes {
		if p := d.Score(x); p != before[i] {
			t.Fatalf("probe %d: %v after more updates, %v before: a frozen model changed", i, p, before[i])
		}
	}
}

func TestContributions(t *testing.T) {
	d, _ := pca.New(3, pca.Options{})
	for _, x := range correlated(4, 2000) {
		d.Update(x)
	}
	d.Update([]float64{10, 20, 5 + 30})
	c := make([]float64, 3)
	d.Contributions(c)
	var sum float64
	for _, v := range c {
		if v < 0 {
			t.Fatalf("negative share %v", c)
		}
		sum += v
	}
	if math.Abs(sum-1) > 1e-9 || c[2] < 0.9 {
		t.Fatalf("contributions %v, want shares summing to 1 led by feature 2", c)
	}
}

func TestUncalibratedIsControlLimit(t *testing.T) {
	// With T² on all components of standardised independent normals, the
	// mean of T²/k is about 1, so raw/(1+raw) averages about 1/2.
	d, _ := pca.New(4, pca.Options{Uncalibrated: true, Statistic: pca.StatT2, Components: 4, Forget: 1})
	xs := modeltest.Stream(7, 6000, 4)
	var sum float64
	for i, x := range xs {
		p := d.Update(x)
		if i >= 1000 {
			raw := p / (1 - p)
			sum += raw
		}
	}
	if mean := sum / 5000; math.Abs(mean-1) > 0.1 {
		t.Fatalf("mean T²/k = %.3f, want about 1", mean)
	}
}

func BenchmarkUpdate(b *testing.B) {
	for _, v := range append(variants[:3:3], variants[4]) {
		b.Run(v.name, func(b *testing.B) {
			d, _ := pca.New(8, v.opt)
			xs := modeltest.Stream(1, 4096, 8)
			for _, x := range xs {
				d.Update(x)
			}
			b.ReportAllocs()
			defer modeltest.ReportCPU(b)()
			i := 0
			for b.Loop() {
				d.Update(xs[i&4095])
				i++
			}
		})
	}
}

// load returns n vectors of a machine whose four sensors follow one load
// with noise, the load moving to a new level every 2000 vectors; from
// vector fault on, the 3rd sensor drifts away from the load by drift per
// vector, in units of its noise.
func load(seed uint64, n, fault int, drift float64) [][]float64 {
	r := rand.New(rand.NewPCG(seed, 2))
	out := make([][]float64, n)
	l, target := 0.5, 0.5
	for i := range out {
		if i%2000 == 0 {
			target = 0.3 + 0.4*r.Float64()
		}
		l += (target-l)/200 + 0.002*r.NormFloat64()
		x := []float64{10 + 20*l + 0.2*r.NormFloat64(), 1 + 2*l + 0.05*r.NormFloat64(), 5 + 3*l + 0.05*r.NormFloat64(), 1500 - 40*l + 0.5*r.NormFloat64()}
		if i >= fault {
			x[2] += 0.05 * drift * float64(i-fault)
		}
		out[i] = x
	}
	return out
}

// TestRobustLearning: with one component for the load, Q, the soft gate
// and calibration frozen after the warm-up, load changes never seen in
// the warm-up stay quiet while a slow drift against the load, which a
// detector learning everything absorbs, is flagged.
func TestRobustLearning(t *testing.T) {
	const n, fault = 20000, 15000
	plant := pca.Options{Components: 1, Statistic: pca.StatQ, Robust: 3, CalibrateUntil: 600}
	tests := []struct {
		name     string
		opt      pca.Options
		wantFlag bool // the drift is flagged (score ≥ 0.999 for 5 vectors) before its end
	}{
		{"plant options", plant, true},
		{"learns everything", pca.Options{Components: 1, Statistic: pca.StatQ}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := pca.New(4, tt.opt)
			if err != nil {
				t.Fatal(err)
			}
			xs := load(3, n, fault, 0.03)
			var over, falseRuns int
			flagged := false
			for i, x := range xs {
				p := d.Update(x)
				if i < 600 {
					continue
				}
				if p >= 0.999 {
					over++
				} else {
					over = 0
				}
				if over == 5 {
					if i < fault {
						falseRuns++
					} else {
						flagged = true
					}
				}
			}
			if falseRuns > 0 && tt.wantFlag {
				t.Errorf("%d false alarms over %d healthy vectors with load changes", falseRuns, fault-600)
			}
			if flagged != tt.wantFlag {
				t.Errorf("drift flagged = %v, want %v", flagged, tt.wantFlag)
			}
		})
	}
}

// TestResidualStatistic: StatR is in units of the residual's own spread:
// about 1 on healthy vectors, about (break in noise units)²/(p-k) on a
// break of correlation.
func TestResidualStatistic(t *testing.T) {
	d, err := pca.New(4, pca.Options{Components: 1, Statistic: pca.StatR, Uncalibrated: true})
	if err != nil {
		t.Fatal(err)
	}
	xs := load(5, 6000, 6000, 0)
	var sum float64
	for i, x := range xs {
		p := d.Update(x)
		if i >= 3000 {
			sum += p / (1 - p)
		}
	}
	if mean := sum / 3000; mean < 0.5 || mean > 2 {
		t.Errorf("healthy mean residual T² %.2f, want about 1", mean)
	}
	x := append([]float64(nil), xs[len(xs)-1]...)
	x[2] += 0.5 // 10 noise units against the load
	p := d.Score(x)
	if r := p / (1 - p); r < 10 {
		t.Errorf("a 10-noise-unit break scores %.1f, want ≳ 100/3", r)
	}
}
