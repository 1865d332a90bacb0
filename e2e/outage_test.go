package e2e

import (
	"context"
	"testing"
	"time"

	"millwright/agent/daemon"
	"millwright/hub/server"
	"millwright/hub/store"
	"millwright/internal/mqtttest"
)

// TestHubOutageLosesNothing: the hub goes away while the gateway's broker
// (Mosquitto) stays up, the agent keeps scoring and raises the fault's alert
// with nobody to acknowledge it; when the hub comes back on the same data,
// everything the agent owed it arrives, and the agent's books balance with
// nothing queued or dropped.
func TestHubOutageLosesNothing(t *testing.T) {
	m := mqtttest.StartMosquitto(t, mqtttest.MosquittoOptions{})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	hubOpts := server.Options{DataDir: t.TempDir(), HTTPAddr: "127.0.0.1:0", BrokerURL: m.URL, Logger: logger(t).With("component", "hub")}

	// First hub life.
	hctx, stopHub := context.WithCancel(ctx)
	hub, err := server.New(hctx, hubOpts)
	if err != nil {
		t.Fatal(err)
	}
	hubDone := make(chan error, 1)
	go func() { hubDone <- hub.Run(hctx) }()
	waitFor(t, 15*time.Second, "hub ready", func() bool { return hub.Ready() == nil })
	broker := hub.BrokerURL()

	agent, err := daemon.New(daemon.Options{Gateway: "gw1", BrokerURL: broker, StateDir: t.TempDir(), HTTPAddr: "127.0.0.1:0",
		MetricsInterval: 500 * time.Millisecond, AckTimeout: time.Second, Logger: logger(t).With("component", "agent")})
	if err != nil {
		t.Fatal(err)
	}
	agentDone := make(chan error, 1)
	go func() { agentDone <- agent.Run(ctx) }()
	s := &system{broker: broker, errs: make(chan error, 8)}
	labels := s.startPlant(t, ctx, faultScenario())
	waitFor(t, 30*time.Second, "metrics delivered before the outage", func() bool { return agent.OutboxStats().Delivered > 0 })

	// The outage: the hub stops; the broker stays.
	stopHub()
	if err := <-hubDone; err != nil {
		t.Fatalf("hub run: %v", err)
	}
	waitFor(t, 90*time.Second, "the fault's alert raised during the outage", func() bool { return agent.PipelineStats().Alerts > 0 })
	if q := agent.OutboxStats().Queued; q == 0 {
		t.Fatal("nothing queued during the outage")
	}

	// Second hub life, same data.
	hub2, err := server.New(ctx, hubOpts)
	if err != nil {
		t.Fatal(err)
	}
	hub2Done := make(chan error, 1)
	go func() { hub2Done <- hub2.Run(ctx) }()
	waitFor(t, 60*time.Second, "the outbox drained into the returned hub", func() bool {
		st := agent.OutboxStats()
		return st.Queued == 0 && st.Delivered > 0
	})
	as, err := hub2.Store().Alerts(ctx, store.AlertFilter{Gateway: "gw1", Machine: labels[0].Machine})
	if err != nil {
		t.Fatal(err)
	}
	if len(as) == 0 {
		t.Fatal("the alert raised during the outage never reached the hub")
	}
	st := agent.OutboxStats()
	if st.Dropped != 0 || st.Produced != st.Delivered+st.Dropped+st.Queued {
		t.Fatalf("books do not balance or something was dropped: %+v", st)
	}
	cancel()
	for _, done := range []chan error{agentDone, hub2Done} {
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("component: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("a component did not stop within 30s")
		}
	}
	s.wg.Wait()
}
