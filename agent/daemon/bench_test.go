package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"millwright/agent/internal/brokertest"
	"millwright/agent/pipeline"
	"millwright/internal/mqtttest"
	"millwright/models/catalog"
	"millwright/wire"
)

func newBenchFleet(tb testing.TB, gw string, assets, sensors int) *brokertest.Fleet {
	tb.Helper()
	f, err := brokertest.NewFleet(gw, assets, sensors)
	if err != nil {
		tb.Fatal(err)
	}
	return f
}

// benchAgent runs an agent on the broker at url until the benchmark ends.
func benchAgent(b *testing.B, hub *brokertest.Hub, url string, opts Options, before func(*Agent)) (*Agent, func()) {
	b.Helper()
	births := hub.Count(wire.LeafBirth)
	opts.Gateway, opts.BrokerURL, opts.StateDir, opts.HTTPAddr = "gw1", url, b.TempDir(), "127.0.0.1:0"
	opts.Logger = slog.New(slog.DiscardHandler)
	a, err := New(opts)
	if err != nil {
		b.Fatal(err)
	}
	if before != nil {
		before(a)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(b.Context()))
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			b.Errorf("agent Run: %v", err)
		}
	}
	b.Cleanup(stop)
	// The birth follows the subscriptions: telemetry sent now is taken.
	benchWait(b, 20*time.Second, "the agent's birth", func() bool { return hub.Count(wire.LeafBirth) > births })
	return a, stop
}

// benchWait polls cond every 200µs until it holds or within passes.
func benchWait(tb testing.TB, within time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(200 * time.Microsecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", within, what)
		}
		<-tick.C
	}
}

// deployChallengers makes every machine of the fleet three-model: its
// champion, the learning twin and one challenger deployed by the hub.
func deployChallengers(b *testing.B, hub *brokertest.Hub, f *brokertest.Fleet) {
	b.Helper()
	for a := range f.Topics {
		c := &wire.Command{Env: wire.Envelope{Sender: "hub"}, ID: fmt.Sprintf("c%d", a), Kind: wire.CmdDeploy,
			Machine: f.Machine(a), Role: wire.RoleChallenger, Model: catalog.Default, Name: "shadow"}
		if err := hub.Command(b.Context(), f.Gateway, c); err != nil {
			b.Fatal(err)
		}
	}
	benchWait(b, 30*time.Second, "every challenger deployed", func() bool { return len(hub.CommandAcks()) >= len(f.Topics) })
	for _, ack := range hub.CommandAcks() {
		if !ack.OK {
			b.Fatalf("deploy refused: %s", ack.Reason)
		}
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkDaemonIngest is the agent's sustained ingest through all of it:
// a real broker (Mosquitto, another process), the agent's MQTT session,
// decode, event-time reorder, the latest-value vectors, three models per
// asset (champion, learning twin, one challenger) with the alert logic, and
// the outbox, whose entries a fake hub acknowledges. 50 assets of 4
// sensors, one message of 4 readings per asset and tick, as firmware-sim
// publishes. The agent's process runs on one core (GOMAXPROCS 1), the
// load generator with it (a raw QoS 0 publisher whose cost is a copy per
// message). One op is one message; the benchmark keeps at most 2048
// messages in flight so that it measures what is sustained, not what
// queues up.
//
// Metrics: readings/s (from the first publish until the agent has taken
// the last message), cores (CPU time of this process per second of wall
// time: below 1 when other processes share the machine), readings/cpu-s
// (what one whole core sustains), allocs/reading of the whole process (the MQTT client's decode
// included) and score-allocs/reading, the allocations of the agent's
// scoring path (Handle on these messages, on the same pipeline) once the
// run is over.
func BenchmarkDaemonIngest(b *testing.B) {
	const assets, sensors, window = 50, 4, 2048
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	m := mqtttest.StartMosquitto(b, mqtttest.MosquittoOptions{})
	hub := brokertest.StartHub(b, m.URL)
	a, stop := benchAgent(b, hub, m.URL, Options{Learn: 1, WarmUp: 200, MetricsInterval: time.Second}, nil)
	f := newBenchFleet(b, "gw1", assets, sensors)
	pub, err := brokertest.DialRaw(b.Context(), m.Addr, "bench-plant")
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close()

	t0 := time.Now().UnixNano()
	const step = int64(10 * time.Millisecond)
	tick := 0
	sent := uint64(0)
	handled := func() uint64 { return a.PipelineStats().Messages }
	sendTick := func() {
		for i := range assets {
			if err := f.Send(pub, i, tick, t0+int64(tick)*step, false); err != nil {
				b.Fatal(err)
			}
		}
		sent += assets
		tick++
	}
	// Discover the machines, deploy the challengers, then warm up past
	// the champions' warm-up.
	for range 5 {
		sendTick()
	}
	pub.Flush()
	benchWait(b, 20*time.Second, "machines discovered", func() bool { return handled() == sent })
	deployChallengers(b, hub, f)
	for range 400 {
		sendTick()
		pub.Flush()
		benchWait(b, 20*time.Second, "warm-up", func() bool { return sent-handled() < window })
	}
	benchWait(b, 20*time.Second, "warm-up drained", func() bool { return handled() == sent })

	base := sent
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	cpu0, start := cpuTime(), time.Now()
	b.ReportAllocs()
	n := 0
	wait := time.NewTicker(200 * time.Microsecond)
	defer wait.Stop()
	for b.Loop() {
		i := n % assets
		if err := f.Send(pub, i, tick, t0+int64(tick)*step, false); err != nil {
			b.Fatal(err)
		}
		sent++
		n++
		if i == assets-1 {
			tick++
		}
		if n%64 == 0 {
			if err := pub.Flush(); err != nil {
				b.Fatal(err)
			}
			for sent-handled() > window {
				<-wait.C
			}
		}
	}
	pub.Flush()
	benchWait(b, 60*time.Second, "every message handled", func() bool { return handled() == sent })
	elapsed, cpu := time.Since(start), cpuTime()-cpu0
	runtime.ReadMemStats(&ms1)
	readings := float64((sent - base) * sensors)
	b.ReportMetric(readings/elapsed.Seconds(), "readings/s")
	b.ReportMetric(cpu.Seconds()/elapsed.Seconds(), "cores")
	b.ReportMetric(readings/cpu.Seconds(), "readings/cpu-s")
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/readings, "allocs/reading")
	waitSeqs := a.OutboxStats().Produced
	benchWait(b, 30*time.Second, "outbox acknowledged", func() bool { return uint64(hub.Seqs("gw1")) >= waitSeqs })
	stop() // drains what the reorder buffers still hold (2s of event time)
	if st := a.PipelineStats(); st.Vectors != sent || st.Duplicates+st.LateDropped+st.Ignored != 0 {
		b.Fatalf("not every message scored once: %+v after %d sent", st, sent)
	}

	// The scoring path, on the same pipeline, now that nothing else runs:
	// the messages' decode, reorder, vector, three models, alert logic.
	allocs := testing.AllocsPerRun(500, func() {
		i := n % assets
		f.SetLast(i, t0+int64(tick)*step)
		a.pl.Handle(f.Topics[i], f.Frames[i].Payload, 0)
		n++
		if i == assets-1 {
			tick++
		}
	})
	b.ReportMetric(allocs/sensors, "score-allocs/reading")
	if ob := a.OutboxStats(); ob.Produced != ob.Delivered+ob.Dropped+ob.Queued {
		b.Errorf("outbox books do not balance: %+v", ob)
	}
}

// BenchmarkDaemonAlertLatency measures how long a fault takes to reach
// the local alert output: from the publish of the reading that makes the
// champion alert to the alert's arrival on the local alert topic
// (mw/v1/local/gw1/alerts, JSON), through Mosquitto both ways, the agent's
// decode, scoring by three models per asset, the alert logic, the
// outbox's durable write (the alert is queued for the hub before it is
// published locally, to carry its id) and the local publish. The fleet
// (50 assets of 4 sensors) publishes at a paced 10,000 readings/s (one
// message every 400µs, its event time the wall clock at publish); every
// asset has a fault of one message every 40 of its messages, and an alert
// needs one vector over the threshold, so alerts come about 60 times a
// second. It also reports recv-p50/p99-ms: from the receipt of the
// message by the agent to the alert's hand-over to the local outputs
// (mw_agent_alert_latency_seconds). Event-time reordering is off (lateness 0): a lateness L holds
// every reading back by L by design. One op is one message; run it for
// several seconds for a p99 of a few hundred alerts.
func BenchmarkDaemonAlertLatency(b *testing.B) {
	const assets, sensors, every = 50, 4, 40
	const interval = 400 * time.Microsecond // 2,500 messages of 4 readings a second
	// Without TCP_NODELAY (Mosquitto's default) Nagle's algorithm meets
	// the receivers' delayed acks and holds small messages for tens of
	// milliseconds: a gateway's broker wants it on for local alerts.
	m := mqtttest.StartMosquitto(b, mqtttest.MosquittoOptions{Extra: "set_tcp_nodelay true"})
	hub := brokertest.StartHub(b, m.URL)
	lat, recv := &latencies{}, &latencies{}
	a, stop := benchAgent(b, hub, m.URL, Options{Learn: 1, WarmUp: 100, Champion: pipeline.ChampionGated,
		Alert:  pipeline.AlertOptions{Consecutive: 1, Cooldown: time.Millisecond},
		Stream: pipeline.StreamOptions{Lateness: -1}, DriftDisabled: true, MetricsInterval: time.Second},
		func(a *Agent) { a.alertLatency = tee{a.alertLatency, recv} })
	f := newBenchFleet(b, "gw1", assets, sensors)
	pub, err := brokertest.DialRaw(b.Context(), m.Addr, "bench-plant")
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close()
	sub := paho.NewClient(paho.NewClientOptions().AddBroker(m.URL).SetClientID("local-hmi").SetCleanSession(true))
	if tok := sub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatalf("local subscriber: %v", tok.Error())
	}
	defer sub.Disconnect(100)
	if tok := sub.Subscribe("mw/v1/local/gw1/alerts", 1, func(_ paho.Client, m paho.Message) {
		now := time.Now().UnixNano()
		var al wire.Alert
		if err := json.Unmarshal(m.Payload(), &al); err != nil {
			b.Errorf("local alert: %v", err)
			return
		}
		lat.add(time.Duration(now - al.Env.Time))
	}); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatalf("local subscribe: %v", tok.Error())
	}

	tick := 0
	sent := uint64(0)
	handled := func() uint64 { return a.PipelineStats().Messages }
	for range 5 {
		for i := range assets {
			f.Send(pub, i, tick, time.Now().UnixNano(), false)
		}
		sent += assets
		tick++
	}
	pub.Flush()
	benchWait(b, 20*time.Second, "machines discovered", func() bool { return handled() == sent })
	deployChallengers(b, hub, f)
	for range 150 { // the champions' warm-up, as fast as it goes
		for i := range assets {
			f.Send(pub, i, tick, time.Now().UnixNano(), false)
		}
		sent += assets
		tick++
		pub.Flush()
		benchWait(b, 20*time.Second, "warm-up", func() bool { return sent-handled() < 1024 })
	}
	benchWait(b, 20*time.Second, "warm-up drained", func() bool { return handled() == sent })
	if n := a.PipelineStats().Alerts; n != 0 {
		b.Logf("%d alerts during the warm-up on normal data", n)
	}
	lat.reset()
	recv.reset()
	alerts0 := a.PipelineStats().Alerts

	b.ReportAllocs()
	wait := time.NewTicker(100 * time.Microsecond)
	defer wait.Stop()
	n := 0
	start := time.Now()
	for b.Loop() {
		due := start.Add(time.Duration(n) * interval)
		for time.Now().Before(due) {
			<-wait.C
		}
		i := n % assets
		if err := f.Send(pub, i, tick, time.Now().UnixNano(), (tick+i)%every == 0); err != nil {
			b.Fatal(err)
		}
		if err := pub.Flush(); err != nil {
			b.Fatal(err)
		}
		sent++
		n++
		if i == assets-1 {
			tick++
		}
	}
	rate := float64(n*sensors) / time.Since(start).Seconds()
	benchWait(b, 20*time.Second, "every message handled", func() bool { return handled() == sent })
	raised := a.PipelineStats().Alerts - alerts0
	// A local alert the local publisher could not take at once is dropped
	// (and logged): count those rather than wait for them.
	deadline := time.Now().Add(5 * time.Second)
	for uint64(lat.len()) < raised && time.Now().Before(deadline) {
		<-wait.C
	}
	stop()
	b.ReportMetric(float64(raised-min(raised, uint64(lat.len()))), "local-missing")
	if raised == 0 {
		b.Fatal("the faults raised no alert")
	}
	p50, p99, worst := lat.quantiles()
	r50, r99, _ := recv.quantiles()
	b.ReportMetric(float64(r50.Microseconds())/1000, "recv-p50-ms")
	b.ReportMetric(float64(r99.Microseconds())/1000, "recv-p99-ms")
	b.ReportMetric(rate, "readings/s")
	b.ReportMetric(float64(raised), "alerts")
	b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(worst.Microseconds())/1000, "max-ms")
}

// tee observes into the agent's histogram and the benchmark's record.
type tee struct {
	h   interface{ Observe(float64) }
	rec *latencies
}

func (t tee) Observe(s float64) {
	t.h.Observe(s)
	t.rec.add(time.Duration(s * 1e9))
}

// latencies collects durations from several goroutines.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) { l.mu.Lock(); l.d = append(l.d, d); l.mu.Unlock() }
func (l *latencies) len() int            { l.mu.Lock(); defer l.mu.Unlock(); return len(l.d) }
func (l *latencies) reset()              { l.mu.Lock(); l.d = l.d[:0]; l.mu.Unlock() }

// quantiles returns the median, the 99th percentile (nearest rank) and the
// maximum.
func (l *latencies) quantiles() (p50, p99, worst time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	d := slices.Clone(l.d)
	if len(d) == 0 {
		return 0, 0, 0
	}
	slices.Sort(d)
	rank := func(q float64) time.Duration { return d[min(len(d)-1, int(math.Ceil(q*float64(len(d))))-1)] }
	return rank(0.5), rank(0.99), d[len(d)-1]
}
