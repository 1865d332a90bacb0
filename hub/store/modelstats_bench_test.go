package store

import (
	"testing"
	"time"
)

// BenchmarkModelStats times the Models page's aggregates on 5,000
// machines (100 gateways × 50) with perDay 5-minute rollups a day for 14
// days, 20,000 promotions-worth of deployments and 5,000 alerts. The rows
// are inserted with SQL, not ingested, to keep the setup short.
func BenchmarkModelStats(b *testing.B) {
	const perDay = 24 // hourly; a fleet reporting all day has 288
	s, err := Open(b.Context(), b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	ctx := b.Context()
	now := time.Now()
	first := now.Add(-14*24*time.Hour).UnixNano() / int64(RollupBucket)
	for _, q := range []string{
		`WITH RECURSIVE g(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM g WHERE n < 4999)
		INSERT INTO machines (gateway, id, model) SELECT printf('gw%03d', n / 50), printf('m%02d', n % 50), 'hst' FROM g`,
		`WITH RECURSIVE t(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM t WHERE k < 14 * ?2 - 1)
		INSERT INTO metric_rollup SELECT m.gateway, m.id, ?1 + t.k * (288 / ?2), 'hst', 'champion', 'hst', 1, 0, 600, 0, 0, 0, 0
		FROM machines m, t`,
		`WITH RECURSIVE g(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM g WHERE n < 19999)
		INSERT INTO deployments (id, gateway, machine, role, name, kind, status, since, updated, by)
		SELECT printf('dep-%d', n), printf('gw%03d', (n / 50) % 100), printf('m%02d', n % 50), 'champion', 'rrcf', 'rrcf',
			'replaced', ?3 + n, ?3 + n, CASE WHEN n < 5000 THEN 'agent/gw' ELSE 'dana' END FROM g`,
		`WITH RECURSIVE g(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM g WHERE n < 4999)
		INSERT INTO alerts (id, gateway, machine, model, severity, score, threshold, start_time, received, status_time, contributors)
		SELECT printf('al-%d', n), printf('gw%03d', n / 50), printf('m%02d', n % 50), 'hst', 'warning', 0.9, 0.8, ?3, ?3, ?3,
			'[{"feature":"f' || (n % 7) || '","value":0.5},{"feature":"g' || (n % 3) || '","value":0.2}]' FROM g`,
	} {
		if _, err := s.db.ExecContext(ctx, q, first, perDay, now.Add(-time.Hour).UnixNano()); err != nil {
			b.Fatal(err)
		}
	}
	since := now.Add(-14 * 24 * time.Hour)
	b.Run("ScoredPerDay", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if ds, err := s.ScoredPerDay(ctx, since, time.Time{}); err != nil || len(ds) < 14 {
				b.Fatalf("%d days, %v", len(ds), err)
			}
		}
	})
	b.Run("LastPromotions", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if k, _, err := s.LastPromotions(ctx, 20); err != nil || len(k) != 1 {
				b.Fatalf("%d kinds, %v", len(k), err)
			}
		}
	})
	b.Run("ModelFeatures", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if fs, _, err := s.ModelFeatures(ctx, since, 5000, 6); err != nil || len(fs) != 6 {
				b.Fatalf("%d features, %v", len(fs), err)
			}
		}
	})
}
