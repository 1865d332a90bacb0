package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"millwright/agent/daemon"
	"millwright/agent/mqttc"
	"millwright/hub/config"
	"millwright/hub/enroll"
	"millwright/hub/server"
	"millwright/internal/mqtttest"
	"millwright/internal/pki"
)

// pkiFixture is a hub CA with the certificates the transport tests attack
// a broker with. gw9's certificate is revoked before any broker starts.
type pkiFixture struct {
	dir     string
	ca      *pki.Authority
	past    *pki.Authority // the same CA, its clock 48h back: issues expired certificates
	other   *pki.Authority // another CA altogether
	revoked *tls.Config
}

func newPKI(t *testing.T) *pkiFixture {
	t.Helper()
	dir := t.TempDir()
	ca, err := pki.Open(dir, pki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	past, err := pki.Open(dir, pki.Options{Now: func() time.Time { return time.Now().Add(-48 * time.Hour) }, Validity: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	other, err := pki.Open(t.TempDir(), pki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := &pkiFixture{dir: dir, ca: ca, past: past, other: other}
	f.revoked = f.client(t, ca, "gw9")
	if _, err := ca.Revoke("gw9"); err != nil {
		t.Fatal(err)
	}
	return f
}

// client is a TLS client configuration trusting the hub CA and presenting
// a fresh certificate for name issued by issuer (nil: none).
func (f *pkiFixture) client(t *testing.T, issuer *pki.Authority, name string) *tls.Config {
	t.Helper()
	cfg := &tls.Config{RootCAs: f.ca.Pool(), ServerName: "127.0.0.1"}
	if issuer == nil {
		return cfg
	}
	certPEM, keyPEM, err := issuer.IssueKeyPair(pki.Request{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Certificates = []tls.Certificate{pair}
	return cfg
}

// tlsBroker is a broker under test: its TLS address, and how it reports
// what it refused.
type tlsBroker struct {
	addr string
	// refusedLogged reports whether the broker logged a refused publish of
	// gateway on topic.
	refusedLogged func(gateway, topic string) bool
	// deniedCount is the broker's count of ACL refusals (-1: not counted).
	deniedCount func() int64
	// restart makes the broker re-read the CRL (nil: it watches it).
	restart func()
}

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startEmbedded(t *testing.T, f *pkiFixture) tlsBroker {
	t.Helper()
	hub, logs := startHubTLS(t, f)
	base := "http://" + hub.HTTPAddr()
	return tlsBroker{
		addr: hub.MQTTAddr(),
		refusedLogged: func(gw, topic string) bool {
			for _, line := range strings.Split(logs.String(), "\n") {
				if strings.Contains(line, "publish refused by ACL") && strings.Contains(line, "gateway="+gw) && strings.Contains(line, "topic="+topic) {
					return true
				}
			}
			return false
		},
		deniedCount: func() int64 { return metric(t, base, `millwright_broker_acl_denied_total{action="publish"}`) },
	}
}

// startHubTLS runs a hub in-process with mqtt.tls only and its CA in f.dir,
// serving HTTPS when web is set.
func startHubTLS(t *testing.T, f *pkiFixture, web ...config.HTTPTLS) (*server.Server, *syncBuffer) {
	t.Helper()
	var httpTLS config.HTTPTLS
	if len(web) > 0 {
		httpTLS = web[0]
	}
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(t.Context())
	hub, err := server.New(ctx, server.Options{
		DataDir:  t.TempDir(),
		HTTPAddr: "127.0.0.1:0",
		Logger:   slog.New(slog.NewTextHandler(logs, nil)),
		Security: enroll.Config{
			Dir:             f.dir,
			RevocationCheck: 20 * time.Millisecond,
			MQTT:            config.MQTTTLS{Listen: "127.0.0.1:0", Only: true, Hosts: []string{"127.0.0.1"}},
			HTTP:            httpTLS,
		},
	})
	if err != nil {
		t.Fatalf("new hub: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- hub.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("hub: %v", err)
		}
		if t.Failed() {
			t.Logf("hub log:\n%s", logs.String())
		}
	})
	waitFor(t, 15*time.Second, "hub ready (ingest over the internal socket)", func() bool { return hub.Ready() == nil })
	return hub, logs
}

func startMosquittoTLS(t *testing.T, f *pkiFixture) tlsBroker {
	t.Helper()
	certPEM, keyPEM, err := f.ca.IssueKeyPair(pki.Request{Name: "127.0.0.1", Server: true, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "broker.crt"), filepath.Join(dir, "broker.key")
	if err := pki.WriteFile(certFile, certPEM); err != nil {
		t.Fatal(err)
	}
	if err := pki.WriteKeyFile(keyFile, keyPEM); err != nil {
		t.Fatal(err)
	}
	logFile := filepath.Join(t.TempDir(), "mosquitto.log")
	m := mqtttest.StartMosquitto(t, mqtttest.MosquittoOptions{
		// Refused publishes are logged at debug level; the log file is
		// flushed line by line, stdout is not.
		Extra: "log_type debug\nlog_dest file " + logFile,
		TLS:   &mqtttest.MosquittoTLS{CAFile: f.ca.CertPath(), CertFile: certFile, KeyFile: keyFile, CRLFile: f.ca.CRLPath()},
	})
	return tlsBroker{
		addr: m.TLSAddr,
		refusedLogged: func(gw, topic string) bool {
			b, _ := os.ReadFile(logFile)
			for _, line := range strings.Split(string(b), "\n") {
				if strings.Contains(line, "Denied PUBLISH from "+gw+" ") && strings.Contains(line, "'"+topic+"'") {
					return true
				}
			}
			return false
		},
		deniedCount: func() int64 { return -1 },
		restart:     func() { m.Restart(t) },
	}
}

// metric reads one sample of the hub's /metrics.
func metric(t *testing.T, base, sample string) int64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			var n float64
			if err := json.Unmarshal([]byte(v), &n); err == nil {
				return int64(n)
			}
		}
	}
	return 0
}

type mqttConn struct {
	c    paho.Client
	lost chan error
	got  chan string // topics received
}

// dial connects once, without retrying.
func dial(t *testing.T, addr, clientID string, cfg *tls.Config) (*mqttConn, error) {
	t.Helper()
	m := &mqttConn{lost: make(chan error, 1), got: make(chan string, 64)}
	m.c = paho.NewClient(paho.NewClientOptions().AddBroker("ssl://" + addr).SetClientID(clientID).
		SetTLSConfig(cfg).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second).SetCleanSession(true).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			select {
			case m.lost <- err:
			default:
			}
		}).
		SetDefaultPublishHandler(func(_ paho.Client, msg paho.Message) { m.got <- msg.Topic() }))
	tok := m.c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		return nil, errors.New("connect timed out")
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	// CONNACK comes after CONNECT, which the broker reads only once it has
	// verified the client certificate: a refused certificate fails here.
	t.Cleanup(func() { m.c.Disconnect(0) })
	return m, nil
}

func mustDial(t *testing.T, addr, clientID string, cfg *tls.Config) *mqttConn {
	t.Helper()
	m, err := dial(t, addr, clientID, cfg)
	if err != nil {
		t.Fatalf("connect %s: %v", clientID, err)
	}
	return m
}

func (m *mqttConn) subscribe(t *testing.T, filters ...string) {
	t.Helper()
	for _, f := range filters {
		if tok := m.c.Subscribe(f, 1, nil); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("subscribe %s: %v", f, tok.Error())
		}
	}
}

func (m *mqttConn) publish(topic string, qos byte) error {
	tok := m.c.Publish(topic, qos, false, "x")
	if !tok.WaitTimeout(10 * time.Second) {
		return errors.New("publish timed out")
	}
	return tok.Error()
}

// expectOnly waits for want on m, failing if another topic arrives first:
// a broker delivers one publisher's messages to a subscriber in order, so
// a message published before want that got through arrives before it.
func (m *mqttConn) expectOnly(t *testing.T, want string) {
	t.Helper()
	select {
	case topic := <-m.got:
		if topic != want {
			t.Fatalf("received %q, want only %q", topic, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no %q within 10s", want)
	}
}

// TestTransportSecurity runs one suite against the embedded broker and
// Mosquitto, both as the hub CA's certificates configure them.
func TestTransportSecurity(t *testing.T) {
	brokers := []struct {
		name  string
		start func(*testing.T, *pkiFixture) tlsBroker
	}{
		{"embedded", startEmbedded},
		{"mosquitto", startMosquittoTLS},
	}
	for _, bk := range brokers {
		t.Run(bk.name, func(t *testing.T) {
			if bk.name == "mosquitto" {
				if _, err := mqtttest.MosquittoPath(); err != nil {
					t.Fatal(err)
				}
			}
			f := newPKI(t)
			b := bk.start(t, f)
			transportSuite(t, f, b)
		})
	}
}

func transportSuite(t *testing.T, f *pkiFixture, b tlsBroker) {
	t.Run("connect", func(t *testing.T) {
		tests := []struct {
			name     string
			clientID string
			cfg      *tls.Config
			ok       bool
		}{
			{"enrolled gateway", "mw-agent-gw1", f.client(t, f.ca, "gw1"), true},
			{"expired certificate", "mw-agent-gw1", f.client(t, f.past, "gw1"), false},
			{"revoked certificate", "mw-agent-gw9", f.revoked, false},
			{"certificate of another CA", "mw-agent-gw1", f.client(t, f.other, "gw1"), false},
			{"no certificate", "mw-agent-gw1", f.client(t, nil, ""), false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				m, err := dial(t, b.addr, tt.clientID, tt.cfg)
				if tt.ok != (err == nil) {
					t.Fatalf("connect: err = %v, want ok=%v", err, tt.ok)
				}
				if m != nil {
					m.c.Disconnect(0)
				}
			})
		}
	})

	hub := mustDial(t, b.addr, "millwright-hub-test", f.client(t, f.ca, "hub"))
	hub.subscribe(t, "mw/v1/#")
	gw1 := f.client(t, f.ca, "gw1")
	gw2 := f.client(t, f.ca, "gw2") // a real gateway of this CA, trying to speak for gw1

	t.Run("forged publish", func(t *testing.T) {
		tests := []struct {
			topic string
			qos   byte
		}{
			{"mw/v1/agent/gw1/alerts", 0},
			{"mw/v1/telemetry/gw1/pump-1", 0},
			{"mw/v1/agent/gw1/cmdack", 1},
			{"mw/v1/hub/gw1/cmd", 1},
		}
		for _, tt := range tests {
			t.Run(tt.topic, func(t *testing.T) {
				before := b.deniedCount()
				m := mustDial(t, b.addr, "mw-agent-gw2", gw2)
				// Mosquitto 2.0 acks a refused QoS 1 publish without
				// delivering it, and drops the connection after a refused
				// QoS 0 one; the embedded broker drops an MQTT 3 client
				// after a refused QoS 1 publish. The control message goes
				// at QoS 1, on a new connection if the old one is gone.
				_ = m.publish(tt.topic, tt.qos)
				control := "mw/v1/agent/gw2/control"
				if err := m.publish(control, 1); err != nil {
					m = mustDial(t, b.addr, "mw-agent-gw2", gw2)
					if err := m.publish(control, 1); err != nil {
						t.Fatal(err)
					}
				}
				hub.expectOnly(t, control)
				waitFor(t, 10*time.Second, "the refused publish logged with the gateway and the topic", func() bool {
					return b.refusedLogged("gw2", tt.topic)
				})
				if before >= 0 && b.deniedCount() <= before {
					t.Error("the refused publish was not counted")
				}
			})
		}
	})

	t.Run("forged will", func(t *testing.T) {
		// gw2 asks the broker to announce gw1's death when gw2's connection
		// drops, then drops it. The embedded broker refuses the connection;
		// Mosquitto 2 refuses it too (or, older, drops the will).
		conn, err := tls.Dial("tcp", b.addr, gw2)
		if err != nil {
			t.Fatal(err)
		}
		cp := packets.NewControlPacket(packets.Connect).(*packets.ConnectPacket)
		cp.ProtocolName, cp.ProtocolVersion, cp.CleanSession, cp.Keepalive = "MQTT", 4, true, 30
		cp.ClientIdentifier = "mw-agent-gw2"
		cp.WillFlag, cp.WillQos, cp.WillTopic, cp.WillMessage = true, 1, "mw/v1/agent/gw1/death", []byte("forged")
		if err := cp.Write(conn); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		if ack, err := packets.ReadPacket(conn); err == nil {
			if ca, ok := ack.(*packets.ConnackPacket); ok && ca.ReturnCode == packets.Accepted {
				t.Log("connection with a forged will accepted; its will must not be delivered")
			}
		}
		conn.Close() // unclean: a will, if any, goes out now
		m := mustDial(t, b.addr, "mw-agent-gw2", gw2)
		control := "mw/v1/agent/gw2/after-will"
		if err := m.publish(control, 1); err != nil {
			t.Fatal(err)
		}
		hub.expectOnly(t, control)
	})

	t.Run("own topics", func(t *testing.T) {
		m := mustDial(t, b.addr, "mw-agent-gw1", gw1)
		for _, topic := range []string{"mw/v1/telemetry/gw1/pump-1", "mw/v1/agent/gw1/alerts", "mw/v1/local/gw1/alerts"} {
			if err := m.publish(topic, 1); err != nil {
				t.Fatal(err)
			}
			hub.expectOnly(t, topic)
		}
	})

	t.Run("forged subscription", func(t *testing.T) {
		m := mustDial(t, b.addr, "mw-agent-gw2", gw2)
		// Refused filters are answered with a failure code (or dropped);
		// either way nothing of gw1's may arrive.
		for _, f := range []string{"mw/v1/hub/gw1/#", "mw/v1/hub/+/cmd", "mw/v1/#", "mw/v1/hub/gw2/#"} {
			m.c.Subscribe(f, 1, nil).WaitTimeout(10 * time.Second)
		}
		for _, topic := range []string{"mw/v1/hub/gw1/cmd", "mw/v1/agent/gw1/alerts", "mw/v1/hub/gw2/cmd"} {
			if err := hub.publish(topic, 1); err != nil { // hub reads its own too
				t.Fatal(err)
			}
			hub.expectOnly(t, topic)
		}
		m.expectOnly(t, "mw/v1/hub/gw2/cmd")
	})

	t.Run("client id of another gateway", func(t *testing.T) {
		victim := mustDial(t, b.addr, "mw-agent-gw1", gw1)
		// The embedded broker refuses the connection; Mosquitto gives it
		// the certificate's name as client id. Either way gw1 stays.
		if m, err := dial(t, b.addr, "mw-agent-gw1", gw2); err == nil {
			m.c.Disconnect(0)
		}
		if err := victim.publish("mw/v1/agent/gw1/still-here", 1); err != nil {
			t.Fatalf("gw1 lost its session to gw2: %v", err)
		}
		hub.expectOnly(t, "mw/v1/agent/gw1/still-here")
		select {
		case err := <-victim.lost:
			t.Fatalf("gw1 was knocked off: %v", err)
		default:
		}
	})

	t.Run("revocation", func(t *testing.T) {
		gw3 := f.client(t, f.ca, "gw3")
		m := mustDial(t, b.addr, "mw-agent-gw3", gw3)
		if _, err := f.ca.Revoke("gw3"); err != nil {
			t.Fatal(err)
		}
		if b.restart != nil {
			b.restart() // Mosquitto reads its crlfile at start
		} else {
			select {
			case <-m.lost:
			case <-time.After(10 * time.Second):
				t.Fatal("the revoked gateway is still connected")
			}
		}
		if _, err := dial(t, b.addr, "mw-agent-gw3", gw3); err == nil {
			t.Fatal("a revoked certificate connected")
		}
	})
}

// TestAgentOverMTLS enrols a gateway with the hub's API over HTTPS, runs a real agent
// over mTLS against a TLS-only hub, and revokes it: the hub sees it online,
// then offline (its will, published when the broker drops it).
func TestAgentOverMTLS(t *testing.T) {
	f := newPKI(t)
	// The hub's HTTPS certificate, here from its own CA.
	webCert, webKey, err := f.ca.IssueKeyPair(pki.Request{Name: "127.0.0.1", Server: true, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	webDir := t.TempDir()
	web := config.HTTPTLS{Cert: filepath.Join(webDir, "web.crt"), Key: filepath.Join(webDir, "web.key")}
	if err := pki.WriteFile(web.Cert, webCert); err != nil {
		t.Fatal(err)
	}
	if err := pki.WriteKeyFile(web.Key, webKey); err != nil {
		t.Fatal(err)
	}
	hub, _ := startHubTLS(t, f, web)
	https := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: f.ca.Pool()}}}
	// Plain HTTP gets nothing but Go's "HTTP request to an HTTPS server".
	if resp, err := http.Get("http://" + hub.HTTPAddr() + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("plain HTTP on the HTTPS listener: %s", resp.Status)
		}
	}
	if resp, err := https.Get("https://" + hub.HTTPAddr() + "/healthz"); err != nil {
		t.Fatalf("HTTPS: %v", err)
	} else {
		resp.Body.Close()
	}

	tok, _, err := f.ca.NewToken("gw1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	key, err := pki.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	csr, err := pki.NewCSR(key, "gw1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(enroll.Request{Token: tok, CSR: string(csr)})
	resp, err := https.Post("https://"+hub.HTTPAddr()+enroll.Path, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var r enroll.Response
	err = json.NewDecoder(resp.Body).Decode(&r)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("enrol: %d %v", resp.StatusCode, err)
	}
	dir := t.TempDir()
	keyPEM, err := pki.EncodeKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{
		pki.WriteKeyFile(filepath.Join(dir, "gw1.key"), keyPEM),
		pki.WriteFile(filepath.Join(dir, "gw1.crt"), []byte(r.Certificate)),
		pki.WriteFile(filepath.Join(dir, "ca.crt"), []byte(r.CA)),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	brokerURL, err := mqttc.TLSURL("mqtts://"+hub.MQTTAddr(), filepath.Join(dir, "ca.crt"), filepath.Join(dir, "gw1.crt"), filepath.Join(dir, "gw1.key"))
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- daemon.Run(ctx, daemon.Options{Gateway: "gw1", BrokerURL: brokerURL, StateDir: t.TempDir(), HTTPAddr: "127.0.0.1:0",
			Logger: logger(t).With("component", "agent")})
	}()
	t.Cleanup(func() { cancel(); <-done })
	online := func() int {
		c, err := hub.Store().Counts(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return c.GatewaysOnline
	}
	waitFor(t, 20*time.Second, "gw1 online over mTLS", func() bool { return online() == 1 })
	if _, err := f.ca.Revoke("gw1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "gw1 offline after its revocation", func() bool { return online() == 0 })
}
