package plantbench_test

import (
	"bytes"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"millwright/firmware-sim/plant"
	"millwright/models/catalog"
	"millwright/models/plantbench"
)

// The targets of the issue, for the default champion.
const (
	// demoMaxDelay: the demo's bearing wear must be flagged this soon
	// after onset.
	demoMaxDelay = 40 * time.Second
	// maxFalsePerWeek: false alarms per machine-week on normal life.
	maxFalsePerWeek = 1.0
)

var start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// champion is the agent's default champion as plantbench runs it.
func champion() plantbench.Config {
	return plantbench.Config{
		New:    plantbench.Kind(catalog.Default, catalog.New),
		Policy: plantbench.Learn,
		Alert:  plantbench.RecommendedAlert(),
	}
}

// healthy is the demo plant with every fault removed.
func healthy(seed uint64, rate float64) plant.Scenario {
	sc := plant.Demo()
	sc.Name = "demo, healthy"
	sc.Seed, sc.Rate = seed, rate
	for g := range sc.Gateways {
		for m := range sc.Gateways[g].Machines {
			sc.Gateways[g].Machines[m].Faults = nil
		}
	}
	return sc
}

func run(t *testing.T, name string, sc plant.Scenario, d time.Duration, cfg plantbench.Config) plantbench.Result {
	t.Helper()
	r, err := plantbench.Run(sc, start, d, cfg)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var b bytes.Buffer
	if err := plantbench.WriteTable(&b, name, r); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + b.String())
	return r
}

// TestDemo: the demo at 5 Hz (the agent's 600-vector warm-up is two
// minutes), bearing wear on gw1/motor-1 starting during the warm-up (the
// demo's 60 s) and after it.
func TestDemo(t *testing.T) {
	for _, onset := range []time.Duration{60 * time.Second, 5 * time.Minute} {
		t.Run(onset.String(), func(t *testing.T) {
			sc := plant.DemoWithOnset(onset)
			sc.Rate = 5
			r := run(t, "demo 5 Hz, onset "+onset.String(), sc, onset+20*time.Minute, champion())
			if len(r.Faults) != 1 {
				t.Fatalf("%d faults, want the demo's one", len(r.Faults))
			}
			f := r.Faults[0]
			if !f.Detected || f.Delay > demoMaxDelay {
				t.Errorf("%s/%s %s: detected %v after %v, want within %v of onset", f.Gateway, f.Machine, f.Kind, f.Detected, f.Delay, demoMaxDelay)
			}
			for _, m := range r.Machines {
				if m.FalseAlarms > 0 {
					t.Errorf("%s/%s: %d false alarms in %v", m.Gateway, m.Machine, m.FalseAlarms, r.Duration)
				}
			}
		})
	}
}

// physical are the faults that change the machine's physics, as opposed
// to one sensor's report.
var physical = map[string]bool{
	"bearing-wear": true, "overheating": true, "misalignment": true,
	"imbalance": true, "cavitation": true, "clogging": true,
}

// TestRealistic runs firmware-sim's realistic scenario (2 Hz; its network
// is not simulated here) with its own seed and seven others. Every
// progressive physical fault must be flagged before failure, unless the
// machine is still in alert for an earlier fault (masked); sensor faults
// are reported only.
func TestRealistic(t *testing.T) {
	sc, err := plant.LoadScenario(filepath.Join("..", "..", "firmware-sim", "testdata", "scenarios", "realistic.yaml"))
	if err != nil {
		t.Fatalf("realistic scenario (firmware-sim/testdata): %v", err)
	}
	seeds := []uint64{sc.Seed, 40, 41, 43, 44, 45, 46, 47}
	if quick() {
		seeds = seeds[:3]
	}
	for i, seed := range seeds {
		sc.Seed = seed
		var r plantbench.Result
		if i == 0 {
			r = run(t, "realistic", sc, 40*time.Minute, champion())
		} else if r, err = plantbench.Run(sc, start, 40*time.Minute, champion()); err != nil {
			t.Fatal(err)
		}
		var missed []string
		detected, masked, falseAlarms := 0, 0, 0
		for _, f := range r.Faults {
			switch {
			case !physical[f.Kind] || !f.Progressive:
			case f.Detected:
				detected++
			case f.Masked:
				masked++
			default:
				missed = append(missed, f.Machine+" "+f.Kind)
			}
		}
		for _, m := range r.Machines {
			falseAlarms += m.FalseAlarms
		}
		t.Logf("realistic, seed %d: %d physical faults detected before failure, %d masked, missed %v; %d false alarms", seed, detected, masked, missed, falseAlarms)
		if len(missed) > 0 {
			t.Errorf("seed %d: progressive physical faults not flagged before failure: %v", seed, missed)
		}
		if falseAlarms > 0 {
			t.Errorf("seed %d: %d false alarms in %v", seed, falseAlarms, r.Duration)
		}
	}
}

// TestNormalLife measures false alarms on the demo's machines living a
// normal life (load changes every few minutes, cold start), at 1 Hz (a
// 10-minute warm-up) and 5 Hz (2 minutes), over several seeds. The plant's
// fuller normal life (seasons, shifts, stops) is TestLifeFalseAlarms'.
func TestNormalLife(t *testing.T) {
	runs := []struct {
		rate  float64
		d     time.Duration
		seeds uint64
	}{
		{1, 7 * 24 * time.Hour, 4},
		{5, 7 * 24 * time.Hour, 2},
	}
	if quick() {
		runs = []struct {
			rate  float64
			d     time.Duration
			seeds uint64
		}{
			{1, 24 * time.Hour, 2},
			{5, 24 * time.Hour, 1},
		}
	}
	var all []plantbench.Result
	for _, rc := range runs {
		for seed := range rc.seeds {
			r, err := plantbench.Run(healthy(100+seed, rc.rate), start, rc.d, champion())
			if err != nil {
				t.Fatal(err)
			}
			rate, weeks := r.FalseAlarmsPerWeek()
			n, worst := 0, r.Machines[0]
			for _, m := range r.Machines {
				n += m.FalseAlarms
				if m.FalseAlarms > worst.FalseAlarms {
					worst = m
				}
			}
			t.Logf("normal life, %g Hz, seed %d, %v × %d machines: %d false alarms, %.2f per machine-week over %.2f; most on %s/%s: %d",
				rc.rate, 100+seed, rc.d, len(r.Machines), n, rate, weeks, worst.Gateway, worst.Machine, worst.FalseAlarms)
			all = append(all, r)
		}
	}
	rate, weeks := plantbench.Merge(all...).FalseAlarmsPerWeek()
	t.Logf("normal life, total: %.2f false alarms per machine-week over %.2f machine-weeks", rate, weeks)
	if rate >= maxFalsePerWeek {
		t.Errorf("%.2f false alarms per machine-week over %.2f machine-weeks, want < %v", rate, weeks, maxFalsePerWeek)
	}
}

// TestPolicies compares the champion's learning policies after the
// warm-up on the demo at 5 Hz and a day of its normal life: frozen (the
// agent's champion today), gated (learns only under Clear; the agent's
// learning twin) and learn (Update on every vector; the model gates itself
// with Robust). Only learn is held to the targets; the others are logged
// for the agent's owners.
func TestPolicies(t *testing.T) {
	if quick() {
		t.Skip("policy comparison skipped with -short and -race")
	}
	for _, pol := range []plantbench.Policy{plantbench.Learn, plantbench.Gated, plantbench.Frozen} {
		cfg := champion()
		cfg.Policy = pol
		sc := plant.Demo()
		sc.Rate = 5
		demo, err := plantbench.Run(sc, start, 20*time.Minute, cfg)
		if err != nil {
			t.Fatal(err)
		}
		life, err := plantbench.Run(healthy(300, 5), start, 24*time.Hour, cfg)
		if err != nil {
			t.Fatal(err)
		}
		f := demo.Faults[0]
		demoFalse := 0
		for _, m := range demo.Machines {
			demoFalse += m.FalseAlarms
		}
		rate, weeks := life.FalseAlarmsPerWeek()
		t.Logf("%-6s demo: motor-1 flagged %-5v after %5.1fs, %3d false alarms in 20 min | normal life 5 Hz: %7.2f false alarms per machine-week over %.2f",
			pol, f.Detected, f.Delay.Seconds(), demoFalse, rate, weeks)
		if pol == plantbench.Learn && (!f.Detected || f.Delay > demoMaxDelay || demoFalse > 0 || rate >= maxFalsePerWeek) {
			t.Errorf("champion (learn) misses the targets")
		}
	}
}

// TestDerived: derived signals join the vector after the sensors, as the
// agent lays it out, and Exclude keeps signals out of it while they still
// feed the derived ones; a machine without an input goes without the
// derived signal.
func TestDerived(t *testing.T) {
	sc := plant.Scenario{Name: "derived", Seed: 5, Rate: 1, Ambient: 15, Life: plant.Life{Climate: plant.Climate{Daily: 5}},
		Gateways: []plant.Gateway{{ID: "g", Machines: []plant.Machine{
			{ID: "pump", Type: plant.TypePump, AmbientSensor: true},
			{ID: "motor", Type: plant.TypeMotor},
		}}}}
	rise := []plantbench.Derived{{Name: "bearing_rise", Of: plant.SensorTemperature, Minus: plant.SensorAmbient}}
	tests := []struct {
		name    string
		exclude []string
		pump    []string
		motor   []string
	}{
		{"added", nil,
			[]string{"ambient_temp", "bearing_temp", "current", "flow", "pressure", "vib_rms", "bearing_rise"},
			[]string{"bearing_temp", "current", "rpm", "vib_rms"}},
		{"replacing", []string{plant.SensorTemperature, plant.SensorAmbient},
			[]string{"current", "flow", "pressure", "vib_rms", "bearing_rise"},
			[]string{"current", "rpm", "vib_rms"}},
	}
	var full, replaced []float64 // the pump's last vector of each case
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := champion()
			cfg.Derived, cfg.Exclude = rise, tt.exclude
			var last []float64
			cfg.Trace = func(m string, _ time.Time, x []float64, _ float64) {
				if m == "g/pump" {
					last = append(last[:0], x...)
				}
			}
			r, err := plantbench.Run(sc, start, 2*time.Minute, cfg)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range r.Machines {
				want := map[string][]string{"pump": tt.pump, "motor": tt.motor}[m.Machine]
				if !slices.Equal(m.Sensors, want) {
					t.Errorf("%s: vector %v, want %v", m.Machine, m.Sensors, want)
				}
			}
			if len(last) != len(tt.pump) {
				t.Fatalf("pump vector %v, want %d values", last, len(tt.pump))
			}
			if tt.exclude == nil {
				full = last
			} else {
				replaced = last
			}
		})
	}
	if full == nil || replaced == nil {
		t.Fatal("a case did not run")
	}
	if got, want := full[6], full[1]-full[0]; got != want || want < 5 {
		t.Errorf("bearing_rise %v, want bearing_temp - ambient_temp = %v", got, want)
	}
	if !slices.Equal(replaced, append(slices.Clone(full[2:6]), full[6])) {
		t.Errorf("vector with exclusions %v, want %v less its temperatures", replaced, full)
	}
}
