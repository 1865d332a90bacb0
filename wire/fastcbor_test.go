package wire_test

import (
	"math"
	"reflect"
	"testing"

	"github.com/fxamacker/cbor/v2"

	"millwright/wire"
)

func sampleTelemetry() *wire.Telemetry {
	return &wire.Telemetry{Env: wire.Envelope{Sender: "motor-1", Seq: 42, Time: 1_700_000_000_123_000_000}, Machine: "motor-1",
		Readings: []wire.Reading{{Sensor: "vib_rms", Time: 1_700_000_000_123_000_000, Value: 2.5}, {Sensor: "bearing_temp", Time: -5, Value: math.Inf(-1)}, {Sensor: "rpm", Time: 7, Value: 1480}}}
}

func TestTelemetryDecoderMatchesGeneral(t *testing.T) {
	canonical, _ := wire.Marshal(sampleTelemetry())
	f32, _ := cbor.Marshal(map[int]any{0: map[int]any{1: 1, 2: "s", 3: 1, 4: 5}, 1: "m", 2: []any{map[int]any{1: "a", 2: 1, 3: float32(0.5)}}})
	unknownKey, _ := cbor.Marshal(map[int]any{0: map[int]any{1: 1, 2: "s"}, 1: "m", 2: []any{}, 9: "new field"})
	textKey, _ := cbor.Marshal(map[any]any{0: map[int]any{1: 1}, "x": 1, 1: "m", 2: []any{}})
	intValue, _ := cbor.Marshal(map[int]any{0: map[int]any{1: 1}, 1: "m", 2: []any{map[int]any{1: "a", 3: 3}}})
	tests := []struct {
		name string
		in   []byte
	}{
		{"canonical", canonical},
		{"float32 value", f32},
		{"unknown key", unknownKey},
		{"text key", textKey},
		{"integer value", intValue},
		{"json", []byte(`{"machine":"m","sensor":"s","value":1,"time":5}`)},
		{"garbage", []byte{0xa3, 0xff}},
	}
	var d wire.TelemetryDecoder
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want, got wire.Telemetry
			werr := wire.DecodeTelemetry(tt.in, "topic-m", 9, &want)
			got.Readings = make([]wire.Reading, 0, 8)
			gerr := d.Decode(tt.in, "topic-m", 9, &got)
			if (werr == nil) != (gerr == nil) {
				t.Fatalf("general err %v, fast err %v", werr, gerr)
			}
			if werr == nil && !equalTelemetry(&want, &got) {
				t.Fatalf("fast %+v\ngeneral %+v", got, want)
			}
		})
	}
}

func equalTelemetry(a, b *wire.Telemetry) bool {
	if a.Env != b.Env || a.Machine != b.Machine || len(a.Readings) != len(b.Readings) {
		return false
	}
	for i := range a.Readings {
		x, y := a.Readings[i], b.Readings[i]
		if x.Sensor != y.Sensor || x.Time != y.Time || math.Float64bits(x.Value) != math.Float64bits(y.Value) {
			return false
		}
	}
	return true
}

func TestTelemetryDecoderReusesMemory(t *testing.T) {
	b, _ := wire.Marshal(sampleTelemetry())
	var d wire.TelemetryDecoder
	var m wire.Telemetry
	if err := d.Decode(b, "x", 0, &m); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		if err := d.Decode(b, "x", 0, &m); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per decode in steady state, want 0", allocs)
	}
	if !reflect.DeepEqual(m.Readings[0], sampleTelemetry().Readings[0]) {
		t.Fatalf("decoded %+v", m.Readings[0])
	}
}

// FuzzTelemetryDecoder checks the fast path against the general decoder: it
// may fall back, but when it accepts bytes it must agree with the reference.
func FuzzTelemetryDecoder(f *testing.F) {
	b, _ := wire.Marshal(sampleTelemetry())
	f.Add(b)
	f.Add([]byte{0xa1, 0x00, 0xa1, 0x01, 0x01})
	f.Fuzz(func(t *testing.T, in []byte) {
		var d wire.TelemetryDecoder
		var want, got wire.Telemetry
		werr := wire.DecodeTelemetry(in, "m", 1, &want)
		gerr := d.Decode(in, "m", 1, &got)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("general err %v, fast err %v", werr, gerr)
		}
		if werr == nil && !equalTelemetry(&want, &got) {
			t.Fatalf("fast %+v\ngeneral %+v", got, want)
		}
	})
}

func BenchmarkTelemetryDecoder(b *testing.B) {
	p, _ := wire.Marshal(sampleTelemetry())
	var d wire.TelemetryDecoder
	var m wire.Telemetry
	b.ReportAllocs()
	for b.Loop() {
		if err := d.Decode(p, "motor-1", 0, &m); err != nil {
			b.Fatal(err)
		}
	}
}
