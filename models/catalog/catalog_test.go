package catalog_test

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"

	"millwright/models"
	"millwright/models/catalog"
	"millwright/models/modeltest"
	"millwright/models/snapshot"
)

func TestKinds(t *testing.T) {
	kinds := catalog.Kinds()
	if !slices.IsSorted(kinds) {
		t.Errorf("Kinds() = %v, not sorted", kinds)
	}
	if !slices.Contains(kinds, catalog.Default) {
		t.Errorf("Kinds() = %v lacks Default %q", kinds, catalog.Default)
	}
	for _, k := range kinds {
		d, err := catalog.New(k, 4, 1)
		if err != nil {
			t.Fatalf("New(%q): %v", k, err)
		}
		if d.Kind() != k {
			t.Errorf("New(%q).Kind() = %q", k, d.Kind())
		}
	}
}

func TestNewRefuses(t *testing.T) {
	cases := []struct {
		kind    string
		dim     int
		unknown bool
	}{
		{"no-such-kind", 3, true},
		{"", 3, true},
		{catalog.Default, 0, false},
		{catalog.Default, -5, false},
	}
	for _, c := range cases {
		d, err := catalog.New(c.kind, c.dim, 1)
		if err == nil {
			t.Errorf("New(%q, %d) = %v, want error", c.kind, c.dim, d)
			continue
		}
		if got := errors.Is(err, catalog.ErrUnknownKind); got != c.unknown {
			t.Errorf("New(%q, %d): error %q, unknown kind = %v, want %v", c.kind, c.dim, err, got, c.unknown)
		}
	}
}

func TestRestoreEveryKind(t *testing.T) {
	xs := modeltest.Stream(3, 800, 5)
	for _, k := range catalog.Kinds() {
		d, err := catalog.New(k, 5, 7)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range xs[:500] {
			d.Update(x)
		}
		b, err := d.(models.Snapshotter).MarshalSnapshot()
		if err != nil {
			t.Fatal(err)
		}
		r, err := catalog.Restore(b)
		if err != nil {
			t.Fatalf("Restore(%s snapshot): %v", k, err)
		}
		if r.Kind() != k || r.Samples() != d.Samples() {
			t.Fatalf("restored %s/%d, want %s/%d", r.Kind(), r.Samples(), k, d.Samples())
		}
		for i, x := range xs[500:] {
			if a, b := d.Update(x), r.Update(x); math.Float64bits(a) != math.Float64bits(b) {
				t.Fatalf("%s vector %d: restored %v, original %v", k, i, b, a)
			}
		}
	}
}

func TestRestoreRefuses(t *testing.T) {
	unknown, err := snapshot.Marshal("no-such-kind", 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		b    []byte
		want error
	}{
		{"garbage", []byte{1, 2, 3}, snapshot.ErrCorrupt},
		{"unknown kind", unknown, catalog.ErrUnknownKind},
	}
	for _, c := range cases {
		if _, err := catalog.Restore(c.b); !errors.Is(err, c.want) {
			t.Errorf("%s: error %v, want %v", c.name, err, c.want)
		}
	}
}

func FuzzRestore(f *testing.F) {
	for _, k := range catalog.Kinds() {
		d, _ := catalog.New(k, 2, 1)
		for _, x := range modeltest.Stream(1, 300, 2) {
			d.Update(x)
		}
		b, _ := d.(models.Snapshotter).MarshalSnapshot()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := catalog.Restore(b)
		if err != nil {
			return
		}
		if p := d.Update([]float64{1, 2}); !(p >= 0 && p <= 1) {
			t.Fatalf("restored detector scored %v", p)
		}
	})
}

func Example() {
	d, err := catalog.New(catalog.Default, 3, 1)
	if err != nil {
		panic(err)
	}
	for i := range 1000 {
		d.Update([]float64{float64(i % 10), 5, -1})
	}
	snap, err := d.(models.Snapshotter).MarshalSnapshot()
	if err != nil {
		panic(err)
	}
	r, err := catalog.Restore(snap)
	if err != nil {
		panic(err)
	}
	fmt.Println(r.Kind(), r.Samples(), r.Kind() == catalog.Default)
	_, err = catalog.New("nope", 3, 1)
	fmt.Println(err != nil)
	// Output:
	// pca 1000 true
	// true
}

// TestSnapshotSizes checks that every kind's snapshot at 8 features, after
// a long stream, fits the wire contract's limit, and logs the sizes.
func TestSnapshotSizes(t *testing.T) {
	xs := modeltest.Stream(9, 6000, 8)
	for _, k := range catalog.Kinds() {
		d, err := catalog.New(k, 8, 1)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range xs {
			d.Update(x)
		}
		b, err := d.(models.Snapshotter).MarshalSnapshot()
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		t.Logf("%-9s snapshot %7d bytes at 8 features", k, len(b))
		if len(b) > snapshot.MaxSize {
			t.Errorf("%s: snapshot %d bytes over %d", k, len(b), snapshot.MaxSize)
		}
	}
}
