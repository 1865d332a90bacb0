package wire

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// Decoder limits. A message over MaxMessageSize is refused before decoding.
const (
	MaxMessageSize   = 4 << 20
	MaxNesting       = 16
	MaxArrayElements = 1 << 16
	MaxMapPairs      = 1 << 10
	MaxByteString    = 2 << 20
)

// Kinds of decode failure, used as DecodeError.Kind and as metric labels.
const (
	KindMalformed      = "malformed"
	KindUnknownVersion = "unknown_version"
	KindOversized      = "oversized"
	KindInvalid        = "invalid"
)

// DecodeError says why bytes were refused.
type DecodeError struct {
	Kind string // one of the Kind constants
	What string // the message type being decoded
	Err  error
}

func (e *DecodeError) Error() string {
	return "decode " + e.What + ": " + e.Kind + ": " + e.Err.Error()
}

func (e *DecodeError) Unwrap() error { return e.Err }

// ErrUnknownVersion is wrapped by DecodeErrors of kind KindUnknownVersion.
var ErrUnknownVersion = errors.New("unknown schema version")

var (
	encMode cbor.UserBufferEncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	encMode, err = cbor.CoreDetEncOptions().UserBufferEncMode()
	if err != nil {
		panic(fmt.Sprintf("wire: cbor encode mode: %v", err))
	}
	decMode, err = cbor.DecOptions{
		MaxNestedLevels:  MaxNesting,
		MaxArrayElements: MaxArrayElements,
		MaxMapPairs:      MaxMapPairs,
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		IndefLength:      cbor.IndefLengthForbidden,
		TagsMd:           cbor.TagsForbidden,
		// Unknown keys are ignored: a newer sender of the same version may
		// add optional fields.
	}.DecMode()
	if err != nil {
		panic(fmt.Sprintf("wire: cbor decode mode: %v", err))
	}
}

// versioned is implemented by every message through its Envelope.
type versioned interface{ envelope() *Envelope }

func (m *Telemetry) envelope() *Envelope  { return &m.Env }
func (m *Birth) envelope() *Envelope      { return &m.Env }
func (m *Death) envelope() *Envelope      { return &m.Env }
func (m *Metrics) envelope() *Envelope    { return &m.Env }
func (m *Alert) envelope() *Envelope      { return &m.Env }
func (m *Snapshot) envelope() *Envelope   { return &m.Env }
func (m *Command) envelope() *Envelope    { return &m.Env }
func (m *CommandAck) envelope() *Envelope { return &m.Env }
func (m *Ack) envelope() *Envelope        { return &m.Env }
func (m *Drift) envelope() *Envelope      { return &m.Env }

// Message is any message of this contract.
type Message interface {
	versioned
}

// Marshal encodes m as deterministic CBOR. It stamps Env.Version when it is zero.
func Marshal(m Message) ([]byte, error) {
	env := m.envelope()
	if env.Version == 0 {
		env.Version = Version
	}
	b, err := encMode.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", m, err)
	}
	return b, nil
}

// AppendMarshal is Marshal into dst's spare capacity, for hot paths that
// reuse a buffer.
func AppendMarshal(dst []byte, m Message) ([]byte, error) {
	env := m.envelope()
	if env.Version == 0 {
		env.Version = Version
	}
	buf := bytes.NewBuffer(dst)
	if err := encMode.MarshalToBuffer(m, buf); err != nil {
		return dst, fmt.Errorf("encode %T: %w", m, err)
	}
	return buf.Bytes(), nil
}

// header decodes only the envelope, ignoring everything else.
type header struct {
	Env Envelope `cbor:"0,keyasint"`
}

var headerMode cbor.DecMode

func init() {
	var err error
	headerMode, err = cbor.DecOptions{
		MaxNestedLevels:  MaxNesting,
		MaxArrayElements: MaxArrayElements,
		MaxMapPairs:      MaxMapPairs,
	}.DecMode()
	if err != nil {
		panic(fmt.Sprintf("wire: cbor header mode: %v", err))
	}
}

// Unmarshal decodes b into m, enforcing the limits and the schema version.
// Every failure is a *DecodeError.
func Unmarshal(b []byte, m Message) error {
	what := typeName(m)
	if len(b) > MaxMessageSize {
		return &DecodeError{Kind: KindOversized, What: what, Err: fmt.Errorf("%d bytes, limit %d", len(b), MaxMessageSize)}
	}
	if err := decMode.Unmarshal(b, m); err != nil {
		// A message of another version may not fit this version's shape:
		// report the version, which is the actionable cause.
		var h header
		if headerMode.Unmarshal(b, &h) == nil && h.Env.Version != Version && h.Env.Version != 0 {
			return &DecodeError{Kind: KindUnknownVersion, What: what, Err: fmt.Errorf("%w %d", ErrUnknownVersion, h.Env.Version)}
		}
		return &DecodeError{Kind: KindMalformed, What: what, Err: err}
	}
	env := m.envelope()
	if env.Version != Version {
		return &DecodeError{Kind: KindUnknownVersion, What: what, Err: fmt.Errorf("%w %d", ErrUnknownVersion, env.Version)}
	}
	// cbor has no byte-string limit of its own; check the fields that carry one.
	var blob []byte
	switch v := m.(type) {
	case *Snapshot:
		blob = v.Data
	case *Command:
		blob = v.Snapshot
	}
	if len(blob) > MaxByteString {
		return &DecodeError{Kind: KindOversized, What: what, Err: fmt.Errorf("byte string of %d bytes, limit %d", len(blob), MaxByteString)}
	}
	return nil
}

func typeName(m Message) string {
	switch m.(type) {
	case *Telemetry:
		return "telemetry"
	case *Birth:
		return "birth"
	case *Death:
		return "death"
	case *Metrics:
		return "metrics"
	case *Alert:
		return "alert"
	case *Snapshot:
		return "snapshot"
	case *Command:
		return "command"
	case *CommandAck:
		return "cmdack"
	case *Ack:
		return "ack"
	case *Drift:
		return "drift"
	}
	return "message"
}
