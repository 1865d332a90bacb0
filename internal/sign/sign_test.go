package sign_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"millwright/internal/sign"
	"millwright/wire"

	"github.com/fxamacker/cbor/v2"
)

func newSigner(t testing.TB) *sign.Signer {
	t.Helper()
	s, err := sign.GenerateSigner()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func deploy(seq uint64) *wire.Command {
	return &wire.Command{
		Env: wire.Envelope{Version: wire.Version, Sender: "millwright-hub", Seq: seq, Time: 1700000000},
		ID:  "cmd-1", Kind: wire.CmdDeploy, Machine: "pump-1", Role: wire.RoleChallenger, Model: "hst",
		Snapshot: []byte("snapshot bytes"), Settings: map[string]float64{"threshold": 0.9}, Name: "c1",
	}
}

// encodeSigned signs c with s and returns its wire bytes.
func encodeSigned(t testing.TB, s *sign.Signer, c *wire.Command) []byte {
	t.Helper()
	if err := s.SignCommand(c); err != nil {
		t.Fatal(err)
	}
	b, err := wire.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// setKey re-encodes the CBOR map b with key k set to v (nil deletes it).
func setKey(t testing.TB, b []byte, k uint64, v any) []byte {
	t.Helper()
	var m map[uint64]cbor.RawMessage
	if err := cbor.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if v == nil {
		delete(m, k)
	} else {
		raw, err := cbor.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		m[k] = raw
	}
	out, err := cbor.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestVerifyCommand(t *testing.T) {
	hub, other := newSigner(t), newSigner(t)
	ring := sign.NewKeyring(hub.Public())
	good := encodeSigned(t, hub, deploy(7))
	tests := []struct {
		name string
		raw  []byte
		want error
	}{
		{"signed", good, nil},
		{"unsigned", setKey(t, good, 11, nil), sign.ErrUnsigned},
		{"unknown key", encodeSigned(t, other, deploy(7)), sign.ErrUnknownKey},
		{"kind changed", setKey(t, good, 2, wire.CmdRemove), sign.ErrBadSignature},
		{"model kind changed", setKey(t, good, 5, "pca"), sign.ErrBadSignature},
		{"sequence changed", setKey(t, good, 0, wire.Envelope{Version: 1, Sender: "millwright-hub", Seq: 8, Time: 1700000000}), sign.ErrBadSignature},
		{"snapshot tampered", setKey(t, good, 6, []byte("evil snapshot")), sign.ErrSnapshotHash},
		{"snapshot and its hash tampered", setKey(t, setKey(t, good, 6, []byte("evil")), 10, sign.SnapshotHash([]byte("evil"))), sign.ErrBadSignature},
		{"signature truncated", setKey(t, good, 11, wire.Signature{KeyID: hub.KeyID(), Value: []byte{1, 2, 3}}), sign.ErrBadSignature},
		{"non-canonical key order still verifies", reorder(t, good), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c wire.Command
			if err := wire.Unmarshal(tt.raw, &c); err != nil {
				t.Fatalf("decode: %v", err)
			}
			id, err := ring.VerifyCommand(tt.raw, &c)
			if tt.want == nil {
				if err != nil || id != hub.KeyID() {
					t.Fatalf("VerifyCommand = %q, %v; want %s, nil", id, err, hub.KeyID())
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("VerifyCommand error = %v, want %v", err, tt.want)
			}
		})
	}
}

// reorder re-encodes b's top-level map with its keys in descending order
// and 1 encoded non-minimally: another encoding of the same message.
func reorder(t testing.TB, b []byte) []byte {
	t.Helper()
	var m map[uint64]cbor.RawMessage
	if err := cbor.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	out := []byte{0xa0 + byte(len(m))}
	for k := uint64(20); ; k-- {
		if v, ok := m[k]; ok {
			out = append(out, byte(k))
			out = append(out, v...)
		}
		if k == 0 {
			break
		}
	}
	if bytes.Equal(out, b) {
		t.Fatal("reorder changed nothing")
	}
	return out
}

// A newer hub's command with a field this version does not know still
// verifies: the signed bytes keep fields they cannot name.
func TestVerifyCommandKeepsUnknownFields(t *testing.T) {
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	s := sign.NewSigner(priv)
	c := deploy(3)
	c.SnapshotHash = sign.SnapshotHash(c.Snapshot)
	raw, err := wire.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	raw = setKey(t, raw, 40, "a field of wire v1.1")
	msg, err := wire.CommandSigningBytes(raw)
	if err != nil {
		t.Fatal(err)
	}
	raw = setKey(t, raw, 11, wire.Signature{KeyID: s.KeyID(), Value: ed25519.Sign(priv, msg)})
	var got wire.Command
	if err := wire.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	if _, err := sign.NewKeyring(s.Public()).VerifyCommand(raw, &got); err != nil {
		t.Fatalf("VerifyCommand: %v", err)
	}
	// Dropping the unknown field breaks the signature.
	stripped := setKey(t, raw, 40, nil)
	if _, err := sign.NewKeyring(s.Public()).VerifyCommand(stripped, &got); !errors.Is(err, sign.ErrBadSignature) {
		t.Fatalf("VerifyCommand without the unknown field = %v, want ErrBadSignature", err)
	}
}

func TestVerifySnapshot(t *testing.T) {
	agent := newSigner(t)
	ring := sign.NewKeyring(agent.Public())
	sn := &wire.Snapshot{Env: wire.Envelope{Version: 1, Sender: "gw1", Seq: 4, Time: 9}, Machine: "m1", Model: "hst",
		Role: wire.RoleChampion, Samples: 100, Data: []byte{1, 2, 3}}
	if err := agent.SignSnapshot(sn); err != nil {
		t.Fatal(err)
	}
	good, err := wire.Marshal(sn)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		raw  []byte
		ring *sign.Keyring
		want error
	}{
		{"signed", good, ring, nil},
		{"unsigned", setKey(t, good, 7, nil), ring, sign.ErrUnsigned},
		{"data tampered", setKey(t, good, 6, []byte{1, 2, 4}), ring, sign.ErrBadSignature},
		{"machine changed", setKey(t, good, 1, "m2"), ring, sign.ErrBadSignature},
		{"not trusted", good, sign.NewKeyring(), sign.ErrUnknownKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got wire.Snapshot
			if err := wire.Unmarshal(tt.raw, &got); err != nil {
				t.Fatal(err)
			}
			_, err := tt.ring.VerifySnapshot(tt.raw, &got)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("VerifySnapshot = %v, want %v", err, tt.want)
			}
		})
	}
}

// A signature made over a snapshot never verifies a command with the same
// map: the domains differ.
func TestDomainSeparation(t *testing.T) {
	s := newSigner(t)
	c := &wire.Command{Env: wire.Envelope{Version: 1, Sender: "hub", Seq: 1}, ID: "x", Kind: wire.CmdPing}
	raw, err := wire.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	// Sign the same map as a snapshot would be signed.
	snapMsg, err := wire.SnapshotSigningBytes(raw)
	if err != nil {
		t.Fatal(err)
	}
	cmdMsg, err := wire.CommandSigningBytes(raw)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(snapMsg, cmdMsg) {
		t.Fatal("snapshot and command signing bytes are equal")
	}
	sn := &wire.Snapshot{Env: c.Env, Machine: "m", Model: "hst", Role: "champion"}
	if err := s.SignSnapshot(sn); err != nil {
		t.Fatal(err)
	}
	c.Sig = sn.Sig
	raw, _ = wire.Marshal(c)
	if _, err := sign.NewKeyring(s.Public()).VerifyCommand(raw, c); !errors.Is(err, sign.ErrBadSignature) {
		t.Fatalf("snapshot signature on a command: %v, want ErrBadSignature", err)
	}
}

// Rotation: while both keys are trusted either verifies; once the old one
// is dropped only the new one does.
func TestRotation(t *testing.T) {
	old, cur := newSigner(t), newSigner(t)
	both := sign.NewKeyring(old.Public(), cur.Public())
	onlyNew := sign.NewKeyring(cur.Public())
	for _, tt := range []struct {
		name   string
		signer *sign.Signer
		ring   *sign.Keyring
		want   error
	}{
		{"old key while trusted", old, both, nil},
		{"new key", cur, both, nil},
		{"old key after retirement", old, onlyNew, sign.ErrUnknownKey},
		{"new key alone", cur, onlyNew, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := deploy(1)
			raw := encodeSigned(t, tt.signer, c)
			id, err := tt.ring.VerifyCommand(raw, c)
			if !errors.Is(err, tt.want) || tt.want == nil && id != tt.signer.KeyID() {
				t.Fatalf("VerifyCommand = %q, %v; want %v", id, err, tt.want)
			}
		})
	}
}

func TestKeyID(t *testing.T) {
	s := newSigner(t)
	if len(s.KeyID()) != 16 || s.KeyID() != sign.KeyID(s.Public()) {
		t.Fatalf("KeyID = %q", s.KeyID())
	}
	if newSigner(t).KeyID() == s.KeyID() {
		t.Fatal("two keys share an id")
	}
}

func TestReplay(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "replay.json")
	r, err := sign.OpenReplay(path)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		key  string
		seq  uint64
		cmd  string
		want error
		dup  bool
	}{
		{"a", 5, "c1", nil, false},
		{"a", 5, "c1", sign.ErrReplayed, true}, // the same delivered twice
		{"a", 5, "c2", sign.ErrReplayed, false},
		{"a", 4, "c0", sign.ErrReplayed, false},
		{"a", 9, "c3", nil, false},
		{"a", 5, "c1", sign.ErrReplayed, false}, // no longer the last: a replay
		{"b", 1, "c4", nil, false},              // another key has its own sequence
		{"b", 1, "c5", sign.ErrReplayed, false},
	}
	for _, s := range steps {
		err := r.Accept(s.key, s.seq, s.cmd)
		if !errors.Is(err, s.want) || errors.Is(err, sign.ErrDuplicate) != s.dup {
			t.Fatalf("Accept(%s, %d, %s) = %v, want %v (duplicate %v)", s.key, s.seq, s.cmd, err, s.want, s.dup)
		}
	}
	// After a restart the state is still there.
	r, err = sign.OpenReplay(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Accept("a", 9, "c9"); !errors.Is(err, sign.ErrReplayed) {
		t.Fatalf("after reopen Accept(a, 9) = %v, want ErrReplayed", err)
	}
	if r.Highest("a") != 9 || r.Highest("b") != 1 {
		t.Fatalf("Highest = %d, %d", r.Highest("a"), r.Highest("b"))
	}
	if err := os.WriteFile(path, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := sign.OpenReplay(path); err == nil {
		t.Fatal("OpenReplay accepted a corrupt state")
	}
}
