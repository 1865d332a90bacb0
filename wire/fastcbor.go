package wire

import (
	"encoding/binary"
	"errors"
	"math"
	"unicode/utf8"
)

// TelemetryDecoder decodes telemetry without allocating in steady state:
// sender, machine and sensor names are interned in a bounded table, and the
// canonical CBOR shape that Marshal writes is parsed by hand. Anything else
// (JSON, another field layout, tags, indefinite lengths, duplicate keys) goes
// to the general decoder, which stays the reference: the fast path accepts a
// message only when the general decoder would decode it to the same value.
//
// A TelemetryDecoder is not safe for concurrent use; its zero value is ready.
type TelemetryDecoder struct {
	names map[string]string
}

// maxInterned bounds the name table, so that hostile input with ever new
// names cannot grow it: past the bound names are allocated as usual.
const maxInterned = 4096

// Decode is DecodeTelemetry with interned names.
func (d *TelemetryDecoder) Decode(b []byte, machine string, recv int64, m *Telemetry) error {
	if len(b) > 0 && b[0] >= 0xa0 && b[0] <= 0xb7 && len(b) <= MaxMessageSize {
		p := fastParser{b: b, d: d}
		if p.telemetry(m) && p.i == len(b) {
			if m.Machine == "" {
				m.Machine = machine
			}
			return nil
		}
		// Fall through: the general decoder decides, and explains.
		*m = Telemetry{Readings: m.Readings[:0]}
	}
	return DecodeTelemetry(b, machine, recv, m)
}

func (d *TelemetryDecoder) intern(b []byte) string {
	if s, ok := d.names[string(b)]; ok { // no allocation for the lookup
		return s
	}
	s := string(b)
	if d.names == nil {
		d.names = make(map[string]string)
	}
	if len(d.names) < maxInterned {
		d.names[s] = s
	}
	return s
}

var errFast = errors.New("not the fast shape")

type fastParser struct {
	b []byte
	i int
	d *TelemetryDecoder
}

// head reads a data item's major type and argument (definite lengths only).
func (p *fastParser) head() (major byte, arg uint64, ok bool) {
	if p.i >= len(p.b) {
		return 0, 0, false
	}
	c := p.b[p.i]
	p.i++
	major, info := c>>5, c&0x1f
	switch {
	case info < 24:
		return major, uint64(info), true
	case info == 24 && p.i+1 <= len(p.b):
		arg = uint64(p.b[p.i])
		p.i++
		return major, arg, arg >= 24 // shortest form only, as deterministic encoding writes
	case info == 25 && p.i+2 <= len(p.b):
		arg = uint64(binary.BigEndian.Uint16(p.b[p.i:]))
		p.i += 2
		return major, arg, major == 7 || arg > 0xff
	case info == 26 && p.i+4 <= len(p.b):
		arg = uint64(binary.BigEndian.Uint32(p.b[p.i:]))
		p.i += 4
		return major, arg, major == 7 || arg > 0xffff
	case info == 27 && p.i+8 <= len(p.b):
		arg = binary.BigEndian.Uint64(p.b[p.i:])
		p.i += 8
		return major, arg, major == 7 || arg > 0xffffffff
	}
	return 0, 0, false
}

func (p *fastParser) uint() (uint64, bool) {
	major, arg, ok := p.head()
	return arg, ok && major == 0
}

func (p *fastParser) int() (int64, bool) {
	major, arg, ok := p.head()
	if !ok || arg > math.MaxInt64 {
		return 0, false
	}
	switch major {
	case 0:
		return int64(arg), true
	case 1:
		return -1 - int64(arg), true
	}
	return 0, false
}

// text returns a text string's bytes, valid UTF-8, sharing p.b.
func (p *fastParser) text() ([]byte, bool) {
	major, n, ok := p.head()
	if !ok || major != 3 || n > uint64(len(p.b)-p.i) {
		return nil, false
	}
	s := p.b[p.i : p.i+int(n)]
	p.i += int(n)
	return s, utf8.Valid(s)
}

// float reads a float64 written as a CBOR float of any width.
func (p *fastParser) float() (float64, bool) {
	if p.i >= len(p.b) {
		return 0, false
	}
	c := p.b[p.i]
	major, arg, ok := p.head()
	if !ok || major != 7 {
		return 0, false
	}
	switch c {
	case 0xfb:
		return math.Float64frombits(arg), true
	case 0xfa:
		return float64(math.Float32frombits(uint32(arg))), true
	case 0xf9:
		return float16(uint16(arg)), true
	}
	return 0, false
}

// float16 widens an IEEE half to float64 through float32, bit for bit as
// the general decoder does (NaN payloads included).
func float16(h uint16) float64 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h & 0x3ff)
	var bits uint32
	switch {
	case exp == 0x1f:
		bits = sign | 0x7f800000 | frac<<13
	case exp == 0 && frac == 0:
		bits = sign
	case exp == 0: // subnormal half: normalise
		e := uint32(127 - 15 + 1)
		for frac&0x400 == 0 {
			frac <<= 1
			e--
		}
		bits = sign | e<<23 | (frac&0x3ff)<<13
	default:
		bits = sign | (exp+127-15)<<23 | frac<<13
	}
	return float64(math.Float32frombits(bits))
}

// mapOf reads a map header and calls field for each integer key in
// increasing order; any other key, a repeated or out-of-order key fails.
func (p *fastParser) mapOf(field func(key uint64) bool) bool {
	major, n, ok := p.head()
	if !ok || major != 5 || n > MaxMapPairs {
		return false
	}
	last := int64(-1)
	for range n {
		k, ok := p.uint()
		if !ok || int64(k) <= last || k > 16 {
			return false
		}
		last = int64(k)
		if !field(k) {
			return false
		}
	}
	return true
}

func (p *fastParser) envelope(e *Envelope) bool {
	return p.mapOf(func(k uint64) bool {
		switch k {
		case 1:
			v, ok := p.uint()
			e.Version = uint16(v)
			return ok && v <= math.MaxUint16
		case 2:
			s, ok := p.text()
			e.Sender = p.d.intern(s)
			return ok
		case 3:
			v, ok := p.uint()
			e.Seq = v
			return ok
		case 4:
			v, ok := p.int()
			e.Time = v
			return ok
		}
		return false
	})
}

func (p *fastParser) telemetry(m *Telemetry) bool {
	readings := m.Readings[:0]
	*m = Telemetry{}
	ok := p.mapOf(func(k uint64) bool {
		switch k {
		case 0:
			return p.envelope(&m.Env)
		case 1:
			s, ok := p.text()
			m.Machine = p.d.intern(s)
			return ok
		case 2:
			major, n, ok := p.head()
			if !ok || major != 4 || n > MaxArrayElements || n > uint64(len(p.b)-p.i) {
				return false
			}
			for range n {
				var r Reading
				if !p.mapOf(func(k uint64) bool {
					switch k {
					case 1:
						s, ok := p.text()
						r.Sensor = p.d.intern(s)
						return ok
					case 2:
						v, ok := p.int()
						r.Time = v
						return ok
					case 3:
						v, ok := p.float()
						r.Value = v
						return ok
					}
					return false
				}) {
					return false
				}
				readings = append(readings, r)
			}
			return true
		}
		return false
	})
	m.Readings = readings
	if !ok || m.Env.Version != Version {
		return false
	}
	if m.Readings == nil {
		return false // the general decoder leaves a nil slice; let it
	}
	return true
}
