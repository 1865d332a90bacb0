// Package snapshot is the versioned envelope every detector of models/ wraps
// its state in: a CBOR map {kind, version, state}, decoded under fixed limits
// so that a snapshot from an untrusted peer cannot exhaust memory or stack.
//
// A detector's MarshalSnapshot calls Marshal with its own kind, its current
// state version and a plain struct; its UnmarshalSnapshot calls Unmarshal
// with the highest version it can read, then validates the state before
// adopting it. Kind reads only the envelope, so models/catalog can pick the
// detector that restores a snapshot.
package snapshot

import (
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// Decoder limits. A snapshot larger than MaxSize is refused before decoding;
// it matches the wire contract's largest byte string.
const (
	MaxSize          = 2 << 20
	MaxNesting       = 16
	MaxArrayElements = 1 << 20
	MaxMapPairs      = 1 << 12
)

// Reasons a snapshot is refused; Unmarshal's errors wrap one of them.
var (
	ErrOversized = errors.New("snapshot too large")
	ErrCorrupt   = errors.New("corrupt snapshot")
	ErrKind      = errors.New("snapshot of another kind")
	ErrVersion   = errors.New("unknown snapshot version")
)

// Envelope is the outer structure of every snapshot.
type Envelope struct {
	Kind    string          `cbor:"1,keyasint"`
	Version int             `cbor:"2,keyasint"`
	State   cbor.RawMessage `cbor:"3,keyasint"`
}

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	encMode, err = cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic(fmt.Sprintf("snapshot: cbor encode mode: %v", err))
	}
	decMode, err = cbor.DecOptions{
		MaxNestedLevels:   MaxNesting,
		MaxArrayElements:  MaxArrayElements,
		MaxMapPairs:       MaxMapPairs,
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
	}.DecMode()
	if err != nil {
		panic(fmt.Sprintf("snapshot: cbor decode mode: %v", err))
	}
}

// Marshal encodes state as deterministic CBOR inside an envelope of the
// given kind and version.
func Marshal(kind string, version int, state any) ([]byte, error) {
	raw, err := encMode.Marshal(state)
	if err != nil {
		return nil, fmt.Errorf("encode %s snapshot state: %w", kind, err)
	}
	b, err := encMode.Marshal(Envelope{Kind: kind, Version: version, State: raw})
	if err != nil {
		return nil, fmt.Errorf("encode %s snapshot envelope: %w", kind, err)
	}
	if len(b) > MaxSize {
		return nil, fmt.Errorf("encode %s snapshot: %w: %d bytes, limit %d", kind, ErrOversized, len(b), MaxSize)
	}
	return b, nil
}

// Open decodes only the envelope, checking size and structure but neither
// kind nor version.
func Open(b []byte) (Envelope, error) {
	var env Envelope
	if len(b) > MaxSize {
		return env, fmt.Errorf("decode snapshot: %w: %d bytes, limit %d", ErrOversized, len(b), MaxSize)
	}
	if err := decMode.Unmarshal(b, &env); err != nil {
		return Envelope{}, fmt.Errorf("decode snapshot envelope: %w: %w", ErrCorrupt, err)
	}
	if env.Kind == "" || env.Version < 1 || len(env.State) == 0 {
		return Envelope{}, fmt.Errorf("decode snapshot envelope: %w: missing kind, version or state", ErrCorrupt)
	}
	return env, nil
}

// Kind returns the kind named by a snapshot's envelope.
func Kind(b []byte) (string, error) {
	env, err := Open(b)
	if err != nil {
		return "", err
	}
	return env.Kind, nil
}

// Unmarshal decodes a snapshot of the given kind into state (a pointer),
// refusing another kind, a version above maxVersion, corrupt bytes and
// oversized input. It returns the snapshot's version, for migrations.
// state may be partly written on error: decode into a fresh value.
func Unmarshal(b []byte, kind string, maxVersion int, state any) (int, error) {
	env, err := Open(b)
	if err != nil {
		return 0, err
	}
	if env.Kind != kind {
		return 0, fmt.Errorf("decode %s snapshot: %w: got %q", kind, ErrKind, env.Kind)
	}
	if env.Version > maxVersion {
		return 0, fmt.Errorf("decode %s snapshot: %w: version %d, newest known %d", kind, ErrVersion, env.Version, maxVersion)
	}
	if err := decMode.Unmarshal(env.State, state); err != nil {
		return 0, fmt.Errorf("decode %s snapshot state: %w: %w", kind, ErrCorrupt, err)
	}
	return env.Version, nil
}

// Corrupt returns an error wrapping ErrCorrupt, for a state that decoded but
// does not validate.
func Corrupt(kind, format string, args ...any) error {
	return fmt.Errorf("decode %s snapshot: %w: %s", kind, ErrCorrupt, fmt.Sprintf(format, args...))
}
