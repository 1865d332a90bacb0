package rrcf

// sample is one point of a tree's reservoir.
type sample struct {
	prio float64 // lower is kept longer
	pt   int32   // index in the point store
	leaf int32   // the tree's leaf holding it
}

// node is a tree node. A leaf has cdim -1 and its point in left; an
// internal node cuts at x[cdim] <= cval (left) and keeps its bounding box
// in the tree's box slab. 32 bytes: half a cache line.
type node struct {
	left, right, parent int32
	mass, cdim          int32
	cval                float64
}

// tree is a random cut tree over a node pool of 2·Samples-1 nodes: leaves
// are nodes 0..Samples-1, internal nodes Samples..2·Samples-2, so that
// only internal nodes, which need one, have a box.
type tree struct {
	nodes []node
	box   []float64 // internal node Samples+i: ds minima, then ds maxima
	root  int32     // -1 when empty
	// Free leaves and free internal nodes, each a list through parent;
	// -1 ends.
	freeLeaf, freeInner int32
	leaves              int32    // Samples: the first internal node
	heap                []sample // max-heap on prio
	ds                  int
}

func newTree(samples, ds int) tree {
	n := 2*samples - 1
	t := tree{
		nodes: make([]node, n), leaves: int32(samples),
		box: make([]float64, 2*ds*(samples-1)), root: -1, heap: make([]sample, 0, samples), ds: ds,
	}
	t.resetFree()
	return t
}

// resetFree puts every node on its free list, in order.
func (t *tree) resetFree() {
	t.freeLeaf, t.freeInner = -1, -1
	for i := int32(len(t.nodes)) - 1; i >= 0; i-- {
		t.release(i)
	}
}

// alloc takes a free leaf, or a free internal node; it returns -1 when
// none is left (only a corrupt snapshot gets there).
func (t *tree) alloc(leaf bool) int32 {
	free := &t.freeInner
	if leaf {
		free = &t.freeLeaf
	}
	i := *free
	if i >= 0 {
		*free = t.nodes[i].parent
	}
	return i
}

func (t *tree) release(i int32) {
	free := &t.freeInner
	if i < t.leaves {
		free = &t.freeLeaf
	}
	t.nodes[i].parent = *free
	*free = i
}

// boxOf returns internal node n's box.
func (t *tree) boxOf(n int32) []float64 {
	i := int(n - t.leaves)
	return t.box[2*t.ds*i : 2*t.ds*(i+1)]
}

func (t *tree) isLeaf(n int32) bool { return t.nodes[n].cdim < 0 }

// bounds returns node n's bounding box.
func (d *Detector) bounds(t *tree, n int32) (lo, hi []float64) {
	if t.isLeaf(n) {
		p := d.point32(t.nodes[n].left)
		return p, p
	}
	b := t.boxOf(n)
	return b[:t.ds], b[t.ds:]
}

// refit recomputes internal node n's box from its children and reports
// whether it changed.
func (d *Detector) refit(t *tree, n int32) bool {
	llo, lhi := d.bounds(t, t.nodes[n].left)
	rlo, rhi := d.bounds(t, t.nodes[n].right)
	b := t.boxOf(n)
	lo, hi := b[:t.ds], b[t.ds:]
	changed := false
	for k := range lo {
		l, h := min(llo[k], rlo[k]), max(lhi[k], rhi[k])
		changed = changed || l != lo[k] || h != hi[k]
		lo[k], hi[k] = l, h
	}
	return changed
}

// insert adds stored point pt to the tree (Guha et al., algorithm 4) and
// returns its leaf.
func (d *Detector) insert(t *tree, pt int32) int32 {
	p := d.point32(pt)
	if t.root < 0 {
		leaf := t.alloc(true)
		t.nodes[leaf].left, t.nodes[leaf].cdim, t.nodes[leaf].mass, t.nodes[leaf].parent = pt, -1, 1, -1
		t.root = leaf
		return leaf
	}
	n := t.root
	for {
		lo, hi := d.bounds(t, n)
		if !t.isLeaf(n) && outside(lo, hi, p) == 0 {
			// Every cut of the box keeps p inside: descend, no draw needed.
			t.nodes[n].mass++
			if p[t.nodes[n].cdim] <= t.nodes[n].cval {
				n = t.nodes[n].left
			} else {
				n = t.nodes[n].right
			}
			continue
		}
		span := extent(lo, hi, p)
		if span == 0 && t.isLeaf(n) {
			// A duplicate joins the leaf; ancestors were counted on the way.
			t.nodes[n].mass++
			return n
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
		if sep || t.isLeaf(n) || dim < 0 {
			if dim < 0 {
				dim, cut = 0, lo[0] // degenerate box: only after corrupt input
			}
			leaf := t.alloc(true)
			t.nodes[leaf].left, t.nodes[leaf].cdim, t.nodes[leaf].mass = pt, -1, 1
			in := t.alloc(false)
			t.nodes[in].cdim, t.nodes[in].cval = int32(dim), cut
			if p[dim] <= cut {
				t.nodes[in].left, t.nodes[in].right = leaf, n
			} else {
				t.nodes[in].left, t.nodes[in].right = n, leaf
			}
			up := t.nodes[n].parent
			t.nodes[in].parent, t.nodes[n].parent, t.nodes[leaf].parent = up, in, in
			switch {
			case up < 0:
				t.root = in
			case t.nodes[up].left == n:
				t.nodes[up].left = in
			default:
				t.nodes[up].right = in
			}
			t.nodes[in].mass = t.nodes[n].mass + 1
			d.refit(t, in)
			return leaf
		}
		// x stays inside this node's subtree: count it, widen the box.
		t.nodes[n].mass++
		b := t.boxOf(n)
		for k := range p {
			b[k] = min(b[k], p[k])
			b[t.ds+k] = max(b[t.ds+k], p[k])
		}
		if p[t.nodes[n].cdim] <= t.nodes[n].cval {
			n = t.nodes[n].left
		} else {
			n = t.nodes[n].right
		}
	}
}

// remove takes sample s out of the tree (Guha et al., algorithm 3).
func (d *Detector) remove(t *tree, s sample) {
	leaf := s.leaf
	if t.nodes[leaf].mass > 1 {
		t.nodes[leaf].mass--
		for a := t.nodes[leaf].parent; a >= 0; a = t.nodes[a].parent {
			t.nodes[a].mass--
		}
		if t.nodes[leaf].left == s.pt {
			// Another duplicate in the leaf becomes its representative.
			for _, o := range t.heap {
				if o.leaf == leaf && o.pt != s.pt {
					t.nodes[leaf].left = o.pt
					break
				}
			}
		}
		return
	}
	up := t.nodes[leaf].parent
	t.release(leaf)
	if up < 0 {
		t.root = -1
		return
	}
	sib := t.nodes[up].left
	if sib == leaf {
		sib = t.nodes[up].right
	}
	g := t.nodes[up].parent
	t.nodes[sib].parent = g
	switch {
	case g < 0:
		t.root = sib
	case t.nodes[g].left == up:
		t.nodes[g].left = sib
	default:
		t.nodes[g].right = sib
	}
	t.release(up)
	refit := true
	for a := g; a >= 0; a = t.nodes[a].parent {
		t.nodes[a].mass--
		if refit {
			// Once a box is unchanged, so are all above it.
			refit = d.refit(t, a)
		}
	}
}

// codisp returns the expected collusive displacement of p were it
// inserted: for each node on p's path, the probability that the insertion
// cut separates p there, times the CoDisp p would then have.
//
// Boxes nest, so p lies inside the boxes of a top part of its path (no cut
// can separate it there) and outside those below; only the latter, usually
// a few nodes above the leaf, need their boxes read.
//
// With attr non-nil (len = point dimension), each separating node's share
// of the result is also added to attr, split over dimensions in proportion
// to how far p lies outside the box along each.
func (d *Detector) codisp(t *tree, p []float64, attr []float64) float64 {
	if t.root < 0 {
		return 0
	}
	path, above := d.path[:0], d.above[:0]
	ratio := 0.0 // max over ancestors of sibling mass / (path child mass + 1)
	for n := t.root; ; {
		path = append(path, n)
		above = append(above, ratio)
		nd := &t.nodes[n]
		if nd.cdim < 0 {
			break
		}
		c, sib := nd.left, nd.right
		if p[nd.cdim] > nd.cval {
			c, sib = sib, c
		}
		ratio = max(ratio, float64(t.nodes[sib].mass)/float64(t.nodes[c].mass+1))
		n = c
	}
	// Bottom-up to the first box holding p, keeping each distance.
	f, out := len(path), d.out[:len(path)]
	for f > 0 {
		lo, hi := d.bounds(t, path[f-1])
		o := outside(lo, hi, p)
		if o == 0 {
			break
		}
		f--
		out[f] = o
	}
	var exp float64
	stay := 1.0 // probability that no cut above separated p
	for j := f; j < len(path); j++ {
		n := path[j]
		lo, hi := d.bounds(t, n)
		prob := out[j] / extent(lo, hi, p)
		w := stay * prob * max(float64(t.nodes[n].mass), above[j])
		exp += w
		stay *= 1 - prob
		if attr != nil {
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

func (t *tree) up(i int) {
	h := t.heap
	for i > 0 {
		p := (i - 1) / 2
		if h[p].prio >= h[i].prio {
			return
		}
		h[p], h[i] = h[i], h[p]
		i = p
	}
}

func (t *tree) down(i int) {
	h := t.heap
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		m := l
		if r := l + 1; r < len(h) && h[r].prio > h[l].prio {
			m = r
		}
		if h[i].prio >= h[m].prio {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}
