package plant_test

import (
	"math"
	"slices"
	"testing"
	"time"

	"millwright/firmware-sim/plant"
	"millwright/internal/conf"
)

// TestBearingDefects checks the defect frequencies against the table of
// the Case Western Reserve bearing data centre for its SKF 6205-2RS JEM
// (9 balls, 7.94 mm, pitch 39.04 mm), as multiples of the shaft speed.
func TestBearingDefects(t *testing.T) {
	b := plant.Bearing{Balls: 9, BallDiameter: 7.94, PitchDiameter: 39.04}
	d := b.Defects(1)
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"BPFI", d.BPFI, 5.4152}, {"BPFO", d.BPFO, 3.5848}, {"FTF", d.FTF, 0.39828}, {"2×BSF", 2 * d.BSF, 4.7135}} {
		if math.Abs(c.got-c.want) > 0.002*c.want {
			t.Errorf("%s = %.4f × shaft, published %.4f", c.name, c.got, c.want)
		}
	}
	// A contact angle moves the frequencies apart less.
	b.ContactAngle = 40
	if a := b.Defects(1); !(a.BPFO > d.BPFO && a.BPFI < d.BPFI) {
		t.Errorf("contact angle 40°: %+v vs %+v", a, d)
	}
}

// amplitude is the peak amplitude of the component of x at f (Hz), by a
// Goertzel filter on the Hann-windowed signal.
func amplitude(x []float64, fs, f float64) float64 {
	n := float64(len(x))
	c := 2 * math.Cos(2*math.Pi*f/fs)
	var s1, s2 float64
	for i, v := range x {
		w := 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/n)
		s0 := v*w + c*s1 - s2
		s2, s1 = s1, s0
	}
	return math.Sqrt(max(0, s1*s1+s2*s2-c*s1*s2)) * 4 / n // /0.5 for the window's gain
}

// prominence is the amplitude at f over the median amplitude around it
// (0.6f to 1.4f), away from f and from the other known components.
func prominence(x []float64, fs, f float64, known []float64) float64 {
	var floor []float64
	for k := range 81 {
		g := f * (0.6 + 0.01*float64(k))
		near := math.Abs(g-f) < 3
		for _, o := range known {
			near = near || math.Abs(g-o) < 3
		}
		if !near {
			floor = append(floor, amplitude(x, fs, g))
		}
	}
	slices.Sort(floor)
	return amplitude(x, fs, f) / floor[len(floor)/2]
}

// envelope high-passes x above fs/8 (first differences, twice), rectifies
// it and removes the mean: the signal whose spectrum shows bearing
// impacts.
func envelope(x []float64) []float64 {
	out := make([]float64, len(x))
	mean := 0.0
	for i := 2; i < len(x); i++ {
		out[i] = math.Abs(x[i] - 2*x[i-1] + x[i-2])
		mean += out[i]
	}
	mean /= float64(len(x) - 2)
	out[0], out[1] = mean, mean
	for i := range out {
		out[i] -= mean
	}
	return out
}

func source(t *testing.T, sc plant.Scenario, id string, skip time.Duration, n int) ([]float64, plant.Frequencies) {
	t.Helper()
	v, err := plant.NewVibrationSource(sc, id, t0)
	if err != nil {
		t.Fatal(err)
	}
	v.Skip(skip)
	x := make([]float64, n)
	v.Read(x)
	return x, v.Frequencies()
}

func oneMachine(typ string, faults ...plant.Fault) plant.Scenario {
	return plant.Scenario{Name: typ, Seed: 11, Gateways: []plant.Gateway{{ID: "g", Machines: []plant.Machine{{ID: "m", Type: typ, LoadSwing: 0.01, Faults: faults}}}}}
}

// TestSpectrumPeaks: the spectrum of the raw vibration has its peaks at
// the shaft harmonics and, for a conveyor, at each gear mesh.
func TestSpectrumPeaks(t *testing.T) {
	const fs = plant.DefaultSampleRate
	for _, typ := range plant.MachineTypes() {
		t.Run(typ, func(t *testing.T) {
			x, fr := source(t, oneMachine(typ), "m", 10*time.Minute, 8192)
			known := []float64{fr.Shaft, 2 * fr.Shaft, 3 * fr.Shaft}
			known = append(known, fr.Mesh...)
			for _, m := range fr.Mesh {
				known = append(known, m-fr.Pulley, m+fr.Pulley)
			}
			for i, f := range known[:3+len(fr.Mesh)] {
				if p := prominence(x, fs, f, known); p < 8 {
					t.Errorf("component %d at %.2f Hz: %.1f× the floor, want a peak (8×)", i, f, p)
				}
			}
			if typ == plant.TypeConveyor {
				if len(fr.Mesh) != 2 || math.Abs(fr.Mesh[0]-17*fr.Shaft) > 1e-9 || math.Abs(fr.Mesh[1]-19*fr.Shaft*17/71) > 1e-9 {
					t.Errorf("mesh %v at shaft %.2f Hz: want 17× and 19×17/71×", fr.Mesh, fr.Shaft)
				}
				if fr.Pulley <= 0 || fr.Idler <= fr.Pulley || fr.BeltPass <= 0 || fr.BeltPass >= fr.Pulley {
					t.Errorf("belt frequencies %+v", fr)
				}
			}
		})
	}
}

// TestFaultSignatures: each fault raises its own part of the spectrum.
func TestFaultSignatures(t *testing.T) {
	const fs = plant.DefaultSampleRate
	fault := func(kind string) plant.Fault {
		return plant.Fault{Kind: kind, Onset: conf.Duration(time.Minute), Ramp: conf.Duration(5 * time.Minute)}
	}
	hfEnergy := func(x []float64) float64 {
		e := 0.0
		for _, f := range []float64{1300, 1400, 1500} {
			a := amplitude(x, fs, f)
			e += a * a
		}
		return e
	}
	tests := []struct {
		kind, typ string
		measure   func(x []float64, fr plant.Frequencies) float64
		factor    float64
		what      string
	}{
		{plant.FaultImbalance, plant.TypeMotor, func(x []float64, fr plant.Frequencies) float64 { return amplitude(x, fs, fr.Shaft) }, 3, "1x"},
		{plant.FaultMisalignment, plant.TypeMotor, func(x []float64, fr plant.Frequencies) float64 {
			return amplitude(x, fs, 2*fr.Shaft) / amplitude(x, fs, fr.Shaft)
		}, 2, "2x relative to 1x"},
		{plant.FaultCavitation, plant.TypePump, func(x []float64, _ plant.Frequencies) float64 { return hfEnergy(x) }, 5, "high-frequency energy"},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			hx, hfr := source(t, oneMachine(tt.typ), "m", 10*time.Minute, 8192)
			fx, ffr := source(t, oneMachine(tt.typ, fault(tt.kind)), "m", 10*time.Minute, 8192)
			h, f := tt.measure(hx, hfr), tt.measure(fx, ffr)
			if f < tt.factor*h {
				t.Errorf("%s: %s %.4g failed vs %.4g healthy, want ×%g", tt.kind, tt.what, f, h, tt.factor)
			}
		})
	}
}

// TestBearingWearProgression: bearing wear over two days shows as impacts
// at the labelled defect frequency, the kurtosis and the defect-band
// energy rising with the progression.
func TestBearingWearProgression(t *testing.T) {
	const fs = plant.DefaultSampleRate
	for _, loc := range []string{plant.LocationOuterRace, plant.LocationInnerRace, plant.LocationBall} {
		t.Run(loc, func(t *testing.T) {
			sc := oneMachine(plant.TypeMotor, plant.Fault{Kind: plant.FaultBearingWear, Location: loc,
				Onset: conf.Duration(time.Hour), Ramp: conf.Duration(48 * time.Hour)})
			g, err := plant.NewGenerator(sc, t0)
			if err != nil {
				t.Fatal(err)
			}
			l := g.Labels()[0]
			if l.Location != loc || l.DefectHz <= 0 {
				t.Fatalf("label %+v: want the location and its frequency", l)
			}
			sc.Rate = 0.1 // the physics' ticks; the waveform is at 3200 Hz regardless
			v, err := plant.NewVibrationSource(sc, "m", t0)
			if err != nil {
				t.Fatal(err)
			}
			x := make([]float64, 8192)
			var prevK, prevD float64
			for i, at := range []time.Duration{30 * time.Minute, 25 * time.Hour, 37 * time.Hour, 49 * time.Hour} {
				v.Skip(at - v.Time())
				v.Read(x)
				fr := v.Frequencies()
				f := plant.AnalyzeFrame(x, fs, fr.Defects)
				t.Logf("%v: kurtosis %.2f, defect energy %.3g, velocity %.2f mm/s", at, f.Kurtosis, f.Defect, f.VelocityRMS)
				if i == 0 && f.Kurtosis > 3.5 {
					t.Errorf("healthy kurtosis %.2f, want near 3 or below", f.Kurtosis)
				}
				if i > 0 && (f.Kurtosis <= prevK || f.Defect <= 2*prevD) {
					t.Errorf("%v: kurtosis %.2f (before %.2f), defect energy %.3g (before %.3g): want both rising", at, f.Kurtosis, prevK, f.Defect, prevD)
				}
				prevK, prevD = f.Kurtosis, f.Defect
				if i == 3 {
					// The impacts repeat at the labelled frequency (at the
					// mean load; the speed moves a little with the load).
					env := envelope(x)
					if p := prominence(env, fs, l.DefectHz*fr.Shaft/((1500-40*0.7)/60), nil); p < 5 {
						t.Errorf("envelope at the label's %.2f Hz: %.1f× the floor, want a peak", l.DefectHz, p)
					}
				}
			}
			if prevK < 6 {
				t.Errorf("failed bearing kurtosis %.2f, want impulsive (> 6)", prevK)
			}
		})
	}
}

// framesScenario is one motor with frames on, developing bearing wear
// over 30 minutes from 10 minutes in.
func framesScenario(frames bool) plant.Scenario {
	sc := oneMachine(plant.TypeMotor, plant.Fault{Kind: plant.FaultBearingWear, Onset: conf.Duration(10 * time.Minute), Ramp: conf.Duration(30 * time.Minute)})
	sc.Rate = 0.5
	sc.Vibration.Frames = frames
	return sc
}

// TestFrameFeatures: with frames on, the published vibration comes from
// the frames: vib_rms agrees with the scalar model, and the kurtosis and
// defect energy rise as the bearing wears.
func TestFrameFeatures(t *testing.T) {
	d := 40 * time.Minute
	on, _, step := run(t, framesScenario(true), d)
	off, _, _ := run(t, framesScenario(false), d)
	for _, s := range []string{plant.SensorVibPeak, plant.SensorVibKurtosis, plant.SensorVibDefect} {
		if _, _, _, missing := stats(on["m"][s], 0, 10); missing != 0 {
			t.Fatalf("%s missing with frames on", s)
		}
		if _, _, _, missing := stats(off["m"][s], 0, 10); missing != 1 {
			t.Fatalf("%s published with frames off", s)
		}
	}
	const win = 3 * time.Minute
	vib := func(s map[string]series, end time.Duration) float64 {
		return meanOver(s["m"][plant.SensorVibration], step, end-win, end)
	}
	if f, s := vib(on, 10*time.Minute), vib(off, 10*time.Minute); math.Abs(f-s) > 0.1*s {
		t.Errorf("healthy vib_rms from frames %.3f mm/s, scalar model %.3f: want within 10%%", f, s)
	}
	if f, s := vib(on, d), vib(off, d); math.Abs(f-s) > 0.15*s {
		t.Errorf("failed vib_rms from frames %.3f mm/s, scalar model %.3f: want within 15%%", f, s)
	}
	var prevK, prevD float64
	for i, end := range []time.Duration{10 * time.Minute, 25 * time.Minute, 33 * time.Minute, 40 * time.Minute} {
		k := meanOver(on["m"][plant.SensorVibKurtosis], step, end-win, end)
		dd := meanOver(on["m"][plant.SensorVibDefect], step, end-win, end)
		t.Logf("%v: kurtosis %.2f, defect %.3g", end, k, dd)
		if i > 0 && (k <= prevK || dd <= prevD) {
			t.Errorf("%v: kurtosis %.2f (before %.2f), defect %.3g (before %.3g): want rising", end, k, prevK, dd, prevD)
		}
		prevK, prevD = k, dd
	}
}

func TestFramesDeterministicAndAllocationFree(t *testing.T) {
	a := encodeTicks(t, framesScenario(true), 200, plant.FormatCBOR)
	b := encodeTicks(t, framesScenario(true), 200, plant.FormatCBOR)
	if string(a) != string(b) {
		t.Fatal("frames: same seed, different bytes")
	}
	g, err := plant.NewGenerator(framesScenario(true), t0)
	if err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(50, func() { g.Next() }); n != 0 {
		t.Fatalf("a tick with frames allocates %v times", n)
	}
}

// BenchmarkWaveform is the cost of raw vibration per sample: a conveyor
// (shaft, two meshes) with a worn bearing (impacts).
func BenchmarkWaveform(b *testing.B) {
	sc := oneMachine(plant.TypeConveyor, plant.Fault{Kind: plant.FaultBearingWear, Ramp: conf.Duration(time.Minute)})
	v, err := plant.NewVibrationSource(sc, "m", t0)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]float64, 1024)
	b.ReportAllocs()
	for b.Loop() {
		v.Read(buf)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(buf)), "ns/sample")
}

// BenchmarkNextFrames is one tick of the demo plant with frames on: six
// frames of 1024 samples generated and analysed (FFT, envelope).
func BenchmarkNextFrames(b *testing.B) {
	sc := plant.Demo()
	sc.Vibration.Frames = true
	g, err := plant.NewGenerator(sc, t0)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		g.Next()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*6*plant.DefaultFrameLen), "ns/sample")
}

// TestFramesAgreeWithScalar: for every machine type, healthy and with
// each of its vibration faults failed, the vib_rms computed from the
// frames is the scalar model's.
func TestFramesAgreeWithScalar(t *testing.T) {
	type tc struct {
		typ   string
		fault string
	}
	var cases []tc
	for _, typ := range plant.MachineTypes() {
		cases = append(cases, tc{typ, ""}, tc{typ, plant.FaultImbalance}, tc{typ, plant.FaultMisalignment}, tc{typ, plant.FaultBearingWear})
	}
	cases = append(cases, tc{plant.TypePump, plant.FaultCavitation}, tc{plant.TypeConveyor, plant.FaultBeltSlip}, tc{plant.TypeConveyor, plant.FaultOverload})
	for _, c := range cases {
		t.Run(c.typ+"/"+c.fault, func(t *testing.T) {
			sc := oneMachine(c.typ)
			if c.fault != "" {
				sc = oneMachine(c.typ, plant.Fault{Kind: c.fault, Ramp: conf.Duration(time.Minute)})
			}
			sc.Rate = 0.5
			off, _, step := run(t, sc, 8*time.Minute)
			sc.Vibration.Frames = true
			on, _, _ := run(t, sc, 8*time.Minute)
			f := meanOver(on["m"][plant.SensorVibration], step, 2*time.Minute, 8*time.Minute)
			s := meanOver(off["m"][plant.SensorVibration], step, 2*time.Minute, 8*time.Minute)
			if math.Abs(f-s) > 0.12*s {
				t.Errorf("vib_rms from frames %.3f mm/s, scalar model %.3f", f, s)
			}
		})
	}
}

// TestVibrationSourceIsTheGeneratorsMachine: the physics behind a
// vibration source is the same machine's in a Generator, reading for
// reading, normal life and faults included.
func TestVibrationSourceIsTheGeneratorsMachine(t *testing.T) {
	sc := plant.Bench()
	sc.Vibration.Frames = false // the same physics, faster
	for _, id := range []string{"conv-21", "pump-11"} {
		v, err := plant.NewVibrationSource(sc, id, t0)
		if err != nil {
			t.Fatal(err)
		}
		v.Skip(50 * time.Minute)
		g, err := plant.NewGenerator(sc, t0)
		if err != nil {
			t.Fatal(err)
		}
		var want map[string]float64
		for range int(50*time.Minute/g.Interval()) + 1 {
			for _, fr := range g.Next() {
				if fr.Telemetry.Machine == id {
					want = map[string]float64{}
					for _, r := range fr.Telemetry.Readings {
						want[r.Sensor] = r.Value
					}
				}
			}
		}
		for _, s := range []string{plant.SensorTemperature, plant.SensorCurrent} {
			if got := plant.SourceReadingForTest(v, s); got != want[s] {
				t.Errorf("%s %s: source's physics %g, generator %g", id, s, got, want[s])
			}
		}
	}
	if _, err := plant.NewVibrationSource(sc, "nope", t0); err == nil {
		t.Error("a source for an unknown machine")
	}
}
