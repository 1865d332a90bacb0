package sign

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"sort"

	"millwright/wire"
)

// Expected verification failures; VerifyCommand and VerifySnapshot wrap
// them with what was refused.
var (
	ErrUnsigned     = errors.New("unsigned")
	ErrUnknownKey   = errors.New("signed by an unknown key")
	ErrBadSignature = errors.New("bad signature")
	// ErrSnapshotHash: the command's snapshot bytes are not the ones its
	// signature names (tampered or corrupted in transit).
	ErrSnapshotHash = errors.New("snapshot does not match its signed hash")
	ErrReplayed     = errors.New("replayed or stale sequence")
)

// Keyring is a set of trusted public keys by id. The zero value trusts
// nothing. A Keyring is not safe for concurrent modification; build it and
// then share it read-only.
type Keyring struct {
	keys map[string]ed25519.PublicKey
}

// NewKeyring trusts keys.
func NewKeyring(keys ...ed25519.PublicKey) *Keyring {
	k := &Keyring{}
	for _, p := range keys {
		k.Add(p)
	}
	return k
}

// LoadKeyring trusts every public key in the PEM files at paths.
func LoadKeyring(paths ...string) (*Keyring, error) {
	k := &Keyring{}
	for _, p := range paths {
		keys, err := ReadPublicKeys(p)
		if err != nil {
			return nil, err
		}
		for _, pub := range keys {
			k.Add(pub)
		}
	}
	return k, nil
}

// Add trusts pub and returns its id.
func (k *Keyring) Add(pub ed25519.PublicKey) string {
	if k.keys == nil {
		k.keys = make(map[string]ed25519.PublicKey)
	}
	id := KeyID(pub)
	k.keys[id] = slices.Clone(pub)
	return id
}

// IDs lists the trusted key ids, sorted.
func (k *Keyring) IDs() []string {
	ids := make([]string, 0, len(k.keys))
	for id := range k.keys {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Len is the number of trusted keys.
func (k *Keyring) Len() int { return len(k.keys) }

// Key returns the trusted key of id.
func (k *Keyring) Key(id string) (ed25519.PublicKey, bool) {
	p, ok := k.keys[id]
	return p, ok
}

// verify checks sig over msg: ErrUnsigned, ErrUnknownKey or ErrBadSignature.
func (k *Keyring) verify(msg []byte, sig *wire.Signature) error {
	if sig == nil || sig.KeyID == "" && len(sig.Value) == 0 {
		return ErrUnsigned
	}
	pub, ok := k.keys[sig.KeyID]
	if !ok {
		return fmt.Errorf("key %q: %w", sig.KeyID, ErrUnknownKey)
	}
	if len(sig.Value) != ed25519.SignatureSize || !ed25519.Verify(pub, msg, sig.Value) {
		return fmt.Errorf("key %s: %w", sig.KeyID, ErrBadSignature)
	}
	return nil
}
