package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseRun(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(cfg, []byte("gateway: fromfile\nbroker: tcp://file:1883\nmodel: baseline\nalert:\n  consecutive: 7\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name                      string
		args                      []string
		gateway, broker, httpAddr string
		wantErr                   string
	}{
		{name: "defaults need no file", args: []string{"--gateway", "gw1"}, gateway: "gw1", broker: "tcp://127.0.0.1:1883", httpAddr: "127.0.0.1:9100"},
		{name: "file", args: []string{"--config", cfg}, gateway: "fromfile", broker: "tcp://file:1883", httpAddr: "127.0.0.1:9100"},
		{name: "flags override the file", args: []string{"--config", cfg, "--gateway", "gw2", "--http", ":0"}, gateway: "gw2", broker: "tcp://file:1883", httpAddr: ":0"},
		{name: "a flag left at its default does not override the file", args: []string{"--config", cfg, "--broker", "tcp://127.0.0.1:1883"}, gateway: "fromfile", broker: "tcp://127.0.0.1:1883", httpAddr: "127.0.0.1:9100"},
		{name: "gateway required", args: nil, wantErr: "gateway: required"},
		{name: "bad gateway flag", args: []string{"--gateway", "a/b"}, wantErr: "gateway: \"a/b\""},
		{name: "unknown model", args: []string{"--gateway", "g", "--model", "nope"}, wantErr: "model: unknown kind"},
		{name: "missing file", args: []string{"--config", filepath.Join(dir, "none.yaml")}, wantErr: "read config"},
		{name: "stray argument", args: []string{"--gateway", "g", "extra"}, wantErr: "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseRun(tt.args)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseRun(%q) = %v, want error containing %q", tt.args, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseRun(%q): %v", tt.args, err)
			}
			if o.Gateway != tt.gateway || o.BrokerURL != tt.broker || o.HTTPAddr != tt.httpAddr {
				t.Errorf("got gateway %q broker %q http %q", o.Gateway, o.BrokerURL, o.HTTPAddr)
			}
		})
	}
	if o, _ := parseRun([]string{"--config", cfg}); o.Alert.Consecutive != 7 {
		t.Errorf("alert.consecutive from the file = %d, want 7", o.Alert.Consecutive)
	}
}

func TestUnknownCommand(t *testing.T) {
	if err := run(t.Context(), []string{"fly"}, nil, nil); err == nil || !strings.Contains(err.Error(), `unknown command "fly"`) {
		t.Errorf("run(fly) = %v", err)
	}
}
