package plant_test

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"millwright/firmware-sim/plant"
	"millwright/internal/conf"
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

func TestRealisticCoversEveryFaultKind(t *testing.T) {
	sc, err := plant.LoadScenario(filepath.Join(scenarios, "realistic.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, gw := range sc.Gateways {
		for _, m := range gw.Machines {
			for _, f := range m.Faults {
				kinds[f.Kind] = true
			}
		}
	}
	for _, k := range plant.FaultKinds() {
		if !kinds[k] {
			t.Errorf("realistic.yaml has no %s fault", k)
		}
	}
	if sc.Network.Reorder != 0.15 || len(sc.Network.Outages) != 2 || sc.Network.Skew.D() != 2*time.Second {
		t.Errorf("network %+v", sc.Network)
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
		tm := time.AfterFunc(2*time.Second, func() { panic(fmt.Sprintf("slow input %q", b)) })
		defer tm.Stop()
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
