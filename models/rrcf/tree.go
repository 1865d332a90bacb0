package rrcf

// sample is one point of a tree's reservoir.
type sample struct {
	prio float64 // lower is kept longer
	pt   int32   // index in the point store
	leaf int32   // the tree's leaf holding it
}

// tree is a random cut tree over a node pool of 2·Samples-1 nodes. A leaf
// has cdim -1 and its point in left; an internal node cuts at
// x[cdim] <= cval (left) and keeps its bounding box in box.
type tree struct {
	left, right, parent []int32
	mass, cdim          []int32
	cval                []float64
	box                 []float64 // node i: ds minima, then ds maxima
	root                int32     // -1 when empty
	free                int32     // free node list through parent, -1 ends
	heap                []sample  // max-heap on prio
	ds                  int
}

func newTree(samples, ds int) tree {
	n := 2*samples - 1
	t := tree{
		left: make([]int32, n), right: make([]int32, n), parent: make([]int32, n),
		mass: make([]int32, n), cdim: make([]int32, n), cval: make([]float64, n),
		box: make([]float64, 2*ds*n), root: -1, heap: make([]sample, 0, samples), ds: ds,
	}
	t.resetFree(0)
	return t
}

// resetFree puts nodes from..n-1 on the free list, in order.
func (t *tree) resetFree(from int) {
	t.free = -1
	for i := len(t.parent) - 1; i >= from; i-- {
		t.parent[i] = t.free
		t.free = int32(i)
	}
}

func (t *tree) alloc() int32 {
	i := t.free
	t.free = t.parent[i]
	return i
}

func (t *tree) release(i int32) {
	t.parent[i] = t.free
	t.free = i
}

func (t *tree) isLeaf(n int32) bool { return t.cdim[n] < 0 }

// bounds returns node n's bounding box.
func (d *Detector) bounds(t *tree, n int32) (lo, hi []float64) {
	if t.isLeaf(n) {
		p := d.point32(t.left[n])
		return p, p
	}
	b := t.box[2*t.ds*int(n) : 2*t.ds*(int(n)+1)]
	return b[:t.ds], b[t.ds:]
}

// refit recomputes internal node n's box from its children.
func (d *Detector) refit(t *tree, n int32) {
	llo, lhi := d.bounds(t, t.left[n])
	rlo, rhi := d.bounds(t, t.right[n])
	b := t.box[2*t.ds*int(n) : 2*t.ds*(int(n)+1)]
	lo, hi := b[:t.ds], b[t.ds:]
	for k := range lo {
		lo[k] = min(llo[k], rlo[k])
		hi[k] = max(lhi[k], rhi[k])
	}
}

// insert adds stored point pt to the tree (Guha et al., algorithm 4) and
// returns its leaf.
func (d *Detector) insert(t *tree, pt int32) int32 {
	p := d.point32(pt)
	if t.root < 0 {
		leaf := t.alloc()
		t.left[leaf], t.cdim[leaf], t.mass[leaf], t.parent[leaf] = pt, -1, 1, -1
		t.root = leaf
		return leaf
	}
	n := t.root
	for {
		lo, hi := d.bounds(t, n)
		var span float64
		for k := range p {
			span += max(hi[k], p[k]) - min(lo[k], p[k])
		}
		if span == 0 && t.isLeaf(n) {
			// A duplicate joins the leaf; ancestors were counted on the way.
			t.mass[n]++
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
			leaf := t.alloc()
			t.left[leaf], t.cdim[leaf], t.mass[leaf] = pt, -1, 1
			in := t.alloc()
			t.cdim[in], t.cval[in] = int32(dim), cut
			if p[dim] <= cut {
				t.left[in], t.right[in] = leaf, n
			} else {
				t.left[in], t.right[in] = n, leaf
			}
			up := t.parent[n]
			t.parent[in], t.parent[n], t.parent[leaf] = up, in, in
			switch {
			case up < 0:
				t.root = in
			case t.left[up] == n:
				t.left[up] = in
			default:
				t.right[up] = in
			}
			t.mass[in] = t.mass[n] + 1
			d.refit(t, in)
			return leaf
		}
		// x stays inside this node's subtree: count it, widen the box.
		t.mass[n]++
		b := t.box[2*t.ds*int(n) : 2*t.ds*(int(n)+1)]
		for k := range p {
			b[k] = min(b[k], p[k])
			b[t.ds+k] = max(b[t.ds+k], p[k])
		}
		if p[t.cdim[n]] <= t.cval[n] {
			n = t.left[n]
		} else {
			n = t.right[n]
		}
	}
}

// remove takes sample s out of the tree (Guha et al., algorithm 3).
func (d *Detector) remove(t *tree, s sample) {
	leaf := s.leaf
	if t.mass[leaf] > 1 {
		t.mass[leaf]--
		for a := t.parent[leaf]; a >= 0; a = t.parent[a] {
			t.mass[a]--
		}
		if t.left[leaf] == s.pt {
			// Another duplicate in the leaf becomes its representative.
			for _, o := range t.heap {
				if o.leaf == leaf && o.pt != s.pt {
					t.left[leaf] = o.pt
					break
				}
			}
		}
		return
	}
	up := t.parent[leaf]
	t.release(leaf)
	if up < 0 {
		t.root = -1
		return
	}
	sib := t.left[up]
	if sib == leaf {
		sib = t.right[up]
	}
	g := t.parent[up]
	t.parent[sib] = g
	switch {
	case g < 0:
		t.root = sib
	case t.left[g] == up:
		t.left[g] = sib
	default:
		t.right[g] = sib
	}
	t.release(up)
	for a := g; a >= 0; a = t.parent[a] {
		t.mass[a]--
		d.refit(t, a)
	}
}

// codisp returns the expected collusive displacement of p were it
// inserted: for each node on p's path, the probability that the insertion
// cut separates p there, times the CoDisp p would then have.
func (d *Detector) codisp(t *tree, p []float64) float64 {
	if t.root < 0 {
		return 0
	}
	path := d.path[:0]
	for n := t.root; ; {
		path = append(path, n)
		if t.isLeaf(n) {
			break
		}
		if p[t.cdim[n]] <= t.cval[n] {
			n = t.left[n]
		} else {
			n = t.right[n]
		}
	}
	var exp, above float64
	stay := 1.0 // probability that no cut above separated p
	for i, n := range path {
		lo, hi := d.bounds(t, n)
		var out, span float64
		for k := range p {
			out += max(p[k]-hi[k], 0) + max(lo[k]-p[k], 0)
			span += max(hi[k], p[k]) - min(lo[k], p[k])
		}
		prob := 0.0
		if span > 0 {
			prob = out / span
		}
		exp += stay * prob * max(float64(t.mass[n]), above)
		stay *= 1 - prob
		if i+1 < len(path) {
			c := path[i+1]
			sib := t.left[n]
			if sib == c {
				sib = t.right[n]
			}
			above = max(above, float64(t.mass[sib])/float64(t.mass[c]+1))
		}
	}
	// p duplicates its leaf's point: it joins the leaf.
	return exp + stay*above
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
