package rrcf

import (
	"fmt"
	"math"
	"math/rand/v2"

	"millwright/models"
	"millwright/models/calibrate"
)

// Kind is the catalog name of this detector.
const Kind = "rrcf"

// Options tunes a Detector. The zero value gives the defaults.
type Options struct {
	Trees   int // number of trees (default 50)
	Samples int // points per tree (default 256)
	// Shingle is how many consecutive vectors form a point (default 8 when
	// the dimension is 1, else 1).
	Shingle int
	// Decay is λ of the time-decayed reservoir (default 1/(10·Samples)).
	Decay float64
	Seed  uint64
	// Calibration tunes the score calibrator.
	Calibration calibrate.Options
}

const (
	maxTrees   = 1 << 9
	maxSamples = 1 << 12
	maxPoint   = 1 << 10 // dimension × shingle
	// maxBytes bounds what a forest may allocate, so that options from an
	// untrusted snapshot cannot exhaust memory.
	maxBytes = 256 << 20
)

func (o Options) withDefaults(dim int) Options {
	if o.Trees <= 0 {
		o.Trees = 50
	}
	if o.Samples <= 0 {
		o.Samples = 256
	}
	if o.Shingle <= 0 {
		o.Shingle = 1
		if dim == 1 {
			o.Shingle = 8
		}
	}
	if !(o.Decay > 0 && o.Decay < 1) {
		o.Decay = 1 / (10 * float64(o.Samples))
	}
	o.Trees = min(o.Trees, maxTrees)
	o.Samples = min(max(o.Samples, 4), maxSamples)
	o.Shingle = min(o.Shingle, max(1, maxPoint/max(dim, 1)))
	o.Calibration = o.Calibration.WithDefaults()
	return o
}

// Detector is a Robust Random Cut Forest. Create it with New.
type Detector struct {
	opt Options
	dim int
	ds  int // point dimension: dim × Shingle

	ring  []float64 // last Shingle imputed vectors, oldest at head
	head  int
	fill  int       // vectors in ring, up to Shingle
	last  []float64 // last finite value per feature, for imputation
	seen  []bool
	cur   []float64 // scratch: the current point
	xi    []float64 // scratch: the imputed vector
	path  []int32   // scratch: a root-to-leaf path
	side  []bool    // scratch: whether the path goes left at each node
	mass  []int32   // scratch: mass of each path node
	anum  []int32   // scratch: CoDisp ratio above each path node, as
	aden  []int32   // a fraction
	out   []float64 // scratch: distance of the point to each path box
	ext   []float64 // scratch: extent of each path box grown to the point
	stack []int32   // scratch: a depth-first walk
	parts []int32   // scratch: the leaves and kept boxes of a subtree
	blo   []float64 // scratch: a box computed on demand
	bhi   []float64

	pts   []float64 // point store, ds floats per point
	ref   []uint16  // references to each stored point (≤ maxTrees); 0 = free
	freeP []int32   // free point indices (a stack)

	trees []tree
	src   *rand.PCG
	rng   *rand.Rand
	seq   uint64 // points learned

	cal     *calibrate.Calibrator
	samples uint64
	missing uint64
	scored  bool // d.cur holds the latest scored point, for Contributions
}

var (
	_ models.Detector    = (*Detector)(nil)
	_ models.Snapshotter = (*Detector)(nil)
	_ models.Explainer   = (*Detector)(nil)
)

// New returns a Robust Random Cut Forest for vectors of dim features.
func New(dim int, opt Options) (*Detector, error) {
	if dim < 1 || dim > maxPoint {
		return nil, errDim(dim)
	}
	opt = opt.withDefaults(dim)
	ds := dim * opt.Shingle
	if need := forestBytes(opt.Trees, opt.Samples, ds); need > maxBytes {
		return nil, fmt.Errorf("rrcf: %d trees × %d samples of %d values need %d MiB, limit %d",
			opt.Trees, opt.Samples, ds, need>>20, maxBytes>>20)
	}
	d := &Detector{opt: opt, dim: dim, ds: ds}
	d.ring = make([]float64, d.ds)
	d.last = make([]float64, dim)
	d.seen = make([]bool, dim)
	d.cur = make([]float64, d.ds)
	d.xi = make([]float64, dim)
	d.path = make([]int32, 0, opt.Samples+1)
	d.side = make([]bool, 0, opt.Samples+1)
	d.mass = make([]int32, 0, opt.Samples+1)
	d.anum = make([]int32, 0, opt.Samples+1)
	d.aden = make([]int32, 0, opt.Samples+1)
	d.out = make([]float64, opt.Samples+1)
	d.ext = make([]float64, opt.Samples+1)
	d.stack = make([]int32, 0, opt.Samples)
	d.parts = make([]int32, 0, opt.Samples)
	d.blo = make([]float64, d.ds)
	d.bhi = make([]float64, d.ds)
	np := opt.Trees * opt.Samples
	d.pts = make([]float64, 0, 64*d.ds)
	d.ref = make([]uint16, 0, 64)
	d.freeP = make([]int32, 0, min(np, 64))
	d.trees = make([]tree, opt.Trees)
	// One slab for all nodes: a tree's alone would be rounded up to an
	// allocation size class.
	m := opt.Samples - 1
	nodes := make([]node, opt.Trees*m)
	for i := range d.trees {
		d.trees[i] = newTree(nodes[i*m:(i+1)*m:(i+1)*m], opt.Samples, d.ds)
	}
	d.src = rand.NewPCG(opt.Seed, 0x2545f4914f6cdd1d)
	d.rng = rand.New(d.src)
	d.cal = calibrate.New(opt.Calibration)
	return d, nil
}

// forestBytes bounds the memory of a forest: per tree, nodes, box slots
// and reservoir, then the point store at its fullest.
func forestBytes(trees, samples, ds int) int {
	return trees*((samples-1)*20+boxSlots(samples)*16*ds+samples*12) + trees*samples*(8*ds+6)
}

// Kind returns "rrcf".
func (d *Detector) Kind() string { return Kind }

// Samples returns how many vectors were learned (all-missing ones are not).
func (d *Detector) Samples() uint64 { return d.samples }

// Missing returns how many missing features Update has imputed.
func (d *Detector) Missing() uint64 { return d.missing }

// StoredPoints returns how many distinct points the trees hold.
func (d *Detector) StoredPoints() int { return len(d.ref) - len(d.freeP) }

// impute writes x, with missing features replaced by their last value,
// into d.xi and returns how many features were present.
func (d *Detector) impute(x []float64) int {
	n := 0
	for i := range d.dim {
		v := math.NaN()
		if i < len(x) {
			v = x[i]
		}
		if v-v == 0 {
			d.xi[i] = v
			n++
		} else {
			d.xi[i] = d.last[i] // 0 before any value was seen
		}
	}
	return n
}

// point writes into d.cur the shingle that ends with d.xi, and reports
// whether it is complete.
func (d *Detector) point() bool {
	if d.fill+1 < d.opt.Shingle {
		return false
	}
	// The oldest Shingle-1 vectors of the ring (the very oldest drops out
	// when the ring is full), then xi.
	k := 0
	skip := 0
	if d.fill == d.opt.Shingle {
		skip = 1
	}
	for j := skip; j < d.fill; j++ {
		slot := (d.head + j) % d.opt.Shingle
		k += copy(d.cur[k:], d.ring[slot*d.dim:(slot+1)*d.dim])
	}
	copy(d.cur[k:], d.xi)
	return true
}

// push appends d.xi to the shingle ring.
func (d *Detector) push() {
	s := d.opt.Shingle
	if d.fill < s {
		slot := (d.head + d.fill) % s
		copy(d.ring[slot*d.dim:], d.xi)
		d.fill++
		return
	}
	copy(d.ring[d.head*d.dim:], d.xi)
	d.head = (d.head + 1) % s
}

// Update scores x, then learns it.
func (d *Detector) Update(x []float64) float64 {
	n := d.impute(x)
	d.missing += uint64(d.dim - n)
	if n == 0 {
		return 0
	}
	p := 0.0
	d.scored = false
	if d.point() {
		if d.seq >= uint64(d.opt.Samples) {
			p = d.cal.Update(d.raw())
			d.scored = true
		}
		d.learn()
	}
	for i := range d.dim {
		if i < len(x) && x[i]-x[i] == 0 {
			d.last[i], d.seen[i] = x[i], true
		}
	}
	d.push()
	d.samples++
	return p
}

// Score scores x without learning it.
func (d *Detector) Score(x []float64) float64 {
	d.scored = false
	if d.impute(x) == 0 || d.seq < uint64(d.opt.Samples) || !d.point() {
		return 0
	}
	d.scored = true
	return d.cal.Prob(d.raw())
}

// Contributions writes each feature's share of the latest score: where,
// along the cuts that would isolate the point, it lies outside the boxes
// of its neighbours (summed over the shingle's time steps). It is
// computed on demand against the current forest, and allocates.
func (d *Detector) Contributions(dst []float64) {
	clear(dst)
	if !d.scored {
		return
	}
	attr := make([]float64, d.ds)
	for i := range d.trees {
		d.codisp(&d.trees[i], d.cur, attr)
	}
	var sum float64
	for k, v := range attr {
		if i := k % d.dim; i < len(dst) {
			dst[i] += v
			sum += v
		}
	}
	if sum > 0 {
		for i := range dst {
			dst[i] /= sum
		}
	}
}

// raw is the mean expected CoDisp of d.cur over trees.
func (d *Detector) raw() float64 {
	var s float64
	for i := range d.trees {
		s += d.codisp(&d.trees[i], d.cur, nil)
	}
	return s / float64(len(d.trees))
}

// learn offers d.cur to every tree's reservoir.
func (d *Detector) learn() {
	base := -d.opt.Decay * float64(d.seq)
	pt := int32(-1) // stored lazily, once a tree takes it
	for i := range d.trees {
		t := &d.trees[i]
		u := d.rng.Float64()
		prio := base + math.Log(-math.Log(max(u, 1e-300)))
		full := len(t.prio) == d.opt.Samples
		if full && prio >= t.prio[0] {
			continue
		}
		if full {
			old := t.pt[0]
			d.remove(t, old)
			d.release(old)
		}
		if pt < 0 {
			pt = d.store(d.cur)
		}
		d.ref[pt]++
		d.insert(t, pt)
		if full {
			t.prio[0], t.pt[0] = prio, pt
			t.down(0)
		} else {
			t.prio = append(t.prio, prio)
			t.pt = append(t.pt, pt)
			t.up(len(t.prio) - 1)
		}
	}
	d.seq++
}

// store copies p into the point store with no references yet.
func (d *Detector) store(p []float64) int32 {
	if n := len(d.freeP); n > 0 {
		i := d.freeP[n-1]
		d.freeP = d.freeP[:n-1]
		copy(d.pts[int(i)*d.ds:], p)
		return i
	}
	if len(d.ref) == cap(d.ref) {
		// Grow by a fixed step, not a factor: the store is most of an
		// instance's memory, and grows only until the reservoirs settle.
		n := len(d.ref) + max(64, d.opt.Samples)
		d.pts = append(make([]float64, 0, n*d.ds), d.pts...)
		d.ref = append(make([]uint16, 0, n), d.ref...)
	}
	d.pts = append(d.pts, p...)
	d.ref = append(d.ref, 0)
	return int32(len(d.ref) - 1)
}

func (d *Detector) release(pt int32) {
	d.ref[pt]--
	if d.ref[pt] == 0 {
		d.freeP = append(d.freeP, pt)
	}
}

func (d *Detector) point32(pt int32) []float64 {
	return d.pts[int(pt)*d.ds : (int(pt)+1)*d.ds]
}
