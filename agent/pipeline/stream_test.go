package pipeline

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"millwright/agent/stream/derive"
	"millwright/agent/stream/reorder"
	"millwright/models"
	"millwright/wire"
)

// recorder is echo that logs every vector it is given, and whether it
// learned from it.
type recorder struct {
	echo
	log *[]scored
}

type scored struct {
	vec   []float64
	learn bool
}

func (r *recorder) Update(x []float64) float64 {
	*r.log = append(*r.log, scored{slices.Clone(x), true})
	return r.echo.Update(x)
}

func (r *recorder) Score(x []float64) float64 {
	*r.log = append(*r.log, scored{slices.Clone(x), false})
	return r.echo.Score(x)
}

// newRecorded returns a pipeline whose champions log their vectors in log.
func newRecorded(t testing.TB, opts Options) (*Pipeline, *sink, *[]scored) {
	t.Helper()
	log := new([]scored)
	n := 0
	opts.NewDetector = func(string, int, uint64) (models.Detector, error) {
		n++
		if n%2 == 1 { // champion; its twin follows
			return &recorder{log: log}, nil
		}
		return new(echo), nil
	}
	p, s := newTest(t, opts)
	return p, s, log
}

// ms is the event time of the test's reading at ms milliseconds.
func ms(n int) int64 { return t0.Add(time.Duration(n) * time.Millisecond).UnixNano() }

func TestOutOfOrderWithinLatenessScoresLikeInOrder(t *testing.T) {
	// 200 messages every 250ms; the score (sensor a) rises over the
	// threshold for a run in the middle so that an alert is raised.
	type msg struct {
		t    int64
		a, b float64
	}
	var in []msg
	for i := range 200 {
		a := 0.1 + 0.001*float64(i%13)
		if i >= 120 && i < 130 {
			a = 0.995
		}
		in = append(in, msg{ms(250 * i), a, float64(i % 7)})
	}
	// Shuffled within the lateness: each message moves at most 1.5s (6
	// messages) from its place, as the simulator's held-back messages do.
	shuffled := slices.Clone(in)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i+6 < len(shuffled); i++ {
		if rng.Float64() < 0.15 {
			j := i + 1 + rng.IntN(5)
			shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
			i = j // disjoint swaps: nothing moves twice
		}
	}
	if slices.Equal(in, shuffled) {
		t.Fatal("shuffle left the input in order")
	}
	run := func(msgs []msg) ([]scored, []wire.Alert, Stats) {
		p, s, log := newRecorded(t, Options{Stream: StreamOptions{Lateness: 2 * time.Second}})
		topic := wire.TelemetryTopic(gw, "m1")
		for _, m := range msgs {
			p.Handle(topic, telemetry(t, "m1", m.t, "a", m.a, "b", m.b), 0)
		}
		p.Drain()
		return *log, s.alerts, p.Stats()
	}
	want, wantAlerts, st := run(in)
	got, gotAlerts, st2 := run(shuffled)
	if len(want) != 200 || st.Vectors != 200 || st2.Vectors != 200 {
		t.Fatalf("in order: %d vectors logged, stats %+v; shuffled: %+v", len(want), st, st2)
	}
	if st2.Late != 0 || st2.Duplicates != 0 {
		t.Errorf("shuffled within lateness counted late or duplicate readings: %+v", st2)
	}
	for i := range want {
		if !slices.Equal(got[i].vec, want[i].vec) || got[i].learn != want[i].learn {
			t.Fatalf("vector %d: shuffled %v (learn %v), in order %v (learn %v)", i, got[i].vec, got[i].learn, want[i].vec, want[i].learn)
		}
	}
	if len(wantAlerts) != 1 || len(gotAlerts) != 1 || gotAlerts[0].Env.Time != ms(250*120) || wantAlerts[0].Env.Time != gotAlerts[0].Env.Time {
		t.Errorf("alerts: in order %+v, shuffled %+v; want one each at the event time of vector 120", wantAlerts, gotAlerts)
	}
}

func TestDuplicateMessageIsDroppedAndCounted(t *testing.T) {
	p, _, log := newRecorded(t, Options{Stream: StreamOptions{Lateness: time.Second}})
	topic := wire.TelemetryTopic(gw, "m1")
	for i := range 10 {
		b := telemetry(t, "m1", ms(100*i), "a", 0.1, "b", float64(i))
		p.Handle(topic, b, 0)
		if i == 3 || i == 9 {
			p.Handle(topic, b, 0) // delivered twice: once buffered, once released
		}
	}
	p.Drain()
	st := p.Stats()
	if st.Duplicates != 4 || st.Vectors != 10 || len(*log) != 10 {
		t.Errorf("duplicates %d (want 4 readings), vectors %d, logged %d (want 10)", st.Duplicates, st.Vectors, len(*log))
	}
	for i, s := range *log {
		if s.vec[1] != float64(i) {
			t.Errorf("vector %d = %v, want b = %d", i, s.vec, i)
		}
	}
}

func TestReadingLaterThanLatenessFollowsPolicy(t *testing.T) {
	for _, tt := range []struct {
		policy        reorder.LatePolicy
		vectors, late uint64
		dropped       uint64
	}{
		{reorder.ScoreOnly, 11, 2, 0},
		{reorder.Drop, 10, 0, 2},
	} {
		t.Run(tt.policy.String(), func(t *testing.T) {
			p, s, log := newRecorded(t, Options{Stream: StreamOptions{Lateness: time.Second, Late: tt.policy}})
			topic := wire.TelemetryTopic(gw, "m1")
			for i := range 10 {
				if i != 2 {
					p.Handle(topic, telemetry(t, "m1", ms(500*i), "a", 0.1, "b", float64(i)), 0)
				}
			}
			// Vector 2 arrives 3.5s late, over the threshold: it must not
			// alert, nor be learned, nor change the latest values.
			p.Handle(topic, telemetry(t, "m1", ms(1000), "a", 0.995, "b", 2.0), 0)
			p.Handle(topic, telemetry(t, "m1", ms(5000), "a", 0.1, "b", 10.0), 0)
			p.Drain()
			st := p.Stats()
			if st.Vectors != tt.vectors || st.Late != tt.late || st.LateDropped != tt.dropped || len(s.alerts) != 0 {
				t.Errorf("stats %+v, alerts %d; want vectors %d late %d dropped %d", st, len(s.alerts), tt.vectors, tt.late, tt.dropped)
			}
			var late []scored
			for _, sc := range *log {
				if sc.vec[0] == 0.995 {
					late = append(late, sc)
				}
			}
			if tt.policy == reorder.ScoreOnly && (len(late) != 1 || late[0].learn) {
				t.Errorf("late vector scored as %+v, want once, without learning", late)
			}
			if tt.policy == reorder.Drop && len(late) != 0 {
				t.Errorf("dropped late vector was scored: %+v", late)
			}
			if last := (*log)[len(*log)-1]; last.vec[1] != 10 {
				t.Errorf("last vector %v, want b = 10", last.vec)
			}
		})
	}
}

func TestFlushReleasesIdleSensors(t *testing.T) {
	p, _ := newTest(t, Options{Stream: StreamOptions{Lateness: time.Minute, Idle: time.Second}})
	topic := wire.TelemetryTopic(gw, "m1")
	for i := range 5 {
		p.Handle(topic, telemetry(t, "m1", ms(100*i), "a", 0.1), 0)
	}
	if v := p.Stats().Vectors; v != 0 {
		t.Fatalf("%d vectors before the watermark passed", v)
	}
	now := time.Now()
	p.Flush(now)                      // notices the sensor is quiet
	p.Flush(now.Add(time.Second / 2)) // not yet idle long enough
	if v := p.Stats().Vectors; v != 0 {
		t.Fatalf("%d vectors released before the idle timeout", v)
	}
	p.Flush(now.Add(time.Second))
	if v := p.Stats().Vectors; v != 5 {
		t.Errorf("%d vectors after the idle flush, want 5", v)
	}
}

func TestWindowedFeaturesAndDerivedSignals(t *testing.T) {
	var dim int
	log := new([]scored)
	p, _ := newTest(t, Options{
		Stream: StreamOptions{
			Window: 10 * time.Second, Step: 5 * time.Second,
			Derived: []derive.Def{{Name: "power", Expr: "voltage * current", Field: "derived[0]"}, {Name: "unheard", Expr: "pressure * 2", Field: "derived[1]"}},
		},
		NewDetector: func(_ string, d int, _ uint64) (models.Detector, error) {
			dim = d
			return &recorder{log: log}, nil
		},
	})
	topic := wire.TelemetryTopic(gw, "m1")
	for i := range 60 { // 30s at 2 Hz
		p.Handle(topic, telemetry(t, "m1", ms(500*i), "voltage", 230.0, "current", float64(1+i/20)), 0)
	}
	p.Drain()
	ms := p.Machines()
	if len(ms) != 1 {
		t.Fatalf("machines %+v", ms)
	}
	names := ms[0].Sensors
	// "unheard" reads a sensor the machine lacks: it is left out.
	want := []string{"current.mean", "current.rms", "current.min", "current.max", "current.slope",
		"voltage.mean", "voltage.rms", "voltage.min", "voltage.max", "voltage.slope",
		"power.mean", "power.rms", "power.min", "power.max", "power.slope"}
	if !slices.Equal(names, want) || dim != len(want) {
		t.Fatalf("feature names %v (dim %d), want %v", names, dim, want)
	}
	// Windows of 10s every 5s over [0s, 30s): the first complete one is
	// [0s, 10s), whose current is 1 and power 230.
	if len(*log) < 5 {
		t.Fatalf("%d windows scored, want at least 5", len(*log))
	}
	var found bool
	for _, s := range *log {
		if s.vec[0] == 1 && s.vec[10] == 230 && s.vec[5] == 230 && s.vec[13] == 230 {
			found = true
		}
	}
	if !found {
		t.Errorf("no window with current.mean 1, voltage.mean 230, power.mean/max 230: %v", *log)
	}
	last := (*log)[len(*log)-1].vec
	if last[0] != 3 || last[10] != 690 {
		t.Errorf("last window %v, want current.mean 3 and power.mean 690", last)
	}
}

func TestStreamOptionsRefused(t *testing.T) {
	for _, tt := range []struct {
		name string
		o    StreamOptions
		want string
	}{
		{"step does not divide", StreamOptions{Window: 10 * time.Second, Step: 3 * time.Second}, "must divide"},
		{"bad expression", StreamOptions{Derived: []derive.Def{{Name: "p", Expr: "a *", Field: "derived[0]"}}}, "derived[0]"},
		{"not a number", StreamOptions{Derived: []derive.Def{{Name: "p", Expr: "a > 1", Field: "derived[3]"}}}, "derived[3]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(Options{Gateway: gw, Sink: new(sink), Stream: tt.o})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestLateVectorDoesNotChangeLatestValues(t *testing.T) {
	p, _, log := newRecorded(t, Options{Stream: StreamOptions{}})
	topic := wire.TelemetryTopic(gw, "m1")
	p.Handle(topic, telemetry(t, "m1", ms(1000), "a", 0.1, "b", 1.0), 0)
	p.Handle(topic, telemetry(t, "m1", ms(500), "a", 0.2), 0) // late with no lateness
	p.Handle(topic, telemetry(t, "m1", ms(1500), "b", 3.0), 0)
	if len(*log) != 3 {
		t.Fatalf("%d vectors, want 3", len(*log))
	}
	if v := (*log)[1].vec; v[0] != 0.2 || v[1] != 1 {
		t.Errorf("late vector %v, want [0.2 1]", v)
	}
	if v := (*log)[2].vec; v[0] != 0.1 || v[1] != 3 || math.IsNaN(v[0]) {
		t.Errorf("vector after the late one %v, want [0.1 3]", v)
	}
}

func TestRestoreWithFeaturesAndDerived(t *testing.T) {
	so := StreamOptions{Window: 2 * time.Second, Derived: []derive.Def{{Name: "power", Expr: "voltage * current"}}}
	p, _ := newTest(t, Options{Stream: so})
	for i := range 20 {
		p.Handle(wire.TelemetryTopic(gw, "m1"), telemetry(t, "m1", ms(500*i), "voltage", 230.0, "current", 2.0), 0)
	}
	var saved []Saved
	var names []string
	p.Models(func(m Model) {
		names = m.Sensors
		saved = append(saved, Saved{Name: m.Name, Role: m.Role, Detector: m.Detector})
	})
	if len(saved) != 2 || len(names) != 15 {
		t.Fatalf("models %d, features %v", len(saved), names)
	}
	q, _ := newTest(t, Options{Stream: so})
	if err := q.RestoreMachine("m1", names, saved); err != nil {
		t.Fatalf("restore with the same configuration: %v", err)
	}
	q.Handle(wire.TelemetryTopic(gw, "m1"), telemetry(t, "m1", ms(0), "voltage", 230.0, "current", 2.0), 0)
	q.Handle(wire.TelemetryTopic(gw, "m1"), telemetry(t, "m1", ms(5000), "voltage", 230.0, "current", 2.0), 0)
	if v := q.Stats().Vectors; v != 1 {
		t.Errorf("restored machine scored %d windows, want 1", v)
	}
	r, _ := newTest(t, Options{Stream: StreamOptions{Window: 2 * time.Second}})
	if err := r.RestoreMachine("m1", names, saved); err == nil || !strings.Contains(err.Error(), "do not match") {
		t.Errorf("restore after derived changed = %v, want a mismatch", err)
	}
}

func TestWindowedDerivedScoringAllocatesNothing(t *testing.T) {
	p, _ := newTest(t, Options{Stream: StreamOptions{
		Lateness: time.Second, Window: 2 * time.Second, Step: time.Second,
		Derived: []derive.Def{{Name: "power", Expr: "voltage * current"}},
	}})
	topic := wire.TelemetryTopic(gw, "m1")
	for i := range 20 {
		p.Handle(topic, telemetry(t, "m1", at(i), "voltage", 230.0, "current", float64(i%3)), 0)
	}
	m := p.machines["m1"]
	msg := p.msg
	msg.Readings = slices.Clone(msg.Readings)
	before := p.Stats().Vectors
	if n := testing.AllocsPerRun(100, func() { advance(&msg); p.score(m, &msg) }); n != 0 {
		t.Errorf("windowed scoring allocates %v times per message", n)
	}
	if got := p.Stats().Vectors - before; got != 101 {
		t.Errorf("%d windows scored in 101 one-second steps", got)
	}
}
