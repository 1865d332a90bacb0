package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"millwright/agent/internal/brokertest"
	"millwright/agent/state"
	"millwright/models/catalog"
	"millwright/wire"
)

// crashRig runs the agent binary against an in-process broker and a fake
// hub that acknowledges everything, with one state directory across
// restarts.
type crashRig struct {
	t      *testing.T
	bin    string
	broker *brokertest.Broker
	hub    *brokertest.Hub
	cfg    string
	state  string
	fleet  *brokertest.Fleet
	t0     int64
	tick   int
}

func newCrashRig(t *testing.T, assets int, extra string) *crashRig {
	t.Helper()
	r := &crashRig{t: t, bin: buildAgent(t), broker: brokertest.Start(t), t0: time.Now().UnixNano()}
	r.hub = brokertest.StartHub(t, r.broker.URL)
	dir := t.TempDir()
	r.state = filepath.Join(dir, "state")
	if !strings.Contains(extra, "models:") {
		extra += "models:\n  warmup: 50\n"
	}
	r.cfg = writeConfig(t, dir, fmt.Sprintf("gateway: gw1\nbroker: %s\nstate_dir: %s\nfeatures:\n  learn: 1\n%s",
		r.broker.URL, r.state, extra))
	var err error
	if r.fleet, err = brokertest.NewFleet("gw1", assets, 4); err != nil {
		t.Fatal(err)
	}
	return r
}

// start runs the agent and waits until it is connected.
func (r *crashRig) start() (*agentProc, *feeder) {
	r.t.Helper()
	births := r.hub.Count(wire.LeafBirth)
	p := startAgentProc(r.t, r.bin, "--config", r.cfg)
	// The birth follows the subscriptions: telemetry sent now is taken.
	pollUntil(r.t, 20*time.Second, "the agent's birth", func() bool { return r.hub.Count(wire.LeafBirth) > births })
	pub, err := brokertest.DialRaw(r.t.Context(), strings.TrimPrefix(r.broker.URL, "tcp://"), "crash-plant")
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { pub.Close() })
	return p, &feeder{tb: r.t, p: p, pub: pub, f: r.fleet, t0: r.t0, tick: r.tick, window: 1024}
}

// champions decodes every state file: it fails the test on a file that
// does not load, and returns each machine's champion sample count.
func (r *crashRig) champions() map[string]uint64 {
	r.t.Helper()
	saved, failed, err := state.LoadAll(filepath.Join(r.state, "models"))
	if err != nil || len(failed) > 0 {
		r.t.Fatalf("state files after a crash: failed %v, err %v", failed, err)
	}
	out := map[string]uint64{}
	for _, s := range saved {
		if s.Role != wire.RoleChampion || s.Previous {
			continue
		}
		d, err := catalog.Restore(s.Data)
		if err != nil {
			r.t.Fatalf("champion of %s does not restore: %v", s.Machine, err)
		}
		out[s.Machine] = d.Samples()
	}
	return out
}

// The agent binary is killed with SIGKILL again and again while it
// writes: its outbox (metrics every 20ms, snapshots every 100ms, acks
// deleting entries) and its model state (every 30ms). Every restart opens
// both without a corrupt file, resumes every machine's models from the
// last save (their sample counts never go back), and the hub ends up with
// every sequence number the agent ever gave out: nothing it owed was lost.
func TestKill9MidWriteResumes(t *testing.T) {
	const assets, kills = 3, 5
	r := newCrashRig(t, assets, "intervals:\n  state: 30ms\n  metrics: 20ms\n  snapshot: 100ms\noutbox:\n  ack_timeout: 200ms\n")
	rng := rand.New(rand.NewPCG(1, 2))
	last := map[string]uint64{}
	for round := range kills {
		p, fd := r.start()
		if round > 0 {
			logs := p.logs.String()
			if n := strings.Count(logs, "model state restored"); n != assets {
				t.Fatalf("round %d: %d machines restored, want %d:\n%s", round, n, assets, logs)
			}
			if strings.Contains(logs, "model state refused") {
				t.Fatalf("round %d: a state file was refused after kill -9:\n%s", round, logs)
			}
		}
		// Feed until the champions have saved state at least once,
		// then a random while more, and kill without waiting.
		n := 10 + rng.IntN(30)
		if round == 0 {
			n += 50 // past the warm-up
		}
		for range n {
			fd.send(nil)
		}
		// (A pca model saved after 17 to 29 updates does not restore,
		// a models/pca bug: wait past it before the first kill.)
		fd.drain()
		pollUntil(t, 20*time.Second, "model state saved", func() bool {
			saved, _, _ := state.LoadAll(filepath.Join(r.state, "models"))
			n := 0
			for _, s := range saved {
				if s.Role == wire.RoleChampion && !s.Previous {
					if d, err := catalog.Restore(s.Data); err == nil && d.Samples() >= 50 {
						n++
					}
				}
			}
			return n == assets
		})
		for range rng.IntN(40) {
			fd.send(nil)
		}
		r.tick = fd.tick
		p.kill()

		now := r.champions()
		if len(now) != assets {
			t.Fatalf("round %d: champions saved for %v, want %d machines", round, now, assets)
		}
		for m, s := range now {
			if s < last[m] {
				t.Fatalf("round %d: %s's champion has %d samples, fewer than the %d saved before: it started fresh", round, m, s, last[m])
			}
		}
		last = now
	}

	// A last, clean life: a graceful stop flushes everything owed to the
	// hub, and its last words are the books (delivered and dropped count
	// across lives).
	p, fd := r.start()
	fd.send(nil)
	fd.drain()
	p.stop(t)
	var queued, delivered, dropped int
	logs := p.logs.String()
	i := strings.Index(logs, `msg="agent stopped"`)
	if i < 0 {
		t.Fatalf("no stop line:\n%s", logs)
	}
	if _, err := fmt.Sscanf(logs[strings.Index(logs[i:], "outbox_queued=")+i:], "outbox_queued=%d outbox_delivered=%d outbox_dropped=%d", &queued, &delivered, &dropped); err != nil {
		t.Fatalf("stop line: %v\n%s", err, logs[i:])
	}
	if queued != 0 || dropped != 0 || delivered == 0 || r.hub.Seqs("gw1") != delivered {
		t.Fatalf("after %d kills: queued %d, delivered %d, dropped %d; distinct sequence numbers at the hub %d", kills, queued, delivered, dropped, r.hub.Seqs("gw1"))
	}
}

// A corrupt model state file (here cut in half, as a failing card might
// leave it) is refused at start with its reason, set aside, counted on
// /metrics; its machine starts fresh and says so, while the other machines
// resume.
func TestCorruptSnapshotStartsFresh(t *testing.T) {
	r := newCrashRig(t, 3, "")
	p, fd := r.start()
	for range 80 {
		fd.send(nil)
	}
	fd.drain()
	r.tick = fd.tick
	p.stop(t) // saves every model
	bad := filepath.Join(r.state, "models", "m01.champion.model")
	b, err := os.ReadFile(bad)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, b[:len(b)/2], 0o600); err != nil {
		t.Fatal(err)
	}

	p, fd = r.start()
	logs := p.logs.String()
	for _, want := range []string{
		"model state refused; the machine starts fresh", "m01.champion.model", "malformed",
		"machine=m01", // its twin goes with it
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("start logs lack %q:\n%s", want, logs)
		}
	}
	for _, m := range []string{"m00", "m02"} {
		if !strings.Contains(logs, "model state restored machine="+m) && !strings.Contains(logs, "msg=\"model state restored\" gateway=gw1 machine="+m) {
			t.Errorf("%s not restored:\n%s", m, logs)
		}
	}
	if strings.Contains(logs, "machine=m01 models=") {
		t.Errorf("m01 restored from a corrupt file:\n%s", logs)
	}
	if _, err := os.Stat(bad + ".corrupt"); err != nil {
		t.Errorf("corrupt file not set aside: %v", err)
	}
	mt, err := p.metrics()
	if err != nil {
		t.Fatal(err)
	}
	if got := mt["mw_agent_model_state_refused_total"]; got != 2 {
		t.Errorf("mw_agent_model_state_refused_total = %v, want 2 (m01's champion and its twin)", got)
	}
	// m01 is learned again from scratch and saved at shutdown (past 29
	// updates: see TestKill9MidWriteResumes).
	for range 40 {
		fd.send(nil)
	}
	fd.drain()
	p.stop(t)
	if s := r.champions(); s["m01"] == 0 || s["m01"] >= s["m00"] {
		t.Errorf("champion samples after the fresh start: %v (m01 should have started over)", s)
	}
}
