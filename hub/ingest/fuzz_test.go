package ingest

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"millwright/hub/store"
	"millwright/wire"
)

// fakeClient records publishes; it never connects anywhere.
type fakeClient struct {
	mu        sync.Mutex
	published map[string][][]byte
}

func (f *fakeClient) Connect(context.Context) error { return nil }
func (f *fakeClient) Publish(_ context.Context, topic string, _ byte, _ bool, payload []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.published == nil {
		f.published = map[string][][]byte{}
	}
	f.published[topic] = append(f.published[topic], payload)
	return nil
}
func (f *fakeClient) IsConnected() bool { return true }
func (f *fakeClient) Disconnect()       {}

func newTestIngest(t testing.TB) (*Ingest, *fakeClient) {
	t.Helper()
	st, err := store.Open(context.Background(), t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	fc := &fakeClient{}
	in, err := New(Options{BrokerURL: "tcp://fake:1883", Store: st, newClient: func(clientConfig) mqttClient { return fc }})
	if err != nil {
		t.Fatal(err)
	}
	return in, fc
}

// FuzzHandle feeds arbitrary payloads on every agent topic: each is either
// refused (counted) or stored and acked, and nothing panics.
func FuzzHandle(f *testing.F) {
	for _, m := range []wire.Message{
		&wire.Birth{Env: wire.Envelope{Sender: "gw", Seq: 1}, Machines: []wire.MachineInfo{{ID: "m"}}},
		&wire.Metrics{Env: wire.Envelope{Sender: "gw", Seq: 2}, Series: []wire.ModelMetric{{Machine: "m", Role: wire.RoleChampion}}},
		&wire.Alert{Env: wire.Envelope{Sender: "gw", Seq: 3}, ID: "a", Machine: "m"},
		&wire.Snapshot{Env: wire.Envelope{Sender: "gw", Seq: 4}, Machine: "m", Data: []byte{1}},
	} {
		b, err := wire.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(0), b)
	}
	f.Add(uint8(1), []byte{0xff})
	in, fc := newTestIngest(f)
	leaves := append(leaves[:], "bogus")
	f.Fuzz(func(t *testing.T, leaf uint8, payload []byte) {
		topic := wire.AgentTopic("gw", leaves[int(leaf)%len(leaves)])
		before := in.Stats()
		in.process(context.Background(), []inbound{{topic: topic, payload: payload}})
		after := in.Stats()
		handled := (after.Ingested - before.Ingested) + (after.Duplicates - before.Duplicates) + (after.Rejected - before.Rejected)
		if handled != 1 {
			t.Fatalf("message counted %d times: %+v -> %+v", handled, before, after)
		}
	})
	_ = fc
}

func TestAckOnlyAfterStore(t *testing.T) {
	in, fc := newTestIngest(t)
	b, err := wire.Marshal(&wire.Alert{Env: wire.Envelope{Sender: "gw", Seq: 9}, ID: "a9", Machine: "m"})
	if err != nil {
		t.Fatal(err)
	}
	// A failing store (closed) must not ack.
	in.st.Close()
	in.process(t.Context(), []inbound{{topic: wire.AgentTopic("gw", wire.LeafAlerts), payload: b}})
	if n := len(fc.published); n != 0 {
		t.Fatalf("acked %d times after a failed write", n)
	}
	if s := in.Stats(); s.Ingested != 0 || s.Rejected != 0 {
		t.Fatalf("stats = %+v", s)
	}
}

func TestAcksBatchedPerGateway(t *testing.T) {
	in, fc := newTestIngest(t)
	var batch []inbound
	send := func(gw string, seq uint64) {
		b, err := wire.Marshal(&wire.Death{Env: wire.Envelope{Sender: gw, Seq: seq}})
		if err != nil {
			t.Fatal(err)
		}
		batch = append(batch, inbound{topic: wire.AgentTopic(gw, wire.LeafDeath), payload: b})
	}
	send("gwA", 1)
	send("gwB", 1)
	send("gwA", 2)
	send("gwA", 2) // a duplicate within the batch is acked again
	send("gwA", 0) // unsequenced: stored, never acked
	in.process(t.Context(), batch)
	want := map[string][]uint64{"gwA": {1, 2, 2}, "gwB": {1}}
	for gw, seqs := range want {
		got := fc.published[wire.HubTopic(gw, wire.LeafAck)]
		if len(got) != 1 {
			t.Fatalf("%s: %d acks, want 1", gw, len(got))
		}
		var a wire.Ack
		if err := wire.Unmarshal(got[0], &a); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(a.Seqs, seqs) {
			t.Fatalf("%s: acked %v, want %v", gw, a.Seqs, seqs)
		}
	}
	if s := in.Stats(); s.Ingested != 4 || s.Duplicates != 1 {
		t.Fatalf("stats = %+v, want 4 stored, 1 duplicate", s)
	}
	in.flushAcks(t.Context())
	if n := len(fc.published[wire.HubTopic("gwA", wire.LeafAck)]); n != 1 {
		t.Fatalf("empty flush published again (%d)", n)
	}
}

func TestFullQueueDrops(t *testing.T) {
	st, err := store.Open(t.Context(), t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var handler func(string, []byte)
	in, err := New(Options{BrokerURL: "tcp://fake:1883", Store: st, QueueSize: 1, QueueWait: time.Millisecond,
		newClient: func(c clientConfig) mqttClient { handler = c.Handler; return &fakeClient{} }})
	if err != nil {
		t.Fatal(err)
	}
	// Nothing consumes the queue: the first message fits, the second waits
	// QueueWait and is dropped (unacked, so its agent will resend it).
	handler(wire.AgentTopic("gw", wire.LeafDeath), []byte{1})
	handler(wire.AgentTopic("gw", wire.LeafDeath), []byte{2})
	if s := in.Stats(); s.Dropped != 1 {
		t.Fatalf("dropped = %d, want 1", s.Dropped)
	}
}
