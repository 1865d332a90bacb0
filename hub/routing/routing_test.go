package routing_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"millwright/hub/routing"
	"millwright/hub/store"
	"millwright/internal/conf"
	"millwright/wire"
)

func alert(id, machine, severity string) store.Alert {
	now := time.Now().UTC()
	return store.Alert{ID: id, Gateway: "gw1", Machine: machine, Model: "hst", Severity: severity, Score: 0.97,
		Threshold: 0.9, Start: now, Received: now, Status: store.StatusOpen, StatusTime: now, Message: "bearing"}
}

func run(t *testing.T, r *routing.Router) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
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

// hook is a webhook endpoint that answers with the statuses in replies,
// then 200.
type hook struct {
	mu      sync.Mutex
	replies []int
	bodies  []routing.Notice
	srv     *httptest.Server
}

func newHook(t *testing.T, replies ...int) *hook {
	h := &hook{replies: replies}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var n routing.Notice
		if err := json.Unmarshal(b, &n); err != nil || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("webhook body %q: %v", b, err)
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		h.bodies = append(h.bodies, n)
		code := http.StatusOK
		if len(h.replies) > 0 {
			code, h.replies = h.replies[0], h.replies[1:]
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hook) calls() []routing.Notice {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]routing.Notice(nil), h.bodies...)
}

func TestWebhookRetriedThenDeduplicated(t *testing.T) {
	h := newHook(t, 500, 503, 429)
	r, err := routing.New(routing.Options{
		Config: routing.Config{
			Channels: []routing.ChannelConfig{{Name: "chat", Kind: routing.KindWebhook, URL: h.srv.URL}},
			Rules:    []routing.Rule{{Name: "all", Channels: []string{"chat"}}},
		},
		RetryMin: time.Millisecond, RetryMax: 10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	run(t, r)
	a := alert("a1", "press-4", wire.SeverityCritical)
	r.Route(a)
	waitFor(t, "delivered", func() bool { s, _ := r.Stats(); return s["chat"].Sent == 1 })
	got := h.calls()
	if len(got) != 4 {
		t.Fatalf("webhook called %d times, want 3 failures and 1 success", len(got))
	}
	n := got[3]
	if n.Alert.ID != "a1" || !strings.Contains(n.Text, "[CRITICAL] press-4") || !strings.Contains(n.Text, "a1") || n.Escalation != 0 || n.Rule != "all" {
		t.Fatalf("notice = %+v", n)
	}
	// The same alert again (a redelivery) is not sent again; another is.
	r.Route(a)
	r.Route(alert("a2", "press-4", wire.SeverityWarning))
	waitFor(t, "second alert delivered", func() bool { s, _ := r.Stats(); return s["chat"].Sent == 2 })
	s, _ := r.Stats()
	if s["chat"].Deduplicated != 1 || len(h.calls()) != 5 {
		t.Fatalf("stats %+v, %d calls; want a1 once, a2 once", s["chat"], len(h.calls()))
	}
}

func TestWebhookErrorHidesURL(t *testing.T) {
	var logs strings.Builder
	var mu sync.Mutex
	r, err := routing.New(routing.Options{
		Config: routing.Config{
			Channels: []routing.ChannelConfig{{Name: "chat", Kind: routing.KindWebhook, URL: "http://127.0.0.1:1/hooks/SECRET-TOKEN"}},
			Rules:    []routing.Rule{{Channels: []string{"chat"}}},
		},
		MaxAttempts: 1,
		Logger:      slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	run(t, r)
	r.Route(alert("a1", "m1", wire.SeverityCritical))
	waitFor(t, "given up", func() bool { s, _ := r.Stats(); return s["chat"].Failed == 1 })
	mu.Lock()
	defer mu.Unlock()
	if strings.Contains(logs.String(), "SECRET-TOKEN") || !strings.Contains(logs.String(), "not delivered") {
		t.Fatalf("log: %s", logs.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestWebhookGivesUp(t *testing.T) {
	cases := []struct {
		name    string
		replies []int
		calls   int
	}{
		{"bad request is not retried", []int{400}, 1},
		{"retries are bounded", []int{500, 500, 500, 500, 500}, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHook(t, c.replies...)
			r, err := routing.New(routing.Options{
				Config: routing.Config{
					Channels: []routing.ChannelConfig{{Name: "chat", Kind: routing.KindWebhook, URL: h.srv.URL}},
					Rules:    []routing.Rule{{Channels: []string{"chat"}}},
				},
				MaxAttempts: 3, RetryMin: time.Millisecond, RetryMax: 5 * time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			run(t, r)
			r.Route(alert("a1", "m1", wire.SeverityCritical))
			waitFor(t, "given up", func() bool { s, _ := r.Stats(); return s["chat"].Failed == 1 })
			if n := len(h.calls()); n != c.calls {
				t.Fatalf("%d calls, want %d", n, c.calls)
			}
		})
	}
}

// board records MQTT publishes.
type board struct {
	mu   sync.Mutex
	msgs map[string][]routing.Notice
}

func (b *board) Publish(topic string, qos byte, retained bool, payload []byte) error {
	var n routing.Notice
	if err := json.Unmarshal(payload, &n); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.msgs == nil {
		b.msgs = map[string][]routing.Notice{}
	}
	b.msgs[topic] = append(b.msgs[topic], n)
	return nil
}

func (b *board) count(topic string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.msgs[topic])
}

// locator places machines on sites and lines.
type locator map[string][2]string

func (l locator) Locate(_ context.Context, gw, machine string) (string, string, error) {
	v := l[gw+"/"+machine]
	return v[0], v[1], nil
}

func TestRulesBySiteLineMachineSeverity(t *testing.T) {
	b := &board{}
	r, err := routing.New(routing.Options{
		Config: routing.Config{
			Channels: []routing.ChannelConfig{
				{Name: "inbox", Kind: routing.KindInbox},
				{Name: "board", Kind: routing.KindMQTT, Topic: "displays/{site}/{line}", QoS: 1},
			},
			Rules: []routing.Rule{
				{Channels: []string{"inbox"}},
				{Match: routing.Match{Sites: []string{"plant-a"}, Lines: []string{"2"}, Severities: []string{wire.SeverityCritical}}, Channels: []string{"board"}},
				{Match: routing.Match{Machines: []string{"gw1/lathe"}}, Channels: []string{"board"}},
			},
		},
		Publisher: b,
		Locator:   locator{"gw1/press": {"plant-a", "2"}, "gw1/lathe": {"plant-a", "3"}, "gw1/saw": {"plant-b", "2"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	run(t, r)
	r.Route(alert("a1", "press", wire.SeverityCritical)) // board via site+line+severity
	r.Route(alert("a2", "press", wire.SeverityWarning))  // inbox only
	r.Route(alert("a3", "saw", wire.SeverityCritical))   // other site: inbox only
	r.Route(alert("a4", "lathe", wire.SeverityWarning))  // board via machine
	waitFor(t, "inbox has all", func() bool { s, _ := r.Stats(); return s["inbox"].Sent == 4 })
	waitFor(t, "board has two", func() bool { s, _ := r.Stats(); return s["board"].Sent == 2 })
	if b.count("displays/plant-a/2") != 1 || b.count("displays/plant-a/3") != 1 {
		t.Fatalf("board got %v", b.msgs)
	}
	if n := b.msgs["displays/plant-a/2"][0]; n.Alert.ID != "a1" || n.Site != "plant-a" || n.Line != "2" {
		t.Fatalf("notice %+v", n)
	}
}

// statuses is a StatusSource the test acknowledges alerts in.
type statuses struct {
	mu sync.Mutex
	m  map[string]string
}

func (s *statuses) AlertStatus(_ context.Context, id string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.m[id]; ok {
		return st, nil
	}
	return "", store.ErrNotFound
}

func (s *statuses) set(id, st string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[id] = st
}

func TestEscalation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &board{}
		st := &statuses{m: map[string]string{}}
		r, err := routing.New(routing.Options{
			Config: routing.Config{
				Channels: []routing.ChannelConfig{
					{Name: "inbox", Kind: routing.KindInbox},
					{Name: "supervisor", Kind: routing.KindMQTT, Topic: "escalated/{machine}"},
					{Name: "manager", Kind: routing.KindMQTT, Topic: "manager/{machine}"},
				},
				Rules: []routing.Rule{{Name: "crit", Match: routing.Match{Severities: []string{wire.SeverityCritical}}, Channels: []string{"inbox"},
					Escalate: []routing.Escalation{
						{After: conf.Duration(10 * time.Minute), Channels: []string{"supervisor"}},
						{After: conf.Duration(time.Hour), Channels: []string{"manager"}},
					}}},
			},
			Status: st, Publisher: b,
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- r.Run(ctx) }()

		for _, id := range []string{"open", "acked-early", "acked-later"} {
			st.set(id, store.StatusOpen)
			r.Route(alert(id, id, wire.SeverityCritical))
		}
		time.Sleep(5 * time.Minute)
		st.set("acked-early", store.StatusAcknowledged)
		time.Sleep(5*time.Minute - time.Second)
		synctest.Wait()
		if n := b.count("escalated/open"); n != 0 {
			t.Fatalf("escalated %d times before 10 minutes", n)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if b.count("escalated/open") != 1 || b.count("escalated/acked-later") != 1 || b.count("escalated/acked-early") != 0 {
			t.Fatalf("after 10 minutes: %v", b.msgs)
		}
		if n := b.msgs["escalated/open"][0]; n.Escalation != 1 || !strings.HasPrefix(n.Text, "ESCALATED: ") {
			t.Fatalf("escalation notice %+v", n)
		}
		st.set("acked-later", store.StatusResolved)
		time.Sleep(time.Hour)
		synctest.Wait()
		if b.count("manager/open") != 1 || b.count("manager/acked-later") != 0 || b.count("escalated/open") != 1 {
			t.Fatalf("after an hour: %v", b.msgs)
		}
		// Routing the alert again schedules nothing new on channels it reached.
		r.Route(alert("open", "open", wire.SeverityCritical))
		time.Sleep(2 * time.Hour)
		synctest.Wait()
		if b.count("escalated/open") != 1 || b.count("manager/open") != 1 {
			t.Fatalf("re-routed alert escalated again: %v", b.msgs)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

func TestNewRefusesMissingDependencies(t *testing.T) {
	esc := routing.Config{Channels: []routing.ChannelConfig{{Name: "i", Kind: routing.KindInbox}},
		Rules: []routing.Rule{{Channels: []string{"i"}, Escalate: []routing.Escalation{{After: conf.Duration(time.Minute), Channels: []string{"i"}}}}}}
	if _, err := routing.New(routing.Options{Config: esc}); err == nil {
		t.Fatal("escalation without a status source accepted")
	}
	mq := routing.Config{Channels: []routing.ChannelConfig{{Name: "b", Kind: routing.KindMQTT, Topic: "x"}}}
	if _, err := routing.New(routing.Options{Config: mq}); err == nil {
		t.Fatal("mqtt channel without a publisher accepted")
	}
}

func TestStoreAdapters(t *testing.T) {
	ctx := t.Context()
	st, err := store.Open(ctx, t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.IngestBirth(ctx, &wire.Birth{Env: wire.Envelope{Sender: "gw1", Seq: 1},
		Machines: []wire.MachineInfo{{ID: "press", Site: "plant-a", Line: "2"}}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := st.IngestAlert(ctx, &wire.Alert{Env: wire.Envelope{Sender: "gw1", Seq: 2}, ID: "a1", Machine: "press"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	site, line, err := routing.MachineLocator{Store: st}.Locate(ctx, "gw1", "press")
	if err != nil || site != "plant-a" || line != "2" {
		t.Fatalf("Locate = %q %q %v", site, line, err)
	}
	ss := routing.StoreStatus{Store: st}
	if s, err := ss.AlertStatus(ctx, "a1"); err != nil || s != store.StatusOpen {
		t.Fatalf("status = %q, %v", s, err)
	}
	if _, err := st.AckAlert(ctx, "a1", time.Now()); err != nil {
		t.Fatal(err)
	}
	if s, err := ss.AlertStatus(ctx, "a1"); err != nil || s != store.StatusAcknowledged {
		t.Fatalf("status after ack = %q, %v", s, err)
	}
	if _, err := ss.AlertStatus(ctx, "nope"); err == nil {
		t.Fatal("unknown alert has a status")
	}
}
