package api_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"millwright/hub/api"
	"millwright/hub/ingest"
	"millwright/hub/store"
	"millwright/wire"
)

var now = time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)

type fakeStats struct{ s ingest.Stats }

func (f fakeStats) Stats() ingest.Stats { return f.s }

// fixture is a store with one gateway, two machines, metrics and two alerts.
func fixture(t *testing.T) *store.Store {
	t.Helper()
	ctx := t.Context()
	st, err := store.Open(ctx, t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := func(seq uint64, at time.Time) wire.Envelope {
		return wire.Envelope{Version: wire.Version, Sender: "gw1", Seq: seq, Time: at.UnixNano()}
	}
	must := func(_ bool, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.IngestBirth(ctx, &wire.Birth{Env: e(1, now), AgentVersion: "v0", Machines: []wire.MachineInfo{
		{ID: "m1", Type: "pump"}, {ID: "m2", Type: "fan"}}}, now))
	for i, at := range []time.Time{now.Add(-2 * time.Hour), now.Add(-30 * time.Minute), now.Add(-time.Minute)} {
		must(st.IngestMetrics(ctx, &wire.Metrics{Env: e(uint64(10+i), at), Series: []wire.ModelMetric{
			{Machine: "m1", Model: "hst", Role: wire.RoleChampion, ScoreLast: float64(i) / 10, Threshold: 0.9}}}, now))
	}
	must(st.IngestAlert(ctx, &wire.Alert{Env: e(20, now.Add(-time.Minute)), ID: "al-1", Machine: "m1", Model: "hst",
		Severity: wire.SeverityCritical, Score: 0.95, Threshold: 0.9}, now))
	must(st.IngestAlert(ctx, &wire.Alert{Env: e(21, now.Add(-2*time.Minute)), ID: "al-2", Machine: "m2", Model: "hst",
		Severity: wire.SeverityWarning, Score: 0.91, Threshold: 0.9}, now))
	must(st.IngestDrift(ctx, &wire.Drift{Env: e(22, now.Add(-3*time.Minute)), Machine: "m1", Model: "hst", Role: wire.RoleChampion,
		Detector: "adwin", Signal: "score", Before: 0.1, After: 0.5, Samples: 300}, now))
	return st
}

func newServer(t *testing.T, st *store.Store, ready func() error) *httptest.Server {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "test_counter_total", Help: "x"}))
	srv := httptest.NewServer(api.New(api.Options{
		Store:    st,
		Ingest:   fakeStats{ingest.Stats{Ingested: 42, Rejected: 3}},
		Ready:    ready,
		Gatherer: reg,
		UI:       http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ui") }),
		Now:      func() time.Time { return now },
	}))
	t.Cleanup(srv.Close)
	return srv
}

func do(t *testing.T, method, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestEndpoints(t *testing.T) {
	srv := newServer(t, fixture(t), nil)
	tests := []struct {
		method, path string
		code         int
		check        func(t *testing.T, body string)
	}{
		{"GET", "/api/v1/status", 200, func(t *testing.T, body string) {
			var s api.Status
			decode(t, body, &s)
			if s.Gateways != 1 || s.GatewaysOnline != 1 || s.Machines != 2 || s.AlertsOpen != 2 || s.Ingested != 42 || s.Rejected != 3 || !s.Ready {
				t.Errorf("status = %+v", s)
			}
		}},
		{"GET", "/api/v1/gateways", 200, func(t *testing.T, body string) {
			var v struct{ Gateways []store.Gateway }
			decode(t, body, &v)
			if len(v.Gateways) != 1 || v.Gateways[0].ID != "gw1" || !v.Gateways[0].Online {
				t.Errorf("gateways = %+v", v)
			}
		}},
		{"GET", "/api/v1/machines", 200, func(t *testing.T, body string) {
			var v struct{ Machines []store.Machine }
			decode(t, body, &v)
			if len(v.Machines) != 2 || v.Machines[0].ID != "m1" || v.Machines[0].Score == nil || *v.Machines[0].Score != 0.2 || v.Machines[0].OpenAlerts != 1 {
				t.Errorf("machines = %+v", v)
			}
			if v.Machines[1].Score != nil {
				t.Errorf("m2 has no metrics but score %v", *v.Machines[1].Score)
			}
		}},
		{"GET", "/api/v1/machines/gw1/m1/metrics", 200, pointCount(2)}, // default: last hour
		{"GET", "/api/v1/machines/gw1/m1/metrics?since=3h", 200, pointCount(3)},
		{"GET", "/api/v1/machines/gw1/m1/metrics?since=" + now.Add(-5*time.Minute).Format(time.RFC3339), 200, pointCount(1)},
		{"GET", "/api/v1/machines/gw1/m1/metrics?since=3h&limit=1", 200, pointCount(1)},
		{"GET", "/api/v1/machines/gw1/nope/metrics", 200, pointCount(0)},
		{"GET", "/api/v1/machines/gw1/m1/metrics?since=yesterday", 400, contains("since")},
		{"GET", "/api/v1/machines/gw1/m1/metrics?limit=0", 400, contains("limit")},
		{"GET", "/api/v1/alerts?status=open", 200, alertIDs("al-1", "al-2")},
		{"GET", "/api/v1/drift?machine=m1", 200, contains(`"detector":"adwin"`)},
		{"GET", "/api/v1/drift?machine=m2", 200, contains(`"drift":[]`)},
		{"GET", "/api/v1/drift?since=never", 400, contains("since")},
		{"GET", "/api/v1/alerts?machine=m2", 200, alertIDs("al-2")},
		{"GET", "/api/v1/alerts?status=bogus", 400, contains("status")},
		{"POST", "/api/v1/alerts/al-1/ack", 200, contains(`"status":"acknowledged"`)},
		{"GET", "/api/v1/alerts?status=open", 200, alertIDs("al-2")},
		{"GET", "/api/v1/alerts?status=acknowledged", 200, alertIDs("al-1")},
		{"POST", "/api/v1/alerts/al-1/ack", 200, contains(`"status":"acknowledged"`)}, // idempotent
		{"POST", "/api/v1/alerts/none/ack", 404, contains("none")},
		{"GET", "/api/v1/nope", 404, contains("error")},
		{"DELETE", "/api/v1/alerts", 405, nil},
		{"GET", "/healthz", 200, contains("ok")},
		{"GET", "/readyz", 200, contains("ready")},
		{"GET", "/metrics", 200, contains("test_counter_total 0")},
		{"GET", "/", 200, contains("ui")},
	}
	for _, tt := range tests { // in order: the ack rows change later rows
		code, body := do(t, tt.method, srv.URL+tt.path)
		if code != tt.code {
			t.Errorf("%s %s = %d, want %d: %s", tt.method, tt.path, code, tt.code, body)
			continue
		}
		if tt.check != nil {
			t.Run(tt.method+" "+tt.path, func(t *testing.T) { tt.check(t, body) })
		}
	}
}

func TestProbesFail(t *testing.T) {
	st := fixture(t)
	srv := newServer(t, st, func() error { return errors.New("broker down") })
	if code, body := do(t, "GET", srv.URL+"/readyz"); code != 503 || !strings.Contains(body, "broker down") {
		t.Errorf("readyz = %d %s", code, body)
	}
	if code, body := do(t, "GET", srv.URL+"/api/v1/status"); code != 200 || !strings.Contains(body, `"ready":false`) {
		t.Errorf("status = %d %s", code, body)
	}
	st.Close()
	if code, _ := do(t, "GET", srv.URL+"/healthz"); code != 503 {
		t.Errorf("healthz with closed store = %d, want 503", code)
	}
	if code, body := do(t, "GET", srv.URL+"/api/v1/machines"); code != 500 || strings.Contains(body, "sql") {
		t.Errorf("machines with closed store = %d %s; want 500 without internals", code, body)
	}
}

func decode(t *testing.T, body string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
}

func contains(s string) func(*testing.T, string) {
	return func(t *testing.T, body string) {
		if !strings.Contains(body, s) {
			t.Errorf("body %s does not contain %q", body, s)
		}
	}
}

func pointCount(n int) func(*testing.T, string) {
	return func(t *testing.T, body string) {
		var v struct{ Points []store.MetricPoint }
		decode(t, body, &v)
		if len(v.Points) != n {
			t.Errorf("points = %d, want %d: %s", len(v.Points), n, body)
		}
		for i := 1; i < len(v.Points); i++ {
			if v.Points[i].Time.Before(v.Points[i-1].Time) {
				t.Errorf("points not oldest first: %s", body)
			}
		}
	}
}

func alertIDs(ids ...string) func(*testing.T, string) {
	return func(t *testing.T, body string) {
		var v struct{ Alerts []store.Alert }
		decode(t, body, &v)
		var got []string
		for _, a := range v.Alerts {
			got = append(got, a.ID)
		}
		if strings.Join(got, ",") != strings.Join(ids, ",") {
			t.Errorf("alerts = %v, want %v", got, ids)
		}
	}
}
