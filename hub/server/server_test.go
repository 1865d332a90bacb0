package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"millwright/hub/server"
	"millwright/wire"
)

// syncBuffer is a bytes.Buffer safe for the status printer and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

func startHub(t *testing.T, dir string, status io.Writer) (*server.Server, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	srv, err := server.New(ctx, server.Options{
		DataDir: dir, HTTPAddr: "127.0.0.1:0", MQTTAddr: "127.0.0.1:0",
		StatusOut: status, StatusEvery: 20 * time.Millisecond,
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	stop := func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	waitFor(t, "hub ready", func() bool { return srv.Ready() == nil })
	return srv, stop
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), "GET", url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// TestHubInProcess runs a whole hub, feeds it like an agent, reads it back
// over HTTP, restarts it on the same data and finds everything again.
func TestHubInProcess(t *testing.T) {
	dir := t.TempDir()
	var status syncBuffer
	srv, stop := startHub(t, dir, &status)

	c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + srv.MQTTAddr()).SetClientID("agent-gw7"))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	acked := make(chan uint64, 10)
	c.Subscribe(wire.HubTopic("gw7", wire.LeafAck), 1, func(_ paho.Client, m paho.Message) {
		var a wire.Ack
		if wire.Unmarshal(m.Payload(), &a) == nil {
			for _, s := range a.Seqs {
				acked <- s
			}
		}
	}).WaitTimeout(10 * time.Second)
	pub := func(leaf string, m wire.Message) {
		b, err := wire.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		c.Publish(wire.AgentTopic("gw7", leaf), 1, false, b).WaitTimeout(10 * time.Second)
	}
	e := func(seq uint64) wire.Envelope {
		return wire.Envelope{Sender: "gw7", Seq: seq, Time: time.Now().UnixNano()}
	}
	pub(wire.LeafBirth, &wire.Birth{Env: e(1), AgentVersion: "x", Machines: []wire.MachineInfo{{ID: "press", Type: "press"}}})
	pub(wire.LeafAlerts, &wire.Alert{Env: e(2), ID: "gw7-press-2", Machine: "press", Severity: wire.SeverityWarning, Score: 0.8, Threshold: 0.7})
	for want := 2; want > 0; want-- {
		select {
		case <-acked:
		case <-time.After(10 * time.Second):
			t.Fatal("no ack")
		}
	}
	c.Disconnect(100)

	base := "http://" + srv.HTTPAddr()
	var st struct {
		GatewaysOnline int `json:"gateways_online"`
		Machines       int `json:"machines"`
		AlertsOpen     int `json:"alerts_open"`
		Ingested       int `json:"ingested"`
	}
	getJSON(t, base+"/api/v1/status", &st)
	if st.GatewaysOnline != 1 || st.Machines != 1 || st.AlertsOpen != 1 || st.Ingested != 2 {
		t.Fatalf("status = %+v", st)
	}
	waitFor(t, "status line", func() bool {
		return strings.Contains(status.String(), "gateways 1/1 online  machines 1  alerts 1 open  ingested 2  rejected 0")
	})
	stop()

	srv, stop = startHub(t, dir, nil)
	defer stop()
	var ms struct{ Machines []struct{ ID string } }
	getJSON(t, "http://"+srv.HTTPAddr()+"/api/v1/machines", &ms)
	if len(ms.Machines) != 1 || ms.Machines[0].ID != "press" {
		t.Fatalf("machines after restart = %+v", ms)
	}
}

func TestExternalBrokerAddrs(t *testing.T) {
	// With an external broker nothing is embedded; New must not dial it.
	srv, err := server.New(t.Context(), server.Options{DataDir: t.TempDir(), HTTPAddr: "127.0.0.1:0", BrokerURL: "tcp://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	if srv.MQTTAddr() != "" || srv.BrokerURL() != "tcp://127.0.0.1:1" {
		t.Fatalf("addrs = %q %q", srv.MQTTAddr(), srv.BrokerURL())
	}
	if srv.Ready() == nil {
		t.Fatal("ready without a broker")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := srv.Run(ctx); err != nil {
		t.Fatalf("Run on a cancelled context: %v", err)
	}
}
