// Package store is the hub's embedded database: gateways, machines, metric
// points, alerts and model snapshots in a pure-Go SQLite file (WAL,
// synchronous=FULL), so everything acknowledged to an agent survives a
// restart or a kill -9.
//
// Every Ingest method writes one message together with its (sender, seq) in
// a single transaction and reports whether the pair had already been stored;
// the caller acks the agent only after it returns without error. Tx groups
// many ingests into one commit (one fsync) for throughput, each message in
// its own savepoint. A message with Seq 0 is unsequenced: it is always
// applied and never de-duplicated.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// FileName is the database file inside the data directory.
const FileName = "hub.db"

// ErrNotFound is returned when a looked-up row does not exist.
var ErrNotFound = errors.New("not found")

// Options configure Open. The zero value works.
type Options struct {
	Logger *slog.Logger
	// BusyTimeout is how long a writer waits for the lock; default 5s.
	BusyTimeout time.Duration
}

// Store is the hub database. It is safe for concurrent use.
type Store struct {
	db  *sql.DB
	log *slog.Logger

	mu    sync.Mutex
	stmts map[string]*sql.Stmt // prepared on first use, by query text
}

// Open opens (creating if needed) the database in dir and migrates it to
// the current schema.
func Open(ctx context.Context, dir string, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.BusyTimeout <= 0 {
		opts.BusyTimeout = 5 * time.Second
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", opts.BusyTimeout.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	// Statement journals of the per-message savepoints stay in memory
	// instead of temporary files: durability comes from the WAL, and
	// profiling the fleet benchmark showed these writes at ~10% of CPU.
	q.Add("_pragma", "temp_store(MEMORY)")
	q.Set("_txlock", "immediate")
	dsn := "file:" + filepath.ToSlash(filepath.Join(dir, FileName)) + "?" + q.Encode()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	db.SetMaxOpenConns(4)
	s := &Store{db: db, log: opts.Logger}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error {
	s.mu.Lock()
	for _, st := range s.stmts {
		st.Close()
	}
	s.stmts = nil
	s.mu.Unlock()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

// Ping reports whether the database answers a query.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("ping store: %w", err)
	}
	return nil
}

// migrations are applied in order; index i brings the schema to version i+1.
// Never edit a released entry: append a new one.
var migrations = []string{
	`CREATE TABLE gateways (
		id            TEXT PRIMARY KEY,
		agent_version TEXT NOT NULL DEFAULT '',
		online        INTEGER NOT NULL DEFAULT 0,
		first_seen    INTEGER NOT NULL,
		last_seen     INTEGER NOT NULL,
		config_hash   TEXT NOT NULL DEFAULT ''
	);
	CREATE TABLE machines (
		gateway    TEXT NOT NULL,
		id         TEXT NOT NULL,
		type       TEXT NOT NULL DEFAULT '',
		site       TEXT NOT NULL DEFAULT '',
		line       TEXT NOT NULL DEFAULT '',
		sensors    TEXT NOT NULL DEFAULT '[]',
		model      TEXT NOT NULL DEFAULT '',
		last_score REAL,
		threshold  REAL,
		last_seen  INTEGER NOT NULL DEFAULT 0,
		PRIMARY KEY (gateway, id)
	);
	CREATE TABLE metric_points (
		gateway    TEXT NOT NULL,
		machine    TEXT NOT NULL,
		model      TEXT NOT NULL,
		role       TEXT NOT NULL,
		time       INTEGER NOT NULL,
		interval_ns INTEGER NOT NULL,
		count      INTEGER NOT NULL,
		score_mean REAL NOT NULL,
		score_max  REAL NOT NULL,
		score_last REAL NOT NULL,
		alerts     INTEGER NOT NULL,
		samples    INTEGER NOT NULL,
		latency_ns INTEGER NOT NULL,
		threshold  REAL NOT NULL
	);
	CREATE INDEX metric_points_machine_time ON metric_points (gateway, machine, time);
	CREATE INDEX metric_points_time ON metric_points (time);
	CREATE TABLE alerts (
		id           TEXT PRIMARY KEY,
		gateway      TEXT NOT NULL,
		machine      TEXT NOT NULL,
		model        TEXT NOT NULL,
		severity     TEXT NOT NULL,
		score        REAL NOT NULL,
		threshold    REAL NOT NULL,
		start_time   INTEGER NOT NULL,
		received     INTEGER NOT NULL,
		status       TEXT NOT NULL DEFAULT 'open',
		status_time  INTEGER NOT NULL,
		contributors TEXT NOT NULL DEFAULT '[]',
		message      TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX alerts_status ON alerts (status, start_time);
	CREATE INDEX alerts_machine ON alerts (gateway, machine, status);
	CREATE TABLE snapshots (
		id       TEXT PRIMARY KEY,
		gateway  TEXT NOT NULL,
		machine  TEXT NOT NULL,
		model    TEXT NOT NULL,
		role     TEXT NOT NULL,
		parent   TEXT NOT NULL DEFAULT '',
		samples  INTEGER NOT NULL,
		size     INTEGER NOT NULL,
		received INTEGER NOT NULL,
		data     BLOB NOT NULL
	);
	CREATE INDEX snapshots_machine ON snapshots (gateway, machine, received);
	CREATE TABLE command_acks (
		gateway    TEXT NOT NULL,
		command_id TEXT NOT NULL,
		ok         INTEGER NOT NULL,
		reason     TEXT NOT NULL DEFAULT '',
		received   INTEGER NOT NULL,
		PRIMARY KEY (gateway, command_id)
	);
	CREATE TABLE seen (
		sender   TEXT NOT NULL,
		seq      INTEGER NOT NULL,
		received INTEGER NOT NULL,
		PRIMARY KEY (sender, seq)
	) WITHOUT ROWID;`,
	// 2: the registry (deployments, commands, feedback, audit, rollouts,
	// model kinds), paired decisions on metric points, snapshot provenance.
	`ALTER TABLE metric_points ADD COLUMN kind TEXT NOT NULL DEFAULT '';
	ALTER TABLE metric_points ADD COLUMN snapshot TEXT NOT NULL DEFAULT '';
	ALTER TABLE metric_points ADD COLUMN both_alarm INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE metric_points ADD COLUMN only_model INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE metric_points ADD COLUMN only_champion INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE metric_points ADD COLUMN hist BLOB;
	ALTER TABLE snapshots ADD COLUMN source TEXT NOT NULL DEFAULT 'agent';
	ALTER TABLE snapshots ADD COLUMN signature BLOB;
	CREATE INDEX snapshots_parent ON snapshots (parent);
	ALTER TABLE gateways ADD COLUMN born INTEGER NOT NULL DEFAULT 0;
	CREATE TABLE model_kinds (
		kind     TEXT PRIMARY KEY,
		settings TEXT NOT NULL DEFAULT '{}',
		updated  INTEGER NOT NULL,
		by       TEXT NOT NULL DEFAULT ''
	);
	CREATE TABLE deployments (
		id         TEXT PRIMARY KEY,
		gateway    TEXT NOT NULL,
		machine    TEXT NOT NULL,
		role       TEXT NOT NULL,
		name       TEXT NOT NULL,
		kind       TEXT NOT NULL,
		settings   TEXT NOT NULL DEFAULT '{}',
		snapshot   TEXT NOT NULL DEFAULT '',
		status     TEXT NOT NULL,
		since      INTEGER NOT NULL,
		updated    INTEGER NOT NULL,
		by         TEXT NOT NULL DEFAULT '',
		reason     TEXT NOT NULL DEFAULT '',
		command_id TEXT NOT NULL DEFAULT '',
		previous   TEXT NOT NULL DEFAULT '',
		rollout    TEXT NOT NULL DEFAULT '',
		promoted_from TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX deployments_asset ON deployments (gateway, machine, role, since);
	CREATE INDEX deployments_command ON deployments (command_id);
	CREATE TABLE commands (
		id         TEXT PRIMARY KEY,
		gateway    TEXT NOT NULL,
		machine    TEXT NOT NULL DEFAULT '',
		kind       TEXT NOT NULL,
		body       BLOB NOT NULL,
		status     TEXT NOT NULL,
		created    INTEGER NOT NULL,
		sent       INTEGER NOT NULL DEFAULT 0,
		attempts   INTEGER NOT NULL DEFAULT 0,
		answered   INTEGER NOT NULL DEFAULT 0,
		reason     TEXT NOT NULL DEFAULT '',
		deployment TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX commands_pending ON commands (status, gateway);
	CREATE TABLE feedback (
		id       INTEGER PRIMARY KEY AUTOINCREMENT,
		alert_id TEXT NOT NULL,
		label    TEXT NOT NULL,
		note     TEXT NOT NULL DEFAULT '',
		who      TEXT NOT NULL DEFAULT '',
		time     INTEGER NOT NULL
	);
	CREATE INDEX feedback_alert ON feedback (alert_id, id);
	CREATE TABLE audit (
		id      INTEGER PRIMARY KEY AUTOINCREMENT,
		time    INTEGER NOT NULL,
		actor   TEXT NOT NULL,
		action  TEXT NOT NULL,
		subject TEXT NOT NULL,
		before  TEXT NOT NULL DEFAULT '',
		after   TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX audit_subject ON audit (subject, id);
	CREATE TABLE rollouts (
		id      TEXT PRIMARY KEY,
		status  TEXT NOT NULL,
		created INTEGER NOT NULL,
		updated INTEGER NOT NULL,
		state   TEXT NOT NULL
	);
	CREATE INDEX rollouts_status ON rollouts (status);
	CREATE INDEX metric_points_alarms ON metric_points (gateway, machine, time) WHERE alerts > 0;
	CREATE TABLE metric_rollup (
		gateway       TEXT NOT NULL,
		machine       TEXT NOT NULL,
		bucket        INTEGER NOT NULL,
		model         TEXT NOT NULL,
		role          TEXT NOT NULL,
		kind          TEXT NOT NULL DEFAULT '',
		points        INTEGER NOT NULL,
		alarm_points  INTEGER NOT NULL,
		count         INTEGER NOT NULL,
		alerts        INTEGER NOT NULL,
		both_alarm    INTEGER NOT NULL,
		only_model    INTEGER NOT NULL,
		only_champion INTEGER NOT NULL,
		PRIMARY KEY (gateway, machine, bucket, model, role)
	) WITHOUT ROWID;
	INSERT INTO metric_rollup SELECT gateway, machine, time / 300000000000, model, role, max(kind), count(*),
		sum(alerts > 0), sum(count), sum(alerts), sum(both_alarm), sum(only_model), sum(only_champion)
		FROM metric_points GROUP BY gateway, machine, time / 300000000000, model, role;`,
	// 3: the challengers and twins seen in metrics, so fleet comparisons
	// visit only the assets that have something to compare.
	`CREATE TABLE model_instances (
		gateway TEXT NOT NULL,
		machine TEXT NOT NULL,
		model   TEXT NOT NULL,
		role    TEXT NOT NULL,
		kind    TEXT NOT NULL DEFAULT '',
		first   INTEGER NOT NULL,
		last    INTEGER NOT NULL,
		PRIMARY KEY (gateway, machine, model, role)
	) WITHOUT ROWID;
	CREATE INDEX model_instances_last ON model_instances (last);
	INSERT INTO model_instances SELECT gateway, machine, model, role, max(kind), min(time), max(time)
		FROM metric_points WHERE role != 'champion' GROUP BY gateway, machine, model, role;`,
	// 4: drift events reported by agents, with their evidence.
	`CREATE TABLE drift_events (
		gateway  TEXT NOT NULL,
		seq      INTEGER NOT NULL,
		machine  TEXT NOT NULL,
		model    TEXT NOT NULL,
		role     TEXT NOT NULL,
		detector TEXT NOT NULL,
		signal   TEXT NOT NULL,
		before   REAL NOT NULL,
		after    REAL NOT NULL,
		samples  INTEGER NOT NULL,
		time     INTEGER NOT NULL,
		received INTEGER NOT NULL,
		PRIMARY KEY (gateway, seq, machine, signal)
	) WITHOUT ROWID;
	CREATE INDEX drift_events_machine ON drift_events (gateway, machine, time);`,
	// 5: hub login: users, their sessions and API tokens (secrets stored
	// only as hashes; see hub/auth).
	`CREATE TABLE users (
		name     TEXT PRIMARY KEY,
		role     TEXT NOT NULL,
		password TEXT NOT NULL,
		created  INTEGER NOT NULL,
		updated  INTEGER NOT NULL,
		by       TEXT NOT NULL DEFAULT ''
	);
	CREATE TABLE sessions (
		id_hash   BLOB PRIMARY KEY,
		user      TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
		created   INTEGER NOT NULL,
		last_seen INTEGER NOT NULL,
		expires   INTEGER NOT NULL,
		remote    TEXT NOT NULL DEFAULT ''
	) WITHOUT ROWID;
	CREATE INDEX sessions_user ON sessions (user);
	CREATE INDEX sessions_expires ON sessions (expires);
	CREATE TABLE api_tokens (
		id         TEXT PRIMARY KEY,
		name       TEXT NOT NULL,
		role       TEXT NOT NULL,
		hash       BLOB NOT NULL UNIQUE,
		created    INTEGER NOT NULL,
		created_by TEXT NOT NULL DEFAULT '',
		expires    INTEGER NOT NULL DEFAULT 0,
		last_used  INTEGER NOT NULL DEFAULT 0,
		revoked    INTEGER NOT NULL DEFAULT 0
	);`,
	// v6: where an agent snapshot came from: the id of the agent key that
	// verifiably signed it, or '' when unsigned or unverified (hub/ingest).
	`ALTER TABLE snapshots ADD COLUMN signed_by TEXT NOT NULL DEFAULT '';`,
}

// SchemaVersion is the schema version this package migrates to.
func SchemaVersion() int { return len(migrations) }

func (s *Store) migrate(ctx context.Context) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: begin: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: schema_version table: %w", err)
	}
	var v int
	err = tx.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (0)`); err != nil {
			return fmt.Errorf("migrate: init version: %w", err)
		}
	case err != nil:
		return fmt.Errorf("migrate: read version: %w", err)
	}
	if v > len(migrations) {
		return fmt.Errorf("migrate: database schema version %d is newer than this hub (%d)", v, len(migrations))
	}
	for i := v; i < len(migrations); i++ {
		if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
			return fmt.Errorf("migrate to version %d: %w", i+1, err)
		}
		s.log.Info("store migrated", "version", i+1)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE schema_version SET version = ?`, len(migrations)); err != nil {
		return fmt.Errorf("migrate: write version: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: commit: %w", err)
	}
	return nil
}

// Version returns the schema version recorded in the database.
func (s *Store) Version(ctx context.Context) (int, error) {
	var v int
	if err := s.db.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}

// RollupKeep is how long the 5-minute metric rollups that A/B verdicts
// read are kept; they are small (288 rows a day per model and machine).
const RollupKeep = 180 * 24 * time.Hour

// DeleteMetricsBefore deletes metric points older than t (and rollups
// older than RollupKeep before now) and returns how many points.
func (s *Store) DeleteMetricsBefore(ctx context.Context, t time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM metric_points WHERE time < ?`, t.UnixNano())
	if err != nil {
		return 0, fmt.Errorf("delete old metric points: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM metric_rollup WHERE bucket < ?`,
		time.Now().Add(-RollupKeep).UnixNano()/int64(RollupBucket)); err != nil {
		return 0, fmt.Errorf("delete old metric rollups: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// RunRetention deletes metric points older than keep every interval until
// ctx is done.
func (s *Store) RunRetention(ctx context.Context, keep, every time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if n, err := s.DeleteMetricsBefore(ctx, time.Now().Add(-keep)); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			s.log.Warn("retention", "err", err)
		} else if n > 0 {
			s.log.Info("retention deleted metric points", "count", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
