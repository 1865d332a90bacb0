package hst

import (
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"

	"millwright/models"
	"millwright/models/calibrate"
)

// Kind is the catalog name of this detector.
const Kind = "hst"

// Options tunes a Detector. The zero value gives the defaults.
type Options struct {
	Trees     int    // number of trees (default 25)
	Depth     int    // maximum depth (default 15, at most 30)
	Window    int    // points per mass window (default 1000)
	SizeLimit int    // scoring stops at r ≤ SizeLimit (default Window/20)
	MaxNodes  int    // node pool cap over all trees (default 32768: 576 KiB)
	Seed      uint64 // seeds the random work space and split features
	// Calibration tunes the score calibrator.
	Calibration calibrate.Options
}

const (
	maxDim    = math.MaxUint16
	maxTrees  = 1 << 10
	maxDepth  = 30
	maxWindow = math.MaxUint16
	maxNodes  = 1 << 22
	// maxBytes bounds what New may allocate, so that options from an
	// untrusted snapshot cannot exhaust memory.
	maxBytes = 256 << 20
)

func (o Options) withDefaults() Options {
	if o.Trees <= 0 {
		o.Trees = 25
	}
	if o.Depth <= 0 {
		o.Depth = 15
	}
	if o.Window <= 0 {
		o.Window = 1000
	}
	if o.SizeLimit <= 0 {
		o.SizeLimit = max(1, o.Window/20)
	}
	if o.MaxNodes <= 0 {
		o.MaxNodes = 1 << 15
	}
	o.Trees = min(o.Trees, maxTrees)
	o.Depth = min(o.Depth, maxDepth)
	o.Window = min(max(o.Window, 2), maxWindow)
	o.SizeLimit = min(o.SizeLimit, o.Window)
	o.MaxNodes = min(max(o.MaxNodes, o.Trees), maxNodes)
	o.Calibration = o.Calibration.WithDefaults()
	return o
}

// node is one half-space. Children are allocated in pairs: child and
// child+1; child == 0 means none (index 0 is a root, never a child). In a
// free pair, child links to the next free pair (-1 ends the list).
type node struct {
	// split is the midpoint of the node's region along feature q, derived
	// from the work space and the splits above it when the node is made
	// (not snapshotted): a descent compares one value, with no bounds to
	// carry down the path.
	split float64
	child int32
	r, l  uint16
}

// nodeSize is the size of a node in bytes, for memory budgets: the node
// and its split feature, kept in a parallel array so that a node is 16
// bytes and the pool stays in the nearest cache.
const nodeSize = 16 + 2

// Detector is a Half-Space Trees forest. Create it with New.
type Detector struct {
	opt    Options
	dim    int
	growAt uint16

	// The latest Window vectors (missing features as NaN), oldest at
	// rhead once full: the warm-up buffer, and what a rebuild learns from.
	recent   []float64
	rhead    int
	rfill    int
	min, max []float64 // per-feature range the work space was built from
	outN     int       // points of the latest window outside that range
	builds   uint64    // work spaces built so far

	seeds  []uint64  // per tree, for split features
	lo, hi []float64 // per tree × feature: the work space
	nodes  []node    // roots are 0..Trees-1
	q      []uint16  // per node, its split feature
	free   int32     // head of the free pair list, -1 if empty
	inWin  int       // points in the latest window

	xv      []float64 // scratch: a short input padded to dim
	last    []float64 // the latest scored vector, for Contributions
	scored  bool
	cal     *calibrate.Calibrator
	samples uint64
	missing uint64
}

var (
	_ models.Detector    = (*Detector)(nil)
	_ models.Snapshotter = (*Detector)(nil)
	_ models.Explainer   = (*Detector)(nil)
)

// New returns a Half-Space Trees detector for vectors of dim features.
func New(dim int, opt Options) (*Detector, error) {
	if dim < 1 || dim > maxDim {
		return nil, errDim(dim)
	}
	opt = opt.withDefaults()
	if need := 8*opt.Window*dim + 16*opt.Trees*dim + nodeSize*opt.MaxNodes; need > maxBytes {
		return nil, fmt.Errorf("hst: %d trees × %d features, window %d, %d nodes need %d MiB, limit %d",
			opt.Trees, dim, opt.Window, opt.MaxNodes, need>>20, maxBytes>>20)
	}
	d := &Detector{
		opt:    opt,
		dim:    dim,
		growAt: uint16(max(1, opt.SizeLimit)),
		recent: make([]float64, opt.Window*dim),
		min:    make([]float64, dim),
		max:    make([]float64, dim),
		free:   -1,
		xv:     make([]float64, dim),
		last:   make([]float64, dim),
		cal:    calibrate.New(opt.Calibration),
	}
	for i := range dim {
		d.min[i], d.max[i] = math.Inf(1), math.Inf(-1)
	}
	r := rand.New(rand.NewPCG(opt.Seed, 0x853c49e6748fea9b))
	d.seeds = make([]uint64, opt.Trees)
	for t := range d.seeds {
		d.seeds[t] = r.Uint64()
	}
	return d, nil
}

// Kind returns "hst".
func (d *Detector) Kind() string { return Kind }

// Samples returns how many vectors were learned (all-missing ones are not).
func (d *Detector) Samples() uint64 { return d.samples }

// Missing returns how many missing features Update has skipped.
func (d *Detector) Missing() uint64 { return d.missing }

// Nodes returns how many tree nodes are allocated, free ones included.
func (d *Detector) Nodes() int { return len(d.nodes) }

// finite reports whether v is neither NaN nor ±Inf (both give v-v = NaN).
func finite(v float64) bool { return v-v == 0 }

func value(x []float64, i int) float64 {
	if i < len(x) {
		return x[i]
	}
	return math.NaN()
}

// present counts x's finite features among the first dim.
func (d *Detector) present(x []float64) int {
	n := 0
	for i := range d.dim {
		if finite(value(x, i)) {
			n++
		}
	}
	return n
}

// Update scores x, then learns it.
func (d *Detector) Update(x []float64) float64 {
	n := d.present(x)
	d.missing += uint64(d.dim - n)
	if n == 0 {
		return d.Score(x)
	}
	d.samples++
	x = d.dense(x)
	d.remember(x)
	if d.lo == nil {
		if d.rfill == d.opt.Window {
			d.build()
		}
		return 0
	}
	d.keep(x)
	p := d.cal.Update(d.raw(d.forest(x, true)))
	if d.outside(x) {
		d.outN++
	}
	d.endPoint()
	return p
}

// Score scores x without learning it.
func (d *Detector) Score(x []float64) float64 {
	d.scored = false
	if d.lo == nil || d.present(x) == 0 {
		return 0
	}
	x = d.dense(x)
	d.keep(x)
	return d.cal.Prob(d.raw(d.forest(x, false)))
}

func (d *Detector) keep(x []float64) {
	copy(d.last, x)
	d.scored = true
}

// Contributions writes each feature's share of the latest score: along
// the path each tree scored the vector on, a split that kept less than half
// of the reference mass credits its feature with the bits of surprise,
// log2(r/r_child) - 1. It is computed on demand against the current forest.
func (d *Detector) Contributions(dst []float64) {
	clear(dst)
	if !d.scored || d.lo == nil {
		return
	}
	limit := uint16(d.opt.SizeLimit)
	var sum float64
	for t := range d.opt.Trees {
		i := int32(t)
		for k := 0; k < d.opt.Depth; k++ {
			n := d.nodes[i]
			v := d.last[d.q[i]]
			if n.r <= limit || n.child == 0 || !finite(v) {
				break
			}
			q := int(d.q[i])
			c := n.child
			if v >= n.split {
				c++
			}
			// Bits of surprise beyond a fair halving: log2(r / r_child) - 1.
			cut := math.Log2(float64(n.r)/max(float64(d.nodes[c].r), 0.5)) - 1
			if q < len(dst) && cut > 0 {
				dst[q] += cut
				sum += cut
			}
			i = c
		}
	}
	if sum > 0 {
		for q := range dst {
			dst[q] /= sum
		}
	}
}

// dense returns x if it has dim features, else a copy in scratch padded
// with NaN (missing), so that walk indexes without checks.
func (d *Detector) dense(x []float64) []float64 {
	if len(x) >= d.dim {
		return x[:d.dim]
	}
	for i := range d.xv {
		d.xv[i] = value(x, i)
	}
	return d.xv
}

func (d *Detector) raw(mass float64) float64 {
	return -math.Log1p(mass / float64(d.opt.Trees))
}

// forest walks x down every tree and returns the summed mass score.
//
// A walk is a chain of dependent loads (node, feature value, child), and
// most of it is spent above the node where the tree scores. Two trees go
// down side by side, two independent chains the CPU overlaps; when one
// reaches its scoring node, it finishes alone (learning below it, usually
// a node or two) and the next tree takes its place.
func (d *Detector) forest(x []float64, learn bool) float64 {
	// Without missing features (the usual case) descents need not check.
	gaps := false
	for _, v := range x {
		gaps = gaps || v-v != 0
	}
	trees := d.opt.Trees
	if trees == 1 {
		return float64(d.walk(0, root(0), x, learn))
	}
	var mass int64
	ta, tb, next := 0, 1, 2
	a, b := root(ta), root(tb)
	for {
		var sa, sb bool
		a, b, sa, sb = d.pair(a, b, x, learn, gaps)
		if sa {
			mass += d.walk(ta, a, x, learn)
			if next == trees {
				return float64(mass + d.walk(tb, b, x, learn))
			}
			ta, a = next, root(next)
			next++
		}
		if sb {
			mass += d.walk(tb, b, x, learn)
			if next == trees {
				return float64(mass + d.walk(ta, a, x, learn))
			}
			tb, b = next, root(next)
			next++
		}
	}
}

// cursor is a node on a walk down a tree, at depth k.
type cursor struct {
	i int32
	k int
}

func root(t int) cursor { return cursor{i: int32(t)} }

// scores reports whether a walk at node nd, at depth k, with x's value v
// of the node's split feature, scores there: the node's reference mass r is
// at most limit, or it has no children, or v is missing (NaN or ±Inf), or
// it is at full depth. Below it the walk only learns.
func scores(nd *node, k, depth int, v float64, limit uint16) bool {
	return k == depth || v-v != 0 || nd.r <= limit || nd.child == 0
}

// pair walks x down two trees together, from a and b, learning x at the
// nodes they pass, until one or both reach the node where their tree
// scores. It returns where each is and which have arrived. Without gaps, x
// has no missing feature. It is the hot loop of the detector: every
// instruction in it runs hundreds of times per vector.
func (d *Detector) pair(a, b cursor, x []float64, learn, gaps bool) (cursor, cursor, bool, bool) {
	depth, limit := d.opt.Depth, uint16(d.opt.SizeLimit)
	nodes := d.nodes
	qs := d.q[:len(nodes)]
	// A latest mass cannot overflow: it counts points of one window, at
	// most Window ≤ MaxUint16 (and restore refuses more).
	inc := uint16(b2i(learn))
	for {
		na, nb := &nodes[a.i], &nodes[b.i]
		va, vb := x[qs[a.i]], x[qs[b.i]]
		sa := a.k == depth || na.r <= limit || na.child == 0 || (gaps && va-va != 0)
		sb := b.k == depth || nb.r <= limit || nb.child == 0 || (gaps && vb-vb != 0)
		if sa || sb {
			return a, b, sa, sb
		}
		na.l += inc
		nb.l += inc
		// Branch-free descent: which half x falls in is a coin toss for
		// the branch predictor.
		a = cursor{i: na.child + int32(b2i(va >= na.split)), k: a.k + 1}
		b = cursor{i: nb.child + int32(b2i(vb >= nb.split)), k: b.k + 1}
	}
}

// walk follows x down tree t from c, a node above or at the one where the
// tree scores, and returns the tree's mass score r·2^k, taken at the first
// node whose reference mass r is at most SizeLimit, or that has no
// children, or where x's split feature is missing, or at full depth. With
// learn, it scores and learns in the same descent: it adds x to the latest
// masses along the whole path, growing children where enough mass arrived.
func (d *Detector) walk(t int, c cursor, x []float64, learn bool) int64 {
	// Locals, so the loop does not reload them after every store.
	depth, growAt, limit := d.opt.Depth, d.growAt, uint16(d.opt.SizeLimit)
	nodes, qs := d.nodes, d.q
	i, k := c.i, c.k
	// Scoring: until the first node that scores.
	for {
		nd := &nodes[i]
		v := x[qs[i]]
		if scores(nd, k, depth, v, limit) {
			break
		}
		if learn {
			nd.l++
		}
		i = nd.child + int32(b2i(v >= nd.split))
		k++
	}
	score := int64(nodes[i].r) << k
	if !learn {
		return score
	}
	// Learning: on down the path, below the scoring node.
	for {
		nd := &nodes[i]
		nd.l++
		if k == depth {
			break
		}
		v := x[qs[i]]
		if v-v != 0 { // missing: NaN or ±Inf
			break
		}
		if nd.child == 0 {
			if nd.l < growAt || !d.grow(i, t, d.position(t, x, i)) {
				break
			}
			nodes, qs = d.nodes, d.q // grow may have moved the pool
			nd = &nodes[i]
		}
		i = nd.child + int32(b2i(v >= nd.split))
		k++
	}
	return score
}

// position returns the heap position of node i of tree t, which lies on
// x's path (walks do not track it: it is only needed to grow).
func (d *Detector) position(t int, x []float64, i int32) uint64 {
	pos, n := uint64(1), int32(t)
	for n != i {
		nd := &d.nodes[n]
		right := b2i(x[d.q[n]] >= nd.split)
		n = nd.child + int32(right)
		pos = pos<<1 | uint64(right)
	}
	return pos
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// feature returns the split feature of the node at heap position pos of
// tree t: a hash, so that a pruned and regrown node splits the same way.
func (d *Detector) feature(t int, pos uint64) uint16 {
	z := d.seeds[t] + pos*0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	return uint16(((z >> 32) * uint64(d.dim)) >> 32)
}

// grow gives node i of tree t, at heap position pos, its two children.
// It reports false when the pool is full.
func (d *Detector) grow(i int32, t int, pos uint64) bool {
	var c int32
	switch {
	case d.free >= 0:
		c = d.free
		d.free = d.nodes[c].child
	case len(d.nodes)+2 <= d.opt.MaxNodes:
		c = int32(len(d.nodes))
		d.nodes = append(d.nodes, node{}, node{})
		d.q = append(d.q, 0, 0)
	default:
		return false
	}
	d.nodes[i].child = c
	for j := range int32(2) {
		p := 2*pos + uint64(j)
		q := d.feature(t, p)
		d.q[c+j] = q
		d.nodes[c+j] = node{split: d.splitAt(t, p, int(q))}
	}
	return true
}

// splitAt returns the split value of the node at heap position pos of
// tree t, splitting feature q: the midpoint along q of the node's region,
// which the splits of its ancestors on q narrowed from the work space. The
// ancestors must exist.
func (d *Detector) splitAt(t int, pos uint64, q int) float64 {
	lo, hi := d.lo[t*d.dim+q], d.hi[t*d.dim+q]
	i := int32(t)
	for s := bits.Len64(pos) - 2; s >= 0; s-- {
		nd := &d.nodes[i]
		right := pos>>s&1 == 1
		if int(d.q[i]) == q {
			if right {
				lo = nd.split
			} else {
				hi = nd.split
			}
		}
		i = nd.child
		if right {
			i++
		}
	}
	return 0.5 * (lo + hi)
}

// endPoint counts a learned point into the latest window and, when it is
// full, makes it the reference window.
func (d *Detector) endPoint() {
	d.inWin++
	if d.inWin < d.opt.Window {
		return
	}
	d.inWin = 0
	if 2*d.outN >= d.opt.Window {
		// Half a window outside the work space: the data moved on.
		d.rebuild()
		return
	}
	d.outN = 0
	d.swapAll()
}

func (d *Detector) swapAll() {
	for t := range d.opt.Trees {
		d.swap(int32(t))
	}
}

// swap moves node i's latest mass to its reference mass, recursively, and
// frees subtrees left without mass.
func (d *Detector) swap(i int32) {
	n := &d.nodes[i]
	n.r, n.l = n.l, 0
	c := n.child
	if c == 0 {
		return
	}
	if n.r == 0 {
		n.child = 0
		d.release(c)
		return
	}
	d.swap(c)
	d.swap(c + 1)
}

// release returns pair c and everything below it to the free list.
func (d *Detector) release(c int32) {
	for _, i := range [2]int32{c, c + 1} {
		if cc := d.nodes[i].child; cc != 0 {
			d.release(cc)
		}
	}
	d.nodes[c] = node{child: d.free}
	d.nodes[c+1] = node{}
	d.q[c], d.q[c+1] = 0, 0
	d.free = c
}

// remember keeps x, of dim features, in the ring of the latest window,
// and during warm-up widens the observed range.
func (d *Detector) remember(x []float64) {
	copy(d.recent[d.rhead*d.dim:(d.rhead+1)*d.dim], x)
	d.rhead++
	if d.rhead == d.opt.Window {
		d.rhead = 0
	}
	d.rfill = min(d.rfill+1, d.opt.Window)
	if d.lo == nil {
		for i, v := range x {
			if finite(v) {
				d.min[i] = min(d.min[i], v)
				d.max[i] = max(d.max[i], v)
			}
		}
	}
}

// outside reports whether a present feature of x lies beyond the range the
// work space was built from by more than half that range.
func (d *Detector) outside(x []float64) bool {
	for q, v := range x {
		span := d.max[q] - d.min[q]
		if finite(v) && (v < d.min[q]-span/2 || v > d.max[q]+span/2) {
			return true
		}
	}
	return false
}

// build fixes the work space from the observed range, as in the paper,
// then learns the latest window (oldest first) as the reference window.
func (d *Detector) build() {
	const far = 1e150 // keeps the widened work space finite
	d.builds++
	r := rand.New(rand.NewPCG(d.opt.Seed, 0xda3e39cb94b95bdb^d.builds))
	if d.lo == nil {
		d.lo = make([]float64, d.opt.Trees*d.dim)
		d.hi = make([]float64, d.opt.Trees*d.dim)
	}
	for q := range d.dim {
		lo, hi := d.min[q], d.max[q]
		if !(lo <= hi) {
			lo, hi = 0, 1 // never observed
		}
		lo, hi = min(max(lo, -far), far), min(max(hi, -far), far)
		d.min[q], d.max[q] = lo, hi
		span := max(hi-lo, 1e-3*(1+max(math.Abs(lo), math.Abs(hi))))
		for t := range d.opt.Trees {
			s := r.Float64()
			w := 2 * max(s, 1-s)
			d.lo[t*d.dim+q] = lo + (s-w)*span
			d.hi[t*d.dim+q] = lo + (s+w)*span
		}
	}
	if d.nodes == nil {
		d.nodes = make([]node, d.opt.Trees, min(d.opt.MaxNodes, d.opt.Trees*64))
		d.q = make([]uint16, d.opt.Trees, cap(d.nodes))
	}
	d.nodes, d.q, d.free = d.nodes[:d.opt.Trees], d.q[:d.opt.Trees], -1
	for t := range d.nodes {
		q := d.feature(t, 1)
		d.q[t] = q
		d.nodes[t] = node{split: d.splitAt(t, 1, int(q))}
	}
	for j := range d.rfill {
		k := (d.rhead + j) % d.opt.Window
		if d.rfill < d.opt.Window {
			k = j
		}
		d.forest(d.recent[k*d.dim:(k+1)*d.dim], true)
	}
	d.inWin, d.outN = 0, 0
	d.swapAll()
}

// rebuild starts a new work space from the range of the latest window,
// when the data has left the old one.
func (d *Detector) rebuild() {
	for q := range d.dim {
		d.min[q], d.max[q] = math.Inf(1), math.Inf(-1)
	}
	for j := range d.rfill {
		for q, v := range d.recent[j*d.dim : (j+1)*d.dim] {
			if finite(v) {
				d.min[q] = min(d.min[q], v)
				d.max[q] = max(d.max[q], v)
			}
		}
	}
	d.build()
}
