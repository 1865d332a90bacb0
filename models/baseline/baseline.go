// Package baseline is the simplest robust streaming detector: per feature it
// keeps an exponentially weighted mean and variance (Welford-style EWMA, as
// in Finch, "Incremental calculation of weighted mean and variance", 2009)
// and a median and median absolute deviation tracked by stochastic
// approximation (Robbins and Monro, 1951, seeded from an exact warm-up
// window). A feature's z-score is the larger of the EWMA z and the MAD z;
// a vector's raw score combines its features' z by max (default) or RMS, and
// goes through models/calibrate to become a probability in [0, 1].
//
// The MAD z resists a burst of outliers that inflates the EWMA variance; the
// EWMA z reacts when the MAD collapses on quantized signals. Missing (NaN or
// ±Inf) features are skipped and counted, never learned.
package baseline

import (
	"math"
	"slices"

	"millwright/models"
	"millwright/models/calibrate"
)

// Kind is the catalog name of this detector.
const Kind = "baseline"

// Combine says how per-feature z-scores become one raw score.
type Combine int

// Ways to combine per-feature z-scores.
const (
	Max Combine = iota // the largest z: sharp on a single broken feature
	RMS                // root mean square: sensitive to many small shifts
)

// Options tunes a Detector. The zero value gives the defaults.
type Options struct {
	// Alpha is the EWMA weight of a new sample (default 0.01, a memory of
	// about 100 samples).
	Alpha float64
	// Rate is the stochastic-approximation step of the median and MAD, in
	// units of the feature's scale (default 0.02).
	Rate float64
	// Warmup is how many samples a feature needs before it is scored; its
	// exact median and MAD seed the streaming estimates (default 32).
	Warmup int
	// Combine chooses max (default) or RMS.
	Combine Combine
	// Calibration tunes the score calibrator.
	Calibration calibrate.Options
}

const (
	maxDim    = 1 << 12
	maxWarmup = 1 << 10
	madToSD   = 1.4826 // MAD of a normal distribution, in standard deviations
	maxZ      = 1e6
)

func (o Options) withDefaults() Options {
	if !(o.Alpha > 0 && o.Alpha <= 1) {
		o.Alpha = 0.01
	}
	if !(o.Rate > 0 && o.Rate <= 1) {
		o.Rate = 0.02
	}
	if o.Warmup <= 0 {
		o.Warmup = 32
	}
	o.Warmup = min(o.Warmup, maxWarmup)
	if o.Combine != RMS {
		o.Combine = Max
	}
	o.Calibration = o.Calibration.WithDefaults()
	return o
}

// feature is one feature's learned state. Its scales are derived from it
// on the fly (one square root and two divisions, cheaper than caching them
// and keeping the cache in step), so a snapshot holds nothing derived.
type feature struct {
	n        uint64
	mean, vr float64
	med, mad float64
}

// Detector is the robust z-score baseline. Create it with New.
type Detector struct {
	opt     Options
	dim     int
	feat    []feature
	warm    []float64 // dim × Warmup first samples, seeding median and MAD
	scratch []float64 // Warmup, for the exact warm-up median
	z       []float64 // per-feature z of the latest score, for Contributions
	cal     *calibrate.Calibrator
	samples uint64
	missing uint64
	// From this count on 1/n ≤ Alpha: the EWMA weight is Alpha alone.
	cumulative uint64
}

var (
	_ models.Detector    = (*Detector)(nil)
	_ models.Snapshotter = (*Detector)(nil)
	_ models.Explainer   = (*Detector)(nil)
)

// New returns a baseline detector for vectors of dim features.
func New(dim int, opt Options) (*Detector, error) {
	if dim < 1 || dim > maxDim {
		return nil, errDim(dim)
	}
	opt = opt.withDefaults()
	return &Detector{
		cumulative: uint64(math.Ceil(1/opt.Alpha)) + 1,
		opt:        opt,
		dim:        dim,
		feat:       make([]feature, dim),
		warm:       make([]float64, dim*opt.Warmup),
		scratch:    make([]float64, opt.Warmup),
		z:          make([]float64, dim),
		cal:        calibrate.New(opt.Calibration),
	}, nil
}

// Kind returns "baseline".
func (d *Detector) Kind() string { return Kind }

// Samples returns how many vectors were learned (all-missing ones are not).
func (d *Detector) Samples() uint64 { return d.samples }

// Missing returns how many missing features Update has skipped.
func (d *Detector) Missing() uint64 { return d.missing }

// Dim returns the number of features.
func (d *Detector) Dim() int { return d.dim }

// Update scores x, then learns it.
func (d *Detector) Update(x []float64) float64 {
	// One pass: each feature is scored with its statistics so far, then
	// learned; the calibrator sees the combined score at the end.
	var acc float64
	scored, learned := 0, false
	rms := d.opt.Combine == RMS
	warm := uint64(d.opt.Warmup)
	z := d.z[:len(d.feat)]
	for i := range d.feat {
		f := &d.feat[i]
		z[i] = 0
		v, ok := value(x, i)
		if !ok {
			d.missing++
			continue
		}
		learned = true
		if f.n < warm {
			d.learnWarm(i, v)
			continue
		}
		sd, smad := f.scales()
		zi := f.z(v, sd, smad)
		z[i] = zi
		scored++
		if rms {
			acc += zi * zi
		} else {
			acc = max(acc, zi)
		}
		// Robbins-Monro steps of the median and the MAD (the MAD's against
		// the median just moved), by the scale before this sample.
		f.ewma(v, d.weight(f.n+1))
		f.n++
		step := d.opt.Rate * smad
		med := f.med + signed(step, v-f.med)
		mad := f.mad + signed(step, math.Abs(v-med)-f.mad)
		if mad < 0 {
			mad = 0
		}
		f.med, f.mad = med, mad
	}
	if learned {
		d.samples++
	}
	if scored == 0 {
		return 0
	}
	if rms {
		acc = math.Sqrt(acc / float64(scored))
	}
	return d.cal.Update(acc)
}

// Score scores x without learning it.
func (d *Detector) Score(x []float64) float64 {
	raw, ok := d.raw(x)
	if !ok {
		return 0
	}
	return d.cal.Prob(raw)
}

// Contributions writes each feature's share of the latest score's z.
func (d *Detector) Contributions(dst []float64) {
	var sum float64
	for _, z := range d.z {
		sum += z
	}
	for i := range min(len(dst), d.dim) {
		if sum > 0 {
			dst[i] = d.z[i] / sum
		} else {
			dst[i] = 0
		}
	}
}

func value(x []float64, i int) (float64, bool) {
	if i >= len(x) {
		return 0, false
	}
	v := x[i]
	return v, v-v == 0 // false for NaN and ±Inf
}

// scales returns the EWMA standard deviation and the MAD scale of a
// feature, floored so that a constant or quantized signal does not divide
// by zero.
func (f *feature) scales() (sd, smad float64) {
	sd = math.Sqrt(f.vr)
	floor := 1e-9 * (1 + math.Abs(f.mean))
	// Which bound binds is stable for a feature: branches predict well and
	// cost less than the NaN-aware builtin max.
	smad = madToSD * f.mad
	if q := 0.25 * sd; q > smad {
		smad = q
	}
	if floor > smad {
		smad = floor
	}
	if floor > sd {
		sd = floor
	}
	return sd, smad
}

// z is the feature's z-score of v: the larger of the EWMA z and the MAD z.
func (f *feature) z(v, sd, smad float64) float64 {
	z := max(math.Abs(v-f.mean)/sd, math.Abs(v-f.med)/smad)
	if z > maxZ {
		return maxZ
	}
	return z
}

// raw computes the combined z of x; ok is false when no feature is scored.
func (d *Detector) raw(x []float64) (float64, bool) {
	var acc float64
	scored := 0
	for i := range d.feat {
		f := &d.feat[i]
		d.z[i] = 0
		v, ok := value(x, i)
		if !ok || f.n < uint64(d.opt.Warmup) {
			continue
		}
		sd, smad := f.scales()
		z := f.z(v, sd, smad)
		d.z[i] = z
		scored++
		if d.opt.Combine == RMS {
			acc += z * z
		} else {
			acc = max(acc, z)
		}
	}
	if scored == 0 {
		return 0, false
	}
	if d.opt.Combine == RMS {
		acc = math.Sqrt(acc / float64(scored))
	}
	return acc, true
}

// weight is the EWMA weight of the n-th sample: a plain mean until 1/n
// drops below Alpha.
func (d *Detector) weight(n uint64) float64 {
	if n < d.cumulative {
		return max(d.opt.Alpha, 1/float64(n))
	}
	return d.opt.Alpha
}

func (f *feature) ewma(v, a float64) {
	delta := v - f.mean
	f.mean += a * delta
	f.vr = (1 - a) * (f.vr + a*delta*delta)
}

// learnWarm adds the finite value v of feature i during its warm-up; the
// last warm-up value seeds the median and MAD with their exact values.
func (d *Detector) learnWarm(i int, v float64) {
	f := &d.feat[i]
	w := d.opt.Warmup
	f.n++
	f.ewma(v, d.weight(f.n))
	d.warm[i*w+int(f.n)-1] = v
	if f.n == uint64(w) {
		f.med, f.mad = d.exactMedMAD(d.warm[i*w : (i+1)*w])
	}
}

func (d *Detector) exactMedMAD(vals []float64) (med, mad float64) {
	s := d.scratch[:len(vals)]
	copy(s, vals)
	slices.Sort(s)
	med = median(s)
	for i, v := range s {
		s[i] = math.Abs(v - med)
	}
	slices.Sort(s)
	return med, median(s)
}

func median(s []float64) float64 {
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return 0.5 * (s[n/2-1] + s[n/2])
}

// signed returns step (≥ 0) times the sign of v, branch-free: whether a
// sample lies above or below the median is a coin toss for the branch
// predictor.
func signed(step, v float64) float64 {
	const signBit = 1 << 63
	b := math.Float64bits(step) | math.Float64bits(v)&signBit
	return math.Float64frombits(b & -uint64(b2i(v != 0)))
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
