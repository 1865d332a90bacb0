package rrcf

import (
	"fmt"
	"slices"

	"millwright/models/calibrate"
	"millwright/models/snapshot"
)

const version = 1

// The snapshot is canonical: points are numbered by first use and trees
// are written in preorder, so it does not depend on pool layout, and a
// restored forest (laid out afresh) snapshots to the same bytes.

type treeState struct {
	Shape []int32   `cbor:"1,keyasint"` // preorder: -1 for a leaf, else the cut dimension
	Cut   []float64 `cbor:"2,keyasint"` // cut values of internal nodes, preorder
	Prio  []float64 `cbor:"3,keyasint"` // reservoir, in heap order
	Pt    []int32   `cbor:"4,keyasint"`
	Leaf  []int32   `cbor:"5,keyasint"` // leaf ordinal in preorder
}

type state struct {
	Dim     int             `cbor:"1,keyasint"`
	Trees   int             `cbor:"2,keyasint"`
	Samples int             `cbor:"3,keyasint"`
	Shingle int             `cbor:"4,keyasint"`
	Decay   float64         `cbor:"5,keyasint"`
	Seed    uint64          `cbor:"6,keyasint"`
	Ring    []float64       `cbor:"7,keyasint"` // oldest first
	Last    []float64       `cbor:"8,keyasint"`
	Seen    []bool          `cbor:"9,keyasint"`
	Points  []float64       `cbor:"10,keyasint"`
	Forest  []treeState     `cbor:"11,keyasint"`
	RNG     []byte          `cbor:"12,keyasint"`
	Seq     uint64          `cbor:"13,keyasint"`
	Learned uint64          `cbor:"14,keyasint"`
	Missing uint64          `cbor:"15,keyasint"`
	Cal     calibrate.State `cbor:"16,keyasint"`
}

func errDim(dim int) error {
	return fmt.Errorf("rrcf: dimension %d out of range [1, %d]", dim, maxPoint)
}

// MarshalSnapshot returns the detector's whole state as versioned CBOR.
func (d *Detector) MarshalSnapshot() ([]byte, error) {
	rng, err := d.src.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("encode rrcf snapshot: %w", err)
	}
	s := state{
		Dim: d.dim, Trees: d.opt.Trees, Samples: d.opt.Samples, Shingle: d.opt.Shingle,
		Decay: d.opt.Decay, Seed: d.opt.Seed, Last: d.last, Seen: d.seen, RNG: rng,
		Seq: d.seq, Learned: d.samples, Missing: d.missing, Cal: d.cal.State(),
	}
	for j := range d.fill {
		slot := (d.head + j) % d.opt.Shingle
		s.Ring = append(s.Ring, d.ring[slot*d.dim:(slot+1)*d.dim]...)
	}
	canon := make([]int32, len(d.ref))
	for i := range canon {
		canon[i] = -1
	}
	next := int32(0)
	leafOrd := make([]int32, 2*d.opt.Samples-1)
	for i := range d.trees {
		t := &d.trees[i]
		var ts treeState
		leaves := int32(0)
		var pre func(n int32)
		pre = func(n int32) {
			if t.isLeaf(n) {
				ts.Shape = append(ts.Shape, -1)
				leafOrd[n] = leaves
				leaves++
				return
			}
			ts.Shape = append(ts.Shape, t.nodes[n].cdim)
			ts.Cut = append(ts.Cut, t.nodes[n].cval)
			pre(t.nodes[n].left)
			pre(t.nodes[n].right)
		}
		if t.root >= 0 {
			pre(t.root)
		}
		for _, h := range t.heap {
			if canon[h.pt] < 0 {
				canon[h.pt] = next
				next++
				s.Points = append(s.Points, d.point32(h.pt)...)
			}
			ts.Prio = append(ts.Prio, h.prio)
			ts.Pt = append(ts.Pt, canon[h.pt])
			ts.Leaf = append(ts.Leaf, leafOrd[h.leaf])
		}
		s.Forest = append(s.Forest, ts)
	}
	return snapshot.Marshal(Kind, version, &s)
}

// UnmarshalSnapshot replaces the state with a snapshot's, which may have
// another dimension and options. On error the state is unchanged.
func (d *Detector) UnmarshalSnapshot(b []byte) error {
	var s state
	if _, err := snapshot.Unmarshal(b, Kind, version, &s); err != nil {
		return err
	}
	nd, err := fromState(&s)
	if err != nil {
		return snapshot.Corrupt(Kind, "%v", err)
	}
	*d = *nd
	return nil
}

func allFinite(v []float64) bool {
	for _, x := range v {
		if x-x != 0 {
			return false
		}
	}
	return true
}

func fromState(s *state) (*Detector, error) {
	if s.Dim < 1 || s.Dim > maxPoint {
		return nil, errDim(s.Dim)
	}
	cal, err := calibrate.Restore(s.Cal)
	if err != nil {
		return nil, err
	}
	opt := Options{Trees: s.Trees, Samples: s.Samples, Shingle: s.Shingle, Decay: s.Decay, Seed: s.Seed, Calibration: cal.Options()}
	if opt.withDefaults(s.Dim) != opt {
		return nil, fmt.Errorf("options out of range")
	}
	d, err := New(s.Dim, opt)
	if err != nil {
		return nil, err
	}
	dim, ds := d.dim, d.ds
	if len(s.Ring)%dim != 0 || len(s.Ring)/dim > opt.Shingle || len(s.Last) != dim || len(s.Seen) != dim ||
		!allFinite(s.Ring) || !allFinite(s.Last) {
		return nil, fmt.Errorf("bad shingle state")
	}
	copy(d.ring, s.Ring)
	d.fill = len(s.Ring) / dim
	copy(d.last, s.Last)
	copy(d.seen, s.Seen)
	if err := d.src.UnmarshalBinary(s.RNG); err != nil {
		return nil, fmt.Errorf("random state: %w", err)
	}
	if len(s.Points)%ds != 0 || len(s.Points)/ds > opt.Trees*opt.Samples || !allFinite(s.Points) {
		return nil, fmt.Errorf("bad point store")
	}
	d.pts = append(d.pts[:0], s.Points...)
	d.ref = make([]int32, len(s.Points)/ds)
	if len(s.Forest) != opt.Trees {
		return nil, fmt.Errorf("%d trees, want %d", len(s.Forest), opt.Trees)
	}
	for i := range d.trees {
		if err := d.restoreTree(&d.trees[i], &s.Forest[i]); err != nil {
			return nil, fmt.Errorf("tree %d: %w", i, err)
		}
	}
	if slices.Contains(d.ref, 0) {
		return nil, fmt.Errorf("unreferenced point")
	}
	d.seq, d.samples, d.missing, d.cal = s.Seq, s.Learned, s.Missing, cal
	return d, nil
}

func (d *Detector) restoreTree(t *tree, ts *treeState) error {
	n := len(ts.Shape)
	if n > len(t.nodes) || len(ts.Prio) > d.opt.Samples || len(ts.Pt) != len(ts.Prio) || len(ts.Leaf) != len(ts.Prio) {
		return fmt.Errorf("sizes out of range")
	}
	if (n == 0) != (len(ts.Prio) == 0) {
		return fmt.Errorf("%d nodes but %d samples", n, len(ts.Prio))
	}
	if !allFinite(ts.Cut) || !allFinite(ts.Prio) {
		return fmt.Errorf("non-finite cut or priority")
	}
	var leaves []int32 // node of each leaf ordinal
	pos, cuts := 0, 0
	var build func(up int32) (int32, error)
	build = func(up int32) (int32, error) {
		if pos >= n {
			return 0, fmt.Errorf("truncated shape")
		}
		i := int32(pos)
		k := ts.Shape[pos]
		pos++
		t.nodes[i].parent, t.nodes[i].cdim = up, k
		if k < 0 {
			if k != -1 {
				return 0, fmt.Errorf("bad node tag %d", k)
			}
			t.nodes[i].left = -1
			leaves = append(leaves, i)
			return i, nil
		}
		if int(k) >= d.ds || cuts >= len(ts.Cut) {
			return 0, fmt.Errorf("bad cut")
		}
		t.nodes[i].cval = ts.Cut[cuts]
		cuts++
		var err error
		if t.nodes[i].left, err = build(i); err != nil {
			return 0, err
		}
		if t.nodes[i].right, err = build(i); err != nil {
			return 0, err
		}
		return i, nil
	}
	if n > 0 {
		root, err := build(-1)
		if err != nil {
			return err
		}
		if pos != n || cuts != len(ts.Cut) {
			return fmt.Errorf("shape has %d unused nodes", n-pos)
		}
		t.root = root
	}
	t.resetFree(n)
	for j := range ts.Prio {
		pt, lo := ts.Pt[j], ts.Leaf[j]
		if pt < 0 || int(pt) >= len(d.ref) || lo < 0 || int(lo) >= len(leaves) {
			return fmt.Errorf("sample %d out of range", j)
		}
		if j > 0 && ts.Prio[(j-1)/2] < ts.Prio[j] {
			return fmt.Errorf("reservoir is not a heap")
		}
		leaf := leaves[lo]
		if t.nodes[leaf].left < 0 {
			t.nodes[leaf].left = pt
		} else if !slices.Equal(d.point32(t.nodes[leaf].left), d.point32(pt)) {
			return fmt.Errorf("leaf %d holds different points", lo)
		}
		t.nodes[leaf].mass++
		d.ref[pt]++
		t.heap = append(t.heap, sample{prio: ts.Prio[j], pt: pt, leaf: leaf})
	}
	for _, leaf := range leaves {
		if t.nodes[leaf].mass == 0 {
			return fmt.Errorf("empty leaf")
		}
	}
	// Internal masses and boxes, children before parents (reverse preorder).
	for i := n - 1; i >= 0; i-- {
		if !t.isLeaf(int32(i)) {
			t.nodes[i].mass = t.nodes[t.nodes[i].left].mass + t.nodes[t.nodes[i].right].mass
			d.refit(t, int32(i))
		}
	}
	if t.root >= 0 && int(t.nodes[t.root].mass) != len(t.heap) {
		return fmt.Errorf("masses do not add up")
	}
	return nil
}
