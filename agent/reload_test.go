package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// SIGHUP reloads the file: the threshold and log level apply, the broker
// change is logged as needing a restart.
func TestSIGHUPReloadsTheConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "agent.yaml")
	write := func(threshold float64, broker, level string) {
		t.Helper()
		s := fmt.Sprintf("gateway: gw1\nbroker: %s\nhttp: 127.0.0.1:0\nstate_dir: %s\nlog_level: %s\nalert:\n  threshold: %v\n  clear: 0.5\n",
			broker, filepath.Join(dir, "state"), level, threshold)
		if err := os.WriteFile(cfg, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(0.99, "tcp://127.0.0.1:1", "info")
	logs := new(syncBuf)
	level := new(slog.LevelVar)
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: level}))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- runAgent(ctx, []string{"--config", cfg}, log, level) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("runAgent: %v", err)
		}
	})
	// The handler is installed before the agent logs that it starts.
	waitFor(t, "agent started", func() bool { return strings.Contains(logs.String(), "agent starting") })

	write(0.97, "tcp://127.0.0.1:2", "debug")
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "reload logged", func() bool { return strings.Contains(logs.String(), "configuration changes that need a restart") })
	out := logs.String()
	if !strings.Contains(out, "applied=\"[alert log_level]\"") || !strings.Contains(out, "fields=[broker]") {
		t.Errorf("reload logs:\n%s", out)
	}
	if level.Level() != slog.LevelDebug {
		t.Errorf("log level after reload = %v", level.Level())
	}

	// A file that no longer validates leaves the running configuration.
	if err := os.WriteFile(cfg, []byte("gateway: gw1\nalert:\n  threshold: 7\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "refused reload logged", func() bool {
		return strings.Contains(logs.String(), "configuration not reloaded: the running one stays")
	})
}
