package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"millwright/wire"
)

// Deployment says which model runs in which role on which asset, since
// when, by whose decision and why, and whether the agent confirmed it.
type Deployment struct {
	ID        string             `json:"id"`
	Gateway   string             `json:"gateway"`
	Machine   string             `json:"machine"`
	Role      string             `json:"role"`
	Name      string             `json:"name"` // model instance name on the machine
	Kind      string             `json:"kind"`
	Settings  map[string]float64 `json:"settings,omitempty"`
	Snapshot  string             `json:"snapshot,omitempty"`
	Status    string             `json:"status"`
	Since     time.Time          `json:"since"`
	Updated   time.Time          `json:"updated"`
	By        string             `json:"by,omitempty"`
	Reason    string             `json:"reason,omitempty"`
	CommandID string             `json:"command_id,omitempty"`
	Previous  string             `json:"previous,omitempty"` // deployment this one replaced in its slot
	Rollout   string             `json:"rollout,omitempty"`
	// PromotedFrom is the challenger or twin deployment this champion was
	// promoted from; Deploy ends it (replaced).
	PromotedFrom string `json:"promoted_from,omitempty"`
}

// Active reports whether the deployment is pending or acked.
func (d Deployment) Active() bool { return d.Status == DeployPending || d.Status == DeployAcked }

const deploymentCols = `id, gateway, machine, role, name, kind, settings, snapshot, status, since, updated, by, reason, command_id, previous, rollout, promoted_from`

type scanner interface{ Scan(dest ...any) error }

func scanDeployment(r scanner) (Deployment, error) {
	var d Deployment
	var settings string
	var since, upd int64
	if err := r.Scan(&d.ID, &d.Gateway, &d.Machine, &d.Role, &d.Name, &d.Kind, &settings, &d.Snapshot, &d.Status,
		&since, &upd, &d.By, &d.Reason, &d.CommandID, &d.Previous, &d.Rollout, &d.PromotedFrom); err != nil {
		return d, err
	}
	if settings != "" && settings != "{}" {
		_ = json.Unmarshal([]byte(settings), &d.Settings)
	}
	d.Since, d.Updated = time.Unix(0, since).UTC(), time.Unix(0, upd).UTC()
	return d, nil
}

// DeploymentFilter selects deployments. Zero fields match everything.
type DeploymentFilter struct {
	Gateway, Machine, Role, Rollout string
	ActiveOnly                      bool
	Limit                           int // default 500
}

// Deployments lists deployments matching f, newest first.
func (s *Store) Deployments(ctx context.Context, f DeploymentFilter) ([]Deployment, error) {
	if f.Limit <= 0 {
		f.Limit = 500
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+deploymentCols+` FROM deployments
		WHERE (?1 = '' OR gateway = ?1) AND (?2 = '' OR machine = ?2) AND (?3 = '' OR role = ?3) AND (?4 = '' OR rollout = ?4)
		AND (?5 = 0 OR status IN ('pending', 'acked')) ORDER BY since DESC, rowid DESC LIMIT ?6`,
		f.Gateway, f.Machine, f.Role, f.Rollout, f.ActiveOnly, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("list deployments: %w", err)
	}
	defer rows.Close()
	out := []Deployment{}
	for rows.Next() {
		d, err := scanDeployment(rows)
		if err != nil {
			return nil, fmt.Errorf("list deployments: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// Deployment returns one deployment.
func (s *Store) Deployment(ctx context.Context, id string) (Deployment, error) {
	d, err := scanDeployment(s.db.QueryRowContext(ctx, `SELECT `+deploymentCols+` FROM deployments WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return d, fmt.Errorf("deployment %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return d, fmt.Errorf("read deployment: %w", err)
	}
	return d, nil
}

// activeInSlot finds the active deployment a new one replaces: the
// champion of the asset, or the challenger of the same name.
func activeInSlot(ctx context.Context, tx *sql.Tx, d *Deployment) (Deployment, bool, error) {
	name := d.Name
	if d.Role == wire.RoleChampion {
		name = ""
	}
	prev, err := scanDeployment(tx.QueryRowContext(ctx, `SELECT `+deploymentCols+` FROM deployments
		WHERE gateway = ? AND machine = ? AND role = ? AND (? = '' OR name = ?) AND status IN ('pending', 'acked')
		ORDER BY since DESC, rowid DESC LIMIT 1`, d.Gateway, d.Machine, d.Role, name, name))
	if errors.Is(err, sql.ErrNoRows) {
		return prev, false, nil
	}
	return prev, err == nil, err
}

func insertDeployment(ctx context.Context, exec execFunc, d *Deployment) error {
	settings := "{}"
	if len(d.Settings) > 0 {
		b, err := json.Marshal(d.Settings)
		if err != nil {
			return fmt.Errorf("encode settings: %w", err)
		}
		settings = string(b)
	}
	_, err := exec(ctx, `INSERT INTO deployments (`+deploymentCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		d.ID, d.Gateway, d.Machine, d.Role, d.Name, d.Kind, settings, d.Snapshot, d.Status, d.Since.UnixNano(),
		d.Updated.UnixNano(), d.By, d.Reason, d.CommandID, d.Previous, d.Rollout, d.PromotedFrom)
	if err != nil {
		return fmt.Errorf("insert deployment: %w", err)
	}
	return nil
}

func setDeploymentStatus(ctx context.Context, exec execFunc, id, status string, now int64) error {
	if _, err := exec(ctx, `UPDATE deployments SET status = ?, updated = ? WHERE id = ?`, status, now, id); err != nil {
		return fmt.Errorf("update deployment %s: %w", id, err)
	}
	return nil
}

func insertCommand(ctx context.Context, exec execFunc, c *wire.Command, gw, deployment string, now int64) error {
	body, err := wire.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode command: %w", err)
	}
	if _, err := exec(ctx, `INSERT INTO commands (id, gateway, machine, kind, body, status, created, deployment)
		VALUES (?, ?, ?, ?, ?, 'queued', ?, ?)`, c.ID, gw, c.Machine, c.Kind, body, now, deployment); err != nil {
		return fmt.Errorf("queue command: %w", err)
	}
	return nil
}

// Deploy records d as pending, queues cmd (its ID becomes d.CommandID) for
// d's gateway, marks the deployment it replaces in its slot (the asset's
// champion, or the challenger of the same name) as replaced, and audits the
// change, all in one transaction. d.ID, Status, Since and Updated are set here.
func (s *Store) Deploy(ctx context.Context, d Deployment, cmd *wire.Command, now time.Time) (Deployment, error) {
	if d.ID == "" {
		d.ID = NewID("dep-")
	}
	if cmd.ID == "" {
		cmd.ID = NewID("cmd-")
	}
	d.CommandID, d.Status, d.Since, d.Updated = cmd.ID, DeployPending, now.UTC(), now.UTC()
	n := now.UnixNano()
	err := s.write(ctx, "deploy", func(tx *sql.Tx) error {
		prev, ok, err := activeInSlot(ctx, tx, &d)
		if err != nil {
			return err
		}
		var before any
		if ok {
			d.Previous = prev.ID
			before = prev
			if err := setDeploymentStatus(ctx, tx.ExecContext, prev.ID, DeployReplaced, n); err != nil {
				return err
			}
		}
		if d.PromotedFrom != "" {
			if _, err := tx.ExecContext(ctx, `UPDATE deployments SET status = 'replaced', updated = ? WHERE id = ? AND status IN ('pending', 'acked')`,
				n, d.PromotedFrom); err != nil {
				return fmt.Errorf("end promoted deployment: %w", err)
			}
		}
		if err := insertDeployment(ctx, tx.ExecContext, &d); err != nil {
			return err
		}
		if err := insertCommand(ctx, tx.ExecContext, cmd, d.Gateway, d.ID, n); err != nil {
			return err
		}
		return audit(ctx, tx.ExecContext, n, Change{Actor: d.By, Action: "deploy." + d.Role,
			Subject: "asset/" + d.Gateway + "/" + d.Machine, Before: before, After: d})
	})
	return d, err
}

// Rollback ends the active deployment id (status rolled-back) and puts the
// deployment it replaced back in its slot as a new pending deployment whose
// command is cmd (kind rollback). When id's own command was never sent it
// is cancelled instead, nothing is queued, the restored deployment is acked
// at once and cmd.ID is cleared. by and reason are audited. A deployment
// with nothing before it is ErrConflict; one that is not active too.
func (s *Store) Rollback(ctx context.Context, id string, cmd *wire.Command, by, reason string, now time.Time) (Deployment, error) {
	if cmd.ID == "" {
		cmd.ID = NewID("cmd-")
	}
	n := now.UnixNano()
	var back Deployment
	err := s.write(ctx, "rollback", func(tx *sql.Tx) error {
		cur, err := scanDeployment(tx.QueryRowContext(ctx, `SELECT `+deploymentCols+` FROM deployments WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("deployment %q: %w", id, ErrNotFound)
		} else if err != nil {
			return err
		}
		if !cur.Active() {
			return fmt.Errorf("deployment %s is %s, not active: %w", id, cur.Status, ErrConflict)
		}
		if cur.Previous == "" {
			return fmt.Errorf("deployment %s has no previous deployment to roll back to: %w", id, ErrConflict)
		}
		prev, err := scanDeployment(tx.QueryRowContext(ctx, `SELECT `+deploymentCols+` FROM deployments WHERE id = ?`, cur.Previous))
		if err != nil {
			return fmt.Errorf("read previous deployment: %w", err)
		}
		if err := setDeploymentStatus(ctx, tx.ExecContext, cur.ID, DeployRolledBack, n); err != nil {
			return err
		}
		// A deploy still queued (its gateway never got it) is cancelled:
		// the agent still runs the previous model, so nothing is sent.
		res, err := tx.ExecContext(ctx, `UPDATE commands SET status = 'cancelled', answered = ? WHERE id = ? AND status = 'queued'`, n, cur.CommandID)
		if err != nil {
			return fmt.Errorf("cancel queued command: %w", err)
		}
		cancelled, _ := res.RowsAffected()
		back = prev
		back.ID, back.Status, back.Since, back.Updated = NewID("dep-"), DeployPending, now.UTC(), now.UTC()
		// The restored deployment keeps its own predecessor, so it can be rolled back in turn.
		back.By, back.Reason, back.CommandID, back.Previous, back.Rollout = by, reason, cmd.ID, prev.Previous, cur.Rollout
		if cancelled > 0 {
			back.Status, back.CommandID = DeployAcked, ""
			cmd.ID = ""
		}
		if err := insertDeployment(ctx, tx.ExecContext, &back); err != nil {
			return err
		}
		if cancelled == 0 {
			if err := insertCommand(ctx, tx.ExecContext, cmd, back.Gateway, back.ID, n); err != nil {
				return err
			}
		}
		cur.Status = DeployRolledBack
		return audit(ctx, tx.ExecContext, n, Change{Actor: by, Action: "rollback." + cur.Role,
			Subject: "asset/" + cur.Gateway + "/" + cur.Machine, Before: cur, After: back})
	})
	return back, err
}

// Remove ends an active challenger deployment (status removed) and queues
// cmd (kind remove) for its gateway.
func (s *Store) Remove(ctx context.Context, id string, cmd *wire.Command, by, reason string, now time.Time) (Deployment, error) {
	if cmd.ID == "" {
		cmd.ID = NewID("cmd-")
	}
	n := now.UnixNano()
	var cur Deployment
	err := s.write(ctx, "remove", func(tx *sql.Tx) error {
		var err error
		cur, err = scanDeployment(tx.QueryRowContext(ctx, `SELECT `+deploymentCols+` FROM deployments WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("deployment %q: %w", id, ErrNotFound)
		} else if err != nil {
			return err
		}
		if !cur.Active() || cur.Role == wire.RoleChampion {
			return fmt.Errorf("deployment %s (%s, %s) cannot be removed: %w", id, cur.Role, cur.Status, ErrConflict)
		}
		before := cur
		if err := setDeploymentStatus(ctx, tx.ExecContext, cur.ID, DeployRemoved, n); err != nil {
			return err
		}
		cur.Status, cur.Updated = DeployRemoved, now.UTC()
		if err := insertCommand(ctx, tx.ExecContext, cmd, cur.Gateway, cur.ID, n); err != nil {
			return err
		}
		return audit(ctx, tx.ExecContext, n, Change{Actor: by, Action: "remove." + cur.Role,
			Subject: "asset/" + cur.Gateway + "/" + cur.Machine, Before: before, After: map[string]string{"status": DeployRemoved, "reason": reason}})
	})
	return cur, err
}

const commandCols = `id, gateway, machine, kind, body, status, created, sent, attempts, answered, reason, deployment`

func scanCommand(r scanner) (Command, error) {
	var c Command
	var body []byte
	var created, sent, answered int64
	if err := r.Scan(&c.ID, &c.Gateway, &c.Machine, &c.Kind, &body, &c.Status, &created, &sent, &c.Attempts,
		&answered, &c.Reason, &c.Deployment); err != nil {
		return c, err
	}
	if err := wire.Unmarshal(body, &c.Body); err != nil {
		return c, fmt.Errorf("decode stored command %s: %w", c.ID, err)
	}
	c.Created = time.Unix(0, created).UTC()
	if sent > 0 {
		t := time.Unix(0, sent).UTC()
		c.Sent = &t
	}
	if answered > 0 {
		t := time.Unix(0, answered).UTC()
		c.Answered = &t
	}
	return c, nil
}

// CommandFilter selects commands. Zero fields match everything.
type CommandFilter struct {
	Gateway, Status string
	Limit           int // default 500
}

// Commands lists commands matching f, newest first.
func (s *Store) Commands(ctx context.Context, f CommandFilter) ([]Command, error) {
	if f.Limit <= 0 {
		f.Limit = 500
	}
	return s.commands(ctx, `SELECT `+commandCols+` FROM commands WHERE (?1 = '' OR gateway = ?1) AND (?2 = '' OR status = ?2)
		ORDER BY created DESC, rowid DESC LIMIT ?3`, f.Gateway, f.Status, f.Limit)
}

func (s *Store) commands(ctx context.Context, q string, args ...any) ([]Command, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list commands: %w", err)
	}
	defer rows.Close()
	out := []Command{}
	for rows.Next() {
		c, err := scanCommand(rows)
		if err != nil {
			return nil, fmt.Errorf("list commands: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// DueCommands returns the unanswered commands to (re)send now, oldest
// first: those of online gateways that were never sent, were sent before
// the gateway's latest birth (the agent may have restarted without them),
// or were sent longer than resendAfter ago.
func (s *Store) DueCommands(ctx context.Context, now time.Time, resendAfter time.Duration) ([]Command, error) {
	return s.commands(ctx, `SELECT `+commandColsQ+` FROM commands c JOIN gateways g ON g.id = c.gateway
		WHERE c.status IN ('queued', 'sent') AND g.online = 1 AND (c.sent = 0 OR c.sent < g.born OR c.sent < ?)
		ORDER BY c.created, c.rowid`, now.Add(-resendAfter).UnixNano())
}

const commandColsQ = `c.id, c.gateway, c.machine, c.kind, c.body, c.status, c.created, c.sent, c.attempts, c.answered, c.reason, c.deployment`

// MarkSent records that command id was published at now.
func (s *Store) MarkSent(ctx context.Context, id string, now time.Time) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE commands SET status = CASE WHEN status = 'queued' THEN 'sent' ELSE status END,
		sent = ?, attempts = attempts + 1 WHERE id = ?`, now.UnixNano(), id); err != nil {
		return fmt.Errorf("mark command sent: %w", err)
	}
	return nil
}

// answerCommand applies an agent's answer inside an ingest: the command's
// status, its deployment's status (a refused deploy fails; a refused
// rollback or remove leaves the deployment as it is and is audited), and
// an audit entry.
func answerCommand(ctx context.Context, t *Tx, gw, actor string, c *wire.CommandAck, now int64) error {
	status := CmdAcked
	if !c.OK {
		status = CmdFailed
	}
	var dep, kind, cur string
	err := t.tx.QueryRowContext(ctx, `SELECT deployment, kind, status FROM commands WHERE id = ? AND gateway = ?`, c.CommandID, gw).Scan(&dep, &kind, &cur)
	if errors.Is(err, sql.ErrNoRows) {
		return nil // not ours (or from before the registry): stored in command_acks only
	}
	if err != nil {
		return fmt.Errorf("read command: %w", err)
	}
	if cur == CmdAcked || cur == CmdFailed {
		return nil // answered already
	}
	if _, err := t.exec(ctx, `UPDATE commands SET status = ?, answered = ?, reason = ? WHERE id = ?`, status, now, c.Reason, c.CommandID); err != nil {
		return fmt.Errorf("update command: %w", err)
	}
	if dep != "" && kind != wire.CmdRemove {
		depStatus := DeployAcked
		if !c.OK {
			depStatus = DeployFailed
		}
		if _, err := t.exec(ctx, `UPDATE deployments SET status = ?, updated = ? WHERE id = ? AND status = 'pending'`, depStatus, now, dep); err != nil {
			return fmt.Errorf("update deployment: %w", err)
		}
		if !c.OK {
			// The agent kept what it ran: the deployments this one replaced are active again.
			if _, err := t.exec(ctx, `UPDATE deployments SET status = 'acked', updated = ?1 WHERE status = 'replaced' AND id IN
				(SELECT previous FROM deployments WHERE id = ?2 UNION SELECT promoted_from FROM deployments WHERE id = ?2)`, now, dep); err != nil {
				return fmt.Errorf("restore replaced deployment: %w", err)
			}
		}
	}
	return audit(ctx, t.exec, now, Change{Actor: actor, Action: "command." + status, Subject: "command/" + c.CommandID,
		Before: map[string]string{"status": cur}, After: map[string]any{"status": status, "reason": c.Reason, "deployment": dep}})
}

// registerBirthChampion records the champion a birth reports for a machine
// as an acked deployment by the agent when the registry knows none, so the
// first promotion has something to roll back to.
func registerBirthChampion(ctx context.Context, t *Tx, gw string, m *wire.MachineInfo, now int64) error {
	if m.Model == "" {
		return nil
	}
	var n int
	if err := t.tx.QueryRowContext(ctx, `SELECT count(*) FROM deployments WHERE gateway = ? AND machine = ? AND role = 'champion'
		AND status IN ('pending', 'acked')`, gw, m.ID).Scan(&n); err != nil {
		return fmt.Errorf("find champion: %w", err)
	}
	if n > 0 {
		return nil
	}
	at := time.Unix(0, now).UTC()
	d := Deployment{ID: NewID("dep-"), Gateway: gw, Machine: m.ID, Role: wire.RoleChampion, Name: m.Model, Kind: m.Model,
		Status: DeployAcked, Since: at, Updated: at, By: "agent/" + gw, Reason: "reported in birth"}
	if err := insertDeployment(ctx, t.exec, &d); err != nil {
		return err
	}
	if _, err := t.exec(ctx, `INSERT INTO model_kinds (kind, updated, by) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`, m.Model, now, d.By); err != nil {
		return fmt.Errorf("register model kind: %w", err)
	}
	return audit(ctx, t.exec, now, Change{Actor: d.By, Action: "register.champion", Subject: "asset/" + gw + "/" + m.ID, After: d})
}

// GiveUp fails an unanswered command (queued or sent) as if its agent had
// refused it with reason, e.g. after too many attempts: its deployment
// fails and what that replaced is active again. The actor is the hub.
func (s *Store) GiveUp(ctx context.Context, id, reason string, now time.Time) error {
	t, err := s.Begin(ctx)
	if err != nil {
		return err
	}
	defer t.Rollback()
	var gw string
	if err := t.tx.QueryRowContext(ctx, `SELECT gateway FROM commands WHERE id = ?`, id).Scan(&gw); errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("command %q: %w", id, ErrNotFound)
	} else if err != nil {
		return fmt.Errorf("give up command: %w", err)
	}
	if err := answerCommand(ctx, t, gw, "hub", &wire.CommandAck{CommandID: id, Reason: reason}, now.UnixNano()); err != nil {
		return fmt.Errorf("give up command: %w", err)
	}
	return t.Commit()
}
