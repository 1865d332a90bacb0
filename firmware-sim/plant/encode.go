package plant

import (
	"fmt"
	"math"
	"strconv"

	"millwright/wire"
)

// Format is a telemetry encoding.
type Format string

// Formats.
const (
	FormatCBOR Format = "cbor" // wire.Marshal
	FormatJSON Format = "json" // the shape wire.DecodeTelemetryJSON reads, times in Unix ms
)

// UnmarshalText implements encoding.TextUnmarshaler.
func (f *Format) UnmarshalText(b []byte) error {
	switch Format(b) {
	case FormatCBOR, FormatJSON:
		*f = Format(b)
		return nil
	case "":
		*f = FormatCBOR
		return nil
	}
	return fmt.Errorf("format %q: want cbor or json", b)
}

// String implements fmt.Stringer and flag.Value.
func (f Format) String() string { return string(f) }

// Set implements flag.Value.
func (f *Format) Set(s string) error { return f.UnmarshalText([]byte(s)) }

// AppendEncode appends t encoded in format f to dst. JSON times are whole
// Unix milliseconds, which the generator's times are.
func AppendEncode(dst []byte, t *wire.Telemetry, f Format) ([]byte, error) {
	if f == FormatJSON {
		return appendJSON(dst, t), nil
	}
	return wire.AppendMarshal(dst, t)
}

func appendJSON(b []byte, t *wire.Telemetry) []byte {
	b = append(b, `{"env":{"v":`...)
	b = strconv.AppendUint(b, uint64(wire.Version), 10)
	b = append(b, `,"sender":`...)
	b = strconv.AppendQuote(b, t.Env.Sender)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, t.Env.Seq, 10)
	b = append(b, `,"time":`...)
	b = strconv.AppendInt(b, t.Env.Time, 10)
	b = append(b, `},"machine":`...)
	b = strconv.AppendQuote(b, t.Machine)
	b = append(b, `,"readings":[`...)
	for i, r := range t.Readings {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"sensor":`...)
		b = strconv.AppendQuote(b, r.Sensor)
		b = append(b, `,"value":`...)
		v := r.Value
		if math.IsNaN(v) || math.IsInf(v, 0) {
			v = 0 // JSON has no NaN; the generator never makes one
		}
		b = strconv.AppendFloat(b, v, 'g', -1, 64)
		b = append(b, `,"time":`...)
		b = strconv.AppendInt(b, r.Time/1e6, 10)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}
