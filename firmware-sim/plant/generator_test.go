package plant_test

import (
	"bytes"
	"math"
	"testing"
	"time"

	"millwright/firmware-sim/plant"
	"millwright/internal/conf"
	"millwright/wire"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// encodeTicks runs n ticks and returns every frame's encoding, concatenated.
func encodeTicks(t *testing.T, sc plant.Scenario, n int, f plant.Format) []byte {
	t.Helper()
	g, err := plant.NewGenerator(sc, t0)
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	for range n {
		for _, fr := range g.Next() {
			if out, err = plant.AppendEncode(out, fr.Telemetry, f); err != nil {
				t.Fatal(err)
			}
		}
	}
	return out
}

func TestDeterministic(t *testing.T) {
	for _, f := range []plant.Format{plant.FormatCBOR, plant.FormatJSON} {
		t.Run(string(f), func(t *testing.T) {
			sc := plant.Demo()
			sc.Network.Skew = conf.Duration(2 * time.Second)
			a := encodeTicks(t, sc, 500, f)
			b := encodeTicks(t, sc, 500, f)
			if !bytes.Equal(a, b) {
				t.Fatal("same seed and scenario gave different bytes")
			}
			sc.Seed++
			c := encodeTicks(t, sc, 500, f)
			if bytes.Equal(a, c) {
				t.Fatal("different seeds gave the same bytes")
			}
		})
	}
}

// machineValues returns every value of one machine's sensor over n ticks.
func machineValues(t *testing.T, sc plant.Scenario, machine, sensor string, n int) []float64 {
	t.Helper()
	g, err := plant.NewGenerator(sc, t0)
	if err != nil {
		t.Fatal(err)
	}
	var out []float64
	for range n {
		for _, fr := range g.Next() {
			if fr.Telemetry.Machine != machine {
				continue
			}
			v := math.NaN()
			for _, r := range fr.Telemetry.Readings {
				if r.Sensor == sensor {
					v = r.Value
				}
			}
			out = append(out, v)
		}
	}
	return out
}

func TestAddingMachineChangesNoOther(t *testing.T) {
	sc := plant.Demo()
	before := machineValues(t, sc, "pump-2", plant.SensorVibration, 400)
	sc = plant.Demo()
	sc.Gateways[0].Machines = append(sc.Gateways[0].Machines, plant.Machine{ID: "extra", Type: plant.TypePump})
	sc.Gateways = append([]plant.Gateway{{ID: "gw0", Machines: []plant.Machine{{ID: "first", Type: plant.TypeMotor}}}}, sc.Gateways...)
	after := machineValues(t, sc, "pump-2", plant.SensorVibration, 400)
	for i := range before {
		if before[i] != after[i] {
			t.Fatalf("tick %d: pump-2 vibration changed from %g to %g when machines were added", i, before[i], after[i])
		}
	}
}

func TestEnvelopeAndTimes(t *testing.T) {
	sc := plant.Demo()
	sc.Gateways[1].Machines[0].Skew = conf.Duration(1500 * time.Millisecond)
	g, err := plant.NewGenerator(sc, t0)
	if err != nil {
		t.Fatal(err)
	}
	for tick := range 10 {
		for _, fr := range g.Next() {
			tm := fr.Telemetry
			if tm.Env.Sender != tm.Machine || tm.Env.Seq != uint64(tick+1) || tm.Env.Version != wire.Version {
				t.Fatalf("envelope %+v of %s at tick %d", tm.Env, tm.Machine, tick)
			}
			wantTrue := t0.Add(time.Duration(tick) * g.Interval()).UnixNano()
			if fr.True != wantTrue {
				t.Fatalf("true time %d, want %d", fr.True, wantTrue)
			}
			skew, _ := g.Skew(tm.Machine)
			if tm.Env.Time != wantTrue+int64(skew) {
				t.Fatalf("%s: event time %d, want true time %d + skew %v", tm.Machine, tm.Env.Time, wantTrue, skew)
			}
			for _, r := range tm.Readings {
				if r.Time != tm.Env.Time || math.IsNaN(r.Value) || math.IsInf(r.Value, 0) {
					t.Fatalf("%s: reading %+v", tm.Machine, r)
				}
			}
		}
	}
	if s, _ := g.Skew("pump-2"); s != 1500*time.Millisecond {
		t.Fatalf("pump-2 skew %v, want 1.5s", s)
	}
}

func TestEncodingsDecode(t *testing.T) {
	g, err := plant.NewGenerator(plant.Demo(), t0)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		for _, fr := range g.Next() {
			for _, f := range []plant.Format{plant.FormatCBOR, plant.FormatJSON} {
				b, err := plant.AppendEncode(nil, fr.Telemetry, f)
				if err != nil {
					t.Fatal(err)
				}
				var got wire.Telemetry
				if err := wire.DecodeTelemetry(b, "other", 1, &got); err != nil {
					t.Fatalf("%s: decode: %v", f, err)
				}
				if got.Env != fr.Telemetry.Env || got.Machine != fr.Telemetry.Machine || len(got.Readings) != len(fr.Telemetry.Readings) {
					t.Fatalf("%s: decoded %+v, sent %+v", f, got, *fr.Telemetry)
				}
				for i, r := range got.Readings {
					if r != fr.Telemetry.Readings[i] {
						t.Fatalf("%s: reading %d decoded %+v, sent %+v", f, i, r, fr.Telemetry.Readings[i])
					}
				}
			}
		}
	}
}

func TestNextAllocatesNothing(t *testing.T) {
	g, err := plant.NewGenerator(plant.Demo(), t0)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 0, 4096)
	if a := testing.AllocsPerRun(200, func() {
		for _, fr := range g.Next() {
			buf = plant.AppendJSONForTest(buf[:0], fr.Telemetry)
		}
	}); a != 0 {
		t.Fatalf("Next and JSON encoding allocate %v times per tick", a)
	}
}

// TestNormalLifeStaysNormal checks that an hour of a healthy plant, warm-up
// and load changes included, keeps every signal in its normal band.
func TestNormalLifeStaysNormal(t *testing.T) {
	sc := plant.Demo()
	sc.Gateways[0].Machines[1].Faults = nil
	g, err := plant.NewGenerator(sc, t0)
	if err != nil {
		t.Fatal(err)
	}
	type band struct{ lo, hi float64 }
	bands := map[string]band{
		plant.SensorVibration:   {0.3, 4.5},
		plant.SensorTemperature: {25, 70},
		plant.SensorCurrent:     {3, 40},
		plant.SensorPressure:    {1, 9},
		plant.SensorFlow:        {15, 90},
		plant.SensorSpeed:       {1400, 1510},
	}
	prevTemp := map[string]float64{}
	for range 2 * 3600 {
		for _, fr := range g.Next() {
			for _, r := range fr.Telemetry.Readings {
				b := bands[r.Sensor]
				if r.Value < b.lo || r.Value > b.hi {
					t.Fatalf("%s %s = %g outside normal band [%g, %g]", fr.Telemetry.Machine, r.Sensor, r.Value, b.lo, b.hi)
				}
				if r.Sensor == plant.SensorTemperature {
					if p, ok := prevTemp[fr.Telemetry.Machine]; ok && math.Abs(r.Value-p) > 1.5 {
						t.Fatalf("%s temperature jumped %g → %g in one tick: thermal lag broken", fr.Telemetry.Machine, p, r.Value)
					}
					prevTemp[fr.Telemetry.Machine] = r.Value
				}
			}
		}
	}
}

// BenchmarkNext is one tick of the demo plant (six machines).
func BenchmarkNext(b *testing.B) {
	g, err := plant.NewGenerator(plant.Demo(), t0)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		g.Next()
	}
}

// BenchmarkNextEncode is one tick of the demo plant, encoded.
func BenchmarkNextEncode(b *testing.B) {
	for _, f := range []plant.Format{plant.FormatCBOR, plant.FormatJSON} {
		b.Run(string(f), func(b *testing.B) {
			g, err := plant.NewGenerator(plant.Demo(), t0)
			if err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, 0, 4096)
			b.ReportAllocs()
			for b.Loop() {
				for _, fr := range g.Next() {
					buf, _ = plant.AppendEncode(buf[:0], fr.Telemetry, f)
				}
			}
		})
	}
}
