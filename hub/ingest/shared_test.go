package ingest_test

import (
	"context"

	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"millwright/hub/ingest"
	"millwright/hub/store"
	"millwright/internal/mqtttest"
	"millwright/wire"
)

// TestSharedSubscription runs two hub replicas, each with its own store,
// in one shared group on a real Mosquitto: every message sent is handled by
// exactly one of them, and together they handle everything.
func TestSharedSubscription(t *testing.T) {
	mq := mqtttest.StartMosquitto(t, mqtttest.MosquittoOptions{})
	ctx, cancel := context.WithCancel(t.Context())
	type key struct {
		gw  string
		seq uint64
	}
	var (
		mu      sync.Mutex
		handled = map[key][]string{} // by which replicas
	)
	replicas := []string{"hub-a", "hub-b"}
	var wg sync.WaitGroup
	stores := make([]*store.Store, len(replicas))
	ins := make([]*ingest.Ingest, len(replicas))
	stops := make([]func(), len(replicas))
	for i, id := range replicas {
		st, err := store.Open(ctx, t.TempDir(), store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		in, err := ingest.New(ingest.Options{
			BrokerURL: mq.URL, ClientID: id, Store: st, SharedGroup: "millwright-hub",
			OnMetrics: func(gw string, m *wire.Metrics) {
				mu.Lock()
				defer mu.Unlock()
				k := key{gw, m.Env.Seq}
				handled[k] = append(handled[k], id)
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		stores[i], ins[i] = st, in
		rctx, rcancel := context.WithCancel(ctx)
		done := make(chan struct{})
		stops[i] = func() { rcancel(); <-done }
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(done)
			if err := in.Run(rctx); err != nil {
				t.Errorf("%s: %v", id, err)
			}
		}()
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	for _, in := range ins {
		waitFor(t, "replica subscribed", in.Connected)
	}

	const perGateway = 150
	gateways := []string{"gw1", "gw2"}
	pub := paho.NewClient(paho.NewClientOptions().AddBroker(mq.URL).SetClientID("publisher"))
	if tok := pub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publisher connect: %v", tok.Error())
	}
	t.Cleanup(func() { pub.Disconnect(100) })
	send := func(from, to uint64) {
		var toks []paho.Token
		for seq := from; seq <= to; seq++ {
			for _, gw := range gateways {
				b, err := wire.Marshal(&wire.Metrics{Env: env(gw, seq), IntervalNs: 1e9,
					Series: []wire.ModelMetric{{Machine: "m1", Model: "hst", Role: wire.RoleChampion, Count: seq}}})
				if err != nil {
					t.Fatal(err)
				}
				toks = append(toks, pub.Publish(wire.AgentTopic(gw, wire.LeafMetrics), 1, false, b))
			}
		}
		for _, tok := range toks {
			if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
				t.Fatalf("publish: %v", tok.Error())
			}
		}
	}
	handledCount := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(handled)
	}
	send(1, perGateway)
	total := perGateway * len(gateways)
	waitFor(t, "every message handled", func() bool { return handledCount() == total })

	// hub-b goes away: the broker hands everything to hub-a from then on.
	stops[1]()
	const more = 50
	send(perGateway+1, perGateway+more)
	waitFor(t, "messages after failover handled", func() bool { return handledCount() == total+more*len(gateways) })
	mu.Lock()
	for _, gw := range gateways {
		for seq := uint64(perGateway + 1); seq <= perGateway+more; seq++ {
			if by := handled[key{gw, seq}]; len(by) != 1 || by[0] != "hub-a" {
				t.Errorf("%s seq %d after failover handled by %v, want hub-a alone", gw, seq, by)
			}
		}
	}
	mu.Unlock()

	mu.Lock()
	defer mu.Unlock()
	perReplica := map[string]int{}
	for _, gw := range gateways {
		for seq := uint64(1); seq <= perGateway+more; seq++ {
			by := handled[key{gw, seq}]
			if len(by) != 1 {
				t.Errorf("%s seq %d handled by %v, want exactly one replica", gw, seq, by)
			}
			for _, r := range by {
				perReplica[r]++
			}
		}
	}
	// Each replica's store holds exactly what it handled.
	stored := 0
	for i, st := range stores {
		n := 0
		for _, gw := range gateways {
			ps, err := st.MetricPoints(t.Context(), gw, "m1", time.Unix(0, 0), 10*total)
			if err != nil {
				t.Fatal(err)
			}
			n += len(ps)
		}
		if n != perReplica[replicas[i]] {
			t.Errorf("%s stored %d points, handled %d messages", replicas[i], n, perReplica[replicas[i]])
		}
		if n == 0 {
			t.Errorf("%s got no share of the traffic", replicas[i])
		}
		stored += n
		if s := ins[i].Stats(); s.Duplicates != 0 || s.Rejected != 0 {
			t.Errorf("%s stats %+v", replicas[i], s)
		}
	}
	if want := total + more*len(gateways); stored != want {
		t.Errorf("stores hold %d points together, want %d", stored, want)
	}
	t.Logf("split: %v of %d (the last %d after hub-b left)", perReplica, total+more*len(gateways), more*len(gateways))
}

func TestFilter(t *testing.T) {
	for _, c := range []struct{ group, want string }{
		{"", "mw/v1/agent/+/+"},
		{"millwright-hub", "$share/millwright-hub/mw/v1/agent/+/+"},
	} {
		if got := ingest.Filter(c.group); got != c.want {
			t.Errorf("Filter(%q) = %q, want %q", c.group, got, c.want)
		}
	}
	for _, bad := range []string{"a/b", "+", "#"} {
		if _, err := ingest.New(ingest.Options{BrokerURL: "tcp://x:1", Store: &store.Store{}, SharedGroup: bad}); err == nil {
			t.Errorf("shared group %q accepted", bad)
		}
	}
}
