package api

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"millwright/hub/store"
	"millwright/wire"
)

// sse reads server-sent events from a response body.
type sse struct {
	t  *testing.T
	sc *bufio.Scanner
}

// next returns the next event's name and data (comments skipped).
func (s *sse) next() (string, string) {
	s.t.Helper()
	var name, data string
	for s.sc.Scan() {
		line := s.sc.Text()
		switch {
		case line == "" && (name != "" || data != ""):
			return name, data
		case strings.HasPrefix(line, "event: "):
			name = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			data = line[len("data: "):]
		}
	}
	s.t.Fatalf("stream ended: %v", s.sc.Err())
	return "", ""
}

func openStream(t *testing.T, ctx context.Context, url string) (*http.Response, *sse) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	s := &sse{t: t, sc: bufio.NewScanner(resp.Body)}
	if name, _ := s.next(); name != "hello" {
		t.Fatalf("first event %q, want hello", name)
	}
	return resp, s
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func streamServer(t *testing.T, so StreamOptions) (*httptest.Server, *Stream) {
	st, err := store.Open(t.Context(), t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s := NewStream(so)
	srv := httptest.NewServer(New(Options{Store: st, Stream: s}))
	t.Cleanup(srv.Close)
	t.Cleanup(s.Close)
	return srv, s
}

func metricsMsg(machine string, score float64) *wire.Metrics {
	return &wire.Metrics{Env: wire.Envelope{Sender: "gw1", Seq: 1, Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()},
		IntervalNs: int64(time.Minute), Series: []wire.ModelMetric{
			{Machine: machine, Model: "hst", Role: wire.RoleChampion, ScoreLast: score, Threshold: 0.8},
			{Machine: machine, Model: "rrcf", Role: wire.RoleChallenger, ScoreLast: score / 2, Threshold: 0.8},
			{Machine: "other", Model: "hst", Role: wire.RoleChampion, ScoreLast: 0.1}}}
}

func TestStreamDelivers(t *testing.T) {
	srv, s := streamServer(t, StreamOptions{})
	_, ev := openStream(t, t.Context(), srv.URL+"/api/v1/stream?gateway=gw1&machine=m1")
	waitFor(t, "subscription", func() bool { return s.Stats().Clients == 1 })
	s.PublishAlert(store.Alert{ID: "not-mine", Gateway: "gw1", Machine: "m2"})
	s.PublishMetrics("gw1", metricsMsg("m1", 0.6))
	name, data := ev.next()
	var m StreamMetrics
	if err := json.Unmarshal([]byte(data), &m); name != "metrics" || err != nil {
		t.Fatalf("event %q %s (%v), want metrics", name, data, err)
	}
	if m.Gateway != "gw1" || m.Machine != "m1" || len(m.Points) != 2 || m.Points[0].ScoreLast != 0.6 || m.Points[1].Role != wire.RoleChallenger {
		t.Fatalf("metrics event %+v: want m1's two points only", m)
	}
	s.PublishAlert(store.Alert{ID: "a-1", Gateway: "gw1", Machine: "m1", Severity: "critical"})
	if name, data := ev.next(); name != "alert" || !strings.Contains(data, `"id":"a-1"`) {
		t.Fatalf("event %q %s, want alert a-1 (and not m2's)", name, data)
	}
	s.PublishDrift("gw1", &wire.Drift{Machine: "m1", Signal: "force", Detector: "adwin"})
	if name, data := ev.next(); name != "drift" || !strings.Contains(data, `"signal":"force"`) {
		t.Fatalf("event %q %s, want drift", name, data)
	}
}

// TestStreamSlowClient: a client that does not read never blocks
// publishing; what it misses is counted and it is told to resync.
func TestStreamSlowClient(t *testing.T) {
	s := NewStream(StreamOptions{Buffer: 2})
	defer s.Close()
	sub, err := s.subscribe("", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 100 {
			s.PublishMetrics("gw1", metricsMsg("m1", 0.5))
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("publishing blocked on a client that does not read")
	}
	st := s.Stats()
	// Two machines per message: m1 and other.
	if st.Sent != 2 || st.Dropped != 198 || !sub.lagged.Load() {
		t.Fatalf("stats %+v, lagged %v: want 2 queued, 198 dropped, lagged", st, sub.lagged.Load())
	}
	s.unsubscribe(sub)
	if s.Stats().Clients != 0 {
		t.Fatal("unsubscribe left a client")
	}
}

func TestStreamResyncOverHTTP(t *testing.T) {
	srv, s := streamServer(t, StreamOptions{Buffer: 1})
	resp, ev := openStream(t, t.Context(), srv.URL+"/api/v1/stream")
	_ = resp
	waitFor(t, "subscription", func() bool { return s.Stats().Clients == 1 })
	// Fill the queue faster than the handler can drain it: some drop.
	for range 2000 {
		s.PublishAlert(store.Alert{ID: "x", Gateway: "gw1", Machine: "m1"})
	}
	if s.Stats().Dropped == 0 {
		t.Skip("the handler drained 2000 events as fast as they came; nothing to resync")
	}
	for {
		name, _ := ev.next()
		if name == "resync" {
			return
		}
	}
}

func TestStreamLimitsAndClose(t *testing.T) {
	srv, s := streamServer(t, StreamOptions{MaxClients: 1})
	ctx, cancel := context.WithCancel(t.Context())
	_, ev := openStream(t, ctx, srv.URL+"/api/v1/stream")
	resp, err := http.Get(srv.URL + "/api/v1/stream")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("second stream over the limit = %d, want 503", resp.StatusCode)
	}
	// Close (server shutdown) ends the open stream.
	s.Close()
	for ev.sc.Scan() {
	}
	waitFor(t, "the stream to end", func() bool { return s.Stats().Clients == 0 })
	cancel()
	// A client going away ends its handler too.
	s2srv, s2 := streamServer(t, StreamOptions{})
	ctx2, cancel2 := context.WithCancel(t.Context())
	openStream(t, ctx2, s2srv.URL+"/api/v1/stream")
	waitFor(t, "subscription", func() bool { return s2.Stats().Clients == 1 })
	cancel2()
	waitFor(t, "the handler to notice the client left", func() bool { return s2.Stats().Clients == 0 })
}

func TestStreamPublishIdleAllocs(t *testing.T) {
	s := NewStream(StreamOptions{})
	m := metricsMsg("m1", 0.5)
	a := store.Alert{ID: "x"}
	if n := testing.AllocsPerRun(100, func() { s.PublishMetrics("gw1", m); s.PublishAlert(a) }); n != 0 {
		t.Fatalf("publishing with no client allocates %v times", n)
	}
}

func BenchmarkStreamPublishMetrics(b *testing.B) {
	s := NewStream(StreamOptions{Buffer: 1 << 20})
	defer s.Close()
	sub, _ := s.subscribe("gw1", "m1", 0)
	stop, drained := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(drained)
		for {
			select {
			case <-sub.ch:
			case <-stop:
				return
			}
		}
	}()
	m := metricsMsg("m1", 0.5)
	b.ReportAllocs()
	for b.Loop() {
		s.PublishMetrics("gw1", m)
	}
	close(stop)
	<-drained
}

// TestStreamEventsFilter: events= narrows a stream to the events named
// (an alerts inbox needs no fleet-wide metrics); an unknown name is a 400.
func TestStreamEventsFilter(t *testing.T) {
	srv, s := streamServer(t, StreamOptions{})
	_, alerts := openStream(t, t.Context(), srv.URL+"/api/v1/stream?events=alert")
	_, both := openStream(t, t.Context(), srv.URL+"/api/v1/stream?events=metrics,drift")
	waitFor(t, "subscriptions", func() bool { return s.Stats().Clients == 2 })
	s.PublishMetrics("gw1", metricsMsg("m1", 0.6))
	s.PublishDrift("gw2", &wire.Drift{Machine: "m9", Signal: "force"})
	s.PublishAlert(store.Alert{ID: "a-1", Gateway: "gw2", Machine: "m9"})
	if name, data := alerts.next(); name != "alert" || !strings.Contains(data, `"id":"a-1"`) {
		t.Fatalf("alerts-only stream: first event %q %s, want alert a-1 (no metrics, no drift)", name, data)
	}
	for _, want := range []string{"metrics", "metrics", "drift"} { // m1 and other, then the drift
		if name, data := both.next(); name != want {
			t.Fatalf("metrics,drift stream: event %q %s, want %s", name, data, want)
		}
	}
	s.PublishAlert(store.Alert{ID: "a-2", Gateway: "gw1", Machine: "m1"})
	s.PublishDrift("gw1", &wire.Drift{Machine: "m1", Signal: "speed"})
	if name, data := both.next(); name != "drift" || !strings.Contains(data, `"signal":"speed"`) {
		t.Fatalf("metrics,drift stream: event %q %s, want the second drift (not alert a-2)", name, data)
	}
	for _, q := range []string{"events=alerts", "events=alert,bogus"} {
		resp, err := http.Get(srv.URL + "/api/v1/stream?" + q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("stream?%s = %d, want 400", q, resp.StatusCode)
		}
	}
	if got := s.Stats().Clients; got != 2 {
		t.Errorf("refused streams left %d clients, want 2", got)
	}
}

func TestParseKinds(t *testing.T) {
	for _, c := range []struct {
		in   string
		want eventKind
		bad  bool
	}{
		{"", 0, false},
		{"alert", kindAlert, false},
		{"metrics, alert", kindMetrics | kindAlert, false},
		{"drift,,metrics", kindDrift | kindMetrics, false},
		{"Alert", 0, true},
		{"hello", 0, true},
	} {
		got, err := parseKinds(c.in)
		if (err != nil) != c.bad || got != c.want {
			t.Errorf("parseKinds(%q) = %b, %v; want %b, error %v", c.in, got, err, c.want, c.bad)
		}
	}
}

// TestStreamBurstInOrder: a burst that fits the queue arrives whole and
// in order (the handler writes what is queued in one flush).
func TestStreamBurstInOrder(t *testing.T) {
	srv, s := streamServer(t, StreamOptions{Buffer: 300})
	_, ev := openStream(t, t.Context(), srv.URL+"/api/v1/stream?events=alert")
	waitFor(t, "subscription", func() bool { return s.Stats().Clients == 1 })
	const n = 300
	for i := range n {
		s.PublishAlert(store.Alert{ID: fmt.Sprintf("a-%d", i), Gateway: "gw1", Machine: "m1"})
	}
	for i := range n {
		name, data := ev.next()
		if want := fmt.Sprintf(`"id":"a-%d"`, i); name != "alert" || !strings.Contains(data, want) {
			t.Fatalf("event %d: %q %s, want alert a-%d", i, name, data, i)
		}
	}
	if st := s.Stats(); st.Sent != n || st.Dropped != 0 {
		t.Fatalf("stats %+v, want %d sent, none dropped", st, n)
	}
}
