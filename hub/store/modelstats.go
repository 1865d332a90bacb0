package store

import (
	"context"
	"fmt"
	"time"
)

// Read-only aggregates for the Models page: how much each kind of model
// scored per day, when champions were last promoted and by whom, and
// which features drive the alerts. Each is one SQL aggregate, so the cost
// does not grow with a loop over machines in the caller.

// ModelDay is how many vectors models of one kind scored in one role on
// one UTC day, summed over every machine.
type ModelDay struct {
	Kind     string `json:"kind"`
	Role     string `json:"role"`
	Day      string `json:"day"` // YYYY-MM-DD, UTC
	Vectors  int64  `json:"vectors"`
	Machines int64  `json:"machines"` // machines that reported this kind and role that day
}

const rollupsPerDay = int64(24 * time.Hour / RollupBucket)

// ScoredPerDay sums the 5-minute metric rollups into vectors scored per
// kind (the model name when an agent sent no kind), role and UTC day, for
// the days from since's day up to until's day (excluded; a zero until
// means no end), ordered by kind, role and day. Days without metrics are
// absent.
//
// The cost is linear in the rollup rows of the window (about 1.7 µs a row:
// SQLite sorts them to group), so callers cache finished days.
func (s *Store) ScoredPerDay(ctx context.Context, since, until time.Time) ([]ModelDay, error) {
	first := since.UTC().Truncate(24*time.Hour).UnixNano() / int64(RollupBucket)
	end := int64(1<<63 - 1)
	if !until.IsZero() {
		end = until.UTC().Truncate(24*time.Hour).UnixNano() / int64(RollupBucket)
	}
	// CROSS JOIN keeps machines as the outer loop so each machine's rollups
	// are a range of the (gateway, machine, bucket, …) primary key instead
	// of a scan of the whole table.
	rows, err := s.db.QueryContext(ctx, `SELECT CASE WHEN kind != '' THEN kind ELSE model END AS k, role, day, sum(n), count(*) FROM (
		SELECT r.model, max(r.kind) AS kind, r.role, r.bucket / ?2 AS day, sum(r.count) AS n
		FROM machines m CROSS JOIN metric_rollup r ON r.gateway = m.gateway AND r.machine = m.id AND r.bucket >= ?1 AND r.bucket < ?3
		GROUP BY m.gateway, m.id, day, r.model, r.role)
		GROUP BY k, role, day ORDER BY k, role, day`, first, rollupsPerDay, end)
	if err != nil {
		return nil, fmt.Errorf("sum vectors per day: %w", err)
	}
	defer rows.Close()
	out := []ModelDay{}
	for rows.Next() {
		var d ModelDay
		var day int64
		if err := rows.Scan(&d.Kind, &d.Role, &day, &d.Vectors, &d.Machines); err != nil {
			return nil, fmt.Errorf("sum vectors per day: %w", err)
		}
		d.Day = time.Unix(day*86400, 0).UTC().Format(time.DateOnly)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sum vectors per day: %w", err)
	}
	return out, nil
}

// Promotion is a champion put on an asset by a person (or a token), not
// reported by its agent at birth and not restored by a rollback.
type Promotion struct {
	Kind       string    `json:"kind"`
	Name       string    `json:"name"`
	Gateway    string    `json:"gateway"`
	Machine    string    `json:"machine"`
	At         time.Time `json:"at"`
	By         string    `json:"by"`
	Status     string    `json:"status"` // the deployment's status now (acked, replaced, rolled-back, …)
	Deployment string    `json:"deployment"`
	Rollout    string    `json:"rollout,omitempty"`
	// Assets is, in a per-kind summary, how many champion deployments of
	// the kind were ever promoted; 0 in per-asset rows.
	Assets int64 `json:"assets,omitempty"`
}

// promotedChampions selects champion deployments made by people: not the
// agent's birth report (by agent/…) and not a deployment restored by a
// rollback (Rollback ends the current one at the very instant the
// restored one starts).
const promotedChampions = `SELECT d.* FROM deployments d WHERE d.role = 'champion' AND d.by NOT LIKE 'agent/%'
	AND NOT EXISTS (SELECT 1 FROM deployments rb WHERE rb.gateway = d.gateway AND rb.machine = d.machine
		AND rb.role = 'champion' AND rb.status = 'rolled-back' AND rb.updated = d.since AND rb.id != d.id)`

// LastPromotions returns, per model kind, the latest promotion of a
// champion of that kind (newest first), and the latest promotion on each
// of the most recently changed assets, at most assets rows.
func (s *Store) LastPromotions(ctx context.Context, assets int) (byKind, byAsset []Promotion, err error) {
	if assets <= 0 {
		assets = 50
	}
	// SQLite takes the bare columns of a max() aggregate from the row
	// holding the maximum.
	byKind, err = s.promotions(ctx, `SELECT kind, name, gateway, machine, max(since), by, status, id, rollout, count(*)
		FROM (`+promotedChampions+`) GROUP BY kind ORDER BY 5 DESC, kind`)
	if err != nil {
		return nil, nil, err
	}
	byAsset, err = s.promotions(ctx, `SELECT kind, name, gateway, machine, max(since), by, status, id, rollout, 0
		FROM (`+promotedChampions+`) GROUP BY gateway, machine ORDER BY 5 DESC, gateway, machine LIMIT ?`, assets)
	if err != nil {
		return nil, nil, err
	}
	return byKind, byAsset, nil
}

func (s *Store) promotions(ctx context.Context, q string, args ...any) ([]Promotion, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list promotions: %w", err)
	}
	defer rows.Close()
	out := []Promotion{}
	for rows.Next() {
		var p Promotion
		var at int64
		if err := rows.Scan(&p.Kind, &p.Name, &p.Gateway, &p.Machine, &at, &p.By, &p.Status, &p.Deployment, &p.Rollout, &p.Assets); err != nil {
			return nil, fmt.Errorf("list promotions: %w", err)
		}
		p.At = time.Unix(0, at).UTC()
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list promotions: %w", err)
	}
	return out, nil
}

// FeatureShare is how much one feature drove one model's recent alerts.
type FeatureShare struct {
	Model   string `json:"model"`
	Feature string `json:"feature"`
	// Share is the feature's mean share of its alerts' contributions
	// (|value| over the alert's sum of |value|), counting 0 for the
	// model's alerts that do not name it; a model's shares sum to 1 over
	// its alerts that carry contributions.
	Share  float64 `json:"share"`
	Alerts int64   `json:"alerts"` // the model's alerts that name the feature
}

// ModelFeatures aggregates the contributions of the newest alerts (at most
// limit, started at or after since) per model and feature, and returns
// each model's top features by share, at most top per model, models by
// name. It also returns how many of those alerts each model had with
// contributions.
func (s *Store) ModelFeatures(ctx context.Context, since time.Time, limit, top int) ([]FeatureShare, map[string]int64, error) {
	if limit <= 0 {
		limit = 5000
	}
	if top <= 0 {
		top = 5
	}
	// The newest alerts by insertion order (rowid) need no index; the
	// contributions are JSON arrays of {feature, value}.
	rows, err := s.db.QueryContext(ctx, `WITH recent AS (
			SELECT rowid AS r, model, contributors FROM alerts WHERE start_time >= ?1 AND contributors != '[]'
			ORDER BY rowid DESC LIMIT ?2),
		c AS (SELECT recent.r, recent.model, json_extract(j.value, '$.feature') AS f, abs(CAST(json_extract(j.value, '$.value') AS REAL)) AS v
			FROM recent, json_each(recent.contributors) j WHERE json_extract(j.value, '$.feature') IS NOT NULL),
		t AS (SELECT r, sum(v) AS tot FROM c GROUP BY r HAVING sum(v) > 0),
		n AS (SELECT model, count(DISTINCT r) AS alerts FROM c JOIN t USING (r) GROUP BY model),
		agg AS (SELECT c.model, c.f, sum(c.v / t.tot) AS s, count(*) AS a FROM c JOIN t USING (r) GROUP BY c.model, c.f)
		SELECT model, f, s / n.alerts, a, n.alerts FROM (
			SELECT agg.*, row_number() OVER (PARTITION BY agg.model ORDER BY agg.s DESC, agg.f) AS rank FROM agg)
		JOIN n USING (model) WHERE rank <= ?3 ORDER BY model, rank`, since.UnixNano(), limit, top)
	if err != nil {
		return nil, nil, fmt.Errorf("aggregate alert features: %w", err)
	}
	defer rows.Close()
	out := []FeatureShare{}
	alerts := map[string]int64{}
	for rows.Next() {
		var f FeatureShare
		var n int64
		if err := rows.Scan(&f.Model, &f.Feature, &f.Share, &f.Alerts, &n); err != nil {
			return nil, nil, fmt.Errorf("aggregate alert features: %w", err)
		}
		alerts[f.Model] = n
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("aggregate alert features: %w", err)
	}
	return out, alerts, nil
}
