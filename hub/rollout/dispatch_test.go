package rollout_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"millwright/hub/rollout"
	"millwright/hub/store"
	"millwright/wire"
)

// flaky fails the first n publishes.
type flaky struct {
	recorder
	mu    sync.Mutex
	fails int
}

func (f *flaky) Publish(ctx context.Context, topic string, qos byte, payload []byte) error {
	f.mu.Lock()
	if f.fails > 0 {
		f.fails--
		f.mu.Unlock()
		return errors.New("broker away")
	}
	f.mu.Unlock()
	return f.recorder.Publish(ctx, topic, qos, payload)
}

// TestDispatcherResendsUntilAnswered runs the dispatcher's own loop in a
// synctest bubble: a publish error is retried on the next tick, an
// unanswered command is sent again after ResendAfter, an answered one never.
func TestDispatcherResendsUntilAnswered(t *testing.T) {
	f := newFleet(t, 1)
	cmd := &wire.Command{Kind: wire.CmdDeploy, Machine: "m1", Role: wire.RoleChallenger, Model: "rrcf", Name: "c"}
	if _, err := f.st.Deploy(t.Context(), store.Deployment{Gateway: "gw1", Machine: "m1", Role: wire.RoleChallenger, Name: "c", Kind: "rrcf"}, cmd, t0); err != nil {
		t.Fatal(err)
	}
	synctest.Test(t, func(t *testing.T) {
		pub := &flaky{fails: 1}
		// The bubble's clock starts in 2000; the fleet's births are at t0.
		start := time.Now()
		now := func() time.Time { return t0.Add(time.Since(start)) }
		d, err := rollout.NewDispatcher(rollout.DispatcherOptions{Store: f.st, Publisher: pub, Every: time.Second, ResendAfter: time.Minute, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- d.Run(ctx) }()
		sent := func() int { return len(pub.topics()) }
		waitSent := func(want int, within time.Duration) {
			t.Helper()
			deadline := time.Now().Add(within)
			for sent() < want && time.Now().Before(deadline) {
				time.Sleep(100 * time.Millisecond) // fake time: advances only when the bubble is idle
			}
			if got := sent(); got != want {
				t.Fatalf("sent %d, want %d", got, want)
			}
		}
		waitSent(1, 5*time.Second) // first attempt failed, the next tick succeeded
		time.Sleep(30 * time.Second)
		if got := sent(); got != 1 {
			t.Fatalf("resent before ResendAfter: %d sends", got)
		}
		waitSent(2, 2*time.Minute)
		if _, err := f.st.IngestCommandAck(ctx, &wire.CommandAck{Env: wire.Envelope{Version: 1, Sender: "gw1", Seq: 99}, CommandID: cmd.ID, OK: true}, now()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Minute)
		if got := sent(); got != 2 {
			t.Fatalf("answered command sent again: %d sends", got)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

// TestDispatcherGivesUp: a command never answered fails after MaxAttempts
// sends, its deployment fails and the hub is named in the audit log.
func TestDispatcherGivesUp(t *testing.T) {
	f := newFleet(t, 1)
	ctx := t.Context()
	cmd := &wire.Command{Kind: wire.CmdDeploy, Machine: "m1", Role: wire.RoleChampion, Model: "rrcf"}
	d, err := f.st.Deploy(ctx, store.Deployment{Gateway: "gw1", Machine: "m1", Role: wire.RoleChampion, Name: "rrcf", Kind: "rrcf"}, cmd, t0)
	if err != nil {
		t.Fatal(err)
	}
	pub := &recorder{}
	disp, err := rollout.NewDispatcher(rollout.DispatcherOptions{Store: f.st, Publisher: pub, Now: f.clk.Now, ResendAfter: time.Minute, MaxAttempts: 3})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := disp.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		f.clk.Add(2 * time.Minute)
	}
	if n := len(pub.topics()); n != 3 {
		t.Fatalf("sent %d times, want 3", n)
	}
	cs, _ := f.st.Commands(ctx, store.CommandFilter{Gateway: "gw1"})
	if len(cs) != 1 || cs[0].Status != store.CmdFailed || cs[0].Reason != "no answer after 3 attempts" {
		t.Fatalf("commands = %+v", cs)
	}
	if got, _ := f.st.Deployment(ctx, d.ID); got.Status != store.DeployFailed {
		t.Fatalf("deployment status = %s, want failed", got.Status)
	}
	champ, _ := f.st.Deployments(ctx, store.DeploymentFilter{Role: wire.RoleChampion, ActiveOnly: true})
	if len(champ) != 1 || champ[0].Kind != "hst" {
		t.Fatalf("active champion = %+v, want hst back", champ)
	}
	es, _ := f.st.Audit(ctx, store.AuditFilter{Action: "command.failed"})
	if len(es) != 1 || es[0].Actor != "hub" {
		t.Fatalf("audit = %+v", es)
	}
}
