package store

import (
	"database/sql"
	"path/filepath"
	"testing"
	"time"
)

// TestMigrateFromV1 opens a database written by the first schema: the
// registry tables appear and the metric rollups are backfilled.
func TestMigrateFromV1(t *testing.T) {
	dir := t.TempDir()
	db, err := sql.Open("sqlite", "file:"+filepath.ToSlash(filepath.Join(dir, FileName)))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 1, 0, 0, 10, 0, time.UTC).UnixNano()
	for _, q := range []string{
		migrations[0],
		`CREATE TABLE schema_version (version INTEGER NOT NULL)`,
		`INSERT INTO schema_version (version) VALUES (1)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		if _, err := db.Exec(`INSERT INTO metric_points (gateway, machine, model, role, time, interval_ns, count, score_mean,
			score_max, score_last, alerts, samples, latency_ns, threshold) VALUES ('gw1', 'm1', 'hst', 'champion', ?, 10, 100, 0, 0, 0, ?, 0, 0, 0)`,
			at+int64(i)*int64(time.Second), i); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(`INSERT INTO metric_points (gateway, machine, model, role, time, interval_ns, count, score_mean,
		score_max, score_last, alerts, samples, latency_ns, threshold) VALUES ('gw1', 'm1', 'c1', 'challenger', ?, 10, 100, 0, 0, 0, 0, 0, 0, 0)`, at); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err := Open(t.Context(), dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, err := s.Version(t.Context()); err != nil || v != SchemaVersion() || v < 2 {
		t.Fatalf("version = %d, %v", v, err)
	}
	aggs, err := s.DayAggs(t.Context(), "gw1", "m1", time.Unix(0, at).Add(-time.Hour), time.Unix(0, at).Add(time.Hour), nil)
	if err != nil || len(aggs) != 2 || aggs[1].Role != "champion" || aggs[1].Points != 3 || aggs[1].Count != 300 || aggs[1].Alerts != 3 || aggs[1].AlarmPoints != 2 {
		t.Fatalf("backfilled rollup = %+v, %v", aggs, err)
	}
	if is, err := s.ModelInstances(t.Context(), time.Time{}); err != nil || len(is) != 1 || is[0].Model != "c1" || is[0].Role != "challenger" {
		t.Fatalf("backfilled model instances = %+v, %v", is, err)
	}
	if ds, err := s.Deployments(t.Context(), DeploymentFilter{}); err != nil || len(ds) != 0 {
		t.Fatalf("deployments after migration = %+v, %v", ds, err)
	}
}
