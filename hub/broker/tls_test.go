package broker_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"millwright/hub/broker"
	"millwright/internal/pki"
)

// tlsFixture is a running broker with TLS and a CA that issued its server
// certificate.
type tlsFixture struct {
	b  *broker.Broker
	ca *pki.Authority
	// past is the same CA with a clock 48h behind, to issue expired
	// certificates.
	past *pki.Authority
}

func startTLSBroker(t testing.TB, noPlain bool) *tlsFixture {
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
	certPEM, keyPEM, err := ca.IssueKeyPair(pki.Request{Name: "localhost", Server: true, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	b, err := broker.New(broker.Options{
		Addr:    "127.0.0.1:0",
		NoPlain: noPlain,
		TLS:     &broker.TLSOptions{Addr: "127.0.0.1:0", Config: ca.ServerTLS(pair), Revoked: ca.Revoked},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return &tlsFixture{b: b, ca: ca, past: past}
}

// clientTLS is a client configuration trusting ca and presenting a fresh
// certificate of name issued by issuer (nil: no certificate).
func clientTLS(t testing.TB, ca, issuer *pki.Authority, name string) *tls.Config {
	t.Helper()
	cfg := &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}
	if issuer != nil {
		certPEM, keyPEM, err := issuer.IssueKeyPair(pki.Request{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg
}

// connect connects over TLS without retrying; lost gets connection-lost
// errors.
func connect(t *testing.T, addr, clientID string, cfg *tls.Config) (paho.Client, <-chan error, error) {
	t.Helper()
	lost := make(chan error, 4)
	c := paho.NewClient(paho.NewClientOptions().AddBroker("ssl://" + addr).SetClientID(clientID).
		SetTLSConfig(cfg).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second).
		SetConnectionLostHandler(func(_ paho.Client, err error) { lost <- err }))
	tok := c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		return nil, nil, errors.New("connect timed out")
	}
	if err := tok.Error(); err != nil {
		return nil, nil, err
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c, lost, nil
}

func mustConnect(t *testing.T, addr, clientID string, cfg *tls.Config) (paho.Client, <-chan error) {
	t.Helper()
	c, lost, err := connect(t, addr, clientID, cfg)
	if err != nil {
		t.Fatalf("connect %s: %v", clientID, err)
	}
	return c, lost
}

func TestTLSConnect(t *testing.T) {
	f := startTLSBroker(t, true)
	other, err := pki.Open(t.TempDir(), pki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	revoked := clientTLS(t, f.ca, f.ca, "gw9")
	if _, err := f.ca.Revoke("gw9"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		clientID string
		cfg      *tls.Config
		ok       bool
	}{
		{"gateway", "mw-agent-gw1", clientTLS(t, f.ca, f.ca, "gw1"), true},
		{"gateway, bare id", "gw1", clientTLS(t, f.ca, f.ca, "gw1"), true},
		{"hub, any client id", "millwright-hub", clientTLS(t, f.ca, f.ca, "hub"), true},
		{"another gateway's client id", "mw-agent-gw2", clientTLS(t, f.ca, f.ca, "gw1"), false},
		{"expired certificate", "mw-agent-gw1", clientTLS(t, f.ca, f.past, "gw1"), false},
		{"revoked certificate", "mw-agent-gw9", revoked, false},
		{"certificate of another CA", "mw-agent-gw1", clientTLS(t, f.ca, other, "gw1"), false},
		{"no certificate", "mw-agent-gw1", clientTLS(t, f.ca, nil, ""), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.b.Stats().Refused
			_, _, err := connect(t, f.b.TLSAddr(), tt.clientID, tt.cfg)
			if tt.ok != (err == nil) {
				t.Fatalf("connect: err = %v, want ok=%v", err, tt.ok)
			}
			if refused := f.b.Stats().Refused > before; refused == tt.ok {
				t.Fatalf("refused counter moved: %v, want %v", refused, !tt.ok)
			}
		})
	}
	// NoPlain: nothing listens in plain TCP; the broker URL says mqtts.
	if got := f.b.URL(); got != "mqtts://"+f.b.TLSAddr() {
		t.Fatalf("URL = %q", got)
	}
}

func TestTLSTopicACL(t *testing.T) {
	f := startTLSBroker(t, false)
	hub, _ := mustConnect(t, f.b.TLSAddr(), "hub", clientTLS(t, f.ca, f.ca, "hub"))
	got := make(chan string, 16)
	if tok := hub.Subscribe("mw/v1/#", 1, func(_ paho.Client, m paho.Message) { got <- m.Topic() }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("hub subscribe: %v", tok.Error())
	}
	gw1, _ := mustConnect(t, f.b.TLSAddr(), "mw-agent-gw1", clientTLS(t, f.ca, f.ca, "gw1"))

	// expectOnly waits for want, failing if anything else arrives first:
	// messages are delivered in order, so a refused one published before
	// want would have arrived before it.
	expectOnly := func(t *testing.T, want string) {
		t.Helper()
		select {
		case topic := <-got:
			if topic != want {
				t.Fatalf("hub received %q, want only %q", topic, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no %q within 10s", want)
		}
	}
	publish := func(t *testing.T, c paho.Client, topic string) {
		t.Helper()
		if tok := c.Publish(topic, 0, false, "x"); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %s: %v", topic, tok.Error())
		}
	}
	pubTests := []struct {
		topic   string
		allowed bool
	}{
		{"mw/v1/telemetry/gw1/pump-1", true},
		{"mw/v1/agent/gw1/alerts", true},
		{"mw/v1/local/gw1/alerts", true},
		{"mw/v1/telemetry/gw2/pump-1", false},
		{"mw/v1/agent/gw2/alerts", false},
		{"mw/v1/hub/gw1/cmd", false},
		{"mw/v1/hub/gw2/cmd", false},
		{"other/topic", false},
	}
	for _, tt := range pubTests {
		t.Run("publish "+tt.topic, func(t *testing.T) {
			before := f.b.Stats().Denied
			publish(t, gw1, tt.topic)
			control := "mw/v1/agent/gw1/control"
			if tt.allowed {
				expectOnly(t, tt.topic)
			}
			publish(t, gw1, control)
			expectOnly(t, control)
			if denied := f.b.Stats().Denied > before; denied == tt.allowed {
				t.Fatalf("denied counter moved: %v, want %v", denied, !tt.allowed)
			}
		})
	}

	subTests := []struct {
		filter  string
		allowed bool
	}{
		{"mw/v1/hub/gw1/#", true},
		{"mw/v1/hub/gw1/cmd", true},
		{"mw/v1/telemetry/gw1/+", true},
		{"mw/v1/hub/gw2/#", false},
		{"mw/v1/hub/+/cmd", false},
		{"mw/v1/agent/gw1/#", false},
		{"mw/v1/#", false},
		{"#", false},
	}
	for _, tt := range subTests {
		t.Run("subscribe "+tt.filter, func(t *testing.T) {
			tok := gw1.Subscribe(tt.filter, 1, func(paho.Client, paho.Message) {})
			if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
				t.Fatalf("subscribe: %v", tok.Error())
			}
			code := tok.(*paho.SubscribeToken).Result()[tt.filter]
			if granted := code < 0x80; granted != tt.allowed {
				t.Fatalf("suback code %#x, want allowed=%v", code, tt.allowed)
			}
		})
	}

	// A QoS 1 publish outside its topics disconnects the MQTT 3 client.
	gw2, lost := mustConnect(t, f.b.TLSAddr(), "mw-agent-gw2", clientTLS(t, f.ca, f.ca, "gw2"))
	gw2.Publish("mw/v1/agent/gw1/alerts", 1, false, "forged")
	select {
	case <-lost:
	case <-time.After(10 * time.Second):
		t.Fatal("a forged QoS 1 publish did not cost the connection")
	}
	publish(t, gw1, "mw/v1/agent/gw1/after")
	expectOnly(t, "mw/v1/agent/gw1/after")
}

func TestForgedWillRefused(t *testing.T) {
	f := startTLSBroker(t, true)
	tests := []struct {
		will string
		ok   bool
	}{
		{"mw/v1/agent/gw2/death", true},
		{"mw/v1/agent/gw1/death", false},
		{"mw/v1/hub/gw2/cmd", false},
	}
	for _, tt := range tests {
		t.Run(tt.will, func(t *testing.T) {
			c := paho.NewClient(paho.NewClientOptions().AddBroker("ssl://"+f.b.TLSAddr()).SetClientID("mw-agent-gw2").
				SetTLSConfig(clientTLS(t, f.ca, f.ca, "gw2")).SetAutoReconnect(false).SetWill(tt.will, "gone", 1, false))
			tok := c.Connect()
			if !tok.WaitTimeout(10 * time.Second) {
				t.Fatal("connect timed out")
			}
			if ok := tok.Error() == nil; ok != tt.ok {
				t.Fatalf("connect with will %s: %v, want ok=%v", tt.will, tok.Error(), tt.ok)
			}
			c.Disconnect(0)
		})
	}
}

func TestRevokeDisconnectsAtOnce(t *testing.T) {
	f := startTLSBroker(t, true)
	cfg := clientTLS(t, f.ca, f.ca, "gw1")
	_, lost := mustConnect(t, f.b.TLSAddr(), "mw-agent-gw1", cfg)
	if n := f.b.Sweep(); n != 0 {
		t.Fatalf("Sweep before revocation disconnected %d", n)
	}
	if _, err := f.ca.Revoke("gw1"); err != nil {
		t.Fatal(err)
	}
	if n := f.b.Sweep(); n != 1 {
		t.Fatalf("Sweep disconnected %d clients, want 1", n)
	}
	select {
	case <-lost:
	case <-time.After(10 * time.Second):
		t.Fatal("the revoked gateway is still connected")
	}
	if _, _, err := connect(t, f.b.TLSAddr(), "mw-agent-gw1", cfg); err == nil {
		t.Fatal("a revoked certificate reconnected")
	}
}

func TestInternalSocket(t *testing.T) {
	sock := t.TempDir() + "/mqtt.sock"
	b, err := broker.New(broker.Options{Addr: "127.0.0.1:0", InternalSocket: sock})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	if b.InternalURL() != "unix://"+sock {
		t.Fatalf("InternalURL = %q", b.InternalURL())
	}
	c := paho.NewClient(paho.NewClientOptions().AddBroker(b.InternalURL()).SetClientID("anything").
		SetConnectRetry(true).SetConnectRetryInterval(10 * time.Millisecond))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect over the internal socket: %v", tok.Error())
	}
	c.Disconnect(0)
}

func TestNoListener(t *testing.T) {
	if _, err := broker.New(broker.Options{NoPlain: true}); err == nil {
		t.Fatal("a broker without any listener: want an error")
	}
}
