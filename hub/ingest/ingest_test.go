package ingest_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"

	"millwright/hub/broker"
	"millwright/hub/ingest"
	"millwright/hub/store"
	"millwright/wire"
)

// rig is an embedded broker, a store and a running ingest.
type rig struct {
	broker *broker.Broker
	store  *store.Store
	ingest *ingest.Ingest
	reg    *prometheus.Registry
}

func start(t *testing.T) *rig {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	b, err := broker.New(broker.Options{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	in, err := ingest.New(ingest.Options{BrokerURL: b.URL(), Store: st, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	wg.Add(2)
	go func() { defer wg.Done(); errs <- b.Run(ctx) }()
	go func() { defer wg.Done(); errs <- in.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("run: %v", err)
			}
		}
		st.Close()
	})
	waitFor(t, "ingest connected", in.Connected)
	return &rig{broker: b, store: st, ingest: in, reg: reg}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// agent is a test MQTT client standing in for a gateway's agent.
type agent struct {
	t    *testing.T
	gw   string
	c    paho.Client
	acks chan []uint64
}

func newAgent(t *testing.T, url, gw string) *agent {
	t.Helper()
	a := &agent{t: t, gw: gw, acks: make(chan []uint64, 100)}
	a.c = paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID("agent-" + gw))
	if tok := a.c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("agent connect: %v", tok.Error())
	}
	t.Cleanup(func() { a.c.Disconnect(100) })
	tok := a.c.Subscribe(wire.HubTopic(gw, wire.LeafAck), 1, func(_ paho.Client, m paho.Message) {
		var ack wire.Ack
		if err := wire.Unmarshal(m.Payload(), &ack); err != nil {
			t.Errorf("ack does not decode: %v", err)
			return
		}
		a.acks <- ack.Seqs
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("agent subscribe: %v", tok.Error())
	}
	return a
}

func (a *agent) publishRaw(leaf string, payload []byte) {
	a.t.Helper()
	tok := a.c.Publish(wire.AgentTopic(a.gw, leaf), 1, false, payload)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		a.t.Fatalf("publish %s: %v", leaf, tok.Error())
	}
}

func (a *agent) publish(leaf string, m wire.Message) {
	a.t.Helper()
	b, err := wire.Marshal(m)
	if err != nil {
		a.t.Fatal(err)
	}
	a.publishRaw(leaf, b)
}

// waitAcks collects acked seqs until all of want are seen.
func (a *agent) waitAcks(want ...uint64) {
	a.t.Helper()
	var got []uint64
	timeout := time.After(10 * time.Second)
	for {
		missing := false
		for _, w := range want {
			if !slices.Contains(got, w) {
				missing = true
			}
		}
		if !missing {
			return
		}
		select {
		case seqs := <-a.acks:
			got = append(got, seqs...)
		case <-timeout:
			a.t.Fatalf("acks: got %v, want %v", got, want)
		}
	}
}

func env(gw string, seq uint64) wire.Envelope {
	return wire.Envelope{Sender: gw, Seq: seq, Time: time.Now().UnixNano()}
}

func TestEndToEnd(t *testing.T) {
	r := start(t)
	ctx := t.Context()
	a := newAgent(t, r.broker.URL(), "gw1")

	a.publish(wire.LeafBirth, &wire.Birth{Env: env("gw1", 1), AgentVersion: "test",
		Machines: []wire.MachineInfo{{ID: "pump1", Type: "pump", Sensors: []string{"temp"}}}})
	a.publish(wire.LeafMetrics, &wire.Metrics{Env: env("gw1", 2), IntervalNs: 5e9, Series: []wire.ModelMetric{
		{Machine: "pump1", Model: "hst", Role: wire.RoleChampion, Count: 50, ScoreLast: 0.42, Threshold: 0.9},
		{Machine: "fan9", Model: "hst", Role: wire.RoleChampion, Count: 50, ScoreLast: 0.1, Threshold: 0.9},
	}})
	a.publish(wire.LeafAlerts, &wire.Alert{Env: env("gw1", 3), ID: "gw1-pump1-3", Machine: "pump1", Model: "hst",
		Severity: wire.SeverityCritical, Score: 0.97, Threshold: 0.9})
	a.waitAcks(1, 2, 3)

	// Acks are sent after the write, so the store has everything now.
	gws, err := r.store.Gateways(ctx)
	if err != nil || len(gws) != 1 || !gws[0].Online || gws[0].AgentVersion != "test" {
		t.Fatalf("gateways = %+v, %v", gws, err)
	}
	ms, err := r.store.Machines(ctx)
	if err != nil || len(ms) != 2 {
		t.Fatalf("machines = %+v, %v (fan9 must be created from metrics)", ms, err)
	}
	byID := map[string]store.Machine{}
	for _, m := range ms {
		byID[m.ID] = m
	}
	if p := byID["pump1"]; p.Type != "pump" || p.Score == nil || *p.Score != 0.42 || p.OpenAlerts != 1 {
		t.Fatalf("pump1 = %+v", p)
	}
	alerts, err := r.store.Alerts(ctx, store.AlertFilter{Status: store.StatusOpen})
	if err != nil || len(alerts) != 1 || alerts[0].ID != "gw1-pump1-3" {
		t.Fatalf("alerts = %+v, %v", alerts, err)
	}

	// A redelivery is acked again but stored once.
	a.publish(wire.LeafAlerts, &wire.Alert{Env: env("gw1", 3), ID: "gw1-pump1-3", Machine: "pump1"})
	a.waitAcks(3)
	if s := r.ingest.Stats(); s.Duplicates != 1 || s.Ingested != 3 {
		t.Fatalf("stats = %+v, want 3 ingested, 1 duplicate", s)
	}
	if got := metricValue(t, r.reg, "millwright_hub_messages_duplicate_total", ""); got != 1 {
		t.Fatalf("duplicate metric = %v", got)
	}

	a.publish(wire.LeafDeath, &wire.Death{Env: env("gw1", 4), Reason: "bye"})
	a.waitAcks(4)
	c, err := r.store.Counts(ctx)
	if err != nil || c.GatewaysOnline != 0 || c.Gateways != 1 {
		t.Fatalf("counts after death = %+v, %v", c, err)
	}
}

// metricValue returns the value of the counter name (with label kind=kind
// when kind is not empty) gathered from reg, or -1 when absent.
func metricValue(t *testing.T, reg *prometheus.Registry, name, kind string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if kind == "" || (len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == kind) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return -1
}

func TestRefusedMessages(t *testing.T) {
	r := start(t)
	a := newAgent(t, r.broker.URL(), "gw2")
	big := make([]byte, wire.MaxMessageSize+1)
	v9, err := wire.Marshal(&wire.Death{Env: wire.Envelope{Version: 9, Sender: "gw2", Seq: 1}})
	if err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		name    string
		payload []byte
		kind    string
	}{
		{"garbage", []byte{0xff, 0x00, 0x13}, wire.KindMalformed},
		{"empty", nil, wire.KindMalformed},
		{"json", []byte(`{"env":{"v":1}}`), wire.KindMalformed},
		{"oversized", big, wire.KindOversized},
		{"newer version", v9, wire.KindUnknownVersion},
	}
	leaves := []string{wire.LeafBirth, wire.LeafDeath, wire.LeafMetrics, wire.LeafAlerts, wire.LeafSnapshots, wire.LeafCmdAck}
	seq := uint64(100)
	want := map[string]uint64{}
	for _, leaf := range leaves {
		for _, b := range bad {
			a.publishRaw(leaf, b.payload)
			want[b.kind]++
		}
		// A well-formed message whose sender is not the topic's gateway.
		a.publish(leaf, good(leaf, "someone-else", 1))
		want[wire.KindInvalid]++
		// The next good message on the same topic is processed.
		seq++
		a.publish(leaf, good(leaf, "gw2", seq))
		a.waitAcks(seq)
	}
	// An unknown leaf is refused too.
	a.publishRaw("bogus", []byte{0xa0})
	want[wire.KindInvalid]++
	var total uint64
	for _, n := range want {
		total += n
	}
	waitFor(t, "bogus leaf refused", func() bool { return r.ingest.Rejects().Total() == total })
	for kind, n := range want {
		if got := r.ingest.Rejects().Count(kind); got != n {
			t.Errorf("rejects[%s] = %d, want %d", kind, got, n)
		}
	}
	for kind, n := range want {
		if got := metricValue(t, r.reg, "millwright_hub_messages_rejected_total", kind); got != float64(n) {
			t.Errorf("metric rejected{%s} = %v, want %d", kind, got, n)
		}
	}
	if got := metricValue(t, r.reg, "millwright_hub_messages_ingested_total", wire.LeafSnapshots); got != 1 {
		t.Errorf("metric ingested{snapshots} = %v, want 1", got)
	}
	if s := r.ingest.Stats(); s.Ingested != uint64(len(leaves)) {
		t.Errorf("ingested = %d, want %d", s.Ingested, len(leaves))
	}
}

func good(leaf, gw string, seq uint64) wire.Message {
	e := env(gw, seq)
	switch leaf {
	case wire.LeafBirth:
		return &wire.Birth{Env: e, AgentVersion: "t"}
	case wire.LeafDeath:
		return &wire.Death{Env: e}
	case wire.LeafMetrics:
		return &wire.Metrics{Env: e, Series: []wire.ModelMetric{{Machine: "m1", Model: "hst", Role: wire.RoleChampion}}}
	case wire.LeafAlerts:
		return &wire.Alert{Env: e, ID: "a" + strings.Repeat("1", int(seq%5)), Machine: "m1"}
	case wire.LeafSnapshots:
		return &wire.Snapshot{Env: e, Machine: "m1", Model: "hst", Role: wire.RoleChampion, Data: []byte{byte(seq)}}
	case wire.LeafCmdAck:
		return &wire.CommandAck{Env: e, CommandID: "c1", OK: true}
	}
	panic("unknown leaf " + leaf)
}

func TestNewNeedsBrokerAndStore(t *testing.T) {
	if _, err := ingest.New(ingest.Options{}); err == nil {
		t.Fatal("New without broker URL: want error")
	}
	if _, err := ingest.New(ingest.Options{BrokerURL: "tcp://127.0.0.1:1"}); err == nil {
		t.Fatal("New without store: want error")
	}
}
