package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

// jsonTelemetry is the JSON form of Telemetry. Either Readings or the
// single-reading fields are set. Times are RFC 3339 strings or Unix numbers
// in s, ms, µs or ns (told apart by magnitude).
type jsonTelemetry struct {
	Env      *Envelope     `json:"env"`
	Machine  string        `json:"machine"`
	Readings []jsonReading `json:"readings"`
	jsonReading
}

type jsonReading struct {
	Sensor string   `json:"sensor"`
	Time   jsonTime `json:"time"`
	TS     jsonTime `json:"ts"`
	Value  *float64 `json:"value"`
}

type jsonTime int64

func (t *jsonTime) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		tt, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return fmt.Errorf("time %q: want RFC 3339 or a Unix number", s)
		}
		*t = jsonTime(tt.UnixNano())
		return nil
	}
	if string(b) == "null" {
		return nil
	}
	if n, err := strconv.ParseInt(string(b), 10, 64); err == nil && n >= 0 {
		*t = jsonTime(unixIntToNanos(n))
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return fmt.Errorf("time %s: want RFC 3339 or a Unix number", b)
	}
	*t = jsonTime(UnixAnyToNanos(f))
	return nil
}

// UnixAnyToNanos turns a Unix time in seconds, milliseconds, microseconds or
// nanoseconds, told apart by magnitude, into nanoseconds.
func UnixAnyToNanos(f float64) int64 {
	switch {
	case f < 1e11: // seconds until year 5138
		return int64(f * 1e9)
	case f < 1e14:
		return int64(f * 1e6)
	case f < 1e17:
		return int64(f * 1e3)
	}
	return int64(f)
}

// unixIntToNanos is UnixAnyToNanos for whole numbers, exact to the nanosecond.
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

// MaxJSONSize bounds a JSON telemetry message.
const MaxJSONSize = 1 << 20

// DecodeTelemetryJSON decodes JSON telemetry into m. machine is the machine
// named by the topic, used when the payload names none. A reading without a
// time gets recv (Unix ns), the time it was received.
func DecodeTelemetryJSON(b []byte, machine string, recv int64, m *Telemetry) error {
	if len(b) > MaxJSONSize {
		return &DecodeError{Kind: KindOversized, What: "telemetry", Err: fmt.Errorf("%d bytes, limit %d", len(b), MaxJSONSize)}
	}
	var j jsonTelemetry
	if err := json.Unmarshal(b, &j); err != nil {
		return &DecodeError{Kind: KindMalformed, What: "telemetry", Err: err}
	}
	if j.Env != nil {
		if j.Env.Version != 0 && j.Env.Version != Version {
			return &DecodeError{Kind: KindUnknownVersion, What: "telemetry", Err: fmt.Errorf("%w %d", ErrUnknownVersion, j.Env.Version)}
		}
		m.Env = *j.Env
		m.Env.Version = Version
	} else {
		m.Env = Envelope{Version: Version, Time: recv}
	}
	m.Machine = j.Machine
	if m.Machine == "" {
		m.Machine = machine
	}
	m.Readings = m.Readings[:0]
	add := func(r jsonReading) error {
		if r.Sensor == "" || r.Value == nil {
			return errors.New("reading needs sensor and value")
		}
		t := int64(r.Time)
		if t == 0 {
			t = int64(r.TS)
		}
		if t == 0 {
			t = recv
		}
		m.Readings = append(m.Readings, Reading{Sensor: r.Sensor, Time: t, Value: *r.Value})
		return nil
	}
	if len(j.Readings) == 0 {
		if err := add(j.jsonReading); err != nil {
			return &DecodeError{Kind: KindInvalid, What: "telemetry", Err: err}
		}
	}
	for _, r := range j.Readings {
		if err := add(r); err != nil {
			return &DecodeError{Kind: KindInvalid, What: "telemetry", Err: err}
		}
	}
	if len(m.Readings) > MaxArrayElements {
		return &DecodeError{Kind: KindOversized, What: "telemetry", Err: fmt.Errorf("%d readings, limit %d", len(m.Readings), MaxArrayElements)}
	}
	return nil
}

// DecodeTelemetry decodes telemetry in either encoding: a payload whose first
// non-space byte is '{' is JSON, anything else CBOR.
func DecodeTelemetry(b []byte, machine string, recv int64, m *Telemetry) error {
	if t := bytes.TrimLeft(b, " \t\r\n"); len(t) > 0 && t[0] == '{' {
		return DecodeTelemetryJSON(b, machine, recv, m)
	}
	if err := Unmarshal(b, m); err != nil {
		return err
	}
	if m.Machine == "" {
		m.Machine = machine
	}
	return nil
}
