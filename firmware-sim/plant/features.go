package plant

import (
	"math"
)

// Features are what a smart vibration sensor computes from one frame of
// acceleration.
type Features struct {
	VelocityRMS float64 // mm/s, 10 Hz to 1 kHz (ISO 10816's band), integrated in the spectrum
	Peak        float64 // max |acceleration|, m/s²
	Kurtosis    float64 // of the acceleration, mean removed: 3 for Gaussian noise, 1.5 for a sinusoid
	// Defect is the energy of the envelope spectrum at the bearing's
	// defect frequencies (BPFO, BPFI, 2×BSF, FTF and their second
	// harmonics), (m/s²)²: the classic bearing diagnosis, high-passed
	// above the shaft and gear harmonics, rectified and looked at where
	// impacts of a damaged race or ball repeat.
	Defect float64
}

// analyzer computes Features of frames of one length; it allocates nothing
// per frame.
type analyzer struct {
	n        int
	fs       float64
	win      []float64 // Hann
	winPow   float64   // mean of the window squared
	re, im   []float64
	cos, sin []float64 // twiddles
	rev      []int32
	kLo, kHi int
	hp       [5]float64 // high-pass biquad b0, b1, b2, a1, a2
	env      []float64
}

func newAnalyzer(n int, fs float64) *analyzer {
	a := &analyzer{n: n, fs: fs, win: make([]float64, n), re: make([]float64, n), im: make([]float64, n),
		cos: make([]float64, n/2), sin: make([]float64, n/2), rev: make([]int32, n), env: make([]float64, n)}
	for i := range n {
		a.win[i] = 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(n))
		a.winPow += a.win[i] * a.win[i]
	}
	a.winPow /= float64(n)
	for i := range n / 2 {
		a.sin[i], a.cos[i] = math.Sincos(-2 * math.Pi * float64(i) / float64(n))
	}
	bitsN := 0
	for 1<<bitsN < n {
		bitsN++
	}
	for i := range n {
		r := 0
		for b := range bitsN {
			if i&(1<<b) != 0 {
				r |= 1 << (bitsN - 1 - b)
			}
		}
		a.rev[i] = int32(r)
	}
	lo, hi := velocityBand(fs)
	df := fs / float64(n)
	a.kLo, a.kHi = int(math.Ceil(lo/df)), int(math.Floor(hi/df))
	// Butterworth high-pass at fs/8: above shaft harmonics and most mesh.
	k := math.Tan(math.Pi / 8)
	norm := 1 / (1 + math.Sqrt2*k + k*k)
	a.hp = [5]float64{norm, -2 * norm, norm, 2 * (k*k - 1) * norm, (1 - math.Sqrt2*k + k*k) * norm}
	return a
}

// fft transforms re, im in place (radix 2, decimation in time).
func (a *analyzer) fft() {
	re, im, n := a.re, a.im, a.n
	for i := range n {
		if j := int(a.rev[i]); j > i {
			re[i], re[j] = re[j], re[i]
			im[i], im[j] = im[j], im[i]
		}
	}
	for size := 2; size <= n; size <<= 1 {
		half, step := size/2, n/size
		for start := 0; start < n; start += size {
			for k := range half {
				wr, wi := a.cos[k*step], a.sin[k*step]
				i, j := start+k, start+k+half
				tr := wr*re[j] - wi*im[j]
				ti := wr*im[j] + wi*re[j]
				re[j], im[j] = re[i]-tr, im[i]-ti
				re[i], im[i] = re[i]+tr, im[i]+ti
			}
		}
	}
}

// features computes a frame's features; w gives the defect frequencies at
// the frame's shaft speed (a smart sensor knows the speed from its
// tachometer or the 1x peak).
func (a *analyzer) features(x []float64, d Defects) Features {
	n := float64(a.n)
	var f Features
	mean := 0.0
	for _, v := range x {
		mean += v
		f.Peak = max(f.Peak, math.Abs(v))
	}
	mean /= n
	var m2, m4 float64
	for i, v := range x {
		d := v - mean
		d2 := d * d
		m2 += d2
		m4 += d2 * d2
		a.re[i], a.im[i] = d*a.win[i], 0
	}
	if m2 > 0 {
		f.Kurtosis = m4 * n / (m2 * m2)
	}
	// Velocity: divide each acceleration line by 2πf (Parseval, one-sided,
	// corrected for the window's power).
	a.fft()
	df := a.fs / n
	sum := 0.0
	for k := a.kLo; k <= a.kHi && k < a.n/2; k++ {
		om := 2 * math.Pi * float64(k) * df
		sum += (a.re[k]*a.re[k] + a.im[k]*a.im[k]) / (om * om)
	}
	f.VelocityRMS = 1000 * math.Sqrt(2*sum/(n*n*a.winPow))

	// Envelope: high-pass, rectify, remove the mean, then look at the
	// defect frequencies with Goertzel filters.
	b0, b1, b2, a1, a2 := a.hp[0], a.hp[1], a.hp[2], a.hp[3], a.hp[4]
	var x1, x2, y1, y2, em float64
	for i, v := range x {
		y := b0*v + b1*x1 + b2*x2 - a1*y1 - a2*y2
		x2, x1, y2, y1 = x1, v, y1, y
		a.env[i] = math.Abs(y)
		em += a.env[i]
	}
	em /= n
	// Eight Goertzel filters in one pass: independent chains run in
	// parallel in the CPU where eight passes would wait on each other.
	var c, s1, s2 [8]float64
	k := 0
	for _, fd := range [...]float64{d.BPFO, d.BPFI, 2 * d.BSF, d.FTF} {
		for h := 1.0; h <= 2; h++ {
			if fr := fd * h; fr > 0 && fr < a.fs/2 {
				c[k] = 2 * math.Cos(2*math.Pi*fr/a.fs)
				k++
			}
		}
	}
	// Unrolled by hand so the states stay in registers.
	c0, c1, c2, c3, c4, c5, c6, c7 := c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]
	var p0, p1, p2, p3, p4, p5, p6, p7 float64 // s[n-1]
	var q0, q1, q2, q3, q4, q5, q6, q7 float64 // s[n-2]
	for _, v := range a.env {
		v -= em
		p0, q0 = v+c0*p0-q0, p0
		p1, q1 = v+c1*p1-q1, p1
		p2, q2 = v+c2*p2-q2, p2
		p3, q3 = v+c3*p3-q3, p3
		p4, q4 = v+c4*p4-q4, p4
		p5, q5 = v+c5*p5-q5, p5
		p6, q6 = v+c6*p6-q6, p6
		p7, q7 = v+c7*p7-q7, p7
	}
	s1 = [8]float64{p0, p1, p2, p3, p4, p5, p6, p7}
	s2 = [8]float64{q0, q1, q2, q3, q4, q5, q6, q7}
	for j := range k {
		amp := math.Sqrt(max(0, s1[j]*s1[j]+s2[j]*s2[j]-c[j]*s1[j]*s2[j])) * 2 / n
		f.Defect += amp * amp
	}
	return f
}

// AnalyzeFrame computes the features of a frame of acceleration (m/s²)
// sampled at fs Hz, whose length is a power of two, for a bearing with
// defect frequencies d: what the plant publishes per frame when
// Scenario.Vibration.Frames is on.
func AnalyzeFrame(frame []float64, fs float64, d Defects) Features {
	return newAnalyzer(len(frame), fs).features(frame, d)
}
