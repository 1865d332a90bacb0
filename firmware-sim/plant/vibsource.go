package plant

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// VibrationSource is one machine's raw vibration as a continuous stream of
// samples (radial acceleration on the bearing housing, m/s², without
// gravity) at the scenario's vibration sample rate: the waveform of the
// plant's frames, played without gaps. It runs the machine's physics
// itself at the scenario's tick rate, so its load, speed, faults and
// normal life are those of the same machine in a Generator with the same
// scenario and start (its noise differs: frames are played back to back). It implements
// chips.Stream, so the emulated ADXL345 can play it through its FIFO. It
// is not safe for concurrent use.
type VibrationSource struct {
	st       *state
	w        *wave
	step     float64 // s between ticks
	nextTick float64 // s since start
	n        int64   // ticks made
}

// NewVibrationSource returns the vibration of machine id of sc, starting at
// start (truncated to the millisecond, as NewGenerator does).
func NewVibrationSource(sc Scenario, id string, start time.Time) (*VibrationSource, error) {
	sc = sc.withDefaults()
	if err := sc.Validate(); err != nil {
		return nil, fmt.Errorf("scenario %q: %w", sc.Name, err)
	}
	st0 := start.Truncate(time.Millisecond).UnixNano()
	for _, gw := range sc.Gateways {
		for _, m := range gw.Machines {
			if m.ID != id {
				continue
			}
			h := streamKey(gw.ID, m.ID)
			st := newState(gw.ID, m, stateOpts{ambient: sc.Ambient, rng: rand.New(rand.NewPCG(sc.Seed, h)), seed: sc.Seed, key: h,
				start: st0, life: sc.Life, vib: sc.Vibration, wave: true})
			return &VibrationSource{st: st, w: st.wave, step: float64(int64(float64(time.Second)/sc.Rate)) / 1e9}, nil
		}
	}
	return nil, fmt.Errorf("scenario %q: no machine %q", sc.Name, id)
}

// SampleRate is samples per second.
func (v *VibrationSource) SampleRate() float64 { return v.w.fs }

// tick runs the machine's physics for the tick at time nextTick.
func (v *VibrationSource) tick() {
	t := float64(v.n) * v.step
	v.st.step(t, v.step)
	v.n++
	v.nextTick = float64(v.n) * v.step
}

// Read fills p with the next samples.
func (v *VibrationSource) Read(p []float64) {
	for len(p) > 0 {
		if v.n == 0 || v.w.t >= v.nextTick {
			v.tick()
		}
		k := len(p)
		if left := int((v.nextTick-v.w.t)*v.w.fs) + 1; left < k {
			k = max(1, left)
		}
		v.w.fill(p[:k])
		p = p[k:]
	}
}

// Skip advances the source by d without making samples (the physics still
// runs tick by tick): to look at a fault days into its progression.
func (v *VibrationSource) Skip(d time.Duration) {
	end := v.w.t + d.Seconds()
	for v.n == 0 || v.nextTick <= end {
		v.tick()
		v.w.seek(min(end, v.nextTick))
	}
	v.w.seek(end)
}

// Time is the time of the next sample since start.
func (v *VibrationSource) Time() time.Duration { return time.Duration(v.w.t * 1e9) }

// Frequencies are the machine's characteristic frequencies at its current
// speed.
func (v *VibrationSource) Frequencies() Frequencies { return v.st.geo.frequencies(v.st.shaft) }
