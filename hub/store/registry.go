package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"millwright/wire"
)

// Deployment statuses. A deployment is active while pending or acked.
const (
	DeployPending    = "pending"     // command queued or sent, no answer yet
	DeployAcked      = "acked"       // the agent runs it
	DeployFailed     = "failed"      // the agent refused it
	DeployRolledBack = "rolled-back" // replaced by the previous champion after a rollback
	DeployReplaced   = "replaced"    // superseded by a newer deployment in the same slot
	DeployRemoved    = "removed"     // challenger removed
)

// Command statuses.
const (
	CmdQueued = "queued" // waiting for its gateway
	CmdSent   = "sent"   // published, no answer yet
	CmdAcked  = "acked"
	CmdFailed = "failed"
	// CmdCancelled: rolled back before its gateway ever got it.
	CmdCancelled = "cancelled"
)

// ErrConflict is returned when a change does not apply to the current state
// (e.g. rolling back a deployment that is not active).
var ErrConflict = errors.New("conflict")

// NewID returns a random id with the given prefix, e.g. "dep-3f2a…".
func NewID(prefix string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// Change describes one audited change: who did what to which subject, and
// the subject before and after (any JSON-encodable value, nil for none).
type Change struct {
	Actor   string
	Action  string
	Subject string
	Before  any
	After   any
}

// AuditEntry is one row of the append-only audit log.
type AuditEntry struct {
	ID      int64           `json:"id"`
	Time    time.Time       `json:"time"`
	Actor   string          `json:"actor"`
	Action  string          `json:"action"`
	Subject string          `json:"subject"`
	Before  json.RawMessage `json:"before,omitempty"`
	After   json.RawMessage `json:"after,omitempty"`
}

type execFunc func(ctx context.Context, query string, args ...any) (sql.Result, error)

func jsonOrEmpty(v any) (string, error) {
	if v == nil {
		return "", nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// audit appends ch to the audit log through exec (inside the change's transaction).
func audit(ctx context.Context, exec execFunc, now int64, ch Change) error {
	before, err := jsonOrEmpty(ch.Before)
	if err != nil {
		return fmt.Errorf("audit: encode before: %w", err)
	}
	after, err := jsonOrEmpty(ch.After)
	if err != nil {
		return fmt.Errorf("audit: encode after: %w", err)
	}
	actor := ch.Actor
	if actor == "" {
		actor = "unknown"
	}
	if _, err := exec(ctx, `INSERT INTO audit (time, actor, action, subject, before, after) VALUES (?, ?, ?, ?, ?, ?)`,
		now, actor, ch.Action, ch.Subject, before, after); err != nil {
		return fmt.Errorf("audit: insert: %w", err)
	}
	return nil
}

// write runs f in one transaction.
func (s *Store) write(ctx context.Context, what string, f func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: begin: %w", what, err)
	}
	defer tx.Rollback()
	if err := f(tx); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: commit: %w", what, err)
	}
	return nil
}

// Record appends a change that touches nothing else in the store (e.g. a
// rollout stage decision) to the audit log.
func (s *Store) Record(ctx context.Context, ch Change, now time.Time) error {
	return s.write(ctx, "audit", func(tx *sql.Tx) error { return audit(ctx, tx.ExecContext, now.UnixNano(), ch) })
}

// AuditFilter selects audit entries. Zero fields match everything.
type AuditFilter struct {
	Subject string // exact subject, or a prefix ending in '*'
	Action  string
	Before  int64 // entries with an id below this (paging); 0 = newest
	Limit   int   // default 100
}

// Audit lists audit entries matching f, newest first.
func (s *Store) Audit(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	subj, like := f.Subject, ""
	if n := len(subj); n > 0 && subj[n-1] == '*' {
		subj, like = "", subj[:n-1]+"%"
	}
	before := f.Before
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, time, actor, action, subject, before, after FROM audit
		WHERE id < ?1 AND (?2 = '' OR subject = ?2) AND (?3 = '' OR subject LIKE ?3) AND (?4 = '' OR action = ?4)
		ORDER BY id DESC LIMIT ?5`, before, subj, like, f.Action, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	defer rows.Close()
	out := []AuditEntry{}
	for rows.Next() {
		var e AuditEntry
		var t int64
		var b, a string
		if err := rows.Scan(&e.ID, &t, &e.Actor, &e.Action, &e.Subject, &b, &a); err != nil {
			return nil, fmt.Errorf("list audit: %w", err)
		}
		e.Time = time.Unix(0, t).UTC()
		if b != "" {
			e.Before = json.RawMessage(b)
		}
		if a != "" {
			e.After = json.RawMessage(a)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	return out, nil
}

// ModelKind is a registered model algorithm with its default settings.
type ModelKind struct {
	Kind     string             `json:"kind"`
	Settings map[string]float64 `json:"settings"`
	Updated  time.Time          `json:"updated"`
	By       string             `json:"by,omitempty"`
}

// PutModelKind registers kind (or replaces its default settings).
func (s *Store) PutModelKind(ctx context.Context, k ModelKind, now time.Time) error {
	if k.Settings == nil {
		k.Settings = map[string]float64{}
	}
	js, err := json.Marshal(k.Settings)
	if err != nil {
		return fmt.Errorf("encode settings: %w", err)
	}
	k.Updated = now.UTC()
	return s.write(ctx, "put model kind", func(tx *sql.Tx) error {
		var before *ModelKind
		if old, err := modelKind(ctx, tx, k.Kind); err == nil {
			before = &old
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO model_kinds (kind, settings, updated, by) VALUES (?, ?, ?, ?)
			ON CONFLICT (kind) DO UPDATE SET settings = excluded.settings, updated = excluded.updated, by = excluded.by`,
			k.Kind, string(js), now.UnixNano(), k.By); err != nil {
			return err
		}
		return audit(ctx, tx.ExecContext, now.UnixNano(), Change{Actor: k.By, Action: "model.put", Subject: "model/" + k.Kind, Before: before, After: k})
	})
}

func modelKind(ctx context.Context, tx *sql.Tx, kind string) (ModelKind, error) {
	var k ModelKind
	var js string
	var upd int64
	err := tx.QueryRowContext(ctx, `SELECT kind, settings, updated, by FROM model_kinds WHERE kind = ?`, kind).Scan(&k.Kind, &js, &upd, &k.By)
	if err != nil {
		return k, err
	}
	_ = json.Unmarshal([]byte(js), &k.Settings)
	k.Updated = time.Unix(0, upd).UTC()
	return k, nil
}

// ModelKinds lists the registered model kinds.
func (s *Store) ModelKinds(ctx context.Context) ([]ModelKind, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT kind, settings, updated, by FROM model_kinds ORDER BY kind`)
	if err != nil {
		return nil, fmt.Errorf("list model kinds: %w", err)
	}
	defer rows.Close()
	out := []ModelKind{}
	for rows.Next() {
		var k ModelKind
		var js string
		var upd int64
		if err := rows.Scan(&k.Kind, &js, &upd, &k.By); err != nil {
			return nil, fmt.Errorf("list model kinds: %w", err)
		}
		if err := json.Unmarshal([]byte(js), &k.Settings); err != nil || k.Settings == nil {
			k.Settings = map[string]float64{}
		}
		k.Updated = time.Unix(0, upd).UTC()
		out = append(out, k)
	}
	return out, rows.Err()
}

// Feedback labels of an alert.
const (
	LabelRealFault  = "real_fault"
	LabelFalseAlarm = "false_alarm"
	LabelUnsure     = "unsure"
)

// Feedback is a technician's verdict on an alert.
type Feedback struct {
	ID      int64     `json:"id"`
	AlertID string    `json:"alert_id"`
	Label   string    `json:"label"`
	Note    string    `json:"note,omitempty"`
	Who     string    `json:"who,omitempty"`
	Time    time.Time `json:"time"`
}

// ErrInvalid is returned for a change whose arguments are not acceptable.
var ErrInvalid = errors.New("invalid")

// AddFeedback records a technician's label on an alert. The latest
// feedback of an alert is the one that counts.
func (s *Store) AddFeedback(ctx context.Context, f Feedback, now time.Time) (Feedback, error) {
	switch f.Label {
	case LabelRealFault, LabelFalseAlarm, LabelUnsure:
	default:
		return Feedback{}, fmt.Errorf("label %q: want real_fault, false_alarm or unsure: %w", f.Label, ErrInvalid)
	}
	f.Time = now.UTC()
	err := s.write(ctx, "add feedback", func(tx *sql.Tx) error {
		var before *Feedback
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM alerts WHERE id = ?`, f.AlertID).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("alert %q: %w", f.AlertID, ErrNotFound)
		} else if err != nil {
			return err
		}
		var prev Feedback
		var pt int64
		if err := tx.QueryRowContext(ctx, `SELECT id, alert_id, label, note, who, time FROM feedback WHERE alert_id = ? ORDER BY id DESC LIMIT 1`,
			f.AlertID).Scan(&prev.ID, &prev.AlertID, &prev.Label, &prev.Note, &prev.Who, &pt); err == nil {
			prev.Time = time.Unix(0, pt).UTC()
			before = &prev
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO feedback (alert_id, label, note, who, time) VALUES (?, ?, ?, ?, ?)`,
			f.AlertID, f.Label, f.Note, f.Who, now.UnixNano())
		if err != nil {
			return err
		}
		f.ID, _ = res.LastInsertId()
		return audit(ctx, tx.ExecContext, now.UnixNano(), Change{Actor: f.Who, Action: "alert.feedback", Subject: "alert/" + f.AlertID, Before: before, After: f})
	})
	return f, err
}

// ResolveAlert marks an alert resolved (from any status) and audits it.
// Resolving a resolved alert changes nothing.
func (s *Store) ResolveAlert(ctx context.Context, id, who string, now time.Time) (Alert, error) {
	err := s.write(ctx, "resolve alert", func(tx *sql.Tx) error {
		var status string
		if err := tx.QueryRowContext(ctx, `SELECT status FROM alerts WHERE id = ?`, id).Scan(&status); errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("alert %q: %w", id, ErrNotFound)
		} else if err != nil {
			return err
		}
		if status == StatusResolved {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE alerts SET status = 'resolved', status_time = ? WHERE id = ?`, now.UnixNano(), id); err != nil {
			return err
		}
		return audit(ctx, tx.ExecContext, now.UnixNano(), Change{Actor: who, Action: "alert.resolve", Subject: "alert/" + id,
			Before: map[string]string{"status": status}, After: map[string]string{"status": StatusResolved}})
	})
	if err != nil {
		return Alert{}, err
	}
	return s.alert(ctx, id)
}

// LabeledAlert is an alert with its latest technician label.
type LabeledAlert struct {
	ID      string
	Machine string
	Start   time.Time
	End     time.Time // resolve time; zero while not resolved
	Label   string    // latest feedback label; "" without feedback
}

// LabeledAlerts returns the alerts of one machine that started in [from, to),
// oldest first, with their latest feedback.
func (s *Store) LabeledAlerts(ctx context.Context, gw, machine string, from, to time.Time) ([]LabeledAlert, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT a.id, a.machine, a.start_time, a.status, a.status_time,
		COALESCE((SELECT label FROM feedback f WHERE f.alert_id = a.id ORDER BY f.id DESC LIMIT 1), '')
		FROM alerts a WHERE a.gateway = ? AND a.machine = ? AND a.start_time >= ? AND a.start_time < ?
		ORDER BY a.start_time`, gw, machine, from.UnixNano(), to.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("labeled alerts: %w", err)
	}
	defer rows.Close()
	var out []LabeledAlert
	for rows.Next() {
		var a LabeledAlert
		var start, st int64
		var status string
		if err := rows.Scan(&a.ID, &a.Machine, &start, &status, &st, &a.Label); err != nil {
			return nil, fmt.Errorf("labeled alerts: %w", err)
		}
		a.Start = time.Unix(0, start).UTC()
		if status == StatusResolved {
			a.End = time.Unix(0, st).UTC()
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// Feedbacks lists the feedback given on an alert, oldest first.
func (s *Store) Feedbacks(ctx context.Context, alertID string) ([]Feedback, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, alert_id, label, note, who, time FROM feedback WHERE alert_id = ? ORDER BY id`, alertID)
	if err != nil {
		return nil, fmt.Errorf("list feedback: %w", err)
	}
	defer rows.Close()
	out := []Feedback{}
	for rows.Next() {
		var f Feedback
		var t int64
		if err := rows.Scan(&f.ID, &f.AlertID, &f.Label, &f.Note, &f.Who, &t); err != nil {
			return nil, fmt.Errorf("list feedback: %w", err)
		}
		f.Time = time.Unix(0, t).UTC()
		out = append(out, f)
	}
	return out, rows.Err()
}

// Command is a command to an agent as the hub keeps it until answered.
type Command struct {
	ID         string       `json:"id"`
	Gateway    string       `json:"gateway"`
	Machine    string       `json:"machine,omitempty"`
	Kind       string       `json:"kind"`
	Status     string       `json:"status"`
	Created    time.Time    `json:"created"`
	Sent       *time.Time   `json:"sent,omitempty"`
	Attempts   int          `json:"attempts"`
	Answered   *time.Time   `json:"answered,omitempty"`
	Reason     string       `json:"reason,omitempty"`
	Deployment string       `json:"deployment,omitempty"`
	Body       wire.Command `json:"-"`
}
