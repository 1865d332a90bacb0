package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"millwright/hub/config"
	"millwright/hub/server"
	"millwright/hub/store"
	"millwright/wire"
)

// startHub runs a hub on free ports until the test ends, with gw1/motor-1
// registered.
func startHub(t *testing.T, ctx context.Context, opts server.Options) *server.Server {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	opts.HTTPAddr, opts.MQTTAddr = "127.0.0.1:0", "127.0.0.1:0"
	srv, err := server.New(ctx, opts)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("hub: %v", err)
		}
	})
	if _, err := srv.Store().IngestBirth(ctx, &wire.Birth{Env: wire.Envelope{Version: 1, Sender: "gw1", Seq: 1},
		Machines: []wire.MachineInfo{{ID: "motor-1", Type: "motor", Model: "hst"}}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	return srv
}

func TestChallengerCommand(t *testing.T) {
	ctx := t.Context()
	srv := startHub(t, ctx, server.Options{DataDir: t.TempDir()})
	snap := filepath.Join(t.TempDir(), "warm.snap")
	if err := os.WriteFile(snap, []byte("warm state"), 0o600); err != nil {
		t.Fatal(err)
	}
	hub := "http://" + srv.HTTPAddr()
	tests := []struct {
		name    string
		args    []string
		wantOut string
		wantErr string
	}{
		{"needs kind", []string{"--hub", hub, "--target", "motor-1"}, "", "--kind"},
		{"bad setting", []string{"--hub", hub, "--kind", "rrcf", "--target", "motor-1", "--set", "trees"}, "", "key=number"},
		{"unknown asset", []string{"--hub", hub, "--kind", "rrcf", "--target", "nope"}, "", `no asset "nope"`},
		{"warm start", []string{"--hub", hub, "--kind", "rrcf", "--target", "motor-1", "--snapshot", snap, "--set", "trees=30"},
			"gw1/motor-1  challenger-rrcf  pending", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			var err error
			if tt.wantErr != "" {
				err = run(ctx, append([]string{"challenger"}, tt.args...))
			} else {
				err = runChallenger(ctx, tt.args, &out)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.String(), tt.wantOut) || !strings.Contains(out.String(), store.SnapshotID([]byte("warm state"))) {
				t.Fatalf("output = %q, want %q and the snapshot id", out.String(), tt.wantOut)
			}
		})
	}
	ds, err := srv.Store().Deployments(ctx, store.DeploymentFilter{Role: wire.RoleChallenger})
	if err != nil || len(ds) != 1 || ds[0].Snapshot != store.SnapshotID([]byte("warm state")) || ds[0].Settings["trees"] != 30 {
		t.Fatalf("deployments = %+v, %v", ds, err)
	}
}

// TestChallengerToken: against a hub that requires a login, the command
// is refused without a token and works with an operator API token taken
// from the environment.
func TestChallengerToken(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	var tok bytes.Buffer
	if err := runToken(ctx, []string{"create", "--data", dir, "--name", "ci", "--role", "operator"}, &tok); err != nil {
		t.Fatal(err)
	}
	srv := startHub(t, ctx, server.Options{DataDir: dir, Auth: config.Auth{Mode: config.AuthRequired}})
	args := []string{"--hub", "http://" + srv.HTTPAddr(), "--kind", "rrcf", "--target", "motor-1", "--token-env", "MW_TEST_HUB_TOKEN"}
	var out bytes.Buffer
	if err := runChallenger(ctx, args, &out); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("without a token: err = %v, want 401", err)
	}
	t.Setenv("MW_TEST_HUB_TOKEN", strings.TrimSpace(tok.String()))
	if err := runChallenger(ctx, args, &out); err != nil {
		t.Fatalf("with an operator token: %v", err)
	}
	if !strings.Contains(out.String(), "gw1/motor-1  challenger-rrcf  pending") {
		t.Fatalf("output = %q", out.String())
	}
}
