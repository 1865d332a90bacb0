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

// Alert statuses.
const (
	StatusOpen         = "open"
	StatusAcknowledged = "acknowledged"
	StatusResolved     = "resolved"
)

// Counts summarises the fleet for the status line.
type Counts struct {
	Gateways       int `json:"gateways"`
	GatewaysOnline int `json:"gateways_online"`
	Machines       int `json:"machines"`
	AlertsOpen     int `json:"alerts_open"`
}

// Counts returns the fleet summary.
func (s *Store) Counts(ctx context.Context) (Counts, error) {
	var c Counts
	err := s.db.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM gateways),
		(SELECT count(*) FROM gateways WHERE online = 1),
		(SELECT count(*) FROM machines),
		(SELECT count(*) FROM alerts WHERE status = 'open')`).
		Scan(&c.Gateways, &c.GatewaysOnline, &c.Machines, &c.AlertsOpen)
	if err != nil {
		return Counts{}, fmt.Errorf("count fleet: %w", err)
	}
	return c, nil
}

// Gateway is one row of the gateways table.
type Gateway struct {
	ID           string    `json:"id"`
	AgentVersion string    `json:"agent_version"`
	Online       bool      `json:"online"`
	FirstSeen    time.Time `json:"first_seen"`
	LastSeen     time.Time `json:"last_seen"`
	ConfigHash   string    `json:"config_hash,omitempty"`
}

// Gateways lists every gateway by id.
func (s *Store) Gateways(ctx context.Context) ([]Gateway, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, agent_version, online, first_seen, last_seen, config_hash
		FROM gateways ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list gateways: %w", err)
	}
	defer rows.Close()
	out := []Gateway{}
	for rows.Next() {
		var g Gateway
		var first, last int64
		if err := rows.Scan(&g.ID, &g.AgentVersion, &g.Online, &first, &last, &g.ConfigHash); err != nil {
			return nil, fmt.Errorf("list gateways: %w", err)
		}
		g.FirstSeen, g.LastSeen = time.Unix(0, first).UTC(), time.Unix(0, last).UTC()
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list gateways: %w", err)
	}
	return out, nil
}

// Machine is one machine with its latest champion score.
type Machine struct {
	Gateway    string    `json:"gateway"`
	ID         string    `json:"id"`
	Type       string    `json:"type"`
	Site       string    `json:"site,omitempty"`
	Line       string    `json:"line,omitempty"`
	Sensors    []string  `json:"sensors"`
	Model      string    `json:"model,omitempty"`
	Score      *float64  `json:"score"`     // latest champion score; nil before the first metrics
	Threshold  *float64  `json:"threshold"` // champion's alert threshold at that score
	LastSeen   time.Time `json:"last_seen"`
	OpenAlerts int       `json:"open_alerts"`
	// ChampionSince is when the active champion was deployed (its age);
	// nil when the registry knows no champion for the machine.
	ChampionSince *time.Time `json:"champion_since"`
}

// Machines lists every machine by gateway and id.
func (s *Store) Machines(ctx context.Context) ([]Machine, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT m.gateway, m.id, m.type, m.site, m.line, m.sensors, m.model,
		m.last_score, m.threshold, m.last_seen,
		(SELECT count(*) FROM alerts a WHERE a.gateway = m.gateway AND a.machine = m.id AND a.status = 'open'),
		(SELECT max(d.since) FROM deployments d WHERE d.gateway = m.gateway AND d.machine = m.id AND d.role = 'champion'
			AND d.status IN ('pending', 'acked'))
		FROM machines m ORDER BY m.gateway, m.id`)
	if err != nil {
		return nil, fmt.Errorf("list machines: %w", err)
	}
	defer rows.Close()
	out := []Machine{}
	for rows.Next() {
		var m Machine
		var sensors string
		var score, thr sql.NullFloat64
		var last int64
		var champ sql.NullInt64
		if err := rows.Scan(&m.Gateway, &m.ID, &m.Type, &m.Site, &m.Line, &sensors, &m.Model,
			&score, &thr, &last, &m.OpenAlerts, &champ); err != nil {
			return nil, fmt.Errorf("list machines: %w", err)
		}
		if err := json.Unmarshal([]byte(sensors), &m.Sensors); err != nil || m.Sensors == nil {
			m.Sensors = []string{}
		}
		if score.Valid {
			m.Score = &score.Float64
		}
		if thr.Valid {
			m.Threshold = &thr.Float64
		}
		m.LastSeen = time.Unix(0, last).UTC()
		if champ.Valid {
			t := time.Unix(0, champ.Int64).UTC()
			m.ChampionSince = &t
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list machines: %w", err)
	}
	return out, nil
}

// MetricPoint is one model's metrics over one interval.
type MetricPoint struct {
	Time      time.Time `json:"time"`
	Model     string    `json:"model"`
	Role      string    `json:"role"`
	Interval  int64     `json:"interval_ns"`
	Count     int64     `json:"count"`
	ScoreMean float64   `json:"score_mean"`
	ScoreMax  float64   `json:"score_max"`
	ScoreLast float64   `json:"score_last"`
	Alerts    int64     `json:"alerts"`
	Samples   int64     `json:"samples"`
	LatencyNs int64     `json:"latency_ns"`
	Threshold float64   `json:"threshold"`
	Kind      string    `json:"kind,omitempty"`
	Snapshot  string    `json:"snapshot,omitempty"`
	// Paired decisions against the champion (challengers and twin).
	Both         int64 `json:"both,omitempty"`
	OnlyModel    int64 `json:"only_model,omitempty"`
	OnlyChampion int64 `json:"only_champion,omitempty"`
	// Hist counts the interval's scores in wire.HistBins bins over [0, 1].
	Hist []uint32 `json:"hist,omitempty"`
}

// MetricPoints returns the points of one machine since t, oldest first, at
// most limit (the newest ones when there are more).
func (s *Store) MetricPoints(ctx context.Context, gw, machine string, since time.Time, limit int) ([]MetricPoint, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT * FROM (SELECT time, model, role, interval_ns, count, score_mean, score_max,
		score_last, alerts, samples, latency_ns, threshold, kind, snapshot, both_alarm, only_model, only_champion, hist FROM metric_points
		WHERE gateway = ? AND machine = ? AND time >= ? ORDER BY time DESC, rowid DESC LIMIT ?) ORDER BY time`,
		gw, machine, since.UnixNano(), limit)
	if err != nil {
		return nil, fmt.Errorf("query metric points: %w", err)
	}
	defer rows.Close()
	out := []MetricPoint{}
	for rows.Next() {
		var p MetricPoint
		var t int64
		var hist []byte
		if err := rows.Scan(&t, &p.Model, &p.Role, &p.Interval, &p.Count, &p.ScoreMean, &p.ScoreMax,
			&p.ScoreLast, &p.Alerts, &p.Samples, &p.LatencyNs, &p.Threshold, &p.Kind, &p.Snapshot,
			&p.Both, &p.OnlyModel, &p.OnlyChampion, &hist); err != nil {
			return nil, fmt.Errorf("query metric points: %w", err)
		}
		if n := len(hist) / 4; n > 0 {
			p.Hist = make([]uint32, n)
			for i := range p.Hist {
				b := hist[4*i:]
				p.Hist[i] = uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
			}
		}
		p.Time = time.Unix(0, t).UTC()
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query metric points: %w", err)
	}
	return out, nil
}

// Alert is one stored alert.
type Alert struct {
	ID           string              `json:"id"`
	Gateway      string              `json:"gateway"`
	Machine      string              `json:"machine"`
	Model        string              `json:"model"`
	Severity     string              `json:"severity"`
	Score        float64             `json:"score"`
	Threshold    float64             `json:"threshold"`
	Start        time.Time           `json:"start"`
	Received     time.Time           `json:"received"`
	Status       string              `json:"status"`
	StatusTime   time.Time           `json:"status_time"`
	Contributors []wire.Contribution `json:"contributors"`
	Message      string              `json:"message,omitempty"`
	// Label is the latest technician feedback label, if any.
	Label string `json:"label,omitempty"`
}

// AlertFilter selects alerts. Zero fields match everything.
type AlertFilter struct {
	Status  string
	Gateway string
	Machine string
	Limit   int // default 100
}

// Alerts lists alerts matching f, newest first.
func (s *Store) Alerts(ctx context.Context, f AlertFilter) ([]Alert, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, gateway, machine, model, severity, score, threshold, start_time,
		received, status, status_time, contributors, message, `+latestLabel+` FROM alerts
		WHERE (?1 = '' OR status = ?1) AND (?2 = '' OR gateway = ?2) AND (?3 = '' OR machine = ?3)
		ORDER BY start_time DESC, id LIMIT ?4`, f.Status, f.Gateway, f.Machine, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("list alerts: %w", err)
	}
	defer rows.Close()
	out := []Alert{}
	for rows.Next() {
		var a Alert
		var start, recv, st int64
		var contrib string
		if err := rows.Scan(&a.ID, &a.Gateway, &a.Machine, &a.Model, &a.Severity, &a.Score, &a.Threshold,
			&start, &recv, &a.Status, &st, &contrib, &a.Message, &a.Label); err != nil {
			return nil, fmt.Errorf("list alerts: %w", err)
		}
		if err := json.Unmarshal([]byte(contrib), &a.Contributors); err != nil || a.Contributors == nil {
			a.Contributors = []wire.Contribution{}
		}
		a.Start, a.Received, a.StatusTime = time.Unix(0, start).UTC(), time.Unix(0, recv).UTC(), time.Unix(0, st).UTC()
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list alerts: %w", err)
	}
	return out, nil
}

// AckAlert marks an open alert acknowledged. Acknowledging an alert that is
// not open changes nothing and is not an error; an unknown id is ErrNotFound.
func (s *Store) AckAlert(ctx context.Context, id string, now time.Time) (Alert, error) {
	return s.AckAlertBy(ctx, id, "", now)
}

// AckAlertBy is AckAlert naming who acknowledged, for the audit log.
func (s *Store) AckAlertBy(ctx context.Context, id, who string, now time.Time) (Alert, error) {
	err := s.write(ctx, "ack alert", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE alerts SET status = 'acknowledged', status_time = ?
			WHERE id = ? AND status = 'open'`, now.UnixNano(), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		return audit(ctx, tx.ExecContext, now.UnixNano(), Change{Actor: who, Action: "alert.ack", Subject: "alert/" + id,
			Before: map[string]string{"status": StatusOpen}, After: map[string]string{"status": StatusAcknowledged}})
	})
	if err != nil {
		return Alert{}, err
	}
	return s.alert(ctx, id)
}

// latestLabel selects an alert row's latest feedback label (” for none).
const latestLabel = `coalesce((SELECT f.label FROM feedback f WHERE f.alert_id = alerts.id ORDER BY f.id DESC LIMIT 1), '')`

// Alert returns one alert with its latest label, or ErrNotFound.
func (s *Store) Alert(ctx context.Context, id string) (Alert, error) { return s.alert(ctx, id) }

func (s *Store) alert(ctx context.Context, id string) (Alert, error) {
	var a Alert
	var start, recv, st int64
	var contrib string
	err := s.db.QueryRowContext(ctx, `SELECT id, gateway, machine, model, severity, score, threshold, start_time,
		received, status, status_time, contributors, message, `+latestLabel+` FROM alerts WHERE id = ?`, id).
		Scan(&a.ID, &a.Gateway, &a.Machine, &a.Model, &a.Severity, &a.Score, &a.Threshold,
			&start, &recv, &a.Status, &st, &contrib, &a.Message, &a.Label)
	if errors.Is(err, sql.ErrNoRows) {
		return Alert{}, fmt.Errorf("alert %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return Alert{}, fmt.Errorf("read alert: %w", err)
	}
	if err := json.Unmarshal([]byte(contrib), &a.Contributors); err != nil || a.Contributors == nil {
		a.Contributors = []wire.Contribution{}
	}
	a.Start, a.Received, a.StatusTime = time.Unix(0, start).UTC(), time.Unix(0, recv).UTC(), time.Unix(0, st).UTC()
	return a, nil
}

// SnapshotInfo describes a stored snapshot without its data.
type SnapshotInfo struct {
	ID       string    `json:"id"`
	Gateway  string    `json:"gateway"`
	Machine  string    `json:"machine"`
	Model    string    `json:"model"`
	Role     string    `json:"role"`
	Parent   string    `json:"parent,omitempty"`
	Samples  int64     `json:"samples"`
	Size     int64     `json:"size"`
	Received time.Time `json:"received"`
	Source   string    `json:"source"` // SourceAgent or SourceUpload
	// SignedBy is the id of the agent key that verifiably signed an agent
	// snapshot; empty when it was unsigned or could not be verified.
	SignedBy string `json:"signed_by,omitempty"`
}

// SnapshotData returns a snapshot's description and bytes.
func (s *Store) SnapshotData(ctx context.Context, id string) (SnapshotInfo, []byte, error) {
	var i SnapshotInfo
	var recv int64
	var data []byte
	err := s.db.QueryRowContext(ctx, `SELECT id, gateway, machine, model, role, parent, samples, size, received, data, source, signed_by
		FROM snapshots WHERE id = ?`, id).
		Scan(&i.ID, &i.Gateway, &i.Machine, &i.Model, &i.Role, &i.Parent, &i.Samples, &i.Size, &recv, &data, &i.Source, &i.SignedBy)
	if errors.Is(err, sql.ErrNoRows) {
		return SnapshotInfo{}, nil, fmt.Errorf("snapshot %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return SnapshotInfo{}, nil, fmt.Errorf("read snapshot: %w", err)
	}
	i.Received = time.Unix(0, recv).UTC()
	return i, data, nil
}
