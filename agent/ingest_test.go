package main

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"millwright/agent/daemon"
	"millwright/agent/internal/brokertest"
	"millwright/agent/stream/ingest"
	"millwright/wire"
)

// Telemetry of machines that do not speak the wire contract, through a
// real broker: JSON with configured paths for value, unit and time; JSON
// with several readings per message; plain numeric text. Payloads that do
// not fit their mapping are counted per topic on /metrics and logged once
// per topic (rate-limited) with the reason, and the rest goes on.
func TestIngestInputsThroughTheBroker(t *testing.T) {
	b := brokertest.Start(t)
	hub := brokertest.StartHub(t, b.URL)
	logs := new(syncBuf)
	a, stop := startAgent(t, daemon.Options{
		Gateway: "gw1", BrokerURL: b.URL, StateDir: t.TempDir(), HTTPAddr: "127.0.0.1:0", Learn: 1,
		Logger: slog.New(slog.NewTextHandler(logs, nil)),
		Ingest: []ingest.Mapping{
			{Topic: "json/{asset}/{sensor}", Format: ingest.JSON, JSON: ingest.JSONPaths{Value: "reading.v", Time: "ts", Unit: "u"}},
			{Topic: "batch/{line}/{asset}", Format: ingest.JSON, JSON: ingest.JSONPaths{Readings: "r", Sensor: "name", Value: "val", Time: "t"}},
			{Topic: "text/{asset}/{sensor}", Format: ingest.Text},
		},
	})
	// The birth follows the subscriptions: what is sent now is taken.
	pollUntil(t, 20*time.Second, "the agent's birth", func() bool { return hub.Count(wire.LeafBirth) > 0 })
	pub, err := brokertest.DialRaw(t.Context(), strings.TrimPrefix(b.URL, "tcp://"), "legacy-plc")
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	good := 0
	for i := range 5 {
		ms := t0 + int64(i)*1000
		pub.Publish("json/press-1/temp", fmt.Appendf(nil, `{"reading":{"v":%g},"ts":%d,"u":"degC"}`, 40+float64(i)/10, ms))
		pub.Publish("batch/l1/press-2", fmt.Appendf(nil, `{"r":[{"name":"amps","val":%d,"t":%d},{"name":"volts","val":"230.5","t":%d},{"name":"rpm","val":1500,"t":%d}]}`, 10+i, ms, ms, ms))
		pub.Publish("text/press-3/flow", fmt.Appendf(nil, "%g\n", 3.5+float64(i)))
		good += 1 + 3 + 1
	}
	bad := map[string][][]byte{
		"json/press-1/temp": {[]byte(`{"reading":{"v":"hot"}}`), []byte(`{"ts":1}`), []byte(`not json`)},
		"text/press-3/flow": {[]byte("NaN"), []byte("12 kPa")},
		"batch/l1/press-2":  {[]byte(`{"r":[{"name":"bad/id","val":1}]}`)},
	}
	for topic, ps := range bad {
		for _, p := range ps {
			pub.Publish(topic, p)
		}
	}
	if err := pub.Flush(); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, 20*time.Second, "every good reading ingested", func() bool { return a.PipelineStats().Readings == uint64(good) })
	m := scrape(t, a.HTTPAddr())
	pollUntil(t, 20*time.Second, "every bad payload counted", func() bool {
		m = scrape(t, a.HTTPAddr())
		n := 0.0
		for topic := range bad {
			n += m[fmt.Sprintf("mw_agent_ingest_refused_total{topic=%q}", topic)]
		}
		return n == 6
	})
	for topic, ps := range bad {
		if got := m[fmt.Sprintf("mw_agent_ingest_refused_total{topic=%q}", topic)]; got != float64(len(ps)) {
			t.Errorf("%s: %v refused on /metrics, want %d", topic, got, len(ps))
		}
		if n := strings.Count(logs.String(), "topic="+topic); n != 1 {
			t.Errorf("%s: logged %d times, want once (rate-limited):\n%s", topic, n, logs)
		}
	}
	if !strings.Contains(logs.String(), "payload refused") || !strings.Contains(logs.String(), "err=") {
		t.Errorf("refusals logged without their reason:\n%s", logs)
	}
	want := map[string]string{"press-1": "temp", "press-2": "amps,rpm,volts", "press-3": "flow"}
	ms := map[string]string{}
	pollUntil(t, 10*time.Second, "the three machines", func() bool {
		for _, mi := range a.Machines() {
			ms[mi.ID] = strings.Join(mi.Sensors, ",")
		}
		return len(ms) == len(want)
	})
	for id, s := range want {
		if ms[id] != s {
			t.Errorf("machine %s has sensors %q, want %q", id, ms[id], s)
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	// Telemetry of wire topics is not refused as ingest.
	if n := m[fmt.Sprintf("mw_agent_ingest_refused_total{topic=%q}", wire.TelemetryTopic("gw1", "x"))]; n != 0 {
		t.Errorf("wire telemetry counted as ingest: %v", n)
	}
}

func scrape(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	p := &agentProc{http: addr}
	m, err := p.metrics()
	if err != nil {
		t.Fatal(err)
	}
	return m
}
