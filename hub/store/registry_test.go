package store_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"millwright/hub/store"
	"millwright/wire"
)

var t0 = time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)

// get returns v, failing the test on err: get(f())(t).
func get[T any](v T, err error) func(*testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func born(t *testing.T, s *store.Store, gw string, seq uint64, at time.Time) {
	t.Helper()
	get(s.IngestBirth(t.Context(), &wire.Birth{Env: wire.Envelope{Version: 1, Sender: gw, Seq: seq, Time: at.UnixNano()},
		Machines: []wire.MachineInfo{{ID: "m1", Type: "pump", Site: "s1", Line: "l1", Model: "hst"}}}, at))(t)
}

func TestBirthRegistersChampionOnce(t *testing.T) {
	s := open(t, t.TempDir())
	born(t, s, "gw1", 1, t0)
	born(t, s, "gw1", 2, t0.Add(time.Minute))
	ds := get(s.Deployments(t.Context(), store.DeploymentFilter{Gateway: "gw1", Machine: "m1"}))(t)
	if len(ds) != 1 || ds[0].Role != wire.RoleChampion || ds[0].Kind != "hst" || ds[0].Status != store.DeployAcked {
		t.Fatalf("deployments = %+v, want one acked hst champion", ds)
	}
	ks := get(s.ModelKinds(t.Context()))(t)
	if len(ks) != 1 || ks[0].Kind != "hst" {
		t.Fatalf("model kinds = %+v", ks)
	}
	sites := get(s.Sites(t.Context()))(t)
	if len(sites) != 1 || sites[0].ID != "s1" || len(sites[0].Lines) != 1 || sites[0].Lines[0].Assets[0].Machine != "m1" {
		t.Fatalf("sites = %+v", sites)
	}
}

// TestDeployAckRollback walks a champion through promotion, the agent's
// ack, a rollback and its ack, checking statuses and the audit trail.
func TestDeployAckRollback(t *testing.T) {
	s := open(t, t.TempDir())
	ctx := t.Context()
	born(t, s, "gw1", 1, t0)
	orig := get(s.Deployments(ctx, store.DeploymentFilter{ActiveOnly: true}))(t)[0]

	cmd := &wire.Command{Kind: wire.CmdDeploy, Machine: "m1", Role: wire.RoleChampion, Model: "rrcf", Name: "rrcf"}
	d := get(s.Deploy(ctx, store.Deployment{Gateway: "gw1", Machine: "m1", Role: wire.RoleChampion, Name: "rrcf",
		Kind: "rrcf", Settings: map[string]float64{"trees": 40}, By: "ana", Reason: "won A/B"}, cmd, t0.Add(time.Hour)))(t)
	if d.Previous != orig.ID || d.Status != store.DeployPending || d.CommandID != cmd.ID || cmd.ID == "" {
		t.Fatalf("deployment = %+v (cmd %q), want pending replacing %s", d, cmd.ID, orig.ID)
	}
	due := get(s.DueCommands(ctx, t0.Add(time.Hour), time.Minute))(t)
	if len(due) != 1 || due[0].ID != cmd.ID || due[0].Body.Model != "rrcf" {
		t.Fatalf("due = %+v", due)
	}
	if err := s.MarkSent(ctx, cmd.ID, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if due := get(s.DueCommands(ctx, t0.Add(time.Hour+time.Second), time.Minute))(t); len(due) != 0 {
		t.Fatalf("sent command due again before resendAfter: %+v", due)
	}
	ack := &wire.CommandAck{Env: wire.Envelope{Version: 1, Sender: "gw1", Seq: 5, Time: t0.UnixNano()}, CommandID: cmd.ID, OK: true}
	get(s.IngestCommandAck(ctx, ack, t0.Add(time.Hour+2*time.Second)))(t)
	if got := get(s.Deployment(ctx, d.ID))(t); got.Status != store.DeployAcked {
		t.Fatalf("after ack status = %s", got.Status)
	}
	if got := get(s.Deployment(ctx, orig.ID))(t); got.Status != store.DeployReplaced {
		t.Fatalf("previous champion status = %s, want replaced", got.Status)
	}

	rb := &wire.Command{Kind: wire.CmdRollback, Machine: "m1", Role: wire.RoleChampion}
	back := get(s.Rollback(ctx, d.ID, rb, "rollout", "gate failed", t0.Add(2*time.Hour)))(t)
	if back.Kind != "hst" || back.Status != store.DeployPending || back.ID == orig.ID {
		t.Fatalf("restored = %+v", back)
	}
	if _, err := s.Rollback(ctx, d.ID, &wire.Command{Kind: wire.CmdRollback}, "x", "", t0); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second rollback err = %v, want ErrConflict", err)
	}
	nack := &wire.CommandAck{Env: wire.Envelope{Version: 1, Sender: "gw1", Seq: 6, Time: t0.UnixNano()}, CommandID: rb.ID, OK: false, Reason: "no previous model"}
	get(s.IngestCommandAck(ctx, nack, t0.Add(2*time.Hour)))(t)
	if got := get(s.Deployment(ctx, back.ID))(t); got.Status != store.DeployFailed {
		t.Fatalf("refused rollback: status %s, want failed", got.Status)
	}
	if got := get(s.Deployment(ctx, d.ID))(t); got.Status != store.DeployRolledBack {
		t.Fatalf("rolled back deployment: status %s", got.Status)
	}

	var actions []string
	for _, e := range get(s.Audit(ctx, store.AuditFilter{}))(t) {
		actions = append(actions, e.Action)
	}
	want := []string{"command.failed", "rollback.champion", "command.acked", "deploy.champion", "register.champion"}
	if len(actions) != len(want) {
		t.Fatalf("audit actions = %v, want %v", actions, want)
	}
	for i := range want {
		if actions[i] != want[i] {
			t.Fatalf("audit actions = %v, want %v", actions, want)
		}
	}
	e := get(s.Audit(ctx, store.AuditFilter{Action: "deploy.champion"}))(t)[0]
	var before, after store.Deployment
	if json.Unmarshal(e.Before, &before) != nil || json.Unmarshal(e.After, &after) != nil || before.Kind != "hst" || after.Kind != "rrcf" || e.Actor != "ana" {
		t.Fatalf("deploy audit entry = %+v", e)
	}
}

// TestCommandQueuedUntilBirth: a command for an offline gateway is not due
// until its birth; a command sent before a rebirth is due again.
func TestCommandQueuedUntilBirth(t *testing.T) {
	s := open(t, t.TempDir())
	ctx := t.Context()
	born(t, s, "gw1", 1, t0)
	get(s.IngestDeath(ctx, &wire.Death{Env: wire.Envelope{Version: 1, Sender: "gw1", Seq: 2}}, t0.Add(time.Second)))(t)
	cmd := &wire.Command{Kind: wire.CmdDeploy, Machine: "m1", Role: wire.RoleChallenger, Model: "rrcf", Name: "challenger-1"}
	get(s.Deploy(ctx, store.Deployment{Gateway: "gw1", Machine: "m1", Role: wire.RoleChallenger, Name: "challenger-1", Kind: "rrcf"}, cmd, t0.Add(time.Minute)))(t)
	if due := get(s.DueCommands(ctx, t0.Add(time.Hour), time.Minute))(t); len(due) != 0 {
		t.Fatalf("due while offline: %+v", due)
	}
	born(t, s, "gw1", 3, t0.Add(2*time.Hour))
	due := get(s.DueCommands(ctx, t0.Add(2*time.Hour), time.Hour))(t)
	if len(due) != 1 || due[0].ID != cmd.ID {
		t.Fatalf("due after birth = %+v", due)
	}
	if err := s.MarkSent(ctx, cmd.ID, t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if due := get(s.DueCommands(ctx, t0.Add(2*time.Hour), time.Hour))(t); len(due) != 0 {
		t.Fatalf("due right after send: %+v", due)
	}
	born(t, s, "gw1", 4, t0.Add(3*time.Hour)) // the agent restarted before answering
	if due := get(s.DueCommands(ctx, t0.Add(3*time.Hour), time.Hour))(t); len(due) != 1 {
		t.Fatalf("unanswered command not due again after rebirth: %+v", due)
	}
}

func TestFeedbackResolveAndLabels(t *testing.T) {
	s := open(t, t.TempDir())
	ctx := t.Context()
	get(s.IngestAlert(ctx, &wire.Alert{Env: wire.Envelope{Version: 1, Sender: "gw1", Seq: 1, Time: t0.UnixNano()}, ID: "a1", Machine: "m1"}, t0))(t)
	if _, err := s.AddFeedback(ctx, store.Feedback{AlertID: "a1", Label: "maybe"}, t0); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("bad label err = %v", err)
	}
	if _, err := s.AddFeedback(ctx, store.Feedback{AlertID: "nope", Label: store.LabelUnsure}, t0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown alert err = %v", err)
	}
	get(s.AddFeedback(ctx, store.Feedback{AlertID: "a1", Label: store.LabelUnsure, Who: "tom"}, t0.Add(time.Minute)))(t)
	get(s.AddFeedback(ctx, store.Feedback{AlertID: "a1", Label: store.LabelRealFault, Note: "bearing", Who: "tom"}, t0.Add(2*time.Minute)))(t)
	a := get(s.ResolveAlert(ctx, "a1", "tom", t0.Add(30*time.Minute)))(t)
	if a.Status != store.StatusResolved {
		t.Fatalf("resolved alert = %+v", a)
	}
	ls := get(s.LabeledAlerts(ctx, "gw1", "m1", t0.Add(-time.Hour), t0.Add(time.Hour)))(t)
	if len(ls) != 1 || ls[0].Label != store.LabelRealFault || !ls[0].End.Equal(t0.Add(30*time.Minute)) {
		t.Fatalf("labeled = %+v", ls)
	}
	es := get(s.Audit(ctx, store.AuditFilter{Subject: "alert/*"}))(t)
	if len(es) != 3 || es[0].Action != "alert.resolve" || es[1].Before == nil {
		t.Fatalf("audit = %+v", es)
	}
}

func TestLineage(t *testing.T) {
	s := open(t, t.TempDir())
	ctx := t.Context()
	root := get(s.PutSnapshot(ctx, store.SnapshotInfo{Model: "hst", Parent: "gone"}, []byte("root"), "ana", t0))(t)
	if again := get(s.PutSnapshot(ctx, store.SnapshotInfo{Model: "hst"}, []byte("root"), "ana", t0))(t); again.ID != root.ID || again.Parent != "gone" {
		t.Fatalf("re-upload = %+v", again)
	}
	var prev = root.ID
	var ids []string
	for i, b := range []string{"c1", "c2"} {
		get(s.IngestSnapshot(ctx, &wire.Snapshot{Env: wire.Envelope{Version: 1, Sender: "gw1", Seq: uint64(i + 1)}, Machine: "m1",
			Model: "hst", Role: wire.RoleChampion, Parent: prev, Data: []byte(b)}, t0.Add(time.Duration(i+1)*time.Minute)))(t)
		prev = store.SnapshotID([]byte(b))
		ids = append(ids, prev)
	}
	l := get(s.SnapshotLineage(ctx, ids[0]))(t)
	if len(l.Ancestors) != 1 || l.Ancestors[0].ID != root.ID || l.MissingParent != "gone" || len(l.Descendants) != 1 || l.Descendants[0].ID != ids[1] {
		t.Fatalf("lineage = %+v", l)
	}
	l = get(s.SnapshotLineage(ctx, root.ID))(t)
	if len(l.Descendants) != 2 || l.Snapshot.Source != store.SourceUpload {
		t.Fatalf("root lineage = %+v", l)
	}
	if _, err := s.SnapshotLineage(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown lineage err = %v", err)
	}
}

func TestMetricPointPairedFieldsAndHist(t *testing.T) {
	s := open(t, t.TempDir())
	hist := make([]uint32, wire.HistBins)
	hist[0], hist[19] = 7, 1<<20+3
	get(s.IngestMetrics(t.Context(), &wire.Metrics{Env: envAt(1), IntervalNs: 10, Series: []wire.ModelMetric{
		{Machine: "m1", Model: "c1", Role: wire.RoleChallenger, Kind: "rrcf", Snapshot: "ab", Count: 10, Alerts: 3,
			Both: 1, OnlyModel: 2, OnlyChampion: 4, Hist: hist}}}, t0))(t)
	pts := get(s.MetricPoints(t.Context(), "gw1", "m1", time.Unix(0, 0), 10))(t)
	if len(pts) != 1 {
		t.Fatalf("points = %+v", pts)
	}
	p := pts[0]
	if p.Kind != "rrcf" || p.Snapshot != "ab" || p.Both != 1 || p.OnlyModel != 2 || p.OnlyChampion != 4 || len(p.Hist) != 20 || p.Hist[0] != 7 || p.Hist[19] != 1<<20+3 {
		t.Fatalf("point = %+v", p)
	}
	is := get(s.ModelInstances(t.Context(), time.Unix(0, envAt(1).Time)))(t)
	if len(is) != 1 || is[0].Model != "c1" || is[0].Kind != "rrcf" {
		t.Fatalf("instances = %+v", is)
	}
	if is := get(s.ModelInstances(t.Context(), time.Unix(0, envAt(1).Time).Add(time.Second)))(t); len(is) != 0 {
		t.Fatalf("instances since after the last point = %+v", is)
	}
	w := get(s.Window(t.Context(), "gw1", "m1", wire.RoleChallenger, time.Unix(0, envAt(1).Time), time.Unix(0, envAt(1).Time).Add(time.Second)))(t)
	if w != (store.WindowStats{Points: 1, Count: 10, Alerts: 3}) {
		t.Fatalf("rollup window = %+v", w)
	}
}
