package ingest

import (
	"context"
	"testing"
	"time"

	"millwright/hub/store"
	"millwright/wire"
)

func TestHooksAfterCommit(t *testing.T) {
	st, err := store.Open(t.Context(), t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var (
		metrics []wire.Metrics
		alerts  []store.Alert
	)
	in, err := New(Options{BrokerURL: "tcp://fake:1883", Store: st,
		newClient: func(clientConfig) mqttClient { return &fakeClient{} },
		OnMetrics: func(gw string, m *wire.Metrics) {
			if gw != m.Env.Sender {
				t.Errorf("gateway %q for a message of %q", gw, m.Env.Sender)
			}
			metrics = append(metrics, *m)
		},
		OnAlert: func(a store.Alert) { alerts = append(alerts, a) },
	})
	if err != nil {
		t.Fatal(err)
	}
	msg := func(leaf string, m wire.Message) inbound {
		b, err := wire.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return inbound{topic: wire.AgentTopic("gw", leaf), payload: b, recv: time.Unix(100, 0)}
	}
	alert := &wire.Alert{Env: wire.Envelope{Sender: "gw", Seq: 2, Time: 50e9}, ID: "a1", Machine: "m1", Model: "hst",
		Severity: wire.SeverityCritical, Score: 0.9, Threshold: 0.5, Message: "hot"}
	batch := []inbound{
		msg(wire.LeafMetrics, &wire.Metrics{Env: wire.Envelope{Sender: "gw", Seq: 1}, Series: []wire.ModelMetric{{Machine: "m1", ScoreLast: 0.25}}}),
		msg(wire.LeafAlerts, alert),
		msg(wire.LeafAlerts, alert), // duplicate seq: not passed again
		msg(wire.LeafDeath, &wire.Death{Env: wire.Envelope{Sender: "gw", Seq: 3}}),
		msg(wire.LeafMetrics, &wire.Metrics{Env: wire.Envelope{Sender: "other", Seq: 4}}), // refused
	}
	in.process(t.Context(), batch)
	if len(metrics) != 1 || metrics[0].Series[0].ScoreLast != 0.25 {
		t.Fatalf("OnMetrics got %+v", metrics)
	}
	if len(alerts) != 1 {
		t.Fatalf("OnAlert got %d alerts, want 1", len(alerts))
	}
	a := alerts[0]
	stored, err := st.Alerts(t.Context(), store.AlertFilter{})
	if err != nil || len(stored) != 1 {
		t.Fatalf("store alerts %v, %v", stored, err)
	}
	s := stored[0]
	if a.ID != s.ID || a.Gateway != s.Gateway || a.Machine != s.Machine || a.Severity != s.Severity ||
		a.Score != s.Score || !a.Start.Equal(s.Start) || !a.Received.Equal(s.Received) || a.Status != s.Status || a.Message != s.Message {
		t.Fatalf("OnAlert got %+v, store holds %+v", a, s)
	}

	// A failed commit calls no hook.
	st.Close()
	metrics, alerts = nil, nil
	in.process(context.Background(), []inbound{msg(wire.LeafAlerts, &wire.Alert{Env: wire.Envelope{Sender: "gw", Seq: 9}, ID: "a9", Machine: "m1"})})
	if len(alerts) != 0 || len(metrics) != 0 {
		t.Fatalf("hooks called after a failed write: %v %v", alerts, metrics)
	}
}

func TestDriftRefusedWithoutStoreSupport(t *testing.T) {
	in, fc := newTestIngest(t)
	b, err := wire.Marshal(&wire.Drift{Env: wire.Envelope{Sender: "gw", Seq: 1}, Machine: "m1", Detector: "adwin"})
	if err != nil {
		t.Fatal(err)
	}
	in.process(t.Context(), []inbound{{topic: wire.AgentTopic("gw", wire.LeafDrift), payload: b}})
	if _, ok := any(&store.Tx{}).(driftIngester); ok {
		if s := in.Stats(); s.Ingested != 1 {
			t.Fatalf("store keeps drift, but stats = %+v", s)
		}
		return
	}
	if got := in.Rejects().Count(wire.KindInvalid); got != 1 || len(fc.published) != 0 {
		t.Fatalf("drift: %d invalid, %d acks; want refused and not acked", got, len(fc.published))
	}
}
