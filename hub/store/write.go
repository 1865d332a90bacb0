package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"millwright/wire"
)

// fin maps NaN and ±Inf, which neither SQL NOT NULL columns nor JSON can
// hold, to 0.
func fin(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return f
}

// finOrNull maps NaN and ±Inf to SQL NULL.
func finOrNull(f float64) any {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil
	}
	return f
}

// claim records (sender, seq) in tx and reports whether it was already there.
func claim(ctx context.Context, t *Tx, env *wire.Envelope, now int64) (dup bool, err error) {
	res, err := t.exec(ctx, `INSERT INTO seen (sender, seq, received) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
		env.Sender, int64(env.Seq), now)
	if err != nil {
		return false, fmt.Errorf("record seq: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("record seq: %w", err)
	}
	return n == 0, nil
}

const insertMetricPoint = `INSERT INTO metric_points (gateway, machine, model, role, time, interval_ns,
	count, score_mean, score_max, score_last, alerts, samples, latency_ns, threshold,
	kind, snapshot, both_alarm, only_model, only_champion, hist)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// RollupBucket is the width of the metric rollup buckets.
const RollupBucket = 5 * time.Minute

const upsertRollup = `INSERT INTO metric_rollup (gateway, machine, bucket, model, role, kind, points, alarm_points,
	count, alerts, both_alarm, only_model, only_champion) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?)
	ON CONFLICT DO UPDATE SET kind = excluded.kind, points = points + 1, alarm_points = alarm_points + excluded.alarm_points,
	count = count + excluded.count, alerts = alerts + excluded.alerts, both_alarm = both_alarm + excluded.both_alarm,
	only_model = only_model + excluded.only_model, only_champion = only_champion + excluded.only_champion`

const upsertInstance = `INSERT INTO model_instances (gateway, machine, model, role, kind, first, last) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
	ON CONFLICT DO UPDATE SET kind = CASE WHEN excluded.kind = '' THEN kind ELSE excluded.kind END,
	first = min(first, excluded.first), last = max(last, excluded.last)`

// histBytes packs a score histogram as little-endian uint32s into buf.
func histBytes(buf []byte, h []uint32) []byte {
	if len(h) == 0 {
		return nil
	}
	buf = buf[:0]
	for _, v := range h {
		buf = append(buf, byte(v), byte(v>>8), byte(v>>16), byte(v>>24))
	}
	return buf
}

// Tx groups ingests into one durable commit (group commit): every message
// runs in its own savepoint, so a message that fails rolls back alone and
// the others still commit. A Tx is not safe for concurrent use.
type Tx struct {
	s     *Store
	tx    *sql.Tx
	stmts map[string]*sql.Stmt // this transaction's view of s's prepared statements
	hist  [4 * wire.HistBins]byte
}

// exec runs query with args, through a statement prepared once per
// connection: parsing SQL is a third of the ingest CPU otherwise.
func (t *Tx) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, ok := t.stmts[query]
	if !ok {
		prepared, err := t.s.prepared(ctx, query)
		if err != nil {
			return nil, err
		}
		st = t.tx.StmtContext(ctx, prepared)
		t.stmts[query] = st
	}
	return st.ExecContext(ctx, args...)
}

// prepared returns the statement for query, preparing it on first use.
func (s *Store) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.stmts[query]; ok {
		return st, nil
	}
	st, err := s.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	if s.stmts == nil {
		s.stmts = make(map[string]*sql.Stmt)
	}
	s.stmts[query] = st
	return st, nil
}

// Begin starts a group of ingests. Commit or Rollback must follow.
func (s *Store) Begin(ctx context.Context) (*Tx, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("store: begin: %w", err)
	}
	return &Tx{s: s, tx: tx, stmts: make(map[string]*sql.Stmt, 16)}, nil
}

// Commit makes every successful ingest of the group durable. Only after it
// returns nil may the messages be acknowledged.
func (t *Tx) Commit() error {
	if err := t.tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// Rollback discards the group. It is a no-op after Commit.
func (t *Tx) Rollback() { _ = t.tx.Rollback() }

// ingest runs write in a savepoint guarded by the (sender, seq) claim.
// Seq 0 means unsequenced (nothing to de-duplicate on): always written.
func (t *Tx) ingest(ctx context.Context, what string, env *wire.Envelope, recv time.Time, write func(now int64) error) (dup bool, err error) {
	now := recv.UnixNano()
	if _, err := t.exec(ctx, `SAVEPOINT msg`); err != nil {
		return false, fmt.Errorf("store %s: savepoint: %w", what, err)
	}
	done := false
	defer func() {
		if !done {
			t.exec(ctx, `ROLLBACK TO msg`)
			t.exec(ctx, `RELEASE msg`)
		}
	}()
	if env.Seq != 0 {
		dup, err = claim(ctx, t, env, now)
		if err != nil {
			return false, fmt.Errorf("store %s: %w", what, err)
		}
	}
	if !dup {
		if err := write(now); err != nil {
			return false, fmt.Errorf("store %s: %w", what, err)
		}
	}
	if _, err := t.exec(ctx, `RELEASE msg`); err != nil {
		return false, fmt.Errorf("store %s: release savepoint: %w", what, err)
	}
	done = true
	return dup, nil
}

// one runs a single ingest in its own transaction.
func one[M any](ctx context.Context, s *Store, m M, recv time.Time, f func(*Tx, context.Context, M, time.Time) (bool, error)) (bool, error) {
	t, err := s.Begin(ctx)
	if err != nil {
		return false, err
	}
	defer t.Rollback()
	dup, err := f(t, ctx, m, recv)
	if err != nil {
		return false, err
	}
	return dup, t.Commit()
}

// IngestBirth is Tx.IngestBirth in a transaction of its own.
func (s *Store) IngestBirth(ctx context.Context, b *wire.Birth, recv time.Time) (bool, error) {
	return one(ctx, s, b, recv, (*Tx).IngestBirth)
}

// IngestDeath is Tx.IngestDeath in a transaction of its own.
func (s *Store) IngestDeath(ctx context.Context, d *wire.Death, recv time.Time) (bool, error) {
	return one(ctx, s, d, recv, (*Tx).IngestDeath)
}

// IngestMetrics is Tx.IngestMetrics in a transaction of its own.
func (s *Store) IngestMetrics(ctx context.Context, m *wire.Metrics, recv time.Time) (bool, error) {
	return one(ctx, s, m, recv, (*Tx).IngestMetrics)
}

// IngestAlert is Tx.IngestAlert in a transaction of its own.
func (s *Store) IngestAlert(ctx context.Context, a *wire.Alert, recv time.Time) (bool, error) {
	return one(ctx, s, a, recv, (*Tx).IngestAlert)
}

// IngestSnapshot is Tx.IngestSnapshot in a transaction of its own.
func (s *Store) IngestSnapshot(ctx context.Context, sn *wire.Snapshot, recv time.Time) (bool, error) {
	return one(ctx, s, sn, recv, (*Tx).IngestSnapshot)
}

// IngestCommandAck is Tx.IngestCommandAck in a transaction of its own.
func (s *Store) IngestCommandAck(ctx context.Context, c *wire.CommandAck, recv time.Time) (bool, error) {
	return one(ctx, s, c, recv, (*Tx).IngestCommandAck)
}

func touchGateway(ctx context.Context, t *Tx, gw string, now int64) error {
	_, err := t.exec(ctx, `INSERT INTO gateways (id, first_seen, last_seen) VALUES (?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen`, gw, now, now)
	if err != nil {
		return fmt.Errorf("touch gateway: %w", err)
	}
	return nil
}

func touchMachine(ctx context.Context, t *Tx, gw, machine string, now int64) error {
	_, err := t.exec(ctx, `INSERT INTO machines (gateway, id, last_seen) VALUES (?, ?, ?)
		ON CONFLICT (gateway, id) DO UPDATE SET last_seen = max(last_seen, excluded.last_seen)`, gw, machine, now)
	if err != nil {
		return fmt.Errorf("touch machine: %w", err)
	}
	return nil
}

// IngestBirth marks the gateway online and upserts its machines.
func (t *Tx) IngestBirth(ctx context.Context, b *wire.Birth, recv time.Time) (dup bool, err error) {
	gw := b.Env.Sender
	return t.ingest(ctx, "birth", &b.Env, recv, func(now int64) error {
		_, err := t.exec(ctx, `INSERT INTO gateways (id, agent_version, online, first_seen, last_seen, config_hash, born)
			VALUES (?, ?, 1, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET agent_version = excluded.agent_version, online = 1,
				last_seen = excluded.last_seen, config_hash = excluded.config_hash, born = excluded.born`,
			gw, b.AgentVersion, now, now, b.ConfigHash, now)
		if err != nil {
			return fmt.Errorf("upsert gateway: %w", err)
		}
		for i := range b.Machines {
			m := &b.Machines[i]
			sensors := m.Sensors
			if sensors == nil {
				sensors = []string{}
			}
			js, err := json.Marshal(sensors)
			if err != nil {
				return fmt.Errorf("encode sensors: %w", err)
			}
			_, err = t.exec(ctx, `INSERT INTO machines (gateway, id, type, site, line, sensors, model, last_seen)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (gateway, id) DO UPDATE SET type = excluded.type, site = excluded.site,
					line = excluded.line, sensors = excluded.sensors, model = excluded.model`,
				gw, m.ID, m.Type, m.Site, m.Line, string(js), m.Model, now)
			if err != nil {
				return fmt.Errorf("upsert machine %s: %w", m.ID, err)
			}
			if err := registerBirthChampion(ctx, t, gw, m, now); err != nil {
				return err
			}
		}
		return nil
	})
}

// IngestDeath marks the gateway offline.
func (t *Tx) IngestDeath(ctx context.Context, d *wire.Death, recv time.Time) (dup bool, err error) {
	return t.ingest(ctx, "death", &d.Env, recv, func(now int64) error {
		_, err := t.exec(ctx, `INSERT INTO gateways (id, online, first_seen, last_seen) VALUES (?, 0, ?, ?)
			ON CONFLICT (id) DO UPDATE SET online = 0, last_seen = excluded.last_seen`, d.Env.Sender, now, now)
		if err != nil {
			return fmt.Errorf("mark gateway offline: %w", err)
		}
		return nil
	})
}

// IngestMetrics stores every series as a metric point and updates each
// machine's latest champion score.
func (t *Tx) IngestMetrics(ctx context.Context, m *wire.Metrics, recv time.Time) (dup bool, err error) {
	gw := m.Env.Sender
	return t.ingest(ctx, "metrics", &m.Env, recv, func(now int64) error {
		if err := touchGateway(ctx, t, gw, now); err != nil {
			return err
		}
		for i := range m.Series {
			p := &m.Series[i]
			if err := touchMachine(ctx, t, gw, p.Machine, now); err != nil {
				return err
			}
			if _, err := t.exec(ctx, insertMetricPoint, gw, p.Machine, p.Model, p.Role, m.Env.Time, m.IntervalNs,
				int64(p.Count), fin(p.ScoreMean), fin(p.ScoreMax), fin(p.ScoreLast), int64(p.Alerts), int64(p.Samples),
				p.LatencyNs, fin(p.Threshold), p.Kind, p.Snapshot, int64(p.Both), int64(p.OnlyModel), int64(p.OnlyChampion),
				histBytes(t.hist[:], p.Hist)); err != nil {
				return fmt.Errorf("insert metric point: %w", err)
			}
			alarmed := int64(0)
			if p.Alerts > 0 {
				alarmed = 1
			}
			if _, err := t.exec(ctx, upsertRollup, gw, p.Machine, m.Env.Time/int64(RollupBucket), p.Model, p.Role, p.Kind,
				alarmed, int64(p.Count), int64(p.Alerts), int64(p.Both), int64(p.OnlyModel), int64(p.OnlyChampion)); err != nil {
				return fmt.Errorf("update metric rollup: %w", err)
			}
			if p.Role != wire.RoleChampion {
				if _, err := t.exec(ctx, upsertInstance, gw, p.Machine, p.Model, p.Role, p.Kind, m.Env.Time); err != nil {
					return fmt.Errorf("update model instance: %w", err)
				}
			}
			if p.Role == wire.RoleChampion {
				if _, err := t.exec(ctx, `UPDATE machines SET last_score = ?, threshold = ?,
					model = CASE WHEN model = '' THEN ? ELSE model END WHERE gateway = ? AND id = ?`,
					finOrNull(p.ScoreLast), finOrNull(p.Threshold), p.Model, gw, p.Machine); err != nil {
					return fmt.Errorf("update machine score: %w", err)
				}
			}
		}
		return nil
	})
}

// IngestAlert stores an alert as open. An alert whose ID is already stored
// (a redelivery under a new seq) is left as it is.
func (t *Tx) IngestAlert(ctx context.Context, a *wire.Alert, recv time.Time) (dup bool, err error) {
	gw := a.Env.Sender
	return t.ingest(ctx, "alert", &a.Env, recv, func(now int64) error {
		if err := touchGateway(ctx, t, gw, now); err != nil {
			return err
		}
		if err := touchMachine(ctx, t, gw, a.Machine, now); err != nil {
			return err
		}
		contrib := a.Contributors
		if contrib == nil {
			contrib = []wire.Contribution{}
		}
		for i := range contrib {
			contrib[i].Value = fin(contrib[i].Value)
		}
		js, err := json.Marshal(contrib)
		if err != nil {
			return fmt.Errorf("encode contributors: %w", err)
		}
		_, err = t.exec(ctx, `INSERT INTO alerts (id, gateway, machine, model, severity, score, threshold,
			start_time, received, status, status_time, contributors, message)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
			a.ID, gw, a.Machine, a.Model, a.Severity, fin(a.Score), fin(a.Threshold), a.Env.Time, now, now, string(js), a.Message)
		if err != nil {
			return fmt.Errorf("insert alert: %w", err)
		}
		return nil
	})
}

// SnapshotID is the content hash that names a snapshot.
func SnapshotID(data []byte) string {
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:])
}

// IngestSnapshot stores a model snapshot under its content hash.
func (t *Tx) IngestSnapshot(ctx context.Context, sn *wire.Snapshot, recv time.Time) (dup bool, err error) {
	return t.IngestSnapshotOrigin(ctx, sn, recv, "")
}

// IngestSnapshotOrigin is IngestSnapshot recording signedBy, the id of the
// agent key whose signature the hub verified ("" for none).
func (t *Tx) IngestSnapshotOrigin(ctx context.Context, sn *wire.Snapshot, recv time.Time, signedBy string) (dup bool, err error) {
	gw := sn.Env.Sender
	return t.ingest(ctx, "snapshot", &sn.Env, recv, func(now int64) error {
		if err := touchGateway(ctx, t, gw, now); err != nil {
			return err
		}
		if err := touchMachine(ctx, t, gw, sn.Machine, now); err != nil {
			return err
		}
		data := sn.Data
		if data == nil {
			data = []byte{}
		}
		_, err := t.exec(ctx, `INSERT INTO snapshots (id, gateway, machine, model, role, parent, samples, size, received, data, signed_by)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
			SnapshotID(data), gw, sn.Machine, sn.Model, sn.Role, sn.Parent, int64(sn.Samples), len(data), now, data, signedBy)
		if err != nil {
			return fmt.Errorf("insert snapshot: %w", err)
		}
		return nil
	})
}

// IngestCommandAck stores an agent's answer to a command.
func (t *Tx) IngestCommandAck(ctx context.Context, c *wire.CommandAck, recv time.Time) (dup bool, err error) {
	gw := c.Env.Sender
	return t.ingest(ctx, "cmdack", &c.Env, recv, func(now int64) error {
		if err := touchGateway(ctx, t, gw, now); err != nil {
			return err
		}
		_, err := t.exec(ctx, `INSERT INTO command_acks (gateway, command_id, ok, reason, received)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (gateway, command_id) DO UPDATE SET ok = excluded.ok,
			reason = excluded.reason, received = excluded.received`, gw, c.CommandID, c.OK, c.Reason, now)
		if err != nil {
			return fmt.Errorf("insert command ack: %w", err)
		}
		return answerCommand(ctx, t, gw, "agent/"+gw, c, now)
	})
}
