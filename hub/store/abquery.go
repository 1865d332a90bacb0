package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Span is a half-open time interval [From, To).
type Span struct{ From, To time.Time }

// DayAgg sums one model's metric points of one machine over one UTC day,
// split by whether the points fall inside a labelled fault span.
type DayAgg struct {
	Model string
	Role  string
	Kind  string
	Day   time.Time // midnight UTC
	Fault bool      // the points lie inside a fault span
	// Points is the number of metric intervals; AlarmPoints those with at
	// least one alarm; Count the vectors scored; Alerts the alarmed vectors.
	Points, AlarmPoints, Count, Alerts int64
	// Paired decisions against the champion (zero for the champion).
	Both, OnlyModel, OnlyChampion int64
}

// maxSpans bounds the spans pushed into one query; more are merged.
const maxSpans = 200

const dayNs = int64(24 * time.Hour)

// DayAggs aggregates the metric rollups of one machine in [from, to) per
// model, role, UTC day and fault/normal inside the database. A rollup
// bucket (RollupBucket wide) counts as fault when it overlaps a fault
// span; from and to are rounded to buckets. The spans should be sorted.
func (s *Store) DayAggs(ctx context.Context, gw, machine string, from, to time.Time, faults []Span) ([]DayAgg, error) {
	faults = mergeSpans(faults, maxSpans)
	bw := int64(RollupBucket)
	var b strings.Builder
	// The CASE placeholders come before the WHERE ones in the text.
	args := make([]any, 0, 4+2*len(faults))
	b.WriteString(`SELECT model, role, max(kind), bucket / ` + fmt.Sprint(dayNs/bw) + ` AS day, `)
	if len(faults) == 0 {
		b.WriteString(`0 AS f`)
	} else {
		b.WriteString(`CASE WHEN `)
		for i, sp := range faults {
			if i > 0 {
				b.WriteString(` OR `)
			}
			b.WriteString(`(bucket >= ? AND bucket < ?)`)
			args = append(args, sp.From.UnixNano()/bw, (sp.To.UnixNano()+bw-1)/bw)
		}
		b.WriteString(` THEN 1 ELSE 0 END AS f`)
	}
	b.WriteString(`, sum(points), sum(alarm_points), sum(count), sum(alerts), sum(both_alarm), sum(only_model), sum(only_champion)
		FROM metric_rollup WHERE gateway = ? AND machine = ? AND bucket >= ? AND bucket < ?
		GROUP BY model, role, day, f ORDER BY model, role, day, f`)
	args = append(args, gw, machine, from.UnixNano()/bw, (to.UnixNano()+bw-1)/bw)
	rows, err := s.db.QueryContext(ctx, b.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("aggregate metrics: %w", err)
	}
	defer rows.Close()
	var out []DayAgg
	for rows.Next() {
		var a DayAgg
		var day int64
		var f int
		if err := rows.Scan(&a.Model, &a.Role, &a.Kind, &day, &f, &a.Points, &a.AlarmPoints, &a.Count, &a.Alerts,
			&a.Both, &a.OnlyModel, &a.OnlyChampion); err != nil {
			return nil, fmt.Errorf("aggregate metrics: %w", err)
		}
		a.Day, a.Fault = time.Unix(0, day*dayNs).UTC(), f == 1
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("aggregate metrics: %w", err)
	}
	return out, nil
}

// mergeSpans sorts nothing: it joins overlapping neighbours and, past max,
// the closest neighbours, so a query never carries more than max spans.
func mergeSpans(sp []Span, max int) []Span {
	if len(sp) == 0 {
		return nil
	}
	out := []Span{sp[0]}
	for _, s := range sp[1:] {
		last := &out[len(out)-1]
		if !s.From.After(last.To) {
			if s.To.After(last.To) {
				last.To = s.To
			}
			continue
		}
		out = append(out, s)
	}
	for len(out) > max {
		// Join the pair with the smallest gap.
		best := 0
		for i := 1; i < len(out)-1; i++ {
			if out[i+1].From.Sub(out[i].To) < out[best+1].From.Sub(out[best].To) {
				best = i
			}
		}
		out[best].To = out[best+1].To
		out = append(out[:best+1], out[best+2:]...)
	}
	return out
}

// AlarmTimes returns, per model, the end times of the metric intervals of
// one machine in [from, to) in which the model alarmed, oldest first, and
// the longest interval seen (the metrics period).
func (s *Store) AlarmTimes(ctx context.Context, gw, machine string, from, to time.Time) (map[string][]time.Time, time.Duration, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT model, time, interval_ns FROM metric_points
		WHERE gateway = ? AND machine = ? AND time >= ? AND time < ? AND alerts > 0 ORDER BY model, time`,
		gw, machine, from.UnixNano(), to.UnixNano())
	if err != nil {
		return nil, 0, fmt.Errorf("alarm times: %w", err)
	}
	defer rows.Close()
	out := map[string][]time.Time{}
	var period int64
	var model string
	for rows.Next() {
		var t, iv int64
		if err := rows.Scan(&model, &t, &iv); err != nil {
			return nil, 0, fmt.Errorf("alarm times: %w", err)
		}
		out[model] = append(out[model], time.Unix(0, t).UTC())
		period = max(period, iv)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("alarm times: %w", err)
	}
	if period == 0 {
		if err := s.db.QueryRowContext(ctx, `SELECT coalesce(max(interval_ns), 0) FROM (SELECT interval_ns FROM metric_points
			WHERE gateway = ? AND machine = ? AND time >= ? AND time < ? LIMIT 100)`, gw, machine, from.UnixNano(), to.UnixNano()).Scan(&period); err != nil {
			return nil, 0, fmt.Errorf("metrics period: %w", err)
		}
	}
	return out, time.Duration(period), nil
}

// WindowStats sums one machine's metric points of one role (all roles
// when role is "") over [from, to).
type WindowStats struct {
	Points, Count, Alerts int64
}

// AlertRate is alarmed vectors per scored vector; 0 without vectors.
func (w WindowStats) AlertRate() float64 {
	if w.Count == 0 {
		return 0
	}
	return float64(w.Alerts) / float64(w.Count)
}

// Window sums the metric points of one machine and role in [from, to),
// exactly (not from the rollups): rollout gates judge minutes around a
// change. It reads one range of the machine's time index.
func (s *Store) Window(ctx context.Context, gw, machine, role string, from, to time.Time) (WindowStats, error) {
	var w WindowStats
	err := s.db.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(count), 0), coalesce(sum(alerts), 0)
		FROM metric_points WHERE gateway = ?1 AND machine = ?2 AND time >= ?3 AND time < ?4 AND (?5 = '' OR role = ?5)`,
		gw, machine, from.UnixNano(), to.UnixNano(), role).Scan(&w.Points, &w.Count, &w.Alerts)
	if err != nil {
		return w, fmt.Errorf("metrics window: %w", err)
	}
	return w, nil
}

// LastMetric returns the time of the newest metric point of one machine
// (zero when there is none).
func (s *Store) LastMetric(ctx context.Context, gw, machine string) (time.Time, error) {
	var t sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT max(time) FROM metric_points WHERE gateway = ? AND machine = ?`, gw, machine).Scan(&t); err != nil {
		return time.Time{}, fmt.Errorf("last metric: %w", err)
	}
	if !t.Valid {
		return time.Time{}, nil
	}
	return time.Unix(0, t.Int64).UTC(), nil
}

// RunningModel is a model instance seen in a machine's metrics.
type RunningModel struct {
	Model    string    `json:"model"`
	Role     string    `json:"role"`
	Kind     string    `json:"kind"`
	Snapshot string    `json:"snapshot,omitempty"`
	Last     time.Time `json:"last"`
}

// LatestModel returns what the newest metric point of model instance
// name on a machine says about it; ErrNotFound when it never reported.
func (s *Store) LatestModel(ctx context.Context, gw, machine, name string) (RunningModel, error) {
	var m RunningModel
	var t int64
	err := s.db.QueryRowContext(ctx, `SELECT model, role, kind, snapshot, time FROM metric_points
		WHERE gateway = ? AND machine = ? AND model = ? ORDER BY time DESC LIMIT 1`, gw, machine, name).
		Scan(&m.Model, &m.Role, &m.Kind, &m.Snapshot, &t)
	if errors.Is(err, sql.ErrNoRows) {
		return m, fmt.Errorf("model %q on %s/%s: %w", name, gw, machine, ErrNotFound)
	}
	if err != nil {
		return m, fmt.Errorf("latest model: %w", err)
	}
	m.Last = time.Unix(0, t).UTC()
	return m, nil
}

// ModelInstance is a challenger or twin seen in a machine's metrics.
type ModelInstance struct {
	Gateway string    `json:"gateway"`
	Machine string    `json:"machine"`
	Model   string    `json:"model"`
	Role    string    `json:"role"`
	Kind    string    `json:"kind,omitempty"`
	First   time.Time `json:"first"`
	Last    time.Time `json:"last"`
}

// ModelInstances lists the challengers and twins that reported metrics at
// or after since (all of them for a zero since), by asset.
func (s *Store) ModelInstances(ctx context.Context, since time.Time) ([]ModelInstance, error) {
	var from int64
	if !since.IsZero() {
		from = since.UnixNano()
	}
	rows, err := s.db.QueryContext(ctx, `SELECT gateway, machine, model, role, kind, first, last FROM model_instances
		WHERE last >= ? ORDER BY gateway, machine, role, model`, from)
	if err != nil {
		return nil, fmt.Errorf("list model instances: %w", err)
	}
	defer rows.Close()
	out := []ModelInstance{}
	for rows.Next() {
		var m ModelInstance
		var first, last int64
		if err := rows.Scan(&m.Gateway, &m.Machine, &m.Model, &m.Role, &m.Kind, &first, &last); err != nil {
			return nil, fmt.Errorf("list model instances: %w", err)
		}
		m.First, m.Last = time.Unix(0, first).UTC(), time.Unix(0, last).UTC()
		out = append(out, m)
	}
	return out, rows.Err()
}
