package ingest

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"millwright/internal/sign"
	"millwright/wire"
)

// AgentKeys pins each gateway's snapshot-signing key: the first key its
// birth announces is kept (trust on first use, as the broker's ACL and the
// gateway's certificate already vouch for who may publish that birth) in
// <dir>/<gateway>.pub. A different key announced later is not taken: the
// gateway's snapshots stay unverified until an operator removes the file,
// or puts the new key there. A file put there before the first birth is
// the pin (keys provisioned out of band).
type AgentKeys struct {
	dir  string
	mu   sync.Mutex
	keys map[string]*sign.Keyring // one key each
	pubs map[string]ed25519.PublicKey
}

// OpenAgentKeys loads the pins in dir, creating it when missing.
func OpenAgentKeys(dir string) (*AgentKeys, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("agent keys dir: %w", err)
	}
	k := &AgentKeys{dir: dir, keys: map[string]*sign.Keyring{}, pubs: map[string]ed25519.PublicKey{}}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("agent keys dir: %w", err)
	}
	for _, e := range ents {
		gw, ok := strings.CutSuffix(e.Name(), ".pub")
		if !ok || e.IsDir() || !wire.ValidID(gw) {
			continue
		}
		pubs, err := sign.ReadPublicKeys(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("agent key of %s: %w", gw, err)
		}
		if len(pubs) != 1 {
			return nil, fmt.Errorf("agent key of %s: %d keys in %s, want one", gw, len(pubs), e.Name())
		}
		k.set(gw, pubs[0])
	}
	return k, nil
}

func (k *AgentKeys) set(gw string, pub ed25519.PublicKey) {
	k.keys[gw], k.pubs[gw] = sign.NewKeyring(pub), pub
}

// ErrKeyChanged: a gateway announced a key other than its pinned one.
var ErrKeyChanged = errors.New("agent announced a key other than its pinned one")

// Pin pins pub for gateway gw when it has no key yet (pinned is true then),
// and returns ErrKeyChanged when it has another.
func (k *AgentKeys) Pin(gw string, pub ed25519.PublicKey) (pinned bool, err error) {
	if len(pub) != ed25519.PublicKeySize {
		return false, fmt.Errorf("agent key of %s: %d bytes, want %d", gw, len(pub), ed25519.PublicKeySize)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if have, ok := k.pubs[gw]; ok {
		if have.Equal(pub) {
			return false, nil
		}
		return false, fmt.Errorf("gateway %s: pinned %s, announced %s: %w", gw, sign.KeyID(have), sign.KeyID(pub), ErrKeyChanged)
	}
	b, err := sign.EncodePublicKeys(pub)
	if err != nil {
		return false, err
	}
	path := filepath.Join(k.dir, gw+".pub")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return false, fmt.Errorf("pin agent key: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return false, fmt.Errorf("pin agent key: %w", err)
	}
	k.set(gw, slicesClone(pub))
	return true, nil
}

// Key returns the pinned key of gw.
func (k *AgentKeys) Key(gw string) (ed25519.PublicKey, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	p, ok := k.pubs[gw]
	return p, ok
}

func (k *AgentKeys) keyring(gw string) *sign.Keyring {
	k.mu.Lock()
	defer k.mu.Unlock()
	if r := k.keys[gw]; r != nil {
		return r
	}
	return sign.NewKeyring()
}

func slicesClone(b []byte) []byte { return append([]byte(nil), b...) }

// originIngester is the store ability to record where a snapshot came
// from: signedBy is the id of the agent key that verifiably signed it, ""
// when its origin is unverified. Until the store has it, snapshots are
// stored by IngestSnapshot and their origin is only counted and logged.
type originIngester interface {
	IngestSnapshotOrigin(ctx context.Context, sn *wire.Snapshot, recv time.Time, signedBy string) (dup bool, err error)
}

// snapshotOrigin checks an agent snapshot's signature against its
// gateway's pinned key. It returns the key id when verified, "" when the
// origin is unverified but the snapshot may be stored, and an error
// (a refusal) for a bad signature from the pinned key, or for any
// unverified snapshot when Options.RequireAgentSignatures is set.
func (in *Ingest) snapshotOrigin(gw string, raw []byte, sn *wire.Snapshot) (string, error) {
	if in.opts.AgentKeys == nil {
		if in.opts.RequireAgentSignatures {
			return "", invalid(wire.LeafSnapshots, "no agent keys to verify with")
		}
		return "", nil
	}
	id, err := in.opts.AgentKeys.keyring(gw).VerifySnapshot(raw, sn)
	switch {
	case err == nil:
		in.m.origin[originVerified].Inc()
		in.verified.Add(1)
		return id, nil
	case errors.Is(err, sign.ErrBadSignature):
		return "", invalid(wire.LeafSnapshots, "%v", err)
	case in.opts.RequireAgentSignatures:
		return "", invalid(wire.LeafSnapshots, "%v (signing.require_agent_signatures)", err)
	}
	in.m.origin[originUnverified].Inc()
	in.unverified.Add(1)
	if !in.loggedUnverified[gw] {
		in.loggedUnverified[gw] = true
		in.log.Warn("snapshot of unverified origin stored", "gateway", gw, "why", err, "pinned", in.pinnedID(gw))
	}
	return "", nil
}

func (in *Ingest) pinnedID(gw string) string {
	if p, ok := in.opts.AgentKeys.Key(gw); ok {
		return sign.KeyID(p)
	}
	return ""
}

// pinBirth pins the key a birth announces (see AgentKeys).
func (in *Ingest) pinBirth(b *wire.Birth) {
	if in.opts.AgentKeys == nil || len(b.SigningKey) == 0 {
		return
	}
	gw := b.Env.Sender
	pinned, err := in.opts.AgentKeys.Pin(gw, b.SigningKey)
	switch {
	case err != nil:
		in.log.Warn("agent signing key not pinned; its snapshots stay unverified", "gateway", gw, "err", err)
	case pinned:
		delete(in.loggedUnverified, gw)
		in.log.Info("agent signing key pinned", "gateway", gw, "key_id", sign.KeyID(b.SigningKey))
	}
}
