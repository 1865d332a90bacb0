package baseline_test

import (
	"fmt"
	"testing"

	"millwright/models"
	"millwright/models/baseline"
	"millwright/models/modeltest"
)

func newDetector(dim int, _ uint64) models.Detector {
	d, err := baseline.New(dim, baseline.Options{})
	if err != nil {
		panic(err)
	}
	return d
}

func TestConformance(t *testing.T) {
	modeltest.Run(t, newDetector)
}

func TestConformanceRMS(t *testing.T) {
	modeltest.Run(t, func(dim int, _ uint64) models.Detector {
		d, err := baseline.New(dim, baseline.Options{Combine: baseline.RMS})
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
}

func FuzzUnmarshalSnapshot(f *testing.F) {
	modeltest.FuzzSnapshot(f, newDetector)
}

func TestNewRefusesBadDimension(t *testing.T) {
	for _, dim := range []int{0, -1, 1 << 20} {
		if _, err := baseline.New(dim, baseline.Options{}); err == nil {
			t.Errorf("New(%d) accepted", dim)
		}
	}
}

func TestContributionsPointAtTheBrokenFeature(t *testing.T) {
	d, _ := baseline.New(3, baseline.Options{})
	xs := modeltest.Stream(1, 501, 3)
	for _, x := range xs[:500] {
		d.Update(x)
	}
	x := xs[500]
	x[1] += 1000
	d.Score(x)
	c := make([]float64, 3)
	d.Contributions(c)
	if c[1] < 0.9 || c[0] < 0 || c[2] < 0 {
		t.Fatalf("contributions %v, want feature 1 dominant", c)
	}
}

func BenchmarkUpdate8(b *testing.B) {
	d, _ := baseline.New(8, baseline.Options{})
	modeltest.BenchUpdate(b, d, 8, 4096)
}

func Example() {
	d, err := baseline.New(2, baseline.Options{})
	if err != nil {
		panic(err)
	}
	for i := range 2000 {
		// A steady machine: two features with a little periodic wobble.
		d.Update([]float64{20 + float64(i%7)*0.1, 5 - float64(i%5)*0.05})
	}
	fmt.Println("typical is low:", d.Score([]float64{20.3, 4.9}) < 0.99)
	fmt.Printf("outlier: %.2f\n", d.Score([]float64{35, 4.9}))
	// Output:
	// typical is low: true
	// outlier: 1.00
}
