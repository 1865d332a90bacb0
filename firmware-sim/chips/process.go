package chips

import (
	"math"
	"math/rand/v2"
	"sync"
)

// Process is a machine's process values in the plant simulator's units
// (firmware-sim/plant): what the chips' signals are derived from.
type Process struct {
	VibRMS      float64 // vibration velocity RMS, mm/s
	BearingTemp float64 // °C
	Current     float64 // motor current, A
	Pressure    float64 // discharge pressure, bar
	RPM         float64 // shaft speed, rev/min; 0 means 1485
}

// ProcessOpts tune how process values become chip signals. The zero value
// works.
type ProcessOpts struct {
	// AmpsPerVolt is the current clamp on AIN0; default 30 A/V.
	AmpsPerVolt float64
	// PressureSpan is the pressure transmitter's reading at 20 mA (4 mA is
	// 0 bar), on a loop across ShuntOhms on AIN1; defaults 10 bar, 250 Ω.
	PressureSpan, ShuntOhms float64
	// Noise is the accelerometer's broadband noise in m/s² RMS per axis.
	Noise float64
	Seed  uint64
	// Ambient is the BME280's pressure and humidity; defaults 101325 Pa
	// and 45 %RH. Its temperature is the bearing's.
	AmbientPa, AmbientRH float64
}

// Signals are sources for the chips.
type Signals struct {
	Accel  func(t float64) [3]float64 // for an ADXL345; safe for concurrent use
	Env    func(t float64) Env        // for a BME280 on the bearing
	Inputs func(t float64) [4]float64 // for an ADS1115: clamp on AIN0, pressure loop on AIN1
}

// ProcessSignals derives the chips' sources from a process, so that what
// the emulated sensors measure agrees with the plant's telemetry. The
// vibration is a sinusoid at the shaft speed whose velocity RMS is VibRMS:
// its acceleration RMS per axis on X and Y is 2π·f·VibRMS (Z sees half),
// on top of 1 g on Z; its phase follows the shaft speed as it changes.
// p is called from the chips' goroutines: it must be safe for concurrent
// use.
func ProcessSignals(p func(t float64) Process, o ProcessOpts) Signals {
	if o.AmpsPerVolt == 0 {
		o.AmpsPerVolt = 30
	}
	if o.PressureSpan == 0 {
		o.PressureSpan = 10
	}
	if o.ShuntOhms == 0 {
		o.ShuntOhms = 250
	}
	if o.AmbientPa == 0 {
		o.AmbientPa = 101325
	}
	if o.AmbientRH == 0 {
		o.AmbientRH = 45
	}
	var (
		mu        sync.Mutex
		phase, lt float64
		rng       = rand.New(rand.NewPCG(o.Seed, 0xacce1))
	)
	accel := func(t float64) [3]float64 {
		pv := p(t)
		f := pv.RPM / 60
		if f == 0 {
			f = 1485.0 / 60
		}
		mu.Lock()
		defer mu.Unlock()
		phase = math.Mod(phase+2*math.Pi*f*(t-lt), 2*math.Pi)
		lt = t
		// Velocity RMS (mm/s) → acceleration peak (m/s²): ×√2 ×2πf /1000.
		a := math.Sqrt2 * 2 * math.Pi * f * pv.VibRMS / 1000
		out := [3]float64{a * math.Sin(phase), a * math.Cos(phase), gravity + a/2*math.Sin(phase+0.5)}
		for i := range out {
			out[i] += o.Noise * rng.NormFloat64()
		}
		return out
	}
	return Signals{
		Accel: accel,
		Env: func(t float64) Env {
			return Env{Temperature: p(t).BearingTemp, Pressure: o.AmbientPa, Humidity: o.AmbientRH}
		},
		Inputs: func(t float64) [4]float64 {
			pv := p(t)
			mA := 4 + 16*max(0, pv.Pressure)/o.PressureSpan
			return [4]float64{pv.Current / o.AmpsPerVolt, mA / 1000 * o.ShuntOhms, 0, 0}
		},
	}
}
