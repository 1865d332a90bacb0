package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"millwright/hub/api"
	"millwright/hub/auth"
	"millwright/hub/store"
)

// authServer is the fixture's API behind a login, with one user per role
// (password "<role>-password") and nothing behind the rollout endpoints.
func authServer(t *testing.T) (*httptest.Server, *auth.Manager, *store.Store) {
	t.Helper()
	st := fixture(t)
	m, err := auth.New(auth.Options{Store: st, Params: auth.Params{Time: 1, Memory: 64, Threads: 1, SaltLen: 16, KeyLen: 32},
		UserLimit: auth.RateLimit{Burst: 3, Every: time.Hour}, AddrLimit: auth.RateLimit{Burst: 1000, Every: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range auth.Roles() {
		if err := m.SetPassword(t.Context(), r.String(), r, r.String()+"-password", "test"); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(api.New(api.Options{Store: st, Auth: m, Now: func() time.Time { return now }}))
	t.Cleanup(srv.Close)
	return srv, m, st
}

// client is a browser-like client: a cookie jar, and the CSRF token of
// its session sent on changes unless noCSRF.
type client struct {
	t      *testing.T
	base   string
	hc     *http.Client
	csrf   string
	bearer string
	origin string
	noCSRF bool
}

func newClient(t *testing.T, base string) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, base: base, hc: &http.Client{Jar: jar}}
}

func (c *client) do(method, path string, body any) (int, map[string]any) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(c.t.Context(), method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.csrf != "" && !c.noCSRF {
		req.Header.Set(auth.CSRFHeader, c.csrf)
	}
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	if c.origin != "" {
		req.Header.Set("Origin", c.origin)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var v map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&v)
	return resp.StatusCode, v
}

func (c *client) login(name, pw string) int {
	c.t.Helper()
	code, v := c.do("POST", "/api/v1/login", map[string]string{"name": name, "password": pw})
	if code == http.StatusOK {
		c.csrf, _ = v["csrf"].(string)
		if v["name"] != name || c.csrf == "" {
			c.t.Fatalf("login body %v", v)
		}
	}
	return code
}

func loggedIn(t *testing.T, base string, role auth.Role) *client {
	t.Helper()
	c := newClient(t, base)
	if code := c.login(role.String(), role.String()+"-password"); code != http.StatusOK {
		t.Fatalf("login %s: %d", role, code)
	}
	return c
}

// TestRoles walks every kind of route as every role: reads need a login,
// technicians and up work alerts, operators and up change models and
// rollouts, admins manage users and tokens.
func TestRoles(t *testing.T) {
	srv, _, st := authServer(t)
	clients := map[auth.Role]*client{}
	for _, r := range auth.Roles() {
		clients[r] = loggedIn(t, srv.URL, r)
	}
	anon := newClient(t, srv.URL)
	// Operators get 503 (no rollout manager in this fixture) where the
	// change itself would run: past the role check.
	tests := []struct {
		method, path string
		body         any
		need         auth.Role
		ok           int
	}{
		{"GET", "/api/v1/status", nil, auth.Viewer, 200},
		{"GET", "/api/v1/machines", nil, auth.Viewer, 200},
		{"GET", "/api/v1/alerts", nil, auth.Viewer, 200},
		{"GET", "/api/v1/alerts/al-1", nil, auth.Viewer, 200},
		{"GET", "/api/v1/audit", nil, auth.Viewer, 200},
		{"GET", "/metrics", nil, auth.Viewer, 200},
		{"POST", "/api/v1/alerts/al-2/ack", map[string]any{}, auth.Technician, 200},
		{"POST", "/api/v1/alerts/al-2/feedback", map[string]any{"label": "unsure"}, auth.Technician, 201},
		{"POST", "/api/v1/alerts/al-2/resolve", map[string]any{}, auth.Technician, 200},
		{"PUT", "/api/v1/models/hst", map[string]any{"settings": map[string]float64{"trees": 25}}, auth.Operator, 200},
		{"POST", "/api/v1/challengers", map[string]any{"kind": "hst", "targets": []string{"gw1/m1"}}, auth.Operator, 503},
		{"POST", "/api/v1/promotions", map[string]any{"deployment": "dep-1"}, auth.Operator, 503},
		{"POST", "/api/v1/rollouts/ro-1/rollback", map[string]any{}, auth.Operator, 503},
		{"POST", "/api/v1/deployments/dep-1/remove", map[string]any{}, auth.Operator, 503},
		{"GET", "/api/v1/users", nil, auth.Admin, 200},
		{"GET", "/api/v1/tokens", nil, auth.Admin, 200},
		{"PUT", "/api/v1/users/newbie", map[string]any{"role": "viewer", "password": "newbie-password"}, auth.Admin, 200},
	}
	for _, tt := range tests {
		if code, body := anon.do(tt.method, tt.path, tt.body); code != http.StatusUnauthorized {
			t.Errorf("anonymous %s %s = %d %v, want 401", tt.method, tt.path, code, body)
		}
		for _, r := range auth.Roles() {
			code, body := clients[r].do(tt.method, tt.path, tt.body)
			want := tt.ok
			if r < tt.need {
				want = http.StatusForbidden
			}
			if code != want {
				t.Errorf("%s: %s %s = %d %v, want %d", r, tt.method, tt.path, code, body, want)
			}
			if want == http.StatusForbidden && !strings.Contains(body["error"].(string), "needs the "+tt.need.String()+" role") {
				t.Errorf("%s: %s %s: refusal %q does not name the role", r, tt.method, tt.path, body["error"])
			}
		}
	}
	// Changes are audited under the logged-in user, whatever the body says.
	es, err := st.Audit(t.Context(), store.AuditFilter{Subject: "alert/al-2", Action: "alert.ack"})
	if err != nil || len(es) != 1 || es[0].Actor != "technician" {
		t.Fatalf("ack audit = %+v, %v; want the technician's ack", es, err)
	}
	fs, _ := st.Feedbacks(t.Context(), "al-2")
	for _, f := range fs {
		if f.Who != "technician" && f.Who != "operator" && f.Who != "admin" {
			t.Errorf("feedback by %q, want a logged-in user", f.Who)
		}
	}
}

func TestCSRF(t *testing.T) {
	srv, _, st := authServer(t)
	c := loggedIn(t, srv.URL, auth.Technician)
	c.noCSRF = true
	code, body := c.do("POST", "/api/v1/alerts/al-1/ack", map[string]any{})
	if code != http.StatusForbidden || !strings.Contains(body["error"].(string), "CSRF") {
		t.Fatalf("ack without CSRF token = %d %v, want 403 naming CSRF", code, body)
	}
	if a, _ := st.Alert(t.Context(), "al-1"); a.Status != store.StatusOpen {
		t.Fatalf("the refused ack changed the alert to %s", a.Status)
	}
	// Another session's token does not do.
	other := loggedIn(t, srv.URL, auth.Technician)
	c.noCSRF, c.csrf = false, other.csrf
	if code, _ := c.do("POST", "/api/v1/alerts/al-1/ack", map[string]any{}); code != http.StatusForbidden {
		t.Fatalf("ack with another session's token = %d", code)
	}
	// Reads need none.
	c.noCSRF = true
	if code, _ := c.do("GET", "/api/v1/alerts", nil); code != http.StatusOK {
		t.Fatalf("GET without token = %d", code)
	}
	// A foreign Origin is refused even with the token; so is a cross-site login.
	c = loggedIn(t, srv.URL, auth.Technician)
	c.origin = "http://evil.example"
	if code, body := c.do("POST", "/api/v1/alerts/al-1/ack", map[string]any{}); code != http.StatusForbidden {
		t.Fatalf("cross-origin ack = %d %v", code, body)
	}
	if code := c.login("technician", "technician-password"); code != http.StatusForbidden {
		t.Fatalf("cross-origin login = %d", code)
	}
	c.origin = srv.URL
	if code, _ := c.do("POST", "/api/v1/alerts/al-1/ack", map[string]any{}); code != http.StatusOK {
		t.Fatalf("same-origin ack = %d", code)
	}
	// Logout needs the token too, and ends the session.
	c.noCSRF = true
	if code, _ := c.do("POST", "/api/v1/logout", nil); code != http.StatusForbidden {
		t.Fatalf("logout without token = %d", code)
	}
	c.noCSRF = false
	if code, _ := c.do("POST", "/api/v1/logout", nil); code != http.StatusNoContent {
		t.Fatalf("logout = %d", code)
	}
	if code, v := c.do("GET", "/api/v1/session", nil); code != 200 || v["authenticated"] != false || v["auth"] != "required" {
		t.Fatalf("session after logout = %d %v", code, v)
	}
}

func TestLoginEndpoint(t *testing.T) {
	srv, _, _ := authServer(t)
	c := newClient(t, srv.URL)
	if code := c.login("viewer", "nope-nope-nope"); code != http.StatusUnauthorized {
		t.Fatalf("wrong password = %d", code)
	}
	c.login("viewer", "nope-nope-nope")
	c.login("viewer", "nope-nope-nope")
	code, body := c.do("POST", "/api/v1/login", map[string]string{"name": "viewer", "password": "viewer-password"})
	if code != http.StatusTooManyRequests || !strings.Contains(body["error"].(string), "too many login attempts") {
		t.Fatalf("4th login = %d %v, want 429", code, body)
	}
	if code := c.login("admin", "admin-password"); code != http.StatusOK {
		t.Fatalf("another user is locked out too: %d", code)
	}
	if code, v := c.do("GET", "/api/v1/session", nil); code != 200 || v["name"] != "admin" || v["role"] != "admin" || v["csrf"] == "" {
		t.Fatalf("session = %d %v", code, v)
	}
}

func TestTokensEndpoints(t *testing.T) {
	srv, _, st := authServer(t)
	admin := loggedIn(t, srv.URL, auth.Admin)
	code, v := admin.do("POST", "/api/v1/tokens", map[string]any{"name": "ci", "role": "technician", "ttl": "30d"})
	secret, _ := v["token"].(string)
	if code != http.StatusCreated || !strings.HasPrefix(secret, "mwt_") || v["role"] != "technician" {
		t.Fatalf("create token = %d %v", code, v)
	}
	// Listed without the secret.
	_, list := admin.do("GET", "/api/v1/tokens", nil)
	if b, _ := json.Marshal(list); strings.Contains(string(b), secret) || !strings.Contains(string(b), `"ci"`) {
		t.Fatalf("token list %s leaks the secret or lacks the token", b)
	}
	bot := newClient(t, srv.URL)
	bot.bearer = secret
	if code, _ := bot.do("POST", "/api/v1/alerts/al-1/ack", map[string]any{}); code != http.StatusOK {
		t.Fatalf("bearer ack (no CSRF token) = %d", code)
	}
	if code, _ := bot.do("POST", "/api/v1/promotions", map[string]any{}); code != http.StatusForbidden {
		t.Fatalf("technician token promoting = %d", code)
	}
	if es, _ := st.Audit(t.Context(), store.AuditFilter{Subject: "alert/al-1"}); len(es) == 0 || es[0].Actor != "token:ci" {
		t.Fatalf("audit %+v, want the token named", es)
	}
	if code, _ := admin.do("DELETE", "/api/v1/tokens/"+v["id"].(string), nil); code != http.StatusNoContent {
		t.Fatalf("revoke = %d", code)
	}
	if code, _ := bot.do("GET", "/api/v1/status", nil); code != http.StatusUnauthorized {
		t.Fatalf("revoked token = %d", code)
	}
	// Users: an admin makes one, it logs in; an admin cannot delete themself.
	if code, _ := admin.do("PUT", "/api/v1/users/sam", map[string]any{"role": "technician", "password": "short"}); code != http.StatusBadRequest {
		t.Fatalf("weak password = %d", code)
	}
	if code, _ := admin.do("PUT", "/api/v1/users/sam", map[string]any{"role": "technician", "password": "sam-password-1"}); code != http.StatusOK {
		t.Fatalf("create sam = %d", code)
	}
	if code := newClient(t, srv.URL).login("sam", "sam-password-1"); code != http.StatusOK {
		t.Fatalf("sam login = %d", code)
	}
	if code, _ := admin.do("DELETE", "/api/v1/users/admin", nil); code != http.StatusConflict {
		t.Fatalf("delete self = %d", code)
	}
	if code, _ := admin.do("DELETE", "/api/v1/users/sam", nil); code != http.StatusNoContent {
		t.Fatalf("delete sam = %d", code)
	}
}

// TestOpenHub: without Options.Auth the API stays open and says so.
func TestOpenHub(t *testing.T) {
	srv := newServer(t, fixture(t), nil)
	c := newClient(t, srv.URL)
	if code, v := c.do("GET", "/api/v1/session", nil); code != 200 || v["auth"] != "off" || v["role"] != "admin" {
		t.Fatalf("session on an open hub = %d %v", code, v)
	}
	if code, _ := c.do("POST", "/api/v1/alerts/al-1/ack", map[string]any{}); code != http.StatusOK {
		t.Fatalf("open ack = %d", code)
	}
	if code := c.login("x", "y"); code != http.StatusConflict {
		t.Fatalf("login on an open hub = %d", code)
	}
}
