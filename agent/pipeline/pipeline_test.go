package pipeline

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"millwright/models"
	"millwright/models/catalog"
	"millwright/wire"
)

// echo is a test detector whose score is the vector's first feature, so a
// test scripts scores by sending them as readings of sensor "a".
type echo struct {
	n    uint64
	last []float64
}

func (e *echo) Update(x []float64) float64 {
	e.n++
	e.last = append(e.last[:0], x...)
	return e.Score(x)
}
func (e *echo) Score(x []float64) float64 { return x[0] }
func (e *echo) Kind() string              { return "echo" }
func (e *echo) Samples() uint64           { return e.n }

// explaining is echo that blames the features by their values.
type explaining struct{ echo }

func (e *explaining) Contributions(dst []float64) { copy(dst, e.last) }

var _ models.Explainer = (*explaining)(nil)

type sink struct {
	alerts  []wire.Alert
	metrics []wire.Metrics
	drifts  []wire.Drift
}

func (s *sink) Drift(d *wire.Drift) error {
	s.drifts = append(s.drifts, *d)
	return nil
}

func (s *sink) Alert(a *wire.Alert) error {
	c := *a
	c.Contributors = slices.Clone(a.Contributors)
	s.alerts = append(s.alerts, c)
	return nil
}

func (s *sink) Metrics(m *wire.Metrics) error {
	c := *m
	c.Series = slices.Clone(m.Series)
	s.metrics = append(s.metrics, c)
	return nil
}

const gw = "gw1"

func newTest(t testing.TB, opts Options) (*Pipeline, *sink) {
	t.Helper()
	s := new(sink)
	opts.Gateway = gw
	opts.Sink = s
	opts.Model = "echo"
	if opts.Learn == 0 {
		opts.Learn = 1
	}
	if opts.NewDetector == nil {
		opts.NewDetector = func(kind string, dim int, seed uint64) (models.Detector, error) { return new(echo), nil }
	}
	// The tests' scripted scores are written for these alert settings and a
	// champion frozen after its warm-up; the production defaults differ.
	a := &opts.Alert
	if a.Threshold == 0 {
		a.Threshold, a.Clear, a.Critical = 0.99, 0.9, 0.999
	}
	if a.Consecutive == 0 {
		a.Consecutive = 3
	}
	if opts.Champion == "" {
		opts.Champion = ChampionFrozen
	}
	p, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p, s
}

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// at is the event time of the i-th vector of a test, one second apart.
func at(i int) int64 { return t0.Add(time.Duration(i) * time.Second).UnixNano() }

func telemetry(t testing.TB, machine string, tm int64, kv ...any) []byte {
	t.Helper()
	msg := &wire.Telemetry{Env: wire.Envelope{Sender: machine, Time: tm}, Machine: machine}
	for i := 0; i < len(kv); i += 2 {
		msg.Readings = append(msg.Readings, wire.Reading{Sensor: kv[i].(string), Time: tm, Value: kv[i+1].(float64)})
	}
	b, err := wire.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAlerting(t *testing.T) {
	type want struct {
		start    int // index of the vector whose time the alert carries
		severity string
	}
	tests := []struct {
		name     string
		cooldown time.Duration
		scores   []float64
		want     []want
	}{
		{"below threshold never alerts", time.Minute, []float64{0.5, 0.98, 0.989, 0.9, 0.98}, nil},
		{"three in a row alert", time.Minute, []float64{0.5, 0.995, 0.995, 0.995}, []want{{1, wire.SeverityWarning}}},
		{"two in a row do not", time.Minute, []float64{0.995, 0.995, 0.5, 0.995, 0.995}, nil},
		{"a broken run restarts the count", time.Minute, []float64{0.995, 0.995, 0.95, 0.995, 0.995, 0.995}, []want{{3, wire.SeverityWarning}}},
		{"critical at 0.999", time.Minute, []float64{0.995, 0.995, 0.9995}, []want{{0, wire.SeverityCritical}}},
		{"one alert per episode", time.Minute, []float64{0.995, 0.995, 0.995, 0.995, 0.995, 0.995, 0.995}, []want{{0, wire.SeverityWarning}}},
		{
			"hysteresis: a dip above clear does not end the episode", 0,
			[]float64{0.995, 0.995, 0.995, 0.95, 0.92, 0.995, 0.995, 0.995},
			[]want{{0, wire.SeverityWarning}},
		},
		{
			"a dip below clear ends it, the next episode alerts", 0,
			[]float64{0.995, 0.995, 0.995, 0.5, 0.995, 0.995, 0.995},
			[]want{{0, wire.SeverityWarning}, {4, wire.SeverityWarning}},
		},
		{
			"cooldown holds the next episode back", 10 * time.Second,
			[]float64{0.995, 0.995, 0.995, 0.5, 0.995, 0.995, 0.995, 0.5, 0.995, 0.995, 0.995},
			[]want{{0, wire.SeverityWarning}},
		},
		{
			"after the cooldown a run still over threshold alerts, dated at its start", 8 * time.Second,
			// fire at t=2; clear at 3; over from 4 to 11; cooldown ends at t=10
			[]float64{0.995, 0.995, 0.995, 0.5, 0.995, 0.995, 0.995, 0.995, 0.995, 0.995, 0.995, 0.995},
			[]want{{0, wire.SeverityWarning}, {4, wire.SeverityWarning}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, s := newTest(t, Options{Alert: AlertOptions{Cooldown: tt.cooldown}})
			if tt.cooldown == 0 {
				p.opts.Alert.Cooldown = -1
			}
			topic := wire.TelemetryTopic(gw, "m1")
			for i, v := range tt.scores {
				p.Handle(topic, telemetry(t, "m1", at(i), "a", v), 0)
			}
			if len(s.alerts) != len(tt.want) {
				t.Fatalf("%d alerts, want %d: %+v", len(s.alerts), len(tt.want), s.alerts)
			}
			for i, w := range tt.want {
				a := s.alerts[i]
				if a.Env.Time != at(w.start) {
					t.Errorf("alert %d time = %v, want %v (vector %d)", i, time.Unix(0, a.Env.Time).UTC(), time.Unix(0, at(w.start)).UTC(), w.start)
				}
				if a.Severity != w.severity || a.Machine != "m1" || a.Model != "echo" || a.Threshold != 0.99 || a.Env.Sender != gw {
					t.Errorf("alert %d = %+v", i, a)
				}
			}
			if got := p.Stats().Alerts; got != uint64(len(tt.want)) {
				t.Errorf("Stats().Alerts = %d", got)
			}
		})
	}
}

func TestVectorOrderAndMissingSensors(t *testing.T) {
	var det *echo
	p, _ := newTest(t, Options{Learn: 2, NewDetector: func(_ string, dim int, _ uint64) (models.Detector, error) {
		if dim != 3 {
			t.Errorf("dim = %d, want 3", dim)
		}
		det = new(echo)
		return det, nil
	}})
	topic := wire.TelemetryTopic(gw, "press")
	p.Handle(topic, telemetry(t, "press", at(0), "temp", 1.0, "amps", 2.0), 0)
	if det != nil {
		t.Fatal("detector created before the learning window ended")
	}
	p.Handle(topic, telemetry(t, "press", at(1), "vib", 3.0), 0)
	if det == nil {
		t.Fatal("no detector after the learning window")
	}
	// The second message is the first vector: only vib is known yet.
	if !math.IsNaN(det.last[0]) || !math.IsNaN(det.last[1]) || det.last[2] != 3 {
		t.Errorf("first vector = %v, want [NaN NaN 3] (amps temp vib)", det.last)
	}
	p.Handle(topic, telemetry(t, "press", at(2), "temp", 5.0, "extra", 9.0), 0)
	if !slices.Equal(det.last[1:], []float64{5, 3}) || !math.IsNaN(det.last[0]) {
		t.Errorf("vector = %v, want [NaN 5 3]", det.last)
	}
	if got := p.Stats().Ignored; got != 1 {
		t.Errorf("ignored = %d, want 1 (extra)", got)
	}
	ms := p.Machines()
	if len(ms) != 1 || ms[0].ID != "press" || !slices.Equal(ms[0].Sensors, []string{"amps", "temp", "vib"}) {
		t.Errorf("Machines = %+v", ms)
	}
}

func TestContributors(t *testing.T) {
	p, s := newTest(t, Options{NewDetector: func(string, int, uint64) (models.Detector, error) { return new(explaining), nil }})
	topic := wire.TelemetryTopic(gw, "m1")
	for i := range 3 {
		p.Handle(topic, telemetry(t, "m1", at(i), "a", 0.995, "b", 0.2, "c", 0.7, "d", 0.0), 0)
	}
	if len(s.alerts) != 1 {
		t.Fatalf("%d alerts", len(s.alerts))
	}
	want := []wire.Contribution{{Feature: "a", Value: 0.995}, {Feature: "c", Value: 0.7}, {Feature: "b", Value: 0.2}}
	if got := s.alerts[0].Contributors; !slices.Equal(got, want) {
		t.Errorf("contributors = %v, want %v", got, want)
	}
}

func TestMetrics(t *testing.T) {
	p, s := newTest(t, Options{})
	for i, v := range []float64{0.2, 0.4, 0.995} {
		p.Handle(wire.TelemetryTopic(gw, "m1"), telemetry(t, "m1", at(i), "a", v), 0)
	}
	p.Handle(wire.TelemetryTopic(gw, "m2"), telemetry(t, "m2", at(0), "a", 0.1), 0)
	now := time.Now().Add(5 * time.Second)
	p.EmitMetrics(now)
	if len(s.metrics) != 1 {
		t.Fatalf("%d metrics messages", len(s.metrics))
	}
	m := s.metrics[0]
	if m.Env.Time != now.UnixNano() || m.IntervalNs <= 0 || len(m.Series) != 4 {
		t.Fatalf("metrics = %+v", m)
	}
	m1 := m.Series[0]
	if m1.Machine != "m1" || m1.Role != wire.RoleChampion || m1.Count != 3 || m1.ScoreMax != 0.995 || m1.ScoreLast != 0.995 ||
		math.Abs(m1.ScoreMean-(0.2+0.4+0.995)/3) > 1e-12 || m1.Alerts != 1 || m1.Samples != 3 || m1.LatencyNs <= 0 {
		t.Errorf("m1 series = %+v", m1)
	}
	if want := []uint32{4: 1, 8: 1, wire.HistBins - 1: 1}; !slices.Equal(m1.Hist, want) {
		t.Errorf("m1 hist = %v, want %v", m1.Hist, want)
	}
	// The twin scores the same vectors; it agrees with the champion on the
	// one over the threshold and does not learn it.
	tw := m.Series[1]
	if tw.Role != wire.RoleTwin || tw.Kind != "echo" || tw.Both != 1 || tw.OnlyModel != 0 || tw.OnlyChampion != 0 || tw.Samples != 2 {
		t.Errorf("twin series = %+v", tw)
	}
	// The next interval starts from zero.
	p.EmitMetrics(now.Add(5 * time.Second))
	if got := s.metrics[1].Series[0]; got.Count != 0 || got.ScoreMax != 0 || got.Samples != 3 {
		t.Errorf("second interval = %+v", got)
	}
}

func TestRefusedMessagesAreCountedAndSkipped(t *testing.T) {
	topic := wire.TelemetryTopic(gw, "m1")
	jsonBig := append([]byte(`{"sensor":"a","value":1,"pad":"`), bytes.Repeat([]byte("x"), wire.MaxJSONSize)...)
	jsonBig = append(jsonBig, `"}`...)
	future := &wire.Telemetry{Env: wire.Envelope{Version: 9}, Machine: "m1"}
	futureB, _ := wire.Marshal(future)
	other, _ := json.Marshal(map[string]any{"machine": "m2", "sensor": "a", "value": 1})
	tests := []struct {
		name, topic string
		payload     []byte
		kind        string
	}{
		{"garbage cbor", topic, []byte{0xff, 0x00, 0x13}, wire.KindMalformed},
		{"empty", topic, nil, wire.KindMalformed},
		{"broken json", topic, []byte(`{"sensor":`), wire.KindMalformed},
		{"json without value", topic, []byte(`{"sensor":"a"}`), wire.KindInvalid},
		{"oversized cbor", topic, make([]byte, wire.MaxMessageSize+1), wire.KindOversized},
		{"oversized json", topic, jsonBig, wire.KindOversized},
		{"unknown version", topic, futureB, wire.KindUnknownVersion},
		{"another gateway", wire.TelemetryTopic("gw2", "m1"), telemetry(t, "m1", at(0), "a", 0.1), wire.KindInvalid},
		{"not telemetry", wire.HubTopic(gw, wire.LeafAck), telemetry(t, "m1", at(0), "a", 0.1), wire.KindInvalid},
		{"payload names another machine", topic, other, wire.KindInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := newTest(t, Options{})
			p.Handle(tt.topic, tt.payload, at(0))
			if got := p.Rejects().Count(tt.kind); got != 1 {
				t.Errorf("rejects of kind %s = %d, want 1 (all: %v)", tt.kind, got, p.Rejects().Snapshot())
			}
			p.Handle(topic, telemetry(t, "m1", at(1), "a", 0.3), at(1))
			if st := p.Stats(); st.Messages != 1 || st.Vectors != 1 {
				t.Errorf("after a refused message the next good one was not scored: %+v", st)
			}
		})
	}
}

func TestJSONTelemetry(t *testing.T) {
	p, _ := newTest(t, Options{})
	p.Handle(wire.TelemetryTopic(gw, "m1"), []byte(`{"sensor":"a","value":0.5,"time":1700000000}`), at(0))
	if st := p.Stats(); st.Vectors != 1 || st.Readings != 1 {
		t.Errorf("stats = %+v", st)
	}
}

func TestMachineLimit(t *testing.T) {
	p, _ := newTest(t, Options{MaxMachines: 2})
	for _, m := range []string{"m1", "m2", "m3"} {
		p.Handle(wire.TelemetryTopic(gw, m), telemetry(t, m, at(0), "a", 0.1), 0)
	}
	if len(p.Machines()) != 2 || p.Rejects().Count(wire.KindInvalid) != 1 {
		t.Errorf("machines %d, rejects %v", len(p.Machines()), p.Rejects().Snapshot())
	}
}

func TestRestoreMachine(t *testing.T) {
	p, _ := newTest(t, Options{Learn: 5})
	ch, tw := &echo{n: 42}, &echo{n: 40}
	saved := []Saved{
		{Name: "echo", Role: wire.RoleChampion, Detector: ch, Warm: 0},
		{Name: "echo-twin", Role: wire.RoleTwin, Detector: tw},
	}
	if err := p.RestoreMachine("m1", []string{"a", "b"}, saved); err != nil {
		t.Fatal(err)
	}
	// No learning window: the first message is scored at once; the frozen
	// champion does not learn, its twin does.
	p.Handle(wire.TelemetryTopic(gw, "m1"), telemetry(t, "m1", at(0), "b", 0.25), 0)
	if ch.n != 42 || tw.n != 41 || tw.last[1] != 0.25 {
		t.Errorf("restored detectors not used as champion (frozen) and twin (learning): champion n=%d twin n=%d last=%v", ch.n, tw.n, tw.last)
	}
	for _, bad := range []struct {
		id      string
		sensors []string
		saved   []Saved
		want    string
	}{
		{"m1", []string{"a"}, saved, "already known"},
		{"m2", []string{"b", "a"}, saved, "sorted"},
		{"m2", []string{"a", "a"}, saved, "repeated"},
		{"m/2", []string{"a"}, saved, "invalid machine"},
		{"m2", []string{"a"}, saved[:1], "twin are required"},
	} {
		if err := p.RestoreMachine(bad.id, bad.sensors, bad.saved); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("RestoreMachine(%s, %v) = %v, want %q", bad.id, bad.sensors, err, bad.want)
		}
	}
	var roles []string
	p.Models(func(m Model) {
		roles = append(roles, m.Role)
		if m.Machine != "m1" {
			t.Errorf("model %+v", m)
		}
	})
	if !slices.Equal(roles, []string{wire.RoleChampion, wire.RoleTwin}) {
		t.Errorf("Models roles = %v", roles)
	}
}

func TestScoringAllocatesNothing(t *testing.T) {
	p, _ := newTest(t, Options{})
	topic := wire.TelemetryTopic(gw, "m1")
	p.Handle(topic, telemetry(t, "m1", at(0), "a", 0.1, "b", 0.2), 0)
	m := p.machines["m1"]
	msg := p.msg
	msg.Readings = slices.Clone(msg.Readings)
	before := p.Stats().Vectors
	if n := testing.AllocsPerRun(100, func() { advance(&msg); p.score(m, &msg) }); n != 0 {
		t.Errorf("score allocates %v times per vector", n)
	}
	if got := p.Stats().Vectors - before; got != 101 {
		t.Errorf("%d vectors scored in 101 runs", got)
	}
}

// advance moves every reading of msg one second on, so that scoring it
// again makes a new vector, not a duplicate.
func advance(msg *wire.Telemetry) {
	for i := range msg.Readings {
		msg.Readings[i].Time += int64(time.Second)
	}
}

// timePatcher rewrites the event times of an encoded message in place, so
// that a benchmark sends a new message each iteration, not a duplicate.
type timePatcher struct {
	payload []byte
	offs    []int
	json    bool
	buf     [20]byte
}

// newTimePatcher finds every encoding of t in payload: CBOR's 8-byte
// unsigned integer, or with asJSON its decimal digits.
func newTimePatcher(tb testing.TB, payload []byte, t int64, asJSON bool) *timePatcher {
	tb.Helper()
	p := &timePatcher{payload: payload, json: asJSON}
	var enc []byte
	if asJSON {
		enc = strconv.AppendInt(nil, t, 10)
	} else {
		enc = binary.BigEndian.AppendUint64([]byte{0x1b}, uint64(t))
	}
	for i := 0; i+len(enc) <= len(payload); i++ {
		if bytes.Equal(payload[i:i+len(enc)], enc) {
			p.offs = append(p.offs, i)
		}
	}
	if len(p.offs) == 0 {
		tb.Fatalf("time %d not found in payload", t)
	}
	return p
}

// set writes t (of as many digits as the original, for JSON).
func (p *timePatcher) set(t int64) {
	for _, off := range p.offs {
		if p.json {
			d := strconv.AppendInt(p.buf[:0], t, 10)
			copy(p.payload[off:], d)
		} else {
			binary.BigEndian.PutUint64(p.payload[off+1:], uint64(t))
		}
	}
}

func BenchmarkHandleCBOR(b *testing.B) {
	p, _ := newTest(b, Options{})
	topic := wire.TelemetryTopic(gw, "m1")
	payload := telemetry(b, "m1", at(0), "amps", 1.0, "temp", 2.0, "vib", 3.0, "rpm", 4.0)
	tp := newTimePatcher(b, payload, at(0), false)
	p.Handle(topic, payload, 0)
	b.ReportAllocs()
	i := 1
	for b.Loop() {
		tp.set(at(i))
		p.Handle(topic, payload, 0)
		i++
	}
	checkAllScored(b, p)
}

// checkAllScored fails a benchmark whose messages were not all scored in
// order (late or duplicate ones would measure another path).
func checkAllScored(b *testing.B, p *Pipeline) {
	b.Helper()
	if st := p.Stats(); st.Late+st.Duplicates+st.LateDropped != 0 {
		b.Fatalf("benchmark messages were late or duplicates: %+v", st)
	}
}

func BenchmarkHandleJSON(b *testing.B) {
	p, _ := newTest(b, Options{})
	topic := wire.TelemetryTopic(gw, "m1")
	payload := []byte(`{"machine":"m1","readings":[{"sensor":"amps","value":1,"time":1700000000},{"sensor":"temp","value":2,"time":1700000000}]}`)
	tp := newTimePatcher(b, payload, 1700000000, true)
	p.Handle(topic, payload, 0)
	b.ReportAllocs()
	i := int64(1)
	for b.Loop() {
		tp.set(1700000000 + i)
		p.Handle(topic, payload, 0)
		i++
	}
	checkAllScored(b, p)
}

func FuzzHandle(f *testing.F) {
	f.Add(telemetry(f, "m1", at(0), "a", 0.5))
	f.Add([]byte(`{"sensor":"a","value":1}`))
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, _ := newTest(t, Options{})
		p.Handle(wire.TelemetryTopic(gw, "m1"), b, 1)
		st := p.Stats()
		if st.Messages+p.Rejects().Total() != 1 {
			t.Errorf("message neither accepted nor refused: %+v rejects %v", st, p.Rejects().Snapshot())
		}
	})
}

// The per-message path with the default catalog detector, 8 sensors.
func BenchmarkHandleCBORDefaultModel(b *testing.B) {
	p, _ := newTest(b, Options{NewDetector: catalog.New})
	p.opts.Model = catalog.Default
	topic := wire.TelemetryTopic(gw, "m1")
	kv := []any{}
	for _, s := range []string{"s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7"} {
		kv = append(kv, s, 1.0)
	}
	payloads := make([][]byte, 256)
	patchers := make([]*timePatcher, len(payloads))
	for i := range payloads {
		for j := 1; j < len(kv); j += 2 {
			kv[j] = float64(i%17) + float64(j)
		}
		payloads[i] = telemetry(b, "m1", at(i), kv...)
		patchers[i] = newTimePatcher(b, payloads[i], at(i), false)
	}
	for _, pl := range payloads {
		p.Handle(topic, pl, 0)
	}
	b.ReportAllocs()
	i := len(payloads)
	for b.Loop() {
		k := i % len(payloads)
		patchers[k].set(at(i))
		p.Handle(topic, payloads[k], 0)
		i++
	}
	checkAllScored(b, p)
}

func TestScoringDefaultModelAllocatesNothing(t *testing.T) {
	p, _ := newTest(t, Options{NewDetector: catalog.New})
	p.opts.Model = catalog.Default
	topic := wire.TelemetryTopic(gw, "m1")
	for i := range 300 {
		p.Handle(topic, telemetry(t, "m1", at(i), "a", float64(i%5), "b", float64(i%3)), 0)
	}
	m := p.machines["m1"]
	msg := p.msg
	msg.Readings = slices.Clone(msg.Readings)
	before := p.Stats().Vectors
	if n := testing.AllocsPerRun(200, func() { advance(&msg); p.score(m, &msg) }); n != 0 {
		t.Errorf("score with %s allocates %v times per vector", catalog.Default, n)
	}
	if got := p.Stats().Vectors - before; got != 201 {
		t.Errorf("%d vectors scored in 201 runs", got)
	}
}

func TestUntimedReadingsTakeTheReceiveTime(t *testing.T) {
	p, s := newTest(t, Options{})
	topic := wire.TelemetryTopic(gw, "m1")
	for i := range 3 {
		b, err := wire.Marshal(&wire.Telemetry{Machine: "m1", Readings: []wire.Reading{{Sensor: "a", Value: 0.995}}})
		if err != nil {
			t.Fatal(err)
		}
		p.Handle(topic, b, at(10+i))
	}
	if len(s.alerts) != 1 || s.alerts[0].Env.Time != at(10) {
		t.Fatalf("alerts = %+v, want one dated at the first receive time", s.alerts)
	}
}
