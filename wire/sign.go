package wire

import (
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// Signature is an Ed25519 signature and the id of the key that made it
// (package internal/sign names keys).
type Signature struct {
	KeyID string `cbor:"1,keyasint" json:"key_id"`
	Value []byte `cbor:"2,keyasint" json:"value"`
}

// Domain-separation prefixes of signed messages: a signature made for one
// message type never verifies as another.
const (
	DomainCommand  = "millwright/v1/command"
	DomainSnapshot = "millwright/v1/snapshot"
)

// Map keys left out of the signed bytes.
const (
	cmdKeySnapshot = 6  // Command.Snapshot: covered through SnapshotHash
	cmdKeySig      = 11 // Command.Sig
	snapKeySig     = 7  // Snapshot.Sig
)

// CommandSigningBytes returns the bytes a hub signs for the Command encoded
// in raw: DomainCommand, a zero byte, then the command's top-level CBOR map
// re-encoded deterministically without its signature (key 11) and without
// its snapshot bytes (key 6), which the signature covers through
// SnapshotHash. Fields this version does not know are kept, so a newer
// hub's signature still verifies here. Failures are *DecodeErrors.
func CommandSigningBytes(raw []byte) ([]byte, error) {
	return signingBytes("command", DomainCommand, raw, cmdKeySnapshot, cmdKeySig)
}

// SnapshotSigningBytes returns the bytes an agent signs for the Snapshot
// encoded in raw: DomainSnapshot, a zero byte, then the snapshot's
// top-level CBOR map re-encoded deterministically without its signature
// (key 7). Failures are *DecodeErrors.
func SnapshotSigningBytes(raw []byte) ([]byte, error) {
	return signingBytes("snapshot", DomainSnapshot, raw, snapKeySig)
}

// signingBytes re-encodes raw's top-level map without the keys in drop.
// The values are copied as they came: the same decoded message gives the
// same bytes whatever order or encoding of keys the sender used.
func signingBytes(what, domain string, raw []byte, drop ...uint64) ([]byte, error) {
	if len(raw) > MaxMessageSize {
		return nil, &DecodeError{Kind: KindOversized, What: what, Err: fmt.Errorf("%d bytes, limit %d", len(raw), MaxMessageSize)}
	}
	var m map[uint64]cbor.RawMessage
	if err := decMode.Unmarshal(raw, &m); err != nil {
		return nil, &DecodeError{Kind: KindMalformed, What: what, Err: err}
	}
	if m == nil {
		return nil, &DecodeError{Kind: KindMalformed, What: what, Err: fmt.Errorf("not a map")}
	}
	for _, k := range drop {
		delete(m, k)
	}
	out := make([]byte, 0, len(domain)+1+len(raw))
	out = append(out, domain...)
	out = append(out, 0)
	body, err := encMode.Marshal(m)
	if err != nil {
		return nil, &DecodeError{Kind: KindMalformed, What: what, Err: err}
	}
	return append(out, body...), nil
}
