// Package influxtest starts a real InfluxDB 1.8 (influxd, built by
// scripts/install-influxd.sh) for tests: a child process on free loopback
// ports with its data in the test's temporary directory, authentication
// off, stopped when the test ends.
package influxtest

import (
	"millwright/internal/proctest"

	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// InfluxdPath finds the influxd binary: $INFLUXD, then PATH, then
// .cache/bin/influxd under the module root (where
// scripts/install-influxd.sh puts it), then $GOPATH/bin.
func InfluxdPath() (string, error) {
	if p := os.Getenv("INFLUXD"); p != "" {
		return p, nil
	}
	if p, err := exec.LookPath("influxd"); err == nil {
		return p, nil
	}
	var tried []string
	if root, err := moduleRoot(); err == nil {
		p := filepath.Join(root, ".cache", "bin", "influxd")
		if isExec(p) {
			return p, nil
		}
		tried = append(tried, p)
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		if home, err := os.UserHomeDir(); err == nil {
			gopath = filepath.Join(home, "go")
		}
	}
	if gopath != "" {
		p := filepath.Join(gopath, "bin", "influxd")
		if isExec(p) {
			return p, nil
		}
		tried = append(tried, p)
	}
	return "", fmt.Errorf("influxd not found in $INFLUXD, on PATH or at %s: run scripts/install-influxd.sh", strings.Join(tried, ", "))
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// moduleRoot walks up from the working directory to the folder with go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// Options configure Start. The zero value works.
type Options struct {
	// Database is created once influxd answers; default "millwright".
	Database string
}

// Influxd is a running InfluxDB.
type Influxd struct {
	// URL is the HTTP API, http://127.0.0.1:PORT.
	URL string
	// Database was created at start.
	Database string
	bin      string
	conf     string
	cmd      *exec.Cmd
	done     chan struct{}
	log      *proctest.Buffer
}

// Start starts influxd on free loopback ports, waits until /ping answers
// and creates the database. It fails the test when influxd is missing.
func Start(t testing.TB, opts Options) *Influxd {
	t.Helper()
	bin, err := InfluxdPath()
	if err != nil {
		t.Fatal(err)
	}
	if opts.Database == "" {
		opts.Database = "millwright"
	}
	httpPort, err := proctest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	rpcPort, err := proctest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "influxd.conf")
	body := fmt.Sprintf(`reporting-disabled = true
bind-address = "127.0.0.1:%d"

[meta]
  dir = %q
  logging-enabled = false

[data]
  dir = %q
  wal-dir = %q
  query-log-enabled = false

[monitor]
  store-enabled = false

[subscriber]
  enabled = false

[continuous_queries]
  enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:%d"
  auth-enabled = false
  log-enabled = false
  pprof-enabled = false

[logging]
  level = "warn"
`, rpcPort, filepath.Join(dir, "meta"), filepath.Join(dir, "data"), filepath.Join(dir, "wal"), httpPort)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	d := &Influxd{URL: fmt.Sprintf("http://127.0.0.1:%d", httpPort), Database: opts.Database, bin: bin, conf: conf, log: &proctest.Buffer{}}
	d.start(t)
	t.Cleanup(func() {
		d.stop()
		if t.Failed() {
			t.Logf("influxd log:\n%s", d.log.String())
		}
	})
	if err := d.Query(context.Background(), "CREATE DATABASE "+quoteIdent(opts.Database)); err != nil {
		t.Fatalf("create database: %v", err)
	}
	return d
}

func (d *Influxd) start(t testing.TB) {
	t.Helper()
	d.cmd = exec.Command(d.bin, "run", "-config", d.conf)
	d.cmd.Stdout = d.log
	d.cmd.Stderr = d.log
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("start influxd: %v", err)
	}
	d.done = make(chan struct{})
	go func() { _ = d.cmd.Wait(); close(d.done) }()
	if err := d.waitPing(30 * time.Second); err != nil {
		d.stop()
		t.Fatalf("influxd did not answer /ping at %s: %v\n%s", d.URL, err, d.log.String())
	}
}

// Stop stops influxd, as an outage would; Restart brings it back.
func (d *Influxd) Stop() { d.stop() }

// Restart starts influxd again on the same ports with the same data.
func (d *Influxd) Restart(t testing.TB) {
	t.Helper()
	d.stop()
	d.start(t)
}

func (d *Influxd) stop() {
	if d.cmd == nil || d.cmd.Process == nil {
		return
	}
	select {
	case <-d.done:
		return
	default:
	}
	_ = d.cmd.Process.Signal(os.Interrupt)
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.done
	}
}

// Log returns what influxd has logged so far.
func (d *Influxd) Log() string { return d.log.String() }

// waitPing polls /ping: influxd gives no other readiness signal.
func (d *Influxd) waitPing(within time.Duration) error {
	deadline := time.Now().Add(within)
	c := &http.Client{Timeout: time.Second}
	var err error
	for time.Now().Before(deadline) {
		select {
		case <-d.done:
			return errors.New("influxd exited")
		default:
		}
		var resp *http.Response
		resp, err = c.Get(d.URL + "/ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusNoContent {
				return nil
			}
			err = fmt.Errorf("/ping: %s", resp.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return err
}

// Query runs an InfluxQL statement that returns no rows of interest
// (CREATE, DROP) and reports its error.
func (d *Influxd) Query(ctx context.Context, q string) error {
	form := url.Values{"q": {q}, "db": {d.Database}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL+"/query", strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("query %q: %w", q, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK || bytes.Contains(body, []byte(`"error"`)) {
		return fmt.Errorf("query %q: %s: %s", q, resp.Status, body)
	}
	return nil
}

func quoteIdent(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
