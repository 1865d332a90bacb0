package wire_test

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"

	"millwright/wire"
)

func env(seq uint64) wire.Envelope {
	return wire.Envelope{Sender: "gw1", Seq: seq, Time: 1_700_000_000_000_000_000}
}

// messages returns one filled value of every message type and a fresh zero
// value of the same type to decode into.
func messages() []struct{ in, out wire.Message } {
	return []struct{ in, out wire.Message }{
		{&wire.Telemetry{Env: env(1), Machine: "m1", Readings: []wire.Reading{{Sensor: "temp", Time: 5, Value: 21.5}, {Sensor: "vib", Time: 6, Value: -0.25}}}, &wire.Telemetry{}},
		{&wire.Birth{Env: env(2), AgentVersion: "dev", Machines: []wire.MachineInfo{{ID: "m1", Type: "pump", Sensors: []string{"temp"}}}}, &wire.Birth{}},
		{&wire.Death{Env: env(3), Reason: "lost"}, &wire.Death{}},
		{&wire.Metrics{Env: env(4), IntervalNs: 5e9, Series: []wire.ModelMetric{{Machine: "m1", Model: "hst", Role: wire.RoleChampion, Count: 10, ScoreMean: 0.1, ScoreMax: 0.5, Samples: 100}}}, &wire.Metrics{}},
		{&wire.Alert{Env: env(5), ID: "gw1-m1-5", Machine: "m1", Model: "hst", Severity: wire.SeverityCritical, Score: 0.999, Threshold: 0.99, Contributors: []wire.Contribution{{Feature: "vib", Value: 0.8}}}, &wire.Alert{}},
		{&wire.Snapshot{Env: env(6), Machine: "m1", Model: "hst", Role: wire.RoleChampion, Samples: 7, Data: []byte{1, 2, 3}}, &wire.Snapshot{}},
		{&wire.Command{Env: env(7), ID: "c1", Kind: wire.CmdDeploy, Machine: "m1", Role: wire.RoleChallenger, Snapshot: []byte{9}}, &wire.Command{}},
		{&wire.Command{Env: env(11), ID: "c2", Kind: wire.CmdDeploy, Machine: "m1", Model: "hst", Snapshot: []byte{9}, SnapshotHash: "2b4c",
			Sig: &wire.Signature{KeyID: "0123456789abcdef", Value: bytes.Repeat([]byte{7}, 64)}}, &wire.Command{}},
		{&wire.Snapshot{Env: env(12), Machine: "m1", Model: "hst", Role: wire.RoleChampion, Data: []byte{4},
			Sig: &wire.Signature{KeyID: "fedcba9876543210", Value: bytes.Repeat([]byte{8}, 64)}}, &wire.Snapshot{}},
		{&wire.Birth{Env: env(13), AgentVersion: "dev", SigningKey: bytes.Repeat([]byte{1}, 32)}, &wire.Birth{}},
		{&wire.CommandAck{Env: env(8), CommandID: "c1", OK: false, Reason: "wrong kind"}, &wire.CommandAck{}},
		{&wire.Ack{Env: env(9), Seqs: []uint64{1, 2, 3}}, &wire.Ack{}},
		{&wire.Drift{Env: env(10), Machine: "m1", Model: "hst", Role: wire.RoleTwin, Detector: "adwin", Signal: "score", Before: 0.1, After: 0.4, Samples: 300}, &wire.Drift{}},
	}
}

func TestRoundTrip(t *testing.T) {
	for _, m := range messages() {
		t.Run(reflect.TypeOf(m.in).Elem().Name(), func(t *testing.T) {
			b, err := wire.Marshal(m.in)
			if err != nil {
				t.Fatal(err)
			}
			if err := wire.Unmarshal(b, m.out); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(m.in, m.out) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", m.out, m.in)
			}
			b2, err := wire.AppendMarshal(nil, m.in)
			if err != nil || !bytes.Equal(b, b2) {
				t.Fatalf("AppendMarshal differs from Marshal (err %v)", err)
			}
		})
	}
}

func TestUnmarshalRefuses(t *testing.T) {
	v2, _ := cbor.Marshal(map[int]any{0: map[int]any{1: 2, 2: "gw1"}, 1: "m1"})
	v2bad, _ := cbor.Marshal(map[int]any{0: map[int]any{1: 7}, 2: "not an array"})
	big := make([]byte, wire.MaxMessageSize+1)
	blob, _ := wire.Marshal(&wire.Snapshot{Env: env(1), Data: make([]byte, wire.MaxByteString+1)})
	deep := bytes.Repeat([]byte{0x81}, 100) // 100 nested arrays
	tests := []struct {
		name string
		in   []byte
		kind string
	}{
		{"empty", nil, wire.KindMalformed},
		{"garbage", []byte{0xff, 0x00, 0x13}, wire.KindMalformed},
		{"truncated", []byte{0xa2, 0x00}, wire.KindMalformed},
		{"json", []byte(`{"machine":"m1"}`), wire.KindMalformed},
		{"newer version", v2, wire.KindUnknownVersion},
		{"newer version, other shape", v2bad, wire.KindUnknownVersion},
		{"oversized", big, wire.KindOversized},
		{"byte string over limit", blob, wire.KindOversized},
		{"too deep", deep, wire.KindMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m wire.Telemetry
			var target wire.Message = &m
			if tt.name == "byte string over limit" {
				target = &wire.Snapshot{}
			}
			err := wire.Unmarshal(tt.in, target)
			var de *wire.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("err = %v, want *DecodeError", err)
			}
			if de.Kind != tt.kind {
				t.Fatalf("kind = %s, want %s (%v)", de.Kind, tt.kind, err)
			}
		})
	}
}

func TestDecodeTelemetryJSON(t *testing.T) {
	const recv = int64(1_700_000_000_000_000_000)
	tests := []struct {
		name    string
		in      string
		want    []wire.Reading
		machine string
		kind    string
	}{
		{name: "batch ms", in: `{"machine":"m9","readings":[{"sensor":"t","value":1.5,"time":1700000000123}]}`,
			machine: "m9", want: []wire.Reading{{Sensor: "t", Value: 1.5, Time: 1700000000123000000}}},
		{name: "single rfc3339", in: `{"sensor":"p","value":-2,"ts":"2023-11-14T22:13:20Z"}`,
			machine: "topic-m", want: []wire.Reading{{Sensor: "p", Value: -2, Time: 1700000000000000000}}},
		{name: "seconds float", in: `{"sensor":"p","value":3,"time":1700000000.5}`,
			machine: "topic-m", want: []wire.Reading{{Sensor: "p", Value: 3, Time: 1700000000500000000}}},
		{name: "no time takes receive time", in: `{"sensor":"p","value":3}`,
			machine: "topic-m", want: []wire.Reading{{Sensor: "p", Value: 3, Time: recv}}},
		{name: "missing value", in: `{"sensor":"p"}`, kind: wire.KindInvalid},
		{name: "bad time", in: `{"sensor":"p","value":1,"time":"yesterday"}`, kind: wire.KindMalformed},
		{name: "not json", in: `{sensor`, kind: wire.KindMalformed},
		{name: "other version", in: `{"env":{"v":9},"sensor":"p","value":1}`, kind: wire.KindUnknownVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m wire.Telemetry
			err := wire.DecodeTelemetry([]byte(tt.in), "topic-m", recv, &m)
			if tt.kind != "" {
				var de *wire.DecodeError
				if !errors.As(err, &de) || de.Kind != tt.kind {
					t.Fatalf("err = %v, want kind %s", err, tt.kind)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.Machine != tt.machine || !reflect.DeepEqual(m.Readings, tt.want) {
				t.Fatalf("got %s %+v, want %s %+v", m.Machine, m.Readings, tt.machine, tt.want)
			}
		})
	}
}

func TestParseTopic(t *testing.T) {
	tests := []struct {
		in   string
		want wire.Topic
		ok   bool
	}{
		{wire.TelemetryTopic("gw1", "m2"), wire.Topic{Dir: "telemetry", Gateway: "gw1", Machine: "m2"}, true},
		{wire.AgentTopic("gw1", wire.LeafAlerts), wire.Topic{Dir: "agent", Gateway: "gw1", Leaf: "alerts"}, true},
		{wire.HubTopic("gw1", wire.LeafAck), wire.Topic{Dir: "hub", Gateway: "gw1", Leaf: "ack"}, true},
		{"mw/v2/agent/gw1/alerts", wire.Topic{}, false},
		{"mw/v1/agent/gw1", wire.Topic{}, false},
		{"mw/v1/agent/gw1/a/b", wire.Topic{}, false},
		{"mw/v1/other/gw1/x", wire.Topic{}, false},
		{"mw/v1/agent//x", wire.Topic{}, false},
	}
	for _, tt := range tests {
		got, err := wire.ParseTopic(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseTopic(%q) = %+v, %v; want %+v ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestValidID(t *testing.T) {
	for id, want := range map[string]bool{"gw1": true, "pump-07.a_b": true, "": false, "a/b": false, "a+": false, "#": false, strings.Repeat("x", 65): false} {
		if got := wire.ValidID(id); got != want {
			t.Errorf("ValidID(%q) = %v, want %v", id, got, want)
		}
	}
}

func TestRejectsCountsAndLogsOnce(t *testing.T) {
	var logBuf bytes.Buffer
	r := wire.Rejects{Log: newTextLogger(&logBuf)}
	bad := &wire.DecodeError{Kind: wire.KindMalformed, What: "x", Err: errors.New("boom")}
	for range 3 {
		r.Reject("mw/v1/agent/gw1/alerts", bad)
	}
	r.Reject("mw/v1/agent/gw1/metrics", bad)
	r.Reject("mw/v1/agent/gw1/metrics", &wire.DecodeError{Kind: wire.KindOversized, What: "x", Err: errors.New("big")})
	if got := r.Count(wire.KindMalformed); got != 4 {
		t.Fatalf("malformed = %d, want 4", got)
	}
	if got := r.Total(); got != 5 {
		t.Fatalf("total = %d, want 5", got)
	}
	if n := strings.Count(logBuf.String(), "message refused"); n != 3 {
		t.Fatalf("logged %d lines, want 3 (once per kind and topic):\n%s", n, logBuf.String())
	}
}

func TestNaNSurvivesCBOR(t *testing.T) {
	in := &wire.Telemetry{Env: env(1), Machine: "m", Readings: []wire.Reading{{Sensor: "s", Value: math.NaN()}}}
	b, err := wire.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out wire.Telemetry
	if err := wire.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(out.Readings[0].Value) {
		t.Fatalf("NaN became %v", out.Readings[0].Value)
	}
}

func BenchmarkAppendMarshalTelemetry(b *testing.B) {
	m := &wire.Telemetry{Env: env(1), Machine: "motor-1", Readings: []wire.Reading{{Sensor: "vib_rms", Time: 1, Value: 2}, {Sensor: "bearing_temp", Time: 1, Value: 40}, {Sensor: "current", Time: 1, Value: 12}, {Sensor: "rpm", Time: 1, Value: 1480}}}
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		buf, err = wire.AppendMarshal(buf[:0], m)
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeTelemetry(b *testing.B) {
	in := &wire.Telemetry{Env: env(1), Machine: "motor-1", Readings: []wire.Reading{{Sensor: "vib_rms", Time: 1, Value: 2}, {Sensor: "bearing_temp", Time: 1, Value: 40}, {Sensor: "current", Time: 1, Value: 12}, {Sensor: "rpm", Time: 1, Value: 1480}}}
	p, _ := wire.Marshal(in)
	var m wire.Telemetry
	b.ReportAllocs()
	for b.Loop() {
		if err := wire.DecodeTelemetry(p, "motor-1", 0, &m); err != nil {
			b.Fatal(err)
		}
	}
}
