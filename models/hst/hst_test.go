package hst_test

import (
	"fmt"
	"slices"
	"testing"
	"unsafe"

	"millwright/models"
	"millwright/models/hst"
	"millwright/models/modeltest"
)

func newDetector(dim int, seed uint64) models.Detector {
	d, err := hst.New(dim, hst.Options{Seed: seed})
	if err != nil {
		panic(err)
	}
	return d
}

func TestConformance(t *testing.T) {
	modeltest.Run(t, newDetector)
}

func FuzzUnmarshalSnapshot(f *testing.F) {
	modeltest.FuzzSnapshot(f, newDetector)
}

func TestNewRefusesBadDimension(t *testing.T) {
	for _, dim := range []int{0, -3, 1 << 17} {
		if _, err := hst.New(dim, hst.Options{}); err == nil {
			t.Errorf("New(%d) accepted", dim)
		}
	}
}

// TestBudget checks memory and snapshot size after a long run whose data
// wanders, so that regions are vacated and new ones filled.
func TestBudget(t *testing.T) {
	const dim = 8
	d, err := hst.New(dim, hst.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	xs := modeltest.Stream(5, 20000, dim)
	for i, x := range xs {
		for j := range x {
			x[j] += float64(i) / 2000 // slow drift
		}
		d.Update(x)
	}
	const nodeSize = 16 + 2 // a node and its split feature
	if mem := d.Nodes() * nodeSize; mem > 1<<20 {
		t.Errorf("%d nodes, %d bytes, want ≤ 1 MiB", d.Nodes(), mem)
	}
	b, err := d.MarshalSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 512<<10 {
		t.Errorf("snapshot %d bytes, want ≤ 512 KiB", len(b))
	}
	t.Logf("%d nodes (%d bytes), snapshot %d bytes", d.Nodes(), d.Nodes()*nodeSize, len(b))
	var n struct {
		split float64
		child int32
		r, l  uint16
	}
	if unsafe.Sizeof(n)+2 != nodeSize {
		t.Fatalf("node layout is %d bytes", unsafe.Sizeof(n))
	}
}

func TestNoAllocs(t *testing.T) {
	d, _ := hst.New(8, hst.Options{Seed: 1})
	xs := modeltest.Stream(1, 6000, 8)
	for _, x := range xs[:5000] {
		d.Update(x)
	}
	i := 5000
	if a := testing.AllocsPerRun(500, func() { d.Update(xs[i]); i++ }); a != 0 {
		t.Fatalf("%v allocs per Update", a)
	}
}

func BenchmarkUpdate8(b *testing.B) {
	d, _ := hst.New(8, hst.Options{Seed: 1})
	modeltest.BenchUpdate(b, d, 8, 4096)
}

func Example() {
	d, err := hst.New(2, hst.Options{Seed: 7})
	if err != nil {
		panic(err)
	}
	for i := range 3000 {
		// A machine cycling through a regular pattern.
		d.Update([]float64{float64(i % 50), float64((i * 7) % 30)})
	}
	fmt.Println("typical is low:", d.Score([]float64{25, 14}) < 0.9)
	fmt.Printf("outlier: %.2f\n", d.Score([]float64{400, -90}))
	// Output:
	// typical is low: true
	// outlier: 1.00
}

// TestWorkSpaceFollowsTheData starts a machine idle (constant readings,
// which fix a tiny work space), then runs it: the forest must rebuild its
// work space and again tell a typical running point from an outlier.
func TestWorkSpaceFollowsTheData(t *testing.T) {
	const dim = 3
	d, err := hst.New(dim, hst.Options{Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	for range 1500 {
		d.Update([]float64{20, 0, 1}) // idle
	}
	running := modeltest.Stream(6, 6001, dim)
	for _, x := range running[:6000] {
		d.Update(x)
	}
	typical := running[6000]
	if p := d.Score(typical); p > 0.9 {
		t.Errorf("typical running point scored %.3f", p)
	}
	out := slices.Clone(typical)
	out[1] += 40 // about 16 to 80 standard deviations of that feature
	if p := d.Score(out); p < 0.95 {
		t.Errorf("outlier while running scored %.3f, want > 0.95", p)
	}
}

func TestNewRefusesHugeForests(t *testing.T) {
	if _, err := hst.New(60000, hst.Options{Window: 60000}); err == nil {
		t.Fatal("a forest needing tens of GiB was accepted")
	}
}

func TestContributionsPointAtTheBrokenFeature(t *testing.T) {
	d, err := hst.New(4, hst.Options{Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	xs := modeltest.Stream(1, 3001, 4)
	for _, x := range xs[:3000] {
		d.Update(x)
	}
	x := xs[3000]
	x[2] += 30
	d.Score(x)
	c := make([]float64, 4)
	d.Contributions(c)
	if c[2] < 0.6 {
		t.Fatalf("contributions %v, want feature 2 dominant", c)
	}
}
