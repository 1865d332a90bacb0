package rollout

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"millwright/hub/ab"
	"millwright/hub/store"
	"millwright/wire"
)

// Asset states within a rollout.
const (
	AssetWaiting    = "waiting"     // its stage has not started
	AssetDeployed   = "deployed"    // command queued or sent, no answer
	AssetOffline    = "offline"     // gateway offline: the command waits for its return
	AssetSoaking    = "soaking"     // acked; gates under watch
	AssetHealthy    = "healthy"     // soaked without a failing gate
	AssetFailed     = "failed"      // a gate failed here
	AssetRolledBack = "rolled-back" // back on its previous champion
	AssetSuperseded = "superseded"  // someone changed the slot outside this rollout
)

// Stage is one step of a rollout: a set of gateways.
type Stage struct {
	Name     string   `json:"name"` // "canary", "50%", "all"
	Gateways []string `json:"gateways"`
}

// AssetState is one asset's progress in a rollout.
type AssetState struct {
	Asset
	Stage      int        `json:"stage"`
	Status     string     `json:"status"`
	Deployment string     `json:"deployment,omitempty"`
	Baseline   float64    `json:"baseline_alert_rate"`
	AlertRate  float64    `json:"alert_rate"`
	AckedAt    *time.Time `json:"acked_at,omitempty"`
	Note       string     `json:"note,omitempty"`
}

// Event is one entry of a rollout's history (also in the audit log).
type Event struct {
	Time   time.Time `json:"time"`
	Action string    `json:"action"`
	Detail string    `json:"detail,omitempty"`
}

// Rollout is a staged change of champion on a set of assets.
type Rollout struct {
	ID           string             `json:"id"`
	Status       string             `json:"status"`
	Kind         string             `json:"kind"`
	Name         string             `json:"name"`
	Settings     map[string]float64 `json:"settings,omitempty"`
	Snapshot     string             `json:"snapshot,omitempty"`
	MachineType  string             `json:"machine_type,omitempty"`
	PromotedFrom string             `json:"promoted_from,omitempty"`
	By           string             `json:"by,omitempty"`
	Reason       string             `json:"reason,omitempty"`
	Created      time.Time          `json:"created"`
	Updated      time.Time          `json:"updated"`
	Soak         time.Duration      `json:"soak_ns"`
	Gates        Gates              `json:"gates"`
	Stages       []Stage            `json:"stages"`
	Stage        int                `json:"stage"`
	StageStarted time.Time          `json:"stage_started"`
	Assets       []AssetState       `json:"assets"`
	Failure      string             `json:"failure,omitempty"`
	History      []Event            `json:"history"`
}

// PromotionRequest makes a model champion. Either Deployment names an
// active challenger or twin deployment to promote on its asset, or Kind
// (with optional Settings and SnapshotID) goes to the Targets and every
// asset of MachineType, in stages.
type PromotionRequest struct {
	Deployment string `json:"deployment,omitempty"`
	// Gateway, Machine and Model (instance name) name a running model
	// without a deployment of its own, e.g. the learning twin reported in
	// metrics; its kind and snapshot come from its latest metrics.
	Gateway     string             `json:"gateway,omitempty"`
	Machine     string             `json:"machine,omitempty"`
	Model       string             `json:"model,omitempty"`
	Kind        string             `json:"kind,omitempty"`
	Settings    map[string]float64 `json:"settings,omitempty"`
	SnapshotID  string             `json:"snapshot_id,omitempty"`
	Name        string             `json:"name,omitempty"` // instance name; default the kind
	Targets     []string           `json:"targets,omitempty"`
	MachineType string             `json:"machine_type,omitempty"`
	// Soak per stage; default Options.Soak. Gates override Options.Gates
	// field by field where set.
	Soak   time.Duration `json:"soak_ns,omitempty"`
	Gates  *Gates        `json:"gates,omitempty"`
	By     string        `json:"by,omitempty"`
	Reason string        `json:"reason,omitempty"`
}

// plan splits gateways into canary, CanaryPercent% and all.
func plan(gateways []string, percent int) []Stage {
	n := len(gateways)
	if n == 1 {
		return []Stage{{Name: "all", Gateways: gateways}}
	}
	stages := []Stage{{Name: "canary", Gateways: gateways[:1]}}
	mid := int(math.Ceil(float64(n) * float64(percent) / 100))
	if mid > 1 && mid < n {
		stages = append(stages, Stage{Name: fmt.Sprintf("%d%%", percent), Gateways: gateways[1:mid]})
	} else {
		mid = 1
	}
	return append(stages, Stage{Name: "all", Gateways: gateways[mid:]})
}

// Promote starts a rollout and its first stage.
func (m *Manager) Promote(ctx context.Context, req PromotionRequest) (Rollout, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.o.Now().UTC()
	r := Rollout{ID: store.NewID("ro-"), Status: StatusRunning, Kind: req.Kind, Name: req.Name, Settings: req.Settings,
		Snapshot: req.SnapshotID, MachineType: req.MachineType, By: req.By, Reason: req.Reason, Created: now,
		Soak: req.Soak, Gates: m.o.Gates, History: []Event{}}
	if r.Soak <= 0 {
		r.Soak = m.o.Soak
	}
	if g := req.Gates; g != nil {
		r.Gates = *g
		r.Gates.defaults()
	}
	var assets []Asset
	if req.Deployment == "" && req.Model != "" {
		id, err := m.deploymentOf(ctx, req.Gateway, req.Machine, req.Model)
		if err != nil {
			return r, err
		}
		if id == "" {
			rm, err := m.o.Store.LatestModel(ctx, req.Gateway, req.Machine, req.Model)
			if errors.Is(err, store.ErrNotFound) {
				return r, fmt.Errorf("%w: %v", ErrBadRequest, err)
			} else if err != nil {
				return r, err
			}
			if rm.Role == wire.RoleChampion || rm.Kind == "" {
				return r, fmt.Errorf("%w: %s on %s/%s is a %s of kind %q: nothing to promote", ErrBadRequest, req.Model, req.Gateway, req.Machine, rm.Role, rm.Kind)
			}
			r.Kind, r.Name, r.Snapshot = rm.Kind, rm.Model, ""
			assets = []Asset{{req.Gateway, req.Machine}}
		}
		req.Deployment = id
	}
	if len(assets) > 0 {
		// a running model without a deployment: set above
	} else if req.Deployment != "" {
		d, err := m.o.Store.Deployment(ctx, req.Deployment)
		if errors.Is(err, store.ErrNotFound) {
			return r, fmt.Errorf("%w: no deployment %q", ErrBadRequest, req.Deployment)
		} else if err != nil {
			return r, err
		}
		if d.Role == wire.RoleChampion || !d.Active() {
			return r, fmt.Errorf("%w: deployment %s is a %s %s, not an active challenger or twin", ErrBadRequest, d.ID, d.Status, d.Role)
		}
		r.Kind, r.Name, r.Settings, r.Snapshot, r.PromotedFrom = d.Kind, d.Name, d.Settings, d.Snapshot, d.ID
		assets = []Asset{{d.Gateway, d.Machine}}
	} else {
		if !wire.ValidID(req.Kind) {
			return r, fmt.Errorf("%w: kind %q", ErrBadRequest, req.Kind)
		}
		if _, _, err := m.snapshotBytes(ctx, req.SnapshotID); err != nil {
			return r, err
		}
		ms, err := m.resolve(ctx, req.Targets, req.MachineType)
		if err != nil {
			return r, err
		}
		for _, x := range ms {
			assets = append(assets, Asset{x.Gateway, x.ID})
		}
	}
	if r.Name == "" {
		r.Name = r.Kind
	}
	// One rollout at a time per asset: two would fight over its champion
	// and over what a rollback restores.
	running, err := m.Rollouts(ctx, StatusRunning)
	if err != nil {
		return r, err
	}
	busy := map[Asset]string{}
	for _, ro := range running {
		for _, a := range ro.Assets {
			busy[a.Asset] = ro.ID
		}
	}
	for _, a := range assets {
		if id, ok := busy[a]; ok {
			return r, fmt.Errorf("%s is in running rollout %s; wait for it or roll it back: %w", a, id, store.ErrConflict)
		}
	}
	var gateways []string
	for _, a := range assets {
		if len(gateways) == 0 || gateways[len(gateways)-1] != a.Gateway {
			gateways = append(gateways, a.Gateway)
		}
	}
	r.Stages = plan(gateways, m.o.CanaryPercent)
	stageOf := map[string]int{}
	for i, s := range r.Stages {
		for _, g := range s.Gateways {
			stageOf[g] = i
		}
	}
	for _, a := range assets {
		r.Assets = append(r.Assets, AssetState{Asset: a, Stage: stageOf[a.Gateway], Status: AssetWaiting})
	}
	if err := m.save(ctx, &r, r.By, "start", fmt.Sprintf("%s to %d assets in %d stages", r.Kind, len(assets), len(r.Stages))); err != nil {
		return r, err
	}
	if err := m.startStage(ctx, &r, 0); err != nil {
		return r, err
	}
	return r, nil
}

// startStage records each asset's baseline and deploys to the stage.
func (m *Manager) startStage(ctx context.Context, r *Rollout, stage int) error {
	now := m.o.Now()
	snap, _, err := m.snapshotBytes(ctx, r.Snapshot)
	if err != nil {
		return err
	}
	r.Stage, r.StageStarted = stage, now.UTC()
	for i := range r.Assets {
		a := &r.Assets[i]
		if a.Stage != stage {
			continue
		}
		w, err := m.o.Store.Window(ctx, a.Gateway, a.Machine, wire.RoleChampion, now.Add(-m.o.Baseline), now)
		if err != nil {
			return err
		}
		a.Baseline = w.AlertRate()
		cmd := &wire.Command{Kind: wire.CmdDeploy, Machine: a.Machine, Role: wire.RoleChampion, Model: r.Kind,
			Settings: r.Settings, Snapshot: snap, Name: r.Name, Reason: r.Reason}
		promoted := ""
		if r.PromotedFrom != "" {
			promoted = r.PromotedFrom
		}
		d, err := m.o.Store.Deploy(ctx, store.Deployment{Gateway: a.Gateway, Machine: a.Machine, Role: wire.RoleChampion,
			Name: r.Name, Kind: r.Kind, Settings: r.Settings, Snapshot: r.Snapshot, By: r.By, Reason: r.Reason,
			Rollout: r.ID, PromotedFrom: promoted}, cmd, now)
		if err != nil {
			return err
		}
		a.Deployment, a.Status = d.ID, AssetDeployed
	}
	if err := m.save(ctx, r, "rollout", "stage", fmt.Sprintf("stage %d (%s) started", stage, r.Stages[stage].Name)); err != nil {
		return err
	}
	m.o.Kick()
	return nil
}

// Step evaluates every running rollout once: answers, gates, soak, next
// stage or rollback.
func (m *Manager) Step(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	rs, err := m.Rollouts(ctx, StatusRunning)
	if err != nil {
		return err
	}
	gws, err := m.o.Store.Gateways(ctx)
	if err != nil {
		return err
	}
	online := map[string]bool{}
	for _, g := range gws {
		online[g.ID] = g.Online
	}
	var errs []error
	for i := range rs {
		if err := m.step(ctx, &rs[i], online); err != nil {
			errs = append(errs, fmt.Errorf("rollout %s: %w", rs[i].ID, err))
		}
	}
	return errors.Join(errs...)
}

func (m *Manager) step(ctx context.Context, r *Rollout, online map[string]bool) error {
	now := m.o.Now()
	done, failure := true, ""
	for i := range r.Assets {
		a := &r.Assets[i]
		// Earlier stages stay under watch: an asset whose gateway was
		// offline soaks when it returns.
		if a.Stage > r.Stage || a.Status == AssetHealthy || a.Status == AssetSuperseded {
			continue
		}
		d, err := m.o.Store.Deployment(ctx, a.Deployment)
		if err != nil {
			return err
		}
		switch d.Status {
		case store.DeployFailed:
			if !r.Gates.IgnoreRefusals {
				a.Status, a.Note = AssetFailed, "agent refused: "+d.Reason
				failure = a.String() + ": " + a.Note
			} else {
				a.Status, a.Note = AssetHealthy, "refused (ignored): "+d.Reason
			}
		case store.DeployPending:
			if online[a.Gateway] {
				a.Status, done = AssetDeployed, false
			} else {
				// Does not hold the stage: the queued command reaches the
				// gateway when it returns, and the gates watch it then.
				a.Status, a.Note = AssetOffline, "gateway offline; command queued"
			}
		case store.DeployAcked:
			if a.AckedAt == nil {
				t := d.Updated
				a.AckedAt = &t
			}
			if f := m.gates(ctx, r, a, now); f != "" {
				a.Status, a.Note = AssetFailed, f
				failure = a.String() + ": " + f
				break
			}
			if now.Sub(*a.AckedAt) >= r.Soak {
				a.Status = AssetHealthy
			} else {
				a.Status, done = AssetSoaking, false
			}
		default:
			a.Status, a.Note = AssetSuperseded, "deployment "+d.Status+" outside this rollout"
		}
		if failure != "" {
			break
		}
	}
	if failure != "" {
		return m.rollback(ctx, r, "rollout", "gate failed: "+failure)
	}
	if !done {
		return m.save(ctx, r, "", "", "")
	}
	if r.Stage+1 < len(r.Stages) {
		if err := m.save(ctx, r, "rollout", "stage-passed", fmt.Sprintf("stage %d (%s) healthy after soak", r.Stage, r.Stages[r.Stage].Name)); err != nil {
			return err
		}
		return m.startStage(ctx, r, r.Stage+1)
	}
	// Assets whose gateway was offline finish later, without a stage to
	// hold: the rollout is complete once every reachable asset is healthy.
	r.Status = StatusCompleted
	return m.save(ctx, r, "rollout", "complete", fmt.Sprintf("%s is champion on the %d assets", r.Kind, len(r.Assets)))
}

// gates returns why a soaking asset fails, or "".
func (m *Manager) gates(ctx context.Context, r *Rollout, a *AssetState, now time.Time) string {
	last, err := m.o.Store.LastMetric(ctx, a.Gateway, a.Machine)
	if err != nil {
		return ""
	}
	since := *a.AckedAt
	if last.After(since) {
		since = last
	}
	if quiet := now.Sub(since); quiet > r.Gates.Silence {
		return fmt.Sprintf("gateway silent for %v after the change", quiet.Round(time.Second))
	}
	// Strictly after the ack: what the new champion reported.
	w, err := m.o.Store.Window(ctx, a.Gateway, a.Machine, wire.RoleChampion, a.AckedAt.Add(1), now.Add(1))
	if err != nil {
		return ""
	}
	if w.Count == 0 && w.Points >= r.Gates.IdleIntervals {
		return fmt.Sprintf("champion scored nothing in %d metric intervals after the change", w.Points)
	}
	if w.Count < r.Gates.MinVectors {
		return ""
	}
	a.AlertRate = w.AlertRate()
	if a.AlertRate > a.Baseline*r.Gates.AlertRateFactor && a.AlertRate-a.Baseline > r.Gates.AlertRateMinJump {
		return fmt.Sprintf("alert rate %.4f against %.4f before (gate: ×%g and +%g)", a.AlertRate, a.Baseline, r.Gates.AlertRateFactor, r.Gates.AlertRateMinJump)
	}
	return ""
}

// Rollback rolls a running rollout back on request.
func (m *Manager) Rollback(ctx context.Context, id, by, reason string) (Rollout, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := m.Get(ctx, id)
	if err != nil {
		return r, err
	}
	if r.Status != StatusRunning && r.Status != StatusCompleted {
		return r, fmt.Errorf("rollout %s is %s: %w", id, r.Status, store.ErrConflict)
	}
	if reason == "" {
		reason = "manual rollback"
	}
	err = m.rollback(ctx, &r, by, reason)
	return r, err
}

// rollback puts every asset the rollout changed back on its previous champion.
func (m *Manager) rollback(ctx context.Context, r *Rollout, by, reason string) error {
	now := m.o.Now()
	var errs []error
	for i := range r.Assets {
		a := &r.Assets[i]
		if a.Deployment == "" || a.Status == AssetRolledBack {
			continue
		}
		d, err := m.o.Store.Deployment(ctx, a.Deployment)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !d.Active() && d.Status != store.DeployFailed {
			continue
		}
		if d.Status == store.DeployFailed {
			// The agent refused: it still runs the previous champion.
			a.Status = AssetRolledBack
			continue
		}
		prev, err := m.o.Store.Deployment(ctx, d.Previous)
		if err != nil {
			a.Note = "no previous champion to restore"
			continue
		}
		var snap []byte
		if prev.Snapshot != "" {
			if _, data, err := m.o.Store.SnapshotData(ctx, prev.Snapshot); err == nil {
				snap = data
			}
		}
		cmd := &wire.Command{Kind: wire.CmdRollback, Machine: a.Machine, Role: wire.RoleChampion, Model: prev.Kind,
			Name: prev.Name, Settings: prev.Settings, Snapshot: snap, Reason: reason}
		if _, err := m.o.Store.Rollback(ctx, d.ID, cmd, by, reason, now); err != nil {
			errs = append(errs, err)
			continue
		}
		a.Status = AssetRolledBack
	}
	r.Status, r.Failure = StatusRolledBack, reason
	if err := m.save(ctx, r, by, "rollback", reason); err != nil {
		errs = append(errs, err)
	}
	m.o.Kick()
	return errors.Join(errs...)
}

// AutoPromoteOnce promotes every challenger that has run for at least
// AutoPromote.Period and beats its champion ("better") over that period.
func (m *Manager) AutoPromoteOnce(ctx context.Context) error {
	now := m.o.Now()
	ds, err := m.o.Store.Deployments(ctx, store.DeploymentFilter{Role: wire.RoleChallenger, ActiveOnly: true})
	if err != nil {
		return err
	}
	running, err := m.Rollouts(ctx, StatusRunning)
	if err != nil {
		return err
	}
	busy := map[Asset]bool{}
	for _, r := range running {
		for _, a := range r.Assets {
			busy[a.Asset] = true
		}
	}
	for _, d := range ds {
		if d.Status != store.DeployAcked || now.Sub(d.Since) < m.o.AutoPromote.Period || busy[Asset{d.Gateway, d.Machine}] {
			continue
		}
		o := m.o.Compare
		o.From, o.To = now.Add(-m.o.AutoPromote.Period), now
		rep, err := ab.Compare(ctx, m.o.Store, d.Gateway, d.Machine, o)
		if err != nil {
			return err
		}
		for _, mr := range rep.Models {
			if mr.Model != d.Name || mr.Verdict == nil || mr.Verdict.Outcome != ab.Better {
				continue
			}
			reason := fmt.Sprintf("auto-promote: better than champion over %v (mid-p %.3g, cost diff %.4g [%.4g, %.4g])",
				m.o.AutoPromote.Period, mr.Verdict.MidP, mr.Verdict.CostDiff.Mean, mr.Verdict.CostDiff.Low, mr.Verdict.CostDiff.High)
			if _, err := m.Promote(ctx, PromotionRequest{Deployment: d.ID, By: "auto-promote", Reason: reason}); err != nil {
				return err
			}
			busy[Asset{d.Gateway, d.Machine}] = true
		}
	}
	return nil
}

// deploymentOf finds the active challenger or twin deployment of instance
// name on an asset; "" when there is none.
func (m *Manager) deploymentOf(ctx context.Context, gw, machine, name string) (string, error) {
	if gw == "" || machine == "" {
		return "", fmt.Errorf("%w: model needs gateway and machine", ErrBadRequest)
	}
	ds, err := m.o.Store.Deployments(ctx, store.DeploymentFilter{Gateway: gw, Machine: machine, ActiveOnly: true})
	if err != nil {
		return "", err
	}
	for _, d := range ds {
		if d.Name == name && d.Role != wire.RoleChampion {
			return d.ID, nil
		}
	}
	return "", nil
}
