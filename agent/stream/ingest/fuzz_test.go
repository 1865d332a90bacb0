package ingest

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"millwright/wire"
)

// checkDecoded holds for the result of any decoder: on error, out is as
// given and the error says why; on success every reading is usable.
func checkDecoded(t *testing.T, prefix int, out []Reading, err error) {
	t.Helper()
	if err != nil {
		var me *MismatchError
		if !errors.As(err, &me) || me.Reason == "" {
			t.Fatalf("error %v is not a MismatchError with a reason", err)
		}
		if len(out) != prefix {
			t.Fatalf("out changed on error: %d, want %d", len(out), prefix)
		}
		return
	}
	if len(out) == prefix {
		t.Fatal("no error and no readings")
	}
	for _, r := range out[prefix:] {
		if !wire.ValidID(r.Sensor) || math.IsNaN(r.Value) || math.IsInf(r.Value, 0) {
			t.Fatalf("bad reading %+v", r)
		}
	}
}

func FuzzDecodeJSON(f *testing.F) {
	f.Add([]byte(`{"value": 1.5}`), false)
	f.Add([]byte(`{"rs": [{"s": "a", "v": 1, "t": 1700000001}, {"s": "b", "v": "2", "t": "2023-11-14T22:13:20Z"}]}`), true)
	f.Add([]byte(`{"rs": [{"s": "a b", "v": 1e999}]}`), true)
	f.Add([]byte(`{"value": {"nested": [1,2,3]}}`), false)
	single, _ := NewDecoder(Mapping{Topic: "p/{asset}/{sensor}", JSON: JSONPaths{Time: "t", Unit: "u"}})
	multi, _ := NewDecoder(Mapping{Topic: "p/{asset}/+", JSON: JSONPaths{Readings: "rs", Value: "v", Sensor: "s", Time: "t"}})
	f.Fuzz(func(t *testing.T, payload []byte, array bool) {
		d := single
		if array {
			d = multi
		}
		prefix := []Reading{{Sensor: "x"}}
		out, err := d.Decode("p/m1/temp", payload, recv, prefix)
		checkDecoded(t, 1, out, err)
	})
}

// FuzzJSONRoundTrip encodes a reading as JSON and decodes it back.
func FuzzJSONRoundTrip(f *testing.F) {
	f.Add(21.5, int64(1700000000123), "temp", "degC")
	f.Add(-0.0, int64(0), "a.b-c_d", "")
	d, _ := NewDecoder(Mapping{Topic: "p/{asset}", JSON: JSONPaths{Readings: "r", Value: "v", Time: "t", Unit: "u", Sensor: "s"}})
	f.Fuzz(func(t *testing.T, v float64, ms int64, sensor, unit string) {
		if math.IsNaN(v) || math.IsInf(v, 0) || !wire.ValidID(sensor) || ms < 0 || ms >= 1e14 || !utf8.ValidString(unit) {
			t.Skip()
		}
		b, err := json.Marshal(map[string]any{"r": []map[string]any{{"v": v, "t": ms, "u": unit, "s": sensor}}})
		if err != nil {
			t.Skip()
		}
		out, err := d.Decode("p/m1", b, recv, nil)
		if err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		wantT := ms * 1e9
		if ms >= 1e11 {
			wantT = ms * 1e6
		}
		r := out[0]
		if len(out) != 1 || r.Value != v || r.Time != wantT || r.Sensor != sensor || r.Unit != unit || r.Asset != "m1" {
			t.Fatalf("%s: decoded %+v", b, out)
		}
	})
}

func FuzzDecodeCBOR(f *testing.F) {
	msg := wire.Telemetry{Env: wire.Envelope{Sender: "m1", Seq: 1, Time: 5}, Machine: "m1",
		Readings: []wire.Reading{{Sensor: "temp", Time: 5, Value: 20}}}
	b, _ := wire.Marshal(&msg)
	f.Add(b)
	f.Add([]byte{0xa0})
	f.Add([]byte{0xff})
	d, _ := NewDecoder(Mapping{Topic: "t/{asset}", Format: CBOR})
	f.Fuzz(func(t *testing.T, payload []byte) {
		out, err := d.Decode("t/m1", payload, recv, nil)
		if err == nil && len(out) == 0 {
			return // a valid message with no readings
		}
		checkDecoded(t, 0, out, err)
		if err != nil {
			return
		}
		// Round trip: what decoded re-encodes to the same readings.
		var m wire.Telemetry
		if wire.Unmarshal(payload, &m) != nil || len(m.Readings) != len(out) {
			t.Fatal("decoder and wire disagree")
		}
		for i, r := range m.Readings {
			if out[i].Value != r.Value || out[i].Time != r.Time || out[i].Asset != "m1" {
				t.Fatalf("reading %d: %+v vs %+v", i, out[i], r)
			}
		}
	})
}

func FuzzDecodeText(f *testing.F) {
	for _, s := range []string{"1", " 2.5e3\n", "NaN", "-Inf", "0x1p-2", "", "1_000"} {
		f.Add([]byte(s))
	}
	d, _ := NewDecoder(Mapping{Topic: "s/{sensor}", Format: Text})
	f.Fuzz(func(t *testing.T, payload []byte) {
		out, err := d.Decode("s/temp", payload, recv, nil)
		checkDecoded(t, 0, out, err)
		if err != nil {
			return
		}
		// Round trip: the value prints and decodes back to itself.
		back, err := d.Decode("s/temp", []byte(strconv.FormatFloat(out[0].Value, 'g', -1, 64)), recv, nil)
		if err != nil || back[0].Value != out[0].Value || back[0].Time != recv {
			t.Fatalf("round trip of %v: %+v %v", out[0].Value, back, err)
		}
	})
}

func FuzzPattern(f *testing.F) {
	f.Add("plant/{site}/{line}/{asset}/{sensor}", "plant/a/b/c/d")
	f.Add("x/+/#", "x/y/z")
	f.Add("{asset}", "")
	f.Fuzz(func(t *testing.T, pattern, topic string) {
		p, err := ParsePattern(pattern)
		if err != nil {
			return
		}
		r, ok := p.Match(topic)
		if !ok {
			if r != (Route{}) {
				t.Fatalf("no match but captures %+v", r)
			}
			return
		}
		for _, c := range []string{r.Site, r.Line, r.Asset, r.Sensor} {
			if strings.Contains(c, "/") || !strings.Contains(topic, c) {
				t.Fatalf("capture %q of %q", c, topic)
			}
		}
		// The subscription filter, read as a pattern, matches too.
		sub, err := ParsePattern(p.Subscription())
		if err != nil {
			t.Fatalf("subscription %q: %v", p.Subscription(), err)
		}
		if _, ok := sub.Match(topic); !ok {
			t.Fatalf("subscription %q does not match %q", p.Subscription(), topic)
		}
	})
}
