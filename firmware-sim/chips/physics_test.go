package chips_test

import (
	"math"
	"testing"
	"time"

	"periph.io/x/conn/v3/physic"

	"millwright/agent/sensors/ads1115"
	"millwright/agent/sensors/adxl345"
	"millwright/agent/sensors/bme280"
	"millwright/firmware-sim/chips"
)

func newADXL(t *testing.T, src func(float64) [3]float64, o *adxl345.Opts) (*adxl345.Dev, *chips.ADXL345, *manualClock) {
	t.Helper()
	clk := newClock()
	chip := chips.NewADXL345(chips.ADXL345Opts{Signal: src, Now: clk.Now})
	bus := chips.NewBus("emu")
	if err := bus.Attach(0x1D, chip); err != nil {
		t.Fatal(err)
	}
	d, err := adxl345.NewI2C(bus, adxl345.AddrHigh, o)
	if err != nil {
		t.Fatal(err)
	}
	return d, chip, clk
}

// The driver reads back, sample for sample, the signal the chip sampled
// at its output data rate, to within the rounding to one LSB.
func TestADXL345Samples(t *testing.T) {
	vib := chips.Vibration{ShaftHz: 24.75, Harmonics: []float64{3, 0.8, 0.3}}
	src, ref := vib.Source(), vib.Source()
	const rate = 800.0
	d, chip, clk := newADXL(t, src, &adxl345.Opts{Rate: rate * physic.Hertz})
	var f adxl345.Frame
	k := 0
	for range 50 {
		clk.Advance(20 * time.Millisecond)
		if err := d.ReadFIFO(&f); err != nil {
			t.Fatal(err)
		}
		for _, s := range f.Get() {
			k++
			want := ref(float64(k) / rate)
			got := [3]float64{s.X, s.Y, s.Z}
			for i := range got {
				if math.Abs(got[i]-want[i]) > g/256/2+1e-9 {
					t.Fatalf("sample %d axis %d = %.4f, want %.4f", k, i, got[i], want[i])
				}
			}
		}
	}
	if k != 800 {
		t.Errorf("read %d samples in 1 s at 800 Hz", k)
	}
	if n := chip.Overruns(); n != 0 {
		t.Errorf("%d overruns", n)
	}
}

// The RMS of the vibration read through the driver matches the signal's
// (harmonics and noise), the figure the agent reports.
func TestADXL345RMS(t *testing.T) {
	vib := chips.Vibration{ShaftHz: 24.75, Harmonics: []float64{2, 0.5}, Noise: 0.2, Seed: 7}
	d, _, clk := newADXL(t, vib.Source(), &adxl345.Opts{Rate: 1600 * physic.Hertz, Range: 4})
	var f adxl345.Frame
	var n, sum, sumsq float64
	for range 200 {
		clk.Advance(10 * time.Millisecond)
		if err := d.ReadFIFO(&f); err != nil {
			t.Fatal(err)
		}
		for _, s := range f.Get() {
			n++
			sum += s.X
			sumsq += s.X * s.X
		}
	}
	rms := math.Sqrt(sumsq/n - (sum/n)*(sum/n))
	want := math.Sqrt(2*2/2.0 + 0.5*0.5/2 + 0.2*0.2)
	if math.Abs(rms-want)/want > 0.03 {
		t.Fatalf("X RMS %.4f m/s², want %.4f", rms, want)
	}
}

func TestADXL345OverrunAndClip(t *testing.T) {
	big := func(float64) [3]float64 { return [3]float64{20 * g, -20 * g, 1.5 * g} }
	d, chip, clk := newADXL(t, big, &adxl345.Opts{Range: 2, TenBit: true, Rate: 800 * physic.Hertz})
	clk.Advance(100 * time.Millisecond) // 80 samples, 32 fit
	var f adxl345.Frame
	if err := d.ReadFIFO(&f); err != nil {
		t.Fatal(err)
	}
	if f.N != adxl345.FIFODepth || chip.Overruns() != 80-adxl345.FIFODepth {
		t.Fatalf("read %d, overruns %d; want %d and %d", f.N, chip.Overruns(), adxl345.FIFODepth, 80-adxl345.FIFODepth)
	}
	s := f.Samples[0]
	if math.Abs(s.X-511*g/256) > 1e-9 || math.Abs(s.Y+512*g/256) > 1e-9 || math.Abs(s.Z-1.5*g) > g/256 {
		t.Fatalf("sample %+v: want X, Y clipped to ±2 g, Z 1.5 g", s)
	}
}

func TestBME280Values(t *testing.T) {
	for _, tc := range []struct {
		env  chips.Env
		opts bme280.Opts
		tol  chips.Env
	}{
		{chips.Env{Temperature: 23.4, Pressure: 98765, Humidity: 55}, bme280.Opts{},
			chips.Env{Temperature: 0.01, Pressure: 3, Humidity: 0.05}},
		{chips.Env{Temperature: -12.5, Pressure: 80000, Humidity: 5}, bme280.Opts{Temperature: 16, Pressure: 16, Humidity: 16},
			chips.Env{Temperature: 0.01, Pressure: 0.5, Humidity: 0.05}},
		{chips.Env{Temperature: 71.2, Pressure: 110000, Humidity: 97}, bme280.Opts{Pressure: 4},
			chips.Env{Temperature: 0.01, Pressure: 1, Humidity: 0.05}},
	} {
		bus := chips.NewBus("emu")
		env := tc.env
		if err := bus.Attach(0x77, chips.NewBME280(chips.BME280Opts{Env: func(float64) chips.Env { return env }})); err != nil {
			t.Fatal(err)
		}
		d, err := bme280.New(bus, bme280.AddrHigh, &tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		var got physic.Env
		if err := d.Sense(&got); err != nil {
			t.Fatal(err)
		}
		c := float64(got.Temperature-physic.ZeroCelsius) / float64(physic.Kelvin)
		p := float64(got.Pressure) / float64(physic.Pascal)
		h := float64(got.Humidity) / float64(physic.PercentRH)
		if math.Abs(c-env.Temperature) > tc.tol.Temperature || math.Abs(p-env.Pressure) > tc.tol.Pressure ||
			math.Abs(h-env.Humidity) > tc.tol.Humidity {
			t.Errorf("%+v with %+v: read %.3f °C %.2f Pa %.3f %%RH", env, tc.opts, c, p, h)
		}
	}
}

func TestADS1115Values(t *testing.T) {
	in := func(float64) [4]float64 { return [4]float64{1.234, 0.5, 0.1, 3.3} }
	bus := chips.NewBus("emu")
	if err := bus.Attach(0x4A, chips.NewADS1115(chips.ADS1115Opts{Inputs: in})); err != nil {
		t.Fatal(err)
	}
	d, err := ads1115.New(bus, ads1115.AddrSDA, &ads1115.Opts{DataRate: 860})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ch   ads1115.Channel
		want float64
	}{
		{ads1115.Channel{Mux: ads1115.AIN0, FullScale: ads1115.FS4096mV}, 1.234},
		{ads1115.Channel{Mux: ads1115.Diff01, FullScale: ads1115.FS1024mV}, 0.734},
		{ads1115.Channel{Mux: ads1115.Diff23, FullScale: ads1115.FS6144mV}, -3.2},
		{ads1115.Channel{Mux: ads1115.AIN2, FullScale: ads1115.FS256mV}, 0.1},
		{ads1115.Channel{Mux: ads1115.AIN3, FullScale: ads1115.FS2048mV}, 2.048 * 32767 / 32768}, // clipped
	} {
		v, err := d.Read(t.Context(), tc.ch)
		if err != nil {
			t.Fatal(err)
		}
		lsb := float64(tc.ch.FullScale) / float64(physic.Volt) / 32768
		if got := float64(v) / float64(physic.Volt); math.Abs(got-tc.want) > lsb {
			t.Errorf("%+v: %.6f V, want %.6f V within %g", tc.ch, got, tc.want, lsb)
		}
	}
}

// A plant's process values come back through the chips and the drivers.
func TestProcessSignals(t *testing.T) {
	pv := chips.Process{VibRMS: 2.8, BearingTemp: 47.3, Current: 13.5, Pressure: 4.2, RPM: 1500}
	sig := chips.ProcessSignals(func(float64) chips.Process { return pv }, chips.ProcessOpts{})
	d, _, clk := newADXL(t, sig.Accel, &adxl345.Opts{Rate: 1600 * physic.Hertz})
	var f adxl345.Frame
	var n, sum, sq float64
	for range 100 {
		clk.Advance(10 * time.Millisecond)
		if err := d.ReadFIFO(&f); err != nil {
			t.Fatal(err)
		}
		for _, s := range f.Get() {
			n, sum, sq = n+1, sum+s.X, sq+s.X*s.X
		}
	}
	rms := math.Sqrt(sq/n - sum*sum/n/n)
	if want := 2 * math.Pi * 25 * 2.8 / 1000; math.Abs(rms-want)/want > 0.05 {
		t.Errorf("X acceleration RMS %.4f m/s², want %.4f (2.8 mm/s at 25 Hz)", rms, want)
	}

	bus := chips.NewBus("emu")
	if err := bus.Attach(0x76, chips.NewBME280(chips.BME280Opts{Env: sig.Env})); err != nil {
		t.Fatal(err)
	}
	if err := bus.Attach(0x48, chips.NewADS1115(chips.ADS1115Opts{Inputs: sig.Inputs})); err != nil {
		t.Fatal(err)
	}
	b, err := bme280.New(bus, bme280.AddrLow, nil)
	if err != nil {
		t.Fatal(err)
	}
	var env physic.Env
	if err := b.Sense(&env); err != nil {
		t.Fatal(err)
	}
	if c := float64(env.Temperature-physic.ZeroCelsius) / float64(physic.Kelvin); math.Abs(c-47.3) > 0.01 {
		t.Errorf("bearing temperature %.3f °C, want 47.3", c)
	}
	a, err := ads1115.New(bus, ads1115.AddrGND, &ads1115.Opts{DataRate: 860})
	if err != nil {
		t.Fatal(err)
	}
	v, err := a.Read(t.Context(), ads1115.Channel{Mux: ads1115.AIN0, FullScale: ads1115.FS1024mV})
	if err != nil {
		t.Fatal(err)
	}
	if amps := float64(ads1115.ClampCurrent(v, 30)) / float64(physic.Ampere); math.Abs(amps-13.5) > 0.001 {
		t.Errorf("current %.4f A, want 13.5", amps)
	}
	v, err = a.Read(t.Context(), ads1115.Channel{Mux: ads1115.AIN1, FullScale: ads1115.FS4096mV})
	if err != nil {
		t.Fatal(err)
	}
	bar, err := ads1115.Loop{Shunt: 250 * physic.Ohm, Hi: 10}.Value(v)
	if err != nil || math.Abs(bar-4.2) > 0.001 {
		t.Errorf("pressure %.4f bar, %v; want 4.2", bar, err)
	}
}
