package browsertest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"millwright/hub/store"
	"millwright/wire"
)

// TestModelsStats opens the Models page of the seeded plant as a viewer, on
// a desktop and on a phone: it must show the vectors each kind scored per
// day, when a champion was last promoted and by whom, and the features
// that drive the alerts, with no console errors.
func TestModelsStats(t *testing.T) {
	e := prerequisites(t)
	srv := startHub(t)
	st := srv.Store()
	seedPlant(t, st)
	ctx := t.Context()

	// Older days: press-1's champion on two earlier days of the window,
	// and one day just outside it.
	s := newSeeder(t, st)
	s.seq["gw-a"] = 1 << 30 // clear of seedPlant's numbers
	now := time.Now()
	older := map[int]uint64{3: 1234, 9: 4321, 20: 99999}
	for daysAgo, n := range older {
		s.metrics("gw-a", now.AddDate(0, 0, -daysAgo), wire.ModelMetric{Machine: "press-1", Model: "hst", Role: wire.RoleChampion,
			Kind: "hst", Count: n, ScoreMean: 0.3, ScoreMax: 0.4, ScoreLast: 0.3, Threshold: 0.8})
	}
	// seedPlant: five machines, 61 one-minute intervals of 600 vectors.
	total := 5*61*600 + older[3] + older[9]

	// A promotion by dana (the agent's own birth champions do not count).
	if _, err := st.Deploy(ctx, store.Deployment{Gateway: "gw-a", Machine: "press-2", Role: wire.RoleChampion, Name: "rrcf",
		Kind: "rrcf", By: "dana", Reason: "better on press-2"}, &wire.Command{Kind: wire.CmdDeploy}, now.Add(-2*time.Hour)); err != nil {
		t.Fatalf("promote: %v", err)
	}

	// seedPlant's hst alerts with contributions: press-1 (force 0.71,
	// temp 0.18) and pump-1 (vib 0.6); mill-1's has none.
	force, temp := 0.71/(0.71+0.18)/2, 0.18/(0.71+0.18)/2
	p := func(v float64) string { return fmt.Sprintf("%.0f%%", 100*v) }
	want := map[string]any{
		"kind": "hst", "role": wire.RoleChampion, "total": total,
		"day": now.AddDate(0, 0, -3).UTC().Format(time.DateOnly), "dayVectors": older[3],
		"promotedKind": "rrcf", "promotedAsset": "gw-a/press-2", "by": "dana",
		"model":    "hst",
		"features": [][2]string{{"vib", p(0.5)}, {"force", p(force)}, {"temp", p(temp)}},
	}
	expect, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}

	c, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(c, e.node, "models.mjs")
	cmd.Env = append(os.Environ(), "HUB_URL=http://"+srv.HTTPAddr()+"/", "CHROMIUM="+e.chromium, "ARTIFACTS="+e.artifacts,
		"PROFILE_DIR="+t.TempDir(), usersEnv(), "EXPECT="+string(expect))
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("browser script failed: %v\n%s", err, out.String())
	}
	t.Log(out.String())
}
