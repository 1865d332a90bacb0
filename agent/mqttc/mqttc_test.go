package mqttc

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"millwright/agent/internal/brokertest"
)

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

type inbox struct {
	mu  sync.Mutex
	got map[string][]string
}

func (in *inbox) add(topic string, payload []byte) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.got == nil {
		in.got = make(map[string][]string)
	}
	in.got[topic] = append(in.got[topic], string(payload))
}

func (in *inbox) n(topic string) int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.got[topic])
}

func start(t *testing.T, opts Options) *Client {
	t.Helper()
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	c.Start()
	t.Cleanup(func() { c.Close(100 * time.Millisecond) })
	return c
}

func TestSubscribeReconnectAndWill(t *testing.T) {
	b := brokertest.Start(t)
	var watcher inbox
	start(t, Options{
		BrokerURL: b.URL, ClientID: "watcher",
		Subscriptions: []Subscription{{Topic: "will/#", QoS: 1}},
		OnMessage:     watcher.add,
	})

	var agent inbox
	var connects atomic.Int32
	c := start(t, Options{
		BrokerURL: b.URL, ClientID: "agent",
		Will:          &Message{Topic: "will/agent", Payload: []byte("gone"), QoS: 1},
		Subscriptions: []Subscription{{Topic: "in/+", QoS: 1}},
		OnMessage:     agent.add,
		OnConnect:     func(context.Context) { connects.Add(1) },
	})
	waitFor(t, "first connect", func() bool { return connects.Load() == 1 && c.Connected() })

	ctx := t.Context()
	if err := c.Publish(ctx, "in/x", 1, false, []byte("hello")); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	waitFor(t, "own message through the subscription", func() bool { return agent.n("in/x") == 1 })

	// The broker drops the agent: its will goes out, it reconnects,
	// subscribes again and says so.
	cl, ok := b.Server.Clients.Get("agent")
	if !ok {
		t.Fatal("agent not known to the broker")
	}
	cl.Stop(errors.New("test drops the connection"))
	waitFor(t, "the will", func() bool { return watcher.n("will/agent") == 1 })
	waitFor(t, "reconnect", func() bool { return connects.Load() == 2 && c.Connected() })
	if err := c.Publish(ctx, "in/y", 1, false, []byte("again")); err != nil {
		t.Fatalf("Publish after reconnect: %v", err)
	}
	waitFor(t, "message after reconnect", func() bool { return agent.n("in/y") == 1 })
}

func TestPublishWhileDisconnected(t *testing.T) {
	// Nothing listens on this port: the client keeps retrying.
	c := start(t, Options{BrokerURL: "tcp://127.0.0.1:1", ClientID: "lonely", ConnectTimeout: 50 * time.Millisecond})
	if c.Connected() {
		t.Fatal("connected to nothing")
	}
	if err := c.Publish(t.Context(), "x", 1, false, nil); !errors.Is(err, ErrNotConnected) {
		t.Errorf("Publish = %v, want ErrNotConnected", err)
	}
}

func TestNewNeedsBrokerAndID(t *testing.T) {
	if _, err := New(Options{BrokerURL: "tcp://x:1"}); err == nil {
		t.Error("New without a client id succeeded")
	}
}
