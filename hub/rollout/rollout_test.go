package rollout_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"millwright/hub/rollout"
	"millwright/hub/store"
	"millwright/wire"
)

// clock is a settable clock for the manager and the dispatcher.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var t0 = time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)

// idle as an alert count makes fleet.metrics write an interval without vectors.
const idle = ^uint64(0)

// fleet is a store with gateways gw1..gwN, one pump m1 each running hst.
type fleet struct {
	t   *testing.T
	st  *store.Store
	clk *clock
	seq uint64
}

func newFleet(t *testing.T, gateways int) *fleet {
	t.Helper()
	st, err := store.Open(t.Context(), t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fleet{t: t, st: st, clk: &clock{t: t0}}
	for i := 1; i <= gateways; i++ {
		f.birth(gw(i))
	}
	return f
}

func gw(i int) string { return "gw" + string(rune('0'+i)) }

func (f *fleet) env(gw string) wire.Envelope {
	f.seq++
	return wire.Envelope{Version: 1, Sender: gw, Seq: f.seq, Time: f.clk.Now().UnixNano()}
}

func (f *fleet) birth(gw string) {
	f.t.Helper()
	if _, err := f.st.IngestBirth(f.t.Context(), &wire.Birth{Env: f.env(gw),
		Machines: []wire.MachineInfo{{ID: "m1", Type: "pump", Model: "hst"}}}, f.clk.Now()); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fleet) death(gw string) {
	f.t.Helper()
	if _, err := f.st.IngestDeath(f.t.Context(), &wire.Death{Env: f.env(gw)}, f.clk.Now()); err != nil {
		f.t.Fatal(err)
	}
}

// metrics writes one minute of champion metrics: 100 vectors, alerts
// alarmed; alerts = idle writes an interval that scored nothing.
func (f *fleet) metrics(gw string, alerts uint64) {
	f.t.Helper()
	count := uint64(100)
	if alerts == idle {
		count, alerts = 0, 0
	}
	if _, err := f.st.IngestMetrics(f.t.Context(), &wire.Metrics{Env: f.env(gw), IntervalNs: int64(time.Minute),
		Series: []wire.ModelMetric{{Machine: "m1", Model: "x", Role: wire.RoleChampion, Count: count, Alerts: alerts}}}, f.clk.Now()); err != nil {
		f.t.Fatal(err)
	}
}

// answer acks (or refuses) every unanswered command of gw.
func (f *fleet) answer(gw string, ok bool) []store.Command {
	f.t.Helper()
	cs, err := f.st.Commands(f.t.Context(), store.CommandFilter{Gateway: gw})
	if err != nil {
		f.t.Fatal(err)
	}
	var out []store.Command
	for _, c := range cs {
		if c.Status != store.CmdQueued && c.Status != store.CmdSent {
			continue
		}
		if _, err := f.st.IngestCommandAck(f.t.Context(), &wire.CommandAck{Env: f.env(gw), CommandID: c.ID, OK: ok, Reason: map[bool]string{false: "unknown kind"}[ok]}, f.clk.Now()); err != nil {
			f.t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

// run advances the clock minute by minute, writing metrics for the given
// gateways and stepping the manager.
func (f *fleet) run(m *rollout.Manager, minutes int, alerts map[string]uint64) {
	f.t.Helper()
	for range minutes {
		f.clk.Add(time.Minute)
		for g, a := range alerts {
			f.metrics(g, a)
		}
		if err := m.Step(f.t.Context()); err != nil {
			f.t.Fatal(err)
		}
	}
}

func (f *fleet) manager() *rollout.Manager {
	f.t.Helper()
	m, err := rollout.New(rollout.Options{Store: f.st, Now: f.clk.Now, Soak: 10 * time.Minute})
	if err != nil {
		f.t.Fatal(err)
	}
	return m
}

func get(t *testing.T, m *rollout.Manager, id string) rollout.Rollout {
	t.Helper()
	r, err := m.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func auditActions(t *testing.T, st *store.Store, subject string) []string {
	t.Helper()
	es, err := st.Audit(t.Context(), store.AuditFilter{Subject: subject, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := len(es) - 1; i >= 0; i-- {
		out = append(out, es[i].Action)
	}
	return out
}

func TestStagedRolloutCompletes(t *testing.T) {
	f := newFleet(t, 3)
	m := f.manager()
	all := map[string]uint64{"gw1": 1, "gw2": 1, "gw3": 1}
	f.run(m, 60, all) // an hour of baseline: 1% alarmed
	r, err := m.Promote(t.Context(), rollout.PromotionRequest{Kind: "rrcf", MachineType: "pump", By: "ana", Reason: "fleet A/B"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Promote(t.Context(), rollout.PromotionRequest{Kind: "hst", Targets: []string{"gw3/m1"}}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second rollout on a busy asset: err = %v, want ErrConflict", err)
	}
	if len(r.Stages) != 3 || r.Stages[0].Name != "canary" || r.Stages[0].Gateways[0] != "gw1" || r.Stages[2].Gateways[0] != "gw3" {
		t.Fatalf("stages = %+v", r.Stages)
	}
	for stage, g := range []string{"gw1", "gw2", "gw3"} {
		r = get(t, m, r.ID)
		if r.Stage != stage || r.Status != rollout.StatusRunning {
			t.Fatalf("before %s acks: stage %d status %s, want stage %d running", g, r.Stage, r.Status, stage)
		}
		// Only the stage's gateway has a command; the later ones none yet.
		for _, later := range []string{"gw1", "gw2", "gw3"}[stage+1:] {
			if cs, _ := f.st.Commands(t.Context(), store.CommandFilter{Gateway: later}); len(cs) != 0 {
				t.Fatalf("stage %d: %s already has commands %+v", stage, later, cs)
			}
		}
		if acked := f.answer(g, true); len(acked) != 1 || acked[0].Body.Role != wire.RoleChampion || acked[0].Body.Model != "rrcf" {
			t.Fatalf("stage %d commands of %s = %+v", stage, g, acked)
		}
		f.run(m, 5, all)
		if r = get(t, m, r.ID); r.Stage != stage {
			t.Fatalf("stage moved on after 5 of 10 soak minutes: %+v", r)
		}
		f.run(m, 6, all)
	}
	r = get(t, m, r.ID)
	if r.Status != rollout.StatusCompleted {
		t.Fatalf("rollout = %+v, want completed", r)
	}
	ds, _ := f.st.Deployments(t.Context(), store.DeploymentFilter{Role: wire.RoleChampion, ActiveOnly: true})
	if len(ds) != 3 {
		t.Fatalf("active champions = %+v", ds)
	}
	for _, d := range ds {
		if d.Kind != "rrcf" || d.Status != store.DeployAcked || d.Rollout != r.ID {
			t.Fatalf("champion = %+v", d)
		}
	}
	got := strings.Join(auditActions(t, f.st, "rollout/"+r.ID), " ")
	want := "rollout.start rollout.stage rollout.stage-passed rollout.stage rollout.stage-passed rollout.stage rollout.complete"
	if got != want {
		t.Fatalf("audit = %s\nwant    %s", got, want)
	}
}

func TestGateFailureRollsBack(t *testing.T) {
	tests := []struct {
		name     string
		ok       bool              // agent accepts the deploy
		alerts   map[string]uint64 // metrics after the ack
		wantNote string
	}{
		{"alert rate jumps", true, map[string]uint64{"gw1": 40, "gw2": 1}, "alert rate"},
		{"gateway silent", true, map[string]uint64{"gw2": 1}, "silent"},
		{"champion scores nothing", true, map[string]uint64{"gw1": idle, "gw2": 1}, "scored nothing"},
		{"agent refuses", false, map[string]uint64{"gw1": 1, "gw2": 1}, "refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFleet(t, 2)
			m := f.manager()
			f.run(m, 60, map[string]uint64{"gw1": 1, "gw2": 1})
			r, err := m.Promote(t.Context(), rollout.PromotionRequest{Kind: "rrcf", MachineType: "pump", By: "ana"})
			if err != nil {
				t.Fatal(err)
			}
			f.answer("gw1", tt.ok)
			f.run(m, 9, tt.alerts)
			r = get(t, m, r.ID)
			if r.Status != rollout.StatusRolledBack || r.Assets[0].Status != rollout.AssetRolledBack && tt.ok {
				t.Fatalf("rollout = %+v, want rolled back", r)
			}
			if !strings.Contains(r.Failure, tt.wantNote) {
				t.Fatalf("failure = %q, want it to mention %q", r.Failure, tt.wantNote)
			}
			if cs, _ := f.st.Commands(t.Context(), store.CommandFilter{Gateway: "gw2"}); len(cs) != 0 {
				t.Fatalf("stage 2 started despite the failed canary: %+v", cs)
			}
			cs, _ := f.st.Commands(t.Context(), store.CommandFilter{Gateway: "gw1"})
			champ, _ := f.st.Deployments(t.Context(), store.DeploymentFilter{Gateway: "gw1", Role: wire.RoleChampion, ActiveOnly: true})
			if len(champ) != 1 || champ[0].Kind != "hst" {
				t.Fatalf("active champion after rollback = %+v", champ)
			}
			if tt.ok {
				if len(cs) != 2 || cs[0].Kind != wire.CmdRollback || cs[0].Body.Model != "hst" {
					t.Fatalf("gw1 commands = %+v, want a rollback to hst last", cs)
				}
			} else if len(cs) != 1 {
				t.Fatalf("refused deploy: gw1 commands = %+v, want no rollback command", cs)
			}
			acts := auditActions(t, f.st, "rollout/"+r.ID)
			if acts[len(acts)-1] != "rollout.rollback" {
				t.Fatalf("audit = %v, want rollout.rollback last", acts)
			}
		})
	}
}

// TestOfflineGatewayGetsCommandOnReturn: a gateway offline during its
// stage does not hold the rollout; its command waits in the store and is
// published when its birth arrives.
func TestOfflineGatewayGetsCommandOnReturn(t *testing.T) {
	f := newFleet(t, 2)
	pub := &recorder{}
	d, err := rollout.NewDispatcher(rollout.DispatcherOptions{Store: f.st, Publisher: pub, Now: f.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	m := f.manager()
	f.death("gw2")
	r, err := m.Promote(t.Context(), rollout.PromotionRequest{Kind: "rrcf", MachineType: "pump"})
	if err != nil {
		t.Fatal(err)
	}
	flush := func() int {
		n, err := d.Flush(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := flush(); n != 1 || pub.topics()[0] != wire.HubTopic("gw1", wire.LeafCmd) {
		t.Fatalf("sent %d: %v, want gw1's deploy", n, pub.topics())
	}
	f.answer("gw1", true)
	f.run(m, 11, map[string]uint64{"gw1": 1})
	if n := flush(); n != 0 {
		t.Fatalf("sent %d commands to an offline gateway", n)
	}
	if r = get(t, m, r.ID); r.Status != rollout.StatusCompleted || r.Assets[1].Status != rollout.AssetOffline {
		t.Fatalf("rollout = %+v, want completed with gw2 offline", r)
	}
	f.birth("gw2")
	if n := flush(); n != 1 {
		t.Fatalf("sent %d after gw2's birth, want 1", n)
	}
	var c wire.Command
	if err := wire.Unmarshal(pub.last(), &c); err != nil || c.Kind != wire.CmdDeploy || c.Model != "rrcf" || c.Machine != "m1" || c.Env.Sender == "" {
		t.Fatalf("delivered command = %+v, %v", c, err)
	}
	f.answer("gw2", true)
	ds, _ := f.st.Deployments(t.Context(), store.DeploymentFilter{Gateway: "gw2", Role: wire.RoleChampion, ActiveOnly: true})
	if len(ds) != 1 || ds[0].Kind != "rrcf" || ds[0].Status != store.DeployAcked {
		t.Fatalf("gw2 champion = %+v", ds)
	}
}

type recorder struct {
	mu   sync.Mutex
	msgs []struct {
		topic   string
		payload []byte
	}
}

func (r *recorder) Publish(_ context.Context, topic string, _ byte, payload []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, struct {
		topic   string
		payload []byte
	}{topic, payload})
	return nil
}

func (r *recorder) topics() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, m := range r.msgs {
		out = append(out, m.topic)
	}
	return out
}

func (r *recorder) last() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.msgs[len(r.msgs)-1].payload
}

func TestChallengersPromoteAndManualRollback(t *testing.T) {
	f := newFleet(t, 2)
	m := f.manager()
	ctx := t.Context()
	snap, err := f.st.PutSnapshot(ctx, store.SnapshotInfo{Model: "rrcf"}, []byte("warm"), "ana", f.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Challengers(ctx, rollout.ChallengerRequest{Kind: "hst", SnapshotID: snap.ID, MachineType: "pump"}); err == nil {
		t.Fatal("snapshot of another kind accepted")
	}
	if _, err := m.Challengers(ctx, rollout.ChallengerRequest{Kind: "rrcf", Targets: []string{"nope"}}); err == nil {
		t.Fatal("unknown target accepted")
	}
	if _, err := m.Challengers(ctx, rollout.ChallengerRequest{Kind: "rrcf", Targets: []string{"m1"}}); err == nil {
		t.Fatal("ambiguous machine id accepted")
	}
	ds, err := m.Challengers(ctx, rollout.ChallengerRequest{Kind: "rrcf", SnapshotID: snap.ID, Settings: map[string]float64{"trees": 20},
		MachineType: "pump", By: "ana"})
	if err != nil || len(ds) != 2 || ds[0].Name != "challenger-rrcf" {
		t.Fatalf("challengers = %+v, %v", ds, err)
	}
	cs := f.answer("gw1", true)
	if len(cs) != 1 || string(cs[0].Body.Snapshot) != "warm" || cs[0].Body.Settings["trees"] != 20 || cs[0].Body.Role != wire.RoleChallenger {
		t.Fatalf("gw1 challenger command = %+v", cs)
	}
	r, err := m.Promote(ctx, rollout.PromotionRequest{Deployment: ds[0].ID, By: "ana", Reason: "won"})
	if err != nil || len(r.Assets) != 1 || r.PromotedFrom != ds[0].ID || r.Kind != "rrcf" {
		t.Fatalf("promotion = %+v, %v", r, err)
	}
	if d, _ := f.st.Deployment(ctx, ds[0].ID); d.Status != store.DeployReplaced {
		t.Fatalf("promoted challenger status = %s, want replaced", d.Status)
	}
	if _, err := m.Promote(ctx, rollout.PromotionRequest{Deployment: ds[0].ID}); err == nil {
		t.Fatal("promoting a replaced challenger twice accepted")
	}
	r, err = m.Rollback(ctx, r.ID, "ana", "changed my mind")
	if err != nil || r.Status != rollout.StatusRolledBack {
		t.Fatalf("manual rollback = %+v, %v", r, err)
	}
	// The promotion was never sent: it is cancelled, not answered with a rollback.
	all, _ := f.st.Commands(ctx, store.CommandFilter{Gateway: "gw1"})
	if all[0].Status != store.CmdCancelled {
		t.Fatalf("gw1 commands = %+v, want the unsent promotion cancelled", all)
	}
	if _, err := m.Rollback(ctx, r.ID, "ana", ""); err == nil {
		t.Fatal("second rollback accepted")
	}
	rm, err := m.RemoveChallenger(ctx, ds[1].ID, "ana", "enough")
	if err != nil || rm.Status != store.DeployRemoved {
		t.Fatalf("remove = %+v, %v", rm, err)
	}
	if cs, _ := f.st.Commands(ctx, store.CommandFilter{Gateway: "gw2"}); len(cs) != 2 || cs[0].Kind != wire.CmdRemove {
		t.Fatalf("gw2 commands = %+v", cs)
	}
}

// TestPromoteTwin promotes the learning twin, known only from its metrics.
func TestPromoteTwin(t *testing.T) {
	f := newFleet(t, 1)
	m := f.manager()
	ctx := t.Context()
	if _, err := f.st.IngestMetrics(ctx, &wire.Metrics{Env: f.env("gw1"), IntervalNs: int64(time.Minute), Series: []wire.ModelMetric{
		{Machine: "m1", Model: "x", Role: wire.RoleChampion, Kind: "hst", Count: 100},
		{Machine: "m1", Model: "twin", Role: wire.RoleTwin, Kind: "hst", Count: 100},
	}}, f.clk.Now()); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []rollout.PromotionRequest{
		{Gateway: "gw1", Machine: "m1", Model: "x"},    // the champion itself
		{Gateway: "gw1", Machine: "m1", Model: "nope"}, // never reported
		{Model: "twin"}, // no asset
	} {
		if _, err := m.Promote(ctx, bad); err == nil {
			t.Errorf("promote %+v accepted", bad)
		}
	}
	r, err := m.Promote(ctx, rollout.PromotionRequest{Gateway: "gw1", Machine: "m1", Model: "twin", By: "ana"})
	if err != nil {
		t.Fatal(err)
	}
	cs := f.answer("gw1", true)
	if r.Kind != "hst" || r.Name != "twin" || len(cs) != 1 || cs[0].Body.Name != "twin" || cs[0].Body.Role != wire.RoleChampion {
		t.Fatalf("rollout %+v, commands %+v", r, cs)
	}
}

// TestAutoPromote: with the policy on, a challenger that beat its champion
// over the period is promoted; with fewer days than the period it is not.
func TestAutoPromote(t *testing.T) {
	f := newFleet(t, 1)
	ctx := t.Context()
	ds, err := (f.manager()).Challengers(ctx, rollout.ChallengerRequest{Kind: "rrcf", Targets: []string{"gw1/m1"}})
	if err != nil {
		t.Fatal(err)
	}
	f.answer("gw1", true)
	// Ten days every 30 minutes; a confirmed fault 11:00–13:00 every other
	// day that the challenger flags at once and the champion only at 12:30.
	tx, err := f.st.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const period = 30 * time.Minute
	for at := t0.Add(period); !at.After(t0.Add(10 * 24 * time.Hour)); at = at.Add(period) {
		day, h := int(at.Sub(t0).Hours())/24, at.Hour()
		fault := day%2 == 0 && h >= 11 && h < 13
		var champ, chall uint64
		if fault && h == 12 && at.Minute() == 30 {
			champ = 10
		}
		if fault {
			chall = 10
		}
		both := min(champ, chall)
		f.seq++
		if _, err := tx.IngestMetrics(ctx, &wire.Metrics{Env: wire.Envelope{Version: 1, Sender: "gw1", Seq: f.seq, Time: at.UnixNano()},
			IntervalNs: int64(period), Series: []wire.ModelMetric{
				{Machine: "m1", Model: "hst", Role: wire.RoleChampion, Kind: "hst", Count: 60, Alerts: champ},
				{Machine: "m1", Model: "challenger-rrcf", Role: wire.RoleChallenger, Kind: "rrcf", Count: 60, Alerts: chall,
					Both: both, OnlyModel: chall - both, OnlyChampion: champ - both}}}, at); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	for d := 0; d < 10; d += 2 {
		noon := t0.Add(time.Duration(d)*24*time.Hour + 4*time.Hour) // t0 is 08:00: noon
		id := "f" + noon.Format("0102")
		f.seq++
		if _, err := f.st.IngestAlert(ctx, &wire.Alert{Env: wire.Envelope{Version: 1, Sender: "gw1", Seq: f.seq, Time: noon.UnixNano()}, ID: id, Machine: "m1"}, noon); err != nil {
			t.Fatal(err)
		}
		if _, err := f.st.AddFeedback(ctx, store.Feedback{AlertID: id, Label: store.LabelRealFault}, noon); err != nil {
			t.Fatal(err)
		}
		if _, err := f.st.ResolveAlert(ctx, id, "tech", noon.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	f.clk.Add(10 * 24 * time.Hour)
	newManager := func(period time.Duration) *rollout.Manager {
		m, err := rollout.New(rollout.Options{Store: f.st, Now: f.clk.Now, AutoPromote: rollout.AutoPromote{Enabled: true, Period: period}})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	if err := newManager(20 * 24 * time.Hour).AutoPromoteOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if rs, _ := newManager(time.Hour).Rollouts(ctx, ""); len(rs) != 0 {
		t.Fatalf("promoted before the period: %+v", rs)
	}
	m := newManager(9 * 24 * time.Hour)
	if err := m.AutoPromoteOnce(ctx); err != nil {
		t.Fatal(err)
	}
	rs, _ := m.Rollouts(ctx, "")
	if len(rs) != 1 || rs[0].PromotedFrom != ds[0].ID || rs[0].By != "auto-promote" || !strings.Contains(rs[0].Reason, "mid-p") {
		t.Fatalf("rollouts = %+v", rs)
	}
	if err := m.AutoPromoteOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if rs, _ := m.Rollouts(ctx, ""); len(rs) != 1 {
		t.Fatalf("promoted twice: %d rollouts", len(rs))
	}
}
