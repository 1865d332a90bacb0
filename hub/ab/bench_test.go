package ab_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"millwright/hub/ab"
	"millwright/hub/store"
	"millwright/wire"
)

const (
	benchDays   = 30
	benchPeriod = 10 * time.Second
)

var benchStart = time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)

var (
	benchOnce sync.Once
	benchDir  string
	benchErr  error
	keep      string
)

// preload writes 30 days of 10 s metrics for one asset (champion and one
// challenger: 259,200 points each), with a fault every 5 days, once per
// test binary run.
func preload(tb testing.TB) *store.Store {
	tb.Helper()
	benchOnce.Do(func() {
		// MW_AB_BENCH_DIR keeps the preloaded store between runs.
		if d := os.Getenv("MW_AB_BENCH_DIR"); d != "" {
			if _, err := os.Stat(filepath.Join(d, store.FileName)); err == nil {
				keep = d
				return
			}
			keep = d
			benchErr = fill(context.Background(), d)
			return
		}
		benchDir, benchErr = os.MkdirTemp("", "ab-bench-")
		if benchErr != nil {
			return
		}
		benchErr = fill(context.Background(), benchDir)
	})
	dir := benchDir
	if keep != "" {
		dir = keep
	}
	if benchErr != nil {
		tb.Fatal(benchErr)
	}
	st, err := store.Open(tb.Context(), dir, store.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

func fill(ctx context.Context, dir string) error {
	st, err := store.Open(ctx, dir, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	n := int(benchDays * 24 * time.Hour / benchPeriod)
	const batch = 2000
	var tx *store.Tx
	m := &wire.Metrics{IntervalNs: int64(benchPeriod), Series: make([]wire.ModelMetric, 2)}
	for i := 0; i < n; i++ {
		if i%batch == 0 {
			if tx != nil {
				if err := tx.Commit(); err != nil {
					return err
				}
			}
			if tx, err = st.Begin(ctx); err != nil {
				return err
			}
		}
		at := benchStart.Add(time.Duration(i+1) * benchPeriod)
		fault := i%(5*8640) > 5*8640-360 // the last hour of every 5th day
		champ, chall := uint64(0), uint64(0)
		if i%997 == 0 || (fault && i%7 == 0) {
			champ = 1
		}
		if i%1499 == 0 || (fault && i%3 == 0) {
			chall = 1
		}
		m.Env = wire.Envelope{Version: 1, Sender: "gw1", Time: at.UnixNano()}
		m.Series[0] = wire.ModelMetric{Machine: "m1", Model: "hst", Role: wire.RoleChampion, Kind: "hst", Count: 100, Alerts: champ}
		m.Series[1] = wire.ModelMetric{Machine: "m1", Model: "challenger-1", Role: wire.RoleChallenger, Kind: "rrcf", Count: 100, Alerts: chall}
		b, o, c := min(champ, chall), chall&^champ, champ&^chall
		m.Series[1].Both, m.Series[1].OnlyModel, m.Series[1].OnlyChampion = b, o, c
		if _, err := tx.IngestMetrics(ctx, m, at); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	// Every fault was alerted by the champion and confirmed by a technician.
	for d := 5; d <= benchDays; d += 5 {
		start := benchStart.Add(time.Duration(d)*24*time.Hour - time.Hour)
		id := "fault-" + start.Format("0102")
		if _, err := st.IngestAlert(ctx, &wire.Alert{Env: wire.Envelope{Version: 1, Sender: "gw1", Time: start.UnixNano()}, ID: id, Machine: "m1"}, start); err != nil {
			return err
		}
		if _, err := st.AddFeedback(ctx, store.Feedback{AlertID: id, Label: store.LabelRealFault}, start); err != nil {
			return err
		}
		if _, err := st.ResolveAlert(ctx, id, "tech", start.Add(time.Hour)); err != nil {
			return err
		}
	}
	return nil
}

// BenchmarkVerdict is the whole comparison of one asset over 30 days of
// 10 s metrics (259,200 points per model): labels, aggregates, alarm
// times, events, NAB, McNemar and a 2000-resample bootstrap.
func BenchmarkVerdict(b *testing.B) {
	st := preload(b)
	b.ReportAllocs()
	o := ab.Options{From: benchStart, To: benchStart.Add(benchDays * 24 * time.Hour)}
	var r ab.Report
	for b.Loop() {
		var err error
		if r, err = ab.Compare(b.Context(), st, "gw1", "m1", o); err != nil {
			b.Fatal(err)
		}
	}
	if len(r.Models) != 2 || r.Models[1].Verdict == nil || r.Faults != benchDays/5 {
		b.Fatalf("report = %+v", r)
	}
	b.ReportMetric(float64(r.Models[0].Intervals), "points/model")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if benchDir != "" {
		os.RemoveAll(filepath.Clean(benchDir))
	}
	os.Exit(code)
}

func BenchmarkDayAggs(b *testing.B) {
	st := preload(b)
	b.ReportAllocs()
	to := benchStart.Add(benchDays * 24 * time.Hour)
	faults := []store.Span{{From: benchStart.Add(5*24*time.Hour - time.Hour), To: benchStart.Add(5 * 24 * time.Hour)}}
	for b.Loop() {
		if _, err := st.DayAggs(b.Context(), "gw1", "m1", benchStart, to.Add(time.Second), faults); err != nil {
			b.Fatal(err)
		}
	}
}
