package plant_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"millwright/firmware-sim/plant"
	"millwright/internal/conf"
	"millwright/wire"
)

const scenarios = "../testdata/scenarios"

func TestScenarioFiles(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(scenarios, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenario files in %s: %v", scenarios, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			sc, err := plant.LoadScenario(f)
			if strings.HasSuffix(f, ".bad.yaml") {
				b, rerr := os.ReadFile(f)
				if rerr != nil {
					t.Fatal(rerr)
				}
				first, _, _ := strings.Cut(string(b), "\n")
				want, ok := strings.CutPrefix(first, "# error: ")
				if !ok {
					t.Fatalf("bad fixture must start with '# error: <expected text>'")
				}
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("error %v, want one containing %q", err, want)
				}
				if !strings.Contains(err.Error(), f) {
					t.Errorf("error %v does not name the file", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			g, err := plant.NewGenerator(sc, t0)
			if err != nil {
				t.Fatal(err)
			}
			g.Next()
			nFaults := 0
			for _, gw := range sc.Gateways {
				for _, m := range gw.Machines {
					nFaults += len(m.Faults)
				}
			}
			if got := len(g.Labels()); got != nFaults {
				t.Fatalf("%d labels for %d faults", got, nFaults)
			}
		})
	}
}

func TestDemoFileIsDemo(t *testing.T) {
	sc, err := plant.LoadScenario(filepath.Join(scenarios, "demo.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if want := plant.Demo(); !reflect.DeepEqual(sc, want) {
		t.Fatalf("demo.yaml\n%+v\ndiffers from Demo()\n%+v", sc, want)
	}
}

// TestRealisticCoversEveryFaultKind: realistic.yaml (pumps, motors,
// compressors) and conveyor.yaml between them have every fault kind, and
// the bench preset every physical one.
func TestRealisticCoversEveryFaultKind(t *testing.T) {
	kinds := map[string]bool{}
	var sc plant.Scenario
	for _, f := range []string{"conveyor.yaml", "realistic.yaml"} {
		var err error
		if sc, err = plant.LoadScenario(filepath.Join(scenarios, f)); err != nil {
			t.Fatal(err)
		}
		for _, gw := range sc.Gateways {
			for _, m := range gw.Machines {
				for _, f := range m.Faults {
					kinds[f.Kind] = true
				}
			}
		}
	}
	for _, k := range plant.FaultKinds() {
		if !kinds[k] {
			t.Errorf("realistic.yaml and conveyor.yaml have no %s fault", k)
		}
	}
	bench := map[string]bool{}
	for _, gw := range plant.Bench().Gateways {
		for _, m := range gw.Machines {
			for _, f := range m.Faults {
				bench[f.Kind] = true
			}
		}
	}
	for _, k := range plant.FaultKinds() {
		switch k {
		case plant.FaultSpike, plant.FaultStuck, plant.FaultDropout, plant.FaultSensorDrift:
		default:
			if !bench[k] {
				t.Errorf("the bench preset has no %s fault", k)
			}
		}
	}
	if sc.Network.Reorder != 0.15 || len(sc.Network.Outages) != 3 || !sc.Network.Outages[2].Lose || sc.Network.Skew.D() != 2*time.Second {
		t.Errorf("network %+v", sc.Network)
	}
}

// TestPresetsAreConfigs: each built-in scenario is written out in
// configs/firmware-sim-NAME.yaml, and they agree.
func TestPresetsAreConfigs(t *testing.T) {
	for _, name := range plant.PresetNames() {
		t.Run(name, func(t *testing.T) {
			want, ok := plant.Preset(name)
			if !ok {
				t.Fatal("listed but missing")
			}
			sc, err := plant.LoadScenario(filepath.Join("..", "..", "configs", "firmware-sim-"+name+".yaml"))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(sc, want) {
				t.Fatalf("configs/firmware-sim-%s.yaml\n%+v\ndiffers from the preset\n%+v", name, sc, want)
			}
			if _, err := plant.NewGenerator(sc, t0); err != nil {
				t.Fatal(err)
			}
		})
	}
	if _, ok := plant.Preset("nope"); ok {
		t.Fatal("an unknown preset exists")
	}
}

func TestDemoWithOnset(t *testing.T) {
	sc := plant.DemoWithOnset(30 * time.Second)
	g, err := plant.NewGenerator(sc, t0)
	if err != nil {
		t.Fatal(err)
	}
	l := g.Labels()
	if len(l) != 1 || l[0].Onset.Sub(t0) != 30*time.Second {
		t.Fatalf("labels %+v, want one fault 30s in", l)
	}
}

// FuzzScenario feeds arbitrary YAML to the strict loader: it either refuses
// it or yields a scenario whose generator runs without non-finite values.
func FuzzScenario(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(scenarios, "*.yaml"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var sc plant.Scenario
		if conf.Decode(b, &sc) != nil || sc.Validate() != nil {
			return
		}
		machines := 0
		for _, gw := range sc.Gateways {
			machines += len(gw.Machines)
		}
		if machines > 200 {
			return
		}
		g, err := plant.NewGenerator(sc, t0)
		if err != nil {
			return // e.g. a rate too high for a whole-nanosecond step
		}
		for range 5 {
			for _, fr := range g.Next() {
				for _, r := range fr.Telemetry.Readings {
					if r.Value != r.Value || r.Value > 1e12 || r.Value < -1e12 {
						t.Fatalf("%s %s = %g", fr.Telemetry.Machine, r.Sensor, r.Value)
					}
				}
			}
		}
		g.Labels()
	})
}

func TestMachineInfos(t *testing.T) {
	sc := plant.Demo()
	infos := sc.MachineInfos("gw1")
	if len(infos) != 3 || infos[1].ID != "motor-1" || infos[1].Type != plant.TypeMotor {
		t.Fatalf("infos %+v", infos)
	}
	g, err := plant.NewGenerator(sc, t0)
	if err != nil {
		t.Fatal(err)
	}
	fr := g.Next()[1]
	if len(fr.Telemetry.Readings) != len(infos[1].Sensors) {
		t.Fatalf("sensors %v, telemetry %+v", infos[1].Sensors, fr.Telemetry.Readings)
	}
	for i, r := range fr.Telemetry.Readings {
		if r.Sensor != infos[1].Sensors[i] {
			t.Fatalf("sensor %d: info says %s, telemetry %s", i, infos[1].Sensors[i], r.Sensor)
		}
	}
	if sc.MachineInfos("nope") != nil {
		t.Fatal("infos for an unknown gateway")
	}
}

// TestRealisticDelivers runs the realistic scenario through its network:
// every message decodes, and every sequence number arrives except those of
// the outage that loses its readings.
func TestRealisticDelivers(t *testing.T) {
	sc, err := plant.LoadScenario(filepath.Join(scenarios, "realistic.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	const d = 35 * time.Minute
	seen := map[string]map[uint64]bool{}
	var msgs, late int
	maxSeq := map[string]uint64{}
	err = plant.Deliver(sc, t0, d, plant.FormatJSON, func(_ time.Time, topic string, payload []byte) error {
		msgs++
		var tm wire.Telemetry
		if err := wire.DecodeTelemetry(payload, "", 0, &tm); err != nil {
			return err
		}
		if seen[tm.Machine] == nil {
			seen[tm.Machine] = map[uint64]bool{}
		}
		seen[tm.Machine][tm.Env.Seq] = true
		if tm.Env.Seq < maxSeq[tm.Machine] {
			late++
		}
		maxSeq[tm.Machine] = max(maxSeq[tm.Machine], tm.Env.Seq)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ticks := int(d / (500 * time.Millisecond))
	for m, s := range seen {
		want := ticks
		if m == "pa1" {
			want -= 40 // 20 s lost at 2 Hz
		}
		if len(s) != want {
			t.Errorf("%s: %d distinct messages, want %d", m, len(s), want)
		}
	}
	if len(seen) != 6 {
		t.Fatalf("%d machines delivered, want 6", len(seen))
	}
	if f := float64(late) / float64(msgs); f < 0.1 || f > 0.25 {
		t.Errorf("%.3f of messages out of order, want about 0.15 plus the outages' bursts", f)
	}
}

// TestMachineInfosMatchTelemetry: what a gateway announces is what its
// machines send, for every type, with and without frames.
func TestMachineInfosMatchTelemetry(t *testing.T) {
	for _, frames := range []bool{false, true} {
		sc := plant.Bench()
		sc.Vibration.Frames = frames
		g, err := plant.NewGenerator(sc, t0)
		if err != nil {
			t.Fatal(err)
		}
		sensors := map[string][]string{}
		for _, gw := range sc.Gateways {
			for _, info := range sc.MachineInfos(gw.ID) {
				sensors[info.ID] = info.Sensors
			}
		}
		for _, fr := range g.Next() {
			var got []string
			for _, r := range fr.Telemetry.Readings {
				got = append(got, r.Sensor)
			}
			if !reflect.DeepEqual(got, sensors[fr.Telemetry.Machine]) {
				t.Errorf("frames %v, %s: sends %v, announces %v", frames, fr.Telemetry.Machine, got, sensors[fr.Telemetry.Machine])
			}
		}
	}
}
