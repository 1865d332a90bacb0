package features

import (
	"fmt"
	"math"
)

// Band is a frequency band [Lo, Hi) in Hz whose energy becomes a feature.
type Band struct {
	Name string  `yaml:"name"`
	Lo   float64 `yaml:"lo"`
	Hi   float64 `yaml:"hi"`
}

// Frame feature indexes, in layout order; band energies follow.
const (
	frameRMS = iota
	framePeak
	frameCrest
	frameKurtosis
	frameSkewness
	frameFixed
)

var frameFixedNames = [frameFixed]string{"rms", "peak", "crest", "kurtosis", "skewness"}

// binRange is a half-open range of FFT bins.
type binRange struct{ lo, hi int }

// framePlan is everything computed once per frame length.
type framePlan struct {
	n      int // frame length
	fft    *FFT
	window []float64 // Hann over n samples
	norm   float64   // 1 / (fft size · Σw²): band sums become mean squares
	x      []float64 // windowed, centred frame
	power  []float64
	bands  [][]binRange // per band feature, its bin ranges (harmonics)
}

// frameSpec is the spectral part of a frame signal's configuration.
type frameSpec struct {
	rate  float64
	bands [][]bandHz // per band feature, its [lo, hi) ranges in Hz
}

type bandHz struct{ lo, hi float64 }

func newFramePlan(spec *frameSpec, n int) (*framePlan, error) {
	size := 4
	for size < n {
		size <<= 1
	}
	f, err := NewFFT(size)
	if err != nil {
		return nil, err
	}
	p := &framePlan{
		n: n, fft: f,
		window: make([]float64, n),
		x:      make([]float64, n),
		power:  make([]float64, size/2+1),
		bands:  make([][]binRange, len(spec.bands)),
	}
	var sw2 float64
	for i := range p.window {
		w := 1.0
		if n > 1 {
			w = 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(n-1))
		}
		p.window[i] = w
		sw2 += w * w
	}
	p.norm = 1 / (float64(size) * sw2)
	binHz := spec.rate / float64(size)
	for i, ranges := range spec.bands {
		for _, r := range ranges {
			lo := int(math.Ceil(r.lo / binHz))
			hi := int(math.Ceil(r.hi / binHz))
			if hi <= lo { // narrower than a bin: take the bin holding its centre
				lo = int(math.Round((r.lo + r.hi) / 2 / binHz))
				hi = lo + 1
			}
			lo, hi = max(lo, 0), min(hi, size/2+1)
			if lo < hi {
				p.bands[i] = append(p.bands[i], binRange{lo, hi})
			}
		}
	}
	return p, nil
}

// frameFeatures writes the features of frame x into dst (frameFixed plus
// one per band). The frame is centred first: vibration features describe
// the AC part, not a sensor's offset.
//
//	rms       √(mean (x−x̄)²)
//	peak      max |x−x̄|
//	crest     peak / rms
//	kurtosis  m4 / m2²  (3 for a Gaussian)
//	skewness  m3 / m2^1.5
//	bands     Σ one-sided power over the band's bins of the Hann-windowed
//	          frame, scaled so that all bins sum to the mean square: a sine
//	          of amplitude A contributes A²/2 to the band holding it.
func (p *framePlan) frameFeatures(x, dst []float64) {
	n := float64(len(x))
	var mean float64
	for _, v := range x {
		mean += v
	}
	mean /= n
	var m2, m3, m4, peak float64
	for _, v := range x {
		d := v - mean
		d2 := d * d
		m2 += d2
		m3 += d2 * d
		m4 += d2 * d2
		peak = max(peak, math.Abs(d))
	}
	m2, m3, m4 = m2/n, m3/n, m4/n
	rms := math.Sqrt(m2)
	dst[frameRMS] = rms
	dst[framePeak] = peak
	if m2 > 0 {
		dst[frameCrest] = peak / rms
		dst[frameKurtosis] = m4 / (m2 * m2)
		dst[frameSkewness] = m3 / (m2 * rms)
	} else {
		dst[frameCrest], dst[frameKurtosis], dst[frameSkewness] = 0, 0, 0
	}
	if len(p.bands) == 0 {
		return
	}
	for i, v := range x {
		p.x[i] = (v - mean) * p.window[i]
	}
	p.fft.Power(p.x, p.power)
	last := len(p.power) - 1
	for i, ranges := range p.bands {
		var e float64
		for _, r := range ranges {
			for k := r.lo; k < r.hi; k++ {
				pk := p.power[k]
				if k != 0 && k != last {
					pk *= 2
				}
				e += pk
			}
		}
		dst[frameFixed+i] = e * p.norm
	}
}

// defectBands returns the band ranges of each bearing defect frequency over
// harmonics 1..h, each ±width (relative) around the harmonic.
func defectBands(b Bearing, width float64, h int) (names []string, bands [][]bandHz) {
	f := b.Frequencies()
	for _, d := range []struct {
		name string
		hz   float64
	}{{"bpfo", f.BPFO}, {"bpfi", f.BPFI}, {"bsf", f.BSF}, {"ftf", f.FTF}} {
		var r []bandHz
		for k := 1; k <= h; k++ {
			c := d.hz * float64(k)
			r = append(r, bandHz{c * (1 - width), c * (1 + width)})
		}
		names = append(names, d.name)
		bands = append(bands, r)
	}
	return names, bands
}

func checkBand(b Band, rate float64) error {
	switch {
	case b.Name == "":
		return fmt.Errorf("band [%g, %g): needs a name", b.Lo, b.Hi)
	case !(b.Lo >= 0) || !(b.Hi > b.Lo):
		return fmt.Errorf("band %q: want 0 <= lo < hi, got [%g, %g)", b.Name, b.Lo, b.Hi)
	case b.Lo >= rate/2:
		return fmt.Errorf("band %q: starts at %g Hz, at or above Nyquist (%g Hz)", b.Name, b.Lo, rate/2)
	}
	return nil
}
