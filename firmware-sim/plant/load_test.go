package plant

import (
	"testing"
	"time"

	"millwright/internal/mqtttest"
	"millwright/wire"
)

func TestLoadReachesTarget(t *testing.T) {
	rec := &recorder{}
	res, err := Load(t.Context(), LoadOptions{Devices: 200, TargetRate: 2000, Duration: time.Second, Clients: 3, dial: rec.dial})
	if err != nil {
		t.Fatal(err)
	}
	// A loaded machine (-race, shared cores) may fall behind and stop at
	// the deadline short of the last ticks; it never sends more than the
	// target, and reports what it did send.
	if res.Sent < 1000 || res.Sent > 2000 || int(res.Sent) != len(rec.msgs) || res.Errors != 0 {
		t.Fatalf("%v: want about 2000 messages", res)
	}
	if r := res.Rate(); r < 1000 || r > 2050 || r != float64(res.Sent)/res.Elapsed.Seconds() {
		t.Fatalf("achieved %.0f msg/s, want about 2000", r)
	}
	devices := map[string]bool{}
	for _, m := range rec.msgs {
		tp, err := wire.ParseTopic(m.topic)
		if err != nil {
			t.Fatal(err)
		}
		var tm wire.Telemetry
		if err := wire.Unmarshal(m.payload, &tm); err != nil || tm.Machine != tp.Machine {
			t.Fatalf("%s: %v, machine %q", m.topic, err, tm.Machine)
		}
		devices[tp.Machine] = true
	}
	if len(devices) != 200 {
		t.Fatalf("%d devices published, want 200", len(devices))
	}
}

func TestLoadScenarioForSpreadsGateways(t *testing.T) {
	sc := LoadScenarioFor(250, 500, 1)
	if len(sc.Gateways) != 3 || len(sc.Gateways[2].Machines) != 50 || sc.Rate != 2 {
		t.Fatalf("%d gateways, rate %g", len(sc.Gateways), sc.Rate)
	}
	if err := sc.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestLoadAgainstMosquitto(t *testing.T) {
	b := mqtttest.StartMosquitto(t, mqtttest.MosquittoOptions{})
	res, err := Load(t.Context(), LoadOptions{Broker: b.URL, Devices: 50, TargetRate: 500, Duration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res)
	if res.Sent < 250 || res.Sent > 500 || res.Errors != 0 {
		t.Fatalf("%v: want about 500 sent", res)
	}
}
