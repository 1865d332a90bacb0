package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"millwright/internal/proctest"
)

// The agent binary, built once per test process as `make build` builds it.
var agentBin struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if agentBin.dir != "" {
		os.RemoveAll(agentBin.dir)
	}
	os.Exit(code)
}

func goTool() string {
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); fileExists(p) {
		return p
	}
	return "go"
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// buildAgent returns the path of this command's binary, built with
// -trimpath (as `make build`) into a directory removed when the tests end.
func buildAgent(tb testing.TB) string {
	tb.Helper()
	agentBin.once.Do(func() {
		agentBin.dir, agentBin.err = os.MkdirTemp("", "mw-agent-bin-")
		if agentBin.err != nil {
			return
		}
		out := filepath.Join(agentBin.dir, "agent")
		cmd := exec.Command(goTool(), "build", "-trimpath", "-o", out, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			agentBin.err = fmt.Errorf("go build: %v\n%s", err, b)
			return
		}
		agentBin.path = out
	})
	if agentBin.err != nil {
		tb.Fatal(agentBin.err)
	}
	return agentBin.path
}

// agentProc is the agent binary running as a child process.
type agentProc struct {
	cmd  *exec.Cmd
	logs *syncBuf
	http string
	done chan struct{}
	err  error
}

// startAgentProc runs the binary with --config cfg and the given flags
// plus --http on a free port, and waits until /healthz answers. The
// process is killed when the test ends if it still runs.
func startAgentProc(tb testing.TB, bin string, args ...string) *agentProc {
	tb.Helper()
	port, err := proctest.FreePort()
	if err != nil {
		tb.Fatal(err)
	}
	p := &agentProc{logs: new(syncBuf), http: fmt.Sprintf("127.0.0.1:%d", port), done: make(chan struct{})}
	p.cmd = exec.Command(bin, append(append([]string{"run"}, args...), "--http", p.http)...)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		tb.Fatalf("start agent: %v", err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	tb.Cleanup(func() {
		p.kill()
		if tb.Failed() {
			tb.Logf("agent log:\n%s", p.logs.String())
		}
	})
	pollUntil(tb, 20*time.Second, "agent /healthz", func() bool {
		select {
		case <-p.done:
			tb.Fatalf("agent exited at start: %v\n%s", p.err, p.logs.String())
		default:
		}
		resp, err := http.Get("http://" + p.http + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return p
}

// kill sends SIGKILL and waits for the process to go.
func (p *agentProc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop sends SIGTERM and waits for a clean exit.
func (p *agentProc) stop(tb testing.TB) {
	tb.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.kill()
		tb.Fatalf("agent did not stop within 30s of SIGTERM\n%s", p.logs.String())
	}
	if p.err != nil {
		tb.Fatalf("agent exit: %v\n%s", p.err, p.logs.String())
	}
}

// metrics scrapes /metrics into name{labels} -> value.
func (p *agentProc) metrics() (map[string]float64, error) {
	resp, err := http.Get("http://" + p.http + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return parseMetrics(b), nil
}

func parseMetrics(b []byte) map[string]float64 {
	out := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out
}

// procStatusKB reads a field of /proc/PID/status in kB (VmRSS, VmHWM).
func procStatusKB(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(rest)
			if len(f) == 2 && f[1] == "kB" {
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// pollUntil polls cond every 5ms until it holds or within passes.
func pollUntil(tb testing.TB, within time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", within, what)
		}
		<-tick.C
	}
}

// writeConfig writes an agent configuration file in dir.
func writeConfig(tb testing.TB, dir, body string) string {
	tb.Helper()
	p := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}
