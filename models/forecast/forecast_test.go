package forecast_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"millwright/models"
	"millwright/models/forecast"
	"millwright/models/modeltest"
)

func factory(opt forecast.Options) modeltest.New {
	return func(dim int, _ uint64) models.Detector {
		d, err := forecast.New(dim, opt)
		if err != nil {
			panic(err)
		}
		return d
	}
}

func TestConformance(t *testing.T) {
	for _, tt := range []struct {
		name string
		opt  forecast.Options
	}{
		{"defaults", forecast.Options{}},
		{"order 1 fast forgetting", forecast.Options{Order: 1, Forget: 0.99}},
	} {
		t.Run(tt.name, func(t *testing.T) { modeltest.Run(t, factory(tt.opt)) })
	}
}

func FuzzSnapshot(f *testing.F) { modeltest.FuzzSnapshot(f, factory(forecast.Options{})) }

func TestNewRefusesDimension(t *testing.T) {
	for _, dim := range []int{0, forecast.MaxDim + 1} {
		if _, err := forecast.New(dim, forecast.Options{}); err == nil {
			t.Errorf("New(%d) accepted", dim)
		}
	}
}

// ar2 returns a stable AR(2) series: x_t = 1.5 x_{t-1} - 0.7 x_{t-2} + ε.
func ar2(seed uint64, n int) []float64 {
	r := rand.New(rand.NewPCG(seed, 3))
	xs := make([]float64, n)
	for i := 2; i < n; i++ {
		xs[i] = 1.5*xs[i-1] - 0.7*xs[i-2] + r.NormFloat64()
	}
	for i := range xs {
		xs[i] += 50
	}
	return xs
}

func TestBrokenRhythm(t *testing.T) {
	// A value that is typical in level but not after its predecessors: the
	// AR forecast flags it although it is within the series' range.
	xs := ar2(1, 5000)
	d, _ := forecast.New(1, forecast.Options{})
	for _, x := range xs {
		d.Update([]float64{x})
	}
	last, prev := xs[len(xs)-1], xs[len(xs)-2]
	next := 50 + 1.5*(last-50) - 0.7*(prev-50)
	var sd float64
	for _, x := range xs {
		sd += (x - 50) * (x - 50)
	}
	sd = math.Sqrt(sd / float64(len(xs)))
	// The jump is 1.5 marginal standard deviations: ordinary in level, but
	// several innovation standard deviations away from the forecast.
	jump := next + 1.5*sd
	if pf, pj := d.Score([]float64{next}), d.Score([]float64{jump}); !(pf < 0.9 && pj > 0.99) {
		t.Fatalf("forecast value scored %.4f, jump of 1.5 sd %.4f; want < 0.9 and > 0.99", pf, pj)
	}
}

func TestLearnsCoefficients(t *testing.T) {
	// On a long AR(2) series the residual score of fresh data averages near
	// the innovation's share, about 1 in raw units: calibrated scores are
	// then spread over [0, 1], median near 1/2.
	xs := ar2(2, 8000)
	d, _ := forecast.New(1, forecast.Options{Order: 2})
	var high int
	for i, x := range xs {
		p := d.Update([]float64{x})
		if i > 4000 && p > 0.99 {
			high++
		}
	}
	if high > 100 {
		t.Fatalf("%d of 4000 ordinary values scored > 0.99, want about 40", high)
	}
}

func BenchmarkUpdate(b *testing.B) {
	d, _ := forecast.New(8, forecast.Options{})
	xs := modeltest.Stream(1, 4096, 8)
	for _, x := range xs {
		d.Update(x)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		d.Update(xs[i&4095])
		i++
	}
}
