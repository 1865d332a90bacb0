package influx

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	http2 "github.com/influxdata/influxdb-client-go/v2/api/http"
	"github.com/prometheus/client_golang/prometheus"

	"millwright/wire"
)

// fakeInflux records written lines; fail, when set, decides each
// attempt's error.
type fakeInflux struct {
	mu       sync.Mutex
	lines    []string
	attempts []time.Time
	fail     func(attempt int) error
}

func (f *fakeInflux) WriteRecord(_ context.Context, records ...string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attempts = append(f.attempts, time.Now())
	if f.fail != nil {
		if err := f.fail(len(f.attempts)); err != nil {
			return err
		}
	}
	for _, r := range records {
		f.lines = append(f.lines, strings.Split(strings.TrimSuffix(r, "\n"), "\n")...)
	}
	return nil
}

func (f *fakeInflux) written() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.lines...)
}

func down(err error) error  { return &http2.Error{Err: err} }
func status(code int) error { return &http2.Error{StatusCode: code, Code: "x", Message: "y"} }

func point(i int) Point {
	return Point{Measurement: "m", Tags: []Tag{{"k", "v"}}, Fields: []Field{Int("i", int64(i))}, Time: time.Unix(int64(i), 0)}
}

// run starts w in a goroutine and returns its stop function.
func run(t *testing.T, w *Writer) (stop func()) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}

func TestRetryWithBackoffThenSuccess(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeInflux{fail: func(n int) error {
			if n <= 4 {
				return down(errors.New("connection refused"))
			}
			return nil
		}}
		w, err := New(Options{URL: "http://x", Database: "db", writer: f, RetryMin: time.Second, RetryMax: 4 * time.Second, BatchPoints: 10})
		if err != nil {
			t.Fatal(err)
		}
		stop := run(t, w)
		for i := range 25 {
			w.Add(point(i))
		}
		time.Sleep(time.Minute) // fake time: every retry and flush happens
		synctest.Wait()
		if got := len(f.written()); got != 25 {
			t.Fatalf("written %d lines, want 25", got)
		}
		s := w.Stats()
		if s.Written != 25 || s.Retries != 4 || s.QueuedPoints != 0 || s.LastError != "" {
			t.Fatalf("stats = %+v", s)
		}
		// Delays double from RetryMin up to RetryMax, each jittered within [d/2, d].
		want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second}
		for i, d := range want {
			gap := f.attempts[i+1].Sub(f.attempts[i])
			if gap < d/2 || gap > d {
				t.Errorf("retry %d after %v, want within [%v, %v]", i+1, gap, d/2, d)
			}
		}
		stop()
	})
}

func TestRefusedBatchNotRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeInflux{fail: func(n int) error {
			if n == 1 {
				return status(http.StatusBadRequest)
			}
			return nil
		}}
		w, err := New(Options{URL: "http://x", Database: "db", writer: f})
		if err != nil {
			t.Fatal(err)
		}
		stop := run(t, w)
		w.Add(point(1), point(2))
		time.Sleep(2 * time.Second)
		synctest.Wait()
		w.Add(point(3))
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if s := w.Stats(); s.Refused != 2 || s.Written != 1 || s.Retries != 0 {
			t.Fatalf("stats = %+v", s)
		}
		stop()
	})
}

// listSource serves points from a list, as the store would.
type listSource struct {
	points []Point
	calls  int
}

func (l *listSource) Points(ctx context.Context, from, to time.Time, add func([]Point) error) error {
	l.calls++
	var out []Point
	for _, p := range l.points {
		if !p.Time.Before(from) && !p.Time.After(to) {
			out = append(out, p)
		}
	}
	for len(out) > 0 {
		n := min(len(out), 7)
		if err := add(out[:n]); err != nil {
			return err
		}
		out = out[n:]
	}
	return nil
}

func TestFullQueueDropsOldestThenBackfills(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		up := false
		f := &fakeInflux{fail: func(int) error {
			mu.Lock()
			defer mu.Unlock()
			if !up {
				return down(errors.New("connection refused"))
			}
			return nil
		}}
		src := &listSource{}
		reg := prometheus.NewRegistry()
		w, err := New(Options{URL: "http://x", Database: "db", writer: f, MaxPoints: 20, BatchPoints: 5, Source: src, Registerer: reg})
		if err != nil {
			t.Fatal(err)
		}
		stop := run(t, w)
		for i := range 100 {
			p := point(i)
			src.points = append(src.points, p)
			w.Add(p) // never blocks, though nothing is written
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		s := w.Stats()
		if s.QueuedPoints != 20 || s.Dropped != 80 || s.Written != 0 {
			t.Fatalf("while down: stats = %+v", s)
		}
		if got := counterValue(t, reg, "millwright_hub_influx_points_dropped_total"); got != 80 {
			t.Fatalf("dropped metric = %v", got)
		}
		mu.Lock()
		up = true
		mu.Unlock()
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		seen := map[string]bool{}
		for _, l := range f.written() {
			seen[l] = true
		}
		for i := range 100 {
			rejected := 0
			b, _ := appendLine(nil, &src.points[i], &rejected)
			if !seen[strings.TrimSuffix(string(b), "\n")] {
				t.Fatalf("point %d never written (backfill calls %d, stats %+v)", i, src.calls, w.Stats())
			}
		}
		if s := w.Stats(); s.Backfilled == 0 || s.QueuedPoints != 0 {
			t.Fatalf("after recovery: stats = %+v", s)
		}
		stop()
	})
}

func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

func TestShutdownFlushes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeInflux{}
		w, err := New(Options{URL: "http://x", Database: "db", writer: f, FlushEvery: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		stop := run(t, w)
		w.Add(point(1), point(2), point(3))
		stop()
		if got := len(f.written()); got != 3 {
			t.Fatalf("written %d at shutdown, want 3", got)
		}
	})
}

func TestNonFiniteRejected(t *testing.T) {
	f := &fakeInflux{}
	w, err := New(Options{URL: "http://x", Database: "db", writer: f})
	if err != nil {
		t.Fatal(err)
	}
	w.AddMetrics("gw", &wire.Metrics{Series: []wire.ModelMetric{{Machine: "m", ScoreMean: math.NaN(), ScoreMax: math.Inf(1)}}})
	w.Add(Point{Measurement: "m", Fields: []Field{Float("x", math.NaN())}})
	if s := w.Stats(); s.RejectedValues != 3 || s.Refused != 1 || s.QueuedPoints != 1 {
		t.Fatalf("stats = %+v", s)
	}
}

func TestAddMetricsAllocatesNothing(t *testing.T) {
	w, err := New(Options{URL: "http://x", Database: "db", writer: &fakeInflux{}, MaxPoints: 1000})
	if err != nil {
		t.Fatal(err)
	}
	m := metricsMessage()
	allocs := testing.AllocsPerRun(1000, func() { w.AddMetrics("gw", m) })
	if allocs != 0 {
		t.Fatalf("AddMetrics allocates %v times per call", allocs)
	}
}

func metricsMessage() *wire.Metrics {
	m := &wire.Metrics{Env: wire.Envelope{Sender: "gw", Time: 1e18}, IntervalNs: 5e9}
	for _, id := range []string{"m1", "m2", "m3", "m4", "m5", "m6"} {
		m.Series = append(m.Series, wire.ModelMetric{Machine: id, Model: "hst", Role: wire.RoleChampion, Count: 100, ScoreMean: 0.3, ScoreMax: 0.9, Threshold: 0.8})
	}
	return m
}

func BenchmarkAddMetrics(b *testing.B) {
	w, err := New(Options{URL: "http://x", Database: "db", writer: &fakeInflux{}, MaxPoints: 10000})
	if err != nil {
		b.Fatal(err)
	}
	m := metricsMessage()
	b.ReportAllocs()
	for b.Loop() {
		w.AddMetrics("gw", m)
	}
}

func TestBackoffBounds(t *testing.T) {
	for attempt := range 40 {
		d := backoff(time.Second, time.Minute, attempt)
		hi := min(time.Second<<min(attempt, 10), time.Minute)
		if d < hi/2 || d > hi {
			t.Fatalf("attempt %d: %v outside [%v, %v]", attempt, d, hi/2, hi)
		}
	}
}

func TestQueueMemoryBoundedWhileDown(t *testing.T) {
	w, err := New(Options{URL: "http://x", Database: "db", writer: &fakeInflux{}, MaxPoints: 100})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100_000 {
		w.Add(point(i))
	}
	w.mu.Lock()
	held, bufLen := len(w.lines), len(w.buf)
	w.mu.Unlock()
	if s := w.Stats(); s.QueuedPoints != 100 || s.Dropped != 100_000-100 {
		t.Fatalf("stats = %+v", s)
	}
	if held > 4096 || bufLen > 4096*64 {
		t.Fatalf("queue holds %d lines, %d bytes for 100 live points", held, bufLen)
	}
}

func TestBackfillOnStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeInflux{}
		now := time.Now()
		src := &listSource{points: []Point{
			{Measurement: "m", Fields: []Field{Int("i", 1)}, Time: now.Add(-2 * time.Hour)}, // too old
			{Measurement: "m", Fields: []Field{Int("i", 2)}, Time: now.Add(-30 * time.Minute)},
			{Measurement: "m", Fields: []Field{Int("i", 3)}, Time: now.Add(-time.Second)},
		}}
		w, err := New(Options{URL: "http://x", Database: "db", writer: f, Source: src, BackfillOnStart: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		stop := run(t, w)
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if got := f.written(); len(got) != 2 || !strings.Contains(got[0], "i=2i") || !strings.Contains(got[1], "i=3i") {
			t.Fatalf("written %q, want the last hour's two points", got)
		}
		stop()
	})
}

func TestTrickleIsBatched(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeInflux{}
		w, err := New(Options{URL: "http://x", Database: "db", writer: f, FlushEvery: time.Second, BatchPoints: 100})
		if err != nil {
			t.Fatal(err)
		}
		stop := run(t, w)
		for i := range 30 { // three seconds of a point every 100ms
			time.Sleep(100 * time.Millisecond)
			w.Add(point(i))
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if got, n := len(f.written()), len(f.attempts); got != 30 || n > 4 {
			t.Fatalf("%d points in %d requests; want 30 in at most 4 (one per FlushEvery)", got, n)
		}
		stop()
	})
}
