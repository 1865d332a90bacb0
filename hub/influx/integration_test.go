package influx_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"millwright/hub/influx"
	"millwright/hub/store"
	"millwright/internal/influxtest"
	"millwright/wire"
)

// rig is a real influxd and a running Writer on it.
type rig struct {
	db *influxtest.Influxd
	w  *influx.Writer
	q  *influx.Querier
}

func start(t *testing.T, opts influx.Options) *rig {
	t.Helper()
	db := influxtest.Start(t, influxtest.Options{})
	opts.URL, opts.Database = db.URL, db.Database
	if opts.RetryMin == 0 {
		opts.RetryMin, opts.RetryMax = 20*time.Millisecond, 300*time.Millisecond
	}
	if opts.FlushEvery == 0 {
		opts.FlushEvery = 20 * time.Millisecond
	}
	w, err := influx.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := w.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return &rig{db: db, w: w, q: influx.NewQuerier(opts)}
}

func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// count returns how many points of measurement hold field.
func (r *rig) count(t *testing.T, measurement, field string) int64 {
	t.Helper()
	s, err := r.q.Query(t.Context(), fmt.Sprintf(`SELECT count(%s) FROM %s`, influx.QuoteIdent(field), influx.QuoteIdent(measurement)))
	if err != nil {
		t.Fatal(err)
	}
	if len(s) == 0 {
		return 0
	}
	n, err := s[0].Values[0][1].(json.Number).Int64()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func metrics(gw string, i int, machines ...string) *wire.Metrics {
	m := &wire.Metrics{Env: wire.Envelope{Sender: gw, Seq: uint64(i + 1), Time: t0.Add(time.Duration(i) * 5 * time.Second).UnixNano()}, IntervalNs: 5e9}
	for j, id := range machines {
		m.Series = append(m.Series, wire.ModelMetric{Machine: id, Model: "hst", Role: wire.RoleChampion, Count: 50,
			ScoreMean: 0.1 * float64(j+1), ScoreMax: 0.2 * float64(j+1), ScoreLast: 0.15, Alerts: uint64(i % 2),
			Samples: uint64(1000 + i), LatencyNs: 2000, Threshold: 0.9})
	}
	return m
}

func TestWriteAndReadBack(t *testing.T) {
	r := start(t, influx.Options{})
	for i := range 12 { // one minute of 5 s intervals
		r.w.AddMetrics("gw1", metrics("gw1", i, "m1", "m2"))
	}
	r.w.AddAlert(store.Alert{ID: "a1", Gateway: "gw1", Machine: "m1", Model: "hst", Severity: wire.SeverityCritical, Score: 0.95, Threshold: 0.9, Start: t0.Add(time.Second)})
	waitFor(t, "all written", 10*time.Second, func() bool { return r.w.Stats().Written == 25 })

	scores, err := r.q.MachineScores(t.Context(), "gw1", "m2", t0, t0.Add(time.Minute), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(scores) != 1 || scores[0].Model != "hst" || scores[0].Role != wire.RoleChampion || len(scores[0].Points) != 2 {
		t.Fatalf("scores = %+v", scores)
	}
	for _, p := range scores[0].Points {
		if p.ScoreMean == nil || math.Abs(*p.ScoreMean-0.2) > 1e-12 || *p.ScoreMax != 0.4 || p.Count != 6*50 || p.Alerts != 3 {
			t.Fatalf("bucket %+v (mean %v max %v), want mean 0.2, max 0.4, 300 scored, 3 alerts", p, deref(p.ScoreMean), deref(p.ScoreMax))
		}
	}
	r.w.AddAlert(store.Alert{ID: "a2", Gateway: "gw1", Machine: "m2", Model: "hst", Severity: wire.SeverityWarning, Start: t0.Add(40 * time.Second)})
	r.w.AddAlert(store.Alert{ID: "a3", Gateway: "gw2", Machine: "m9", Model: "hst", Severity: wire.SeverityWarning, Start: t0.Add(50 * time.Second)})
	waitFor(t, "alerts written", 10*time.Second, func() bool { return r.w.Stats().Written == 27 })
	buckets, err := r.q.AlertCounts(t.Context(), "", t0, t0.Add(time.Minute), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	want := []influx.AlertBucket{{Time: t0, Severity: "critical", Count: 1}, {Time: t0.Add(30 * time.Second), Severity: "warning", Count: 2}}
	if !slices.Equal(buckets, want) {
		t.Fatalf("alert counts = %+v, want %+v", buckets, want)
	}
	if b, err := r.q.AlertCounts(t.Context(), "gw2", t0, t0.Add(time.Minute), time.Minute); err != nil || len(b) != 1 || b[0].Count != 1 {
		t.Fatalf("gw2 alert counts = %+v, %v", b, err)
	}
	s, err := r.q.Query(t.Context(), `SELECT "id", "score" FROM "alerts" WHERE "severity" = 'critical'`)
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != 1 || len(s[0].Values) != 1 || s[0].Values[0][1] != "a1" {
		t.Fatalf("alerts = %+v", s)
	}
}

func deref(f *float64) any {
	if f == nil {
		return nil
	}
	return *f
}

func TestEscapingRoundTrip(t *testing.T) {
	r := start(t, influx.Options{})
	odd := `line 2, bay=3 "north"`
	r.w.Add(influx.Point{Measurement: "odd name, here", Tags: []influx.Tag{{Key: "site key", Value: odd}},
		Fields: []influx.Field{influx.String("note", `he said "hi" \ left`), influx.Float("v", 1.5)}, Time: t0})
	waitFor(t, "written", 10*time.Second, func() bool { return r.w.Stats().Written == 1 })
	s, err := r.q.Query(t.Context(), fmt.Sprintf(`SELECT "note", "v" FROM %s WHERE %s = %s`,
		influx.QuoteIdent("odd name, here"), influx.QuoteIdent("site key"), influx.QuoteString(odd)))
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != 1 || len(s[0].Values) != 1 || s[0].Values[0][1] != `he said "hi" \ left` {
		t.Fatalf("read back %+v", s)
	}
}

func TestNaNRefused(t *testing.T) {
	r := start(t, influx.Options{})
	m := metrics("gw1", 0, "m1")
	m.Series[0].ScoreMean = math.NaN()
	m.Series[0].ScoreMax = math.Inf(1)
	r.w.AddMetrics("gw1", m)
	r.w.Add(influx.Point{Measurement: "model_metrics", Fields: []influx.Field{influx.Float("score_mean", math.NaN())}, Time: t0})
	waitFor(t, "written", 10*time.Second, func() bool { return r.w.Stats().Written == 1 })
	if s := r.w.Stats(); s.RejectedValues != 3 || s.Refused != 1 {
		t.Fatalf("stats = %+v", s)
	}
	if n := r.count(t, "model_metrics", "score_mean"); n != 0 {
		t.Fatalf("%d NaN score_mean values stored", n)
	}
	if n := r.count(t, "model_metrics", "score_last"); n != 1 {
		t.Fatalf("score_last count = %d, want the finite fields kept", n)
	}
}

// TestOutageBuffers stops InfluxDB while points keep coming: the Writer
// keeps them and, once InfluxDB is back, everything arrives.
func TestOutageBuffers(t *testing.T) {
	r := start(t, influx.Options{BatchPoints: 100})
	for i := range 10 {
		r.w.AddMetrics("gw1", metrics("gw1", i, "m1", "m2", "m3"))
	}
	waitFor(t, "first points written", 10*time.Second, func() bool { return r.w.Stats().Written == 30 })
	r.db.Stop()
	for i := 10; i < 110; i++ {
		r.w.AddMetrics("gw1", metrics("gw1", i, "m1", "m2", "m3"))
	}
	waitFor(t, "retries while down", 10*time.Second, func() bool { return r.w.Stats().Retries >= 2 })
	if s := r.w.Stats(); s.LastError == "" || s.QueuedPoints != 300 {
		t.Fatalf("while down: stats = %+v", s)
	}
	r.db.Restart(t)
	back := time.Now()
	waitFor(t, "backlog written", 20*time.Second, func() bool { return r.w.Stats().Written == 330 })
	t.Logf("backlog of 300 points written %v after influxd answered /ping again", time.Since(back).Round(time.Millisecond))
	if n := r.count(t, "model_metrics", "count"); n != 330 {
		t.Fatalf("influx holds %d points, want 330", n)
	}
	if s := r.w.Stats(); s.Dropped != 0 || s.LastError != "" {
		t.Fatalf("after recovery: stats = %+v", s)
	}
}

// TestOutageOverflowBackfillsFromStore overflows a small queue during an
// outage; what was dropped is re-read from the store afterwards.
func TestOutageOverflowBackfillsFromStore(t *testing.T) {
	st, err := store.Open(t.Context(), t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r := start(t, influx.Options{MaxPoints: 40, BatchPoints: 10, Source: influx.StoreSource{Store: st}})
	r.db.Stop()
	const n = 100
	for i := range n {
		m := metrics("gw1", i, "m1", "m2")
		if _, err := st.IngestMetrics(t.Context(), m, time.Now()); err != nil {
			t.Fatal(err)
		}
		r.w.AddMetrics("gw1", m) // as ingest's OnMetrics hook would, after the write
	}
	if s := r.w.Stats(); s.Dropped == 0 || s.QueuedPoints > 40 {
		t.Fatalf("while down: stats = %+v", s)
	}
	r.db.Restart(t)
	waitFor(t, "every stored point in influx", 30*time.Second, func() bool { return r.count(t, "model_metrics", "count") == 2*n })
	if s := r.w.Stats(); s.Backfilled == 0 {
		t.Fatalf("stats = %+v", s)
	}
	t.Logf("stats after recovery: %+v", r.w.Stats())
}

// BenchmarkWriterToInfluxd measures points per second from AddMetrics to
// InfluxDB's acknowledgement, on a real influxd.
func BenchmarkWriterToInfluxd(b *testing.B) {
	r := startB(b)
	m := metrics("gw1", 0, "m1", "m2", "m3", "m4", "m5", "m6")
	start := time.Now()
	var sent uint64
	b.ReportAllocs()
	for b.Loop() {
		m.Env.Time += 5e9
		r.w.AddMetrics("gw1", m)
		sent += 6
	}
	for r.w.Stats().Written+r.w.Stats().Dropped < sent {
		time.Sleep(5 * time.Millisecond)
	}
	b.ReportMetric(float64(sent)/time.Since(start).Seconds(), "points/s")
	if d := r.w.Stats().Dropped; d > 0 {
		b.ReportMetric(float64(d), "dropped")
	}
}

func startB(b *testing.B) *rig {
	db := influxtest.Start(b, influxtest.Options{})
	opts := influx.Options{URL: db.URL, Database: db.Database, MaxPoints: 1 << 20, MaxBytes: 256 << 20}
	w, err := influx.New(opts)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	b.Cleanup(func() { cancel(); <-done })
	return &rig{db: db, w: w, q: influx.NewQuerier(opts)}
}
