package daemon

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"millwright/agent/config"
	"millwright/agent/stream/derive"
	"millwright/agent/stream/ingest"
	"millwright/agent/stream/reorder"
	"millwright/wire"
)

func TestStreamOptionsFromConfig(t *testing.T) {
	c := config.Default()
	c.Gateway = "gw1"
	o, err := FromConfig(c).withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if s := o.Stream; s.Lateness != 2*time.Second || s.Late != reorder.ScoreOnly || s.Idle != time.Second || s.Window != 0 || s.Derived != nil {
		t.Errorf("default stream options %+v", s)
	}
	c.EventTime.Lateness = 0 // none, not the default
	c.EventTime.Late = reorder.Drop
	c.Features.Window = &config.Window{Size: 10 * 1e9, Step: 5 * 1e9}
	c.Derived = []derive.Def{{Name: "power", Expr: "voltage * current"}}
	o, err = FromConfig(c).withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if s := o.Stream; s.Lateness != 0 || s.Late != reorder.Drop || s.Window != 10*time.Second || s.Step != 5*time.Second ||
		len(s.Derived) != 1 || s.Derived[0].Field != "derived[0]" {
		t.Errorf("stream options %+v", s)
	}
	// The agent builds with them, and refuses a bad expression by field.
	a := newAgent(t, FromConfig(c))
	if a.pl == nil {
		t.Fatal("no pipeline")
	}
	c.Derived = []derive.Def{{Name: "power", Expr: "voltage *"}}
	o = FromConfig(c)
	o.Gateway, o.StateDir, o.HTTPAddr = "gw1", t.TempDir(), "127.0.0.1:0"
	if _, err := New(o); err == nil || !strings.Contains(err.Error(), "derived[0]") {
		t.Errorf("New with a bad derived expression = %v, want an error naming derived[0]", err)
	}
}

// A message delivered twice is scored once and counted in /metrics; what
// the reorder buffers hold is scored at shutdown.
func TestDuplicatesInMetricsAndDrainAtShutdown(t *testing.T) {
	a := newAgent(t, Options{Learn: 1})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	topic := wire.TelemetryTopic("gw1", "m1")
	for i, dup := range []bool{false, true, false} {
		tm := time.Date(2026, 1, 1, 0, 0, i, 0, time.UTC).UnixNano()
		p, err := wire.Marshal(&wire.Telemetry{Machine: "m1", Readings: []wire.Reading{{Sensor: "a", Time: tm, Value: 1}}})
		if err != nil {
			t.Fatal(err)
		}
		a.in <- inMsg{topic: topic, payload: p, recv: tm}
		if dup {
			a.in <- inMsg{topic: topic, payload: p, recv: tm}
		}
	}
	want := `mw_agent_event_time_readings_total{outcome="duplicate"} 1`
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + a.HTTPAddr() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), want) && strings.Contains(string(b), "mw_agent_telemetry_messages_total 4") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics never showed %q:\n%s", want, b)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
	// Readings at 0s, 1s, 2s: only the first is 2s behind the newest.
	if st := a.PipelineStats(); st.Vectors != 1 {
		t.Errorf("%d vectors scored before shutdown, want 1: the others are within the 2s lateness", st.Vectors)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st := a.PipelineStats(); st.Vectors != 3 || st.Duplicates != 1 {
		t.Errorf("after shutdown: %+v, want 3 vectors and 1 duplicate", st)
	}
}

// A message on a mapped topic outside the wire contract reaches the
// pipeline as telemetry of its asset; one that does not fit is counted.
func TestIngestMappedTopic(t *testing.T) {
	a := newAgent(t, Options{Learn: 1, Ingest: []ingest.Mapping{{
		Topic: "plant/{line}/{asset}/{sensor}", Format: ingest.JSON, JSON: ingest.JSONPaths{Value: "v", Time: "t"},
	}}})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	a.onMessage("plant/l1/press-7/temp", []byte(`{"v": 41.5, "t": 1767225600000}`))
	a.onMessage("plant/l1/press-7/temp", []byte(`{"v": "hot"}`))
	deadline := time.Now().Add(10 * time.Second)
	for a.PipelineStats().Messages < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("ingested message never reached the pipeline: %+v", a.PipelineStats())
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ms := a.pl.Machines()
	if len(ms) != 1 || ms[0].ID != "press-7" || len(ms[0].Sensors) != 1 || ms[0].Sensors[0] != "temp" {
		t.Errorf("machines %+v, want press-7 with sensor temp", ms)
	}
	if n := a.ingest.errs.Total(); n != 1 {
		t.Errorf("%d ingest errors counted, want 1", n)
	}
	if st := a.PipelineStats(); st.Vectors != 1 {
		t.Errorf("%d vectors after shutdown, want 1", st.Vectors)
	}
}
