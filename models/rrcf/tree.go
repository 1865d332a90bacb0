package rrcf

import (
	"math"
	"slices"
)

// A child reference is an internal node's index (>= 0) or a leaf: ^pt,
// where pt is the stored point the leaf holds. Leaves need nothing else:
// a leaf's mass (its duplicates) is its parent's count of that side.
const unsetLeaf = int32(-1 << 31) // a leaf not yet given a point (restore only)

// node is an internal node: it cuts at x[cdim] <= cval (left). It keeps
// the mass of its left child only (a node's own mass comes from its
// parent, the root's is the tree's count) and no parent: every walk
// starts at the root. 20 bytes: the cut value in two halves, and the left
// mass, cut dimension and box slot packed in meta.
type node struct {
	cv0, cv1    uint32
	left, right int32
	meta        uint32 // lmass | cdim<<lmassBits | (slot+1)<<(lmassBits+cdimBits)
}

const (
	lmassBits = 13 // left mass ≤ maxSamples
	cdimBits  = 10 // cut dimension < maxPoint
	maxSlots  = 1<<(32-lmassBits-cdimBits) - 1
	slotShift = lmassBits + cdimBits
)

func (nd *node) cval() float64 { return math.Float64frombits(uint64(nd.cv1)<<32 | uint64(nd.cv0)) }
func (nd *node) cdim() int     { return int(nd.meta >> lmassBits & (1<<cdimBits - 1)) }
func (nd *node) lmass() int32  { return int32(nd.meta & (1<<lmassBits - 1)) }
func (nd *node) slot() int     { return int(nd.meta>>slotShift) - 1 }

// set makes nd a fresh node cutting dimension dim at cut, with no slot.
func (nd *node) set(dim int, cut float64, lmass int32) {
	b := math.Float64bits(cut)
	nd.cv0, nd.cv1 = uint32(b), uint32(b>>32)
	nd.meta = uint32(lmass) | uint32(dim)<<lmassBits
}

func (nd *node) setSlot(s int) {
	nd.meta = nd.meta&(1<<slotShift-1) | uint32(s+1)<<slotShift
}

// tree is a random cut tree over a pool of Samples-1 internal nodes.
//
// Exact boxes are kept only for large subtrees, in a few slots: a node
// with mass of at least cacheMass takes a free slot when an insertion
// passes through it and drops it when a removal leaves it smaller.
// Any other box is the union of its children's, computed when needed;
// boxes are minima and maxima, so a computed box has the very bits an
// incrementally kept one would.
type tree struct {
	nodes []node
	box   []float64 // slot s: ds minima, then ds maxima
	slots []int16   // free slots (a stack); at most maxSlots
	root  int32     // a child reference; meaningless when count is 0
	count int32     // samples in the tree: the root's mass
	free  int32     // free internal nodes, a list through left; -1 ends
	// The reservoir: a max-heap on prio, with each sample's point.
	prio []float64
	pt   []int32
	ds   int
}

// cacheMass is the smallest mass whose box a tree keeps, and boxSlots
// how many it can keep: a random cut tree of n leaves has about 2.3n/m
// nodes of mass m or more, so at the defaults (mass 21, 32 slots) the
// boxes of all the large subtrees fit, most of the time. Their boxes are
// what an insertion reads on its way down; a score reads mostly the small
// boxes near its leaf, which are quick to rebuild.
func cacheMass(samples int) int32 { return int32(max(samples/12, 4)) }

func boxSlots(samples int) int { return min(max(samples/8, 1), maxSlots) }

// newTree returns an empty tree over nodes, which has Samples-1 nodes.
func newTree(nodes []node, samples, ds int) tree {
	k := boxSlots(samples)
	t := tree{
		nodes: nodes, box: make([]float64, 2*ds*k), slots: make([]int16, 0, k),
		prio: make([]float64, 0, samples), pt: make([]int32, 0, samples), ds: ds,
	}
	t.reset()
	return t
}

// reset empties the tree: every node and slot free, in order.
func (t *tree) reset() {
	t.count, t.free = 0, -1
	for i := int32(len(t.nodes)) - 1; i >= 0; i-- {
		t.nodes[i].left = t.free
		t.free = i
	}
	t.slots = t.slots[:0]
	for s := len(t.box)/(2*t.ds) - 1; s >= 0; s-- {
		t.slots = append(t.slots, int16(s))
	}
	t.prio, t.pt = t.prio[:0], t.pt[:0]
}

// alloc takes a free internal node; it returns -1 when none is left (only
// a corrupt snapshot gets there).
func (t *tree) alloc() int32 {
	i := t.free
	if i >= 0 {
		t.free = t.nodes[i].left
		t.nodes[i].setSlot(-1)
	}
	return i
}

func (t *tree) release(i int32) {
	t.drop(i)
	t.nodes[i].left = t.free
	t.free = i
}

// take gives node i a box slot, if one is free, and returns its box.
func (t *tree) take(i int32) []float64 {
	n := len(t.slots)
	if n == 0 {
		return nil
	}
	s := t.slots[n-1]
	t.slots = t.slots[:n-1]
	t.nodes[i].setSlot(int(s))
	return t.slotBox(int(s))
}

// drop frees node i's box slot, if it has one.
func (t *tree) drop(i int32) {
	if s := t.nodes[i].slot(); s >= 0 {
		t.slots = append(t.slots, int16(s))
		t.nodes[i].setSlot(-1)
	}
}

func (t *tree) slotBox(s int) []float64 {
	return t.box[2*t.ds*int(s) : 2*t.ds*(int(s)+1)]
}

// setChild makes c the child of up that was old (up < 0: the root).
func (t *tree) setChild(up, old, c int32) {
	switch {
	case up < 0:
		t.root = c
	case t.nodes[up].left == old:
		t.nodes[up].left = c
	default:
		t.nodes[up].right = c
	}
}

// boxInto widens [lo, hi] to hold the subtree at child reference c. It
// first lists the subtree's leaves and kept boxes, then reads them: the
// reads do not wait on each other, so their cache misses overlap.
func (d *Detector) boxInto(t *tree, c int32, lo, hi []float64) {
	ds := t.ds
	lo, hi = lo[:ds], hi[:ds]
	if c < 0 { // often: a leaf's sibling is a leaf
		i := int(^c) * ds
		widen(lo, hi, d.pts[i:i+ds], d.pts[i:i+ds])
		return
	}
	stack, parts := d.stack[:0], d.parts[:0]
	for {
		for c >= 0 {
			nd := &t.nodes[c]
			if nd.slot() >= 0 {
				break
			}
			stack = append(stack, nd.right)
			c = nd.left
		}
		parts = append(parts, c)
		if len(stack) == 0 {
			break
		}
		c = stack[len(stack)-1]
		stack = stack[:len(stack)-1]
	}
	d.stack = stack
	for _, c := range parts {
		var blo, bhi []float64
		if c < 0 {
			i := int(^c) * ds
			blo = d.pts[i : i+ds]
			bhi = blo
		} else {
			b := t.slotBox(t.nodes[c].slot())
			blo, bhi = b[:ds], b[ds:2*ds]
		}
		blo, bhi = blo[:len(lo)], bhi[:len(lo)]
		for k := range lo {
			lo[k] = min(lo[k], blo[k])
			hi[k] = max(hi[k], bhi[k])
		}
	}
	d.parts = parts
}

// widen grows [lo, hi] to hold [blo, bhi].
func widen(lo, hi, blo, bhi []float64) {
	hi = hi[:len(lo)]
	blo, bhi = blo[:len(lo)], bhi[:len(lo)]
	for k := range lo {
		lo[k] = min(lo[k], blo[k])
		hi[k] = max(hi[k], bhi[k])
	}
}

// emptyBox sets [lo, hi] to the empty box.
func emptyBox(lo, hi []float64) {
	inf := math.Inf(1)
	for k := range lo {
		lo[k], hi[k] = inf, -inf
	}
}

// bounds returns the box of child reference c: its point, its slot, or
// the box computed into the scratch [lo, hi].
func (d *Detector) bounds(t *tree, c int32, lo, hi []float64) ([]float64, []float64) {
	if c < 0 {
		p := d.point32(^c)
		return p, p
	}
	if s := t.nodes[c].slot(); s >= 0 {
		b := t.slotBox(s)
		return b[:t.ds], b[t.ds:]
	}
	emptyBox(lo, hi)
	d.boxInto(t, c, lo, hi)
	return lo, hi
}

// insert adds stored point pt to the tree (Guha et al., algorithm 4).
func (d *Detector) insert(t *tree, pt int32) {
	p := d.point32(pt)
	leaf := ^pt
	if t.count == 0 {
		t.root, t.count = leaf, 1
		return
	}
	big := cacheMass(len(t.nodes) + 1)
	mass := t.count // of n, before p
	t.count++
	up, n := int32(-1), t.root
	for {
		lo, hi := d.bounds(t, n, d.blo, d.bhi)
		if n < 0 || outside(lo, hi, p) > 0 {
			span := extent(lo, hi, p)
			if span == 0 && n < 0 {
				// A duplicate joins the leaf; ancestors were counted on the way.
				return
			}
			r := d.rng.Float64() * span
			dim, cut := -1, 0.0
			for k := range p {
				l := min(lo[k], p[k])
				w := max(hi[k], p[k]) - l
				if w <= 0 {
					continue
				}
				dim, cut = k, l
				if r < w {
					cut = l + r
					break
				}
				r -= w
			}
			sep := dim >= 0 && ((p[dim] < lo[dim] && cut < lo[dim]) || (p[dim] > hi[dim] && cut >= hi[dim]))
			if sep || n < 0 || dim < 0 {
				if dim < 0 {
					dim, cut = 0, lo[0] // degenerate box: only after corrupt input
				}
				in := t.alloc()
				nd := &t.nodes[in]
				if p[dim] <= cut {
					nd.left, nd.right = leaf, n
					nd.set(dim, cut, 1)
				} else {
					nd.left, nd.right = n, leaf
					nd.set(dim, cut, mass)
				}
				t.setChild(up, n, in)
				if mass+1 >= big {
					if b := t.take(in); b != nil {
						copy(b, lo)
						copy(b[t.ds:], hi)
						widen(b[:t.ds], b[t.ds:], p, p)
					}
				}
				return
			}
			// p stays inside this node's subtree: its box grows.
			if s := t.nodes[n].slot(); s >= 0 {
				b := t.slotBox(s)
				widen(b[:t.ds], b[t.ds:], p, p)
			}
		}
		nd := &t.nodes[n]
		if nd.slot() < 0 && mass+1 >= big {
			if b := t.take(n); b != nil {
				// lo, hi is the scratch box computed above.
				copy(b, lo)
				copy(b[t.ds:], hi)
				widen(b[:t.ds], b[t.ds:], p, p)
			}
		}
		up = n
		if p[nd.cdim()] <= nd.cval() {
			n, mass = nd.left, nd.lmass()
			nd.meta++ // the left mass
		} else {
			n, mass = nd.right, mass-nd.lmass()
		}
	}
}

// find walks from the root to the leaf holding a point equal to q,
// recording the internal nodes on the way in d.path and the side taken in
// d.side, and returns the leaf and its mass. A point descends to its
// leaf, so this is one walk; a full search backs it up.
func (d *Detector) find(t *tree, q []float64) (leaf, mass int32) {
	path, side := d.path[:0], d.side[:0]
	n, m := t.root, t.count
	for n >= 0 {
		nd := &t.nodes[n]
		path = append(path, n)
		if q[nd.cdim()] <= nd.cval() {
			side = append(side, true)
			n, m = nd.left, nd.lmass()
		} else {
			side = append(side, false)
			n, m = nd.right, m-nd.lmass()
		}
	}
	d.path, d.side = path, side
	if slices.Equal(d.point32(^n), q) {
		return n, m
	}
	d.path, d.side = d.path[:0], d.side[:0]
	return d.search(t, t.root, t.count, q)
}

// search looks for the leaf of q anywhere under c (of mass m), keeping
// d.path and d.side; it returns -1 (no leaf) if there is none.
func (d *Detector) search(t *tree, c, m int32, q []float64) (int32, int32) {
	if c < 0 {
		if slices.Equal(d.point32(^c), q) {
			return c, m
		}
		return 0, 0
	}
	nd := &t.nodes[c]
	d.path = append(d.path, c)
	d.side = append(d.side, true)
	if l, lm := d.search(t, nd.left, nd.lmass(), q); l < 0 {
		return l, lm
	}
	d.side[len(d.side)-1] = false
	if l, lm := d.search(t, nd.right, m-nd.lmass(), q); l < 0 {
		return l, lm
	}
	d.path, d.side = d.path[:len(d.path)-1], d.side[:len(d.side)-1]
	return 0, 0
}

// remove takes the sample of point pt out of the tree (Guha et al.,
// algorithm 3).
func (d *Detector) remove(t *tree, pt int32) {
	q := d.point32(pt)
	leaf, mass := d.find(t, q)
	if leaf >= 0 {
		panic("rrcf: sample missing from its tree")
	}
	path, side := d.path, d.side
	t.count--
	small := cacheMass(len(t.nodes) + 1)
	// Ancestors lose one; those left small give up their box slot.
	m := t.count + 1
	for j, a := range path {
		nd := &t.nodes[a]
		if m-1 < small {
			t.drop(a)
		}
		if side[j] {
			m = nd.lmass()
			nd.meta-- // the left mass
		} else {
			m -= nd.lmass()
		}
	}
	if mass > 1 {
		if leaf == ^pt {
			// Another duplicate in the leaf becomes its representative.
			for _, o := range t.pt {
				if o != pt && slices.Equal(d.point32(o), q) {
					up := int32(-1)
					if len(path) > 0 {
						up = path[len(path)-1]
					}
					t.setChild(up, leaf, ^o)
					break
				}
			}
		}
		return
	}
	if len(path) == 0 {
		return // the tree is empty
	}
	up := path[len(path)-1]
	sib := t.nodes[up].left
	if sib == leaf {
		sib = t.nodes[up].right
	}
	g := int32(-1)
	if len(path) > 1 {
		g = path[len(path)-2]
	}
	t.setChild(g, up, sib)
	t.release(up)
	// Kept boxes above may shrink, but only where q was on their edge; and
	// once a box is unchanged, so are all above it.
	for _, a := range slices.Backward(path[:len(path)-1]) {
		s := t.nodes[a].slot()
		if s < 0 {
			continue
		}
		b := t.slotBox(s)
		if strictlyInside(b[:t.ds], b[t.ds:], q) {
			break
		}
		lo, hi := d.blo, d.bhi
		emptyBox(lo, hi)
		d.boxInto(t, t.nodes[a].left, lo, hi)
		d.boxInto(t, t.nodes[a].right, lo, hi)
		if slices.Equal(lo, b[:t.ds]) && slices.Equal(hi, b[t.ds:]) {
			break
		}
		copy(b, lo)
		copy(b[t.ds:], hi)
	}
}

// strictlyInside reports whether q lies inside [lo, hi] off every face.
func strictlyInside(lo, hi, q []float64) bool {
	hi, q = hi[:len(lo)], q[:len(lo)]
	for k, l := range lo {
		if !(l < q[k] && q[k] < hi[k]) {
			return false
		}
	}
	return true
}

// codisp returns the expected collusive displacement of p were it
// inserted: for each node on p's path, the probability that the insertion
// cut separates p there, times the CoDisp p would then have.
//
// Boxes nest, so p lies inside the boxes of a top part of its path (no cut
// can separate it there) and outside those below; only the latter, usually
// a few nodes above the leaf, need their boxes, built bottom-up.
//
// With attr non-nil (len = point dimension), each separating node's share
// of the result is also added to attr, split over dimensions in proportion
// to how far p lies outside the box along each.
func (d *Detector) codisp(t *tree, p []float64, attr []float64) float64 {
	if t.count == 0 {
		return 0
	}
	path, anum, aden, mass := d.path[:0], d.anum[:0], d.aden[:0], d.mass[:0]
	// The largest ratio so far, num/den, compared exactly as integers: the
	// division is only done where its value is used, and rounding is
	// monotonic, so each value is the maximum of the rounded ratios.
	num, den := int32(0), int32(1)
	n, m := t.root, t.count
	for {
		path = append(path, n)
		anum, aden = append(anum, num), append(aden, den)
		mass = append(mass, m)
		if n < 0 {
			break
		}
		nd := &t.nodes[n]
		c, mc := nd.left, nd.lmass()
		ms := m - mc
		if p[nd.cdim()] > nd.cval() {
			c, mc, ms = nd.right, ms, mc
		}
		if int64(ms)*int64(den) > int64(num)*int64(mc+1) {
			num, den = ms, mc+1
		}
		n, m = c, mc
	}
	ratio := float64(num) / float64(den)
	d.path = path
	// Bottom-up to the first box holding p, keeping each distance and
	// extent. A box not kept is its path child's grown by its other child.
	f, out, ext := len(path), d.out[:len(path)], d.ext[:len(path)]
	lo, hi := d.bounds(t, path[f-1], nil, nil)
	scratch := false
	for {
		o := outside(lo, hi, p)
		if o == 0 {
			break
		}
		f--
		out[f], ext[f] = o, extent(lo, hi, p)
		if f == 0 {
			break
		}
		a := path[f-1]
		if s := t.nodes[a].slot(); s >= 0 {
			b := t.slotBox(s)
			lo, hi, scratch = b[:t.ds], b[t.ds:], false
			continue
		}
		if !scratch {
			copy(d.blo, lo)
			copy(d.bhi, hi)
			lo, hi, scratch = d.blo, d.bhi, true
		}
		sib := t.nodes[a].left
		if sib == path[f] {
			sib = t.nodes[a].right
		}
		d.boxInto(t, sib, lo, hi)
	}
	var exp float64
	stay := 1.0 // probability that no cut above separated p
	for j := f; j < len(path); j++ {
		prob := out[j] / ext[j]
		w := stay * prob * max(float64(mass[j]), float64(anum[j])/float64(aden[j]))
		exp += w
		stay *= 1 - prob
		if attr != nil {
			lo, hi := d.bounds(t, path[j], make([]float64, t.ds), make([]float64, t.ds))
			for k, l := range lo {
				attr[k] += w * (max(l-p[k], 0) + max(p[k]-hi[k], 0)) / out[j]
			}
		}
	}
	// With p inside every box it duplicates its leaf's point and joins it.
	return exp + stay*ratio
}

// outside returns the L1 distance from p to the box [lo, hi].
func outside(lo, hi, p []float64) float64 {
	var out float64
	hi = hi[:len(lo)]
	p = p[:len(lo)]
	for k, l := range lo {
		out += max(l-p[k], 0) + max(p[k]-hi[k], 0)
	}
	return out
}

// extent returns the sum of side lengths of the box [lo, hi] grown to p.
func extent(lo, hi, p []float64) float64 {
	var span float64
	hi = hi[:len(lo)]
	p = p[:len(lo)]
	for k, l := range lo {
		span += max(hi[k], p[k]) - min(l, p[k])
	}
	return span
}

// Heap on prio, largest at the top.

func (t *tree) swap(i, j int) {
	t.prio[i], t.prio[j] = t.prio[j], t.prio[i]
	t.pt[i], t.pt[j] = t.pt[j], t.pt[i]
}

func (t *tree) up(i int) {
	h := t.prio
	for i > 0 {
		p := (i - 1) / 2
		if h[p] >= h[i] {
			return
		}
		t.swap(p, i)
		i = p
	}
}

func (t *tree) down(i int) {
	h := t.prio
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		m := l
		if r := l + 1; r < len(h) && h[r] > h[l] {
			m = r
		}
		if h[i] >= h[m] {
			return
		}
		t.swap(i, m)
		i = m
	}
}
