package chips_test

import (
	"math"
	"testing"
	"time"

	"periph.io/x/conn/v3/physic"

	"millwright/agent/sensors/adxl345"
	"millwright/firmware-sim/chips"
	"millwright/firmware-sim/plant"
	"millwright/internal/conf"
)

// ramp is a stream whose sample k is k LSB of the ADXL345's full
// resolution, wrapping at ±100 LSB.
type ramp struct{ k int }

const lsb = g / 256

func (r *ramp) SampleRate() float64 { return 3200 }
func (r *ramp) Read(p []float64) {
	for i := range p {
		p[i] = float64(r.k%201-100) * lsb
		r.k++
	}
}

// Every sample of a stream passes through the FIFO to the agent's driver,
// in order, when the chip runs at the stream's rate.
func TestStreamSignalPlaysEverySample(t *testing.T) {
	src := chips.StreamSignal(&ramp{}, chips.StreamOpts{Cross: 0.5})
	d, chip, clk := newADXL(t, src, &adxl345.Opts{Rate: 3200 * physic.Hertz})
	var f adxl345.Frame
	want := &ramp{} // the chip's first sample is the stream's first
	buf := make([]float64, 1)
	n := 0
	for range 100 {
		clk.Advance(5 * time.Millisecond)
		if err := d.ReadFIFO(&f); err != nil {
			t.Fatal(err)
		}
		for _, s := range f.Get() {
			want.Read(buf)
			if math.Abs(s.X-buf[0]) > lsb/2 || math.Abs(s.Y-buf[0]/2) > lsb || math.Abs(s.Z-g-buf[0]/2) > lsb {
				t.Fatalf("sample %d = %+v, want X %.4f", n, s, buf[0])
			}
			n++
		}
	}
	if n != 1600 || chip.Overruns() != 0 {
		t.Fatalf("%d samples in 0.5 s at 3200 Hz, %d overruns", n, chip.Overruns())
	}
}

// The agent's driver reads a simulated machine's vibration over the chip
// protocol: the samples are the plant's, and a worn bearing's impacts are
// in them.
func TestPlantVibrationThroughADXL345(t *testing.T) {
	sc := plant.Scenario{Seed: 5, Gateways: []plant.Gateway{{ID: "g", Machines: []plant.Machine{{ID: "m", Type: plant.TypeMotor,
		Faults: []plant.Fault{{Kind: plant.FaultBearingWear, Ramp: conf.Duration(time.Minute), Severity: 0.15}}}}}}}
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	v, err := plant.NewVibrationSource(sc, "m", t0)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := plant.NewVibrationSource(sc, "m", t0)
	if err != nil {
		t.Fatal(err)
	}
	v.Skip(2 * time.Minute)
	ref.Skip(2 * time.Minute)
	d, chip, clk := newADXL(t, chips.StreamSignal(v, chips.StreamOpts{}), &adxl345.Opts{Rate: 3200 * physic.Hertz})
	var f adxl345.Frame
	want := make([]float64, 1)
	var xs []float64
	for range 200 {
		clk.Advance(5 * time.Millisecond)
		if err := d.ReadFIFO(&f); err != nil {
			t.Fatal(err)
		}
		for _, s := range f.Get() {
			ref.Read(want)
			if math.Abs(s.X-want[0]) > lsb/2+1e-9 {
				t.Fatalf("sample %d: X = %.4f, the plant's %.4f", len(xs), s.X, want[0])
			}
			xs = append(xs, s.X)
		}
	}
	if len(xs) != 3200 || chip.Overruns() != 0 {
		t.Fatalf("%d samples in 1 s, %d overruns", len(xs), chip.Overruns())
	}
	var m2, m4 float64
	for _, x := range xs {
		m2 += x * x
		m4 += x * x * x * x
	}
	if k := m4 * float64(len(xs)) / (m2 * m2); k < 5 {
		t.Errorf("kurtosis of the driver's samples %.2f: the bearing's impacts should show (> 5)", k)
	}
}

// A chip slower than the stream takes every other sample (no filter: it
// aliases, as a misconfigured real one would).
func TestStreamSignalDecimates(t *testing.T) {
	src := chips.StreamSignal(&ramp{}, chips.StreamOpts{})
	d, _, clk := newADXL(t, src, &adxl345.Opts{Rate: 1600 * physic.Hertz})
	var f adxl345.Frame
	want := &ramp{}
	buf := make([]float64, 2)
	n := 0
	for range 20 {
		clk.Advance(10 * time.Millisecond)
		if err := d.ReadFIFO(&f); err != nil {
			t.Fatal(err)
		}
		for _, s := range f.Get() {
			want.Read(buf)
			if math.Abs(s.X-buf[0]) > lsb/2 {
				t.Fatalf("sample %d: X = %.4f, want the stream's sample %d, %.4f", n, s.X, 2*n, buf[0])
			}
			n++
		}
	}
	if n != 320 {
		t.Fatalf("%d samples in 0.2 s at 1600 Hz", n)
	}
}
