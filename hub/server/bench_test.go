package server_test

import (
	"context"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"millwright/hub/server"
	"millwright/wire"
)

// BenchmarkEndToEnd publishes metrics messages (6 series each) like an
// agent, QoS 1 through the embedded broker, and counts until every one is
// stored and acked by the hub.
func BenchmarkEndToEnd(b *testing.B) {
	ctx, cancel := context.WithCancel(b.Context())
	defer cancel()
	srv, err := server.New(ctx, server.Options{DataDir: b.TempDir(), HTTPAddr: "127.0.0.1:0", MQTTAddr: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for srv.Ready() != nil {
		select {
		case <-time.After(10 * time.Millisecond):
		case <-ctx.Done():
			b.Fatal("hub never ready")
		}
	}
	c := paho.NewClient(paho.NewClientOptions().AddBroker(srv.BrokerURL()).SetClientID("bench-agent"))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatal(tok.Error())
	}
	defer c.Disconnect(0)
	acked := make(chan int, 1024)
	c.Subscribe(wire.HubTopic("gw", wire.LeafAck), 1, func(_ paho.Client, m paho.Message) {
		var a wire.Ack
		if wire.Unmarshal(m.Payload(), &a) == nil {
			acked <- len(a.Seqs)
		}
	}).WaitTimeout(10 * time.Second)
	m := &wire.Metrics{Env: wire.Envelope{Sender: "gw"}, IntervalNs: 5e9}
	for _, id := range []string{"m1", "m2", "m3", "m4", "m5", "m6"} {
		m.Series = append(m.Series, wire.ModelMetric{Machine: id, Model: "hst", Role: wire.RoleChampion, Count: 100, ScoreLast: 0.3})
	}
	b.ReportAllocs()
	var seq uint64
	got := 0
	for b.Loop() {
		seq++
		m.Env.Seq = seq
		payload, err := wire.Marshal(m)
		if err != nil {
			b.Fatal(err)
		}
		c.Publish(wire.AgentTopic("gw", wire.LeafMetrics), 1, false, payload)
		// Keep at most 512 in flight, like an agent's outbox window.
		for seq-uint64(got) > 512 {
			got += <-acked
		}
	}
	timeout := time.After(30 * time.Second)
	for uint64(got) < seq {
		select {
		case n := <-acked:
			got += n
		case <-timeout:
			b.Fatalf("acked %d of %d", got, seq)
		}
	}
}
