// Package forecast is a forecasting-residual detector: every feature gets an
// online autoregressive model AR(p), fitted by recursive least squares with
// exponential forgetting (Haykin, "Adaptive Filter Theory", ch. 10; the
// forgetting factor as in Ljung & Söderström, "Theory and Practice of
// Recursive Identification", 1983), and a vector is anomalous when the
// features surprise their own forecasts. This catches what a model of the
// joint distribution misses: a value typical in level but not in time (a
// stuck sensor, a broken rhythm, a step in a drifting signal).
//
// Each feature is standardised by a slow running mean and variance; its
// one-step forecast error e (prior to learning the value) is divided by a
// running residual variance, and the raw score is the mean of e²/σₑ² over
// present features, about 1 on predictable data. The raw score may be
// smoothed by an EWMA and is calibrated to [0, 1] by models/calibrate, whose
// peaks-over-threshold tail makes rare large residuals score near 1.
//
// A missing feature is neither forecast nor learned and leaves its history
// unchanged; a vector with every feature missing is ignored.
package forecast

import (
	"math"

	"millwright/models"
	"millwright/models/calibrate"
)

// Kind is the catalog name of this detector.
const Kind = "forecast"

// Limits.
const (
	MaxDim   = 256
	MaxOrder = 16
)

// Options configures a Detector. The zero value gives working defaults.
type Options struct {
	// Order is p, the number of lags of each AR model (default 3).
	Order int
	// Forget is the RLS forgetting factor in (0, 1] (default 0.999, a
	// memory of about 1000 samples). It also paces the residual variance.
	Forget float64
	// Normalise is the forgetting factor of the per-feature standardisation,
	// slower than Forget (default 0.9999).
	Normalise float64
	// MinSamples is how many vectors are learned before scoring (default
	// 4·(Order+1)+20).
	MinSamples int
	// Smooth is the span of an EWMA over the raw score; 0 or 1 for none.
	Smooth int
	// Calibrate tunes the score calibration.
	Calibrate calibrate.Options
}

func (o Options) withDefaults() Options {
	if o.Order <= 0 || o.Order > MaxOrder {
		o.Order = 3
	}
	if !(o.Forget > 0 && o.Forget <= 1) {
		o.Forget = 0.999
	}
	if !(o.Normalise > 0 && o.Normalise <= 1) {
		o.Normalise = 0.9999
	}
	if o.MinSamples <= 0 {
		o.MinSamples = 4*(o.Order+1) + 20
	}
	if o.Smooth < 0 {
		o.Smooth = 0
	}
	o.Calibrate = o.Calibrate.WithDefaults()
	return o
}

const p0 = 1e3 // initial P = p0·I: a weak prior on the coefficients

// Detector is the forecasting-residual detector. Create it with New.
type Detector struct {
	opt Options
	dim int
	q   int // regressors per feature: intercept + Order lags

	seen uint64
	n    []uint64  // per feature: values learned
	mean []float64 // per feature
	vr   []float64 // per feature: variance
	res  []float64 // per feature: residual variance (standardised units)
	hist []float64 // dim×Order: raw past values, most recent first
	th   []float64 // dim×q: coefficients
	pm   []float64 // dim×q×q: inverse correlation matrices

	smooth  float64
	smoothN uint64
	cal     *calibrate.Calibrator

	phi, pphi []float64 // q scratch
	err       []float64 // dim scratch: standardised a-priori errors
	ok        []bool    // dim scratch: feature present and forecastable
}

var (
	_ models.Detector    = (*Detector)(nil)
	_ models.Snapshotter = (*Detector)(nil)
)

type dimError struct{ dim int }

func (e dimError) Error() string {
	return "forecast: dimension out of range [1, 256]"
}

// New returns a detector for vectors of dim features.
func New(dim int, opt Options) (*Detector, error) {
	if dim < 1 || dim > MaxDim {
		return nil, dimError{dim}
	}
	d := &Detector{opt: opt.withDefaults()}
	d.alloc(dim)
	d.cal = calibrate.New(d.opt.Calibrate)
	return d, nil
}

func (d *Detector) alloc(dim int) {
	p := d.opt.Order
	q := p + 1
	d.dim, d.q = dim, q
	d.n = make([]uint64, dim)
	d.mean = make([]float64, dim)
	d.vr = make([]float64, dim)
	d.res = make([]float64, dim)
	d.hist = make([]float64, dim*p)
	d.th = make([]float64, dim*q)
	d.pm = make([]float64, dim*q*q)
	for j := range dim {
		for i := range q {
			d.pm[j*q*q+i*q+i] = p0
		}
	}
	d.phi = make([]float64, q)
	d.pphi = make([]float64, q)
	d.err = make([]float64, dim)
	d.ok = make([]bool, dim)
}

// Kind returns "forecast".
func (d *Detector) Kind() string { return Kind }

// Samples returns how many vectors with some feature present were learned.
func (d *Detector) Samples() uint64 { return d.seen }

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// regressors fills d.phi for feature j in standardised units; it reports
// whether the feature has a full history.
func (d *Detector) regressors(j int) bool {
	p := d.opt.Order
	// Forecasting starts once the standardisation has settled a little:
	// errors in the units of a two-sample variance would swamp the
	// residual variance for a long time.
	if d.n[j] < uint64(p+d.opt.MinSamples/2) {
		return false
	}
	s := 1 / d.scale(j)
	d.phi[0] = 1
	for l := range p {
		d.phi[1+l] = (d.hist[j*p+l] - d.mean[j]) * s
	}
	return true
}

func (d *Detector) scale(j int) float64 {
	return max(math.Sqrt(d.vr[j]), 1e-6*math.Abs(d.mean[j]), 1e-9)
}

// forecastErrors computes the standardised a-priori errors of x; it
// returns the raw score and whether there is one.
func (d *Detector) forecastErrors(x []float64) (float64, bool) {
	var sum float64
	var cnt int
	for j := range d.dim {
		d.ok[j] = false
		if j >= len(x) || !finite(x[j]) || !d.regressors(j) {
			continue
		}
		var f float64
		th := d.th[j*d.q : (j+1)*d.q]
		for i, v := range d.phi {
			f += th[i] * v
		}
		e := (x[j]-d.mean[j])/d.scale(j) - f
		d.err[j], d.ok[j] = e, true
		if d.n[j] >= uint64(d.opt.MinSamples) {
			sum += e * e / max(d.res[j], 1e-6)
			cnt++
		}
	}
	if cnt == 0 {
		return 0, false
	}
	return sum / float64(cnt), true
}

func (d *Detector) smoothed(raw float64) float64 {
	if d.opt.Smooth <= 1 || d.smoothN == 0 {
		return raw
	}
	return d.smooth + 2/float64(d.opt.Smooth+1)*(raw-d.smooth)
}

func present(x []float64, dim int) bool {
	for j := range min(dim, len(x)) {
		if finite(x[j]) {
			return true
		}
	}
	return false
}

// Update scores x against the forecasts, then learns it.
func (d *Detector) Update(x []float64) float64 {
	if !present(x, d.dim) {
		return 0
	}
	d.seen++
	raw, ok := d.forecastErrors(x)
	score := 0.0
	if ok {
		s := d.smoothed(raw)
		d.smooth, d.smoothN = s, d.smoothN+1
		score = d.cal.Update(s)
	}
	for j := range d.dim {
		if j < len(x) && finite(x[j]) {
			d.learn(j, x[j])
		}
	}
	return score
}

// Score scores x without learning.
func (d *Detector) Score(x []float64) float64 {
	if !present(x, d.dim) {
		return 0
	}
	raw, ok := d.forecastErrors(x)
	if !ok {
		return 0
	}
	return d.cal.Prob(d.smoothed(raw))
}

// learn updates feature j with value v: the RLS step on the a-priori error
// computed by forecastErrors, the residual variance, the standardisation
// and the history.
func (d *Detector) learn(j int, v float64) {
	q, p := d.q, d.opt.Order
	lam := d.opt.Forget
	if d.ok[j] {
		e := d.err[j]
		pm := d.pm[j*q*q : (j+1)*q*q]
		th := d.th[j*q : (j+1)*q]
		var den float64
		for a := range q {
			var s float64
			for b := range q {
				s += pm[a*q+b] * d.phi[b]
			}
			d.pphi[a] = s
			den += d.phi[a] * s
		}
		den += lam
		var dmax float64
		for a := range q {
			th[a] += d.pphi[a] / den * e
		}
		for a := range q {
			for b := range q {
				pm[a*q+b] = (pm[a*q+b] - d.pphi[a]*d.pphi[b]/den) / lam
			}
			dmax = max(dmax, pm[a*q+a])
		}
		// Guard against wind-up when the signal stops exciting the model.
		if dmax > p0 {
			f := p0 / dmax
			for a := range pm {
				pm[a] *= f
			}
		}
		w := max(1/float64(d.n[j]+1-uint64(p+d.opt.MinSamples/2)), 1-lam)
		d.res[j] += w * (e*e - d.res[j])
	}
	d.n[j]++
	w := max(1/float64(d.n[j]), 1-d.opt.Normalise)
	delta := v - d.mean[j]
	d.mean[j] += w * delta
	d.vr[j] = (1 - w) * (d.vr[j] + w*delta*delta)
	h := d.hist[j*p : (j+1)*p]
	copy(h[1:], h[:p-1])
	h[0] = v
}
