package ui_test

import (
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"millwright/hub/ui"
)

func get(t *testing.T, h http.Handler, path string) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	resp := rec.Result()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestEmbeddedAssets(t *testing.T) {
	h := ui.Handler("")
	tests := []struct {
		path, ctype string
		contains    []string
	}{
		{"/", "text/html", []string{`<script type="module" src="js/main.js">`, `href="app.css"`, `name="viewport"`, `href="#/alerts"`}},
		{"/js/main.js", "javascript", []string{"hashchange", "REFRESH_MS"}},
		{"/js/fleet.js", "javascript", []string{`get("machines")`, `get("gateways")`}},
		{"/js/machine.js", "javascript", []string{"/metrics?since=", "new EventSource(", "api/v1/stream"}},
		{"/js/api.js", "javascript", []string{"X-CSRF-Token", `"session"`, `"login"`}},
		{"/js/alerts.js", "javascript", []string{"/ack", `"feedback"`, `"resolve"`}},
		{"/js/live.js", "javascript", []string{"new EventSource(", "api/v1/stream", `"resync"`}},
		{"/js/ab.js", "javascript", []string{`"promotions"`, `"compare/"`}},
		{"/js/rollouts.js", "javascript", []string{"/rollback"}},
		{"/app.css", "text/css", []string{"@media"}},
		{"/vendor/uPlot.iife.min.js", "javascript", []string{"uPlot"}},
		{"/vendor/uPlot.min.css", "text/css", []string{".uplot"}},
		{"/vendor/uPlot.LICENSE", "text/plain", []string{"MIT"}},
	}
	for _, tt := range tests {
		resp, body := get(t, h, tt.path)
		if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Type"), tt.ctype) {
			t.Errorf("%s: %d %s", tt.path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		for _, s := range tt.contains {
			if !strings.Contains(body, s) {
				t.Errorf("%s does not contain %q", tt.path, s)
			}
		}
		if !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
			t.Errorf("%s: no CSP", tt.path)
		}
	}
	if resp, _ := get(t, h, "/nope.js"); resp.StatusCode != 404 {
		t.Errorf("missing asset: %d", resp.StatusCode)
	}
}

var importRe = regexp.MustCompile(`(?:from |import\()"\./([a-z]+\.js)"|import\("\./" \+ r\.page \+ "\.js"\)`)

// TestAssetsSelfContained walks every embedded file: nothing may load from
// another origin (the page must work offline on a plant network), every
// module a module imports must exist, and no file may grow past the
// house limit.
func TestAssetsSelfContained(t *testing.T) {
	dir := "assets"
	files := map[string]bool{}
	err := fs.WalkDir(os.DirFS(dir), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files[p] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	h := ui.Handler("")
	external := regexp.MustCompile(`(?:src|href)=["']?(?:https?:)?//|url\(["']?(?:https?:)?//|import\s*\(?\s*["']https?:`)
	for p := range files {
		_, body := get(t, h, "/"+p)
		if strings.HasPrefix(p, "vendor/") {
			continue // third-party files, checked by their own tests upstream
		}
		if external.MatchString(body) {
			t.Errorf("%s loads something from another origin", p)
		}
		if n := strings.Count(body, "\n"); n > 800 {
			t.Errorf("%s has %d lines, over the ~800 limit", p, n)
		}
		for _, m := range importRe.FindAllStringSubmatch(body, -1) {
			if m[1] != "" && !files["js/"+m[1]] {
				t.Errorf("%s imports ./%s, which is not embedded", p, m[1])
			}
		}
	}
	// Every page the router names has its module.
	_, main := get(t, h, "/js/main.js")
	for _, m := range regexp.MustCompile(`page: "([a-z]+)"`).FindAllStringSubmatch(main, -1) {
		if !files["js/"+m[1]+".js"] {
			t.Errorf("route page %q has no js/%s.js", m[1], m[1])
		}
	}
}

func TestDevDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("dev page"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, body := get(t, ui.Handler(dir), "/"); body != "dev page" {
		t.Fatalf("dev dir served %q", body)
	}
}

// TestVendoredVersion ties the vendored uPlot to the version pinned in
// package.json: bumping the pin without running vendor.sh fails here.
func TestVendoredVersion(t *testing.T) {
	b, err := os.ReadFile("package.json")
	if err != nil {
		t.Fatal(err)
	}
	var pkg struct {
		DevDependencies map[string]string `json:"devDependencies"`
	}
	if err := json.Unmarshal(b, &pkg); err != nil {
		t.Fatalf("package.json: %v", err)
	}
	want := pkg.DevDependencies["uplot"]
	if want == "" || strings.ContainsAny(want, "^~<>*") {
		t.Fatalf("package.json pins uplot as %q, want an exact version", want)
	}
	v, err := os.ReadFile(filepath.Join("assets", "vendor", "VERSIONS"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(v)); got != "uplot "+want {
		t.Errorf("assets/vendor holds %q, package.json pins uplot %s: run npm ci && npm run vendor in hub/ui", got, want)
	}
}
