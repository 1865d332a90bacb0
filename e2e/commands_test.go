package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"
)

// api calls the hub's JSON API as the user "e2e" and decodes the answer.
func api(t *testing.T, base, method, path string, body any, out any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-User", "e2e")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s: %s: %s", method, path, resp.Status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
}

type command struct {
	ID, Kind, Machine, Status string
}

// waitCommands waits until the hub has n commands and every one of them is
// acknowledged by the agent.
func waitCommands(t *testing.T, base string, n int) []command {
	t.Helper()
	var got struct{ Commands []command }
	waitFor(t, 30*time.Second, fmt.Sprintf("%d commands acknowledged by the agent", n), func() bool {
		api(t, base, "GET", "/api/v1/commands", nil, &got)
		if len(got.Commands) < n {
			return false
		}
		for _, c := range got.Commands {
			if c.Status != "acked" {
				return false
			}
		}
		return true
	})
	return got.Commands
}

// TestChallengerPromoteRollback drives a real agent from the hub's API: a
// challenger is deployed, promoted to champion, and rolled back, and the
// agent acknowledges each command and scores with the new model.
func TestChallengerPromoteRollback(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	s := startHub(t, ctx, "")
	defer s.stop(t, cancel)
	s.startAgent(t, ctx, "gw1")
	s.startPlant(t, ctx, faultScenario())
	base := "http://" + s.hub.HTTPAddr()

	// The agent takes a model for a machine once it has learned the
	// machine's sensor set (before that it refuses, with the reason): wait
	// for the champion's first metrics.
	waitFor(t, 30*time.Second, "pump-1 scored by the agent", func() bool {
		var pts struct{ Points []struct{ Role string } }
		api(t, base, "GET", "/api/v1/machines/gw1/pump-1/metrics?since=1h", nil, &pts)
		return len(pts.Points) > 0
	})

	var deployed struct{ Deployments []struct{ ID string } }
	api(t, base, "POST", "/api/v1/challengers", map[string]any{"kind": "hst", "targets": []string{"gw1/pump-1"}, "reason": "e2e"}, &deployed)
	if len(deployed.Deployments) != 1 {
		t.Fatalf("deployments = %+v, want 1", deployed)
	}
	waitCommands(t, base, 1)
	waitFor(t, 30*time.Second, "metrics of the challenger", func() bool {
		var pts struct {
			Points []struct{ Model, Role string }
		}
		api(t, base, "GET", "/api/v1/machines/gw1/pump-1/metrics?since=1h", nil, &pts)
		for _, p := range pts.Points {
			if p.Role == "challenger" && p.Model == "challenger-hst" {
				return true
			}
		}
		return false
	})

	var ro struct{ ID, Status string }
	api(t, base, "POST", "/api/v1/promotions", map[string]any{"deployment": deployed.Deployments[0].ID, "reason": "e2e"}, &ro)
	waitCommands(t, base, 2)
	api(t, base, "POST", "/api/v1/rollouts/"+ro.ID+"/rollback", map[string]any{"reason": "e2e"}, &ro)
	if ro.Status != "rolled-back" {
		t.Fatalf("rollout status %q after rollback", ro.Status)
	}
	cmds := waitCommands(t, base, 3)
	kinds := map[string]int{}
	for _, c := range cmds {
		kinds[c.Kind]++
	}
	if kinds["deploy"] != 2 || kinds["rollback"] != 1 {
		t.Fatalf("commands by kind %v, want 2 deploys and 1 rollback", kinds)
	}
}
