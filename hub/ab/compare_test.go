package ab_test

import (
	"testing"
	"time"

	"millwright/hub/ab"
	"millwright/hub/store"
	"millwright/wire"
)

// scenario writes days of metrics every period for a champion and a
// challenger on gw1/m1, with a confirmed fault at noon of every other day
// (alert at 12:00, resolved 13:00) and one false alarm a day at 03:00.
type scenario struct {
	days   int
	period time.Duration
	// alarm decides whether each model alarms in an interval; fault says
	// the interval is inside a fault (11:00–13:00, lookback included).
	champ, chall func(fault bool, t time.Time) bool
}

var day0 = time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)

func (sc scenario) load(t *testing.T) *store.Store {
	t.Helper()
	ctx := t.Context()
	st, err := store.Open(ctx, t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	tx, err := st.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	period := sc.period
	for at := day0.Add(period); at.Before(day0.Add(time.Duration(sc.days) * 24 * time.Hour)); at = at.Add(period) {
		d := int(at.Sub(day0).Hours()) / 24
		h := at.Hour()
		fault := d%2 == 0 && h >= 11 && h < 13
		c, x := sc.champ(fault, at), sc.chall(fault, at)
		var ca, xa uint64
		if c {
			ca = 10
		}
		if x {
			xa = 10
		}
		m := &wire.Metrics{Env: wire.Envelope{Version: 1, Sender: "gw1", Time: at.UnixNano()}, IntervalNs: int64(period),
			Series: []wire.ModelMetric{
				{Machine: "m1", Model: "hst", Role: wire.RoleChampion, Kind: "hst", Count: 60, Alerts: ca},
				{Machine: "m1", Model: "challenger-1", Role: wire.RoleChallenger, Kind: "rrcf", Count: 60, Alerts: xa,
					Both: min(ca, xa), OnlyModel: xa - min(ca, xa), OnlyChampion: ca - min(ca, xa)},
			}}
		if _, err := tx.IngestMetrics(ctx, m, at); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	for d := 0; d < sc.days; d += 2 {
		noon := day0.Add(time.Duration(d)*24*time.Hour + 12*time.Hour)
		id := "fault-" + noon.Format("0102")
		if _, err := st.IngestAlert(ctx, &wire.Alert{Env: wire.Envelope{Version: 1, Sender: "gw1", Time: noon.UnixNano()}, ID: id, Machine: "m1"}, noon); err != nil {
			t.Fatal(err)
		}
		if _, err := st.AddFeedback(ctx, store.Feedback{AlertID: id, Label: store.LabelRealFault}, noon); err != nil {
			t.Fatal(err)
		}
		if _, err := st.ResolveAlert(ctx, id, "tech", noon.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

func TestCompareVerdicts(t *testing.T) {
	never := func(bool, time.Time) bool { return false }
	lateInFault := func(f bool, at time.Time) bool { return f && at.Hour() == 12 && at.Minute() >= 30 } // champion: late
	earlyInFault := func(f bool, at time.Time) bool { return f }                                        // whole fault span
	noisy := func(f bool, at time.Time) bool { return f || at.Minute() == 0 }                           // hourly false alarms
	tests := []struct {
		name        string
		sc          scenario
		want        string
		wantLead    bool // challenger detects faults before the champion's alert
		wantFewerFA bool
	}{
		{"challenger catches faults earlier", scenario{10, 30 * time.Minute, lateInFault, earlyInFault}, ab.Better, true, false},
		{"challenger raises false alarms", scenario{10, 30 * time.Minute, earlyInFault, noisy}, ab.Worse, true, false},
		{"too few days", scenario{3, 30 * time.Minute, lateInFault, earlyInFault}, ab.Insufficient, true, false},
		{"identical decisions", scenario{10, 30 * time.Minute, earlyInFault, earlyInFault}, ab.Insufficient, true, false},
		{"champion silent, challenger silent", scenario{10, 30 * time.Minute, never, never}, ab.Insufficient, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := tt.sc.load(t)
			r, err := ab.Compare(t.Context(), st, "gw1", "m1", ab.Options{From: day0, To: day0.Add(time.Duration(tt.sc.days) * 24 * time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Models) != 2 || r.Models[0].Role != wire.RoleChampion || r.Models[1].Verdict == nil {
				t.Fatalf("models = %+v", r.Models)
			}
			if wantFaults := (tt.sc.days + 1) / 2; r.Faults != wantFaults {
				t.Fatalf("faults = %d, want %d", r.Faults, wantFaults)
			}
			ch := r.Models[1]
			if ch.Verdict.Outcome != tt.want {
				t.Fatalf("verdict = %+v, want %s", ch.Verdict, tt.want)
			}
			if got := ch.Detected == r.Faults && ch.MeanLead > 0; got != tt.wantLead {
				t.Errorf("detected %d/%d lead %v: early detection = %v, want %v", ch.Detected, r.Faults, ch.MeanLead, got, tt.wantLead)
			}
			if d := ch.Days; d < float64(tt.sc.days)-0.1 || d > float64(tt.sc.days)+0.1 {
				t.Errorf("machine-days = %v, want %d", d, tt.sc.days)
			}
		})
	}
}

// TestCompareMetrics checks the derived numbers of one hand-countable case.
func TestCompareMetrics(t *testing.T) {
	sc := scenario{2, 10 * time.Minute, func(f bool, at time.Time) bool { return f && at.Hour() == 12 && at.Minute() == 0 },
		func(f bool, at time.Time) bool {
			return (f && at.Hour() == 11 && at.Minute() == 0) || at.Hour() == 3 && at.Minute() == 0
		}}
	st := sc.load(t)
	r, err := ab.Compare(t.Context(), st, "gw1", "m1", ab.Options{From: day0, To: day0.Add(48 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	ch, champ := r.Models[1], r.Models[0]
	// One fault (day 0, span 11:00–13:00 = 12 intervals of 10 min). The
	// challenger alarms at 11:00 (in span) and at 03:00 on both days.
	if ch.Confusion.TP != 1 || ch.Confusion.FP != 2 || ch.Confusion.FN != 11 {
		t.Errorf("challenger confusion = %+v, want TP 1 FP 2 FN 11", ch.Confusion)
	}
	if ch.MeanLead != time.Hour || champ.MeanLead != 0 || champ.Detected != 1 {
		t.Errorf("lead: challenger %v, champion %v (detected %d); want 1h and 0", ch.MeanLead, champ.MeanLead, champ.Detected)
	}
	if ch.OnlyModel != 30 || ch.OnlyChampion != 10 || ch.Both != 0 {
		t.Errorf("paired = both %d only-model %d only-champion %d, want 0/30/10", ch.Both, ch.OnlyModel, ch.OnlyChampion)
	}
	// Wins: alone in fault (11:00, 10 vectors). Losses: alone outside (2 × 10) + champion alone in fault (10).
	if ch.Verdict.Wins != 10 || ch.Verdict.Losses != 30 {
		t.Errorf("wins/losses = %d/%d, want 10/30", ch.Verdict.Wins, ch.Verdict.Losses)
	}
	if fa := ch.FalseAlarmsPerDay; fa < 0.9 || fa > 1.1 {
		t.Errorf("false alarms per day = %v, want about 1", fa)
	}
	if ch.NAB.Standard <= 0 || ch.NAB.Standard >= 100 {
		t.Errorf("NAB standard = %v, want in (0, 100)", ch.NAB.Standard)
	}
}

func TestGroup(t *testing.T) {
	sc := scenario{10, 30 * time.Minute, func(f bool, at time.Time) bool { return f && at.Hour() == 12 && at.Minute() >= 30 },
		func(f bool, at time.Time) bool { return f }}
	st := sc.load(t)
	if _, err := st.IngestBirth(t.Context(), &wire.Birth{Env: wire.Envelope{Version: 1, Sender: "gw1", Seq: 1 << 40},
		Machines: []wire.MachineInfo{{ID: "m1", Type: "pump", Site: "north"}}}, day0); err != nil {
		t.Fatal(err)
	}
	o := ab.Options{From: day0, To: day0.Add(10 * 24 * time.Hour)}
	for _, by := range []string{ab.ByType, ab.BySite} {
		gs, err := ab.Group(t.Context(), st, st, by, o)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{ab.ByType: "pump", ab.BySite: "north"}[by]
		if len(gs) != 1 || gs[0].Group != want || len(gs[0].Kinds) != 2 {
			t.Fatalf("by %s: groups = %+v", by, gs)
		}
		ch := gs[0].Kinds[0] // "challenger" sorts before "champion"
		if ch.Kind != "rrcf" || ch.Verdict == nil || ch.Verdict.Outcome != ab.Better || ch.Faults != 5 {
			t.Fatalf("by %s: challenger summary = %+v", by, ch)
		}
	}
	if _, err := ab.Group(t.Context(), st, st, "line", o); err == nil {
		t.Fatal("group by line: want an error")
	}
}
