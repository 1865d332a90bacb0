package e2e

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"millwright/agent/daemon"
	"millwright/firmware-sim/plant"
	"millwright/hub/server"
	"millwright/hub/store"
	"millwright/internal/mqtttest"
)

// system is one running hub with its clients, stopped at test cleanup.
type system struct {
	hub    *server.Server
	broker string // URL the agents and the simulator use
	wg     sync.WaitGroup
	errs   chan error
}

func logger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startHub starts a hub in-process. With brokerURL empty it embeds its broker.
func startHub(t *testing.T, ctx context.Context, brokerURL string) *system {
	t.Helper()
	hub, err := server.New(ctx, server.Options{
		DataDir:   t.TempDir(),
		HTTPAddr:  "127.0.0.1:0",
		MQTTAddr:  "127.0.0.1:0",
		BrokerURL: brokerURL,
		Logger:    logger(t).With("component", "hub"),
	})
	if err != nil {
		t.Fatalf("new hub: %v", err)
	}
	s := &system{hub: hub, broker: hub.BrokerURL(), errs: make(chan error, 8)}
	s.run(func() error { return hub.Run(ctx) })
	waitFor(t, 15*time.Second, "hub ready", func() bool { return hub.Ready() == nil })
	return s
}

// run starts fn in a goroutine owned by s; its error fails the test.
func (s *system) run(fn func() error) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := fn(); err != nil && !errors.Is(err, context.Canceled) {
			s.errs <- err
		}
	}()
}

func (s *system) startAgent(t *testing.T, ctx context.Context, gw string) {
	t.Helper()
	s.run(func() error {
		return daemon.Run(ctx, daemon.Options{
			Gateway:         gw,
			BrokerURL:       s.broker,
			StateDir:        t.TempDir(),
			HTTPAddr:        "127.0.0.1:0",
			MetricsInterval: 500 * time.Millisecond,
			Logger:          logger(t).With("component", "agent", "gateway", gw),
		})
	})
}

// startPlant publishes one gateway of the demo plant, its motor failing, at
// a compressed time scale.
func (s *system) startPlant(t *testing.T, ctx context.Context, sc plant.Scenario) []plant.Label {
	t.Helper()
	g, err := plant.NewGenerator(sc, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	labels := g.Labels()
	s.run(func() error {
		_, err := plant.Run(ctx, plant.Options{Broker: s.broker, ClientID: "e2e-plant", Scenario: sc, Logger: logger(t).With("component", "plant")})
		return err
	})
	return labels
}

func (s *system) stop(t *testing.T, cancel context.CancelFunc) {
	cancel()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Error("components did not stop within 30s of cancel")
	}
	close(s.errs)
	for err := range s.errs {
		t.Errorf("component failed: %v", err)
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(50 * time.Millisecond) // polling interval, not a wait for an event
	}
}

// faultScenario is gateway gw1 of the demo plant, its motor failing after a
// normal start, run 20 times faster than real time.
func faultScenario() plant.Scenario {
	sc := plant.DemoWithOnset(90 * time.Second)
	sc.Gateways = sc.Gateways[:1]
	sc.Speed = 20
	sc.Rate = 4
	return sc
}

// checkFaultAlert waits for the hub to store an alert for the failing
// machine and checks its machine and time against the ground truth.
func checkFaultAlert(t *testing.T, ctx context.Context, st *store.Store, labels []plant.Label) {
	t.Helper()
	if len(labels) != 1 {
		t.Fatalf("scenario has %d faults, want 1", len(labels))
	}
	l := labels[0]
	var got []store.Alert
	waitFor(t, 90*time.Second, "an alert for "+l.Gateway+"/"+l.Machine, func() bool {
		as, err := st.Alerts(ctx, store.AlertFilter{Gateway: l.Gateway, Machine: l.Machine})
		if err != nil {
			t.Fatalf("query alerts: %v", err)
		}
		got = as
		return len(as) > 0
	})
	start := l.Windows[0].Start
	a := got[len(got)-1] // the first one raised (newest first)
	for _, x := range got {
		if x.Start.Before(a.Start) {
			a = x
		}
	}
	// The alert must start inside the fault: after onset, and no later than
	// failure plus the time the detector needs to confirm.
	end := l.Failure.Add(time.Duration(l.SkewMs) * time.Millisecond)
	if a.Start.Before(start) || a.Start.After(end) {
		t.Fatalf("alert %s starts at %v, outside the fault window [%v, %v]", a.ID, a.Start, start, end)
	}
	t.Logf("alert %s on %s/%s at onset+%v (failure at onset+%v), score %.4f", a.ID, a.Gateway, a.Machine, a.Start.Sub(start), end.Sub(start), a.Score)
}

func TestFaultBecomesAlertEmbeddedBroker(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	s := startHub(t, ctx, "")
	defer s.stop(t, cancel)
	s.startAgent(t, ctx, "gw1")
	labels := s.startPlant(t, ctx, faultScenario())
	checkFaultAlert(t, ctx, s.hub.Store(), labels)
}

func TestFaultBecomesAlertMosquitto(t *testing.T) {
	m := mqtttest.StartMosquitto(t, mqtttest.MosquittoOptions{})
	ctx, cancel := context.WithCancel(t.Context())
	s := startHub(t, ctx, m.URL)
	defer s.stop(t, cancel)
	if s.broker != m.URL {
		t.Fatalf("hub uses broker %s, want %s", s.broker, m.URL)
	}
	s.startAgent(t, ctx, "gw1")
	labels := s.startPlant(t, ctx, faultScenario())
	checkFaultAlert(t, ctx, s.hub.Store(), labels)
}
