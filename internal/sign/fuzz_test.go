package sign_test

import (
	"bytes"
	"testing"

	"millwright/internal/sign"
	"millwright/wire"
)

// FuzzVerifyCommand feeds arbitrary bytes to the agent's path: decode, then
// verify. Nothing panics, and whatever verifies means what the hub signed:
// the same signed bytes and the snapshot the hub hashed.
func FuzzVerifyCommand(f *testing.F) {
	s, err := sign.GenerateSigner()
	if err != nil {
		f.Fatal(err)
	}
	ring := sign.NewKeyring(s.Public())
	c := deploy(42)
	orig := encodeSigned(f, s, c)
	want, err := wire.CommandSigningBytes(orig)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(orig)
	ping := &wire.Command{Env: wire.Envelope{Version: 1, Seq: 1}, ID: "p", Kind: wire.CmdPing}
	f.Add(encodeSigned(f, s, ping))
	f.Add(reorder(f, orig))
	f.Fuzz(func(t *testing.T, b []byte) {
		var got wire.Command
		if err := wire.Unmarshal(b, &got); err != nil {
			return
		}
		id, err := ring.VerifyCommand(b, &got)
		if err != nil {
			return
		}
		msg, err := wire.CommandSigningBytes(b)
		if err != nil {
			t.Fatalf("verified but no signing bytes: %v", err)
		}
		if id != s.KeyID() {
			t.Fatalf("verified under key %q", id)
		}
		// Only the two messages signed here can verify (a forgery would be
		// an Ed25519 break): the ping or the deploy.
		if got.Kind == wire.CmdDeploy && (!bytes.Equal(msg, want) || !bytes.Equal(got.Snapshot, c.Snapshot)) {
			t.Fatalf("verified a deploy that differs from the signed one: %+v", got)
		}
	})
}

// FuzzVerifySnapshot is the hub's path for agent snapshots.
func FuzzVerifySnapshot(f *testing.F) {
	s, err := sign.GenerateSigner()
	if err != nil {
		f.Fatal(err)
	}
	ring := sign.NewKeyring(s.Public())
	sn := &wire.Snapshot{Env: wire.Envelope{Version: 1, Sender: "gw1", Seq: 2}, Machine: "m1", Model: "hst", Role: "champion", Data: []byte("state")}
	if err := s.SignSnapshot(sn); err != nil {
		f.Fatal(err)
	}
	orig, err := wire.Marshal(sn)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(orig)
	f.Fuzz(func(t *testing.T, b []byte) {
		var got wire.Snapshot
		if err := wire.Unmarshal(b, &got); err != nil {
			return
		}
		if _, err := ring.VerifySnapshot(b, &got); err != nil {
			return
		}
		if got.Machine != sn.Machine || !bytes.Equal(got.Data, sn.Data) || got.Env != sn.Env {
			t.Fatalf("verified a snapshot that differs from the signed one: %+v", got)
		}
	})
}
