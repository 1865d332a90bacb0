package rrcf_test

import (
	"fmt"
	"math"
	"testing"

	"millwright/models"
	"millwright/models/modeltest"
	"millwright/models/rrcf"
)

// Small forests keep the suite fast; the defaults are benchmarked below.
func newDetector(dim int, seed uint64) models.Detector {
	d, err := rrcf.New(dim, rrcf.Options{Trees: 20, Samples: 128, Seed: seed})
	if err != nil {
		panic(err)
	}
	return d
}

func TestConformance(t *testing.T) {
	modeltest.Run(t, newDetector)
}

func FuzzUnmarshalSnapshot(f *testing.F) {
	modeltest.FuzzSnapshot(f, func(dim int, seed uint64) models.Detector {
		d, err := rrcf.New(dim, rrcf.Options{Trees: 3, Samples: 16, Seed: seed})
		if err != nil {
			panic(err)
		}
		return d
	})
}

func TestNewRefusesBadDimension(t *testing.T) {
	for _, dim := range []int{0, -1, 1 << 20} {
		if _, err := rrcf.New(dim, rrcf.Options{}); err == nil {
			t.Errorf("New(%d) accepted", dim)
		}
	}
}

// TestShingleSeesShape feeds a sine wave; a sudden flat step at a value the
// wave passes through is only anomalous as a shape in time.
func TestShingleSeesShape(t *testing.T) {
	d, err := rrcf.New(1, rrcf.Options{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	for ; i < 3000; i++ {
		d.Update([]float64{math.Sin(float64(i) / 10)})
	}
	var normal, flat float64
	for ; i < 3020; i++ {
		normal = max(normal, d.Update([]float64{math.Sin(float64(i) / 10)}))
	}
	for range 8 {
		flat = max(flat, d.Update([]float64{math.Sin(float64(i) / 10)})) // the signal freezes
	}
	if flat < 0.95 || flat <= normal {
		t.Fatalf("frozen signal scored %.3f, the running wave %.3f", flat, normal)
	}
}

func TestBudget(t *testing.T) {
	d, err := rrcf.New(8, rrcf.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range modeltest.Stream(1, 5000, 8) {
		d.Update(x)
	}
	b, err := d.MarshalSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d distinct points stored, snapshot %d bytes", d.StoredPoints(), len(b))
	if d.StoredPoints() > 50*256 {
		t.Fatalf("%d points stored for 50×256 samples", d.StoredPoints())
	}
}

func TestNoAllocs(t *testing.T) {
	d, _ := rrcf.New(8, rrcf.Options{Seed: 1})
	xs := modeltest.Stream(1, 20000, 8)
	for _, x := range xs[:19000] {
		d.Update(x)
	}
	i := 19000
	if a := testing.AllocsPerRun(500, func() { d.Update(xs[i]); i++ }); a > 0.01 {
		t.Fatalf("%v allocs per Update", a)
	}
}

func BenchmarkUpdate8(b *testing.B) {
	d, _ := rrcf.New(8, rrcf.Options{Seed: 1})
	modeltest.BenchUpdate(b, d, 8, 8192)
}

func Example() {
	d, err := rrcf.New(1, rrcf.Options{Seed: 1}) // one signal: shingles of 8
	if err != nil {
		panic(err)
	}
	for i := range 2000 {
		d.Update([]float64{10 + math.Sin(float64(i)/5)})
	}
	fmt.Println("typical is low:", d.Score([]float64{10 + math.Sin(2000.0/5)}) < 0.99)
	fmt.Printf("spike: %.2f\n", d.Score([]float64{25}))
	// Output:
	// typical is low: true
	// spike: 1.00
}

func TestContributionsPointAtTheBrokenFeature(t *testing.T) {
	d, err := rrcf.New(4, rrcf.Options{Trees: 20, Samples: 128, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	xs := modeltest.Stream(1, 1501, 4)
	for _, x := range xs[:1500] {
		d.Update(x)
	}
	x := xs[1500]
	x[3] += 100
	d.Score(x)
	c := make([]float64, 4)
	d.Contributions(c)
	if c[3] < 0.8 {
		t.Fatalf("contributions %v, want feature 3 dominant", c)
	}
}

func TestNewRefusesHugeForests(t *testing.T) {
	if _, err := rrcf.New(1000, rrcf.Options{Trees: 500, Samples: 4000}); err == nil {
		t.Fatal("a forest needing terabytes was accepted")
	}
}
