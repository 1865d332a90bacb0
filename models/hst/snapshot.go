package hst

import (
	"fmt"
	"math"

	"millwright/models/calibrate"
	"millwright/models/snapshot"
)

const version = 1

type state struct {
	Dim       int             `cbor:"1,keyasint"`
	Trees     int             `cbor:"2,keyasint"`
	Depth     int             `cbor:"3,keyasint"`
	Window    int             `cbor:"4,keyasint"`
	SizeLimit int             `cbor:"5,keyasint"`
	MaxNodes  int             `cbor:"6,keyasint"`
	Seed      uint64          `cbor:"7,keyasint"`
	Min       []float64       `cbor:"8,keyasint"`
	Max       []float64       `cbor:"9,keyasint"`
	Recent    []float64       `cbor:"10,keyasint"` // latest window, oldest first; missing as NaN
	Seeds     []uint64        `cbor:"11,keyasint"`
	Lo        []float64       `cbor:"12,keyasint"`
	Hi        []float64       `cbor:"13,keyasint"`
	Child     []int32         `cbor:"14,keyasint"`
	R         []uint16        `cbor:"15,keyasint"`
	L         []uint16        `cbor:"16,keyasint"`
	Q         []uint16        `cbor:"17,keyasint"`
	Free      int32           `cbor:"18,keyasint"`
	InWin     int             `cbor:"19,keyasint"`
	Samples   uint64          `cbor:"20,keyasint"`
	Missing   uint64          `cbor:"21,keyasint"`
	Cal       calibrate.State `cbor:"22,keyasint"`
	OutN      int             `cbor:"23,keyasint"`
	Builds    uint64          `cbor:"24,keyasint"`
}

func errDim(dim int) error {
	return fmt.Errorf("hst: dimension %d out of range [1, %d]", dim, maxDim)
}

// MarshalSnapshot returns the detector's whole state as versioned CBOR.
func (d *Detector) MarshalSnapshot() ([]byte, error) {
	s := state{
		Dim: d.dim, Trees: d.opt.Trees, Depth: d.opt.Depth, Window: d.opt.Window,
		SizeLimit: d.opt.SizeLimit, MaxNodes: d.opt.MaxNodes, Seed: d.opt.Seed,
		Min: d.min, Max: d.max, Seeds: d.seeds, Lo: d.lo, Hi: d.hi,
		Free: d.free, InWin: d.inWin, Samples: d.samples, Missing: d.missing,
		Cal: d.cal.State(),
	}
	s.OutN, s.Builds = d.outN, d.builds
	if d.rfill < d.opt.Window {
		s.Recent = d.recent[:d.rfill*d.dim]
	} else {
		s.Recent = make([]float64, 0, len(d.recent))
		s.Recent = append(s.Recent, d.recent[d.rhead*d.dim:]...)
		s.Recent = append(s.Recent, d.recent[:d.rhead*d.dim]...)
	}
	s.Child = make([]int32, len(d.nodes))
	s.R = make([]uint16, len(d.nodes))
	s.L = make([]uint16, len(d.nodes))
	s.Q = make([]uint16, len(d.nodes))
	for i, n := range d.nodes {
		s.Child[i], s.R[i], s.L[i], s.Q[i] = n.child, n.r, n.l, d.q[i]
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

func fromState(s *state) (*Detector, error) {
	if s.Dim < 1 || s.Dim > maxDim {
		return nil, errDim(s.Dim)
	}
	cal, err := calibrate.Restore(s.Cal)
	if err != nil {
		return nil, err
	}
	opt := Options{Trees: s.Trees, Depth: s.Depth, Window: s.Window, SizeLimit: s.SizeLimit,
		MaxNodes: s.MaxNodes, Seed: s.Seed, Calibration: cal.Options()}
	if opt.withDefaults() != opt {
		return nil, fmt.Errorf("options out of range")
	}
	d, err := New(s.Dim, opt)
	if err != nil {
		return nil, err
	}
	dim := s.Dim
	if len(s.Seeds) != opt.Trees || len(s.Min) != dim || len(s.Max) != dim {
		return nil, fmt.Errorf("seeds or ranges do not match %d trees, %d features", opt.Trees, dim)
	}
	for q := range dim {
		if math.IsNaN(s.Min[q]) || math.IsNaN(s.Max[q]) {
			return nil, fmt.Errorf("NaN range of feature %d", q)
		}
	}
	copy(d.seeds, s.Seeds)
	copy(d.min, s.Min)
	copy(d.max, s.Max)
	d.cal, d.samples, d.missing = cal, s.Samples, s.Missing
	if len(s.Recent)%dim != 0 || len(s.Recent)/dim > opt.Window {
		return nil, fmt.Errorf("latest window of %d values", len(s.Recent))
	}
	d.rfill = len(s.Recent) / dim
	d.rhead = d.rfill % opt.Window
	copy(d.recent, s.Recent)
	if len(s.Lo) == 0 {
		// Still warming up.
		if d.rfill >= opt.Window || len(s.Hi)+len(s.Child)+len(s.R)+len(s.L)+len(s.Q) != 0 ||
			s.Free != -1 || s.InWin != 0 || s.OutN != 0 || s.Builds != 0 {
			return nil, fmt.Errorf("inconsistent warm-up state")
		}
		return d, nil
	}
	for q := range dim {
		if !finite(s.Min[q]) || !finite(s.Max[q]) || s.Min[q] > s.Max[q] {
			return nil, fmt.Errorf("bad range of feature %d", q)
		}
	}
	n := len(s.Child)
	if d.rfill != opt.Window || s.Builds == 0 || s.OutN < 0 || s.OutN > s.InWin || len(s.Lo) != opt.Trees*dim || len(s.Hi) != len(s.Lo) ||
		len(s.R) != n || len(s.L) != n || len(s.Q) != n || n < opt.Trees || n > opt.MaxNodes || (n-opt.Trees)%2 != 0 {
		return nil, fmt.Errorf("inconsistent forest arrays")
	}
	if s.InWin < 0 || s.InWin >= opt.Window {
		return nil, fmt.Errorf("window position %d out of range", s.InWin)
	}
	for i := range s.Lo {
		if !finite(s.Lo[i]) || !finite(s.Hi[i]) || !(s.Lo[i] < s.Hi[i]) {
			return nil, fmt.Errorf("bad work space")
		}
	}
	d.lo, d.hi = s.Lo, s.Hi
	d.nodes = make([]node, n)
	d.q = make([]uint16, n)
	copy(d.q, s.Q)
	for i := range d.nodes {
		if int(s.Q[i]) >= dim {
			return nil, fmt.Errorf("node %d splits feature %d of %d", i, s.Q[i], dim)
		}
		// A latest mass counts points of the window being filled: walks
		// rely on it to increment without checking for overflow.
		if int(s.L[i]) > s.InWin {
			return nil, fmt.Errorf("node %d: latest mass %d, but %d points in the window", i, s.L[i], s.InWin)
		}
		d.nodes[i] = node{child: s.Child[i], r: s.R[i], l: s.L[i]}
	}
	d.free, d.inWin, d.outN, d.builds = s.Free, s.InWin, s.OutN, s.Builds
	if err := d.checkForest(); err != nil {
		return nil, err
	}
	d.resplit()
	return d, nil
}

// resplit derives every reachable node's split from the work space and
// the tree's shape, top down, as grow and build did.
func (d *Detector) resplit() {
	var fill func(t int, i int32, pos uint64)
	fill = func(t int, i int32, pos uint64) {
		n := &d.nodes[i]
		n.split = d.splitAt(t, pos, int(d.q[i]))
		if c := n.child; c != 0 {
			fill(t, c, 2*pos)
			fill(t, c+1, 2*pos+1)
		}
	}
	for t := range d.opt.Trees {
		fill(t, int32(t), 1)
	}
}

// checkForest verifies that every non-root pair is used exactly once, by
// one parent or by the free list, and that no node is below Depth.
func (d *Detector) checkForest() error {
	seen := make([]bool, len(d.nodes))
	pair := func(c int32) error {
		if c < int32(d.opt.Trees) || (int(c)-d.opt.Trees)%2 != 0 || int(c)+1 >= len(d.nodes) {
			return fmt.Errorf("bad child index %d", c)
		}
		if seen[c] {
			return fmt.Errorf("pair %d used twice", c)
		}
		seen[c], seen[c+1] = true, true
		return nil
	}
	var walk func(i int32, k int) error
	walk = func(i int32, k int) error {
		c := d.nodes[i].child
		if c == 0 {
			return nil
		}
		if k >= d.opt.Depth || c < 0 {
			return fmt.Errorf("node %d: child %d at depth %d", i, c, k)
		}
		if err := pair(c); err != nil {
			return err
		}
		if err := walk(c, k+1); err != nil {
			return err
		}
		return walk(c+1, k+1)
	}
	for t := range d.opt.Trees {
		if err := walk(int32(t), 0); err != nil {
			return err
		}
	}
	for c := d.free; c != -1; c = d.nodes[c].child {
		if err := pair(c); err != nil {
			return fmt.Errorf("free list: %w", err)
		}
		if d.nodes[c+1] != (node{}) || d.q[c] != 0 || d.q[c+1] != 0 {
			return fmt.Errorf("free list: pair %d not cleared", c)
		}
	}
	for i := d.opt.Trees; i < len(d.nodes); i++ {
		if !seen[i] {
			return fmt.Errorf("node %d unreachable", i)
		}
	}
	return nil
}
