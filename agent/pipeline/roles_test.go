package pipeline

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"millwright/models"
	"millwright/models/catalog"
	"millwright/wire"
)

// feed sends n vectors of machine id with sensors a and b, value f(i).
func feed(t testing.TB, p *Pipeline, id string, from, n int, f func(i int) (float64, float64)) {
	t.Helper()
	for i := from; i < from+n; i++ {
		a, b := f(i)
		p.Handle(wire.TelemetryTopic(gw, id), telemetry(t, id, at(i), "a", a, "b", b), 0)
	}
}

func normal(i int) (float64, float64) { return float64(i%7) * 0.1, 1 + float64(i%3)*0.05 }

func roles(p *Pipeline, id string) []string {
	var out []string
	p.Models(func(m Model) {
		if m.Machine == id {
			r := m.Role + ":" + m.Name
			if m.Previous {
				r = "prev-" + r
			}
			out = append(out, r)
		}
	})
	return out
}

func snapshotOf(t *testing.T, d models.Detector) []byte {
	t.Helper()
	b, err := d.(models.Snapshotter).MarshalSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCommands(t *testing.T) {
	p, _ := newTest(t, Options{NewDetector: catalog.New})
	p.opts.Model = catalog.Default
	feed(t, p, "m1", 0, 100, normal)

	// A trained 2-feature baseline, and one of the wrong dimension.
	good, _ := catalog.New("baseline", 2, 1)
	for i := range 100 {
		a, b := normal(i)
		good.Update([]float64{a, b})
	}
	snap := snapshotOf(t, good)
	wrongDim, _ := catalog.New("baseline", 3, 1)
	snap3 := snapshotOf(t, wrongDim)

	d := catalog.Default
	pair := "champion:" + d + " twin:" + d + "-twin"
	prevPair := " prev-champion:" + d + " prev-twin:" + d + "-twin"
	steps := []struct {
		name   string
		cmd    wire.Command
		refuse string // "" for accepted
		roles  string
	}{
		{"ping", wire.Command{Kind: wire.CmdPing}, "", pair},
		{"unknown machine", wire.Command{Kind: wire.CmdDeploy, Machine: "nope", Snapshot: snap}, "unknown machine", ""},
		{"corrupt snapshot", wire.Command{Kind: wire.CmdDeploy, Machine: "m1", Snapshot: []byte{1, 2, 3}}, "corrupt snapshot", ""},
		{"wrong dimension", wire.Command{Kind: wire.CmdDeploy, Machine: "m1", Snapshot: snap3}, "does not fit", ""},
		{"kind mismatch", wire.Command{Kind: wire.CmdDeploy, Machine: "m1", Model: "hst", Snapshot: snap}, "command says", ""},
		{"unknown kind", wire.Command{Kind: wire.CmdDeploy, Machine: "m1", Role: wire.RoleChallenger, Model: "nope"}, "cannot build", ""},
		{"bad setting", wire.Command{Kind: wire.CmdDeploy, Machine: "m1", Role: wire.RoleChallenger, Model: "hst", Settings: map[string]float64{"x": 1}}, "unknown setting", ""},
		{"nothing to roll back", wire.Command{Kind: wire.CmdRollback, Machine: "m1"}, "no previous champion", ""},
		{"fresh challenger", wire.Command{Kind: wire.CmdDeploy, Machine: "m1", Role: wire.RoleChallenger, Model: "hst", Settings: map[string]float64{"threshold": 0.95}}, "",
			pair + " challenger:challenger-1"},
		{"named challenger from snapshot", wire.Command{Kind: wire.CmdDeploy, Machine: "m1", Role: wire.RoleChallenger, Name: "warm", Snapshot: snap}, "",
			pair + " challenger:challenger-1 challenger:warm"},
		{"third challenger", wire.Command{Kind: wire.CmdDeploy, Machine: "m1", Role: wire.RoleChallenger, Model: "pca"}, "",
			pair + " challenger:challenger-1 challenger:warm challenger:challenger-2"},
		{"too many challengers", wire.Command{Kind: wire.CmdDeploy, Machine: "m1", Role: wire.RoleChallenger, Model: "rrcf"}, "already has 3", ""},
		{"remove unknown", wire.Command{Kind: wire.CmdRemove, Machine: "m1", Name: "nope"}, "no challenger named", ""},
		{"remove", wire.Command{Kind: wire.CmdRemove, Machine: "m1", Name: "challenger-1"}, "",
			pair + " challenger:warm challenger:challenger-2"},
		{"champion from snapshot", wire.Command{Kind: wire.CmdDeploy, Machine: "m1", Role: wire.RoleChampion, Snapshot: snap}, "",
			"champion:baseline twin:baseline-twin challenger:warm challenger:challenger-2" + prevPair},
		{"rollback", wire.Command{Kind: wire.CmdRollback, Machine: "m1"}, "",
			pair + " challenger:warm challenger:challenger-2 prev-champion:baseline prev-twin:baseline-twin"},
	}
	for i, st := range steps {
		err := p.Command(&st.cmd)
		var r *Refused
		switch {
		case st.refuse == "" && err != nil:
			t.Fatalf("step %d %s: refused: %v", i, st.name, err)
		case st.refuse != "" && (!errors.As(err, &r) || !strings.Contains(r.Reason, st.refuse)):
			t.Fatalf("step %d %s: err = %v, want refusal saying %q", i, st.name, err, st.refuse)
		}
		if st.roles != "" {
			if got := strings.Join(roles(p, "m1"), " "); got != st.roles {
				t.Errorf("step %d %s: models = %s, want %s", i, st.name, got, st.roles)
			}
		}
		feed(t, p, "m1", 100+i*10, 10, normal) // the models keep scoring between commands
	}
}

func TestDeployAndRollbackSwapTheChampion(t *testing.T) {
	p, _ := newTest(t, Options{NewDetector: catalog.New})
	p.opts.Model = catalog.Default
	feed(t, p, "m1", 0, 50, normal)
	var first models.Detector
	p.Models(func(m Model) {
		if m.Role == wire.RoleChampion {
			first = m.Detector
		}
	})
	good, _ := catalog.New("baseline", 2, 1)
	snap := snapshotOf(t, good)
	if err := p.Command(&wire.Command{Kind: wire.CmdDeploy, Machine: "m1", Snapshot: snap}); err != nil {
		t.Fatal(err)
	}
	var hash string
	var warm = -1
	p.Models(func(m Model) {
		if m.Role == wire.RoleChampion && !m.Previous {
			hash, warm = m.Hash, m.Warm
			if m.Detector == first {
				t.Error("champion not replaced")
			}
		}
	})
	if hash != Hash(snap) || len(hash) != 64 || warm != 0 {
		t.Errorf("deployed champion hash %q warm %d, want %s and frozen", hash, warm, Hash(snap))
	}
	if err := p.Command(&wire.Command{Kind: wire.CmdRollback, Machine: "m1"}); err != nil {
		t.Fatal(err)
	}
	p.Models(func(m Model) {
		if m.Role == wire.RoleChampion && !m.Previous && m.Detector != first {
			t.Error("rollback did not restore the first champion")
		}
	})
}

// TestColdStartChampionDoesNotLearnAFault: once it can score, the champion
// learns only from vectors under Clear and is frozen after the warm-up;
// the twin learns on but not from vectors the champion alarms on.
func TestColdStartChampionDoesNotLearnAFault(t *testing.T) {
	p, s := newTest(t, Options{WarmUp: 20, ScoreAfter: 5, Alert: AlertOptions{Threshold: 0.9, Clear: 0.5, Consecutive: 1}})
	sc := func(v float64) func(int) (float64, float64) { return func(int) (float64, float64) { return v, 0 } }
	feed(t, p, "m1", 0, 5, sc(0.1))  // learned unconditionally
	feed(t, p, "m1", 5, 3, sc(0.95)) // a developing fault: not learned by anyone
	feed(t, p, "m1", 8, 3, sc(0.7))  // over Clear, in the episode: learned by no one
	feed(t, p, "m1", 11, 20, sc(0.1))
	var ch, tw uint64
	p.Models(func(m Model) {
		switch m.Role {
		case wire.RoleChampion:
			ch = m.Detector.Samples()
			if m.Warm != 0 {
				t.Errorf("champion warm = %d after the warm-up, want 0 (frozen)", m.Warm)
			}
		case wire.RoleTwin:
			tw = m.Detector.Samples()
		}
	})
	// Champion: 5 + the 0.1 vectors within the 20-vector warm-up (9).
	if ch != 14 {
		t.Errorf("champion learned %d vectors, want 14", ch)
	}
	// Twin: everything except the 3 alarmed vectors (the episode lasts
	// until the score falls under Clear: the 0.7 ones are in it too).
	if tw != 5+20 {
		t.Errorf("twin learned %d vectors, want %d", tw, 5+20)
	}
	if len(s.alerts) != 1 {
		t.Errorf("%d alerts, want 1", len(s.alerts))
	}
}

func TestAlertContext(t *testing.T) {
	p, s := newTest(t, Options{Alert: AlertOptions{Consecutive: 2}})
	// echo scores by sensor a; b is usually 5 and jumps with the fault.
	feed(t, p, "m1", 0, 60, func(i int) (float64, float64) { return 0.1 + math.Cos(float64(i))*0.05, 5 + math.Sin(float64(i))*0.1 })
	feed(t, p, "m1", 60, 2, func(int) (float64, float64) { return 0.995, 50 })
	if len(s.alerts) != 1 {
		t.Fatalf("%d alerts", len(s.alerts))
	}
	al := s.alerts[0]
	if len(al.Contributors) == 0 || al.Contributors[0].Feature != "b" {
		t.Errorf("contributors = %+v, want b first", al.Contributors)
	}
	for _, want := range []string{"recent scores [0.", "0.995 0.995]", "robust z", "b=50"} {
		if !strings.Contains(al.Message, want) {
			t.Errorf("message %q lacks %q", al.Message, want)
		}
	}
}

func TestDriftReported(t *testing.T) {
	p, s := newTest(t, Options{Drift: DriftOptions{Baseline: 50, MinGap: 1e12}})
	// Scores (sensor a) and sensor b step up at vector 300.
	feed(t, p, "m1", 0, 600, func(i int) (float64, float64) {
		n := math.Sin(float64(i)*1.7) * 0.02
		if i < 300 {
			return 0.1 + n, 5 + n
		}
		return 0.6 + n, 8 + n
	})
	if len(s.drifts) != 1 {
		t.Fatalf("%d drifts reported, want 1 (rate-limited): %+v", len(s.drifts), s.drifts)
	}
	d := s.drifts[0]
	if d.Machine != "m1" || d.Samples == 0 || !(d.After > d.Before) || d.Env.Time < at(300) {
		t.Errorf("drift = %+v", d)
	}
	if st := p.Stats(); st.Drifts != 1 || st.DriftsDropped == 0 {
		t.Errorf("stats = %+v, want one drift and some dropped", st)
	}
}

// Champion, twin, three challengers and drift detection: still nothing
// allocated per vector.
func TestScoringAllRolesAllocatesNothing(t *testing.T) {
	p, _ := newTest(t, Options{NewDetector: catalog.New})
	p.opts.Model = catalog.Default
	feed(t, p, "m1", 0, 300, normal)
	for _, kind := range []string{"hst", "rrcf", "pca"} {
		if err := p.Command(&wire.Command{Kind: wire.CmdDeploy, Machine: "m1", Role: wire.RoleChallenger, Model: kind}); err != nil {
			t.Fatal(err)
		}
	}
	feed(t, p, "m1", 300, 300, normal)
	m := p.machines["m1"]
	msg := p.msg
	msg.Readings = slices.Clone(msg.Readings)
	if len(m.slots) != 5 {
		t.Fatalf("%d models", len(m.slots))
	}
	before := p.Stats().Vectors
	if n := testing.AllocsPerRun(200, func() { advance(&msg); p.score(m, &msg) }); n != 0 {
		t.Errorf("scoring with every role allocates %v times per vector", n)
	}
	if got := p.Stats().Vectors - before; got != 201 {
		t.Errorf("%d vectors scored in 201 runs", got)
	}
}

func BenchmarkScoreAllRoles(b *testing.B) {
	p, _ := newTest(b, Options{NewDetector: catalog.New})
	p.opts.Model = catalog.Default
	feed(b, p, "m1", 0, 300, normal)
	for _, kind := range []string{"baseline", "hst", "pca"} {
		if err := p.Command(&wire.Command{Kind: wire.CmdDeploy, Machine: "m1", Role: wire.RoleChallenger, Model: kind}); err != nil {
			b.Fatal(err)
		}
	}
	m := p.machines["m1"]
	msg := p.msg
	msg.Readings = slices.Clone(msg.Readings)
	b.ReportAllocs()
	for b.Loop() {
		advance(&msg)
		p.score(m, &msg)
	}
	checkAllScored(b, p)
}

// Between Clear and the threshold, without an episode: the warming
// champion does not learn (it might be a fault developing), the twin does.
func TestWarmingChampionSkipsSuspectVectors(t *testing.T) {
	p, s := newTest(t, Options{WarmUp: 100, ScoreAfter: 5, Alert: AlertOptions{Threshold: 0.9, Clear: 0.5, Consecutive: 1}})
	sc := func(v float64) func(int) (float64, float64) { return func(int) (float64, float64) { return v, 0 } }
	feed(t, p, "m1", 0, 5, sc(0.1))
	feed(t, p, "m1", 5, 3, sc(0.7))
	learned := map[string]uint64{}
	p.Models(func(m Model) { learned[m.Role] = m.Detector.Samples() })
	if learned[wire.RoleChampion] != 5 || learned[wire.RoleTwin] != 8 || len(s.alerts) != 0 {
		t.Errorf("learned %v with %d alerts, want champion 5, twin 8, no alert", learned, len(s.alerts))
	}
}

// TestChampionPolicyAfterWarmUp: after its warm-up a champion learns from
// every vector (learn), from those under Clear (gated) or from none (frozen).
func TestChampionPolicyAfterWarmUp(t *testing.T) {
	tests := []struct {
		policy string
		want   uint64 // champion samples after 10 warm-up, 10 normal and 5 high vectors
	}{
		{ChampionLearn, 25},
		{ChampionGated, 20},
		{ChampionFrozen, 10},
	}
	for _, tt := range tests {
		t.Run(tt.policy, func(t *testing.T) {
			p, _ := newTest(t, Options{Champion: tt.policy, WarmUp: 10, ScoreAfter: 10,
				Alert: AlertOptions{Threshold: 0.9, Clear: 0.5, Consecutive: 100}})
			low := func(int) (float64, float64) { return 0.1, 0 }
			feed(t, p, "m1", 0, 20, low)
			feed(t, p, "m1", 20, 5, func(int) (float64, float64) { return 0.95, 0 })
			var got uint64
			p.Models(func(m Model) {
				if m.Role == wire.RoleChampion {
					got = m.Detector.Samples()
				}
			})
			if got != tt.want {
				t.Errorf("champion learned %d vectors, want %d", got, tt.want)
			}
		})
	}
}
