package daemon

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"millwright/agent/pipeline"
	"millwright/internal/sign"
	"millwright/models"
	"millwright/models/catalog"
	"millwright/wire"
)

// hubKey is a hub signing key whose public half is in its own file.
type hubKey struct {
	s    *sign.Signer
	file string
}

func newHubKey(t *testing.T, dir string) hubKey {
	t.Helper()
	s, err := sign.GenerateSigner()
	if err != nil {
		t.Fatal(err)
	}
	pem, err := sign.EncodePublicKeys(s.Public())
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, s.KeyID()+".pem")
	if err := os.WriteFile(file, pem, 0o644); err != nil {
		t.Fatal(err)
	}
	return hubKey{s, file}
}

func snapshotOf(t *testing.T, kind string) []byte {
	t.Helper()
	det, err := catalog.New(kind, 2, 7)
	if err != nil {
		t.Fatal(err)
	}
	b, err := det.(models.Snapshotter).MarshalSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// hubCommand is a command as a hub sends it: enveloped, signed by k (none
// when k.s is nil), encoded; tamper may change it after signing.
func hubCommand(t *testing.T, k hubKey, seq uint64, c wire.Command, tamper func(*wire.Command)) ([]byte, *wire.Command) {
	t.Helper()
	c.Env = wire.Envelope{Version: wire.Version, Sender: "millwright-hub", Seq: seq, Time: time.Now().UnixNano()}
	if k.s != nil {
		if err := k.s.SignCommand(&c); err != nil {
			t.Fatal(err)
		}
	}
	if tamper != nil {
		tamper(&c)
	}
	raw, err := wire.Marshal(&c)
	if err != nil {
		t.Fatal(err)
	}
	var got wire.Command
	if err := wire.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	return raw, &got
}

func newTestSigning(t *testing.T, stateDir string, required bool, trusted ...string) *signing {
	t.Helper()
	s, err := newSigning(Options{StateDir: stateDir, Signing: SigningOptions{Required: required, TrustedKeys: trusted}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCheckCommand(t *testing.T) {
	keys := t.TempDir()
	hub, stranger := newHubKey(t, keys), newHubKey(t, keys)
	hst, pca := snapshotOf(t, "hst"), snapshotOf(t, "pca")
	deploy := wire.Command{ID: "d", Kind: wire.CmdDeploy, Machine: "m1", Role: wire.RoleChallenger, Model: "hst", Snapshot: hst}
	state := t.TempDir()
	s := newTestSigning(t, state, true, hub.file)
	tests := []struct {
		name   string
		key    hubKey
		seq    uint64
		cmd    wire.Command
		tamper func(*wire.Command)
		reason string // "" accepted
	}{
		{name: "signed deploy", key: hub, seq: 101, cmd: deploy},
		{name: "signed ping", key: hub, seq: 102, cmd: wire.Command{ID: "p", Kind: wire.CmdPing}},
		{name: "unsigned", seq: 103, cmd: deploy, reason: "unsigned"},
		{name: "unknown key", key: stranger, seq: 104, cmd: deploy, reason: "signed by an unknown key"},
		{name: "replayed sequence", key: hub, seq: 102, cmd: deploy, reason: "replayed or stale sequence"},
		{name: "stale sequence", key: hub, seq: 5, cmd: deploy, reason: "replayed or stale sequence"},
		{name: "tampered snapshot", key: hub, seq: 105, cmd: deploy, tamper: func(c *wire.Command) { c.Snapshot = pca },
			reason: "snapshot does not match its signed hash"},
		{name: "tampered machine", key: hub, seq: 106, cmd: deploy, tamper: func(c *wire.Command) { c.Machine = "m2" },
			reason: "bad signature"},
		{name: "another model kind", key: hub, seq: 107,
			cmd:    wire.Command{ID: "k", Kind: wire.CmdDeploy, Machine: "m1", Model: "hst", Snapshot: pca},
			reason: `snapshot built for another model kind: it is "pca", the command deploys "hst"`},
		{name: "snapshot without declared kind", key: hub, seq: 108,
			cmd: wire.Command{ID: "n", Kind: wire.CmdDeploy, Machine: "m1", Snapshot: hst}, reason: "declares no model kind"},
		{name: "corrupt snapshot", key: hub, seq: 109,
			cmd: wire.Command{ID: "j", Kind: wire.CmdDeploy, Machine: "m1", Model: "hst", Snapshot: []byte("junk")}, reason: "corrupt snapshot"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, c := hubCommand(t, tt.key, tt.seq, tt.cmd, tt.tamper)
			err := s.checkCommand(raw, c)
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var r *pipeline.Refused
			if !errors.As(err, &r) || !strings.Contains(r.Reason, tt.reason) || !strings.HasPrefix(r.Reason, "refused: ") {
				t.Fatalf("checkCommand = %v, want a refusal containing %q", err, tt.reason)
			}
		})
	}

	// The command accepted last, delivered again (an MQTT redelivery), is
	// not refused but reported as a duplicate, to be dropped unanswered.
	last := wire.Command{ID: "last", Kind: wire.CmdPing}
	raw, c := hubCommand(t, hub, 500, last, nil)
	if err := s.checkCommand(raw, c); err != nil {
		t.Fatal(err)
	}
	var r *pipeline.Refused
	if err := s.checkCommand(raw, c); !errors.Is(err, sign.ErrDuplicate) || errors.As(err, &r) {
		t.Fatalf("second delivery: %v, want a duplicate that is not a refusal", err)
	}

	// The highest sequence survives a restart of the agent.
	again := newTestSigning(t, state, true, hub.file)
	raw, c = hubCommand(t, hub, 102, wire.Command{ID: "p", Kind: wire.CmdPing}, nil)
	if err := again.checkCommand(raw, c); err == nil || !strings.Contains(err.Error(), "replayed") {
		t.Fatalf("after restart a stale sequence was accepted: %v", err)
	}
}

// Rotation: a command signed by a new key is refused until the agent's
// trusted file holds it, accepted after (no restart), and the old key
// keeps working while it stays trusted.
func TestCheckCommandRotation(t *testing.T) {
	dir := t.TempDir()
	old, cur := newHubKey(t, dir), newHubKey(t, dir)
	bundle := filepath.Join(dir, "trusted.pem")
	write := func(keys ...hubKey) {
		t.Helper()
		var pems []byte
		for _, k := range keys {
			b, err := os.ReadFile(k.file)
			if err != nil {
				t.Fatal(err)
			}
			pems = append(pems, b...)
		}
		if err := os.WriteFile(bundle, pems, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(old)
	s := newTestSigning(t, t.TempDir(), true, bundle)
	ping := wire.Command{ID: "p", Kind: wire.CmdPing}
	check := func(k hubKey, seq uint64) error {
		raw, c := hubCommand(t, k, seq, ping, nil)
		return s.checkCommand(raw, c)
	}
	if err := check(old, 10); err != nil {
		t.Fatalf("old key: %v", err)
	}
	if err := check(cur, 11); err == nil || !strings.Contains(err.Error(), "unknown key") {
		t.Fatalf("new key before it is trusted: %v", err)
	}
	write(old, cur)
	if err := check(cur, 12); err != nil {
		t.Fatalf("new key once trusted: %v", err)
	}
	if err := check(old, 13); err != nil {
		t.Fatalf("old key while still trusted: %v", err)
	}
	write(cur)
	if err := check(old, 14); err == nil {
		t.Fatal("old key accepted after it was dropped from the trusted file")
	}
}

// Without signing.required, unsigned commands and unknown keys run (with
// a warning), but what is provably wrong is still refused.
func TestCheckCommandNotRequired(t *testing.T) {
	dir := t.TempDir()
	hub, stranger := newHubKey(t, dir), newHubKey(t, dir)
	s := newTestSigning(t, t.TempDir(), false, hub.file)
	hst := snapshotOf(t, "hst")
	deploy := wire.Command{ID: "d", Kind: wire.CmdDeploy, Machine: "m1", Model: "hst", Snapshot: hst}
	for _, tt := range []struct {
		name   string
		key    hubKey
		seq    uint64
		tamper func(*wire.Command)
		ok     bool
	}{
		{"unsigned", hubKey{}, 0, nil, true},
		{"unknown key", stranger, 1, nil, true},
		{"signed", hub, 5, nil, true},
		{"replayed", hub, 5, nil, false},
		{"bad signature", hub, 6, func(c *wire.Command) { c.Model = "pca" }, false},
		{"tampered snapshot of an unknown key", stranger, 7, func(c *wire.Command) { c.Snapshot = []byte("x") }, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			raw, c := hubCommand(t, tt.key, tt.seq, deploy, tt.tamper)
			if err := s.checkCommand(raw, c); (err == nil) != tt.ok {
				t.Fatalf("checkCommand = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}
