// Package api is the hub's HTTP interface: the JSON API under /api/v1, the
// health and readiness probes, Prometheus metrics and, when given, the web
// UI at /. API.md documents every endpoint.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"millwright/hub/auth"
	"millwright/hub/ingest"
	"millwright/hub/store"
)

// IngestStats reports the ingest pipeline's running totals.
type IngestStats interface {
	Stats() ingest.Stats
}

// Options configure New. Store is required.
type Options struct {
	Store *store.Store
	// Ingest, when set, adds message counts to /api/v1/status.
	Ingest IngestStats
	// Ready reports whether the broker and ingest are connected; nil means
	// always ready.
	Ready func() error
	// Gatherer serves /metrics; nil serves prometheus.DefaultGatherer.
	Gatherer prometheus.Gatherer
	// UI is served at / when set.
	UI     http.Handler
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Rollouts deploys challengers and runs promotions; nil answers those
	// endpoints with 503.
	Rollouts Rollouts
	// Auth, when set, requires a login session or API token on every API
	// route and checks the route's role and the session's CSRF token; nil
	// leaves the API open (every request acts as an admin), for tests
	// and in-process tools.
	Auth *auth.Manager
	// Stream, when set, serves GET /api/v1/stream (server-sent events).
	Stream *Stream
}

type handler struct {
	opts Options
	log  *slog.Logger
	mux  *http.ServeMux
}

// New returns the hub's HTTP handler.
func New(opts Options) http.Handler {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Gatherer == nil {
		opts.Gatherer = prometheus.DefaultGatherer
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	h := &handler{opts: opts, log: opts.Logger}
	mux := http.NewServeMux()
	h.mux = mux
	h.route("GET /api/v1/status", auth.Viewer, h.status)
	h.route("GET /api/v1/gateways", auth.Viewer, h.gateways)
	h.route("GET /api/v1/machines", auth.Viewer, h.machines)
	h.route("GET /api/v1/machines/{gw}/{id}/metrics", auth.Viewer, h.metrics)
	h.route("GET /api/v1/alerts", auth.Viewer, h.alerts)
	h.route("GET /api/v1/alerts/{id}", auth.Viewer, h.alert)
	h.route("POST /api/v1/alerts/{id}/ack", auth.Technician, h.ackAlert)
	h.route("GET /api/v1/drift", auth.Viewer, h.drift)
	h.route("GET /api/v1/models/stats", auth.Viewer, h.modelStatsHandler())
	h.route("GET /api/v1/stream", auth.Viewer, h.stream)
	h.registryRoutes()
	h.authRoutes()
	h.route("GET /api/", auth.Viewer, func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint")
	})
	mux.HandleFunc("GET /healthz", h.healthz)
	mux.HandleFunc("GET /readyz", h.readyz)
	h.route("GET /metrics", auth.Viewer, promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{}).ServeHTTP)
	if opts.UI != nil {
		mux.Handle("GET /", opts.UI)
	}
	return mux
}

// Status is the body of GET /api/v1/status.
type Status struct {
	store.Counts
	Ingested   uint64    `json:"ingested"`
	Duplicates uint64    `json:"duplicates"`
	Rejected   uint64    `json:"rejected"`
	Dropped    uint64    `json:"dropped"`
	Ready      bool      `json:"ready"`
	Time       time.Time `json:"time"`
}

func (h *handler) status(w http.ResponseWriter, r *http.Request) {
	c, err := h.opts.Store.Counts(r.Context())
	if err != nil {
		h.internal(w, r, err)
		return
	}
	st := Status{Counts: c, Ready: h.ready() == nil, Time: h.opts.Now().UTC()}
	if h.opts.Ingest != nil {
		s := h.opts.Ingest.Stats()
		st.Ingested, st.Duplicates, st.Rejected, st.Dropped = s.Ingested, s.Duplicates, s.Rejected, s.Dropped
	}
	writeJSON(w, http.StatusOK, st)
}

func (h *handler) gateways(w http.ResponseWriter, r *http.Request) {
	gws, err := h.opts.Store.Gateways(r.Context())
	if err != nil {
		h.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"gateways": gws})
}

func (h *handler) machines(w http.ResponseWriter, r *http.Request) {
	ms, err := h.opts.Store.Machines(r.Context())
	if err != nil {
		h.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"machines": ms})
}

const (
	defaultSince      = time.Hour
	defaultPointLimit = 1000
	maxPointLimit     = 10000
	defaultAlertLimit = 100
	maxAlertLimit     = 1000
)

func (h *handler) metrics(w http.ResponseWriter, r *http.Request) {
	gw, id := r.PathValue("gw"), r.PathValue("id")
	q := r.URL.Query()
	since, err := parseSince(q.Get("since"), h.opts.Now())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	limit, err := parseLimit(q.Get("limit"), defaultPointLimit, maxPointLimit)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	pts, err := h.opts.Store.MetricPoints(r.Context(), gw, id, since, limit)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"gateway": gw, "machine": id, "since": since.UTC(), "points": pts})
}

// parseSince reads an RFC 3339 time or a duration back from now; empty is
// one hour back.
func parseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return now.Add(-defaultSince), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, errors.New("since: want an RFC 3339 time (2026-01-02T15:04:05Z) or a duration back from now (15m)")
}

func parseLimit(s string, def, max int) (int, error) {
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > max {
		return 0, errors.New("limit: want a whole number from 1 to " + strconv.Itoa(max))
	}
	return n, nil
}

func (h *handler) alerts(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	status := q.Get("status")
	switch status {
	case "", store.StatusOpen, store.StatusAcknowledged, store.StatusResolved:
	default:
		writeError(w, http.StatusBadRequest, "status: want open, acknowledged or resolved")
		return
	}
	limit, err := parseLimit(q.Get("limit"), defaultAlertLimit, maxAlertLimit)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	as, err := h.opts.Store.Alerts(r.Context(), store.AlertFilter{
		Status: status, Gateway: q.Get("gateway"), Machine: q.Get("machine"), Limit: limit,
	})
	if err != nil {
		h.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"alerts": as})
}

func (h *handler) alert(w http.ResponseWriter, r *http.Request) {
	a, err := h.opts.Store.Alert(r.Context(), r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a)
}

func (h *handler) drift(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	since, err := parseSince(q.Get("since"), h.opts.Now())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	limit, err := parseLimit(q.Get("limit"), defaultAlertLimit, maxAlertLimit)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ds, err := h.opts.Store.Drifts(r.Context(), q.Get("gateway"), q.Get("machine"), since, limit)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	if ds == nil {
		ds = []store.Drift{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"drift": ds})
}

func (h *handler) ackAlert(w http.ResponseWriter, r *http.Request) {
	a, err := h.opts.Store.AckAlertBy(r.Context(), r.PathValue("id"), who(r, ""), h.opts.Now())
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "no alert with id "+strconv.Quote(r.PathValue("id")))
		return
	}
	if err != nil {
		h.internal(w, r, err)
		return
	}
	h.log.Info("alert acknowledged", "id", a.ID, "by", who(r, ""), "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, a)
}

func (h *handler) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := h.opts.Store.Ping(ctx); err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (h *handler) ready() error {
	if h.opts.Ready == nil {
		return nil
	}
	return h.opts.Ready()
}

func (h *handler) readyz(w http.ResponseWriter, r *http.Request) {
	if err := h.ready(); err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (h *handler) internal(w http.ResponseWriter, r *http.Request, err error) {
	h.log.Error("api request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	writeError(w, http.StatusInternalServerError, "internal error")
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}
