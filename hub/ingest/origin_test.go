package ingest

import (
	"path/filepath"
	"testing"
	"time"

	"millwright/hub/store"
	"millwright/internal/sign"
	"millwright/wire"
)

func newOriginIngest(t *testing.T, keysDir string, require bool) (*Ingest, *store.Store) {
	t.Helper()
	st, err := store.Open(t.Context(), t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	keys, err := OpenAgentKeys(keysDir)
	if err != nil {
		t.Fatal(err)
	}
	in, err := New(Options{BrokerURL: "tcp://fake:1883", Store: st, AgentKeys: keys, RequireAgentSignatures: require,
		newClient: func(clientConfig) mqttClient { return &fakeClient{} }})
	if err != nil {
		t.Fatal(err)
	}
	return in, st
}

func encode(t *testing.T, gw, leaf string, m wire.Message) inbound {
	t.Helper()
	b, err := wire.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return inbound{topic: wire.AgentTopic(gw, leaf), payload: b, recv: time.Unix(100, 0)}
}

func snap(seq uint64, data string) *wire.Snapshot {
	return &wire.Snapshot{Env: wire.Envelope{Version: 1, Sender: "gw1", Seq: seq}, Machine: "m1", Model: "hst", Role: wire.RoleChampion, Data: []byte(data)}
}

func signed(t *testing.T, s *sign.Signer, sn *wire.Snapshot) *wire.Snapshot {
	t.Helper()
	if err := s.SignSnapshot(sn); err != nil {
		t.Fatal(err)
	}
	return sn
}

func TestSnapshotOrigin(t *testing.T) {
	agent, err := sign.GenerateSigner()
	if err != nil {
		t.Fatal(err)
	}
	other, err := sign.GenerateSigner()
	if err != nil {
		t.Fatal(err)
	}
	keysDir := filepath.Join(t.TempDir(), "agents")
	in, st := newOriginIngest(t, keysDir, false)
	birth := &wire.Birth{Env: wire.Envelope{Version: 1, Sender: "gw1", Seq: 1}, AgentVersion: "dev", SigningKey: agent.Public()}
	tampered := encode(t, "gw1", wire.LeafSnapshots, signed(t, agent, snap(4, "original")))
	var sn wire.Snapshot
	if err := wire.Unmarshal(tampered.payload, &sn); err != nil {
		t.Fatal(err)
	}
	sn.Data = []byte("tampered")
	tampered = encode(t, "gw1", wire.LeafSnapshots, &sn)
	in.process(t.Context(), []inbound{
		encode(t, "gw1", wire.LeafBirth, birth),
		encode(t, "gw1", wire.LeafSnapshots, signed(t, agent, snap(2, "a"))), // verified
		encode(t, "gw1", wire.LeafSnapshots, snap(3, "b")),                   // unsigned: stored, unverified
		tampered, // refused
		encode(t, "gw1", wire.LeafSnapshots, signed(t, other, snap(5, "c"))), // unknown key: unverified
	})
	if p, ok := in.opts.AgentKeys.Key("gw1"); !ok || !p.Equal(agent.Public()) {
		t.Fatal("birth did not pin the agent's key")
	}
	if got := in.Stats().SnapshotsVerified; got != 1 {
		t.Errorf("verified = %v, want 1", got)
	}
	if got := in.Stats().SnapshotsUnverified; got != 2 {
		t.Errorf("unverified = %v, want 2", got)
	}
	if got := in.rejects.Count(wire.KindInvalid); got != 1 {
		t.Errorf("refused %d snapshots, want the tampered one", got)
	}
	list, err := st.Snapshots(t.Context(), store.SnapshotFilter{})
	if err != nil || len(list) != 3 {
		t.Fatalf("stored %d snapshots, %v; want 3", len(list), err)
	}

	// Another key announced later is not pinned over the first.
	in.process(t.Context(), []inbound{encode(t, "gw1", wire.LeafBirth,
		&wire.Birth{Env: wire.Envelope{Version: 1, Sender: "gw1", Seq: 6}, SigningKey: other.Public()})})
	if p, _ := in.opts.AgentKeys.Key("gw1"); !p.Equal(agent.Public()) {
		t.Fatal("a second birth replaced the pinned key")
	}

	// The pin survives a restart, and a hub that requires signatures
	// refuses what it cannot verify.
	strict, st2 := newOriginIngest(t, keysDir, true)
	strict.process(t.Context(), []inbound{
		encode(t, "gw1", wire.LeafSnapshots, signed(t, agent, snap(7, "d"))),
		encode(t, "gw1", wire.LeafSnapshots, snap(8, "e")),
		encode(t, "gw1", wire.LeafSnapshots, signed(t, other, snap(9, "f"))),
	})
	if got := strict.rejects.Count(wire.KindInvalid); got != 2 {
		t.Errorf("strict hub refused %d, want 2 (unsigned, unknown key)", got)
	}
	if list, _ := st2.Snapshots(t.Context(), store.SnapshotFilter{}); len(list) != 1 {
		t.Errorf("strict hub stored %d snapshots, want the verified one", len(list))
	}
}

func TestBirthSigningKeyLength(t *testing.T) {
	in, _ := newOriginIngest(t, t.TempDir(), false)
	in.process(t.Context(), []inbound{encode(t, "gw1", wire.LeafBirth,
		&wire.Birth{Env: wire.Envelope{Version: 1, Sender: "gw1", Seq: 1}, SigningKey: []byte{1, 2, 3}})})
	if in.rejects.Count(wire.KindInvalid) != 1 {
		t.Fatal("birth with a 3-byte key accepted")
	}
	if _, ok := in.opts.AgentKeys.Key("gw1"); ok {
		t.Fatal("bad key pinned")
	}
}

// FuzzSnapshotOrigin feeds arbitrary payloads on a snapshots topic of a
// gateway with a pinned key: each is counted once (stored or refused),
// nothing panics, and only what its key signed is counted verified.
func FuzzSnapshotOrigin(f *testing.F) {
	agent, err := sign.GenerateSigner()
	if err != nil {
		f.Fatal(err)
	}
	sn := &wire.Snapshot{Env: wire.Envelope{Version: 1, Sender: "gw1", Seq: 1}, Machine: "m1", Model: "hst", Role: wire.RoleChampion, Data: []byte("state")}
	if err := agent.SignSnapshot(sn); err != nil {
		f.Fatal(err)
	}
	good, err := wire.Marshal(sn)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)-1])
	st, err := store.Open(f.Context(), f.TempDir(), store.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	keys, err := OpenAgentKeys(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	if _, err := keys.Pin("gw1", agent.Public()); err != nil {
		f.Fatal(err)
	}
	in, err := New(Options{BrokerURL: "tcp://fake:1883", Store: st, AgentKeys: keys,
		newClient: func(clientConfig) mqttClient { return &fakeClient{} }})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		before := in.Stats()
		in.process(t.Context(), []inbound{{topic: wire.AgentTopic("gw1", wire.LeafSnapshots), payload: payload}})
		after := in.Stats()
		handled := (after.Ingested - before.Ingested) + (after.Duplicates - before.Duplicates) + (after.Rejected - before.Rejected)
		if handled != 1 {
			t.Fatalf("message counted %d times", handled)
		}
		if after.SnapshotsVerified > before.SnapshotsVerified {
			var got wire.Snapshot
			if err := wire.Unmarshal(payload, &got); err != nil || got.Machine != sn.Machine || string(got.Data) != string(sn.Data) || got.Env != sn.Env {
				t.Fatalf("verified a snapshot the agent did not sign: %+v, %v", got, err)
			}
		}
	})
}
