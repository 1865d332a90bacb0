package ingest

import (
	"bytes"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"millwright/internal/conf"
	"millwright/wire"
)

const recv = int64(1_700_000_000_000_000_000)

func TestPatternMatch(t *testing.T) {
	tests := []struct {
		pattern, topic string
		want           Route
		ok             bool
	}{
		{"plant/{site}/{line}/{asset}/{sensor}", "plant/berlin/l2/press-7/temp", Route{"berlin", "l2", "press-7", "temp"}, true},
		{"plant/{site}/{line}/{asset}/{sensor}", "plant/berlin/l2/press-7", Route{}, false},
		{"plant/{site}/{line}/{asset}/{sensor}", "plant/berlin/l2/press-7/temp/x", Route{}, false},
		{"plant/{site}/{line}/{asset}/{sensor}", "plant/berlin//press-7/temp", Route{}, false},
		{"plant/{site}/{line}/{asset}/{sensor}", "other/berlin/l2/press-7/temp", Route{}, false},
		{"factory/+/{asset}/{sensor}", "factory/hall3/m1/rpm", Route{Asset: "m1", Sensor: "rpm"}, true},
		{"sensors/{asset}/#", "sensors/m1/a/b/c", Route{Asset: "m1"}, true},
		{"sensors/{asset}/#", "sensors/m1", Route{Asset: "m1"}, true},
		{"sensors/#", "other/m1", Route{}, false},
		{"#", "any/thing", Route{}, true},
		{"a/b", "a/b", Route{}, true},
		{"a/b", "a/b/", Route{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+" "+tt.topic, func(t *testing.T) {
			p, err := ParsePattern(tt.pattern)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := p.Match(tt.topic)
			if ok != tt.ok || got != tt.want {
				t.Fatalf("Match = %+v, %v; want %+v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestParsePatternErrors(t *testing.T) {
	for _, s := range []string{"", "a/#/b", "a/{machine}", "a/{asset}/{asset}", "a/x+y"} {
		if _, err := ParsePattern(s); err == nil {
			t.Errorf("%q parsed", s)
		}
	}
	p, _ := ParsePattern("plant/{site}/+/{asset}/#")
	if got := p.Subscription(); got != "plant/+/+/+/#" {
		t.Errorf("subscription %q", got)
	}
}

func TestPatternMatchAllocatesNothing(t *testing.T) {
	p, _ := ParsePattern("plant/{site}/{line}/{asset}/{sensor}")
	if n := testing.AllocsPerRun(100, func() { p.Match("plant/berlin/l2/press-7/temp") }); n != 0 {
		t.Fatalf("%v allocs", n)
	}
}

func TestDecodeJSON(t *testing.T) {
	type rd struct {
		asset, sensor, unit string
		time                int64
		value               float64
	}
	tests := []struct {
		name    string
		m       Mapping
		topic   string
		payload string
		want    []rd
		errLike string
	}{
		{"value at root", Mapping{Topic: "p/{asset}/{sensor}"}, "p/m1/temp", `{"value": 21.5}`,
			[]rd{{"m1", "temp", "", recv, 21.5}}, ""},
		{"nested paths with unit and ms time", Mapping{Topic: "p/{asset}/{sensor}", JSON: JSONPaths{Value: "data.v", Time: "data.ts", Unit: "data.u"}},
			"p/m1/temp", `{"data": {"v": 3, "ts": 1700000000123, "u": "degC"}}`,
			[]rd{{"m1", "temp", "degC", 1700000000123 * 1e6, 3}}, ""},
		{"numeric string and rfc3339", Mapping{Topic: "p/{asset}/{sensor}", JSON: JSONPaths{Time: "t"}},
			"p/m1/temp", `{"value": " 4.25 ", "t": "2023-11-14T22:13:20Z"}`,
			[]rd{{"m1", "temp", "", 1700000000 * 1e9, 4.25}}, ""},
		{"array of readings with sensor path", Mapping{Topic: "gw/{asset}", JSON: JSONPaths{Readings: "rs", Value: "v", Sensor: "s", Time: "t"}},
			"gw/m2", `{"rs": [{"s": "a", "v": 1, "t": 1700000001}, {"s": "b", "v": 2, "t": 1700000002.5}]}`,
			[]rd{{"m2", "a", "", 1700000001 * 1e9, 1}, {"m2", "b", "", 1700000002500 * 1e6, 2}}, ""},
		{"fixed sensor and asset", Mapping{Topic: "x/y", Sensor: "rpm", Asset: "m3"}, "x/y", `{"value": 1500}`,
			[]rd{{"m3", "rpm", "", recv, 1500}}, ""},
		{"not json", Mapping{Topic: "p/{sensor}"}, "p/t", `{"value": `, nil, "not valid JSON"},
		{"value missing", Mapping{Topic: "p/{sensor}"}, "p/t", `{"val": 1}`, nil, `value path "value" not found`},
		{"value null", Mapping{Topic: "p/{sensor}"}, "p/t", `{"value": null}`, nil, "null"},
		{"value bool", Mapping{Topic: "p/{sensor}"}, "p/t", `{"value": true}`, nil, "want a number"},
		{"value text", Mapping{Topic: "p/{sensor}"}, "p/t", `{"value": "hot"}`, nil, "not a number"},
		{"value huge", Mapping{Topic: "p/{sensor}"}, "p/t", `{"value": 1e999}`, nil, "not finite"},
		{"time missing", Mapping{Topic: "p/{sensor}", JSON: JSONPaths{Time: "ts"}}, "p/t", `{"value": 1}`, nil, `time path "ts" not found`},
		{"time bad", Mapping{Topic: "p/{sensor}", JSON: JSONPaths{Time: "ts"}}, "p/t", `{"value": 1, "ts": "yesterday"}`, nil, "RFC 3339"},
		{"readings not array", Mapping{Topic: "p/{sensor}", JSON: JSONPaths{Readings: "rs"}}, "p/t", `{"rs": 1}`, nil, "not an array"},
		{"readings empty", Mapping{Topic: "p/{sensor}", JSON: JSONPaths{Readings: "rs"}}, "p/t", `{"rs": []}`, nil, "empty array"},
		{"second reading bad", Mapping{Topic: "p/{sensor}", JSON: JSONPaths{Readings: "rs"}}, "p/t", `{"rs": [{"value": 1}, {}]}`, nil, "reading 1"},
		{"bad sensor id", Mapping{Topic: "p/{asset}", JSON: JSONPaths{Sensor: "s"}}, "p/m", `{"value": 1, "s": "a b"}`, nil, "not a valid id"},
		{"too many readings", Mapping{Topic: "p/{sensor}", MaxReadings: 1, JSON: JSONPaths{Readings: "rs"}}, "p/t", `{"rs": [{"value": 1}, {"value": 2}]}`, nil, "more than 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := NewDecoder(tt.m)
			if err != nil {
				t.Fatal(err)
			}
			prefix := []Reading{{Sensor: "kept"}}
			out, err := d.Decode(tt.topic, []byte(tt.payload), recv, prefix)
			if tt.errLike != "" {
				var me *MismatchError
				if !errors.As(err, &me) || !strings.Contains(err.Error(), tt.errLike) {
					t.Fatalf("err %v, want a MismatchError like %q", err, tt.errLike)
				}
				if len(out) != 1 {
					t.Fatalf("out grew on error: %d", len(out))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []rd
			for _, r := range out[1:] {
				got = append(got, rd{r.Asset, r.Sensor, r.Unit, r.Time, r.Value})
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDecodeText(t *testing.T) {
	d, err := NewDecoder(Mapping{Topic: "plant/{site}/{line}/{asset}/{sensor}", Format: Text})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		payload string
		want    float64
		bad     bool
	}{
		{"21.5", 21.5, false}, {" -3e2\n", -300, false}, {"0", 0, false},
		{"", 0, true}, {"abc", 0, true}, {"NaN", 0, true}, {"+Inf", 0, true}, {"1 2", 0, true},
	}
	for _, tt := range tests {
		out, err := d.Decode("plant/b/l1/m1/temp", []byte(tt.payload), recv, nil)
		if tt.bad {
			var me *MismatchError
			if !errors.As(err, &me) || len(out) != 0 {
				t.Errorf("%q: err %v, out %v", tt.payload, err, out)
			}
			continue
		}
		want := Reading{Site: "b", Line: "l1", Asset: "m1", Sensor: "temp", Time: recv, Value: tt.want}
		if err != nil || len(out) != 1 || out[0] != want {
			t.Errorf("%q: %+v, %v", tt.payload, out, err)
		}
	}
}

func TestDecodeCBOR(t *testing.T) {
	d, err := NewDecoder(Mapping{Topic: wire.Root + "/telemetry/+/{asset}", Format: CBOR})
	if err != nil {
		t.Fatal(err)
	}
	msg := wire.Telemetry{Env: wire.Envelope{Sender: "m1", Seq: 1, Time: 5}, Machine: "m1",
		Readings: []wire.Reading{{Sensor: "temp", Time: 5, Value: 20}, {Sensor: "rpm", Time: 6, Value: 1500}}}
	b, err := wire.Marshal(&msg)
	if err != nil {
		t.Fatal(err)
	}
	out, err := d.Decode(wire.TelemetryTopic("gw", "press-1"), b, recv, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []Reading{{Asset: "press-1", Sensor: "temp", Time: 5, Value: 20}, {Asset: "press-1", Sensor: "rpm", Time: 6, Value: 1500}}
	if !slices.Equal(out, want) {
		t.Fatalf("got %+v", out)
	}
	if _, err := d.Decode(wire.TelemetryTopic("gw", "press-1"), []byte{0xff, 0x00}, recv, nil); err == nil {
		t.Fatal("garbage decoded")
	}
}

func TestRouter(t *testing.T) {
	r, err := NewRouter([]Mapping{
		{Topic: "plant/{site}/{asset}/{sensor}", Format: Text},
		{Topic: "json/{asset}/{sensor}"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Subscriptions(); !slices.Equal(got, []string{"plant/+/+/+", "json/+/+"}) {
		t.Fatalf("subscriptions %v", got)
	}
	out, err := r.Decode("json/m1/temp", []byte(`{"value": 2}`), recv, nil)
	if err != nil || len(out) != 1 || out[0].Value != 2 {
		t.Fatalf("%+v %v", out, err)
	}
	if _, err := r.Decode("nowhere/x", []byte("1"), recv, nil); !errors.Is(err, ErrNoMapping) {
		t.Fatalf("err %v", err)
	}
	if _, err := NewRouter([]Mapping{{Topic: "a/b", Format: Text}}); err == nil {
		t.Fatal("text mapping without a sensor accepted")
	}
	if _, err := NewRouter([]Mapping{{Topic: "a/{sensor}", Asset: "bad id"}}); err == nil {
		t.Fatal("bad fixed asset accepted")
	}
}

func TestTopicErrorsRateLimits(t *testing.T) {
	var logs bytes.Buffer
	e := &TopicErrors{Log: slog.New(slog.NewTextHandler(&logs, nil)), Every: time.Minute, MaxTopics: 2}
	t0 := time.Unix(1000, 0)
	boom := errors.New("boom")
	for i := range 10 {
		e.Record(t0.Add(time.Duration(i)*time.Second), "a", boom) // 1 log
	}
	e.Record(t0.Add(61*time.Second), "a", boom) // 1 log, 9 suppressed
	e.Record(t0, "b", boom)                     // 1 log
	e.Record(t0, "c", boom)                     // beyond MaxTopics: (other), 1 log
	e.Record(t0, "d", boom)                     // (other), suppressed
	if got := strings.Count(logs.String(), "payload refused"); got != 4 {
		t.Fatalf("%d log lines:\n%s", got, logs.String())
	}
	if !strings.Contains(logs.String(), "suppressed=9") {
		t.Fatalf("suppressed count not logged:\n%s", logs.String())
	}
	if e.Count("a") != 11 || e.Count("b") != 1 || e.Count(otherTopics) != 2 || e.Total() != 14 {
		t.Fatalf("counts %+v", e.Snapshot())
	}
	if s := e.Snapshot(); len(s) != 3 || s[0].Topic != otherTopics {
		t.Fatalf("snapshot %+v", s)
	}
}

func BenchmarkDecodeJSONArray(b *testing.B) {
	d, _ := NewDecoder(Mapping{Topic: "gw/{asset}", JSON: JSONPaths{Readings: "rs", Value: "v", Sensor: "s", Time: "t", Unit: "u"}})
	payload := []byte(`{"rs": [{"s": "temp", "v": 21.5, "t": 1700000001, "u": "degC"}, {"s": "rpm", "v": 1500, "t": 1700000001}, {"s": "current", "v": 4.2, "t": 1700000001}]}`)
	out := make([]Reading, 0, 8)
	b.ReportAllocs()
	for b.Loop() {
		out, _ = d.Decode("gw/m1", payload, recv, out[:0])
	}
}

func BenchmarkDecodeText(b *testing.B) {
	d, _ := NewDecoder(Mapping{Topic: "plant/{site}/{line}/{asset}/{sensor}", Format: Text})
	payload := []byte("21.5")
	out := make([]Reading, 0, 8)
	b.ReportAllocs()
	for b.Loop() {
		out, _ = d.Decode("plant/b/l1/m1/temp", payload, recv, out[:0])
	}
}

func BenchmarkDecodeCBOR(b *testing.B) {
	d, _ := NewDecoder(Mapping{Topic: "t/{asset}", Format: CBOR})
	msg := wire.Telemetry{Env: wire.Envelope{Sender: "m1", Seq: 1, Time: 5}, Machine: "m1",
		Readings: []wire.Reading{{Sensor: "temp", Time: 5, Value: 20}, {Sensor: "rpm", Time: 6, Value: 1500}, {Sensor: "current", Time: 6, Value: 4}}}
	payload, _ := wire.Marshal(&msg)
	out := make([]Reading, 0, 8)
	b.ReportAllocs()
	for b.Loop() {
		out, _ = d.Decode("t/m1", payload, recv, out[:0])
	}
}

func TestFormatText(t *testing.T) {
	for _, f := range []Format{JSON, CBOR, Text} {
		var got Format
		if err := got.UnmarshalText([]byte(f.String())); err != nil || got != f {
			t.Errorf("%v: %v, %v", f, got, err)
		}
	}
	var f Format
	if f.UnmarshalText([]byte("xml")) == nil {
		t.Error("xml parsed")
	}
}

func TestMappingFromYAML(t *testing.T) {
	var cfg struct {
		Inputs []Mapping `yaml:"inputs"`
	}
	src := `
inputs:
  - topic: plant/{site}/{line}/{asset}/{sensor}
    format: text
  - topic: gw/{asset}
    json: {readings: rs, value: v, time: t, sensor: s}
    max_readings: 16
`
	if err := conf.Decode([]byte(src), &cfg); err != nil {
		t.Fatal(err)
	}
	r, err := NewRouter(cfg.Inputs)
	if err != nil {
		t.Fatal(err)
	}
	out, err := r.Decode("gw/m1", []byte(`{"rs": [{"s": "a", "v": 1, "t": 5}]}`), recv, nil)
	if err != nil || len(out) != 1 || out[0].Time != 5e9 || cfg.Inputs[0].Format != Text {
		t.Fatalf("%+v %v", out, err)
	}
	if err := conf.Decode([]byte("inputs: [{topic: a, fromat: json}]"), &cfg); err == nil {
		t.Fatal("misspelt field accepted")
	}
}
