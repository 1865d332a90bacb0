package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"millwright/hub/api"
	"millwright/hub/rollout"
	"millwright/hub/store"
	"millwright/wire"
)

// registryServer is the fixture store (gateway gw1 with pump m1 and fan
// m2, champion hst) behind an API with a rollout manager.
func registryServer(t *testing.T) (*httptest.Server, *store.Store) {
	t.Helper()
	st := fixture(t)
	m, err := rollout.New(rollout.Options{Store: st, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.New(api.Options{Store: st, Rollouts: m, Now: func() time.Time { return now }}))
	t.Cleanup(srv.Close)
	return srv, st
}

func send(t *testing.T, method, url, contentType string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("X-User", "ana")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestRegistryFlow(t *testing.T) {
	srv, _ := registryServer(t)
	u := srv.URL + "/api/v1"
	mustCode := func(want, got int, body string) {
		t.Helper()
		if got != want {
			t.Fatalf("status %d, want %d: %s", got, want, body)
		}
	}

	// Snapshot upload: raw bytes with ?kind, then a wrapped wire.Snapshot.
	code, body := send(t, "POST", u+"/snapshots?kind=rrcf&samples=500", "application/octet-stream", []byte("warm-state"))
	mustCode(201, code, body)
	var snap store.SnapshotInfo
	decode(t, body, &snap)
	if snap.ID != store.SnapshotID([]byte("warm-state")) || snap.Samples != 500 || snap.Source != store.SourceUpload {
		t.Fatalf("uploaded = %+v", snap)
	}
	wrapped, _ := wire.Marshal(&wire.Snapshot{Env: wire.Envelope{Version: 1, Sender: "replay"}, Model: "rrcf", Parent: snap.ID, Samples: 900, Data: []byte("child")})
	code, body = send(t, "POST", u+"/snapshots", "application/cbor", wrapped)
	mustCode(201, code, body)
	code, body = send(t, "POST", u+"/snapshots", "", []byte("no kind"))
	mustCode(400, code, body)
	code, body = send(t, "GET", u+"/snapshots/"+snap.ID+"/lineage", "", nil)
	mustCode(200, code, body)
	var lin store.Lineage
	decode(t, body, &lin)
	if len(lin.Descendants) != 1 || lin.Descendants[0].Samples != 900 {
		t.Fatalf("lineage = %+v", lin)
	}
	code, body = send(t, "GET", u+"/snapshots/"+snap.ID+"/data", "", nil)
	if code != 200 || body != "warm-state" {
		t.Fatalf("data = %d %q", code, body)
	}

	// Challengers: by machine type, with the warm start.
	req, _ := json.Marshal(map[string]any{"kind": "rrcf", "settings": map[string]float64{"trees": 20}, "snapshot_id": snap.ID, "targets": []string{"type:pump"}})
	code, body = send(t, "POST", u+"/challengers", "application/json", req)
	mustCode(201, code, body)
	var ch struct{ Deployments []store.Deployment }
	decode(t, body, &ch)
	if len(ch.Deployments) != 1 || ch.Deployments[0].Machine != "m1" || ch.Deployments[0].By != "ana" || ch.Deployments[0].Status != store.DeployPending {
		t.Fatalf("challengers = %+v", ch)
	}
	for _, bad := range []string{`{"kind":"rrcf","targets":["nope"]}`, `{"kind":"","targets":["m1"]}`, `{"kind":"rrcf","bogus":1}`, `{"kind":"rrcf","snapshot_id":"nope","targets":["m1"]}`} {
		code, body = send(t, "POST", u+"/challengers", "application/json", []byte(bad))
		mustCode(400, code, body)
	}
	code, body = send(t, "GET", u+"/commands?gateway=gw1", "", nil)
	mustCode(200, code, body)
	if !strings.Contains(body, `"status":"queued"`) {
		t.Fatalf("commands = %s", body)
	}

	// Promote the challenger on its asset, then roll back by hand.
	code, body = send(t, "POST", u+"/promotions", "application/json", []byte(`{"deployment":"`+ch.Deployments[0].ID+`","reason":"won"}`))
	mustCode(201, code, body)
	var ro rollout.Rollout
	decode(t, body, &ro)
	if ro.Status != rollout.StatusRunning || ro.Kind != "rrcf" || len(ro.Assets) != 1 {
		t.Fatalf("rollout = %+v", ro)
	}
	code, body = send(t, "GET", u+"/rollouts", "", nil)
	mustCode(200, code, body)
	if !strings.Contains(body, ro.ID) {
		t.Fatalf("rollouts = %s", body)
	}
	code, body = send(t, "POST", u+"/rollouts/"+ro.ID+"/rollback", "application/json", []byte(`{"reason":"test"}`))
	mustCode(200, code, body)
	code, body = send(t, "POST", u+"/rollouts/"+ro.ID+"/rollback", "application/json", nil)
	mustCode(409, code, body)
	code, body = send(t, "POST", u+"/rollouts/nope/rollback", "application/json", nil)
	mustCode(404, code, body)
	code, body = send(t, "POST", u+"/promotions", "application/json", []byte(`{"kind":"rrcf","targets":["type:none"]}`))
	mustCode(400, code, body)

	code, body = send(t, "PUT", u+"/models/hst", "application/json", []byte(`{"settings":{"trees":25}}`))
	mustCode(200, code, body)
	code, body = send(t, "PUT", u+"/models/bad%20kind", "application/json", nil)
	mustCode(400, code, body)

	// Feedback and resolve, then the audit log shows every change.
	code, body = send(t, "POST", u+"/alerts/al-1/feedback", "application/json", []byte(`{"label":"real_fault","note":"bearing"}`))
	mustCode(201, code, body)
	code, body = send(t, "POST", u+"/alerts/al-1/feedback", "application/json", []byte(`{"label":"meh"}`))
	mustCode(400, code, body)
	code, body = send(t, "POST", u+"/alerts/none/feedback", "application/json", []byte(`{"label":"unsure"}`))
	mustCode(404, code, body)
	code, body = send(t, "POST", u+"/alerts/al-1/resolve", "application/json", nil)
	mustCode(200, code, body)
	if !strings.Contains(body, `"status":"resolved"`) {
		t.Fatalf("resolve = %s", body)
	}
	code, body = send(t, "GET", u+"/audit?limit=100", "", nil)
	mustCode(200, code, body)
	var au struct{ Entries []store.AuditEntry }
	decode(t, body, &au)
	seen := map[string]string{}
	for _, e := range au.Entries {
		seen[e.Action] = e.Actor
	}
	for _, a := range []string{"snapshot.upload", "deploy.challenger", "deploy.champion", "rollout.start", "rollout.rollback",
		"alert.feedback", "alert.resolve", "model.put"} {
		if _, ok := seen[a]; !ok {
			t.Errorf("audit has no %s entry: %v", a, seen)
		}
	}
	if seen["alert.feedback"] != "ana" || seen["deploy.challenger"] != "ana" {
		t.Errorf("audit actors = %v, want ana", seen)
	}
	code, body = send(t, "GET", u+"/audit?subject=alert/*", "", nil)
	mustCode(200, code, body)
	decode(t, body, &au)
	if len(au.Entries) != 2 {
		t.Errorf("alert audit = %+v", au.Entries)
	}

	// Registry views.
	for path, want := range map[string]string{
		"/sites":                         `"machine":"m1"`,
		"/models":                        `"kind":"hst"`,
		"/deployments?active=1":          `"role":"champion"`,
		"/snapshots?kind=rrcf":           snap.ID,
		"/alerts/al-1/feedback":          `"label":"real_fault"`,
		"/compare/gw1/m1?since=30d":      `"role":"champion"`,
		"/compare?group=type":            `"groups":[]`,
		"/instances":                     `"instances":[]`,
		"/compare?group=site&min_days=1": `"groups"`,
	} {
		code, body = send(t, "GET", u+path, "", nil)
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("GET %s = %d %s, want %s", path, code, body, want)
		}
	}
	for _, path := range []string{"/compare?group=line", "/compare/gw1/m1?since=forever", "/compare/gw1/m1?alpha=-1", "/audit?before=x"} {
		if code, body = send(t, "GET", u+path, "", nil); code != 400 {
			t.Errorf("GET %s = %d %s, want 400", path, code, body)
		}
	}
}

func TestRolloutEndpointsWithoutManager(t *testing.T) {
	srv := newServer(t, fixture(t), nil)
	for _, p := range []string{"/api/v1/rollouts"} {
		if code, body := do(t, "GET", srv.URL+p); code != 503 {
			t.Errorf("GET %s = %d %s, want 503", p, code, body)
		}
	}
}

// TestOpenAPIListsRoutes keeps openapi.yaml in step with the registry routes.
func TestOpenAPIListsRoutes(t *testing.T) {
	b, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI string                    `yaml:"openapi"`
		Paths   map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	for _, r := range []struct{ method, path string }{
		{"post", "/alerts/{id}/feedback"}, {"post", "/alerts/{id}/resolve"}, {"get", "/sites"}, {"get", "/models"},
		{"put", "/models/{kind}"}, {"get", "/deployments"}, {"post", "/deployments/{id}/remove"}, {"get", "/instances"},
		{"get", "/commands"}, {"post", "/challengers"}, {"post", "/snapshots"}, {"get", "/snapshots"},
		{"get", "/snapshots/{id}/lineage"}, {"post", "/promotions"}, {"get", "/rollouts"}, {"get", "/rollouts/{id}"},
		{"post", "/rollouts/{id}/rollback"}, {"get", "/compare/{gw}/{machine}"}, {"get", "/compare"}, {"get", "/audit"},
		{"post", "/login"}, {"get", "/session"}, {"post", "/logout"}, {"get", "/users"}, {"put", "/users/{name}"},
		{"delete", "/users/{name}"}, {"get", "/tokens"}, {"post", "/tokens"}, {"delete", "/tokens/{id}"}, {"get", "/stream"},
		{"get", "/machines"}, {"get", "/alerts"}, {"get", "/alerts/{id}"}, {"post", "/alerts/{id}/ack"},
	} {
		if _, ok := doc.Paths[r.path][r.method]; !ok {
			t.Errorf("openapi.yaml has no %s %s", r.method, r.path)
		}
	}
}
