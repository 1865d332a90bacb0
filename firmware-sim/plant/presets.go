package plant

import (
	"slices"
	"time"

	"millwright/internal/conf"
)

// Presets are the built-in scenarios, by name: what firmware-sim's
// --scenario takes besides a file. Each has a twin in configs/
// (firmware-sim-NAME.yaml) that a test keeps equal.
var presets = map[string]func() Scenario{
	"demo":  Demo,
	"e2e":   E2E,
	"bench": Bench,
}

// Preset returns the built-in scenario name, and whether there is one.
func Preset(name string) (Scenario, bool) {
	f, ok := presets[name]
	if !ok {
		return Scenario{}, false
	}
	return f(), true
}

// PresetNames lists the built-in scenarios, sorted.
func PresetNames() []string {
	out := make([]string, 0, len(presets))
	for k := range presets {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// E2E is the end-to-end tests' plant: gateway gw1 of the demo, its motor's
// bearing wearing from 90 s in, at 4 readings per second, 20 times faster
// than real time.
func E2E() Scenario {
	sc := DemoWithOnset(90 * time.Second)
	sc.Name = "e2e"
	sc.Gateways = sc.Gateways[:1]
	sc.Speed = 20
	sc.Rate = 4
	return sc
}

// Bench is the plant of the benchmarks of detection: two lines of the four
// machine types with every physical fault at least once, raw vibration
// frames and their features, a network that misbehaves, and a normal
// life of seasons, day and night and conveyor stops that must not alarm.
// It starts slow (faults from 30 min in) so a detector can learn first.
func Bench() Scenario {
	d := func(x time.Duration) conf.Duration { return conf.Duration(x) }
	stops := Stops{Every: d(40 * time.Minute), For: d(4 * time.Minute)}
	return Scenario{
		Name: "bench", Seed: 2026, Rate: 1, Speed: 60, Ambient: 18,
		Life:      Life{Climate: Climate{Yearly: 8, Daily: 4}},
		Vibration: Vibration{Frames: true},
		Gateways: []Gateway{
			{ID: "line-1", Machines: []Machine{
				{ID: "pump-11", Type: TypePump, Faults: []Fault{{Kind: FaultCavitation, Onset: d(90 * time.Minute), Ramp: d(40 * time.Minute)}}},
				{ID: "motor-11", Type: TypeMotor, Faults: []Fault{{Kind: FaultBearingWear, Location: LocationOuterRace, Onset: d(30 * time.Minute), Ramp: d(6 * time.Hour)}}},
				{ID: "comp-11", Type: TypeCompressor, Faults: []Fault{{Kind: FaultOverheating, Onset: d(2 * time.Hour), Ramp: d(time.Hour)}}},
				{ID: "conv-11", Type: TypeConveyor, Stops: stops, Faults: []Fault{{Kind: FaultBeltSlip, Onset: d(3 * time.Hour), Ramp: d(time.Hour), Repair: d(30 * time.Minute)}}},
			}},
			{ID: "line-2", Machines: []Machine{
				{ID: "pump-21", Type: TypePump, Faults: []Fault{{Kind: FaultClogging, Onset: d(4 * time.Hour), Ramp: d(2 * time.Hour)}}},
				{ID: "motor-21", Type: TypeMotor, Faults: []Fault{{Kind: FaultMisalignment, Onset: d(time.Hour), Ramp: d(3 * time.Hour)}}},
				{ID: "comp-21", Type: TypeCompressor, Faults: []Fault{{Kind: FaultImbalance, Onset: d(150 * time.Minute), Ramp: d(2 * time.Hour)}}},
				{ID: "conv-21", Type: TypeConveyor, Stops: stops, Faults: []Fault{
					{Kind: FaultBearingWear, Location: LocationInnerRace, Onset: d(45 * time.Minute), Ramp: d(8 * time.Hour)},
					{Kind: FaultOverload, Onset: d(5 * time.Hour), Ramp: d(20 * time.Minute), Repair: d(10 * time.Minute)},
				}},
			}},
		},
		Network: Network{Latency: d(5 * time.Millisecond), Jitter: d(50 * time.Millisecond), Reorder: 0.05, Duplicate: 0.01, Skew: d(time.Second),
			Outages: []Outage{{Machine: "motor-21", At: d(100 * time.Minute), Duration: d(2 * time.Minute)}}},
	}
}
