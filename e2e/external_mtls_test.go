package e2e

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"millwright/hub/config"
	"millwright/hub/server"
	"millwright/internal/mqtttest"
	"millwright/internal/pki"
	"millwright/wire"
)

// writeIdentity issues a client certificate for name and writes it with
// the CA as `hub cert --name NAME --out DIR` does.
func writeIdentity(t *testing.T, ca *pki.Authority, dir, name string) config.ClientTLS {
	t.Helper()
	certPEM, keyPEM, err := ca.IssueKeyPair(pki.Request{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	id := config.ClientTLS{CA: filepath.Join(dir, "ca.crt"), Cert: filepath.Join(dir, name+".crt"), Key: filepath.Join(dir, name+".key")}
	for _, err := range []error{pki.WriteFile(id.CA, ca.CertPEM()), pki.WriteFile(id.Cert, certPEM), pki.WriteKeyFile(id.Key, keyPEM)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return id
}

// replica is a hub started from a configuration file, as `hub run` would.
type replica struct {
	name string
	hub  *server.Server
	logs *syncBuffer
}

// startReplica writes a hub config for an external broker with the client
// identity id, loads it and runs the hub in-process until the test ends.
func startReplica(t *testing.T, name, brokerURL, group string, id config.ClientTLS) *replica {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "hub.yaml")
	body := fmt.Sprintf(`data_dir: %s
http: {listen: "127.0.0.1:0"}
mqtt:
  broker: %s
  shared_group: %s
  client_tls: {ca: %s, cert: %s, key: %s}
`, filepath.Join(dir, "data"), brokerURL, group, id.CA, id.Cert, id.Key)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	opts := server.FromConfig(cfg)
	opts.Auth = config.Auth{} // open API: the test drives it without logging in
	r := &replica{name: name, logs: &syncBuffer{}}
	opts.Logger = slog.New(slog.NewTextHandler(r.logs, nil)).With("replica", name)
	ctx, cancel := context.WithCancel(t.Context())
	if r.hub, err = server.New(ctx, opts); err != nil {
		cancel()
		t.Fatalf("%s: %v", name, err)
	}
	done := make(chan error, 1)
	go func() { done <- r.hub.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if t.Failed() {
			t.Logf("%s log:\n%s", name, r.logs.String())
		}
	})
	return r
}

// TestExternalMTLS runs two hub replicas against Mosquitto over mTLS, as
// configs/hub-external.yaml sets them up: each with its own certificate
// (hub-a, hub-b) and one connection, in one shared subscription group,
// beside an impostor hub and a raw reader holding gateways' certificates.
// Every message of gateway gw1 is stored and acknowledged by exactly one
// replica, a command queued on the replica that saw gw1's birth reaches
// gw1 under that replica's name, and neither the impostor nor the reader
// receives any of the fleet's messages (Mosquitto grants their
// subscriptions; its read check drops every delivery to them).
func TestExternalMTLS(t *testing.T) {
	if _, err := mqtttest.MosquittoPath(); err != nil {
		t.Fatal(err)
	}
	f := newPKI(t)
	certs := t.TempDir()
	serverCert, serverKey, err := f.ca.IssueKeyPair(pki.Request{Name: "127.0.0.1", Server: true, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	brokerCert, brokerKey := filepath.Join(certs, "broker.crt"), filepath.Join(certs, "broker.key")
	if err := pki.WriteFile(brokerCert, serverCert); err != nil {
		t.Fatal(err)
	}
	if err := pki.WriteKeyFile(brokerKey, serverKey); err != nil {
		t.Fatal(err)
	}
	logFile := filepath.Join(t.TempDir(), "mosquitto.log")
	mq := mqtttest.StartMosquitto(t, mqtttest.MosquittoOptions{
		Extra: "log_type debug\nlog_dest file " + logFile,
		TLS: &mqtttest.MosquittoTLS{CAFile: f.ca.CertPath(), CertFile: brokerCert, KeyFile: brokerKey, CRLFile: f.ca.CRLPath(),
			ACL: mqtttest.HubACL("hub-a", "hub-b")},
	})
	brokerURL := "mqtts://" + mq.TLSAddr
	mosquittoLog := func() string { b, _ := os.ReadFile(logFile); return string(b) }

	// Mosquitto's acl_file does not check SUBSCRIBE (only delivery), so
	// any client may join a shared group, and the messages the broker then
	// hands it are dropped by the read check: the replicas' group name must
	// be one nobody can guess (configs/hub-external.yaml).
	group := "mw-" + rand.Text()
	// The impostor runs a hub with a real gateway's certificate (gw4) in
	// the default group, before any traffic.
	impostor := startReplica(t, "impostor", brokerURL, "", writeIdentity(t, f.ca, t.TempDir(), "gw4"))
	waitFor(t, 20*time.Second, "the impostor's subscription answered", func() bool {
		l := impostor.logs.String()
		return strings.Contains(l, "mqtt subscription refused by the broker") || strings.Contains(l, "mqtt subscribed")
	})
	replicas := []*replica{
		startReplica(t, "hub-a", brokerURL, group, writeIdentity(t, f.ca, t.TempDir(), "hub-a")),
		startReplica(t, "hub-b", brokerURL, group, writeIdentity(t, f.ca, t.TempDir(), "hub-b")),
	}
	for _, r := range replicas {
		waitFor(t, 20*time.Second, r.name+" ready over mTLS", func() bool { return r.hub.Ready() == nil })
	}
	// A reader with gateway gw3's certificate asks for the whole fleet.
	reader := mustDial(t, mq.TLSAddr, "gw3", f.client(t, f.ca, "gw3"))
	for _, filter := range []string{"mw/v1/agent/+/+", "mw/v1/#", "$share/millwright-hub/mw/v1/agent/+/+"} {
		reader.c.Subscribe(filter, 1, nil).WaitTimeout(10 * time.Second) // refused or granted: nothing may arrive
	}

	// gw1: a gateway with its own certificate, speaking the wire contract.
	var (
		mu    sync.Mutex
		acked = map[uint64][]string{} // seq → senders of its acks
		cmds  = make(chan wire.Command, 4)
	)
	gwTLS := f.client(t, f.ca, "gw1")
	gw := paho.NewClient(paho.NewClientOptions().AddBroker("ssl://" + mq.TLSAddr).SetClientID("mw-agent-gw1").
		SetTLSConfig(gwTLS).SetCleanSession(true).SetConnectTimeout(5 * time.Second))
	if tok := gw.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("gw1 connect: %v", tok.Error())
	}
	t.Cleanup(func() { gw.Disconnect(100) })
	subscribe := func(topic string, h paho.MessageHandler) {
		if tok := gw.Subscribe(topic, 1, h); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil ||
			tok.(*paho.SubscribeToken).Result()[topic] >= 0x80 {
			t.Fatalf("gw1 subscribe %s: %v", topic, tok.Error())
		}
	}
	subscribe(wire.HubTopic("gw1", wire.LeafAck), func(_ paho.Client, m paho.Message) {
		var a wire.Ack
		if err := wire.Unmarshal(m.Payload(), &a); err != nil {
			t.Errorf("ack: %v", err)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		for _, s := range a.Seqs {
			acked[s] = append(acked[s], a.Env.Sender)
		}
	})
	subscribe(wire.HubTopic("gw1", wire.LeafCmd), func(_ paho.Client, m paho.Message) {
		var c wire.Command
		if err := wire.Unmarshal(m.Payload(), &c); err != nil {
			t.Errorf("command: %v", err)
			return
		}
		cmds <- c
	})
	publish := func(leaf string, m wire.Message) {
		t.Helper()
		b, err := wire.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if tok := gw.Publish(wire.AgentTopic("gw1", leaf), 1, false, b); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("gw1 publish %s: %v", leaf, tok.Error())
		}
	}
	env := func(seq uint64) wire.Envelope {
		return wire.Envelope{Version: wire.Version, Sender: "gw1", Seq: seq, Time: time.Now().UnixNano()}
	}

	birth := &wire.Birth{Env: env(1), AgentVersion: "test", Machines: []wire.MachineInfo{{ID: "motor-1", Type: "motor", Model: "hst"}}}
	publish(wire.LeafBirth, birth)
	const n = 200
	for seq := uint64(2); seq <= n+1; seq++ {
		publish(wire.LeafMetrics, &wire.Metrics{Env: env(seq), IntervalNs: 1e9,
			Series: []wire.ModelMetric{{Machine: "motor-1", Model: "hst", Role: wire.RoleChampion, Count: seq}}})
	}

	t.Run("every message handled exactly once", func(t *testing.T) {
		waitFor(t, 30*time.Second, "every message acknowledged", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(acked) == n+1
		})
		stored := map[string]int{}
		for _, r := range append(replicas, impostor) {
			ps, err := r.hub.Store().MetricPoints(t.Context(), "gw1", "motor-1", time.Unix(0, 0), 10*n)
			if err != nil {
				t.Fatal(err)
			}
			stored[r.name] = len(ps)
			if s := r.hub.Ingest().Stats(); s.Duplicates != 0 || s.Rejected != 0 {
				t.Errorf("%s: %+v", r.name, s)
			}
		}
		if got := stored["hub-a"] + stored["hub-b"]; got != n || stored["hub-a"] == 0 || stored["hub-b"] == 0 || stored["impostor"] != 0 {
			t.Errorf("stored %v, want %d split between hub-a and hub-b, none by the impostor", stored, n)
		}
		mu.Lock()
		defer mu.Unlock()
		bySender := map[string]int{}
		for seq := uint64(1); seq <= n+1; seq++ {
			by := acked[seq]
			if len(by) != 1 {
				t.Errorf("seq %d acked by %v, want exactly one replica", seq, by)
			}
			for _, s := range by {
				bySender[s]++
			}
		}
		// The ack's sender is the replica's client id: its certificate's name.
		if len(bySender) != 2 || bySender["hub-a"] == 0 || bySender["hub-b"] == 0 {
			t.Errorf("acks by %v, want hub-a and hub-b", bySender)
		}
		t.Logf("split: %v", stored)
	})

	t.Run("gateway certificate cannot read the fleet", func(t *testing.T) {
		if s := impostor.hub.Ingest().Stats(); s.Ingested != 0 {
			t.Errorf("the impostor hub ingested %d messages", s.Ingested)
		}
		// gw3 may read its own telemetry: that, sent after every message
		// of gw1's was acknowledged, must be the first thing it receives.
		control := wire.Root + "/telemetry/gw3/control"
		if err := reader.publish(control, 1); err != nil {
			t.Fatal(err)
		}
		reader.expectOnly(t, control)
	})

	t.Run("command reaches the gateway", func(t *testing.T) {
		var owner *replica // the replica that stored the birth
		for _, r := range replicas {
			c, err := r.hub.Store().Counts(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if c.GatewaysOnline == 1 {
				owner = r
			}
		}
		if owner == nil {
			t.Fatal("no replica has gw1 online")
		}
		var created struct {
			Deployments []struct {
				CommandID string `json:"command_id"`
			}
		}
		api(t, "http://"+owner.hub.HTTPAddr(), "POST", "/api/v1/challengers",
			map[string]any{"kind": "rrcf", "targets": []string{"motor-1"}, "settings": map[string]float64{"trees": 10}}, &created)
		if len(created.Deployments) != 1 {
			t.Fatalf("challengers: %+v", created)
		}
		select {
		case c := <-cmds:
			if c.ID != created.Deployments[0].CommandID || c.Env.Sender != owner.name {
				t.Errorf("command %s from %s, want %s from %s", c.ID, c.Env.Sender, created.Deployments[0].CommandID, owner.name)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("no command from %s within 20s", owner.name)
		}
	})

	// One identity, one connection: had a replica opened a second one
	// under its certificate's name, Mosquitto would have closed the first.
	if log := mosquittoLog(); strings.Contains(log, "hub-a already connected") || strings.Contains(log, "hub-b already connected") {
		t.Errorf("a replica's connections took each other over:\n%s", log)
	}
}
