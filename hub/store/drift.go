package store

import (
	"context"
	"fmt"
	"time"

	"millwright/wire"
)

// Drift is one stored drift event.
type Drift struct {
	Gateway  string    `json:"gateway"`
	Machine  string    `json:"machine"`
	Model    string    `json:"model"`
	Role     string    `json:"role"`
	Detector string    `json:"detector"`
	Signal   string    `json:"signal"`
	Before   float64   `json:"before"`
	After    float64   `json:"after"`
	Samples  uint64    `json:"samples"`
	Time     time.Time `json:"time"`
	Received time.Time `json:"received"`
}

// IngestDrift stores a drift event and its (sender, seq) in one transaction.
func (s *Store) IngestDrift(ctx context.Context, d *wire.Drift, recv time.Time) (bool, error) {
	return one(ctx, s, d, recv, (*Tx).IngestDrift)
}

// IngestDrift stores a drift event inside the batch.
func (t *Tx) IngestDrift(ctx context.Context, d *wire.Drift, recv time.Time) (dup bool, err error) {
	gw := d.Env.Sender
	return t.ingest(ctx, "drift", &d.Env, recv, func(now int64) error {
		if err := touchGateway(ctx, t, gw, now); err != nil {
			return err
		}
		if err := touchMachine(ctx, t, gw, d.Machine, now); err != nil {
			return err
		}
		_, err := t.exec(ctx, `INSERT INTO drift_events (gateway, seq, machine, model, role, detector, signal,
			before, after, samples, time, received) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT DO NOTHING`,
			gw, int64(d.Env.Seq), d.Machine, d.Model, d.Role, d.Detector, d.Signal, fin(d.Before), fin(d.After),
			int64(d.Samples), d.Env.Time, now)
		if err != nil {
			return fmt.Errorf("insert drift: %w", err)
		}
		return nil
	})
}

// Drifts returns a machine's drift events since a time, newest first; an
// empty machine means every machine of the gateway, an empty gateway every
// gateway.
func (s *Store) Drifts(ctx context.Context, gw, machine string, since time.Time, limit int) ([]Drift, error) {
	if limit <= 0 || limit > 10000 {
		limit = 100
	}
	rows, err := s.db.QueryContext(ctx, `SELECT gateway, machine, model, role, detector, signal, before, after,
		samples, time, received FROM drift_events
		WHERE (? = '' OR gateway = ?) AND (? = '' OR machine = ?) AND time >= ?
		ORDER BY time DESC LIMIT ?`, gw, gw, machine, machine, since.UnixNano(), limit)
	if err != nil {
		return nil, fmt.Errorf("query drifts: %w", err)
	}
	defer rows.Close()
	var out []Drift
	for rows.Next() {
		var d Drift
		var samples, t, recv int64
		if err := rows.Scan(&d.Gateway, &d.Machine, &d.Model, &d.Role, &d.Detector, &d.Signal, &d.Before, &d.After,
			&samples, &t, &recv); err != nil {
			return nil, fmt.Errorf("scan drift: %w", err)
		}
		d.Samples = uint64(samples)
		d.Time, d.Received = time.Unix(0, t).UTC(), time.Unix(0, recv).UTC()
		out = append(out, d)
	}
	return out, rows.Err()
}
