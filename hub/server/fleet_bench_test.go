package server_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"millwright/hub/server"
	"millwright/wire"
)

// Fleet simulation parameters: the traffic of fleetAgents agents over
// fleetWindow of simulated time, replayed compressed by the rate factor.
const (
	fleetAgents        = 5000
	fleetWindow        = 60 * time.Second
	fleetMetricsEvery  = 10 * time.Second // each agent's metrics interval
	fleetSnapshotOneIn = 10               // 1 agent in 10 sends a snapshot in the window
	fleetAlertOneIn    = 100              // 1 agent in 100 raises an alert in the window
	fleetSnapshotSize  = 7 << 10          // a PCA-sized snapshot
	fleetClients       = 12               // MQTT connections the agents' traffic is spread over
	fleetAckWait       = 30 * time.Second // after the last publish
)

// fleetEvent is one message one agent sends at offset into the window.
type fleetEvent struct {
	offset  time.Duration
	agent   int
	seq     uint64
	topic   string
	payload []byte
}

// BenchmarkFleet5000 replays the traffic of 5,000 agents (metrics of 3
// series every 10 s, 1 in 10 sending a ~7 KB snapshot and 1 in 100 an
// alert per minute) against an in-process hub, at the fleet's real average
// rate and at 3x, through a few QoS 1 MQTT connections. It reports the
// publish-to-ack latency (the hub acks after the durable commit) and the
// CPU the whole process used, load generator included.
//
//	go test -run '^$' -bench Fleet5000 -benchtime 1x ./hub/server/
func BenchmarkFleet5000(b *testing.B) {
	for _, rate := range []int{1, 3} {
		b.Run(fmt.Sprintf("rate=%dx", rate), func(b *testing.B) { benchFleet(b, rate) })
	}
}

func benchFleet(b *testing.B, rate int) {
	ctx, cancel := context.WithCancel(b.Context())
	defer cancel()
	srv, err := server.New(ctx, server.Options{DataDir: b.TempDir(), HTTPAddr: "127.0.0.1:0", MQTTAddr: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() { cancel(); <-done }()
	fleetWaitFor(ctx, b, "hub ready", func() bool { return srv.Ready() == nil })

	events, perAgent := fleetTraffic(rand.New(rand.NewPCG(1, uint64(rate))))
	tr := newAckTracker(perAgent)

	// One ack listener stands in for every agent's subscription to its own ack topic.
	ackc := fleetConnect(b, srv.BrokerURL(), "fleet-acks")
	if tok := ackc.Subscribe(wire.HubTopic("+", wire.LeafAck), 1, tr.onAck); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatalf("subscribe to acks: %v", tok.Error())
	}
	pubs := make([]paho.Client, fleetClients)
	for i := range pubs {
		pubs[i] = fleetConnect(b, srv.BrokerURL(), fmt.Sprintf("fleet-%d", i))
	}
	byClient := make([][]*fleetEvent, fleetClients)
	for i := range events {
		c := events[i].agent % fleetClients
		byClient[c] = append(byClient[c], &events[i])
	}

	b.ReportAllocs()
	var wall time.Duration
	var cpu time.Duration
	for b.Loop() {
		cpu0 := fleetCPU(b)
		start := time.Now()
		var wg sync.WaitGroup
		for c := range pubs {
			wg.Go(func() { fleetPublish(ctx, pubs[c], byClient[c], start, rate, tr) })
		}
		wg.Wait()
		deadline := time.Now().Add(fleetAckWait)
		for tr.acked.Load() < int64(len(events)) && time.Now().Before(deadline) && ctx.Err() == nil {
			tr.wait(deadline)
		}
		wall = time.Since(start)
		cpu = fleetCPU(b) - cpu0
	}

	lat := tr.latencies()
	n := len(lat)
	st := srv.Ingest().Stats()
	b.ReportMetric(float64(n)/wall.Seconds(), "msgs/s")
	b.ReportMetric(float64(len(events))/(fleetWindow.Seconds()/float64(rate)), "offered_msgs/s")
	b.ReportMetric(fleetPct(lat, 0.50), "p50_ms")
	b.ReportMetric(fleetPct(lat, 0.99), "p99_ms")
	b.ReportMetric(fleetPct(lat, 1), "max_ms")
	b.ReportMetric(cpu.Seconds()/wall.Seconds(), "cores")
	b.ReportMetric(float64(len(events)-n), "unacked")
	// Where the hub's time goes: one store transaction per ingest batch.
	wsum, wcount := fleetScrape(b, srv, "millwright_hub_store_write_seconds_sum"), fleetScrape(b, srv, "millwright_hub_store_write_seconds_count")
	if wcount > 0 {
		b.ReportMetric(wsum/wcount*1000, "commit_ms/batch")
		b.ReportMetric(float64(st.Ingested)/wcount, "msgs/batch")
		b.ReportMetric(wsum/wall.Seconds(), "store_busy")
	}
	b.Logf("rate %dx: %d messages sent, %d acked in %v; cpu %v; ingest stats %+v; %v batches, %.1f s in store transactions",
		rate, len(events), n, wall.Round(time.Millisecond), cpu.Round(time.Millisecond), st, wcount, wsum)
	if n != len(events) {
		b.Errorf("%d of %d messages never acked within %v of the last publish", len(events)-n, len(events), fleetAckWait)
	}
}

// fleetScrape reads one unlabelled sample from the hub's /metrics.
func fleetScrape(b *testing.B, srv *server.Server, name string) float64 {
	b.Helper()
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for line := range strings.Lines(rec.Body.String()) {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				b.Fatalf("metric %s: %v", name, err)
			}
			return f
		}
	}
	b.Logf("metric %s not found on /metrics (status %d)", name, rec.Code)
	return 0
}

// fleetTraffic builds the window's messages of every agent, sorted by
// offset, with per-agent sequence numbers in send order. perAgent is the
// number of messages of each agent.
func fleetTraffic(rng *rand.Rand) (events []fleetEvent, perAgent []int) {
	perAgent = make([]int, fleetAgents)
	snap := make([]byte, fleetSnapshotSize)
	hist := make([]uint32, wire.HistBins)
	for a := range fleetAgents {
		gw := fleetID(a)
		phase := time.Duration(a) * fleetMetricsEvery / fleetAgents // spread evenly
		var own []fleetEvent
		for t := phase; t < fleetWindow; t += fleetMetricsEvery {
			m := &wire.Metrics{Env: wire.Envelope{Version: wire.Version, Sender: gw, Time: int64(t)}, IntervalNs: int64(fleetMetricsEvery)}
			for _, role := range []string{wire.RoleChampion, wire.RoleTwin, wire.RoleChallenger} {
				for i := range hist {
					hist[i] = uint32(rng.IntN(200))
				}
				m.Series = append(m.Series, wire.ModelMetric{
					Machine: "press-1", Model: role, Role: role, Kind: "hst", Count: 1000,
					ScoreMean: rng.Float64() / 2, ScoreMax: rng.Float64(), ScoreLast: rng.Float64(),
					Samples: uint64(rng.IntN(1 << 20)), LatencyNs: int64(rng.IntN(50000)), Threshold: 0.8,
					Both: 1, OnlyModel: 1, OnlyChampion: 1, Hist: slices.Clone(hist),
					Snapshot: strings.Repeat("ab", 32),
				})
			}
			own = append(own, fleetEvent{offset: t, agent: a, topic: wire.AgentTopic(gw, wire.LeafMetrics), payload: fleetMarshal(m)})
		}
		if a%fleetSnapshotOneIn == 0 {
			for i := range snap {
				snap[i] = byte(rng.Uint32())
			}
			s := &wire.Snapshot{Env: wire.Envelope{Version: wire.Version, Sender: gw}, Machine: "press-1", Model: "pca",
				Role: wire.RoleChallenger, Samples: 100000, Data: snap}
			t := time.Duration(rng.Int64N(int64(fleetWindow)))
			s.Env.Time = int64(t)
			own = append(own, fleetEvent{offset: t, agent: a, topic: wire.AgentTopic(gw, wire.LeafSnapshots), payload: fleetMarshal(s)})
		}
		if a%fleetAlertOneIn == 0 {
			t := time.Duration(rng.Int64N(int64(fleetWindow)))
			al := &wire.Alert{Env: wire.Envelope{Version: wire.Version, Sender: gw, Time: int64(t)}, ID: gw + "-alert-1",
				Machine: "press-1", Model: "hst", Severity: wire.SeverityWarning, Score: 0.93, Threshold: 0.8,
				Contributors: []wire.Contribution{{Feature: "vib_rms", Value: 0.6}, {Feature: "temp", Value: 0.3}},
				Message:      "score above threshold"}
			own = append(own, fleetEvent{offset: t, agent: a, topic: wire.AgentTopic(gw, wire.LeafAlerts), payload: fleetMarshal(al)})
		}
		slices.SortFunc(own, func(x, y fleetEvent) int { return int(x.offset - y.offset) })
		for i := range own {
			// Seq is set in the already encoded payload's envelope by re-encoding.
			own[i].seq = uint64(i + 1)
			own[i].payload = fleetWithSeq(own[i].topic, own[i].payload, own[i].seq)
		}
		perAgent[a] = len(own)
		events = append(events, own...)
	}
	slices.SortStableFunc(events, func(x, y fleetEvent) int { return int(x.offset - y.offset) })
	return events, perAgent
}

func fleetID(a int) string { return "gw-" + strconv.Itoa(a) }

func fleetMarshal(m wire.Message) []byte {
	p, err := wire.Marshal(m)
	if err != nil {
		panic(err)
	}
	return p
}

// withSeq re-encodes payload with its envelope's Seq set.
func fleetWithSeq(topic string, payload []byte, seq uint64) []byte {
	var m wire.Message
	switch {
	case strings.HasSuffix(topic, wire.LeafMetrics):
		m = &wire.Metrics{}
	case strings.HasSuffix(topic, wire.LeafSnapshots):
		m = &wire.Snapshot{}
	default:
		m = &wire.Alert{}
	}
	if err := wire.Unmarshal(payload, m); err != nil {
		panic(err)
	}
	switch v := m.(type) {
	case *wire.Metrics:
		v.Env.Seq = seq
	case *wire.Snapshot:
		v.Env.Seq = seq
	case *wire.Alert:
		v.Env.Seq = seq
	}
	return fleetMarshal(m)
}

// publishPaced publishes evs at start + offset/rate each, QoS 1, without
// waiting for the broker's PUBACK (the agent's outbox does not either).
func fleetPublish(ctx context.Context, c paho.Client, evs []*fleetEvent, start time.Time, rate int, tr *ackTracker) {
	t := time.NewTimer(0)
	defer t.Stop()
	<-t.C
	for _, e := range evs {
		due := start.Add(e.offset / time.Duration(rate))
		if d := time.Until(due); d > 0 {
			t.Reset(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				return
			}
		}
		tr.sent(e.agent, e.seq)
		c.Publish(e.topic, 1, false, e.payload)
	}
}

// ackTracker records each message's publish time and, on its first ack,
// the publish-to-ack latency.
type ackTracker struct {
	index  map[string]int // gateway id → agent
	sentNs [][]atomic.Int64
	seen   [][]atomic.Bool
	acked  atomic.Int64
	signal chan struct{}

	mu  sync.Mutex
	lat []time.Duration
}

func newAckTracker(perAgent []int) *ackTracker {
	tr := &ackTracker{index: make(map[string]int, len(perAgent)), sentNs: make([][]atomic.Int64, len(perAgent)),
		seen: make([][]atomic.Bool, len(perAgent)), signal: make(chan struct{}, 1)}
	for a, n := range perAgent {
		tr.index[fleetID(a)] = a
		tr.sentNs[a] = make([]atomic.Int64, n)
		tr.seen[a] = make([]atomic.Bool, n)
	}
	return tr
}

func (tr *ackTracker) sent(agent int, seq uint64) {
	tr.sentNs[agent][seq-1].Store(time.Now().UnixNano())
}

func (tr *ackTracker) onAck(_ paho.Client, m paho.Message) {
	now := time.Now().UnixNano()
	t, err := wire.ParseTopic(m.Topic())
	if err != nil {
		return
	}
	a, ok := tr.index[t.Gateway]
	if !ok {
		return
	}
	var ack wire.Ack
	if wire.Unmarshal(m.Payload(), &ack) != nil {
		return
	}
	tr.mu.Lock()
	for _, seq := range ack.Seqs {
		if seq == 0 || seq > uint64(len(tr.seen[a])) || tr.seen[a][seq-1].Swap(true) {
			continue
		}
		tr.lat = append(tr.lat, time.Duration(now-tr.sentNs[a][seq-1].Load()))
		tr.acked.Add(1)
	}
	tr.mu.Unlock()
	select {
	case tr.signal <- struct{}{}:
	default:
	}
}

// wait returns on the next ack or at the deadline.
func (tr *ackTracker) wait(deadline time.Time) {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-tr.signal:
	case <-t.C:
	}
}

func (tr *ackTracker) latencies() []time.Duration {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	l := slices.Clone(tr.lat)
	slices.Sort(l)
	return l
}

// pct is the q-quantile of sorted latencies in milliseconds.
func fleetPct(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	i = max(0, min(i, len(sorted)-1))
	return float64(sorted[i]) / float64(time.Millisecond)
}

func fleetConnect(b *testing.B, url, id string) paho.Client {
	b.Helper()
	c := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID(id).SetAutoReconnect(false))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatalf("connect %s: %v", id, tok.Error())
	}
	b.Cleanup(func() { c.Disconnect(0) })
	return c
}

// processCPU is the user+system CPU time this process has used.
func fleetCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func fleetWaitFor(ctx context.Context, b *testing.B, what string, cond func() bool) {
	b.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			b.Fatalf("%s: timed out", what)
		}
		t := time.NewTimer(10 * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
}
