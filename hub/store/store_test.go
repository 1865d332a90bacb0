package store_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"millwright/hub/store"
	"millwright/wire"
)

func open(t testing.TB, dir string) *store.Store {
	t.Helper()
	s, err := store.Open(t.Context(), dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func envAt(seq uint64) wire.Envelope {
	return wire.Envelope{Version: wire.Version, Sender: "gw1", Seq: seq, Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano()}
}

func TestMigrateAndReopenKeepsData(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	s, err := store.Open(ctx, dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := s.Version(ctx); err != nil || v != store.SchemaVersion() {
		t.Fatalf("version = %d, %v; want %d", v, err, store.SchemaVersion())
	}
	now := time.Now()
	if _, err := s.IngestBirth(ctx, &wire.Birth{Env: envAt(1), AgentVersion: "v1",
		Machines: []wire.MachineInfo{{ID: "m1", Type: "pump", Sensors: []string{"temp", "vib"}}}}, now); err != nil {
		t.Fatal(err)
	}
	if _, err := s.IngestAlert(ctx, &wire.Alert{Env: envAt(2), ID: "a1", Machine: "m1", Model: "hst",
		Severity: wire.SeverityCritical, Score: 0.99, Threshold: 0.9}, now); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, dir) // migrations must be a no-op the second time
	if v, err := s.Version(ctx); err != nil || v != store.SchemaVersion() {
		t.Fatalf("version after reopen = %d, %v", v, err)
	}
	ms, err := s.Machines(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 1 || ms[0].ID != "m1" || ms[0].Type != "pump" || len(ms[0].Sensors) != 2 || ms[0].OpenAlerts != 1 {
		t.Fatalf("machines after reopen = %+v", ms)
	}
	gws, err := s.Gateways(ctx)
	if err != nil || len(gws) != 1 || !gws[0].Online || gws[0].AgentVersion != "v1" {
		t.Fatalf("gateways after reopen = %+v, %v", gws, err)
	}
	// The seqs stored before the restart are still known.
	dup, err := s.IngestAlert(ctx, &wire.Alert{Env: envAt(2), ID: "a1", Machine: "m1"}, now)
	if err != nil || !dup {
		t.Fatalf("redelivery after reopen: dup=%v err=%v, want dup", dup, err)
	}
}

func TestDuplicateStoredOnce(t *testing.T) {
	s := open(t, t.TempDir())
	ctx := t.Context()
	m := &wire.Metrics{Env: envAt(7), IntervalNs: 5e9, Series: []wire.ModelMetric{
		{Machine: "m1", Model: "hst", Role: wire.RoleChampion, Count: 10, ScoreLast: 0.4, Threshold: 0.9},
		{Machine: "m1", Model: "hst2", Role: wire.RoleChallenger, Count: 10, ScoreLast: 0.1},
	}}
	for i, wantDup := range []bool{false, true, true} {
		dup, err := s.IngestMetrics(ctx, m, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if dup != wantDup {
			t.Fatalf("ingest %d: dup = %v, want %v", i, dup, wantDup)
		}
	}
	pts, err := s.MetricPoints(ctx, "gw1", "m1", time.Unix(0, 0), 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != 2 {
		t.Fatalf("points = %d, want 2 (stored once)", len(pts))
	}
	ms, err := s.Machines(ctx)
	if err != nil || len(ms) != 1 || ms[0].Score == nil || *ms[0].Score != 0.4 {
		t.Fatalf("machine created from metrics with champion score: %+v %v", ms, err)
	}
	// Same seq from another sender is not a duplicate.
	other := *m
	other.Env.Sender = "gw2"
	if dup, err := s.IngestMetrics(ctx, &other, time.Now()); err != nil || dup {
		t.Fatalf("other sender: dup=%v err=%v", dup, err)
	}
}

func TestAlertsAckAndDeath(t *testing.T) {
	s := open(t, t.TempDir())
	ctx := t.Context()
	now := time.Now()
	for i, id := range []string{"a1", "a2"} {
		if _, err := s.IngestAlert(ctx, &wire.Alert{Env: envAt(uint64(10 + i)), ID: id, Machine: "m1",
			Contributors: []wire.Contribution{{Feature: "vib", Value: 0.7}}}, now); err != nil {
			t.Fatal(err)
		}
	}
	a, err := s.AckAlert(ctx, "a1", now)
	if err != nil || a.Status != store.StatusAcknowledged || len(a.Contributors) != 1 {
		t.Fatalf("ack = %+v, %v", a, err)
	}
	if _, err := s.AckAlert(ctx, "nope", now); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ack unknown: %v, want ErrNotFound", err)
	}
	open, err := s.Alerts(ctx, store.AlertFilter{Status: store.StatusOpen})
	if err != nil || len(open) != 1 || open[0].ID != "a2" {
		t.Fatalf("open alerts = %+v, %v", open, err)
	}
	if _, err := s.IngestDeath(ctx, &wire.Death{Env: envAt(20), Reason: "bye"}, now); err != nil {
		t.Fatal(err)
	}
	c, err := s.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c != (store.Counts{Gateways: 1, GatewaysOnline: 0, Machines: 1, AlertsOpen: 1}) {
		t.Fatalf("counts = %+v", c)
	}
}

func TestSnapshotAndRetention(t *testing.T) {
	s := open(t, t.TempDir())
	ctx := t.Context()
	data := []byte{1, 2, 3, 4}
	if _, err := s.IngestSnapshot(ctx, &wire.Snapshot{Env: envAt(1), Machine: "m1", Model: "hst", Role: wire.RoleChampion, Samples: 9, Data: data}, time.Now()); err != nil {
		t.Fatal(err)
	}
	info, got, err := s.SnapshotData(ctx, store.SnapshotID(data))
	if err != nil || string(got) != string(data) || info.Size != 4 || info.Samples != 9 {
		t.Fatalf("snapshot = %+v %v %v", info, got, err)
	}
	old := envAt(2)
	old.Time = time.Now().Add(-48 * time.Hour).UnixNano()
	fresh := envAt(3)
	fresh.Time = time.Now().UnixNano()
	for _, e := range []wire.Envelope{old, fresh} {
		if _, err := s.IngestMetrics(ctx, &wire.Metrics{Env: e, Series: []wire.ModelMetric{{Machine: "m1", Model: "hst", Role: wire.RoleChampion}}}, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.DeleteMetricsBefore(ctx, time.Now().Add(-24*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("deleted %d, %v; want 1", n, err)
	}
	pts, err := s.MetricPoints(ctx, "gw1", "m1", time.Unix(0, 0), 10)
	if err != nil || len(pts) != 1 || pts[0].Time.UnixNano() != fresh.Time {
		t.Fatalf("points after retention = %+v, %v", pts, err)
	}
}

func TestSnapshotOrigin(t *testing.T) {
	s := open(t, t.TempDir())
	ctx := t.Context()
	tests := []struct {
		name     string
		data     []byte
		signedBy string
	}{
		{"verified", []byte{1, 2, 3}, "0123456789abcdef"},
		{"unverified", []byte{4, 5, 6}, ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tx, err := s.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			sn := &wire.Snapshot{Env: envAt(uint64(10 + i)), Machine: "m1", Model: "pca", Role: wire.RoleTwin, Data: tt.data}
			if _, err := tx.IngestSnapshotOrigin(ctx, sn, time.Now(), tt.signedBy); err != nil {
				t.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			info, _, err := s.SnapshotData(ctx, store.SnapshotID(tt.data))
			if err != nil || info.SignedBy != tt.signedBy {
				t.Fatalf("signed_by = %q, %v; want %q", info.SignedBy, err, tt.signedBy)
			}
		})
	}
}

func TestGroupCommit(t *testing.T) {
	s := open(t, t.TempDir())
	ctx := t.Context()
	now := time.Now()
	// A rolled-back group leaves nothing, not even its seqs.
	tx, err := s.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.IngestAlert(ctx, &wire.Alert{Env: envAt(1), ID: "a1", Machine: "m1"}, now); err != nil {
		t.Fatal(err)
	}
	tx.Rollback()
	if as, err := s.Alerts(ctx, store.AlertFilter{}); err != nil || len(as) != 0 {
		t.Fatalf("after rollback: %v %v", as, err)
	}

	tx, err = s.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	for i, want := range []bool{false, true, false} { // seq 1, 1 again, 2
		seq := uint64(1 + i/2)
		dup, err := tx.IngestAlert(ctx, &wire.Alert{Env: envAt(seq), ID: fmt.Sprint("a", seq), Machine: "m1"}, now)
		if err != nil || dup != want {
			t.Fatalf("ingest %d: dup=%v err=%v, want dup=%v", i, dup, err, want)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if as, err := s.Alerts(ctx, store.AlertFilter{}); err != nil || len(as) != 2 {
		t.Fatalf("after commit: %d alerts, %v; want 2", len(as), err)
	}
}

func TestNonFiniteScores(t *testing.T) {
	s := open(t, t.TempDir())
	ctx := t.Context()
	nan := math.NaN()
	if _, err := s.IngestMetrics(ctx, &wire.Metrics{Env: envAt(1), Series: []wire.ModelMetric{
		{Machine: "m1", Model: "hst", Role: wire.RoleChampion, ScoreMean: nan, ScoreLast: math.Inf(1), Threshold: nan}}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.IngestAlert(ctx, &wire.Alert{Env: envAt(2), ID: "a", Machine: "m1", Score: nan,
		Contributors: []wire.Contribution{{Feature: "f", Value: math.Inf(-1)}}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	ms, err := s.Machines(ctx)
	if err != nil || len(ms) != 1 || ms[0].Score != nil {
		t.Fatalf("machines = %+v, %v; want a nil score for +Inf", ms, err)
	}
	as, err := s.Alerts(ctx, store.AlertFilter{})
	if err != nil || len(as) != 1 {
		t.Fatal(err)
	}
	if _, err := json.Marshal(as); err != nil {
		t.Fatalf("alerts do not encode as JSON: %v", err)
	}
}
