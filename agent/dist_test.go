package main

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The systemd unit runs the subcommand and flags this binary has, and maps
// reload to SIGHUP.
func TestSystemdUnit(t *testing.T) {
	f, err := os.Open(filepath.Join("..", "configs", "millwright-agent.service"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	keys := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			keys[k] = v
		}
	}
	if keys["ExecReload"] != "/bin/kill -HUP $MAINPID" || keys["KillSignal"] != "SIGTERM" {
		t.Errorf("reload/stop signals: %q %q", keys["ExecReload"], keys["KillSignal"])
	}
	args := strings.Fields(keys["ExecStart"])
	if len(args) < 2 || args[1] != "run" {
		t.Fatalf("ExecStart = %q, want the run subcommand", keys["ExecStart"])
	}
	// The flags must parse (the gateway comes from the file, absent here).
	_, err = parseRun(args[2:])
	if err == nil || !strings.Contains(err.Error(), "read config") {
		t.Errorf("parseRun(%q) = %v, want only the missing file to fail", args[2:], err)
	}
}
