package plant_test

import (
	"math"
	"testing"
	"time"

	"millwright/firmware-sim/plant"
	"millwright/internal/conf"
)

// series is one machine's readings by sensor, indexed by tick; a missing
// reading is NaN.
type series map[string][]float64

func run(t *testing.T, sc plant.Scenario, d time.Duration) (map[string]series, []plant.Label, time.Duration) {
	t.Helper()
	g, err := plant.NewGenerator(sc, t0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]series{}
	n := int(d / g.Interval())
	for tick := range n {
		for _, fr := range g.Next() {
			s := out[fr.Telemetry.Machine]
			if s == nil {
				s = series{}
				out[fr.Telemetry.Machine] = s
			}
			for _, name := range allSensors {
				if len(s[name]) == tick {
					s[name] = append(s[name], math.NaN())
				}
			}
			for _, r := range fr.Telemetry.Readings {
				s[r.Sensor][tick] = r.Value
			}
		}
	}
	return out, g.Labels(), g.Interval()
}

// stats of xs over ticks [from, to), skipping NaN: mean, std, max, and the
// fraction missing.
func stats(xs []float64, from, to int) (mean, std, max, missing float64) {
	var n, s, ss float64
	max = math.Inf(-1)
	for _, x := range xs[from:to] {
		if math.IsNaN(x) {
			missing++
			continue
		}
		n++
		s += x
		ss += x * x
		max = math.Max(max, x)
	}
	mean = s / n
	return mean, math.Sqrt(math.Max(0, ss/n-mean*mean)), max, missing / float64(to-from)
}

func TestDemoFaultIsWhereLabelsSay(t *testing.T) {
	sc := plant.Demo()
	data, labels, step := run(t, sc, 4*time.Minute)
	if len(labels) != 1 {
		t.Fatalf("demo has %d labels, want 1", len(labels))
	}
	l := labels[0]
	if l.Gateway != "gw1" || l.Machine != sc.Gateways[0].Machines[1].ID || l.Kind != plant.FaultBearingWear {
		t.Fatalf("label %+v, want bearing wear on gw1's second machine", l)
	}
	tick := func(at time.Time) int { return int(at.Sub(t0) / step) }
	onset, failure := tick(l.Onset), tick(l.Failure)
	if onset < 20 || failure <= onset {
		t.Fatalf("label times: onset tick %d, failure tick %d", onset, failure)
	}
	lateFrom := failure - int(20*time.Second/step)
	for m, s := range data {
		pre, _, _, _ := stats(s[plant.SensorVibration], onset/2, onset)
		late, _, _, _ := stats(s[plant.SensorVibration], lateFrom, failure)
		ratio := late / pre
		if m == l.Machine {
			if ratio < 3 {
				t.Errorf("%s: vibration %.2f before onset, %.2f before failure: ratio %.2f, want > 3", m, pre, late, ratio)
			}
			tPre, _, _, _ := stats(s[plant.SensorTemperature], onset-10, onset)
			tLate, _, _, _ := stats(s[plant.SensorTemperature], failure-10, failure)
			if tLate-tPre < 12 {
				t.Errorf("%s: temperature rose %.1f °C from onset to failure, want > 12", m, tLate-tPre)
			}
			continue
		}
		if ratio < 0.8 || ratio > 1.25 {
			t.Errorf("%s (healthy): vibration ratio %.2f over the fault window, want about 1", m, ratio)
		}
	}
}

// TestFaultKinds gives one machine each fault and checks that the labelled
// window shows the fault's signature on the right sensor, and that before
// onset the machine is exactly what it is without the fault.
func TestFaultKinds(t *testing.T) {
	type sig struct{ preMean, lateMean, preStd, lateStd, lateMax, lateMissing float64 }
	tests := []struct {
		kind, typ, sensor string
		check             func(s sig) bool
		want              string
	}{
		{plant.FaultBearingWear, plant.TypeMotor, plant.SensorVibration, func(s sig) bool { return s.lateMean > 3*s.preMean }, "vibration ×3"},
		{plant.FaultOverheating, plant.TypePump, plant.SensorTemperature, func(s sig) bool { return s.lateMean > s.preMean+12 }, "temperature +12 °C"},
		{plant.FaultMisalignment, plant.TypeMotor, plant.SensorVibration, func(s sig) bool { return s.lateMean > 2*s.preMean }, "vibration ×2"},
		{plant.FaultImbalance, plant.TypeCompressor, plant.SensorVibration, func(s sig) bool { return s.lateMean > 2*s.preMean }, "vibration ×2"},
		{plant.FaultCavitation, plant.TypePump, plant.SensorPressure, func(s sig) bool { return s.lateStd > 2.5*s.preStd }, "pressure noise ×2.5"},
		{plant.FaultCavitation, plant.TypePump, plant.SensorFlow, func(s sig) bool { return s.lateMean < 0.8*s.preMean }, "flow −20%"},
		{plant.FaultClogging, plant.TypePump, plant.SensorFlow, func(s sig) bool { return s.lateMean < 0.6*s.preMean }, "flow −40%"},
		{plant.FaultClogging, plant.TypePump, plant.SensorPressure, func(s sig) bool { return s.lateMean > s.preMean+0.7 }, "pressure +0.7 bar"},
		{plant.FaultSpike, plant.TypeMotor, plant.SensorVibration, func(s sig) bool { return s.lateMax > 3*s.preMean }, "spikes over ×3"},
		{plant.FaultStuck, plant.TypeMotor, plant.SensorTemperature, func(s sig) bool { return s.lateStd < 1e-4 && s.preStd > 0.05 }, "a constant value"},
		{plant.FaultDropout, plant.TypeCompressor, plant.SensorVibration, func(s sig) bool { return s.lateMissing > 0.6 }, "most readings missing"},
		{plant.FaultSensorDrift, plant.TypeMotor, plant.SensorTemperature, func(s sig) bool { return s.lateMean > s.preMean+5 }, "an offset over +5 °C"},
		{plant.FaultBearingWear, plant.TypeConveyor, plant.SensorVibration, func(s sig) bool { return s.lateMean > 3*s.preMean }, "vibration ×3"},
		{plant.FaultMisalignment, plant.TypeConveyor, plant.SensorVibration, func(s sig) bool { return s.lateMean > 2*s.preMean }, "vibration ×2"},
		{plant.FaultBeltSlip, plant.TypeConveyor, plant.SensorBeltSpeed, func(s sig) bool { return s.lateMean < 0.85*s.preMean }, "belt speed −15%"},
		{plant.FaultBeltSlip, plant.TypeConveyor, plant.SensorCurrent, func(s sig) bool { return s.lateStd > 3*s.preStd }, "current hunting (std ×3)"},
		{plant.FaultOverload, plant.TypeConveyor, plant.SensorCurrent, func(s sig) bool { return s.lateMean > 1.3*s.preMean }, "current +30%"},
		{plant.FaultOverload, plant.TypeConveyor, plant.SensorSpeed, func(s sig) bool { return s.lateMean < s.preMean-20 }, "speed −20 rpm (slip)"},
		{plant.FaultOverload, plant.TypeConveyor, plant.SensorTemperature, func(s sig) bool { return s.lateMean > s.preMean+8 }, "temperature +8 °C (thermal lag)"},
	}
	const onset, ramp = 10 * time.Minute, 2 * time.Minute
	for _, tt := range tests {
		t.Run(tt.kind+"/"+tt.typ+"/"+tt.sensor, func(t *testing.T) {
			healthy := plant.Scenario{Seed: 7, Gateways: []plant.Gateway{{ID: "g", Machines: []plant.Machine{
				{ID: "m", Type: tt.typ}, {ID: "other", Type: tt.typ},
			}}}}
			faulty := healthy
			faulty.Gateways = []plant.Gateway{{ID: "g", Machines: []plant.Machine{
				{ID: "m", Type: tt.typ, Faults: []plant.Fault{{Kind: tt.kind, Onset: conf.Duration(onset), Ramp: conf.Duration(ramp)}}},
				{ID: "other", Type: tt.typ},
			}}}
			d := onset + ramp + 30*time.Second
			hData, _, _ := run(t, healthy, d)
			fData, labels, step := run(t, faulty, d)
			if len(labels) != 1 || labels[0].Machine != "m" || labels[0].Kind != tt.kind {
				t.Fatalf("labels %+v", labels)
			}
			on, fail := int(labels[0].Onset.Sub(t0)/step), int(labels[0].Failure.Sub(t0)/step)
			if on != int(onset/step) || fail != int((onset+ramp)/step) {
				t.Fatalf("label ticks %d..%d, want %d..%d", on, fail, onset/step, (onset+ramp)/step)
			}
			for sensor, xs := range fData["m"] {
				for i := range on {
					if h := hData["m"][sensor][i]; xs[i] != h && !(math.IsNaN(h) && math.IsNaN(xs[i])) {
						t.Fatalf("%s tick %d before onset: %g with the fault, %g without", sensor, i, xs[i], h)
					}
				}
			}
			for sensor, xs := range fData["other"] {
				for i, x := range xs {
					if h := hData["other"][sensor][i]; x != h && !(math.IsNaN(h) && math.IsNaN(x)) {
						t.Fatalf("unaffected machine changed: %s tick %d: %g vs %g", sensor, i, x, h)
					}
				}
			}
			xs := fData["m"][tt.sensor]
			var s sig
			s.preMean, s.preStd, _, _ = stats(xs, on-int(time.Minute/step), on)
			s.lateMean, s.lateStd, s.lateMax, s.lateMissing = stats(xs, fail-int(20*time.Second/step), fail+int(20*time.Second/step))
			if !tt.check(s) {
				t.Errorf("%s on %s: want %s; got %+v", tt.kind, tt.sensor, tt.want, s)
			}
		})
	}
}

func TestRepairEndsFault(t *testing.T) {
	sc := plant.Scenario{Seed: 3, Gateways: []plant.Gateway{{ID: "g", Machines: []plant.Machine{
		{ID: "m", Type: plant.TypeMotor, Faults: []plant.Fault{{Kind: plant.FaultBearingWear,
			Onset: conf.Duration(time.Minute), Ramp: conf.Duration(time.Minute), Repair: conf.Duration(time.Minute)}}},
	}}}}
	data, labels, step := run(t, sc, 6*time.Minute)
	l := labels[0]
	if l.Repair == nil || len(l.Windows) != 2 || l.Windows[1].End == nil || !l.Windows[1].End.Equal(*l.Repair) {
		t.Fatalf("label %+v: want a failed window ending at the repair", l)
	}
	vib := data["m"][plant.SensorVibration]
	pre, _, _, _ := stats(vib, 0, int(time.Minute/step))
	failed, _, _, _ := stats(vib, int(2*time.Minute/step), int(3*time.Minute/step))
	after, _, _, _ := stats(vib, int(4*time.Minute/step), int(6*time.Minute/step))
	if failed < 3*pre || after > 1.3*pre {
		t.Fatalf("vibration before %.2f, failed %.2f, after repair %.2f", pre, failed, after)
	}
}

var allSensors = []string{plant.SensorVibration, plant.SensorTemperature, plant.SensorCurrent, plant.SensorPressure, plant.SensorFlow, plant.SensorSpeed,
	plant.SensorBeltSpeed, plant.SensorVibPeak, plant.SensorVibKurtosis, plant.SensorVibDefect, plant.SensorAmbient}
