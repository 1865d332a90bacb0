// Package ensemble combines several detectors into one: each child scores
// and learns every vector, and their calibrated scores are combined by
// mean or max, then calibrated again (models/calibrate) so that the
// ensemble's score is itself a probability-like value with the same
// meaning as any detector's.
//
// Averaging detectors with different inductive biases (a per-feature
// robust z-score, a mass-based forest, a cut-based forest) follows the
// outlier-ensemble practice surveyed by Aggarwal and Sathe, "Outlier
// Ensembles: An Introduction" (Springer, 2017): the mean reduces variance,
// the max keeps any single detector's sharpness.
//
// The snapshot holds every child's own snapshot; restoring one needs a
// function that restores a child by its kind (models/catalog's Restore).
package ensemble

import (
	"errors"
	"fmt"

	"millwright/models"
	"millwright/models/calibrate"
)

// Kind is the catalog name of this detector.
const Kind = "ensemble"

// Combine says how children's scores become one.
type Combine int

// Ways to combine children's scores.
const (
	Mean Combine = iota
	Max
)

// MaxChildren bounds an ensemble's size.
const MaxChildren = 16

// Options tunes a Detector. The zero value combines by mean and cannot
// restore a snapshot.
type Options struct {
	Combine Combine
	// Restore builds a child from its snapshot; UnmarshalSnapshot needs it.
	Restore func(snapshot []byte) (models.Detector, error)
	// Calibration tunes the calibrator of the combined score.
	Calibration calibrate.Options
}

// Child is what an ensemble member must be: a detector that snapshots.
type Child interface {
	models.Detector
	models.Snapshotter
}

// Detector is an ensemble. Create it with New.
type Detector struct {
	opt      Options
	children []Child
	cal      *calibrate.Calibrator
	last     []float64 // children's latest scores, for Contributions
	scratch  []float64 // one child's contributions
}

var (
	_ models.Detector    = (*Detector)(nil)
	_ models.Snapshotter = (*Detector)(nil)
	_ models.Explainer   = (*Detector)(nil)
)

// ErrNoRestore is returned by UnmarshalSnapshot when Options.Restore is nil.
var ErrNoRestore = errors.New("ensemble: no child restorer")

// New returns an ensemble of children, which it owns from then on.
func New(children []models.Detector, opt Options) (*Detector, error) {
	if len(children) < 1 || len(children) > MaxChildren {
		return nil, fmt.Errorf("ensemble: %d children, want 1 to %d", len(children), MaxChildren)
	}
	if opt.Combine != Max {
		opt.Combine = Mean
	}
	opt.Calibration = opt.Calibration.WithDefaults()
	d := &Detector{opt: opt, cal: calibrate.New(opt.Calibration), last: make([]float64, len(children))}
	for i, c := range children {
		s, ok := c.(Child)
		if !ok {
			return nil, fmt.Errorf("ensemble: child %d (%s) cannot snapshot", i, c.Kind())
		}
		if c.Kind() == Kind {
			return nil, fmt.Errorf("ensemble: child %d is an ensemble", i)
		}
		d.children = append(d.children, s)
	}
	return d, nil
}

// Kind returns "ensemble".
func (d *Detector) Kind() string { return Kind }

// Samples returns the most any child has learned.
func (d *Detector) Samples() uint64 {
	var n uint64
	for _, c := range d.children {
		n = max(n, c.Samples())
	}
	return n
}

// Children returns the kinds of the children, in order.
func (d *Detector) Children() []string {
	out := make([]string, len(d.children))
	for i, c := range d.children {
		out[i] = c.Kind()
	}
	return out
}

func (d *Detector) combine(acc, p float64) float64 {
	if d.opt.Combine == Max {
		return max(acc, p)
	}
	return acc + p
}

func (d *Detector) finish(acc float64) float64 {
	if d.opt.Combine == Mean {
		acc /= float64(len(d.children))
	}
	return acc
}

// Update lets every child score and learn x, then calibrates the
// combined score.
func (d *Detector) Update(x []float64) float64 {
	acc := 0.0
	learned := d.Samples()
	for i, c := range d.children {
		d.last[i] = c.Update(x)
		acc = d.combine(acc, d.last[i])
	}
	if d.Samples() == learned {
		// Nothing was learned (every feature missing): observe nothing.
		return d.cal.Prob(d.finish(acc))
	}
	return d.cal.Update(d.finish(acc))
}

// Score scores x without learning it.
func (d *Detector) Score(x []float64) float64 {
	acc := 0.0
	for i, c := range d.children {
		d.last[i] = c.Score(x)
		acc = d.combine(acc, d.last[i])
	}
	return d.cal.Prob(d.finish(acc))
}

// Contributions writes each feature's share of the latest score: the
// children that can explain themselves, weighted by their latest scores
// (with Max, only the highest-scoring one).
func (d *Detector) Contributions(dst []float64) {
	clear(dst)
	if cap(d.scratch) < len(dst) {
		d.scratch = make([]float64, len(dst))
	}
	tmp := d.scratch[:len(dst)]
	best := -1.0
	for i, c := range d.children {
		e, ok := c.(models.Explainer)
		if !ok || d.last[i] <= 0 {
			continue
		}
		w := d.last[i]
		if d.opt.Combine == Max {
			if w <= best {
				continue
			}
			best = w
			clear(dst)
			w = 1
		}
		e.Contributions(tmp)
		for j, v := range tmp {
			if v > 0 { // a child's NaN or negative share is ignored
				dst[j] += w * v
			}
		}
	}
	var sum float64
	for _, v := range dst {
		sum += v
	}
	if sum > 0 {
		for j := range dst {
			dst[j] /= sum
		}
	}
}
