package ingest

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"millwright/wire"
)

// Format is a payload encoding.
type Format uint8

const (
	JSON Format = iota // JSON, read through JSONPaths
	CBOR               // wire.Telemetry in CBOR
	Text               // one number in plain text
)

// String returns "json", "cbor" or "text".
func (f Format) String() string {
	switch f {
	case CBOR:
		return "cbor"
	case Text:
		return "text"
	}
	return "json"
}

// UnmarshalText parses "json", "cbor" or "text", for configuration.
func (f *Format) UnmarshalText(b []byte) error {
	switch string(b) {
	case "json":
		*f = JSON
	case "cbor":
		*f = CBOR
	case "text":
		*f = Text
	default:
		return fmt.Errorf("payload format %q: want json, cbor or text", b)
	}
	return nil
}

// JSONPaths locate a reading's fields in a JSON payload, in gjson path
// syntax (github.com/tidwall/gjson: "value", "data.temp", "m.0.v").
type JSONPaths struct {
	// Readings, when set, is the path of an array; each element is one
	// reading and the other paths are relative to it.
	Readings string `yaml:"readings"`
	Value    string `yaml:"value"`  // default "value"; a number or a numeric string
	Time     string `yaml:"time"`   // optional: Unix s/ms/µs/ns (told apart by size) or RFC 3339; absent: receive time
	Unit     string `yaml:"unit"`   // optional
	Sensor   string `yaml:"sensor"` // optional: the sensor named in the payload
}

// Mapping says how to read the messages of one topic pattern.
type Mapping struct {
	Topic  string    `yaml:"topic"` // pattern, see ParsePattern
	Format Format    `yaml:"format"`
	JSON   JSONPaths `yaml:"json"`
	// Sensor, Asset, Site and Line fill what neither topic nor payload gives.
	Sensor string `yaml:"sensor"`
	Asset  string `yaml:"asset"`
	Site   string `yaml:"site"`
	Line   string `yaml:"line"`
	// MaxReadings bounds the readings of one message (default 4096).
	MaxReadings int `yaml:"max_readings"`
}

// Reading is one decoded sample. Its strings may share memory with the
// topic and the payload: copy them to keep them past the payload's reuse.
type Reading struct {
	Site, Line, Asset, Sensor string
	Unit                      string
	Time                      int64 // event time, Unix ns
	Value                     float64
}

// MaxPayload bounds a payload, in bytes.
const MaxPayload = wire.MaxMessageSize

// ErrNoMapping is returned by Router.Decode for a topic no mapping matches.
var ErrNoMapping = errors.New("no mapping matches the topic")

// MismatchError says why a payload does not fit its mapping.
type MismatchError struct {
	Format Format
	Reason string
	Err    error // the underlying error, if any
}

func (e *MismatchError) Error() string {
	s := e.Format.String() + " payload: " + e.Reason
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *MismatchError) Unwrap() error { return e.Err }

// Decoder decodes the messages of one Mapping.
type Decoder struct {
	m       Mapping
	pattern *Pattern
	msg     wire.Telemetry // reused CBOR target
}

// NewDecoder checks m and returns its Decoder.
func NewDecoder(m Mapping) (*Decoder, error) {
	p, err := ParsePattern(m.Topic)
	if err != nil {
		return nil, err
	}
	if m.Format > Text {
		return nil, fmt.Errorf("mapping %q: unknown format %d", m.Topic, m.Format)
	}
	if m.JSON.Value == "" {
		m.JSON.Value = "value"
	}
	if m.MaxReadings <= 0 {
		m.MaxReadings = 4096
	}
	if m.Format == Text && m.Sensor == "" && !p.capturesSensor() {
		return nil, fmt.Errorf("mapping %q: a text payload names no sensor: capture {sensor} or set sensor", m.Topic)
	}
	if m.Format == JSON && m.Sensor == "" && m.JSON.Sensor == "" && !p.capturesSensor() {
		return nil, fmt.Errorf("mapping %q: no sensor: capture {sensor}, set sensor or a sensor path", m.Topic)
	}
	for _, id := range []string{m.Sensor, m.Asset, m.Site, m.Line} {
		if id != "" && !wire.ValidID(id) {
			return nil, fmt.Errorf("mapping %q: %q is not a valid id", m.Topic, id)
		}
	}
	return &Decoder{m: m, pattern: p}, nil
}

// Pattern returns the mapping's topic pattern.
func (d *Decoder) Pattern() *Pattern { return d.pattern }

// Decode appends the readings of one message on topic to out. recv is the
// receive time (Unix ns), used for readings without one. A topic the
// pattern does not match gives ErrNoMapping; a payload that does not fit
// the mapping a *MismatchError, and out unchanged.
func (d *Decoder) Decode(topic string, payload []byte, recv int64, out []Reading) ([]Reading, error) {
	r, ok := d.pattern.Match(topic)
	if !ok {
		return out, ErrNoMapping
	}
	base := Reading{
		Site: or(r.Site, d.m.Site), Line: or(r.Line, d.m.Line),
		Asset: or(r.Asset, d.m.Asset), Sensor: or(r.Sensor, d.m.Sensor),
	}
	if len(payload) > MaxPayload {
		return out, &MismatchError{Format: d.m.Format, Reason: fmt.Sprintf("%d bytes, limit %d", len(payload), MaxPayload)}
	}
	n := len(out)
	var err error
	switch d.m.Format {
	case JSON:
		out, err = d.decodeJSON(base, payload, recv, out)
	case CBOR:
		out, err = d.decodeCBOR(base, payload, out)
	case Text:
		out, err = decodeText(base, payload, recv, out)
	}
	if err != nil {
		return out[:n], err
	}
	for _, rd := range out[n:] {
		if !wire.ValidID(rd.Sensor) {
			return out[:n], &MismatchError{Format: d.m.Format, Reason: fmt.Sprintf("sensor %q is not a valid id", rd.Sensor)}
		}
		if rd.Asset != "" && !wire.ValidID(rd.Asset) {
			return out[:n], &MismatchError{Format: d.m.Format, Reason: fmt.Sprintf("asset %q is not a valid id", rd.Asset)}
		}
	}
	return out, nil
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func decodeText(base Reading, payload []byte, recv int64, out []Reading) ([]Reading, error) {
	s := strings.TrimSpace(string(payload))
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return out, &MismatchError{Format: Text, Reason: "not a number", Err: err}
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return out, &MismatchError{Format: Text, Reason: "value is not finite"}
	}
	base.Time, base.Value = recv, v
	return append(out, base), nil
}

func (d *Decoder) decodeCBOR(base Reading, payload []byte, out []Reading) ([]Reading, error) {
	// Reset the reused target: absent keys must not keep the last
	// message's values.
	d.msg = wire.Telemetry{Readings: d.msg.Readings[:0]}
	if err := wire.Unmarshal(payload, &d.msg); err != nil {
		return out, &MismatchError{Format: CBOR, Reason: "not wire telemetry", Err: err}
	}
	if len(d.msg.Readings) > d.m.MaxReadings {
		return out, &MismatchError{Format: CBOR, Reason: fmt.Sprintf("%d readings, limit %d", len(d.msg.Readings), d.m.MaxReadings)}
	}
	asset := or(base.Asset, d.msg.Machine)
	for _, r := range d.msg.Readings {
		if math.IsNaN(r.Value) || math.IsInf(r.Value, 0) {
			return out, &MismatchError{Format: CBOR, Reason: fmt.Sprintf("sensor %q: value is not finite", r.Sensor)}
		}
		rd := base
		rd.Asset, rd.Sensor, rd.Time, rd.Value = asset, or(r.Sensor, base.Sensor), r.Time, r.Value
		out = append(out, rd)
	}
	return out, nil
}

func (d *Decoder) decodeJSON(base Reading, payload []byte, recv int64, out []Reading) ([]Reading, error) {
	if !gjson.ValidBytes(payload) {
		return out, &MismatchError{Format: JSON, Reason: "not valid JSON"}
	}
	// One copy per message; every string gjson returns then shares it.
	doc := string(payload)
	p := &d.m.JSON
	if p.Readings == "" {
		rd, err := d.jsonReading(base, gjson.Parse(doc), recv)
		if err != nil {
			return out, err
		}
		return append(out, rd), nil
	}
	arr := gjson.Get(doc, p.Readings)
	if !arr.IsArray() {
		return out, &MismatchError{Format: JSON, Reason: fmt.Sprintf("readings path %q is not an array", p.Readings)}
	}
	var err error
	count := 0
	arr.ForEach(func(_, el gjson.Result) bool {
		count++
		if count > d.m.MaxReadings {
			err = &MismatchError{Format: JSON, Reason: fmt.Sprintf("more than %d readings", d.m.MaxReadings)}
			return false
		}
		var rd Reading
		if rd, err = d.jsonReading(base, el, recv); err != nil {
			err = fmt.Errorf("reading %d: %w", count-1, err)
			return false
		}
		out = append(out, rd)
		return true
	})
	if err != nil {
		return out, err
	}
	if count == 0 {
		return out, &MismatchError{Format: JSON, Reason: fmt.Sprintf("readings path %q is an empty array", p.Readings)}
	}
	return out, nil
}

func (d *Decoder) jsonReading(rd Reading, doc gjson.Result, recv int64) (Reading, error) {
	p := &d.m.JSON
	mismatch := func(format string, args ...any) error {
		return &MismatchError{Format: JSON, Reason: fmt.Sprintf(format, args...)}
	}
	v := doc.Get(p.Value)
	switch v.Type {
	case gjson.Number:
		rd.Value = v.Num
	case gjson.String:
		f, err := strconv.ParseFloat(strings.TrimSpace(v.Str), 64)
		if err != nil {
			return rd, mismatch("value path %q: %q is not a number", p.Value, v.Str)
		}
		rd.Value = f
	case gjson.Null:
		if !v.Exists() {
			return rd, mismatch("value path %q not found", p.Value)
		}
		return rd, mismatch("value path %q is null", p.Value)
	default:
		return rd, mismatch("value path %q: want a number, got %s", p.Value, v.Type)
	}
	if math.IsNaN(rd.Value) || math.IsInf(rd.Value, 0) {
		return rd, mismatch("value path %q: not finite", p.Value)
	}
	rd.Time = recv
	if p.Time != "" {
		t := doc.Get(p.Time)
		if !t.Exists() {
			return rd, mismatch("time path %q not found", p.Time)
		}
		ns, err := parseTime(t)
		if err != nil {
			return rd, mismatch("time path %q: %v", p.Time, err)
		}
		rd.Time = ns
	}
	if p.Unit != "" {
		if u := doc.Get(p.Unit); u.Type == gjson.String {
			rd.Unit = u.Str
		}
	}
	if p.Sensor != "" {
		s := doc.Get(p.Sensor)
		if s.Type != gjson.String || s.Str == "" {
			return rd, mismatch("sensor path %q: want a string", p.Sensor)
		}
		rd.Sensor = s.Str
	}
	return rd, nil
}

// parseTime reads a Unix time in s, ms, µs or ns (told apart by size, as
// wire does), as a number or numeric string, or an RFC 3339 string.
func parseTime(t gjson.Result) (int64, error) {
	raw := t.Raw
	if t.Type == gjson.String {
		if ts, err := time.Parse(time.RFC3339Nano, t.Str); err == nil {
			return ts.UnixNano(), nil
		}
		raw = strings.TrimSpace(t.Str)
	} else if t.Type != gjson.Number {
		return 0, fmt.Errorf("want a number or an RFC 3339 string, got %s", t.Type)
	}
	if n, err := strconv.ParseInt(raw, 10, 64); err == nil && n >= 0 {
		return unixIntToNanos(n), nil
	}
	f, err := strconv.ParseFloat(raw, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f >= math.MaxInt64 {
		return 0, fmt.Errorf("%s is not a Unix time or RFC 3339", t.Raw)
	}
	return wire.UnixAnyToNanos(f), nil
}

func unixIntToNanos(n int64) int64 {
	switch {
	case n < 1e11:
		return n * 1e9
	case n < 1e14:
		return n * 1e6
	case n < 1e17:
		return n * 1e3
	}
	return n
}

// Router decodes a message with the first mapping whose pattern matches its
// topic. It is not safe for concurrent use (the decoders reuse buffers).
type Router struct {
	decoders []*Decoder
}

// NewRouter builds a Decoder per mapping, in order of precedence.
func NewRouter(ms []Mapping) (*Router, error) {
	r := &Router{}
	for i, m := range ms {
		d, err := NewDecoder(m)
		if err != nil {
			return nil, fmt.Errorf("ingest mapping %d: %w", i, err)
		}
		r.decoders = append(r.decoders, d)
	}
	return r, nil
}

// Subscriptions returns the MQTT topic filters of every mapping.
func (r *Router) Subscriptions() []string {
	var s []string
	for _, d := range r.decoders {
		s = append(s, d.pattern.Subscription())
	}
	return s
}

// Decode decodes a message with the first matching mapping; see
// Decoder.Decode.
func (r *Router) Decode(topic string, payload []byte, recv int64, out []Reading) ([]Reading, error) {
	for _, d := range r.decoders {
		if _, ok := d.pattern.Match(topic); ok {
			return d.Decode(topic, payload, recv, out)
		}
	}
	return out, ErrNoMapping
}
