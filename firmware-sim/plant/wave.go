package plant

import (
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
)

// Vibration configures the raw vibration waveform of every machine: the
// acceleration on the monitored bearing's housing, radial, in m/s².
type Vibration struct {
	// Frames makes the plant compute a frame of raw vibration for every
	// reading and publish the features a smart sensor computes from it:
	// vib_rms comes from the frame (velocity RMS, 10 Hz to 1 kHz) and
	// vib_peak, vib_kurtosis and vib_defect are added. Off, vib_rms is
	// the scalar model the frames are calibrated to (cheaper).
	Frames bool `yaml:"frames"`
	// SampleRate in Hz, 1000 to 5000; default 3200 (the ADXL345's fastest
	// output data rate, so the emulated chip plays the samples as they are).
	SampleRate float64 `yaml:"sample_rate"`
	// FrameLen is samples per frame, a power of two from 256 to 8192;
	// default 1024.
	FrameLen int `yaml:"frame_len"`
}

// Waveform defaults.
const (
	DefaultSampleRate = 3200.0
	DefaultFrameLen   = 1024
)

func (v Vibration) withDefaults() Vibration {
	if v.SampleRate == 0 {
		v.SampleRate = DefaultSampleRate
	}
	if v.FrameLen == 0 {
		v.FrameLen = DefaultFrameLen
	}
	return v
}

func (v *Vibration) validate(rate float64) error {
	if v.SampleRate != 0 && (math.IsNaN(v.SampleRate) || v.SampleRate < 1000 || v.SampleRate > 5000) {
		return fmt.Errorf("vibration.sample_rate: %g Hz, want 1000 to 5000", v.SampleRate)
	}
	if n := v.FrameLen; n != 0 && (n < 256 || n > 8192 || bits.OnesCount(uint(n)) != 1) {
		return fmt.Errorf("vibration.frame_len: %d, want a power of two from 256 to 8192", n)
	}
	if v.Frames && rate > 50 {
		return fmt.Errorf("vibration.frames: at %g readings per second a frame per reading is too costly, limit 50", rate)
	}
	return nil
}

// Shares of the nominal vibration velocity (mm/s RMS) of a healthy
// machine: mostly 1x, then 2x and 3x, some broadband; conveyors add their
// two gear meshes.
const (
	share1x, share2x, share3x, shareNoise = 0.8, 0.45, 0.25, 0.3
	shareMesh1, shareMesh2                = 0.25, 0.2
	impactPeak                            = 60.0 // m/s², bearing impacts at full wear, severity 1
	hfNoise                               = 4.0  // m/s², cavitation's high-frequency noise at full progress
	ringTau                               = 1.2e-3
	maxStages                             = 4
)

// wave generates one machine's raw vibration sample by sample: shaft
// harmonics (1x, 2x, 3x), gear mesh with shaft sidebands (conveyors),
// broadband noise, bearing-defect impacts ringing the housing's resonance,
// and cavitation's high-frequency noise. Its amplitudes come from the
// machine's state each tick (set) so that the velocity RMS of its frames
// is the machine's vibration; between ticks it runs on continuously.
type wave struct {
	fs, dt   float64
	rng      *rand.Rand
	geo      *geometry
	location string // bearing defect location, when there is bearing wear

	// Set each tick.
	f1       float64    // shaft, Hz
	amp      [3]float64 // peak m/s² of 1x, 2x, 3x
	sigma    float64    // broadband noise, m/s² RMS
	hf       float64    // high-frequency noise, m/s²
	impA     float64    // impact peak, m/s²
	impRate  float64    // impacts per second
	impShaft float64    // frequency modulating the impacts (0: none)
	nm       int
	meshF    [maxStages]float64 // Hz
	meshA    [maxStages]float64 // peak m/s²
	gearF    [maxStages]float64 // the stage's gear shaft, Hz: its sidebands
	defects  Defects

	// Running state.
	t       float64 // time of the next sample, s since start
	ph1     float64
	phAM    float64
	phMesh  [maxStages]float64
	phGear  [maxStages]float64
	ring    float64 // the ringing's complex amplitude: real part
	ringI   float64 // and imaginary
	nextImp float64
	prevHF  float64
	fres    float64
	decay   float64
	noiseC  float64 // velocity RMS (mm/s, in the feature band) per m/s² of white noise
	impC    float64 // velocity power ((mm/s)², in the band) of impacts of 1 m/s² at 1 Hz
	hfC     float64 // velocity power ((mm/s)², in the band) of high-frequency noise of 1 m/s²
}

func newWave(fs float64, rng *rand.Rand, geo *geometry) *wave {
	w := &wave{fs: fs, dt: 1 / fs, rng: rng, geo: geo, fres: 0.4 * fs, decay: math.Exp(-1 / (fs * ringTau))}
	lo, hi := velocityBand(fs)
	w.noiseC = 1000 * math.Sqrt(2/fs*(1/lo-1/hi)) / (2 * math.Pi)
	// What impacts and high-frequency noise put into the velocity band,
	// so that set can leave room for them: the ringing's spectrum
	// (h(t) = e^(−t/τ) cos ω_r t) and the first difference's, over ω².
	a, wr := 1/ringTau, 2*math.Pi*w.fres
	for f := lo; f <= hi; f++ {
		om := 2 * math.Pi * f
		re, im := a*a-om*om+wr*wr, 2*a*om
		h2 := (a*a + om*om) / (re*re + im*im)
		w.impC += 2 * h2 * 1e6 / (om * om)
		w.hfC += 2 * (1 - math.Cos(om/fs)) * 2 / fs * 1e6 / (om * om)
	}
	return w
}

// velocityBand is the band of the velocity RMS feature: 10 Hz to 1 kHz,
// below the bearing resonance at low sample rates.
func velocityBand(fs float64) (lo, hi float64) { return 10, min(1000, 0.3*fs) }

// set takes this tick's amplitudes from the machine: base is the healthy
// vibration (mm/s RMS) at the current load, v the machine's vibration with
// its faults and noise, which the frame's velocity RMS is scaled to.
func (w *wave) set(s *state, base, v float64) {
	e := &s.e
	f := s.shaft
	w.f1 = f
	add := e.vibAdd
	p1 := share1x*base + e.v1*add
	p2 := share2x*base + e.v2*add
	p3 := share3x*base + e.v3*add
	pn := shareNoise*base + e.vn*add
	sum := p1*p1 + p2*p2 + p3*p3 + pn*pn
	w.nm = 0
	var pm [maxStages]float64
	if s.geo.conveyor {
		w.nm = min(maxStages, len(s.geo.stages))
		for i := range w.nm {
			st := s.geo.stages[i]
			pin := f * s.geo.ratios[i]
			w.meshF[i] = float64(st.Pinion) * pin
			w.gearF[i] = pin * float64(st.Pinion) / float64(st.Gear)
			pm[i] = shareMesh2 * base
			if i == 0 {
				pm[i] = shareMesh1 * base * (0.5 + s.load) // the fast mesh sings with the torque
			}
			sum += pm[i] * pm[i]
		}
	}
	w.hf = hfNoise * e.hf * s.run
	w.defects = s.geo.bearing.Defects(f)
	w.impA, w.impRate, w.impShaft = 0, 0, 0
	if e.impact > 0 && f > 0 {
		w.impA = impactPeak * e.impact * s.run * s.run
		w.impRate = defectRate(w.defects, w.location)
		switch w.location {
		case LocationInnerRace:
			w.impShaft = f
		case LocationBall:
			w.impShaft = w.defects.FTF
		}
	}
	// The impacts' ringing and the cavitation noise reach into the
	// velocity band a little: the rest makes up the machine's vibration.
	other := w.hfC * w.hf * w.hf
	if w.impRate > 0 {
		am := 1.0
		if w.impShaft > 0 {
			am = 0.55*0.55 + 0.45*0.45/2 // mean square of the modulation
		}
		other += w.impC * w.impA * w.impA * w.impRate * am
	}
	norm := 0.0
	if sum > 0 {
		norm = math.Sqrt(max(0, v*v-other)) / math.Sqrt(sum)
	}
	k := math.Sqrt2 / 1000 * 2 * math.Pi * f * norm // mm/s RMS at 1x → m/s² peak
	w.amp = [3]float64{k * p1, 2 * k * p2, 3 * k * p3}
	for i := range w.nm {
		w.meshA[i] = math.Sqrt2 / 1000 * 2 * math.Pi * w.meshF[i] * norm * pm[i]
	}
	w.sigma = pn * norm / w.noiseC
}

// seek moves the waveform to time t (seconds since start) without making
// samples: phases advance, impacts ring out.
func (w *wave) seek(t float64) {
	d := t - w.t
	if d == 0 {
		return
	}
	w.t = t
	w.ph1 = wrap(w.ph1 + 2*math.Pi*w.f1*d)
	w.phAM = wrap(w.phAM + 2*math.Pi*w.impShaft*d)
	for i := range w.nm {
		w.phMesh[i] = wrap(w.phMesh[i] + 2*math.Pi*w.meshF[i]*d)
		w.phGear[i] = wrap(w.phGear[i] + 2*math.Pi*w.gearF[i]*d)
	}
	if d > 0 {
		// Rung out; the phase of what little is left does not matter.
		k := math.Exp(-d / ringTau)
		w.ring *= k
		w.ringI *= k
	}
	if w.impRate > 0 && w.nextImp < t {
		p := 1 / w.impRate
		w.nextImp += math.Ceil((t-w.nextImp)/p) * p
	}
}

func wrap(ph float64) float64 {
	ph = math.Mod(ph, 2*math.Pi)
	if ph < 0 {
		ph += 2 * math.Pi
	}
	return ph
}

// fill writes the next len(dst) samples (m/s²) and advances the waveform.
// It allocates nothing; sinusoids turn as phasors, re-anchored to their
// phases at every call so rounding never accumulates.
func (w *wave) fill(dst []float64) {
	n := float64(len(dst))
	dt := w.dt
	s1, c1 := math.Sincos(w.ph1)
	rs1, rc1 := math.Sincos(2 * math.Pi * w.f1 * dt)
	// The ringing turns and decays as one complex amplitude.
	rsr, rcr := math.Sincos(2 * math.Pi * w.fres * dt)
	rsr, rcr = rsr*w.decay, rcr*w.decay
	a1, a2, a3 := w.amp[0], w.amp[1], w.amp[2]
	sigma, hf := w.sigma, w.hf
	rng := w.rng
	impacts := w.impRate > 0 && w.impA > 0
	period := 0.0
	if impacts {
		period = 1 / w.impRate
		if w.nextImp < w.t {
			w.nextImp = w.t
		}
	}
	var ms, mc, mrs, mrc, gs, gc, grs, grc [maxStages]float64
	for i := range w.nm {
		ms[i], mc[i] = math.Sincos(w.phMesh[i])
		mrs[i], mrc[i] = math.Sincos(2 * math.Pi * w.meshF[i] * dt)
		gs[i], gc[i] = math.Sincos(w.phGear[i])
		grs[i], grc[i] = math.Sincos(2 * math.Pi * w.gearF[i] * dt)
	}
	t := w.t
	zr, zi := w.ring, w.ringI
	for i := range dst {
		// 2x and 3x from the 1x phasor; the 2x lags by 90° (a bent shaft
		// or misaligned coupling does not peak with the unbalance).
		c2 := c1*c1 - s1*s1
		x := a1*s1 - a2*c2 + a3*s1*(3-4*s1*s1) + sigma*rng.NormFloat64()
		if impacts && t >= w.nextImp {
			m := 1.0
			if w.impShaft > 0 {
				// The defect passes through the load zone once a turn.
				m = 0.55 + 0.45*math.Cos(w.phAM+2*math.Pi*w.impShaft*(t-w.t))
			}
			zr += w.impA * m
			// Rolling elements slip: impacts are not exactly periodic.
			w.nextImp += period * (1 + 0.02*(rng.Float64()-0.5))
		}
		if zr != 0 || zi != 0 {
			// Each impact rings from its own start, a cosine: a struck
			// housing's acceleration, with little below the resonance.
			x += zr
			zr, zi = zr*rcr-zi*rsr, zi*rcr+zr*rsr
			if zr*zr+zi*zi < 1e-18 {
				zr, zi = 0, 0
			}
		}
		if hf != 0 {
			v := rng.NormFloat64()
			x += hf * (v - w.prevHF)
			w.prevHF = v
		}
		for k := range w.nm {
			// Mesh, amplitude-modulated by the gear's run-out: sidebands
			// at mesh ± gear shaft speed.
			x += w.meshA[k] * (1 + 0.2*gc[k]) * ms[k]
			ms[k], mc[k] = ms[k]*mrc[k]+mc[k]*mrs[k], mc[k]*mrc[k]-ms[k]*mrs[k]
			gs[k], gc[k] = gs[k]*grc[k]+gc[k]*grs[k], gc[k]*grc[k]-gs[k]*grs[k]
		}
		dst[i] = x
		s1, c1 = s1*rc1+c1*rs1, c1*rc1-s1*rs1
		t += dt
	}
	d := n * dt
	w.ring, w.ringI = zr, zi
	w.ph1 = wrap(w.ph1 + 2*math.Pi*w.f1*d)
	w.phAM = wrap(w.phAM + 2*math.Pi*w.impShaft*d)
	for i := range w.nm {
		w.phMesh[i] = wrap(w.phMesh[i] + 2*math.Pi*w.meshF[i]*d)
		w.phGear[i] = wrap(w.phGear[i] + 2*math.Pi*w.gearF[i]*d)
	}
	w.t += d
}
