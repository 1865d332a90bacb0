package ensemble_test

import (
	"errors"
	"fmt"
	"testing"

	"millwright/models"
	"millwright/models/baseline"
	"millwright/models/catalog"
	"millwright/models/ensemble"
	"millwright/models/hst"
	"millwright/models/modeltest"
)

func build(combine ensemble.Combine) modeltest.New {
	return func(dim int, seed uint64) models.Detector {
		b, err := baseline.New(dim, baseline.Options{})
		if err != nil {
			panic(err)
		}
		h, err := hst.New(dim, hst.Options{Seed: seed, Trees: 10})
		if err != nil {
			panic(err)
		}
		d, err := ensemble.New([]models.Detector{b, h}, ensemble.Options{Combine: combine, Restore: catalog.Restore})
		if err != nil {
			panic(err)
		}
		return d
	}
}

func TestConformanceMean(t *testing.T) { modeltest.Run(t, build(ensemble.Mean)) }
func TestConformanceMax(t *testing.T)  { modeltest.Run(t, build(ensemble.Max)) }

func FuzzUnmarshalSnapshot(f *testing.F) {
	modeltest.FuzzSnapshot(f, build(ensemble.Mean))
}

func TestNewRefuses(t *testing.T) {
	inner := build(ensemble.Mean)(2, 1)
	cases := []struct {
		name     string
		children []models.Detector
	}{
		{"none", nil},
		{"nested", []models.Detector{inner}},
		{"too many", make([]models.Detector, ensemble.MaxChildren+1)},
	}
	for _, c := range cases {
		if _, err := ensemble.New(c.children, ensemble.Options{}); err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
}

func TestRestoreNeedsRestorer(t *testing.T) {
	d := build(ensemble.Mean)(2, 1).(*ensemble.Detector)
	b, err := d.MarshalSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	b0, _ := baseline.New(2, baseline.Options{})
	bare, _ := ensemble.New([]models.Detector{b0}, ensemble.Options{})
	if err := bare.UnmarshalSnapshot(b); !errors.Is(err, ensemble.ErrNoRestore) {
		t.Fatalf("error %v, want ErrNoRestore", err)
	}
}

func BenchmarkUpdate8(b *testing.B) {
	d, err := catalog.New(ensemble.Kind, 8, 1)
	if err != nil {
		b.Fatal(err)
	}
	modeltest.BenchUpdate(b, d, 8, 4096)
}

func Example() {
	b, _ := baseline.New(2, baseline.Options{})
	h, _ := hst.New(2, hst.Options{Seed: 1})
	d, err := ensemble.New([]models.Detector{b, h}, ensemble.Options{Combine: ensemble.Max, Restore: catalog.Restore})
	if err != nil {
		panic(err)
	}
	for i := range 3000 {
		d.Update([]float64{float64(i % 20), 3})
	}
	fmt.Println(d.Children())
	fmt.Println("typical is low:", d.Score([]float64{7, 3}) < 0.9)
	fmt.Println("outlier is high:", d.Score([]float64{200, 3}) > 0.95)
	// Output:
	// [baseline hst]
	// typical is low: true
	// outlier is high: true
}

func TestContributionsFollowTheChildren(t *testing.T) {
	for _, c := range []ensemble.Combine{ensemble.Mean, ensemble.Max} {
		b, _ := baseline.New(3, baseline.Options{})
		h, _ := hst.New(3, hst.Options{Seed: 1})
		d, err := ensemble.New([]models.Detector{b, h}, ensemble.Options{Combine: c})
		if err != nil {
			t.Fatal(err)
		}
		xs := modeltest.Stream(1, 2001, 3)
		for _, x := range xs[:2000] {
			d.Update(x)
		}
		x := xs[2000]
		x[2] += 500
		d.Score(x)
		got := make([]float64, 3)
		d.Contributions(got)
		if got[2] < 0.9 || got[0] < 0 || got[1] < 0 {
			t.Errorf("combine %d: contributions %v, want feature 2 dominant", c, got)
		}
	}
}
