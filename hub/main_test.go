package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunArgs(t *testing.T) {
	dir := t.TempDir()
	badCfg := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(badCfg, []byte("http:\n  listen: nowhere\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	goodCfg := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(goodCfg, []byte("http:\n  listen: nowhere\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"bad flag", []string{"serve", "--nope"}, "flag provided but not defined"},
		{"bad config field", []string{"--config", badCfg}, "http.listen"},
		{"bad flag value", []string{"--data", data, "--http", "nowhere"}, "http.listen"},
		// A flag overrides the bad value in the file; the hub then starts
		// and stops at once on the cancelled context.
		{"flag overrides file", []string{"serve", "--config", goodCfg, "--data", data, "--http", "127.0.0.1:0", "--mqtt", "127.0.0.1:0", "--status-every", "0"}, ""},
		{"external broker", []string{"--data", data, "--http", "127.0.0.1:0", "--broker", "tcp://127.0.0.1:1"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			err := run(ctx, tt.args)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("run: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}
