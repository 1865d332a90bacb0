package ingest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"millwright/hub/broker"
	"millwright/hub/influx"
	"millwright/hub/ingest"
	"millwright/hub/routing"
	"millwright/hub/store"
	"millwright/internal/influxtest"
	"millwright/wire"
)

// TestHooksFeedInfluxAndRouting wires ingest's hooks the way the hub
// server does: stored metrics and alerts go to InfluxDB (a real influxd)
// and alerts are routed to a webhook.
func TestHooksFeedInfluxAndRouting(t *testing.T) {
	db := influxtest.Start(t, influxtest.Options{})
	var (
		mu      sync.Mutex
		notices []routing.Notice
	)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n routing.Notice
		if err := json.NewDecoder(r.Body).Decode(&n); err != nil {
			t.Errorf("webhook: %v", err)
		}
		mu.Lock()
		notices = append(notices, n)
		mu.Unlock()
	}))
	t.Cleanup(hook.Close)

	ctx, cancel := context.WithCancel(t.Context())
	b, err := broker.New(broker.Options{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	iopts := influx.Options{URL: db.URL, Database: db.Database, FlushEvery: 20 * time.Millisecond, Source: influx.StoreSource{Store: st}}
	w, err := influx.New(iopts)
	if err != nil {
		t.Fatal(err)
	}
	var router *routing.Router
	in, err := ingest.New(ingest.Options{BrokerURL: b.URL(), Store: st,
		OnMetrics: w.AddMetrics,
		OnAlert:   func(a store.Alert) { w.AddAlert(a); router.Route(a) },
	})
	if err != nil {
		t.Fatal(err)
	}
	router, err = routing.New(routing.Options{
		Config: routing.Config{
			Channels: []routing.ChannelConfig{{Name: "inbox", Kind: routing.KindInbox}, {Name: "chat", Kind: routing.KindWebhook, URL: hook.URL},
				{Name: "board", Kind: routing.KindMQTT, Topic: "displays/{site}/{line}", QoS: 1}},
			Rules: []routing.Rule{{Channels: []string{"inbox"}},
				{Match: routing.Match{Severities: []string{wire.SeverityCritical}}, Channels: []string{"chat", "board"}}},
		},
		Status:    routing.StoreStatus{Store: st},
		Locator:   routing.MachineLocator{Store: st},
		Publisher: in, // the hub's own MQTT connection
	})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, r := range []func(context.Context) error{b.Run, w.Run, router.Run, in.Run} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r(ctx); err != nil {
				t.Errorf("run: %v", err)
			}
		}()
	}
	t.Cleanup(func() { cancel(); wg.Wait(); st.Close() })
	waitFor(t, "ingest connected", in.Connected)

	a := newAgent(t, b.URL(), "gw1")
	display := make(chan routing.Notice, 1)
	if tok := a.c.Subscribe("displays/plant-a/2", 1, func(_ paho.Client, m paho.Message) {
		var n routing.Notice
		if err := json.Unmarshal(m.Payload(), &n); err != nil {
			t.Errorf("display notice: %v", err)
		}
		display <- n
	}); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe display: %v", tok.Error())
	}
	a.publish(wire.LeafBirth, &wire.Birth{Env: env("gw1", 1), Machines: []wire.MachineInfo{{ID: "press", Site: "plant-a", Line: "2"}}})
	for seq := uint64(2); seq < 12; seq++ {
		a.publish(wire.LeafMetrics, &wire.Metrics{Env: env("gw1", seq), IntervalNs: 5e9, Series: []wire.ModelMetric{
			{Machine: "press", Model: "hst", Role: wire.RoleChampion, Count: 50, ScoreMean: 0.3, ScoreMax: 0.5}}})
	}
	a.publish(wire.LeafAlerts, &wire.Alert{Env: env("gw1", 12), ID: "gw1-press-1", Machine: "press", Model: "hst",
		Severity: wire.SeverityCritical, Score: 0.97, Threshold: 0.9})
	a.waitAcks(12)

	waitFor(t, "points in influx", func() bool { return w.Stats().Written == 11 })
	q := influx.NewQuerier(iopts)
	s, err := q.Query(t.Context(), `SELECT count("score_mean") FROM "model_metrics" WHERE "machine" = 'press'`)
	if err != nil || len(s) != 1 || s[0].Values[0][1] != json.Number("10") {
		t.Fatalf("influx count = %+v, %v", s, err)
	}
	waitFor(t, "webhook notice", func() bool { mu.Lock(); defer mu.Unlock(); return len(notices) == 1 })
	if n := notices[0]; n.Alert.ID != "gw1-press-1" || n.Site != "plant-a" || n.Line != "2" {
		t.Fatalf("notice = %+v", n)
	}
	select {
	case n := <-display:
		if n.Alert.ID != "gw1-press-1" {
			t.Fatalf("display notice = %+v", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no notice on the shop-floor display topic")
	}
}
