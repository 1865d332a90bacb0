package plant_test

import (
	"math"
	"slices"
	"testing"
	"time"

	"millwright/firmware-sim/plant"
	"millwright/internal/conf"
)

// at is the index of the tick at d after the start.
func at(d, step time.Duration) int { return int(d / step) }

// meanOver is the mean of xs over [from, to) of simulated time.
func meanOver(xs []float64, step, from, to time.Duration) float64 {
	m, _, _, _ := stats(xs, at(from, step), at(to, step))
	return m
}

// TestNormalLife checks that each behaviour of normal life is in the
// signals, and that none of it is labelled.
func TestNormalLife(t *testing.T) {
	motor := func(sc plant.Scenario) plant.Scenario {
		sc.Seed, sc.Rate = 4, 0.2
		sc.Gateways = []plant.Gateway{{ID: "g", Machines: []plant.Machine{{ID: "m", Type: plant.TypeMotor}}}}
		return sc
	}
	tests := []struct {
		name  string
		sc    plant.Scenario
		start time.Time
		d     time.Duration
		check func(t *testing.T, s series, step time.Duration)
	}{
		{"warm-up", motor(plant.Scenario{}), t0, 20 * time.Minute, func(t *testing.T, s series, step time.Duration) {
			cold, warm := meanOver(s[plant.SensorTemperature], step, 0, 30*time.Second), meanOver(s[plant.SensorTemperature], step, 15*time.Minute, 20*time.Minute)
			if warm < cold+5 {
				t.Errorf("bearing %.1f °C at start, %.1f °C after 15 min: want a warm-up of 5 °C or more", cold, warm)
			}
		}},
		{"load changes", motor(plant.Scenario{}), t0, 4 * time.Hour, func(t *testing.T, s series, step time.Duration) {
			lo, hi := math.Inf(1), math.Inf(-1)
			for h := time.Duration(0); h < 4*time.Hour; h += 10 * time.Minute {
				m := meanOver(s[plant.SensorCurrent], step, h, h+10*time.Minute)
				lo, hi = min(lo, m), max(hi, m)
			}
			if hi < 1.1*lo {
				t.Errorf("10-minute current means from %.1f to %.1f A: want the load to move (10%%)", lo, hi)
			}
		}},
		{"seasons", motor(plant.Scenario{Life: plant.Life{Climate: plant.Climate{Yearly: 10}}}), time.Date(2026, 7, 15, 0, 0, 0, 0, time.UTC), time.Hour,
			func(t *testing.T, s series, step time.Duration) {
				// Compared with the same plant in mid-January below.
			}},
		{"day and night", motor(plant.Scenario{Life: plant.Life{Climate: plant.Climate{Daily: 5}}}), t0, 24 * time.Hour, func(t *testing.T, s series, step time.Duration) {
			day := meanOver(s[plant.SensorTemperature], step, 14*time.Hour, 16*time.Hour)
			night := meanOver(s[plant.SensorTemperature], step, 2*time.Hour, 4*time.Hour)
			t.Logf("bearing %.1f °C at 15:00, %.1f °C at 03:00", day, night)
			if d := day - night; d < 8 || d > 11 {
				t.Errorf("bearing %.1f °C at 15:00, %.1f °C at 03:00: want the daily swing of 2×5 °C", day, night)
			}
		}},
		{"shifts", motor(plant.Scenario{Life: plant.Life{Shifts: []plant.Shift{{Start: "06:00", Load: 1.2}, {Start: "14:00", Load: 0.6}, {Start: "22:00"}}}}), t0, 24 * time.Hour,
			func(t *testing.T, s series, step time.Duration) {
				early := meanOver(s[plant.SensorCurrent], step, 7*time.Hour, 13*time.Hour)
				late := meanOver(s[plant.SensorCurrent], step, 15*time.Hour, 21*time.Hour)
				night := meanOver(s[plant.SensorSpeed], step, 23*time.Hour, 24*time.Hour)
				t.Logf("current %.1f A early, %.1f A late, %.1f rpm at night", early, late, night)
				if early < 1.2*late || math.Abs(night) > 5 {
					t.Errorf("current %.1f A in the early shift, %.1f A late; %.0f rpm at night: want the early shift busier and the night stopped", early, late, night)
				}
				if rpm := meanOver(s[plant.SensorSpeed], step, 6*time.Hour+time.Minute, 7*time.Hour); rpm < 1400 {
					t.Errorf("%.0f rpm after the 06:00 start", rpm)
				}
			}},
		{"weekends", motor(plant.Scenario{Life: plant.Life{WeekendsOff: true}}), time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC), 72 * time.Hour, // Friday noon
			func(t *testing.T, s series, step time.Duration) {
				fri := meanOver(s[plant.SensorSpeed], step, time.Hour, 11*time.Hour)
				sat := meanOver(s[plant.SensorSpeed], step, 13*time.Hour, 35*time.Hour)
				mon := meanOver(s[plant.SensorSpeed], step, 61*time.Hour, 71*time.Hour)
				if fri < 1400 || math.Abs(sat) > 5 || mon < 1400 {
					t.Errorf("%.0f rpm on Friday, %.0f at the weekend, %.0f on Monday", fri, sat, mon)
				}
			}},
		{"start and stop", plant.Scenario{Seed: 4, Rate: 2, Gateways: []plant.Gateway{{ID: "g", Machines: []plant.Machine{{ID: "m", Type: plant.TypeConveyor,
			Stops: plant.Stops{Every: conf.Duration(20 * time.Minute), For: conf.Duration(3 * time.Minute)}}}}}}, t0, 4 * time.Hour,
			func(t *testing.T, s series, step time.Duration) {
				stops, starts, inrush := 0, 0, 0
				running := true
				cur, rpm, belt := s[plant.SensorCurrent], s[plant.SensorSpeed], s[plant.SensorBeltSpeed]
				for i := range rpm {
					// The contactor opens: the current is gone at once while the
					// shaft still coasts near full speed.
					if i > 0 && cur[i-1] >= 0.5 && cur[i] < 0.5 && rpm[i] < 1000 {
						t.Errorf("tick %d: current fell to %.2f A only as the shaft slowed to %.0f rpm: want it gone when the contactor opens", i, cur[i], rpm[i])
					}
					if i > 0 && rpm[i] > 10 && rpm[i] < 1300 && rpm[i-1]-rpm[i] > 50 && cur[i] != 0 {
						t.Errorf("tick %d: %.2f A while coasting down at %.0f rpm: want 0", i, cur[i], rpm[i])
					}
					switch {
					case running && rpm[i] < 10:
						running = false
						stops++
						if belt[i] > 0.05 || cur[i] > 0.5 {
							t.Errorf("tick %d: stopped with the belt at %.2f m/s, %.1f A", i, belt[i], cur[i])
						}
					case !running && rpm[i] > 10:
						running = true
						starts++
						if cur[i] > 3*meanOver(cur, step, 10*time.Minute, 15*time.Minute) {
							inrush++
						}
					}
				}
				t.Logf("%d stops, %d starts, %d with inrush", stops, starts, inrush)
				if stops < 5 || starts < 5 || inrush < starts-1 {
					t.Errorf("%d stops, %d starts (%d with an inrush current) in 4 h: want about one every 23 min, each start drawing an inrush", stops, starts, inrush)
				}
			}},
	}
	results := map[string]series{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := plant.NewGenerator(tt.sc, tt.start)
			if err != nil {
				t.Fatal(err)
			}
			if l := g.AllLabels(); len(l) != 0 {
				t.Fatalf("normal life labelled: %+v", l)
			}
			s := collect(t, g, tt.d)["m"]
			results[tt.name] = s
			tt.check(t, s, g.Interval())
		})
	}
	// Seasons: the same plant in mid-January is 2×10 °C colder.
	sc := tests[2].sc
	g, err := plant.NewGenerator(sc, time.Date(2026, 1, 14, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	winter := meanOver(collect(t, g, time.Hour)["m"][plant.SensorTemperature], g.Interval(), 40*time.Minute, time.Hour)
	summer := meanOver(results["seasons"][plant.SensorTemperature], g.Interval(), 40*time.Minute, time.Hour)
	t.Logf("bearing %.1f °C in July, %.1f °C in January", summer, winter)
	if d := summer - winter; d < 18 || d > 21 {
		t.Errorf("bearing %.1f °C in July, %.1f °C in January: want the yearly swing of 2×10 °C", summer, winter)
	}
}

// collect runs g for d and returns every machine's readings by sensor.
func collect(t *testing.T, g *plant.Generator, d time.Duration) map[string]series {
	t.Helper()
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
	return out
}

// TestConveyorCurrentFollowsMaterial: more material on the belt draws
// more current and slows the motor (slip): current and speed move
// against each other.
func TestConveyorCurrentFollowsMaterial(t *testing.T) {
	sc := plant.Scenario{Seed: 8, Rate: 1, Gateways: []plant.Gateway{{ID: "g", Machines: []plant.Machine{{ID: "c", Type: plant.TypeConveyor, LoadSwing: 0.3}}}}}
	g, err := plant.NewGenerator(sc, t0)
	if err != nil {
		t.Fatal(err)
	}
	s := collect(t, g, 3*time.Hour)["c"]
	cur, rpm, belt := s[plant.SensorCurrent], s[plant.SensorSpeed], s[plant.SensorBeltSpeed]
	if r := correlation(cur, rpm); r > -0.6 {
		t.Errorf("correlation of current and speed %.2f, want strongly negative", r)
	}
	if m := meanOver(belt, g.Interval(), 0, 3*time.Hour); m < 1.5 || m > 1.9 {
		t.Errorf("belt speed %.2f m/s, want about 1.7 (18.2:1 gearbox, 0.4 m pulley)", m)
	}
}

func correlation(a, b []float64) float64 {
	var n, sa, sb, saa, sbb, sab float64
	for i := range a {
		n++
		sa += a[i]
		sb += b[i]
		saa += a[i] * a[i]
		sbb += b[i] * b[i]
		sab += a[i] * b[i]
	}
	return (sab/n - sa/n*sb/n) / math.Sqrt((saa/n-sa/n*sa/n)*(sbb/n-sb/n*sb/n))
}

// TestAmbientSensor: a machine with an environment sensor publishes the
// ambient temperature, daily cycle included, within the sensor's
// accuracy; adding the sensor changes none of the other signals.
func TestAmbientSensor(t *testing.T) {
	sc := func(env bool) plant.Scenario {
		return plant.Scenario{Seed: 7, Rate: 0.2, Ambient: 15, Life: plant.Life{Climate: plant.Climate{Daily: 5}},
			Gateways: []plant.Gateway{{ID: "g", Machines: []plant.Machine{{ID: "m", Type: plant.TypePump, AmbientSensor: env}}}}}
	}
	run := func(env bool) series {
		g, err := plant.NewGenerator(sc(env), t0)
		if err != nil {
			t.Fatal(err)
		}
		return collect(t, g, 24*time.Hour)["m"]
	}
	with, without := run(true), run(false)
	step := 5 * time.Second // 0.2 Hz
	amb := with[plant.SensorAmbient]
	day, night := meanOver(amb, step, 14*time.Hour+30*time.Minute, 15*time.Hour+30*time.Minute), meanOver(amb, step, 2*time.Hour+30*time.Minute, 3*time.Hour+30*time.Minute)
	t.Logf("ambient_temp %.2f °C at 15:00, %.2f °C at 03:00", day, night)
	if math.Abs(day-20) > 0.6 || math.Abs(night-10) > 0.6 {
		t.Errorf("ambient_temp %.2f °C at 15:00, %.2f °C at 03:00: want 20 and 10 °C within the sensor's 0.5 °C", day, night)
	}
	if _, ok := without[plant.SensorAmbient]; ok && !math.IsNaN(without[plant.SensorAmbient][0]) {
		t.Error("ambient_temp published by a machine without an environment sensor")
	}
	for _, name := range []string{plant.SensorVibration, plant.SensorTemperature, plant.SensorCurrent, plant.SensorPressure, plant.SensorFlow} {
		a, b := with[name], without[name]
		if len(a) != len(b) || len(a) == 0 {
			t.Fatalf("%s: %d and %d readings", name, len(a), len(b))
		}
		for i := range a {
			if a[i] != b[i] {
				t.Errorf("%s at tick %d: %v with the environment sensor, %v without: want the same", name, i, a[i], b[i])
				break
			}
		}
	}
	withEnv := sc(true)
	infos := withEnv.MachineInfos("g")
	if len(infos) != 1 || !slices.Contains(infos[0].Sensors, plant.SensorAmbient) {
		t.Errorf("MachineInfos = %+v, want ambient_temp among the sensors", infos)
	}
}
