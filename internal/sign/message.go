package sign

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"millwright/wire"
)

// SnapshotHash is the hex SHA-256 of snapshot bytes, as the hub names
// snapshots and as Command.SnapshotHash carries them.
func SnapshotHash(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// SignCommand sets c.SnapshotHash (when c carries a snapshot) and c.Sig,
// signing c as it is now, Env included: set the envelope (its Seq is the
// anti-replay sequence) first, and change nothing after.
func (s *Signer) SignCommand(c *wire.Command) error {
	c.Sig, c.SnapshotHash = nil, ""
	if len(c.Snapshot) > 0 {
		c.SnapshotHash = SnapshotHash(c.Snapshot)
	}
	raw, err := wire.Marshal(c)
	if err != nil {
		return fmt.Errorf("sign command: %w", err)
	}
	msg, err := wire.CommandSigningBytes(raw)
	if err != nil {
		return fmt.Errorf("sign command: %w", err)
	}
	c.Sig = &wire.Signature{KeyID: s.id, Value: s.sign(msg)}
	return nil
}

// SignSnapshot sets sn.Sig, signing sn as it is now, Env included.
func (s *Signer) SignSnapshot(sn *wire.Snapshot) error {
	sn.Sig = nil
	raw, err := wire.Marshal(sn)
	if err != nil {
		return fmt.Errorf("sign snapshot: %w", err)
	}
	msg, err := wire.SnapshotSigningBytes(raw)
	if err != nil {
		return fmt.Errorf("sign snapshot: %w", err)
	}
	sn.Sig = &wire.Signature{KeyID: s.id, Value: s.sign(msg)}
	return nil
}

// VerifyCommand checks that c, decoded from raw, is signed by a trusted
// key and that its snapshot bytes are the ones the signature names. It
// returns the signing key's id. Errors wrap ErrUnsigned, ErrUnknownKey,
// ErrBadSignature, ErrSnapshotHash or a *wire.DecodeError. The sequence is
// not checked here (see Replay).
func (k *Keyring) VerifyCommand(raw []byte, c *wire.Command) (string, error) {
	if c.Sig == nil {
		return "", fmt.Errorf("command %w", ErrUnsigned)
	}
	msg, err := wire.CommandSigningBytes(raw)
	if err != nil {
		return "", fmt.Errorf("command signature: %w", err)
	}
	if err := k.verify(msg, c.Sig); err != nil {
		return "", fmt.Errorf("command %w", err)
	}
	if len(c.Snapshot) > 0 && SnapshotHash(c.Snapshot) != c.SnapshotHash {
		return "", fmt.Errorf("command %s: %w (tampered or corrupted in transit)", c.ID, ErrSnapshotHash)
	}
	return c.Sig.KeyID, nil
}

// VerifySnapshot checks that sn, decoded from raw, is signed by a trusted
// key and returns the key's id. Errors wrap ErrUnsigned, ErrUnknownKey,
// ErrBadSignature or a *wire.DecodeError.
func (k *Keyring) VerifySnapshot(raw []byte, sn *wire.Snapshot) (string, error) {
	if sn.Sig == nil {
		return "", fmt.Errorf("snapshot %w", ErrUnsigned)
	}
	msg, err := wire.SnapshotSigningBytes(raw)
	if err != nil {
		return "", fmt.Errorf("snapshot signature: %w", err)
	}
	if err := k.verify(msg, sn.Sig); err != nil {
		return "", fmt.Errorf("snapshot %w", err)
	}
	return sn.Sig.KeyID, nil
}
