package main

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"millwright/agent/daemon"
	"millwright/agent/internal/brokertest"
	"millwright/agent/outbox"
	"millwright/agent/pipeline"
	"millwright/internal/mqtttest"
	"millwright/wire"
)

// rig is an agent in this process, fed by a raw publisher with a fleet's
// telemetry, its alerts easy to raise: one vector over the threshold
// raises one, the champion never learns from a fault, and no lateness
// holds readings back.
type rig struct {
	t    *testing.T
	addr string // broker host:port
	a    *daemon.Agent
	stop func() error
	f    *brokertest.Fleet
	pub  *brokertest.RawPublisher
	t0   int64
	tick int
	sent uint64
	// lossy: some of the messages counted in sent may have gone (QoS 0
	// before a subscription), others been counted late: wait for at least.
	lossy bool
}

func alertingOptions(url string, t *testing.T) daemon.Options {
	return daemon.Options{
		Gateway: "gw1", BrokerURL: url, StateDir: t.TempDir(), HTTPAddr: "127.0.0.1:0",
		Model: "baseline", // its scores of these faults clear the default threshold
		Learn: 1, WarmUp: 50, Champion: pipeline.ChampionGated,
		Alert:           pipeline.AlertOptions{Consecutive: 1, Cooldown: time.Millisecond},
		Stream:          pipeline.StreamOptions{Lateness: -1},
		DriftDisabled:   true,
		MetricsInterval: 100 * time.Millisecond,
		AckTimeout:      300 * time.Millisecond,
		Logger:          slog.New(slog.DiscardHandler),
	}
}

func newRig(t *testing.T, addr string, hub *brokertest.Hub, opts daemon.Options, assets int) *rig {
	t.Helper()
	births := hub.Count(wire.LeafBirth)
	a, stop := startAgent(t, opts)
	// The birth follows the subscriptions: telemetry sent now is taken.
	pollUntil(t, 20*time.Second, "the agent's birth", func() bool { return hub.Count(wire.LeafBirth) > births })
	f, err := brokertest.NewFleet("gw1", assets, 4)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, addr: addr, a: a, stop: stop, f: f, t0: time.Now().UnixNano()}
	r.dial()
	return r
}

func (r *rig) dial() {
	r.t.Helper()
	pub, err := brokertest.DialRaw(r.t.Context(), r.addr, "rig-plant")
	if err != nil {
		r.t.Fatal(err)
	}
	r.pub = pub
	r.t.Cleanup(func() { pub.Close() })
}

// faultEvery makes every asset faulty one tick in n, assets staggered.
func faultEvery(n int) func(tick, asset int) bool {
	return func(tick, asset int) bool { return tick > 60 && (tick+3*asset)%n == 0 }
}

// ticks publishes n ticks of every asset and waits until the agent has
// taken them.
func (r *rig) ticks(n int, fault func(tick, asset int) bool) {
	r.t.Helper()
	for range n {
		for a := range r.f.Topics {
			if err := r.f.Send(r.pub, a, r.tick, r.t0+int64(r.tick)*int64(10*time.Millisecond), fault != nil && fault(r.tick, a)); err != nil {
				r.t.Fatal(err)
			}
		}
		r.tick++
		r.sent += uint64(len(r.f.Topics))
	}
	if err := r.pub.Flush(); err != nil {
		r.t.Fatal(err)
	}
	pollUntil(r.t, 20*time.Second, "the agent taking every message", func() bool {
		n := r.a.PipelineStats().Messages
		return n == r.sent || r.lossy && n >= r.sent
	})
}

// books scrapes the outbox's books from /metrics and checks that they
// balance and agree with the agent's own.
func books(t *testing.T, httpAddr string) (produced, delivered, queued float64, dropped map[string]float64) {
	t.Helper()
	resp, err := http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	m := parseMetrics(b)
	produced, delivered, queued = m["mw_agent_outbox_produced_total"], m["mw_agent_outbox_delivered_total"], m["mw_agent_outbox_depth"]
	dropped = map[string]float64{}
	sum := 0.0
	for c := outbox.Metrics; c <= outbox.Alert; c++ {
		k := fmt.Sprintf("mw_agent_outbox_dropped_total{class=%q}", c.String())
		v, ok := m[k]
		if !ok {
			t.Fatalf("/metrics lacks %s", k)
		}
		dropped[c.String()] = v
		sum += v
	}
	if produced != delivered+sum+queued {
		t.Fatalf("the books do not balance on /metrics: produced %v != delivered %v + dropped %v + queued %v", produced, delivered, sum, queued)
	}
	return produced, delivered, queued, dropped
}

// Mosquitto restarts under a running agent: the agent reconnects, takes
// telemetry again (its subscriptions are back), and everything it owed the
// hub, including what it produced while the broker was away, reaches the
// hub: every sequence number, with nothing dropped.
func TestBrokerRestartLosesNothing(t *testing.T) {
	m := mqtttest.StartMosquitto(t, mqtttest.MosquittoOptions{})
	hub := brokertest.StartHub(t, m.URL)
	r := newRig(t, m.Addr, hub, alertingOptions(m.URL, t), 5)
	r.ticks(60, nil)
	for r.a.PipelineStats().Alerts < 5 {
		if r.tick > 5000 {
			t.Fatalf("too few alerts: %d", r.a.PipelineStats().Alerts)
		}
		r.ticks(20, faultEvery(10))
	}
	pollUntil(t, 20*time.Second, "alerts delivered before the restart", func() bool {
		return len(hub.Alerts()) > 0 && r.a.OutboxStats().Delivered > 0
	})
	before := r.a.PipelineStats()

	m.Restart(t)
	pollUntil(t, 30*time.Second, "the agent reconnected", r.a.Connected)
	if n := strings.Count(m.Log(), "as mw-agent-gw1"); n != 1 {
		t.Fatalf("the restarted broker saw the agent connect %d times, want 1:\n%s", n, m.Log())
	}
	// Telemetry flows again once the agent has subscribed: probe with
	// single ticks, then send a stretch with faults.
	r.dial()
	r.sent = r.a.PipelineStats().Messages
	pollUntil(t, 20*time.Second, "telemetry taken after the restart", func() bool {
		for a := range r.f.Topics {
			r.f.Send(r.pub, a, r.tick, r.t0+int64(r.tick)*int64(10*time.Millisecond), false)
		}
		r.tick++
		r.pub.Flush()
		return r.a.PipelineStats().Messages > before.Messages
	})
	r.sent, r.lossy = r.a.PipelineStats().Messages, true
	for r.a.PipelineStats().Alerts < before.Alerts+5 {
		if r.tick > 10000 {
			t.Fatalf("too few alerts after the restart: %d before, %d now", before.Alerts, r.a.PipelineStats().Alerts)
		}
		r.ticks(20, faultEvery(10))
	}

	pollUntil(t, 30*time.Second, "every entry acknowledged", func() bool {
		s := r.a.OutboxStats()
		return s.Queued == 0 && uint64(hub.Seqs("gw1")) == s.Produced
	})
	produced, delivered, _, dropped := books(t, r.a.HTTPAddr())
	for c, n := range dropped {
		if n != 0 {
			t.Errorf("%v %s entries dropped", n, c)
		}
	}
	if delivered != produced {
		t.Errorf("delivered %v of %v", delivered, produced)
	}
	if got, want := len(hub.Alerts()), int(r.a.PipelineStats().Alerts); got != want {
		t.Errorf("hub got %d alerts, the agent raised %d", got, want)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
}

// The outbox reaches its byte bound while nobody acknowledges: metrics
// are dropped to make room, never an alert; every drop is counted and
// exported; the agent keeps scoring and answering; once the hub acks
// again, every alert arrives and the books balance.
func TestOutboxFullDropsMetricsKeepsAlerts(t *testing.T) {
	b := brokertest.Start(t)
	hub := brokertest.StartHub(t, b.URL)
	hub.SetAcking(false)
	opts := alertingOptions(b.URL, t)
	opts.OutboxMaxBytes = 64 << 10 // config's least
	opts.MetricsInterval = 10 * time.Millisecond
	r := newRig(t, strings.TrimPrefix(b.URL, "tcp://"), hub, opts, 5)
	r.ticks(60, nil)
	for r.a.OutboxStats().DroppedBy[outbox.Metrics] < 20 || r.a.PipelineStats().Alerts < 10 {
		if r.tick > 20000 {
			t.Fatalf("outbox never filled: %+v, %d alerts", r.a.OutboxStats(), r.a.PipelineStats().Alerts)
		}
		r.ticks(20, faultEvery(20))
	}
	st := r.a.OutboxStats()
	if st.DroppedBy[outbox.Alert] != 0 || st.Bytes > opts.OutboxMaxBytes {
		t.Fatalf("outbox at its bound: %+v", st)
	}
	_, _, _, dropped := books(t, r.a.HTTPAddr())
	if dropped["metrics"] == 0 || dropped["alert"] != 0 {
		t.Fatalf("/metrics drops: %v", dropped)
	}
	resp, err := http.Get("http://" + r.a.HTTPAddr() + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz with a full outbox: %v %v", resp, err)
	}
	resp.Body.Close()
	r.ticks(20, nil) // still scoring

	hub.SetAcking(true)
	pollUntil(t, 30*time.Second, "the outbox drained", func() bool { return r.a.OutboxStats().Queued == 0 })
	raised := r.a.PipelineStats().Alerts
	if got := len(hub.Alerts()); uint64(got) != raised {
		t.Errorf("hub got %d alerts, the agent raised %d", got, raised)
	}
	// books checks produced = delivered + dropped + queued (metrics keep
	// coming every 10ms, so a few may be queued).
	if _, _, _, dropped := books(t, r.a.HTTPAddr()); dropped["alert"] != 0 {
		t.Errorf("alerts dropped: %v", dropped)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
}

// The hub takes no delivery for a long outage (many ack timeouts, every
// entry resent again and again) while several assets raise alerts; when
// it acknowledges again every alert arrives, and the alerts of each asset
// arrive in the order they were raised (sequence and event time).
func TestHubOutageAlertsInOrderPerAsset(t *testing.T) {
	m := mqtttest.StartMosquitto(t, mqtttest.MosquittoOptions{})
	hub := brokertest.StartHub(t, m.URL)
	hub.SetAcking(false)
	opts := alertingOptions(m.URL, t)
	opts.AckTimeout = 50 * time.Millisecond
	r := newRig(t, m.Addr, hub, opts, 5)
	for r.a.PipelineStats().Alerts < 25 {
		if r.tick > 5000 {
			t.Fatalf("too few alerts: %d", r.a.PipelineStats().Alerts)
		}
		r.ticks(20, faultEvery(10))
	}
	pollUntil(t, 20*time.Second, "every entry resent several times", func() bool {
		s := r.a.OutboxStats()
		return s.Sent >= 5*s.Produced
	})
	if s := r.a.OutboxStats(); s.Delivered != 0 || s.Dropped != 0 {
		t.Fatalf("delivered or dropped with nobody acking: %+v", s)
	}
	hub.SetAcking(true)
	pollUntil(t, 30*time.Second, "the outbox drained", func() bool { return r.a.OutboxStats().Queued == 0 })
	raised := r.a.PipelineStats().Alerts
	alerts := hub.Alerts()
	if uint64(len(alerts)) != raised {
		t.Fatalf("hub got %d alerts, the agent raised %d", len(alerts), raised)
	}
	last := map[string][2]int64{} // machine -> seq, event time
	per := map[string]int{}
	for _, al := range alerts {
		p := last[al.Machine]
		if int64(al.Env.Seq) <= p[0] || al.Env.Time <= p[1] {
			t.Errorf("alert %s (seq %d, time %d) arrived after seq %d, time %d of the same machine", al.ID, al.Env.Seq, al.Env.Time, p[0], p[1])
		}
		last[al.Machine] = [2]int64{int64(al.Env.Seq), al.Env.Time}
		per[al.Machine]++
	}
	if len(per) < 3 {
		t.Errorf("alerts of %d machines, want several: %v", len(per), per)
	}
	books(t, r.a.HTTPAddr())
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
}
