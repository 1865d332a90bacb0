package main

import (
	"bytes"
	"context"
	"log/slog"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"millwright/agent/daemon"
	"millwright/agent/internal/brokertest"
	"millwright/wire"
)

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

func connect(t *testing.T, url, id string) paho.Client {
	t.Helper()
	c := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID(id).SetCleanSession(true))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("%s connect: %v", id, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

// hub is a fake hub: it records what agents send and acks every sequence
// number of an entry the agent owes it, as the real hub does after its
// durable write.
type hub struct {
	mu        sync.Mutex
	alerts    []wire.Alert
	snapshots []wire.Snapshot
	metrics   []wire.Metrics
	births    []wire.Birth
	deaths    []wire.Death
	cmdAcks   []wire.CommandAck
	drifts    []wire.Drift
	acked     map[uint64]bool
}

func startHub(t *testing.T, url string) *hub {
	h := &hub{acked: make(map[uint64]bool)}
	c := connect(t, url, "fake-hub")
	tok := c.Subscribe(wire.AgentSubscription, 1, func(c paho.Client, m paho.Message) {
		tp, err := wire.ParseTopic(m.Topic())
		if err != nil {
			t.Errorf("hub: %v", err)
			return
		}
		var seq uint64
		h.mu.Lock()
		defer h.mu.Unlock()
		switch tp.Leaf {
		case wire.LeafAlerts:
			var a wire.Alert
			if err := wire.Unmarshal(m.Payload(), &a); err != nil {
				t.Errorf("hub: alert: %v", err)
				return
			}
			h.alerts, seq = append(h.alerts, a), a.Env.Seq
		case wire.LeafMetrics:
			var x wire.Metrics
			if err := wire.Unmarshal(m.Payload(), &x); err != nil {
				t.Errorf("hub: metrics: %v", err)
				return
			}
			h.metrics, seq = append(h.metrics, x), x.Env.Seq
		case wire.LeafSnapshots:
			var s wire.Snapshot
			if err := wire.Unmarshal(m.Payload(), &s); err != nil {
				t.Errorf("hub: snapshot: %v", err)
				return
			}
			h.snapshots, seq = append(h.snapshots, s), s.Env.Seq
		case wire.LeafCmdAck:
			var x wire.CommandAck
			if err := wire.Unmarshal(m.Payload(), &x); err != nil {
				t.Errorf("hub: command ack: %v", err)
				return
			}
			h.cmdAcks, seq = append(h.cmdAcks, x), x.Env.Seq
		case wire.LeafDrift:
			var x wire.Drift
			if err := wire.Unmarshal(m.Payload(), &x); err != nil {
				t.Errorf("hub: drift: %v", err)
				return
			}
			h.drifts, seq = append(h.drifts, x), x.Env.Seq
		case wire.LeafBirth:
			var b wire.Birth
			if err := wire.Unmarshal(m.Payload(), &b); err == nil {
				h.births = append(h.births, b)
			}
			return
		case wire.LeafDeath:
			var d wire.Death
			if err := wire.Unmarshal(m.Payload(), &d); err == nil {
				h.deaths = append(h.deaths, d)
			}
			return
		default:
			return
		}
		ack, err := wire.Marshal(&wire.Ack{Env: wire.Envelope{Sender: "hub"}, Seqs: []uint64{seq}})
		if err != nil {
			t.Errorf("hub: %v", err)
			return
		}
		h.acked[seq] = true
		c.Publish(wire.HubTopic(tp.Gateway, wire.LeafAck), 1, false, ack) // no wait inside a handler
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("hub subscribe: %v", tok.Error())
	}
	return h
}

func (h *hub) locked(f func()) { h.mu.Lock(); defer h.mu.Unlock(); f() }

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func startAgent(t *testing.T, opts daemon.Options) (*daemon.Agent, func() error) {
	t.Helper()
	a, err := daemon.New(opts)
	if err != nil {
		t.Fatalf("daemon.New: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() { cancel(); runErr = <-done })
		return runErr
	}
	t.Cleanup(func() { stop() })
	waitFor(t, "agent ready", func() bool {
		resp, err := http.Get("http://" + a.HTTPAddr() + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return a, stop
}

var t0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// machineSender returns a function that publishes one CBOR telemetry
// message of machine id (gateway gw1), the i-th, one second of event time
// after the previous.
func machineSender(t *testing.T, url, id string) func(i int, temp, vib float64) {
	machine := connect(t, url, id)
	topic := wire.TelemetryTopic("gw1", id)
	return func(i int, temp, vib float64) {
		tm := t0.Add(time.Duration(i) * time.Second).UnixNano()
		p, err := wire.Marshal(&wire.Telemetry{Env: wire.Envelope{Sender: id, Time: tm}, Machine: id,
			Readings: []wire.Reading{{Sensor: "temp", Time: tm, Value: temp}, {Sensor: "vib", Time: tm, Value: vib}}})
		if err != nil {
			t.Fatal(err)
		}
		machine.Publish(topic, 1, false, p).Wait()
	}
}

func sendNormal(send func(int, float64, float64), n int) {
	for i := range n {
		send(i, 60+math.Sin(float64(i)/7), 1+0.1*math.Cos(float64(i)/3))
	}
}

func TestAgentEndToEnd(t *testing.T) {
	b := brokertest.Start(t)
	h := startHub(t, b.URL)
	logs := new(syncBuf)
	opts := daemon.Options{
		Gateway:         "gw1",
		BrokerURL:       b.URL,
		StateDir:        t.TempDir(),
		HTTPAddr:        "127.0.0.1:0",
		Learn:           1,
		MetricsInterval: time.Hour, // only alerts and the final metrics and snapshots
		Logger:          slog.New(slog.NewTextHandler(logs, nil)),
	}
	a, stop := startAgent(t, opts)
	// The retained birth says the agent has subscribed.
	waitFor(t, "birth", func() bool { var n int; h.locked(func() { n = len(h.births) }); return n > 0 })

	send := machineSender(t, b.URL, "press-1")
	const normal = 400
	sendNormal(send, normal)
	waitFor(t, "normal vectors scored", func() bool { return a.PipelineStats().Vectors == normal })
	waitFor(t, "a birth listing the machine and its sensors", func() bool {
		var ok bool
		h.locked(func() {
			last := h.births[len(h.births)-1]
			ok = len(last.Machines) == 1 && last.Machines[0].ID == "press-1" && strings.Join(last.Machines[0].Sensors, ",") == "temp,vib"
		})
		return ok
	})
	var none int
	h.locked(func() { none = len(h.alerts) })
	if none != 0 {
		t.Fatalf("%d alerts on normal data", none)
	}
	for i := range 10 {
		send(normal+i, 60, 50) // vibration far out
	}
	waitFor(t, "an alert at the hub", func() bool { var n int; h.locked(func() { n = len(h.alerts) }); return n > 0 })
	waitFor(t, "every vector scored", func() bool { return a.PipelineStats().Vectors == normal+10 })
	var al wire.Alert
	h.locked(func() { al = h.alerts[0] })
	if al.Machine != "press-1" || al.Env.Time != t0.Add(normal*time.Second).UnixNano() || !strings.HasPrefix(al.ID, "gw1-press-1-") {
		t.Errorf("alert = %+v, want press-1 dated at the first spike", al)
	}
	if len(al.Contributors) == 0 || al.Contributors[0].Feature != "vib" {
		t.Errorf("contributors = %+v, want vib first", al.Contributors)
	}
	waitFor(t, "alert acked and gone from the outbox", func() bool {
		s := a.OutboxStats()
		return s.Queued == 0 && s.Delivered >= 1
	})

	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	s := a.OutboxStats()
	if s.Queued != 0 || s.Produced != s.Delivered+s.Dropped {
		t.Errorf("outbox after shutdown: %+v; the flush should leave nothing", s)
	}
	// The goodbye was taken by the broker before Run returned; it reaches
	// the hub a moment later.
	waitFor(t, "death at the hub", func() bool { var n int; h.locked(func() { n = len(h.deaths) }); return n > 0 })
	h.locked(func() {
		// Champion and twin; neither learned the fault (the champion is
		// still in its warm-up, learning only vectors under Clear).
		if len(h.snapshots) != 2 || h.snapshots[0].Machine != "press-1" || h.snapshots[0].Role != wire.RoleChampion ||
			h.snapshots[1].Role != wire.RoleTwin || h.snapshots[0].Samples > normal || h.snapshots[1].Samples > normal || h.snapshots[1].Samples < normal-10 {
			t.Errorf("snapshots at the hub: %+v", h.snapshots)
		}
		if len(h.metrics) != 1 || len(h.metrics[0].Series) != 2 || h.metrics[0].Series[0].Count != normal+10 || h.metrics[0].Series[0].Role != wire.RoleChampion ||
			h.metrics[0].Series[1].Role != wire.RoleTwin || h.metrics[0].Series[1].Count != normal+10 {
			t.Errorf("metrics at the hub: %+v", h.metrics)
		}
		if len(h.deaths) != 1 || h.deaths[0].Reason != "shutdown" {
			t.Errorf("deaths at the hub: %+v", h.deaths)
		}
	})
	if _, err := os.Stat(filepath.Join(opts.StateDir, "models", "press-1.champion.model")); err != nil {
		t.Errorf("model state not saved: %v", err)
	}

	// A restart resumes the model and the sequence numbers.
	var births int
	h.locked(func() { births = len(h.births) })
	a2, stop2 := startAgent(t, opts)
	// The birth follows the subscriptions: telemetry sent now is received.
	waitFor(t, "birth after restart", func() bool { var n int; h.locked(func() { n = len(h.births) }); return n > births })
	if got := a2.OutboxStats().Produced; got != s.Produced {
		t.Errorf("produced after restart = %d, want %d", got, s.Produced)
	}
	if !strings.Contains(logs.String(), "model state restored") {
		t.Errorf("restart did not restore the model; logs:\n%s", logs)
	}
	send(normal+20, 60, 1)
	waitFor(t, "scoring after restart", func() bool { return a2.PipelineStats().Vectors == 1 })
	if err := stop2(); err != nil {
		t.Fatal(err)
	}
}

// A broker's PUBACK is not delivery: with no hub listening, the alert stays
// in the outbox and goes again after the ack timeout until a hub acks it.
func TestAlertWaitsForTheHub(t *testing.T) {
	b := brokertest.Start(t)
	a, stop := startAgent(t, daemon.Options{
		Gateway:         "gw1",
		BrokerURL:       b.URL,
		StateDir:        t.TempDir(),
		HTTPAddr:        "127.0.0.1:0",
		Learn:           1,
		MetricsInterval: time.Hour,
		AckTimeout:      100 * time.Millisecond,
		FlushTimeout:    100 * time.Millisecond,
		DriftDisabled:   true, // the alert is the only entry owed
	})
	send := machineSender(t, b.URL, "mill-2")
	const normal = 300
	sendNormal(send, normal)
	for i := range 5 {
		send(normal+i, 60, 80)
	}
	waitFor(t, "alert raised", func() bool { return a.PipelineStats().Alerts == 1 })
	waitFor(t, "alert sent more than once", func() bool { return a.OutboxStats().Sent >= 3 })
	if s := a.OutboxStats(); s.Queued != 1 || s.Delivered != 0 {
		t.Fatalf("without a hub the alert must stay queued: %+v", s)
	}
	h := startHub(t, b.URL)
	waitFor(t, "alert at the late hub", func() bool { var n int; h.locked(func() { n = len(h.alerts) }); return n > 0 })
	waitFor(t, "alert acked", func() bool { s := a.OutboxStats(); return s.Delivered >= 1 && s.Queued == 0 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}
