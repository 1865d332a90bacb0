package brokertest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/fxamacker/cbor/v2"

	"millwright/wire"
)

// Hub is a fake hub on a broker: it acknowledges every entry agents owe it
// (alerts, metrics, snapshots, drifts, command acks) by sequence number, as
// the real hub does after its durable write, and keeps the alerts and
// command acks it got. It reconnects and subscribes again on its own after
// a broker restart.
type Hub struct {
	c      paho.Client
	acking atomic.Bool

	mu      sync.Mutex
	seqs    map[string]map[uint64]int // gateway -> seq -> times received
	alerts  []wire.Alert
	cmdAcks []wire.CommandAck
	leaves  map[string]int
}

// StartHub connects a fake hub to the broker at url; it disconnects when
// the test ends.
func StartHub(tb testing.TB, url string) *Hub {
	tb.Helper()
	h := &Hub{seqs: map[string]map[uint64]int{}, leaves: map[string]int{}}
	h.acking.Store(true)
	subscribed := make(chan error, 1)
	opts := paho.NewClientOptions().AddBroker(url).SetClientID(fmt.Sprintf("fake-hub-%p", h)).
		SetCleanSession(true).SetAutoReconnect(true).SetConnectRetry(true).
		SetConnectRetryInterval(50 * time.Millisecond).SetMaxReconnectInterval(200 * time.Millisecond).
		SetOnConnectHandler(func(c paho.Client) {
			tok := c.Subscribe(wire.AgentSubscription, 1, h.onMessage)
			go func() {
				tok.Wait()
				select {
				case subscribed <- tok.Error():
				default:
				}
			}()
		})
	h.c = paho.NewClient(opts)
	if tok := h.c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		tb.Fatalf("fake hub connect: %v", tok.Error())
	}
	select {
	case err := <-subscribed:
		if err != nil {
			tb.Fatalf("fake hub subscribe: %v", err)
		}
	case <-time.After(10 * time.Second):
		tb.Fatal("fake hub: no subscription within 10s")
	}
	tb.Cleanup(func() { h.c.Disconnect(100) })
	return h
}

// SetAcking turns the acknowledgements off (a hub that receives but never
// commits) or back on.
func (h *Hub) SetAcking(on bool) { h.acking.Store(on) }

func (h *Hub) onMessage(c paho.Client, m paho.Message) {
	tp, err := wire.ParseTopic(m.Topic())
	if err != nil {
		return
	}
	var env struct {
		Env wire.Envelope `cbor:"0,keyasint"`
	}
	switch tp.Leaf {
	case wire.LeafBirth, wire.LeafDeath:
		h.mu.Lock()
		h.leaves[tp.Leaf]++
		h.mu.Unlock()
		return
	}
	if err := cbor.Unmarshal(m.Payload(), &env); err != nil {
		return
	}
	h.mu.Lock()
	h.leaves[tp.Leaf]++
	g := h.seqs[tp.Gateway]
	if g == nil {
		g = map[uint64]int{}
		h.seqs[tp.Gateway] = g
	}
	first := g[env.Env.Seq] == 0
	g[env.Env.Seq]++
	if first {
		switch tp.Leaf {
		case wire.LeafAlerts:
			var a wire.Alert
			if wire.Unmarshal(m.Payload(), &a) == nil {
				h.alerts = append(h.alerts, a)
			}
		case wire.LeafCmdAck:
			var a wire.CommandAck
			if wire.Unmarshal(m.Payload(), &a) == nil {
				h.cmdAcks = append(h.cmdAcks, a)
			}
		}
	}
	h.mu.Unlock()
	if !h.acking.Load() {
		return
	}
	ack, err := wire.Marshal(&wire.Ack{Env: wire.Envelope{Sender: "hub"}, Seqs: []uint64{env.Env.Seq}})
	if err != nil {
		return
	}
	c.Publish(wire.HubTopic(tp.Gateway, wire.LeafAck), 1, false, ack) // no wait inside a handler
}

// Alerts returns the alerts received, each once, in arrival order.
func (h *Hub) Alerts() []wire.Alert {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]wire.Alert(nil), h.alerts...)
}

// CommandAcks returns the command acks received, each once.
func (h *Hub) CommandAcks() []wire.CommandAck {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]wire.CommandAck(nil), h.cmdAcks...)
}

// Seqs returns how many distinct sequence numbers of gateway gw arrived.
func (h *Hub) Seqs(gw string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.seqs[gw])
}

// Count returns how many messages of a leaf (wire.LeafAlerts, …) arrived,
// repeats included.
func (h *Hub) Count(leaf string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.leaves[leaf]
}

// Command publishes a command to gateway gw at QoS 1.
func (h *Hub) Command(ctx context.Context, gw string, c *wire.Command) error {
	b, err := wire.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode command: %w", err)
	}
	tok := h.c.Publish(wire.HubTopic(gw, wire.LeafCmd), 1, false, b)
	select {
	case <-tok.Done():
		return tok.Error()
	case <-ctx.Done():
		return ctx.Err()
	}
}
