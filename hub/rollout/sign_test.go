package rollout_test

import (
	"path/filepath"
	"testing"
	"time"

	"millwright/hub/rollout"
	"millwright/hub/store"
	"millwright/internal/sign"
	"millwright/wire"
)

// Every command the dispatcher sends, resends included, is signed over its
// fresh envelope, with a growing sequence and the snapshot's hash.
func TestDispatcherSignsCommands(t *testing.T) {
	f := newFleet(t, 1)
	snap := []byte("a snapshot")
	cmd := &wire.Command{Kind: wire.CmdDeploy, Machine: "m1", Role: wire.RoleChallenger, Model: "hst", Name: "c", Snapshot: snap}
	if _, err := f.st.Deploy(t.Context(), store.Deployment{Gateway: "gw1", Machine: "m1", Role: wire.RoleChallenger, Name: "c", Kind: "hst"}, cmd, t0); err != nil {
		t.Fatal(err)
	}
	signer, err := sign.GenerateSigner()
	if err != nil {
		t.Fatal(err)
	}
	ring := sign.NewKeyring(signer.Public())
	pub := &recorder{}
	now := t0
	seqs, err := sign.OpenSequence(filepath.Join(t.TempDir(), "sequence"), uint64(t0.UnixNano()))
	if err != nil {
		t.Fatal(err)
	}
	d, err := rollout.NewDispatcher(rollout.DispatcherOptions{Store: f.st, Publisher: pub, ResendAfter: 1, Now: func() time.Time { return now },
		Signer: signer, Sequence: seqs})
	if err != nil {
		t.Fatal(err)
	}
	var last uint64
	for attempt := range 2 {
		now = now.Add(time.Second)
		if n, err := d.Flush(t.Context()); err != nil || n != 1 {
			t.Fatalf("attempt %d: Flush = %d, %v", attempt, n, err)
		}
		pub.mu.Lock()
		raw := pub.msgs[len(pub.msgs)-1].payload
		pub.mu.Unlock()
		var got wire.Command
		if err := wire.Unmarshal(raw, &got); err != nil {
			t.Fatal(err)
		}
		id, err := ring.VerifyCommand(raw, &got)
		if err != nil || id != signer.KeyID() {
			t.Fatalf("attempt %d: VerifyCommand = %q, %v", attempt, id, err)
		}
		if got.SnapshotHash != sign.SnapshotHash(snap) {
			t.Fatalf("SnapshotHash = %q", got.SnapshotHash)
		}
		if got.Env.Seq <= last || got.Env.Seq <= uint64(t0.UnixNano()) {
			t.Fatalf("attempt %d: sequence %d not above %d", attempt, got.Env.Seq, last)
		}
		last = got.Env.Seq
	}
}
