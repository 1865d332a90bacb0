package rrcf_test

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"runtime"
	"strconv"
	"testing"

	"millwright/models"
	"millwright/models/modeltest"
	"millwright/models/rrcf"
	"millwright/models/snapshot"
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

// TestBudget checks the memory an instance holds and its snapshot size at
// the default options (50 trees of 256 samples, points of 8 values), after
// a warm-up well past the reservoir's horizon, for 8 features and for one
// shingled signal. The heap an instance holds is the live heap's growth
// over a few instances warmed up side by side, input excluded.
func TestBudget(t *testing.T) {
	const (
		maxHeap     = 1 << 20
		maxSnapshot = 512 << 10
		instances   = 3
	)
	for _, dim := range []int{8, 1} {
		xs := modeltest.Stream(1, 8000, dim)
		if dim == 1 {
			for i, x := range xs {
				x[0] = 10 + math.Sin(float64(i)/10) + 0.1*x[0] // a noisy wave
			}
		}
		heap, ds := budgetHeap(t, dim, instances, xs)
		d := ds[0]
		b, err := d.MarshalSnapshot()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("dim %d: %d distinct points stored, snapshot %d bytes, heap %d bytes (%d KiB) per instance",
			dim, d.StoredPoints(), len(b), heap, heap>>10)
		if d.StoredPoints() > 50*256 {
			t.Errorf("dim %d: %d points stored for 50×256 samples", dim, d.StoredPoints())
		}
		if heap > maxHeap {
			t.Errorf("dim %d: %d bytes per instance, want ≤ %d", dim, heap, maxHeap)
		}
		if len(b) > maxSnapshot {
			t.Errorf("dim %d: snapshot %d bytes, want ≤ %d", dim, len(b), maxSnapshot)
		}
	}
}

// budgetHeap warms up n detectors on xs and returns the live heap each
// holds, and the detectors.
func budgetHeap(t *testing.T, dim, n int, xs [][]float64) (int64, []*rrcf.Detector) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&before)
	ds := make([]*rrcf.Detector, n)
	for i := range ds {
		d, err := rrcf.New(dim, rrcf.Options{Seed: 1 + uint64(i)})
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range xs {
			d.Update(x)
		}
		ds[i] = d
	}
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(xs)
	return (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / int64(n), ds
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

// TestMigratesVersion1 restores a version 1 snapshot (written by the code
// before snapshots were packed, with the scores that detector went on to
// give): the migrated detector must continue with exactly those scores and
// snapshot as the current version.
func TestMigratesVersion1(t *testing.T) {
	old, err := os.ReadFile("testdata/v1.snapshot")
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("testdata/v1.scores")
	if err != nil {
		t.Fatal(err)
	}
	d, _ := rrcf.New(1, rrcf.Options{})
	if err := d.UnmarshalSnapshot(old); err != nil {
		t.Fatalf("version 1 snapshot refused: %v", err)
	}
	b, err := d.MarshalSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	if env, err := snapshot.Open(b); err != nil || env.Version < 2 {
		t.Fatalf("re-snapshot version %d, %v; want the current one", env.Version, err)
	}
	r, _ := rrcf.New(1, rrcf.Options{})
	if err := r.UnmarshalSnapshot(b); err != nil {
		t.Fatal(err)
	}
	var got, again []byte
	for _, x := range modeltest.Stream(2, 50, 2) {
		got = strconv.AppendFloat(got, d.Update(x), 'g', -1, 64)
		got = append(got, '\n')
		again = strconv.AppendFloat(again, r.Update(x), 'g', -1, 64)
		again = append(again, '\n')
	}
	if !bytes.Equal(got, want) || !bytes.Equal(again, want) {
		t.Fatalf("scores after migration differ from the version 1 detector's:\n%s\nwant\n%s", got, want)
	}
	if len(b) >= len(old) {
		t.Errorf("packed snapshot %d bytes, version 1 %d", len(b), len(old))
	}
}
