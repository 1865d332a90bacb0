package rrcf

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"slices"

	"millwright/models/calibrate"
	"millwright/models/snapshot"
)

// version 2 stores the forest packed and deflated: its integers (shapes,
// sample points) as varints, its floats (points, cuts, priorities)
// byte-planed; and no leaf numbers (a sample's leaf is where its point
// descends to). Version 1 snapshots are still read.
const version = 2

// The snapshot is canonical: points are numbered by first use and trees
// are written in preorder, so it does not depend on pool layout, and a
// restored forest (laid out afresh) snapshots to the same bytes.

type state struct {
	Dim     int       `cbor:"1,keyasint"`
	Trees   int       `cbor:"2,keyasint"`
	Samples int       `cbor:"3,keyasint"`
	Shingle int       `cbor:"4,keyasint"`
	Decay   float64   `cbor:"5,keyasint"`
	Seed    uint64    `cbor:"6,keyasint"`
	Ring    []float64 `cbor:"7,keyasint"` // oldest first
	Last    []float64 `cbor:"8,keyasint"`
	Seen    []bool    `cbor:"9,keyasint"`
	Points  int       `cbor:"10,keyasint"` // distinct points stored
	// Ints holds, per tree, its shape (length, then preorder: -1 for a
	// leaf, else the cut dimension) and its reservoir (length, then per
	// sample in heap order 0 for the next new point, else 1 + the number
	// of a point seen before), packed by packInts.
	Ints    []byte          `cbor:"11,keyasint"`
	RNG     []byte          `cbor:"12,keyasint"`
	Seq     uint64          `cbor:"13,keyasint"`
	Learned uint64          `cbor:"14,keyasint"`
	Missing uint64          `cbor:"15,keyasint"`
	Cal     calibrate.State `cbor:"16,keyasint"`
	// Floats holds the points, then per tree its cuts (preorder) and its
	// priorities (heap order), packed by packFloats.
	Floats []byte `cbor:"17,keyasint"`
}

// Version 1, read for migration.

type treeStateV1 struct {
	Shape []int32   `cbor:"1,keyasint"`
	Cut   []float64 `cbor:"2,keyasint"`
	Prio  []float64 `cbor:"3,keyasint"`
	Pt    []int32   `cbor:"4,keyasint"`
	Leaf  []int32   `cbor:"5,keyasint"` // derived since version 2
}

type stateV1 struct {
	Dim     int             `cbor:"1,keyasint"`
	Trees   int             `cbor:"2,keyasint"`
	Samples int             `cbor:"3,keyasint"`
	Shingle int             `cbor:"4,keyasint"`
	Decay   float64         `cbor:"5,keyasint"`
	Seed    uint64          `cbor:"6,keyasint"`
	Ring    []float64       `cbor:"7,keyasint"`
	Last    []float64       `cbor:"8,keyasint"`
	Seen    []bool          `cbor:"9,keyasint"`
	Points  []float64       `cbor:"10,keyasint"`
	Forest  []treeStateV1   `cbor:"11,keyasint"`
	RNG     []byte          `cbor:"12,keyasint"`
	Seq     uint64          `cbor:"13,keyasint"`
	Learned uint64          `cbor:"14,keyasint"`
	Missing uint64          `cbor:"15,keyasint"`
	Cal     calibrate.State `cbor:"16,keyasint"`
}

// forestData is a snapshot's forest unpacked, whatever its version.
type forestData struct {
	points []float64
	trees  []treeData
}

type treeData struct {
	shape, pt []int32
	cut, prio []float64
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
	f := d.forestData()
	s.Points = len(f.points) / d.ds
	floats := f.points
	var ints []int64
	seen := int32(0)
	for _, t := range f.trees {
		ints = append(ints, int64(len(t.shape)))
		for _, k := range t.shape {
			ints = append(ints, int64(k))
		}
		ints = append(ints, int64(len(t.pt)))
		for _, pt := range t.pt {
			if pt == seen { // canonical numbers are handed out in order
				ints = append(ints, 0)
				seen++
			} else {
				ints = append(ints, 1+int64(pt))
			}
		}
		floats = append(floats, t.cut...)
		floats = append(floats, t.prio...)
	}
	if s.Floats, err = packFloats(floats); err != nil {
		return nil, fmt.Errorf("encode rrcf snapshot: %w", err)
	}
	if s.Ints, err = packInts(ints); err != nil {
		return nil, fmt.Errorf("encode rrcf snapshot: %w", err)
	}
	return snapshot.Marshal(Kind, version, &s)
}

// forestData returns the forest in canonical order.
func (d *Detector) forestData() forestData {
	var f forestData
	canon := make([]int32, len(d.ref))
	for i := range canon {
		canon[i] = -1
	}
	next := int32(0)
	for i := range d.trees {
		t := &d.trees[i]
		var td treeData
		var pre func(c int32)
		pre = func(c int32) {
			if c < 0 {
				td.shape = append(td.shape, -1)
				return
			}
			td.shape = append(td.shape, int32(t.nodes[c].cdim()))
			td.cut = append(td.cut, t.nodes[c].cval())
			pre(t.nodes[c].left)
			pre(t.nodes[c].right)
		}
		if t.count > 0 {
			pre(t.root)
		}
		for j, pt := range t.pt {
			if canon[pt] < 0 {
				canon[pt] = next
				next++
				f.points = append(f.points, d.point32(pt)...)
			}
			td.prio = append(td.prio, t.prio[j])
			td.pt = append(td.pt, canon[pt])
		}
		f.trees = append(f.trees, td)
	}
	return f
}

func deflate(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	w, err := flate.NewWriter(&buf, flate.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(b); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// inflate decompresses b, refusing more than limit bytes.
func inflate(b []byte, limit int) ([]byte, error) {
	out, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(b)), int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if len(out) > limit {
		return nil, fmt.Errorf("more than %d bytes packed", limit)
	}
	return out, nil
}

// packInts encodes vs as zigzag varints, deflated.
func packInts(vs []int64) ([]byte, error) {
	b := make([]byte, 0, 2*len(vs))
	for _, v := range vs {
		b = binary.AppendVarint(b, v)
	}
	return deflate(b)
}

// unpackInts decodes at most limit integers packed by packInts.
func unpackInts(b []byte, limit int) ([]int64, error) {
	raw, err := inflate(b, binary.MaxVarintLen64*limit)
	if err != nil {
		return nil, fmt.Errorf("packed integers: %w", err)
	}
	var vs []int64
	for len(raw) > 0 {
		v, n := binary.Varint(raw)
		if n <= 0 || len(vs) == limit {
			return nil, fmt.Errorf("packed integers: bad varint or more than %d", limit)
		}
		vs = append(vs, v)
		raw = raw[n:]
	}
	return vs, nil
}

// packFloats encodes vs exactly and compactly: the values' bytes are
// regrouped by significance (all sign-and-exponent bytes first, and so on
// down to the last mantissa bytes), which puts the repetitive high bytes of
// values of like magnitude together, then deflated.
func packFloats(vs []float64) ([]byte, error) {
	n := len(vs)
	planes := make([]byte, 8*n)
	for i, v := range vs {
		b := math.Float64bits(v)
		for k := range 8 {
			planes[k*n+i] = byte(b >> (56 - 8*k))
		}
	}
	return deflate(planes)
}

// unpackFloats decodes exactly n floats packed by packFloats.
func unpackFloats(b []byte, n int) ([]float64, error) {
	planes, err := inflate(b, 8*n)
	if err != nil || len(planes) != 8*n {
		return nil, fmt.Errorf("packed floats: %d bytes, want %d: %v", len(planes), 8*n, err)
	}
	vs := make([]float64, n)
	for i := range vs {
		var u uint64
		for k := range 8 {
			u |= uint64(planes[k*n+i]) << (56 - 8*k)
		}
		vs[i] = math.Float64frombits(u)
	}
	return vs, nil
}

// UnmarshalSnapshot replaces the state with a snapshot's, which may have
// another dimension and options. On error the state is unchanged. Version
// 1 snapshots are migrated.
func (d *Detector) UnmarshalSnapshot(b []byte) error {
	env, err := snapshot.Open(b)
	if err == nil && env.Kind == Kind && env.Version == 1 {
		return d.unmarshalV1(b)
	}
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

func (d *Detector) unmarshalV1(b []byte) error {
	var s1 stateV1
	if _, err := snapshot.Unmarshal(b, Kind, 1, &s1); err != nil {
		return err
	}
	s := state{
		Dim: s1.Dim, Trees: s1.Trees, Samples: s1.Samples, Shingle: s1.Shingle, Decay: s1.Decay,
		Seed: s1.Seed, Ring: s1.Ring, Last: s1.Last, Seen: s1.Seen, RNG: s1.RNG, Seq: s1.Seq,
		Learned: s1.Learned, Missing: s1.Missing, Cal: s1.Cal,
	}
	f := forestData{points: s1.Points}
	for _, t := range s1.Forest {
		f.trees = append(f.trees, treeData{shape: t.Shape, pt: t.Pt, cut: t.Cut, prio: t.Prio})
	}
	nd, err := fromData(&s, &f)
	if err != nil {
		return snapshot.Corrupt(Kind, "version 1: %v", err)
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

// fromState unpacks a version 2 state and builds the detector.
func fromState(s *state) (*Detector, error) {
	// Bound every count before unpacking, so that no allocation follows
	// untrusted sizes further than the options allow.
	if s.Dim < 1 || s.Dim > maxPoint {
		return nil, errDim(s.Dim)
	}
	if s.Trees < 1 || s.Trees > maxTrees || s.Samples < 1 || s.Samples > maxSamples || s.Shingle < 1 ||
		s.Shingle > maxPoint || s.Dim*s.Shingle > maxPoint ||
		s.Points < 0 || s.Points > s.Trees*s.Samples {
		return nil, fmt.Errorf("sizes out of range")
	}
	ds := s.Dim * s.Shingle
	if need := forestBytes(s.Trees, s.Samples, ds); need > maxBytes {
		return nil, fmt.Errorf("forest of %d MiB, limit %d", need>>20, maxBytes>>20)
	}
	ints, err := unpackInts(s.Ints, s.Trees*(2+3*s.Samples))
	if err != nil {
		return nil, err
	}
	next := func() int {
		if len(ints) == 0 {
			return -2 // out of range wherever read
		}
		v := ints[0]
		ints = ints[1:]
		return int(max(min(v, math.MaxInt32), -2))
	}
	n := s.Points * ds
	f := forestData{trees: make([]treeData, s.Trees)}
	seen := int32(0)
	for i := range f.trees {
		t := &f.trees[i]
		ns := next()
		if ns < 0 || ns > 2*s.Samples-1 {
			return nil, fmt.Errorf("tree %d: shape of %d nodes", i, ns)
		}
		t.shape = make([]int32, ns)
		cuts := 0
		for j := range t.shape {
			k := next()
			if k < -1 || k >= ds {
				return nil, fmt.Errorf("tree %d: bad node tag %d", i, k)
			}
			t.shape[j] = int32(k)
			if k >= 0 {
				cuts++
			}
		}
		np := next()
		if np < 0 || np > s.Samples {
			return nil, fmt.Errorf("tree %d: %d samples", i, np)
		}
		t.pt = make([]int32, np)
		for j := range t.pt {
			switch c := next(); {
			case c == 0:
				t.pt[j] = seen
				seen++
			case c > 0 && c <= int(seen):
				t.pt[j] = int32(c - 1)
			default:
				return nil, fmt.Errorf("tree %d: sample %d refers to point %d of %d", i, j, c-1, seen)
			}
		}
		t.cut, t.prio = make([]float64, cuts), make([]float64, np)
		n += cuts + np
	}
	if len(ints) != 0 || int(seen) != s.Points {
		return nil, fmt.Errorf("packed forest: %d integers left over, %d points of %d used", len(ints), seen, s.Points)
	}
	vs, err := unpackFloats(s.Floats, n)
	if err != nil {
		return nil, err
	}
	f.points, vs = vs[:s.Points*ds], vs[s.Points*ds:]
	for i := range f.trees {
		t := &f.trees[i]
		vs = vs[copy(t.cut, vs):]
		vs = vs[copy(t.prio, vs):]
	}
	return fromData(s, &f)
}

// fromData builds a detector from a state's scalars and its forest.
func fromData(s *state, f *forestData) (*Detector, error) {
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
	if len(f.points)%ds != 0 || len(f.points)/ds > opt.Trees*opt.Samples || !allFinite(f.points) {
		return nil, fmt.Errorf("bad point store")
	}
	d.pts = append(d.pts[:0], f.points...)
	d.ref = make([]uint16, len(f.points)/ds)
	if len(f.trees) != opt.Trees {
		return nil, fmt.Errorf("%d trees, want %d", len(f.trees), opt.Trees)
	}
	for i := range d.trees {
		if err := d.restoreTree(&d.trees[i], &f.trees[i]); err != nil {
			return nil, fmt.Errorf("tree %d: %w", i, err)
		}
	}
	if slices.Contains(d.ref, 0) {
		return nil, fmt.Errorf("unreferenced point")
	}
	d.seq, d.samples, d.missing, d.cal = s.Seq, s.Learned, s.Missing, cal
	return d, nil
}

func (d *Detector) restoreTree(t *tree, ts *treeData) error {
	n := len(ts.shape)
	if n > 2*len(t.nodes)+1 || len(ts.prio) > d.opt.Samples || len(ts.pt) != len(ts.prio) {
		return fmt.Errorf("sizes out of range")
	}
	if (n == 0) != (len(ts.prio) == 0) {
		return fmt.Errorf("%d nodes but %d samples", n, len(ts.prio))
	}
	if !allFinite(ts.cut) || !allFinite(ts.prio) {
		return fmt.Errorf("non-finite cut or priority")
	}
	order := make([]int32, 0, n) // internal nodes, in preorder
	pos, cuts := 0, 0
	var build func() (int32, error)
	build = func() (int32, error) {
		if pos >= n {
			return 0, fmt.Errorf("truncated shape")
		}
		k := ts.shape[pos]
		pos++
		if k < 0 {
			if k != -1 {
				return 0, fmt.Errorf("bad node tag %d", k)
			}
			return unsetLeaf, nil
		}
		i := t.alloc()
		if i < 0 {
			return 0, fmt.Errorf("more nodes than %d samples allow", d.opt.Samples)
		}
		order = append(order, i)
		if int(k) >= d.ds || cuts >= len(ts.cut) {
			return 0, fmt.Errorf("bad cut")
		}
		t.nodes[i].set(int(k), ts.cut[cuts], 0)
		cuts++
		var err error
		if t.nodes[i].left, err = build(); err != nil {
			return 0, err
		}
		if t.nodes[i].right, err = build(); err != nil {
			return 0, err
		}
		return i, nil
	}
	if n > 0 {
		root, err := build()
		if err != nil {
			return err
		}
		if pos != n || cuts != len(ts.cut) {
			return fmt.Errorf("shape has %d unused nodes", n-pos)
		}
		t.root = root
	}
	for j := range ts.prio {
		pt := ts.pt[j]
		if pt < 0 || int(pt) >= len(d.ref) {
			return fmt.Errorf("sample %d out of range", j)
		}
		if j > 0 && ts.prio[(j-1)/2] < ts.prio[j] {
			return fmt.Errorf("reservoir is not a heap")
		}
		// A sample's leaf is where its point descends to.
		p := d.point32(pt)
		c, ref := t.root, &t.root
		for c >= 0 {
			nd := &t.nodes[c]
			if p[nd.cdim()] <= nd.cval() {
				nd.meta++ // the left mass
				c, ref = nd.left, &nd.left
			} else {
				c, ref = nd.right, &nd.right
			}
		}
		if c == unsetLeaf {
			*ref = ^pt
		} else if !slices.Equal(d.point32(^c), p) {
			return fmt.Errorf("leaf of point %d holds different points", pt)
		}
		if d.ref[pt] == math.MaxUint16 {
			return fmt.Errorf("point %d referenced too often", pt)
		}
		d.ref[pt]++
		t.prio = append(t.prio, ts.prio[j])
		t.pt = append(t.pt, pt)
	}
	t.count = int32(len(t.pt))
	if n > 0 && t.root == unsetLeaf {
		return fmt.Errorf("empty leaf")
	}
	for _, i := range order {
		if t.nodes[i].left == unsetLeaf || t.nodes[i].right == unsetLeaf {
			return fmt.Errorf("empty leaf")
		}
	}
	// Boxes of large subtrees, children before parents (reverse preorder).
	if t.count > 0 {
		d.keepBoxes(t, t.root, t.count)
	}
	return nil
}

// keepBoxes gives the large nodes under c (of mass m) box slots, while
// there are some, the largest first, and fills them in.
func (d *Detector) keepBoxes(t *tree, c, m int32) {
	if c < 0 || m < cacheMass(len(t.nodes)+1) {
		return
	}
	nd := &t.nodes[c]
	b := t.take(c)
	d.keepBoxes(t, nd.left, nd.lmass())
	d.keepBoxes(t, nd.right, m-nd.lmass())
	if b != nil {
		// The children's boxes are done.
		emptyBox(b[:t.ds], b[t.ds:])
		d.boxInto(t, nd.left, b[:t.ds], b[t.ds:])
		d.boxInto(t, nd.right, b[:t.ds], b[t.ds:])
	}
}
