package modeltest

import (
	"bytes"
	"math"
	"slices"
	"testing"

	"millwright/models/snapshot"
)

func TestStreamIsDeterministic(t *testing.T) {
	a, b := Stream(3, 50, 4), Stream(3, 50, 4)
	for i := range a {
		if !slices.Equal(a[i], b[i]) {
			t.Fatalf("vector %d differs between two streams of one seed", i)
		}
	}
	if slices.Equal(Stream(4, 1, 4)[0], a[0]) {
		t.Fatal("different seeds give the same stream")
	}
}

func TestWithMissingMarksSomeFeatures(t *testing.T) {
	xs := withMissing(1, Stream(1, 200, 5))
	bad := 0
	for _, x := range xs {
		for _, v := range x {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				bad++
			}
		}
	}
	if bad < 50 || bad > 150 {
		t.Fatalf("%d of 1000 features missing, want about 100", bad)
	}
}

func TestMutateChangesOneNumber(t *testing.T) {
	type state struct {
		A int       `cbor:"1,keyasint"`
		B []float64 `cbor:"2,keyasint"`
	}
	b, err := snapshot.Marshal("k", 1, &state{A: 5, B: []float64{1, 2}})
	if err != nil {
		t.Fatal(err)
	}
	changed := 0
	for n := range uint32(8) {
		m := mutate(b, n, 77)
		if m == nil {
			t.Fatal("no numbers found")
		}
		if bytes.Equal(m, mutate(b, n, 77)) == false {
			t.Fatal("mutate is not deterministic")
		}
		var s state
		if _, err := snapshot.Unmarshal(m, "k", 1, &s); err != nil {
			continue // the version or another envelope number was hit
		}
		if s.A == 77 || slices.Contains(s.B, 77.0/8) {
			changed++
		}
	}
	if changed == 0 {
		t.Fatal("no mutation reached the state")
	}
}
