package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"millwright/agent/internal/brokertest"
	"millwright/internal/mqtttest"
	"millwright/models/catalog"
	"millwright/wire"
)

// feeder publishes a fleet's ticks to a running agent process, keeping at
// most window messages ahead of what the agent has taken (read on
// /metrics).
type feeder struct {
	tb     testing.TB
	p      *agentProc
	pub    *brokertest.RawPublisher
	f      *brokertest.Fleet
	t0     int64
	tick   int
	sent   float64
	seen   float64 // taken at the last scrape
	window float64
}

func (fd *feeder) taken() float64 {
	m, err := fd.p.metrics()
	if err != nil {
		fd.tb.Fatalf("scrape: %v", err)
	}
	fd.seen = m["mw_agent_telemetry_messages_total"]
	return fd.seen
}

// send publishes one tick of every asset, faulty when fault says so.
func (fd *feeder) send(fault func(asset int) bool) {
	for a := range fd.f.Topics {
		if err := fd.f.Send(fd.pub, a, fd.tick, fd.t0+int64(fd.tick)*int64(10*time.Millisecond), fault != nil && fault(a)); err != nil {
			fd.tb.Fatal(err)
		}
	}
	if err := fd.pub.Flush(); err != nil {
		fd.tb.Fatal(err)
	}
	fd.tick++
	fd.sent += float64(len(fd.f.Topics))
	if fd.sent-fd.seen > fd.window && fd.sent-fd.taken() > fd.window {
		pollUntil(fd.tb, 30*time.Second, "the agent taking its telemetry", func() bool { return fd.sent-fd.taken() <= fd.window/2 })
	}
}

func (fd *feeder) drain() {
	pollUntil(fd.tb, 30*time.Second, "every message taken", func() bool { return fd.taken() == fd.sent })
}

// BenchmarkAgentRSS runs the agent binary (built as `make build` does)
// as its own process at the size: 200 sensors on 50 assets, each
// asset scored by three models (the default champion, its learning twin,
// and a challenger the hub deploys), with the default configuration
// otherwise (2s lateness, 600-vector warm-up). Telemetry comes through
// Mosquitto, one message of 4 readings per asset and tick; a fake hub
// acknowledges what the agent owes it. After a warm-up of 800 ticks, one
// op is one tick of the fleet (200 readings). It reports the process's
// resident memory once every message is taken (rss-MB, VmRSS of
// /proc/PID/status), its peak (hwm-MB, VmHWM), the resident memory after
// the warm-up (warm-rss-MB: with rss-MB, whether it still grows) and the
// binary's size.
func BenchmarkAgentRSS(b *testing.B) {
	const assets, sensors = 50, 4
	bin := buildAgent(b)
	fi, err := os.Stat(bin)
	if err != nil {
		b.Fatal(err)
	}
	m := mqtttest.StartMosquitto(b, mqtttest.MosquittoOptions{})
	hub := brokertest.StartHub(b, m.URL)
	dir := b.TempDir()
	cfg := writeConfig(b, dir, fmt.Sprintf("gateway: gw1\nbroker: %s\nstate_dir: %s\nlog_level: warn\nfeatures:\n  learn: 1\n",
		m.URL, filepath.Join(dir, "state")))
	births := hub.Count(wire.LeafBirth)
	p := startAgentProc(b, bin, "--config", cfg)
	f, err := brokertest.NewFleet("gw1", assets, sensors)
	if err != nil {
		b.Fatal(err)
	}
	// The birth follows the subscriptions: telemetry sent now is taken.
	pollUntil(b, 20*time.Second, "the agent's birth", func() bool { return hub.Count(wire.LeafBirth) > births })
	pub, err := brokertest.DialRaw(b.Context(), m.Addr, "rss-plant")
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close()
	fd := &feeder{tb: b, p: p, pub: pub, f: f, t0: time.Now().UnixNano(), window: 2048}
	for range 5 {
		fd.send(nil)
	}
	fd.drain()
	for a := range assets {
		c := &wire.Command{Env: wire.Envelope{Sender: "hub"}, ID: fmt.Sprintf("c%d", a), Kind: wire.CmdDeploy,
			Machine: f.Machine(a), Role: wire.RoleChallenger, Model: catalog.Default, Name: "shadow"}
		if err := hub.Command(b.Context(), "gw1", c); err != nil {
			b.Fatal(err)
		}
	}
	pollUntil(b, 30*time.Second, "every challenger deployed", func() bool { return len(hub.CommandAcks()) >= assets })
	for _, ack := range hub.CommandAcks() {
		if !ack.OK {
			b.Fatalf("deploy refused: %s", ack.Reason)
		}
	}
	for range 800 {
		fd.send(nil)
	}
	fd.drain()
	warm, err := procStatusKB(p.cmd.Process.Pid, "VmRSS")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		fd.send(nil)
	}
	fd.drain()
	pid := p.cmd.Process.Pid
	rss, err := procStatusKB(pid, "VmRSS")
	if err != nil {
		b.Fatal(err)
	}
	hwm, err := procStatusKB(pid, "VmHWM")
	if err != nil {
		b.Fatal(err)
	}
	mt, err := p.metrics()
	if err != nil {
		b.Fatal(err)
	}
	if got := mt["mw_agent_readings_ingested_total"]; got != fd.sent*sensors {
		b.Fatalf("readings ingested %v, want %v", got, fd.sent*sensors)
	}
	b.ReportMetric(float64(rss)/1024, "rss-MB")
	b.ReportMetric(float64(hwm)/1024, "hwm-MB")
	b.ReportMetric(float64(warm)/1024, "warm-rss-MB")
	b.ReportMetric(float64(fi.Size())/(1<<20), "binary-MB")
	b.ReportMetric(0, "ns/op")
	p.stop(b)
}
