package rrcf

import (
	"math"
	"slices"
	"testing"

	"millwright/models/modeltest"
)

// checkBoxes fails unless every kept box is exactly its subtree's, every
// left mass adds up and the tree holds its reservoir's points.
func checkBoxes(t *testing.T, d *Detector) {
	t.Helper()
	lo, hi := make([]float64, d.ds), make([]float64, d.ds)
	for i := range d.trees {
		tr := &d.trees[i]
		if int(tr.count) != len(tr.pt) {
			t.Fatalf("tree %d: count %d, %d samples", i, tr.count, len(tr.pt))
		}
		if tr.count == 0 {
			continue
		}
		var walk func(c, m int32) int32
		walk = func(c, m int32) int32 {
			if c < 0 {
				return m
			}
			nd := &tr.nodes[c]
			got := walk(nd.left, nd.lmass()) + walk(nd.right, m-nd.lmass())
			if s := nd.slot(); s >= 0 {
				emptyBox(lo, hi)
				d.boxInto(tr, nd.left, lo, hi)
				d.boxInto(tr, nd.right, lo, hi)
				b := tr.slotBox(s)
				if !slices.Equal(lo, b[:d.ds]) || !slices.Equal(hi, b[d.ds:]) {
					t.Fatalf("tree %d node %d: kept box %v, subtree's %v %v", i, c, b, lo, hi)
				}
			}
			return got
		}
		if got := walk(tr.root, tr.count); got != tr.count {
			t.Fatalf("tree %d: leaf masses add up to %d, want %d", i, got, tr.count)
		}
		for _, pt := range tr.pt {
			if leaf, _ := d.find(tr, d.point32(pt)); leaf >= 0 {
				t.Fatalf("tree %d: point %d not found", i, pt)
			}
		}
	}
}

// TestKeptBoxesStayExact runs small forests, whose box slots run out, over
// streams with duplicates and outliers, and checks the kept boxes against
// their subtrees along the way and after a snapshot round trip.
func TestKeptBoxesStayExact(t *testing.T) {
	for _, tc := range []struct {
		name    string
		dim     int
		opt     Options
		distort func(i int, x []float64)
	}{
		{"noise", 4, Options{Trees: 5, Samples: 64, Seed: 1}, nil},
		{"duplicates", 3, Options{Trees: 5, Samples: 32, Seed: 2}, func(i int, x []float64) {
			for k := range x {
				x[k] = math.Round(x[k] / 40)
			}
		}},
		{"stuck shingles", 1, Options{Trees: 4, Samples: 16, Seed: 3}, func(i int, x []float64) {
			if i%200 < 90 {
				x[0] = 7
			}
		}},
		{"outliers", 2, Options{Trees: 4, Samples: 128, Seed: 4}, func(i int, x []float64) {
			if i%37 == 0 {
				x[i%2] += 1e4
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := New(tc.dim, tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			for i, x := range modeltest.Stream(5, 3000, tc.dim) {
				if tc.distort != nil {
					tc.distort(i, x)
				}
				d.Update(x)
				if i%97 == 0 {
					checkBoxes(t, d)
				}
			}
			b, err := d.MarshalSnapshot()
			if err != nil {
				t.Fatal(err)
			}
			r, _ := New(1, Options{})
			if err := r.UnmarshalSnapshot(b); err != nil {
				t.Fatal(err)
			}
			checkBoxes(t, r)
		})
	}
}
