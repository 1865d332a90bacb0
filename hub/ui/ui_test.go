package ui_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"millwright/hub/ui"
)

func get(t *testing.T, h http.Handler, path string) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	resp := rec.Result()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestEmbeddedAssets(t *testing.T) {
	h := ui.Handler("")
	tests := []struct {
		path, ctype string
		contains    []string
	}{
		{"/", "text/html", []string{`<script src="app.js">`, `href="app.css"`, `name="viewport"`}},
		{"/app.js", "javascript", []string{"api/v1/machines", "api/v1/gateways", "api/v1/alerts?status=open", "/ack", "REFRESH_MS = 2000"}},
		{"/app.css", "text/css", []string{"@media"}},
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
	// No third-party origin: the page must work offline on a plant network.
	for _, p := range []string{"/", "/app.js", "/app.css"} {
		if _, body := get(t, h, p); strings.Contains(body, "http://") || strings.Contains(body, "https://") {
			t.Errorf("%s references an external URL", p)
		}
	}
	if resp, _ := get(t, h, "/nope.js"); resp.StatusCode != 404 {
		t.Errorf("missing asset: %d", resp.StatusCode)
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
