package calibrate

import (
	"fmt"
	"math"
	"slices"
)

// Options tunes a Calibrator. The zero value gives the defaults.
type Options struct {
	// Window is how many recent raw scores form the body (default 1024).
	Window int
	// Level is the quantile of the window where the tail starts (default 0.98).
	Level float64
	// Peaks is how many recent exceedances the tail is fitted on (default 256).
	Peaks int
	// MinSamples is the cold start: until this many scores have been
	// observed, Prob returns 0 (default 128).
	MinSamples int
	// MinPeaks is how many exceedances the GPD fit needs; below it the
	// tail is an exponential fitted on the window's own exceedances
	// (default 16).
	MinPeaks int
}

// Limits on options, also enforced on restored state.
const (
	maxWindow = 1 << 16
	maxPeaks  = 1 << 14
)

// WithDefaults returns o with every zero or out-of-range field replaced by
// its default or clamped to its limit, as New does.
func (o Options) WithDefaults() Options {
	if o.Window <= 0 {
		o.Window = 1024
	}
	if o.Level <= 0 || o.Level >= 1 || math.IsNaN(o.Level) {
		o.Level = 0.98
	}
	if o.Peaks <= 0 {
		o.Peaks = 256
	}
	if o.MinSamples <= 0 {
		o.MinSamples = 128
	}
	if o.MinPeaks <= 0 {
		o.MinPeaks = 16
	}
	o.Window = min(max(o.Window, 16), maxWindow)
	o.Peaks = min(max(o.Peaks, 8), maxPeaks)
	o.MinSamples = min(o.MinSamples, o.Window)
	o.MinPeaks = min(max(o.MinPeaks, 2), o.Peaks)
	return o
}

// Calibrator maps raw scores to calibrated ones. Create it with New.
type Calibrator struct {
	opt Options

	ring   []float64 // recent raw scores; ring[head] is the oldest once full
	sorted []float64 // the same scores, ascending
	head   int
	n      uint64 // scores observed in total

	peaks  []float64 // recent exceedances over the threshold of their time
	phead  int
	pcount int

	gamma, sigma float64 // GPD fit of peaks, valid when pcount >= MinPeaks
	t, frac      float64 // threshold and fraction of the window above it
	tn, ti       int     // window length and threshold index t was last set for
	tfrac        float64 // fraction above ti without ties, for tn
}

// New returns a Calibrator with opt's defaults filled in.
func New(opt Options) *Calibrator {
	opt = opt.WithDefaults()
	return &Calibrator{
		opt:    opt,
		ring:   make([]float64, 0, opt.Window),
		sorted: make([]float64, 0, opt.Window),
		peaks:  make([]float64, opt.Peaks),
	}
}

// Options returns the options in effect, defaults filled in.
func (c *Calibrator) Options() Options { return c.opt }

// Count returns how many raw scores have been observed.
func (c *Calibrator) Count() uint64 { return c.n }

// Ready reports whether the cold start is over.
func (c *Calibrator) Ready() bool { return len(c.sorted) >= c.opt.MinSamples }

// Update returns Prob(raw), then observes raw: test, then train.
func (c *Calibrator) Update(raw float64) float64 {
	if math.IsNaN(raw) || math.IsInf(raw, 0) {
		return c.Prob(raw)
	}
	// Rank raw once, for both the score and the insertion.
	lo, hi, at := c.locate(raw)
	p := c.prob(raw, lo, hi)
	c.observe(raw, lo, hi, at)
	return p
}

// rank returns the range [lo, hi) of window positions equal to raw.
func (c *Calibrator) rank(raw float64) (lo, hi int) {
	lo = lowerBound(c.sorted, raw)
	hi = lo
	if lo < len(c.sorted) && c.sorted[lo] == raw {
		hi = lo + upperBound(c.sorted[lo:], raw)
	}
	return lo, hi
}

// setThreshold caches the Level quantile of the window and the fraction
// of the window strictly above it. The quantile's index and, without ties,
// the fraction depend only on the window's length, which stops changing
// once it is full: they are kept until it changes.
func (c *Calibrator) setThreshold() {
	n := len(c.sorted)
	if n != c.tn {
		c.tn = n
		c.ti = min(int(c.opt.Level*float64(n)), n-1)
		c.tfrac = float64(n-1-c.ti) / float64(n)
	}
	i := c.ti
	c.t, c.frac = c.sorted[i], c.tfrac
	if above := n - 1 - i; above > 0 && c.sorted[i+1] == c.t {
		// Ties at the threshold: search past them (rare on real scores).
		above = n - upperBound(c.sorted[i:], c.t) - i
		c.frac = float64(above) / float64(n)
	}
}

// windowSigma is the scale of the exponential tail used while there are
// too few peaks for a GPD: the window's mean excess over t, inflated by
// 1 + 1/√k for its k points, since the mean of k points is uncertain by
// about 1/√k of itself: few points err toward lower scores (fewer
// alarms). It is 0 when nothing in the window exceeds t.
func (c *Calibrator) windowSigma() float64 {
	n := len(c.sorted)
	above := int(math.Round(c.frac * float64(n)))
	if above == 0 {
		return 0
	}
	var sum float64
	for _, v := range c.sorted[n-above:] {
		sum += v - c.t
	}
	return sum / float64(above) * (1 + 1/math.Sqrt(float64(above)))
}

// Prob returns the calibrated score of raw in [0, 1] without observing it.
// NaN calibrates to 0.
func (c *Calibrator) Prob(raw float64) float64 {
	if !c.Ready() || math.IsNaN(raw) {
		return 0
	}
	if math.IsInf(raw, 0) {
		if raw > 0 {
			return 1
		}
		return 0
	}
	lo, hi := c.rank(raw)
	return c.prob(raw, lo, hi)
}

func (c *Calibrator) prob(raw float64, lo, hi int) float64 {
	if !c.Ready() {
		return 0
	}
	if raw > c.t {
		if c.pcount >= c.opt.MinPeaks {
			return clamp01(1 - c.frac*c.survival(raw-c.t))
		}
		if sigma := c.windowSigma(); sigma > 0 {
			// Too few peaks for a GPD: an exponential tail (γ = 0) fitted
			// on the window's own exceedances. For the light or
			// exponential tails of sums of squares and of z-scores it is
			// conservative, and unlike ranks it reaches beyond the window:
			// a frozen detector's score can still exceed 1 - 1/n.
			return clamp01(1 - c.frac*math.Exp(-(raw-c.t)/sigma))
		}
	}
	// Mid-rank empirical CDF, shrunk so it never reaches 0 or 1 on ranks alone.
	n := float64(len(c.sorted))
	return clamp01((float64(lo) + 0.5*float64(hi-lo) + 0.5) / (n + 1))
}

// survival is the fitted GPD's P(Y > y).
func (c *Calibrator) survival(y float64) float64 {
	z := y / c.sigma
	if math.Abs(c.gamma) < 1e-9 {
		return math.Exp(-z)
	}
	b := c.gamma * z
	if b <= -1 {
		return 0 // beyond the bounded support of a negative shape
	}
	return math.Exp(-math.Log1p(b) / c.gamma)
}

// Observe learns raw. Non-finite scores are ignored.
func (c *Calibrator) Observe(raw float64) {
	if math.IsNaN(raw) || math.IsInf(raw, 0) {
		return
	}
	lo, hi, at := c.locate(raw)
	c.observe(raw, lo, hi, at)
}

// locate returns the range [lo, hi) of window positions equal to raw and,
// once the window is full, where the oldest score, which raw will replace,
// first appears in the sorted window: one interleaved search for all.
func (c *Calibrator) locate(raw float64) (lo, hi, at int) {
	old := raw
	if len(c.ring) == cap(c.ring) {
		old = c.ring[c.head]
	}
	return bounds(c.sorted, raw, old)
}

// observe learns a finite raw whose equal range in the window is [lo, hi);
// once the window is full, at is where the oldest score, which raw
// replaces, first appears in the sorted window.
func (c *Calibrator) observe(raw float64, lo, hi, at int) {
	if c.Ready() && raw > c.t {
		c.addPeak(raw - c.t)
	}
	c.n++
	if len(c.ring) < cap(c.ring) {
		c.ring = append(c.ring, raw)
		c.sorted = append(c.sorted, 0)
		copy(c.sorted[hi+1:], c.sorted[hi:])
		c.sorted[hi] = raw
	} else {
		old := c.ring[c.head]
		c.ring[c.head] = raw
		c.head++
		if c.head == len(c.ring) {
			c.head = 0
		}
		replaceSorted(c.sorted, at, old, raw, lo, hi)
	}
	c.setThreshold()
}

func (c *Calibrator) addPeak(y float64) {
	c.peaks[c.phead] = y
	c.phead++
	if c.phead == len(c.peaks) {
		c.phead = 0
	}
	if c.pcount < len(c.peaks) {
		c.pcount++
	}
	c.fit()
}

// fit estimates the GPD by the method of moments over all kept peaks. It
// recomputes the sums exactly each time (peaks are rare), so the fit is a
// pure function of the kept peaks and survives a snapshot bit for bit.
func (c *Calibrator) fit() {
	if c.pcount < c.opt.MinPeaks {
		return
	}
	// Oldest first, whatever the ring's rotation, so a restored ring sums
	// in the same order.
	var sum, sumsq float64
	first, second := c.peaks[:c.pcount], c.peaks[:0]
	if c.pcount == len(c.peaks) {
		first, second = c.peaks[c.phead:], c.peaks[:c.phead]
	}
	for _, y := range first {
		sum += y
		sumsq += y * y
	}
	for _, y := range second {
		sum += y
		sumsq += y * y
	}
	k := float64(c.pcount)
	m := sum / k
	v := sumsq/k - m*m
	if m <= 0 {
		c.gamma, c.sigma = 0, math.SmallestNonzeroFloat64
		return
	}
	if v <= 1e-12*m*m {
		c.gamma, c.sigma = 0, m
		return
	}
	r := m * m / v
	g := 0.5 * (1 - r)
	// The moments exist only for γ < 1/2; keep the shape in a sane range and
	// the scale consistent with the mean, σ = m(1-γ).
	g = min(max(g, -0.5), 0.45)
	c.gamma, c.sigma = g, m*(1-g)
}

func clamp01(p float64) float64 { return min(max(p, 0), 1) }

// lowerBound returns the first index i with s[i] >= x. The loop runs a
// fixed number of steps for a given length, whatever x.
func lowerBound(s []float64, x float64) int {
	if len(s) == 0 {
		return 0
	}
	base, n := 0, len(s)
	for n > 1 {
		half := n / 2
		if s[base+half-1] < x {
			base += half
		}
		n -= half
	}
	if s[base] < x {
		base++
	}
	return base
}

// bounds returns lowerBound(s, x), upperBound(s, x) and lowerBound(s, y)
// by three searches stepped side by side, branch-free: each is a chain of
// dependent loads whose direction is a coin toss for the branch predictor,
// so independent chains overlap, and each step probes three points
// (4-ary), halving the length of the chain.
func bounds(s []float64, x, y float64) (lo, hi, at int) {
	n := len(s)
	if n == 0 {
		return 0, 0, 0
	}
	// Invariant: each answer lies in [base, base+n]. Of the four parts the
	// three probes cut, the last is the longest, so n-3q covers any part.
	for n >= 4 {
		q := n >> 2
		lo += q * (b2i(s[lo+q-1] < x) + b2i(s[lo+2*q-1] < x) + b2i(s[lo+3*q-1] < x))
		hi += q * (b2i(s[hi+q-1] <= x) + b2i(s[hi+2*q-1] <= x) + b2i(s[hi+3*q-1] <= x))
		at += q * (b2i(s[at+q-1] < y) + b2i(s[at+2*q-1] < y) + b2i(s[at+3*q-1] < y))
		n -= 3 * q
	}
	for n > 1 {
		half := n >> 1
		lo += half & -b2i(s[lo+half-1] < x)
		hi += half & -b2i(s[hi+half-1] <= x)
		at += half & -b2i(s[at+half-1] < y)
		n -= half
	}
	return lo + b2i(s[lo] < x), hi + b2i(s[hi] <= x), at + b2i(s[at] < y)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// upperBound returns the first index i with s[i] > x.
func upperBound(s []float64, x float64) int {
	if len(s) == 0 {
		return 0
	}
	base, n := 0, len(s)
	for n > 1 {
		half := n / 2
		if s[base+half-1] <= x {
			base += half
		}
		n -= half
	}
	if s[base] <= x {
		base++
	}
	return base
}

// replaceSorted removes one old, first found at i, from the ascending s
// and inserts x, whose equal range in s is [lo, hi), with a single shift of
// the elements between the two positions.
func replaceSorted(s []float64, i int, old, x float64, lo, hi int) {
	if x == old {
		return
	}
	if x > old {
		j := hi
		copy(s[i:j-1], s[i+1:j])
		s[j-1] = x
		return
	}
	j := lo
	copy(s[j+1:i+1], s[j:i])
	s[j] = x
}

// State is a Calibrator's whole state, for a detector's snapshot.
type State struct {
	Window     int       `cbor:"1,keyasint"`
	Level      float64   `cbor:"2,keyasint"`
	Peaks      int       `cbor:"3,keyasint"`
	MinSamples int       `cbor:"4,keyasint"`
	MinPeaks   int       `cbor:"5,keyasint"`
	N          uint64    `cbor:"6,keyasint"`
	Recent     []float64 `cbor:"7,keyasint"` // oldest first
	Exceed     []float64 `cbor:"8,keyasint"` // oldest first
}

// State returns a copy of the calibrator's state.
func (c *Calibrator) State() State {
	s := State{
		Window: c.opt.Window, Level: c.opt.Level, Peaks: c.opt.Peaks,
		MinSamples: c.opt.MinSamples, MinPeaks: c.opt.MinPeaks, N: c.n,
		Recent: make([]float64, 0, len(c.ring)),
		Exceed: make([]float64, 0, c.pcount),
	}
	s.Recent = append(s.Recent, c.ring[c.head:]...)
	s.Recent = append(s.Recent, c.ring[:c.head]...)
	if c.pcount < len(c.peaks) {
		s.Exceed = append(s.Exceed, c.peaks[:c.pcount]...)
	} else {
		s.Exceed = append(s.Exceed, c.peaks[c.phead:]...)
		s.Exceed = append(s.Exceed, c.peaks[:c.phead]...)
	}
	return s
}

// Restore builds a Calibrator from a State, refusing one that is not
// internally consistent (it may come from untrusted bytes).
func Restore(s State) (*Calibrator, error) {
	opt := Options{Window: s.Window, Level: s.Level, Peaks: s.Peaks, MinSamples: s.MinSamples, MinPeaks: s.MinPeaks}
	if opt.WithDefaults() != opt {
		return nil, fmt.Errorf("restore calibrator: options out of range: %+v", opt)
	}
	if len(s.Recent) > s.Window || len(s.Exceed) > s.Peaks {
		return nil, fmt.Errorf("restore calibrator: %d recent scores (window %d), %d peaks (max %d)", len(s.Recent), s.Window, len(s.Exceed), s.Peaks)
	}
	if uint64(len(s.Recent)) > s.N {
		return nil, fmt.Errorf("restore calibrator: %d recent scores but only %d observed", len(s.Recent), s.N)
	}
	for _, v := range s.Recent {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("restore calibrator: non-finite recent score")
		}
	}
	for _, v := range s.Exceed {
		if !(v > 0) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("restore calibrator: exceedance %v not positive and finite", v)
		}
	}
	c := New(opt)
	c.n = s.N
	c.ring = append(c.ring, s.Recent...)
	c.sorted = append(c.sorted, s.Recent...)
	slices.Sort(c.sorted)
	copy(c.peaks, s.Exceed)
	c.pcount = len(s.Exceed)
	c.phead = c.pcount % len(c.peaks)
	if len(c.sorted) > 0 {
		c.setThreshold()
	}
	c.fit()
	return c, nil
}
