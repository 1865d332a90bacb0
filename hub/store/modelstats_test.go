package store_test

import (
	"fmt"
	"math"
	"testing"
	"time"

	"millwright/hub/store"
	"millwright/wire"
)

func TestScoredPerDay(t *testing.T) {
	s := open(t, t.TempDir())
	ctx := t.Context()
	get(s.IngestBirth(ctx, &wire.Birth{Env: wire.Envelope{Version: 1, Sender: "gw1", Seq: 1, Time: t0.UnixNano()},
		Machines: []wire.MachineInfo{{ID: "m1", Model: "hst"}, {ID: "m2", Model: "hst"}}}, t0))(t)
	seq := uint64(1)
	put := func(at time.Time, series ...wire.ModelMetric) {
		seq++
		get(s.IngestMetrics(ctx, &wire.Metrics{Env: wire.Envelope{Version: 1, Sender: "gw1", Seq: seq, Time: at.UnixNano()},
			IntervalNs: int64(time.Minute), Series: series}, at))(t)
	}
	day0 := t0.Truncate(24 * time.Hour)
	// Before the window: not counted.
	put(day0.Add(-30*time.Hour), wire.ModelMetric{Machine: "m1", Model: "hst", Role: wire.RoleChampion, Kind: "hst", Count: 999})
	// Day 0: two machines, two points on m1 in one bucket, a challenger
	// without a kind (named by its model).
	put(day0.Add(time.Hour), wire.ModelMetric{Machine: "m1", Model: "hst", Role: wire.RoleChampion, Kind: "hst", Count: 100},
		wire.ModelMetric{Machine: "m2", Model: "hst", Role: wire.RoleChampion, Kind: "hst", Count: 50},
		wire.ModelMetric{Machine: "m1", Model: "rrcf-a", Role: wire.RoleChallenger, Count: 7})
	put(day0.Add(time.Hour+time.Minute), wire.ModelMetric{Machine: "m1", Model: "hst", Role: wire.RoleChampion, Kind: "hst", Count: 10})
	// Day 1, last minute of the day.
	put(day0.Add(48*time.Hour-time.Minute), wire.ModelMetric{Machine: "m2", Model: "hst", Role: wire.RoleChampion, Kind: "hst", Count: 5})

	got := get(s.ScoredPerDay(ctx, day0.Add(3*time.Hour), time.Time{}))(t)
	d0, d1 := day0.Format(time.DateOnly), day0.Add(24*time.Hour).Format(time.DateOnly)
	want := []store.ModelDay{
		{Kind: "hst", Role: "champion", Day: d0, Vectors: 160, Machines: 2},
		{Kind: "hst", Role: "champion", Day: d1, Vectors: 5, Machines: 1},
		{Kind: "rrcf-a", Role: "challenger", Day: d0, Vectors: 7, Machines: 1},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("ScoredPerDay = %+v\nwant %+v", got, want)
	}
	if got := get(s.ScoredPerDay(ctx, day0.Add(72*time.Hour), time.Time{}))(t); len(got) != 0 {
		t.Errorf("ScoredPerDay after the last metrics = %+v, want none", got)
	}
	// until's day is excluded.
	if got := get(s.ScoredPerDay(ctx, day0, day0.Add(25*time.Hour)))(t); fmt.Sprint(got) != fmt.Sprint([]store.ModelDay{want[0], want[2]}) {
		t.Errorf("ScoredPerDay of day 0 only = %+v, want %+v", got, []store.ModelDay{want[0], want[2]})
	}
}

func TestLastPromotions(t *testing.T) {
	s := open(t, t.TempDir())
	ctx := t.Context()
	get(s.IngestBirth(ctx, &wire.Birth{Env: wire.Envelope{Version: 1, Sender: "gw1", Seq: 1, Time: t0.UnixNano()},
		Machines: []wire.MachineInfo{{ID: "m1", Model: "hst"}, {ID: "m2", Model: "hst"}}}, t0))(t)
	deploy := func(m, kind, by string, at time.Time) store.Deployment {
		return get(s.Deploy(ctx, store.Deployment{Gateway: "gw1", Machine: m, Role: wire.RoleChampion, Name: kind, Kind: kind, By: by},
			&wire.Command{Kind: wire.CmdDeploy}, at))(t)
	}
	// Only births: nothing promoted.
	k, a := func() ([]store.Promotion, []store.Promotion) {
		k, a, err := s.LastPromotions(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		return k, a
	}()
	if len(k) != 0 || len(a) != 0 {
		t.Fatalf("promotions after births only = %+v %+v, want none", k, a)
	}
	deploy("m1", "rrcf", "dana", t0.Add(time.Hour))
	deploy("m2", "rrcf", "ada", t0.Add(2*time.Hour))
	bad := deploy("m1", "hst2", "vera", t0.Add(3*time.Hour))
	// Rolling back hst2 restores rrcf on m1 as a new deployment by tomas:
	// that is not a promotion.
	get(s.Rollback(ctx, bad.ID, &wire.Command{Kind: wire.CmdRollback}, "tomas", "worse", t0.Add(4*time.Hour)))(t)

	byKind, byAsset, err := s.LastPromotions(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(byKind) != 2 || byKind[0].Kind != "hst2" || byKind[0].By != "vera" || byKind[0].Status != store.DeployRolledBack ||
		byKind[1].Kind != "rrcf" || byKind[1].By != "ada" || !byKind[1].At.Equal(t0.Add(2*time.Hour)) || byKind[1].Assets != 2 {
		t.Errorf("by kind = %+v, want hst2 by vera (rolled back), then rrcf by ada on 2 assets", byKind)
	}
	if len(byAsset) != 2 || byAsset[0].Machine != "m1" || byAsset[0].Kind != "hst2" || byAsset[1].Machine != "m2" || byAsset[1].By != "ada" {
		t.Errorf("by asset = %+v, want m1 (hst2 by vera), m2 (rrcf by ada)", byAsset)
	}
}

func TestModelFeatures(t *testing.T) {
	s := open(t, t.TempDir())
	ctx := t.Context()
	seq := uint64(0)
	alert := func(id, model string, at time.Time, cs ...wire.Contribution) {
		seq++
		get(s.IngestAlert(ctx, &wire.Alert{Env: wire.Envelope{Version: 1, Sender: "gw1", Seq: seq, Time: at.UnixNano()},
			ID: id, Machine: "m1", Model: model, Severity: wire.SeverityWarning, Score: 0.9, Threshold: 0.8, Contributors: cs}, at))(t)
	}
	alert("old", "hst", t0.Add(-48*time.Hour), wire.Contribution{Feature: "old", Value: 1})
	alert("a1", "hst", t0, wire.Contribution{Feature: "force", Value: 3}, wire.Contribution{Feature: "temp", Value: 1})
	alert("a2", "hst", t0.Add(time.Minute), wire.Contribution{Feature: "force", Value: -1}, wire.Contribution{Feature: "vib", Value: 1})
	alert("a3", "hst", t0.Add(2*time.Minute)) // no contributions: not counted
	alert("b1", "rrcf", t0.Add(3*time.Minute), wire.Contribution{Feature: "rpm", Value: 0.2})

	fs, n, err := s.ModelFeatures(ctx, t0.Add(-time.Hour), 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		model, feature string
		share          float64
		alerts         int64
	}
	want := []row{{"hst", "force", (0.75 + 0.5) / 2, 2}, {"hst", "vib", 0.25, 1}, {"rrcf", "rpm", 1, 1}}
	if len(fs) != len(want) {
		t.Fatalf("features = %+v, want %v", fs, want)
	}
	for i, w := range want {
		f := fs[i]
		if f.Model != w.model || f.Feature != w.feature || math.Abs(f.Share-w.share) > 1e-9 || f.Alerts != w.alerts {
			t.Errorf("feature %d = %+v, want %+v", i, f, w)
		}
	}
	if n["hst"] != 2 || n["rrcf"] != 1 {
		t.Errorf("alerts per model = %v, want hst 2, rrcf 1", n)
	}
	// The limit keeps the newest alerts only.
	fs, _, err = s.ModelFeatures(ctx, t0.Add(-time.Hour), 1, 5)
	if err != nil || len(fs) != 1 || fs[0].Model != "rrcf" {
		t.Errorf("newest alert only: %+v (%v), want rrcf's rpm", fs, err)
	}
}
