package store_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"millwright/hub/store"
	"millwright/wire"
)

const crashChildEnv = "MILLWRIGHT_STORE_CRASH_CHILD"

// TestMain lets the crash test re-run this binary as a writer it can kill.
func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(dir)
		return
	}
	os.Exit(m.Run())
}

// crashChild ingests alerts forever, printing each seq after its commit.
func crashChild(dir string) {
	ctx := context.Background()
	s, err := store.Open(ctx, dir, store.Options{})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	for seq := uint64(1); ; seq++ {
		a := &wire.Alert{Env: wire.Envelope{Version: wire.Version, Sender: "gw1", Seq: seq, Time: time.Now().UnixNano()},
			ID: "a" + strconv.FormatUint(seq, 10), Machine: "m1", Score: 1}
		if _, err := s.IngestAlert(ctx, a, time.Now()); err != nil {
			fmt.Println("error", err)
			os.Exit(2)
		}
		// A registry change too: deployment, queued command and audit entry.
		if _, err := s.Deploy(ctx, store.Deployment{Gateway: "gw1", Machine: "m1", Role: wire.RoleChallenger,
			Name: "c" + strconv.FormatUint(seq, 10), Kind: "rrcf"}, &wire.Command{Kind: wire.CmdDeploy, Machine: "m1"}, time.Now()); err != nil {
			fmt.Println("error", err)
			os.Exit(2)
		}
		fmt.Println(seq)
	}
}

// TestSurvivesKill9 kills a writer mid-stream: everything it reported as
// committed must be there after reopening, and the store must open cleanly.
func TestSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a process")
	}
	dir := t.TempDir()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	var last uint64
	for last < 200 && sc.Scan() {
		n, err := strconv.ParseUint(sc.Text(), 10, 64)
		if err != nil {
			t.Fatalf("child: %s", sc.Text())
		}
		last = n
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	cmd.Wait()
	if last < 200 {
		t.Fatalf("child stopped after %d commits", last)
	}

	s := open(t, dir)
	ctx := t.Context()
	alerts, err := s.Alerts(ctx, store.AlertFilter{Limit: 1000000})
	if err != nil {
		t.Fatal(err)
	}
	if uint64(len(alerts)) < last {
		t.Fatalf("%d alerts after kill -9, child had committed %d", len(alerts), last)
	}
	deps, err := s.Deployments(ctx, store.DeploymentFilter{Limit: 1000000})
	if err != nil || uint64(len(deps)) < last {
		t.Fatalf("%d deployments after kill -9, child had committed %d (%v)", len(deps), last, err)
	}
	cmds, err := s.Commands(ctx, store.CommandFilter{Limit: 1000000})
	if err != nil || uint64(len(cmds)) < last {
		t.Fatalf("%d queued commands after kill -9, child had committed %d (%v)", len(cmds), last, err)
	}
	entries, err := s.Audit(ctx, store.AuditFilter{Action: "deploy.challenger", Limit: 1000000})
	if err != nil || uint64(len(entries)) < last {
		t.Fatalf("%d audit entries after kill -9, child had committed %d (%v)", len(entries), last, err)
	}
	for seq := uint64(1); seq <= last; seq++ {
		dup, err := s.IngestAlert(ctx, &wire.Alert{Env: wire.Envelope{Version: wire.Version, Sender: "gw1", Seq: seq}, ID: "x", Machine: "m1"}, time.Now())
		if err != nil || !dup {
			t.Fatalf("seq %d committed before the kill is unknown after it (dup=%v err=%v)", seq, dup, err)
		}
	}
}
