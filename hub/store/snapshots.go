package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Snapshot sources.
const (
	SourceAgent  = "agent"  // sent by an agent on its snapshots topic
	SourceUpload = "upload" // uploaded through the API (e.g. agent replay --snapshot-out)
)

const snapshotCols = `id, gateway, machine, model, role, parent, samples, size, received, source, signed_by`

func scanSnapshot(r scanner) (SnapshotInfo, error) {
	var i SnapshotInfo
	var recv int64
	err := r.Scan(&i.ID, &i.Gateway, &i.Machine, &i.Model, &i.Role, &i.Parent, &i.Samples, &i.Size, &recv, &i.Source, &i.SignedBy)
	i.Received = time.Unix(0, recv).UTC()
	return i, err
}

// PutSnapshot stores uploaded snapshot bytes under their content hash
// (info.ID is set here; Size and Received too) and audits the upload.
// Uploading bytes already stored returns the stored description.
func (s *Store) PutSnapshot(ctx context.Context, info SnapshotInfo, data []byte, by string, now time.Time) (SnapshotInfo, error) {
	if data == nil {
		data = []byte{}
	}
	info.ID, info.Size, info.Received, info.Source = SnapshotID(data), int64(len(data)), now.UTC(), SourceUpload
	err := s.write(ctx, "put snapshot", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO snapshots (id, gateway, machine, model, role, parent, samples, size, received, data, source)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
			info.ID, info.Gateway, info.Machine, info.Model, info.Role, info.Parent, info.Samples, info.Size, now.UnixNano(), data, SourceUpload)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			info, err = scanSnapshot(tx.QueryRowContext(ctx, `SELECT `+snapshotCols+` FROM snapshots WHERE id = ?`, info.ID))
			return err
		}
		return audit(ctx, tx.ExecContext, now.UnixNano(), Change{Actor: by, Action: "snapshot.upload", Subject: "snapshot/" + info.ID, After: info})
	})
	return info, err
}

// SnapshotFilter selects snapshots. Zero fields match everything.
type SnapshotFilter struct {
	Gateway, Machine, Model string
	Limit                   int // default 100
}

// Snapshots lists snapshot descriptions matching f, newest first.
func (s *Store) Snapshots(ctx context.Context, f SnapshotFilter) ([]SnapshotInfo, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+snapshotCols+` FROM snapshots
		WHERE (?1 = '' OR gateway = ?1) AND (?2 = '' OR machine = ?2) AND (?3 = '' OR model = ?3)
		ORDER BY received DESC, id LIMIT ?4`, f.Gateway, f.Machine, f.Model, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("list snapshots: %w", err)
	}
	defer rows.Close()
	out := []SnapshotInfo{}
	for rows.Next() {
		i, err := scanSnapshot(rows)
		if err != nil {
			return nil, fmt.Errorf("list snapshots: %w", err)
		}
		out = append(out, i)
	}
	return out, rows.Err()
}

// Lineage is a snapshot with the chain it descends from and what was
// learned from it.
type Lineage struct {
	Snapshot    SnapshotInfo   `json:"snapshot"`
	Ancestors   []SnapshotInfo `json:"ancestors"`   // parent first; stops at a parent not stored
	Descendants []SnapshotInfo `json:"descendants"` // breadth first
	// MissingParent is the first ancestor id named but not stored, if any.
	MissingParent string `json:"missing_parent,omitempty"`
}

// maxLineage bounds a lineage walk (and breaks a cycle of hashes, which
// only a forged parent field could make).
const maxLineage = 1000

// SnapshotLineage returns snapshot id's ancestors and descendants.
func (s *Store) SnapshotLineage(ctx context.Context, id string) (Lineage, error) {
	var l Lineage
	var err error
	l.Snapshot, err = scanSnapshot(s.db.QueryRowContext(ctx, `SELECT `+snapshotCols+` FROM snapshots WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return l, fmt.Errorf("snapshot %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return l, fmt.Errorf("read snapshot: %w", err)
	}
	l.Ancestors, l.Descendants = []SnapshotInfo{}, []SnapshotInfo{}
	seen := map[string]bool{id: true}
	for p := l.Snapshot.Parent; p != "" && !seen[p] && len(l.Ancestors) < maxLineage; {
		seen[p] = true
		a, err := scanSnapshot(s.db.QueryRowContext(ctx, `SELECT `+snapshotCols+` FROM snapshots WHERE id = ?`, p))
		if errors.Is(err, sql.ErrNoRows) {
			l.MissingParent = p
			break
		}
		if err != nil {
			return l, fmt.Errorf("read ancestor: %w", err)
		}
		l.Ancestors = append(l.Ancestors, a)
		p = a.Parent
	}
	queue := []string{id}
	for len(queue) > 0 && len(l.Descendants) < maxLineage {
		cur := queue[0]
		queue = queue[1:]
		rows, err := s.db.QueryContext(ctx, `SELECT `+snapshotCols+` FROM snapshots WHERE parent = ? ORDER BY received, id`, cur)
		if err != nil {
			return l, fmt.Errorf("read descendants: %w", err)
		}
		for rows.Next() {
			d, err := scanSnapshot(rows)
			if err != nil {
				rows.Close()
				return l, fmt.Errorf("read descendants: %w", err)
			}
			if !seen[d.ID] {
				seen[d.ID] = true
				l.Descendants = append(l.Descendants, d)
				queue = append(queue, d.ID)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return l, fmt.Errorf("read descendants: %w", err)
		}
	}
	return l, nil
}

// RolloutRecord is a rollout as stored: its state is owned and encoded by
// the rollout package.
type RolloutRecord struct {
	ID      string          `json:"id"`
	Status  string          `json:"status"`
	Created time.Time       `json:"created"`
	Updated time.Time       `json:"updated"`
	State   json.RawMessage `json:"state"`
}

// SaveRollout inserts or updates a rollout and, when ch is not nil,
// audits the change in the same transaction.
func (s *Store) SaveRollout(ctx context.Context, r RolloutRecord, ch *Change, now time.Time) error {
	n := now.UnixNano()
	return s.write(ctx, "save rollout", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO rollouts (id, status, created, updated, state) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET status = excluded.status, updated = excluded.updated, state = excluded.state`,
			r.ID, r.Status, n, n, string(r.State)); err != nil {
			return err
		}
		if ch == nil {
			return nil
		}
		return audit(ctx, tx.ExecContext, n, *ch)
	})
}

// Rollouts lists rollouts, newest first; status "" lists all.
func (s *Store) Rollouts(ctx context.Context, status string, limit int) ([]RolloutRecord, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, status, created, updated, state FROM rollouts
		WHERE (?1 = '' OR status = ?1) ORDER BY created DESC, id LIMIT ?2`, status, limit)
	if err != nil {
		return nil, fmt.Errorf("list rollouts: %w", err)
	}
	defer rows.Close()
	out := []RolloutRecord{}
	for rows.Next() {
		var r RolloutRecord
		var c, u int64
		var st string
		if err := rows.Scan(&r.ID, &r.Status, &c, &u, &st); err != nil {
			return nil, fmt.Errorf("list rollouts: %w", err)
		}
		r.Created, r.Updated, r.State = time.Unix(0, c).UTC(), time.Unix(0, u).UTC(), json.RawMessage(st)
		out = append(out, r)
	}
	return out, rows.Err()
}

// Site groups the assets of one site by line.
type Site struct {
	ID    string `json:"id"`
	Lines []Line `json:"lines"`
}

// Line is one production line and its assets.
type Line struct {
	ID     string     `json:"id"`
	Assets []AssetRef `json:"assets"`
}

// AssetRef names an asset and its machine type.
type AssetRef struct {
	Gateway string `json:"gateway"`
	Machine string `json:"machine"`
	Type    string `json:"type"`
}

// Sites returns the site → line → asset tree learned from births. Assets
// without a site are under site "", without a line under line "".
func (s *Store) Sites(ctx context.Context) ([]Site, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT site, line, gateway, id, type FROM machines ORDER BY site, line, gateway, id`)
	if err != nil {
		return nil, fmt.Errorf("list sites: %w", err)
	}
	defer rows.Close()
	out := []Site{}
	for rows.Next() {
		var site, line string
		var a AssetRef
		if err := rows.Scan(&site, &line, &a.Gateway, &a.Machine, &a.Type); err != nil {
			return nil, fmt.Errorf("list sites: %w", err)
		}
		if len(out) == 0 || out[len(out)-1].ID != site {
			out = append(out, Site{ID: site})
		}
		st := &out[len(out)-1]
		if len(st.Lines) == 0 || st.Lines[len(st.Lines)-1].ID != line {
			st.Lines = append(st.Lines, Line{ID: line})
		}
		ln := &st.Lines[len(st.Lines)-1]
		ln.Assets = append(ln.Assets, a)
	}
	return out, rows.Err()
}

// Rollout returns one rollout record.
func (s *Store) Rollout(ctx context.Context, id string) (RolloutRecord, error) {
	var r RolloutRecord
	var c, u int64
	var st string
	err := s.db.QueryRowContext(ctx, `SELECT id, status, created, updated, state FROM rollouts WHERE id = ?`, id).Scan(&r.ID, &r.Status, &c, &u, &st)
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("rollout %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("read rollout: %w", err)
	}
	r.Created, r.Updated, r.State = time.Unix(0, c).UTC(), time.Unix(0, u).UTC(), json.RawMessage(st)
	return r, nil
}
