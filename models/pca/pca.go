// Package pca is a streaming multivariate detector for correlated sensors:
// principal component analysis of the standardised features, learned online
// with exponential forgetting, scored with Hotelling's T² on the retained
// components and the squared prediction error Q (SPE) on the residual, the
// classic pair of multivariate statistical process control (Jackson &
// Mudholkar, "Control Procedures for Residuals Associated With Principal
// Component Analysis", Technometrics 1979; MacGregor & Kourti, "Statistical
// process control of multivariate processes", Control Engineering Practice
// 1995), made recursive in the manner of Li, Yue, Valle-Cervantes & Qin,
// "Recursive PCA for adaptive process monitoring" (J. Process Control 2000).
//
// # Model
//
// The detector keeps an exponentially weighted mean and covariance of its
// features (forgetting factor Forget per sample, a memory of about
// 1/(1-Forget) samples; the first samples are averaged exactly). Every
// Refresh samples the covariance is turned into a correlation matrix and
// diagonalised by cyclic Jacobi rotations (the matrix is dim×dim and small).
// A vector x is standardised to z, projected on the k leading components
// (t = Vₖᵀz) and scored by
//
//	raw = T²/k + Q/E[Q],   T² = Σ tᵢ²/λᵢ,   Q = |z|² - |t|²,   E[Q] = Σ_{i>k} λᵢ
//
// so that each term is about 1 on typical data; StatR scores the residual
// components by their own variances instead. Options can add first
// differences as features, smooth the raw score with an EWMA, and freeze the
// model after a warm-up (the usual offline practice of SKAB's T²+Q baseline,
// kept online). The smoothed raw score is calibrated to [0, 1] by
// models/calibrate.
//
// # Learning through faults
//
// A detector that learns every vector absorbs a slowly developing fault; one
// frozen after a short warm-up calls every operating point it has not seen
// an anomaly. Robust soft-gates learning (a vector scoring raw > Robust
// weighs (Robust/raw)²), and CalibrateUntil freezes only the calibration:
// the model keeps following the machine's operating point, and since one
// component (Components 1) captures a load that moves every sensor
// together, Q stays near 1 across load changes while a fault that breaks
// the sensors' relation scores far out and is hardly learned. This is the
// configuration of catalog "pca" (catalog.PCAOptions), measured on the
// simulated plant by models/plantbench.
//
// A missing feature (NaN, ±Inf) is imputed by its mean when scoring and not
// learned; a vector with every feature missing is ignored altogether.
package pca

import (
	"math"

	"millwright/models"
	"millwright/models/calibrate"
)

// Kind is the catalog name of this detector.
const Kind = "pca"

// MaxDim is the largest number of input features.
const MaxDim = 64

// Statistics a detector can score with.
const (
	StatT2Q = iota // T²/k + Q/E[Q] (default)
	StatT2         // Hotelling's T² on the retained components only
	StatQ          // squared prediction error only
	// StatR is Hotelling's T² of the residual components, Σ_{i>k} tᵢ²/λᵢ
	// over p-k: the residual measured in units of its own spread, not of
	// the features' total spread. When k components carry a common
	// driver (a machine's load), a fault that moves features against it
	// stands out by its size in noise units, which Q, scaled by each
	// feature's total variance, dilutes.
	StatR
)

// Options configures a Detector. The zero value gives working defaults.
type Options struct {
	// Components is k, the number of retained components; 0 picks the
	// fewest that explain Variance of the total.
	Components int
	// Variance is the share of variance retained when Components is 0
	// (default 0.9).
	Variance float64
	// Forget is the weight of the past per sample, in (0, 1] (default
	// 0.999, a memory of about 1000 samples). 1 weighs all samples equally.
	Forget float64
	// Refresh is the number of samples between eigendecompositions
	// (default 16).
	Refresh int
	// MinSamples is how many samples the model learns before it scores
	// (default max(2·features, 30)).
	MinSamples int
	// CalibrateAfter is how many samples the model learns before its scores
	// are used to calibrate: an immature model's scores would make the
	// tail look heavier than it is (default 2·MinSamples).
	CalibrateAfter uint64
	// CalibrateUntil stops calibration, not the model, after this many
	// samples; 0 calibrates for ever. With a statistic in units of its
	// own spread (StatR) and a model that keeps learning the operating
	// point (Robust), a calibration frozen after a healthy warm-up keeps
	// meaning "rarer than what healthy looked like", where a calibrator
	// that keeps observing absorbs a slowly developing fault.
	CalibrateUntil uint64
	// FreezeAfter stops all learning, model and calibration, after this
	// many samples; 0 never freezes.
	FreezeAfter uint64
	// Smooth is the span of an EWMA over the raw score (α = 2/(Smooth+1));
	// 0 or 1 scores each sample alone.
	Smooth int
	// Diff adds each feature's first difference as a feature.
	Diff bool
	// Prefilter is the span of an EWMA applied to each input feature before
	// anything else (α = 2/(Prefilter+1)); 0 or 1 uses the raw inputs.
	// Averaging noisy sensors makes a sustained shift stand out.
	Prefilter int
	// Statistic is one of StatT2Q (default), StatT2, StatQ.
	Statistic int
	// Robust, when positive, is a limit on the raw (smoothed) statistic
	// beyond which a vector is learned with its weight scaled by
	// (Robust/raw)²: a soft gate in the manner of M-estimation, so that a
	// developing fault, scoring far beyond the limit, is hardly learned,
	// while a new operating point, scoring moderately, is learned and
	// stops scoring high. A hard gate (learn only below a limit) never
	// learns a new normal once it is out of reach. 0 learns everything at
	// full weight.
	Robust float64
	// Calibrate tunes the score calibration.
	Calibrate calibrate.Options
	// Uncalibrated replaces calibration by the fixed monotone map
	// raw/(1+raw): a threshold then is a control limit on the statistic
	// itself (e.g. 0.8 is raw 4), the same for every stream.
	Uncalibrated bool
}

func (o Options) withDefaults(dim int) Options {
	if !(o.Variance > 0 && o.Variance <= 1) {
		o.Variance = 0.9
	}
	if !(o.Forget > 0 && o.Forget <= 1) {
		o.Forget = 0.999
	}
	if o.Refresh <= 0 {
		o.Refresh = 16
	}
	if o.Components < 0 {
		o.Components = 0
	}
	if o.MinSamples <= 0 {
		o.MinSamples = max(2*dim, 30)
	}
	if o.Smooth < 0 {
		o.Smooth = 0
	}
	if o.CalibrateAfter == 0 {
		o.CalibrateAfter = 2 * uint64(o.MinSamples)
	}
	if o.CalibrateUntil > 0 {
		// Calibrating on fewer than MinSamples scores would keep it cold.
		o.CalibrateUntil = max(o.CalibrateUntil, o.CalibrateAfter+uint64(o.Calibrate.WithDefaults().MinSamples))
	}
	if o.Prefilter < 0 {
		o.Prefilter = 0
	}
	if !(o.Robust > 0) || math.IsInf(o.Robust, 0) {
		o.Robust = 0
	}
	if o.Statistic < StatT2Q || o.Statistic > StatR {
		o.Statistic = StatT2Q
	}
	o.Calibrate = o.Calibrate.WithDefaults()
	return o
}

// Detector is a streaming PCA detector. Create it with New.
type Detector struct {
	opt Options
	dim int // input features
	p   int // model features: dim, or 2·dim with Diff

	n     uint64    // samples learned
	seen  uint64    // vectors with some feature present
	mean  []float64 // p
	cov   []float64 // p×p, exponentially weighted
	since int       // samples since the last eigendecomposition

	// The model of the last eigendecomposition.
	ready bool
	scale []float64 // p, 1/std at decomposition
	val   []float64 // p eigenvalues, descending
	vec   []float64 // p×p, eigenvectors as columns
	k     int
	eq    float64 // E[Q]

	prev   []float64 // dim, last input (for Diff)
	prevOK []bool
	filt   []float64 // dim, prefiltered inputs
	filtOK []bool

	smooth  float64
	smoothN uint64 // raw scores smoothed so far
	cal     *calibrate.Calibrator

	// scratch, so that Update allocates nothing
	x, z, tmp, a []float64
	present      []bool
	order        []int
	contrib      []float64
}

var (
	_ models.Detector    = (*Detector)(nil)
	_ models.Snapshotter = (*Detector)(nil)
	_ models.Explainer   = (*Detector)(nil)
)

type dimError int

func (e dimError) Error() string {
	return "pca: dimension " + itoa(int(e)) + " out of range [1, " + itoa(MaxDim) + "]"
}

func itoa(i int) string {
	if i < 0 {
		return "-" + itoa(-i)
	}
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

// New returns a detector for vectors of dim features.
func New(dim int, opt Options) (*Detector, error) {
	if dim < 1 || dim > MaxDim {
		return nil, dimError(dim)
	}
	opt = opt.withDefaults(dim)
	d := &Detector{opt: opt}
	d.alloc(dim)
	d.cal = calibrate.New(opt.Calibrate)
	return d, nil
}

func (d *Detector) alloc(dim int) {
	p := dim
	if d.opt.Diff {
		p = 2 * dim
	}
	d.dim, d.p = dim, p
	d.mean = make([]float64, p)
	d.cov = make([]float64, p*p)
	d.scale = make([]float64, p)
	d.val = make([]float64, p)
	d.vec = make([]float64, p*p)
	d.prev = make([]float64, dim)
	d.prevOK = make([]bool, dim)
	d.filt = make([]float64, dim)
	d.filtOK = make([]bool, dim)
	d.x = make([]float64, p)
	d.z = make([]float64, p)
	d.tmp = make([]float64, p*p)
	d.a = make([]float64, p*p)
	d.present = make([]bool, p)
	d.order = make([]int, p)
	d.contrib = make([]float64, dim)
}

// Kind returns "pca".
func (d *Detector) Kind() string { return Kind }

// Samples returns how many vectors (with some feature present) the detector
// has been updated with, frozen or not.
func (d *Detector) Samples() uint64 { return d.seen }

// Options returns the options in effect.
func (d *Detector) Options() Options { return d.opt }

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// load copies x (and differences) into d.x and d.present; it reports
// whether any input feature is present.
func (d *Detector) load(x []float64) bool {
	any := false
	for j := range d.dim {
		v := math.NaN()
		if j < len(x) {
			v = x[j]
		}
		ok := finite(v)
		any = any || ok
		if ok && d.opt.Prefilter > 1 && d.filtOK[j] {
			v = d.filt[j] + 2/float64(d.opt.Prefilter+1)*(v-d.filt[j])
		}
		d.x[j], d.present[j] = v, ok
		if d.opt.Diff {
			d.x[d.dim+j] = v - d.prev[j]
			d.present[d.dim+j] = ok && d.prevOK[j]
		}
	}
	return any
}

func (d *Detector) frozen() bool {
	return d.opt.FreezeAfter > 0 && d.n >= d.opt.FreezeAfter
}

// Update scores x against the model, then learns it.
func (d *Detector) Update(x []float64) float64 {
	if !d.load(x) {
		return 0
	}
	d.seen++
	raw, ok := d.raw()
	p, weight := 0.0, 1.0
	if ok {
		s := d.smoothed(raw)
		if d.opt.Robust > 0 && s > d.opt.Robust {
			weight = (d.opt.Robust / s) * (d.opt.Robust / s)
		}
		d.smooth, d.smoothN = s, d.smoothN+1
		switch {
		case d.opt.Uncalibrated:
			p = s / (1 + s)
		case d.frozen() || d.n < d.opt.CalibrateAfter || d.opt.CalibrateUntil > 0 && d.n >= d.opt.CalibrateUntil:
			p = d.cal.Prob(s)
		default:
			p = d.cal.Update(s)
		}
	}
	if !d.frozen() {
		d.learn(weight)
	}
	for j := range d.dim {
		if d.present[j] {
			// The filter runs on every vector, frozen or not: it is part of
			// the features, not of the model.
			d.filt[j], d.filtOK[j] = d.x[j], true
			d.prev[j], d.prevOK[j] = d.x[j], true
		}
	}
	return p
}

// Score scores x without learning anything.
func (d *Detector) Score(x []float64) float64 {
	if !d.load(x) {
		return 0
	}
	raw, ok := d.raw()
	if !ok {
		return 0
	}
	s := d.smoothed(raw)
	if d.opt.Uncalibrated {
		return s / (1 + s)
	}
	return d.cal.Prob(s)
}

func (d *Detector) smoothed(raw float64) float64 {
	if d.opt.Smooth <= 1 || d.smoothN == 0 {
		return raw
	}
	alpha := 2 / float64(d.opt.Smooth+1)
	return d.smooth + alpha*(raw-d.smooth)
}

// raw computes the statistic of d.x; ok is false while the model is cold.
func (d *Detector) raw() (float64, bool) {
	if !d.ready {
		return 0, false
	}
	p, k := d.p, d.k
	var zz float64
	for j := range p {
		z := 0.0
		if d.present[j] {
			z = (d.x[j] - d.mean[j]) * d.scale[j]
		}
		d.z[j] = z
		zz += z * z
	}
	var t2, tt float64
	floor := 1e-9 * float64(p)
	for i := range k {
		var t float64
		for j := range p {
			t += d.vec[j*p+i] * d.z[j]
		}
		tt += t * t
		t2 += t * t / max(d.val[i], floor)
	}
	q := max(zz-tt, 0)
	if d.opt.Statistic == StatR && k < p {
		var r float64
		for i := k; i < p; i++ {
			var t float64
			for j := range p {
				t += d.vec[j*p+i] * d.z[j]
			}
			r += t * t / max(d.val[i], floor)
		}
		return r / float64(p-k), true
	}
	switch d.opt.Statistic {
	case StatT2:
		return t2 / float64(k), true
	case StatQ:
		if k < p {
			return q / d.eq, true
		}
	}
	if k == p {
		return t2 / float64(k), true
	}
	return t2/float64(k) + q/d.eq, true
}

// learn updates the mean and covariance with d.x, pairwise over present
// features, with weight scaled by m in (0, 1], and refreshes the
// decomposition when due.
func (d *Detector) learn(m float64) {
	d.n++
	w := m * max(1/float64(d.n), 1-d.opt.Forget)
	p := d.p
	delta := d.tmp[:p] // against the old mean; tmp is free until decompose
	for j := range p {
		if d.present[j] {
			delta[j] = d.x[j] - d.mean[j]
		}
	}
	for i := range p {
		if !d.present[i] {
			continue
		}
		for j := i; j < p; j++ {
			if !d.present[j] {
				continue
			}
			c := (1 - w) * (d.cov[i*p+j] + w*delta[i]*delta[j])
			d.cov[i*p+j], d.cov[j*p+i] = c, c
		}
		d.mean[i] += w * delta[i]
	}
	d.since++
	if d.n >= uint64(d.opt.MinSamples) && (!d.ready || d.since >= d.opt.Refresh) {
		d.decompose()
	}
}

// decompose diagonalises the correlation matrix of the current covariance.
func (d *Detector) decompose() {
	p := d.p
	d.since = 0
	for j := range p {
		sd := math.Sqrt(max(d.cov[j*p+j], 0))
		// A feature constant so far gets a scale from its magnitude, so a
		// later change of it is seen but cannot overflow.
		sd = max(sd, 1e-6*math.Abs(d.mean[j]), 1e-9)
		d.scale[j] = 1 / sd
	}
	for i := range p {
		for j := range p {
			d.a[i*p+j] = d.cov[i*p+j] * d.scale[i] * d.scale[j]
		}
	}
	jacobi(d.a, p, d.val, d.vec, d.tmp, d.order)
	var total float64
	for i := range p {
		d.val[i] = max(d.val[i], 0)
		total += d.val[i]
	}
	k := d.opt.Components
	if k == 0 {
		var cum float64
		for k < p {
			cum += d.val[k]
			k++
			if cum >= d.opt.Variance*total {
				break
			}
		}
	}
	k = min(max(k, 1), p)
	if k == p && p > 1 && d.opt.Components == 0 {
		k = p - 1 // keep a residual to watch
	}
	d.k = k
	var eq float64
	for i := k; i < p; i++ {
		eq += d.val[i]
	}
	d.eq = max(eq, 1e-3*max(total, 1)/float64(p))
	d.ready = true
}

// Contributions writes each input feature's share of the squared
// standardised deviation of the last scored vector (a difference feature
// counts for its input).
func (d *Detector) Contributions(dst []float64) {
	var sum float64
	for j := range d.dim {
		c := d.z[j] * d.z[j]
		if d.opt.Diff {
			c += d.z[d.dim+j] * d.z[d.dim+j]
		}
		d.contrib[j] = c
		sum += c
	}
	for j := range dst {
		dst[j] = 0
		if j < d.dim && sum > 0 {
			dst[j] = d.contrib[j] / sum
		}
	}
}
