package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"millwright/hub/ab"
	"millwright/hub/auth"
	"millwright/hub/rollout"
	"millwright/hub/store"
	"millwright/wire"
)

// Rollouts is what the API needs of the rollout manager (*rollout.Manager).
type Rollouts interface {
	Challengers(ctx context.Context, req rollout.ChallengerRequest) ([]store.Deployment, error)
	RemoveChallenger(ctx context.Context, id, by, reason string) (store.Deployment, error)
	Promote(ctx context.Context, req rollout.PromotionRequest) (rollout.Rollout, error)
	Rollouts(ctx context.Context, status string) ([]rollout.Rollout, error)
	Get(ctx context.Context, id string) (rollout.Rollout, error)
	Rollback(ctx context.Context, id, by, reason string) (rollout.Rollout, error)
}

// MaxSnapshotUpload bounds POST /api/v1/snapshots (the wire limit of a
// snapshot's data).
const MaxSnapshotUpload = wire.MaxByteString

const maxJSONBody = 1 << 20

func (h *handler) registryRoutes() {
	h.route("GET /api/v1/sites", auth.Viewer, h.sites)
	h.route("GET /api/v1/models", auth.Viewer, h.models)
	h.route("PUT /api/v1/models/{kind}", auth.Operator, h.putModel)
	h.route("GET /api/v1/deployments", auth.Viewer, h.deployments)
	h.route("GET /api/v1/instances", auth.Viewer, h.instances)
	h.route("POST /api/v1/deployments/{id}/remove", auth.Operator, h.removeDeployment)
	h.route("GET /api/v1/commands", auth.Viewer, h.commands)
	h.route("POST /api/v1/challengers", auth.Operator, h.challengers)
	h.route("POST /api/v1/snapshots", auth.Operator, h.uploadSnapshot)
	h.route("GET /api/v1/snapshots", auth.Viewer, h.snapshots)
	h.route("GET /api/v1/snapshots/{id}", auth.Viewer, h.snapshot)
	h.route("GET /api/v1/snapshots/{id}/data", auth.Viewer, h.snapshotData)
	h.route("GET /api/v1/snapshots/{id}/lineage", auth.Viewer, h.lineage)
	h.route("POST /api/v1/promotions", auth.Operator, h.promote)
	h.route("GET /api/v1/rollouts", auth.Viewer, h.rollouts)
	h.route("GET /api/v1/rollouts/{id}", auth.Viewer, h.rolloutByID)
	h.route("POST /api/v1/rollouts/{id}/rollback", auth.Operator, h.rollback)
	h.route("GET /api/v1/compare", auth.Viewer, h.compareGroup)
	h.route("GET /api/v1/compare/{gw}/{machine}", auth.Viewer, h.compare)
	h.route("GET /api/v1/audit", auth.Viewer, h.audit)
	h.route("GET /api/v1/alerts/{id}/feedback", auth.Viewer, h.feedbacks)
	h.route("POST /api/v1/alerts/{id}/feedback", auth.Technician, h.feedback)
	h.route("POST /api/v1/alerts/{id}/resolve", auth.Technician, h.resolve)
}

// who names the person behind a change: the logged-in user or token when
// the hub requires a login; on an open hub the X-User header, else the
// body's "by", else "anonymous".
func who(r *http.Request, by string) string {
	if p, ok := auth.FromContext(r.Context()); ok && p.Via != "open" {
		return p.Name
	}
	if u := strings.TrimSpace(r.Header.Get("X-User")); u != "" {
		return u
	}
	if by != "" {
		return by
	}
	return "anonymous"
}

// decode reads a JSON body strictly (unknown fields are errors).
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJSONBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		writeError(w, http.StatusBadRequest, "body: "+err.Error())
		return false
	}
	return true
}

// fail maps an error to a status: not found 404, conflict 409, bad
// request 400, else 500.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, store.ErrConflict):
		writeError(w, http.StatusConflict, err.Error())
	case errors.Is(err, store.ErrInvalid), errors.Is(err, rollout.ErrBadRequest):
		writeError(w, http.StatusBadRequest, err.Error())
	default:
		h.internal(w, r, err)
	}
}

func (h *handler) needRollouts(w http.ResponseWriter) bool {
	if h.opts.Rollouts == nil {
		writeError(w, http.StatusServiceUnavailable, "model rollout is not configured on this hub")
		return false
	}
	return true
}

func (h *handler) sites(w http.ResponseWriter, r *http.Request) {
	s, err := h.opts.Store.Sites(r.Context())
	if err != nil {
		h.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"sites": s})
}

func (h *handler) models(w http.ResponseWriter, r *http.Request) {
	ks, err := h.opts.Store.ModelKinds(r.Context())
	if err != nil {
		h.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"models": ks})
}

func (h *handler) putModel(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Settings map[string]float64 `json:"settings"`
		By       string             `json:"by"`
	}
	if !decode(w, r, &body) {
		return
	}
	kind := r.PathValue("kind")
	if !wire.ValidID(kind) {
		writeError(w, http.StatusBadRequest, "kind: want 1-64 letters, digits, '-', '_' or '.'")
		return
	}
	k := store.ModelKind{Kind: kind, Settings: body.Settings, By: who(r, body.By)}
	if err := h.opts.Store.PutModelKind(r.Context(), k, h.opts.Now()); err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, k)
}

func (h *handler) deployments(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, err := parseLimit(q.Get("limit"), 500, 5000)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ds, err := h.opts.Store.Deployments(r.Context(), store.DeploymentFilter{Gateway: q.Get("gateway"), Machine: q.Get("machine"),
		Role: q.Get("role"), Rollout: q.Get("rollout"), ActiveOnly: q.Get("active") == "true" || q.Get("active") == "1", Limit: limit})
	if err != nil {
		h.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"deployments": ds})
}

// instances lists the challengers and twins seen in metrics (since: a
// duration back from now; default all).
func (h *handler) instances(w http.ResponseWriter, r *http.Request) {
	var since time.Time
	if s := r.URL.Query().Get("since"); s != "" {
		d, err := parseDays(s)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		since = h.opts.Now().Add(-d)
	}
	is, err := h.opts.Store.ModelInstances(r.Context(), since)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"instances": is})
}

type reasonBody struct {
	Reason string `json:"reason"`
	By     string `json:"by"`
}

func (h *handler) removeDeployment(w http.ResponseWriter, r *http.Request) {
	if !h.needRollouts(w) {
		return
	}
	var body reasonBody
	if !decode(w, r, &body) {
		return
	}
	d, err := h.opts.Rollouts.RemoveChallenger(r.Context(), r.PathValue("id"), who(r, body.By), body.Reason)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (h *handler) commands(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, err := parseLimit(q.Get("limit"), 500, 5000)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	cs, err := h.opts.Store.Commands(r.Context(), store.CommandFilter{Gateway: q.Get("gateway"), Status: q.Get("status"), Limit: limit})
	if err != nil {
		h.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"commands": cs})
}

// splitTargets separates "type:X" entries from asset names.
func splitTargets(targets []string, machineType string) ([]string, string, error) {
	var assets []string
	for _, t := range targets {
		if typ, ok := strings.CutPrefix(t, "type:"); ok {
			if machineType != "" && machineType != typ {
				return nil, "", fmt.Errorf("targets: more than one machine type")
			}
			machineType = typ
			continue
		}
		assets = append(assets, t)
	}
	return assets, machineType, nil
}

func (h *handler) challengers(w http.ResponseWriter, r *http.Request) {
	if !h.needRollouts(w) {
		return
	}
	var req rollout.ChallengerRequest
	if !decode(w, r, &req) {
		return
	}
	var err error
	if req.Targets, req.MachineType, err = splitTargets(req.Targets, req.MachineType); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	req.By = who(r, req.By)
	ds, err := h.opts.Rollouts.Challengers(r.Context(), req)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.log.Info("challengers deployed", "kind", req.Kind, "assets", len(ds), "by", req.By)
	writeJSON(w, http.StatusCreated, map[string]any{"deployments": ds})
}

// uploadSnapshot stores raw snapshot bytes. A body that decodes as a CBOR
// wire.Snapshot is unwrapped: its data is stored and its fields fill the
// description; query parameters (kind, parent, gateway, machine, samples)
// fill or override it.
func (h *handler) uploadSnapshot(w http.ResponseWriter, r *http.Request) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxSnapshotUpload+64<<10))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "snapshot: "+err.Error())
		return
	}
	if len(data) == 0 {
		writeError(w, http.StatusBadRequest, "snapshot: empty body")
		return
	}
	var info store.SnapshotInfo
	var sn wire.Snapshot
	if err := wire.Unmarshal(data, &sn); err == nil && len(sn.Data) > 0 {
		data = sn.Data
		info = store.SnapshotInfo{Gateway: sn.Env.Sender, Machine: sn.Machine, Model: sn.Model, Role: sn.Role, Parent: sn.Parent, Samples: int64(sn.Samples)}
	}
	if len(data) > MaxSnapshotUpload {
		writeError(w, http.StatusRequestEntityTooLarge, "snapshot: over "+strconv.Itoa(MaxSnapshotUpload)+" bytes")
		return
	}
	q := r.URL.Query()
	for key, dst := range map[string]*string{"kind": &info.Model, "parent": &info.Parent, "gateway": &info.Gateway, "machine": &info.Machine} {
		if v := q.Get(key); v != "" {
			*dst = v
		}
	}
	if v := q.Get("samples"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, "samples: want a whole number")
			return
		}
		info.Samples = n
	}
	if info.Model == "" {
		writeError(w, http.StatusBadRequest, "kind: required (query parameter) for raw snapshot bytes")
		return
	}
	info, err = h.opts.Store.PutSnapshot(r.Context(), info, data, who(r, ""), h.opts.Now())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, info)
}

func (h *handler) snapshots(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, err := parseLimit(q.Get("limit"), 100, 1000)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ss, err := h.opts.Store.Snapshots(r.Context(), store.SnapshotFilter{Gateway: q.Get("gateway"), Machine: q.Get("machine"),
		Model: q.Get("kind"), Limit: limit})
	if err != nil {
		h.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"snapshots": ss})
}

func (h *handler) snapshot(w http.ResponseWriter, r *http.Request) {
	info, _, err := h.opts.Store.SnapshotData(r.Context(), r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

func (h *handler) snapshotData(w http.ResponseWriter, r *http.Request) {
	_, data, err := h.opts.Store.SnapshotData(r.Context(), r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	_, _ = w.Write(data)
}

func (h *handler) lineage(w http.ResponseWriter, r *http.Request) {
	l, err := h.opts.Store.SnapshotLineage(r.Context(), r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, l)
}

func (h *handler) promote(w http.ResponseWriter, r *http.Request) {
	if !h.needRollouts(w) {
		return
	}
	var req rollout.PromotionRequest
	if !decode(w, r, &req) {
		return
	}
	var err error
	if req.Targets, req.MachineType, err = splitTargets(req.Targets, req.MachineType); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	req.By = who(r, req.By)
	ro, err := h.opts.Rollouts.Promote(r.Context(), req)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.log.Info("promotion started", "rollout", ro.ID, "kind", ro.Kind, "assets", len(ro.Assets), "by", req.By)
	writeJSON(w, http.StatusCreated, ro)
}

func (h *handler) rollouts(w http.ResponseWriter, r *http.Request) {
	if !h.needRollouts(w) {
		return
	}
	rs, err := h.opts.Rollouts.Rollouts(r.Context(), r.URL.Query().Get("status"))
	if err != nil {
		h.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"rollouts": rs})
}

func (h *handler) rolloutByID(w http.ResponseWriter, r *http.Request) {
	if !h.needRollouts(w) {
		return
	}
	ro, err := h.opts.Rollouts.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ro)
}

func (h *handler) rollback(w http.ResponseWriter, r *http.Request) {
	if !h.needRollouts(w) {
		return
	}
	var body reasonBody
	if !decode(w, r, &body) {
		return
	}
	ro, err := h.opts.Rollouts.Rollback(r.Context(), r.PathValue("id"), who(r, body.By), body.Reason)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ro)
}

// compareOptions reads from/to (RFC 3339), since (duration back from now,
// "d" allowed: 30d), fault_weight, min_days, min_discordant and alpha.
func (h *handler) compareOptions(r *http.Request) (ab.Options, error) {
	q := r.URL.Query()
	o := ab.Options{Now: h.opts.Now, Seed: 1}
	now := h.opts.Now()
	if s := q.Get("to"); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return o, errors.New("to: want an RFC 3339 time")
		}
		o.To = t
	} else {
		o.To = now
	}
	if s := q.Get("from"); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return o, errors.New("from: want an RFC 3339 time")
		}
		o.From = t
	} else if s := q.Get("since"); s != "" {
		d, err := parseDays(s)
		if err != nil {
			return o, err
		}
		o.From = o.To.Add(-d)
	}
	if !o.From.IsZero() && !o.From.Before(o.To) {
		return o, errors.New("from: must be before to")
	}
	for key, dst := range map[string]*float64{"fault_weight": &o.FaultWeight, "min_days": &o.MinDays, "alpha": &o.Alpha} {
		if s := q.Get(key); s != "" {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil || v <= 0 {
				return o, errors.New(key + ": want a positive number")
			}
			*dst = v
		}
	}
	if s := q.Get("min_discordant"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil || v == 0 {
			return o, errors.New("min_discordant: want a positive whole number")
		}
		o.MinDiscordant = v
	}
	return o, nil
}

// parseDays is time.ParseDuration that also takes whole days ("30d").
func parseDays(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		d, err := strconv.Atoi(n)
		if err == nil && d > 0 && d <= 3650 {
			return time.Duration(d) * 24 * time.Hour, nil
		}
	} else if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return d, nil
	}
	return 0, errors.New("since: want a duration back from now (30d, 12h)")
}

func (h *handler) compare(w http.ResponseWriter, r *http.Request) {
	o, err := h.compareOptions(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	rep, err := ab.Compare(r.Context(), h.opts.Store, r.PathValue("gw"), r.PathValue("machine"), o)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

func (h *handler) compareGroup(w http.ResponseWriter, r *http.Request) {
	by := r.URL.Query().Get("group")
	if by != ab.ByType && by != ab.BySite {
		writeError(w, http.StatusBadRequest, "group: want type or site")
		return
	}
	o, err := h.compareOptions(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	gs, err := ab.Group(r.Context(), h.opts.Store, h.opts.Store, by, o)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"group": by, "groups": gs})
}

func (h *handler) audit(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, err := parseLimit(q.Get("limit"), 100, 1000)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	var before int64
	if s := q.Get("before"); s != "" {
		if before, err = strconv.ParseInt(s, 10, 64); err != nil || before < 1 {
			writeError(w, http.StatusBadRequest, "before: want an entry id")
			return
		}
	}
	es, err := h.opts.Store.Audit(r.Context(), store.AuditFilter{Subject: q.Get("subject"), Action: q.Get("action"), Before: before, Limit: limit})
	if err != nil {
		h.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": es})
}

func (h *handler) feedback(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Label string `json:"label"`
		Note  string `json:"note"`
		By    string `json:"by"`
	}
	if !decode(w, r, &body) {
		return
	}
	f, err := h.opts.Store.AddFeedback(r.Context(), store.Feedback{AlertID: r.PathValue("id"), Label: body.Label, Note: body.Note,
		Who: who(r, body.By)}, h.opts.Now())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, f)
}

func (h *handler) feedbacks(w http.ResponseWriter, r *http.Request) {
	fs, err := h.opts.Store.Feedbacks(r.Context(), r.PathValue("id"))
	if err != nil {
		h.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"feedback": fs})
}

func (h *handler) resolve(w http.ResponseWriter, r *http.Request) {
	var body reasonBody
	if !decode(w, r, &body) {
		return
	}
	a, err := h.opts.Store.ResolveAlert(r.Context(), r.PathValue("id"), who(r, body.By), h.opts.Now())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a)
}
