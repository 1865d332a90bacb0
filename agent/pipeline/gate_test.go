package pipeline

import (
	"slices"
	"testing"
	"time"

	"millwright/agent/stream/derive"
	"millwright/wire"
)

// TestExcludeKeepsSignalsOutOfTheVector: a raw temperature and the
// ambient read by a derived rise stay out of the vector, the rise goes in,
// and a restore with the saved inputs rebuilds the same layout.
func TestExcludeKeepsSignalsOutOfTheVector(t *testing.T) {
	so := StreamOptions{
		Derived: []derive.Def{{Name: "bearing_rise", Expr: "bearing_temp - ambient_temp", Field: "derived[0]"}},
		Exclude: []string{"bearing_temp", "ambient_temp"},
	}
	for _, window := range []time.Duration{0, 2 * time.Second} {
		so.Window = window
		t.Run(window.String(), func(t *testing.T) {
			p, _, log := newRecorded(t, Options{Stream: so})
			topic := wire.TelemetryTopic(gw, "m1")
			for i := range 30 {
				p.Handle(topic, telemetry(t, "m1", ms(500*i), "ambient_temp", 20.0+float64(i), "bearing_temp", 50.0+float64(i), "current", 3.0), 0)
			}
			p.Drain()
			var names, inputs []string
			var saved []Saved
			p.Models(func(m Model) {
				names, inputs = m.Sensors, m.Inputs
				saved = append(saved, Saved{Name: m.Name, Role: m.Role, Detector: m.Detector})
			})
			want := []string{"current", "bearing_rise"}
			if window > 0 {
				want = []string{"current.mean", "current.rms", "current.min", "current.max", "current.slope",
					"bearing_rise.mean", "bearing_rise.rms", "bearing_rise.min", "bearing_rise.max", "bearing_rise.slope"}
			}
			if !slices.Equal(names, want) {
				t.Fatalf("vector %v, want %v", names, want)
			}
			if !slices.Equal(inputs, []string{"ambient_temp", "bearing_temp", "current"}) {
				t.Fatalf("inputs %v", inputs)
			}
			if len(*log) == 0 {
				t.Fatal("nothing scored")
			}
			for _, s := range *log {
				rise := s.vec[1]
				if window > 0 {
					rise = s.vec[5]
				}
				if s.vec[0] != 3 || rise != 30 {
					t.Fatalf("vector %v: want current 3 and a rise of 30", s.vec)
				}
			}
			q, _ := newTest(t, Options{Stream: so})
			if err := q.RestoreMachineInputs("m1", inputs, names, saved); err != nil {
				t.Fatalf("restore with the saved inputs: %v", err)
			}
			q.Handle(topic, telemetry(t, "m1", ms(20000), "ambient_temp", 20.0, "bearing_temp", 50.0, "current", 3.0), 0)
			q.Handle(topic, telemetry(t, "m1", ms(25000), "ambient_temp", 20.0, "bearing_temp", 50.0, "current", 3.0), 0)
			if st := q.Stats(); st.Ignored != 0 || st.Vectors == 0 {
				t.Fatalf("restored machine: %+v, want its readings used and scored", st)
			}
		})
	}
}

func TestExcludeEverythingRefused(t *testing.T) {
	p, _ := newTest(t, Options{Stream: StreamOptions{Exclude: []string{"a"}}})
	for i := range 12 {
		p.Handle(wire.TelemetryTopic(gw, "m1"), telemetry(t, "m1", ms(500*i), "a", 1.0), 0)
	}
	if v := p.Stats().Vectors; v != 0 {
		t.Fatalf("%d vectors scored with every signal excluded", v)
	}
}

// TestRunningGate: no vector is scored or learned while the machine is
// stopped, nor for Settle after each start.
func TestRunningGate(t *testing.T) {
	p, _, log := newRecorded(t, Options{Stream: StreamOptions{
		Running: &RunningGate{Signal: "current", Min: 0.5, Settle: 3 * time.Second},
	}})
	topic := wire.TelemetryTopic(gw, "m1")
	var want []float64 // the x of every vector that must be scored
	for i := range 30 {
		current := 1.0
		if i >= 15 && i < 20 {
			current = 0 // stopped
		}
		// The test pipeline learns the sensor set from the first message,
		// which is the machine's first start: settling until i = 3.
		if (i >= 3 && i < 15) || i >= 23 {
			want = append(want, float64(i))
		}
		p.Handle(topic, telemetry(t, "m1", ms(1000*i), "current", current, "x", float64(i)), 0)
	}
	var got []float64
	for _, s := range *log {
		got = append(got, s.vec[1])
	}
	if !slices.Equal(got, want) {
		t.Fatalf("scored x %v, want %v", got, want)
	}
	if n := p.Stats().NotRunning; n != 11 {
		t.Fatalf("NotRunning = %d, want 11 (3 settling, 5 stopped, 3 settling)", n)
	}
}

func TestExcludeAndGateAllocateNothing(t *testing.T) {
	p, _ := newTest(t, Options{Stream: StreamOptions{
		Derived: []derive.Def{{Name: "rise", Expr: "bearing_temp - ambient_temp"}},
		Exclude: []string{"bearing_temp", "ambient_temp"},
		Running: &RunningGate{Signal: "current", Min: 0.5, Settle: time.Second},
	}})
	topic := wire.TelemetryTopic(gw, "m1")
	for i := range 20 {
		p.Handle(topic, telemetry(t, "m1", at(i), "ambient_temp", 20.0, "bearing_temp", 50.0, "current", 3.0), 0)
	}
	m := p.machines["m1"]
	msg := p.msg
	msg.Readings = slices.Clone(msg.Readings)
	before := p.Stats().Vectors
	if n := testing.AllocsPerRun(100, func() { advance(&msg); p.score(m, &msg) }); n != 0 {
		t.Errorf("scoring with exclusions and the running gate allocates %v times per message", n)
	}
	if got := p.Stats().Vectors - before; got != 101 {
		t.Errorf("%d vectors scored in 101 steps of a running machine", got)
	}
}
