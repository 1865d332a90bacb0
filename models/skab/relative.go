package skab

import (
	"math"
	"slices"

	"millwright/models"
)

// Relative control limits
//
// A fixed control limit on T² does not transfer between machines: on SKAB
// the valve experiments want T²/k ≈ 6–10, the "other" experiments ≈ 38. A
// detector may legitimately look at its own stream's healthy warm-up,
// without labels, and state its limit relative to it: "alarm when the
// statistic exceeds c times the largest value of the warm-up". The
// threshold c then means the same thing on every machine, and it is the
// one parameter a cross-validation has to choose.

// RelativeOptions configures Relative.
type RelativeOptions struct {
	// From and To bound the warm-up rows [From, To) whose statistic is the
	// reference. Rows before From are left out because the model is still
	// immature there. Defaults: From = To/2, To = WarmUp.
	From, To int
	// Quantile of the reference rows' statistic used as the reference, in
	// (0, 1]; 1 (the default) is their maximum.
	Quantile float64
}

func (o RelativeOptions) withDefaults() RelativeOptions {
	if o.To <= 0 {
		o.To = WarmUp
	}
	if o.From < 0 || o.From >= o.To {
		o.From = o.To / 2
	}
	if !(o.Quantile > 0 && o.Quantile <= 1) {
		o.Quantile = 1
	}
	return o
}

// Relative wraps a factory of detectors whose score is the monotone map
// raw/(1+raw) of a nonnegative statistic (pca with Uncalibrated) so that
// the score becomes rel/(1+rel) with rel = raw/ref, ref being the
// reference of the stream's own warm-up rows [From, To). Before To the
// score is 0; a threshold th then alarms when raw ≥ ref·th/(1-th)
// (RelativeThreshold converts). It allocates only at construction.
func Relative(opt RelativeOptions, newDetector func(dim int, seed uint64) models.Detector) func(dim int, seed uint64) models.Detector {
	opt = opt.withDefaults()
	return func(dim int, seed uint64) models.Detector {
		return &relative{Detector: newDetector(dim, seed), opt: opt, warm: make([]float64, 0, opt.To-opt.From)}
	}
}

type relative struct {
	models.Detector
	opt  RelativeOptions
	n    int // vectors learned
	warm []float64
	ref  float64 // set once n reaches To
}

// RelativeThreshold returns a threshold on Relative's score for a limit c,
// a multiple of the warm-up reference.
func RelativeThreshold(c float64) float64 { return c / (1 + c) }

func rawOf(s float64) float64 {
	if !(s > 0) {
		return 0
	}
	if s >= 1 {
		return math.Inf(1)
	}
	return s / (1 - s)
}

func (r *relative) Update(x []float64) float64 {
	s := r.Detector.Update(x)
	n := r.n
	r.n++
	if n < r.opt.To {
		if n >= r.opt.From {
			if raw := rawOf(s); !math.IsInf(raw, 0) {
				r.warm = append(r.warm, raw)
			}
		}
		if r.n == r.opt.To {
			r.setRef()
		}
		return 0
	}
	return r.scale(s)
}

func (r *relative) Score(x []float64) float64 {
	s := r.Detector.Score(x)
	if r.n < r.opt.To {
		return 0
	}
	return r.scale(s)
}

func (r *relative) setRef() {
	ref := 0.0
	if len(r.warm) > 0 {
		slices.Sort(r.warm)
		i := int(math.Ceil(r.opt.Quantile*float64(len(r.warm)))) - 1
		ref = r.warm[min(max(i, 0), len(r.warm)-1)]
	}
	// A silent warm-up (a constant stream) gives no scale: any statistic
	// above a tiny floor is then far out.
	r.ref = max(ref, 1e-9)
}

func (r *relative) scale(s float64) float64 {
	rel := rawOf(s) / r.ref
	if math.IsInf(rel, 1) {
		return 1
	}
	return rel / (1 + rel)
}
