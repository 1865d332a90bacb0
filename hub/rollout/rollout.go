// Package rollout changes which models run where: it deploys challengers
// from the desk, promotes a challenger (or the learning twin) to champion
// on one asset, and rolls a model with its warm-start snapshot out to every
// asset of a machine type in stages (one canary gateway, then a share of
// the gateways, then all). Each stage soaks under health gates (alert-rate
// jump against the asset's own baseline, refusals, gateway silence); a
// failing gate rolls every asset the rollout touched back to its previous
// champion. Commands go through the store's durable queue and a Dispatcher,
// so a gateway offline during a rollout gets its command when it returns.
// Every decision is written to the audit log.
package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"millwright/hub/ab"
	"millwright/hub/store"
	"millwright/wire"
)

// Rollout statuses.
const (
	StatusRunning    = "running"
	StatusCompleted  = "completed"
	StatusRolledBack = "rolled-back"
)

// ErrBadRequest wraps every refusal of a request's content.
var ErrBadRequest = errors.New("bad request")

// Gates are the health checks of a stage, evaluated over its soak.
type Gates struct {
	// AlertRateFactor fails an asset whose new champion alarms on more
	// than Factor × its old champion's rate (and by at least
	// AlertRateMinJump vectors in a thousand); default 3 and 0.01.
	AlertRateFactor  float64 `json:"alert_rate_factor"`
	AlertRateMinJump float64 `json:"alert_rate_min_jump"`
	// MinVectors is the evidence the alert-rate gate waits for; default 100.
	MinVectors int64 `json:"min_vectors"`
	// Silence fails an asset that acked the change and then sent no metrics
	// for this long; default 5m.
	Silence time.Duration `json:"silence_ns"`
	// IdleIntervals fails an asset whose new champion reported this many
	// metric intervals without scoring a vector (it errs on every input);
	// default 3.
	IdleIntervals int64 `json:"idle_intervals"`
	// IgnoreRefusals keeps a rollout going when an agent refuses the
	// command; by default a refusal fails it.
	IgnoreRefusals bool `json:"ignore_refusals,omitempty"`
}

func (g *Gates) defaults() {
	if g.AlertRateFactor <= 0 {
		g.AlertRateFactor = 3
	}
	if g.AlertRateMinJump <= 0 {
		g.AlertRateMinJump = 0.01
	}
	if g.MinVectors <= 0 {
		g.MinVectors = 100
	}
	if g.Silence <= 0 {
		g.Silence = 5 * time.Minute
	}
	if g.IdleIntervals <= 0 {
		g.IdleIntervals = 3
	}
}

// AutoPromote promotes a challenger that beats its champion with
// confidence (ab verdict "better") after it has run for Period. Off by default.
type AutoPromote struct {
	Enabled bool          `json:"enabled"`
	Period  time.Duration `json:"period_ns"` // default 7 days
}

// Options configure New. Store is required.
type Options struct {
	Store *store.Store
	// Kick is called after commands were queued (Dispatcher.Kick); may be nil.
	Kick   func()
	Logger *slog.Logger
	Now    func() time.Time
	// Every is the period of Run's evaluation; default 15s.
	Every time.Duration
	// Soak is the default soak of a stage; default 30m.
	Soak time.Duration
	// CanaryPercent is the share of gateways of the middle stage; default 50.
	CanaryPercent int
	// Baseline is the window before a stage whose champion alert rate the
	// alert-rate gate compares against; default 24h.
	Baseline    time.Duration
	Gates       Gates
	AutoPromote AutoPromote
	// Compare tunes the verdicts of AutoPromote.
	Compare ab.Options
}

// Manager runs challengers, promotions and rollouts.
type Manager struct {
	o   Options
	log *slog.Logger
	mu  sync.Mutex // serialises changes to rollouts
}

// New fills the defaults of o.
func New(o Options) (*Manager, error) {
	if o.Store == nil {
		return nil, errors.New("rollout: store is required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Kick == nil {
		o.Kick = func() {}
	}
	if o.Every <= 0 {
		o.Every = 15 * time.Second
	}
	if o.Soak <= 0 {
		o.Soak = 30 * time.Minute
	}
	if o.CanaryPercent <= 0 || o.CanaryPercent > 100 {
		o.CanaryPercent = 50
	}
	if o.Baseline <= 0 {
		o.Baseline = 24 * time.Hour
	}
	if o.AutoPromote.Period <= 0 {
		o.AutoPromote.Period = 7 * 24 * time.Hour
	}
	o.Gates.defaults()
	return &Manager{o: o, log: o.Logger}, nil
}

// Asset names a machine behind a gateway.
type Asset struct {
	Gateway string `json:"gateway"`
	Machine string `json:"machine"`
}

func (a Asset) String() string { return a.Gateway + "/" + a.Machine }

// resolve turns target strings ("gw/machine" or a machine id unique across
// gateways) and a machine type into assets, sorted, without duplicates.
func (m *Manager) resolve(ctx context.Context, targets []string, machineType string) ([]store.Machine, error) {
	ms, err := m.o.Store.Machines(ctx)
	if err != nil {
		return nil, err
	}
	seen := map[Asset]bool{}
	var out []store.Machine
	add := func(x store.Machine) {
		a := Asset{x.Gateway, x.ID}
		if !seen[a] {
			seen[a] = true
			out = append(out, x)
		}
	}
	for _, t := range targets {
		gw, id, hasGW := strings.Cut(t, "/")
		if !hasGW {
			gw, id = "", t
		}
		var found []store.Machine
		for _, x := range ms {
			if x.ID == id && (gw == "" || x.Gateway == gw) {
				found = append(found, x)
			}
		}
		switch {
		case len(found) == 0:
			return nil, fmt.Errorf("%w: no asset %q", ErrBadRequest, t)
		case len(found) > 1:
			return nil, fmt.Errorf("%w: machine %q is behind several gateways; name it gateway/machine", ErrBadRequest, t)
		}
		add(found[0])
	}
	if machineType != "" {
		n := len(out)
		for _, x := range ms {
			if x.Type == machineType {
				add(x)
			}
		}
		if len(out) == n && len(targets) == 0 {
			return nil, fmt.Errorf("%w: no asset of type %q", ErrBadRequest, machineType)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no target assets", ErrBadRequest)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Gateway != out[j].Gateway {
			return out[i].Gateway < out[j].Gateway
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// snapshotBytes loads a snapshot for a command; "" is none.
func (m *Manager) snapshotBytes(ctx context.Context, id string) ([]byte, store.SnapshotInfo, error) {
	if id == "" {
		return nil, store.SnapshotInfo{}, nil
	}
	info, data, err := m.o.Store.SnapshotData(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, info, fmt.Errorf("%w: no snapshot %q", ErrBadRequest, id)
	}
	return data, info, err
}

// ChallengerRequest deploys a challenger model to assets.
type ChallengerRequest struct {
	Kind     string             `json:"kind"`
	Settings map[string]float64 `json:"settings,omitempty"`
	// SnapshotID warm-starts the challenger from a stored snapshot.
	SnapshotID string `json:"snapshot_id,omitempty"`
	// Targets name assets ("gw/machine", or a machine id unique across
	// gateways); MachineType adds every asset of that type.
	Targets     []string `json:"targets,omitempty"`
	MachineType string   `json:"machine_type,omitempty"`
	// Name is the model instance name on each machine; default
	// "challenger-<kind>". A challenger of the same name is replaced.
	Name   string `json:"name,omitempty"`
	By     string `json:"by,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// Challengers deploys a challenger to every target asset: one pending
// deployment and one queued deploy command each.
func (m *Manager) Challengers(ctx context.Context, req ChallengerRequest) ([]store.Deployment, error) {
	if !wire.ValidID(req.Kind) {
		return nil, fmt.Errorf("%w: kind %q", ErrBadRequest, req.Kind)
	}
	if req.Name == "" {
		req.Name = "challenger-" + req.Kind
	}
	if !wire.ValidID(req.Name) {
		return nil, fmt.Errorf("%w: name %q", ErrBadRequest, req.Name)
	}
	assets, err := m.resolve(ctx, req.Targets, req.MachineType)
	if err != nil {
		return nil, err
	}
	snap, info, err := m.snapshotBytes(ctx, req.SnapshotID)
	if err != nil {
		return nil, err
	}
	if req.SnapshotID != "" && info.Model != "" && info.Model != req.Kind {
		return nil, fmt.Errorf("%w: snapshot %s is of kind %q, not %q", ErrBadRequest, req.SnapshotID, info.Model, req.Kind)
	}
	now := m.o.Now()
	out := make([]store.Deployment, 0, len(assets))
	for _, a := range assets {
		cmd := &wire.Command{Kind: wire.CmdDeploy, Machine: a.ID, Role: wire.RoleChallenger, Model: req.Kind,
			Settings: req.Settings, Snapshot: snap, Name: req.Name, Reason: req.Reason}
		d, err := m.o.Store.Deploy(ctx, store.Deployment{Gateway: a.Gateway, Machine: a.ID, Role: wire.RoleChallenger,
			Name: req.Name, Kind: req.Kind, Settings: req.Settings, Snapshot: req.SnapshotID, By: req.By, Reason: req.Reason}, cmd, now)
		if err != nil {
			return out, err
		}
		out = append(out, d)
	}
	m.o.Kick()
	return out, nil
}

// RemoveChallenger ends a challenger deployment and tells its agent.
func (m *Manager) RemoveChallenger(ctx context.Context, id, by, reason string) (store.Deployment, error) {
	d, err := m.o.Store.Deployment(ctx, id)
	if err != nil {
		return d, err
	}
	cmd := &wire.Command{Kind: wire.CmdRemove, Machine: d.Machine, Role: d.Role, Model: d.Kind, Name: d.Name, Reason: reason}
	d, err = m.o.Store.Remove(ctx, id, cmd, by, reason, m.o.Now())
	if err == nil {
		m.o.Kick()
	}
	return d, err
}

// record turns a rollout into its store record.
func (r *Rollout) record() (store.RolloutRecord, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return store.RolloutRecord{}, fmt.Errorf("encode rollout: %w", err)
	}
	return store.RolloutRecord{ID: r.ID, Status: r.Status, State: b}, nil
}

// save stores r and audits action with before/after summaries.
func (m *Manager) save(ctx context.Context, r *Rollout, actor, action, detail string) error {
	now := m.o.Now()
	r.Updated = now.UTC()
	if action != "" {
		r.History = append(r.History, Event{Time: now.UTC(), Action: action, Detail: detail})
	}
	rec, err := r.record()
	if err != nil {
		return err
	}
	var ch *store.Change
	if action != "" {
		ch = &store.Change{Actor: actor, Action: "rollout." + action, Subject: "rollout/" + r.ID,
			After: map[string]any{"status": r.Status, "stage": r.Stage, "detail": detail}}
	}
	return m.o.Store.SaveRollout(ctx, rec, ch, now)
}

// Rollouts lists rollouts, newest first; status "" lists all.
func (m *Manager) Rollouts(ctx context.Context, status string) ([]Rollout, error) {
	recs, err := m.o.Store.Rollouts(ctx, status, 200)
	if err != nil {
		return nil, err
	}
	out := make([]Rollout, 0, len(recs))
	for _, rec := range recs {
		var r Rollout
		if err := json.Unmarshal(rec.State, &r); err != nil {
			return nil, fmt.Errorf("decode rollout %s: %w", rec.ID, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// Get returns one rollout.
func (m *Manager) Get(ctx context.Context, id string) (Rollout, error) {
	rec, err := m.o.Store.Rollout(ctx, id)
	if err != nil {
		return Rollout{}, err
	}
	var r Rollout
	if err := json.Unmarshal(rec.State, &r); err != nil {
		return r, fmt.Errorf("decode rollout %s: %w", id, err)
	}
	return r, nil
}

// Run evaluates the running rollouts (and the auto-promote policy) every
// Options.Every until ctx is done.
func (m *Manager) Run(ctx context.Context) error {
	t := time.NewTicker(m.o.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := m.Step(ctx); err != nil && ctx.Err() == nil {
			m.log.Warn("rollout step", "err", err)
		}
		if m.o.AutoPromote.Enabled {
			if err := m.AutoPromoteOnce(ctx); err != nil && ctx.Err() == nil {
				m.log.Warn("auto-promote", "err", err)
			}
		}
	}
}
