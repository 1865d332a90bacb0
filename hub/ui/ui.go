// Package ui serves the hub's web UI, embedded in the binary: a small
// single page in plain ES modules (assets/js, one module per page: fleet,
// machine, alerts, models, A/B, rollouts) with no build step, reading the
// JSON API under /api/v1 (polling it while visible; the machine page is
// pushed by server-sent events), behind the hub's login. Plots use uPlot,
// whose own dist files are vendored in assets/vendor by vendor.sh at the
// version pinned in package.json; nothing loads from another origin.
// Browser tests live in browsertest.
package ui

import (
	"embed"
	"io/fs"
	"net/http"
	"os"
)

//go:embed assets
var assets embed.FS

// Handler serves the UI. When dir is not empty the files are read from
// that directory on every request instead (a development mode for editing
// the page without rebuilding).
func Handler(dir string) http.Handler {
	var files fs.FS
	if dir != "" {
		files = os.DirFS(dir)
	} else {
		sub, err := fs.Sub(assets, "assets")
		if err != nil {
			panic("ui: embedded assets missing: " + err.Error()) // cannot happen: checked at compile time
		}
		files = sub
	}
	fileServer := http.FileServerFS(files)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Content-Security-Policy", "default-src 'self'")
		fileServer.ServeHTTP(w, r)
	})
}
