package daemon

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"millwright/agent/outbox"
	"millwright/agent/pipeline"
	"millwright/agent/state"
	"millwright/models/catalog"
	"millwright/wire"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func newAgent(t *testing.T, opts Options) *Agent {
	t.Helper()
	if opts.Gateway == "" {
		opts.Gateway = "gw1"
	}
	if opts.StateDir == "" {
		opts.StateDir = t.TempDir()
	}
	opts.HTTPAddr = "127.0.0.1:0"
	if opts.BrokerURL == "" {
		opts.BrokerURL = "tcp://127.0.0.1:1" // nothing there
	}
	a, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(a.closeResources)
	return a
}

func TestHubMessagesRefusedAndCounted(t *testing.T) {
	a := newAgent(t, Options{})
	for range 2 {
		if _, err := a.ob.Put(outbox.Alert, "t", func(uint64) ([]byte, error) { return []byte("x"), nil }); err != nil {
			t.Fatal(err)
		}
	}
	ackTopic := wire.HubTopic("gw1", wire.LeafAck)
	future, _ := wire.Marshal(&wire.Ack{Env: wire.Envelope{Version: 7}, Seqs: []uint64{1}})
	tests := []struct {
		name, topic string
		payload     []byte
		kind        string
	}{
		{"garbage ack", ackTopic, []byte{0xff, 0xfe}, wire.KindMalformed},
		{"empty ack", ackTopic, nil, wire.KindMalformed},
		{"oversized ack", ackTopic, make([]byte, wire.MaxMessageSize+1), wire.KindOversized},
		{"ack of another version", ackTopic, future, wire.KindUnknownVersion},
		{"json ack", ackTopic, []byte(`{"seqs":[1]}`), wire.KindMalformed},
		{"garbage command", wire.HubTopic("gw1", wire.LeafCmd), []byte("{"), wire.KindMalformed},
		{"oversized command", wire.HubTopic("gw1", wire.LeafCmd), make([]byte, wire.MaxMessageSize+1), wire.KindOversized},
		{"unknown hub leaf", wire.HubTopic("gw1", "nope"), []byte{0xa0}, wire.KindInvalid},
		{"outside the contract", "some/where", []byte{0xa0}, wire.KindInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := a.rejects.Count(tt.kind)
			a.onMessage(tt.topic, tt.payload)
			if got := a.rejects.Count(tt.kind) - before; got != 1 {
				t.Errorf("rejects of kind %s grew by %d, want 1 (all: %v)", tt.kind, got, a.rejects.Snapshot())
			}
			if q := a.ob.Stats().Queued; q != 2 {
				t.Errorf("a refused message changed the outbox: %d queued", q)
			}
		})
	}
	// The next good ack is processed.
	ack, _ := wire.Marshal(&wire.Ack{Seqs: []uint64{2}})
	a.onMessage(ackTopic, ack)
	a.applyAcks(<-a.acks) // what ackLoop does
	if s := a.ob.Stats(); s.Queued != 1 || s.Delivered != 1 {
		t.Errorf("after a good ack: %+v", s)
	}
	// An empty ack after one with seqs does not ack them again or others.
	empty, _ := wire.Marshal(&wire.Ack{})
	a.onMessage(ackTopic, empty)
	a.applyAcks(<-a.acks)
	if s := a.ob.Stats(); s.Queued != 1 {
		t.Errorf("an empty ack removed entries: %+v", s)
	}
}

func TestCorruptStateStartsFresh(t *testing.T) {
	dir := t.TempDir()
	models := filepath.Join(dir, "models")
	if err := os.MkdirAll(models, 0o755); err != nil {
		t.Fatal(err)
	}
	// One unreadable file, one well-formed file whose snapshot is corrupt.
	if err := os.WriteFile(filepath.Join(models, "m1.champion.model"), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := state.Save(models, state.Model{Machine: "m2", Role: wire.RoleChampion, Kind: catalog.Default, Sensors: []string{"a"}, Data: []byte{0xa1, 0x01, 0x02}}); err != nil {
		t.Fatal(err)
	}
	logs := new(syncBuf)
	a := newAgent(t, Options{StateDir: dir, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if ms := a.pl.Machines(); len(ms) != 0 {
		t.Errorf("machines restored from corrupt state: %+v", ms)
	}
	out := logs.String()
	for _, m := range []string{"m1", "m2"} {
		if !strings.Contains(out, "model state refused; the machine starts fresh") || !strings.Contains(out, m+".champion.model") {
			t.Errorf("logs do not say %s starts fresh:\n%s", m, out)
		}
		if _, err := os.Stat(filepath.Join(models, m+".champion.model.corrupt")); err != nil {
			t.Errorf("%s not set aside: %v", m, err)
		}
	}
	if a.stateRefused != 2 {
		t.Errorf("mw_agent_model_state_refused_total = %d, want 2", a.stateRefused)
	}
}

func TestStateSaveAndRestoreWithCatalog(t *testing.T) {
	dir := t.TempDir()
	a := newAgent(t, Options{StateDir: dir, Learn: 1})
	for i := range 50 {
		tm := int64(i) * int64(time.Second)
		p, _ := wire.Marshal(&wire.Telemetry{Machine: "m1", Readings: []wire.Reading{{Sensor: "a", Time: tm, Value: float64(i % 7)}, {Sensor: "b", Time: tm, Value: 1}}})
		a.pl.Handle(wire.TelemetryTopic("gw1", "m1"), p, tm)
	}
	a.pl.Drain() // as shutdown does: the last readings wait for the watermark
	a.saveState(time.Now())
	a.closeResources()

	b := newAgent(t, Options{StateDir: dir})
	var samples uint64
	b.pl.Models(func(m pipeline.Model) { samples = m.Detector.Samples() })
	if samples != 50 {
		t.Errorf("restored model has %d samples, want 50", samples)
	}
	if ms := b.pl.Machines(); len(ms) != 1 || strings.Join(ms[0].Sensors, ",") != "a,b" {
		t.Errorf("machines = %+v", ms)
	}
}

func TestOptionsDefaults(t *testing.T) {
	o, err := Options{Gateway: "gw9"}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if o.BrokerURL != "tcp://127.0.0.1:1883" || o.StateDir != filepath.Join("data", "agent-gw9") || o.HTTPAddr != "127.0.0.1:9100" ||
		o.Model != catalog.Default || o.Alert.Threshold != pipeline.DefaultThreshold || o.Alert.Clear != pipeline.DefaultClear ||
		o.Alert.Consecutive != pipeline.DefaultConsecutive || o.Champion != pipeline.ChampionLearn || o.Alert.Cooldown != time.Minute ||
		o.MetricsInterval != 5*time.Second || o.OutboxMaxBytes != 64<<20 || o.AckTimeout != 10*time.Second {
		t.Errorf("defaults = %+v", o)
	}
	if _, err := (Options{}).withDefaults(); err == nil || !strings.Contains(err.Error(), "gateway") {
		t.Errorf("no gateway: %v", err)
	}
}

func TestEndpointsWithoutBroker(t *testing.T) {
	a := newAgent(t, Options{})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + a.HTTPAddr() + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d", code)
	}
	if code, _ := get("/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz without a broker = %d, want 503", code)
	}
	a.rejects.Reject("x", &wire.DecodeError{Kind: wire.KindMalformed, What: "t", Err: io.EOF})
	code, body := get("/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics = %d", code)
	}
	for _, want := range []string{
		"mw_agent_readings_ingested_total 0", `mw_agent_rejected_total{kind="malformed"} 1`, "mw_agent_vectors_scored_total",
		"mw_agent_alerts_total", `mw_agent_drifts_total{outcome="rate_limited"} 0`, "mw_agent_outbox_depth 0", "mw_agent_outbox_bytes", `mw_agent_outbox_dropped_total{class="metrics"} 0`,
		"mw_agent_outbox_delivered_total", "mw_agent_scoring_latency_seconds_bucket", "mw_agent_broker_connected 0",
		"mw_agent_outbox_unwritten ", "mw_agent_outbox_commits_total", `mw_agent_outbox_queue_full_total{class="alert"} 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel without a broker")
	}
}

func FuzzHubMessage(f *testing.F) {
	ack, _ := wire.Marshal(&wire.Ack{Seqs: []uint64{1, 2}})
	cmd, _ := wire.Marshal(&wire.Command{ID: "c1", Kind: wire.CmdPing})
	f.Add(true, ack)
	f.Add(false, cmd)
	f.Add(true, []byte{0xff})
	dir := f.TempDir()
	a, err := New(Options{Gateway: "gw1", StateDir: dir, HTTPAddr: "127.0.0.1:0", BrokerURL: "tcp://127.0.0.1:1"})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(a.closeResources)
	f.Fuzz(func(t *testing.T, isAck bool, b []byte) {
		topic := wire.HubTopic("gw1", wire.LeafCmd)
		if isAck {
			topic = wire.HubTopic("gw1", wire.LeafAck)
		}
		before := a.rejects.Total()
		a.onMessage(topic, b)
		for len(a.cmds) > 0 { // what the loop does: apply and answer
			a.command(<-a.cmds)
		}
		for len(a.acks) > 0 { // what ackLoop does
			a.applyAcks(<-a.acks)
		}
		var probe wire.Ack
		refused := a.rejects.Total() - before
		if isAck && (wire.Unmarshal(b, &probe) != nil) != (refused == 1) {
			t.Errorf("ack %x: refused %d times, decoder error %v", b, refused, wire.Unmarshal(b, &probe))
		}
	})
}

// A command's effect is on disk when it is acknowledged: a crash (no
// shutdown, no periodic save) right after keeps it, with every role.
func TestCommandSurvivesACrash(t *testing.T) {
	dir := t.TempDir()
	a := newAgent(t, Options{StateDir: dir, Learn: 1})
	for i := range 50 {
		tm := int64(i) * int64(time.Second)
		p, _ := wire.Marshal(&wire.Telemetry{Machine: "m1", Readings: []wire.Reading{{Sensor: "a", Time: tm, Value: float64(i % 7)}, {Sensor: "b", Time: tm, Value: 1}}})
		a.pl.Handle(wire.TelemetryTopic("gw1", "m1"), p, tm)
	}
	produced := a.ob.Stats().Produced
	p, _ := wire.Marshal(&wire.Command{ID: "c1", Kind: wire.CmdDeploy, Machine: "m1", Role: wire.RoleChallenger, Model: "hst", Name: "h1"})
	a.onMessage(wire.HubTopic("gw1", wire.LeafCmd), p)
	a.command(<-a.cmds)
	if got := a.ob.Stats().Produced; got != produced+1 {
		t.Fatalf("no command ack queued: produced %d -> %d", produced, got)
	}
	p, _ = wire.Marshal(&wire.Command{ID: "c2", Kind: wire.CmdDeploy, Machine: "m1", Model: "baseline", Settings: map[string]float64{"warmup": 5}})
	a.onMessage(wire.HubTopic("gw1", wire.LeafCmd), p)
	a.command(<-a.cmds)
	a.closeResources() // kill -9: nothing else is saved

	b := newAgent(t, Options{StateDir: dir})
	var got []string
	b.pl.Models(func(m pipeline.Model) {
		r := m.Role + ":" + m.Name
		if m.Previous {
			r = "prev-" + r
		}
		got = append(got, r)
	})
	d := catalog.Default
	want := "champion:baseline twin:baseline-twin challenger:h1 prev-champion:" + d + " prev-twin:" + d + "-twin"
	if strings.Join(got, " ") != want {
		t.Errorf("models after a crash: %s, want %s", strings.Join(got, " "), want)
	}
}
