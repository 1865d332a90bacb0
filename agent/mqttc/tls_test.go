package mqttc_test

import (
	"context"
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"millwright/agent/mqttc"
	"millwright/hub/broker"
	"millwright/internal/pki"
)

// tlsBroker starts the hub's broker with only its mTLS listener and writes
// a client certificate for gw1 into a directory: ca.crt, gw1.crt, gw1.key.
func tlsBroker(t *testing.T) (addr, dir string) {
	t.Helper()
	ca, err := pki.Open(t.TempDir(), pki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srvCert, srvKey, err := ca.IssueKeyPair(pki.Request{Name: "localhost", Server: true, DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(srvCert, srvKey)
	if err != nil {
		t.Fatal(err)
	}
	b, err := broker.New(broker.Options{NoPlain: true, TLS: &broker.TLSOptions{Addr: "127.0.0.1:0", Config: ca.ServerTLS(pair), Revoked: ca.Revoked}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	dir = t.TempDir()
	certPEM, keyPEM, err := ca.IssueKeyPair(pki.Request{Name: "gw1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{
		pki.WriteFile(filepath.Join(dir, "ca.crt"), ca.CertPEM()),
		pki.WriteFile(filepath.Join(dir, "gw1.crt"), certPEM),
		pki.WriteKeyFile(filepath.Join(dir, "gw1.key"), keyPEM),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return b.TLSAddr(), dir
}

func TestConnectWithClientCertificate(t *testing.T) {
	addr, dir := tlsBroker(t)
	url, err := mqttc.TLSURL("mqtts://"+addr, filepath.Join(dir, "ca.crt"), filepath.Join(dir, "gw1.crt"), filepath.Join(dir, "gw1.key"))
	if err != nil {
		t.Fatal(err)
	}
	connected := make(chan struct{})
	var once sync.Once
	got := make(chan string, 1)
	c, err := mqttc.New(mqttc.Options{
		BrokerURL: url, ClientID: "mw-agent-gw1",
		Subscriptions: []mqttc.Subscription{{Topic: "mw/v1/telemetry/gw1/+", QoS: 1}},
		OnMessage:     func(topic string, _ []byte) { got <- topic },
		OnConnect:     func(context.Context) { once.Do(func() { close(connected) }) },
	})
	if err != nil {
		t.Fatal(err)
	}
	c.Start()
	t.Cleanup(func() { c.Close(100 * time.Millisecond) })
	select {
	case <-connected:
	case <-time.After(10 * time.Second):
		t.Fatal("no TLS connection within 10s")
	}
	if err := c.Publish(t.Context(), "mw/v1/telemetry/gw1/pump-1", 1, false, []byte("x")); err != nil {
		t.Fatal(err)
	}
	select {
	case topic := <-got:
		if topic != "mw/v1/telemetry/gw1/pump-1" {
			t.Fatalf("got %q", topic)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("own telemetry did not come back over TLS")
	}
}

func TestTLSURLRefusals(t *testing.T) {
	_, dir := tlsBroker(t)
	ca, cert, key := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "gw1.crt"), filepath.Join(dir, "gw1.key")
	loose := filepath.Join(t.TempDir(), "loose.key")
	b, err := os.ReadFile(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(loose, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := mqttc.TLSURL("tcp://127.0.0.1:1883", ca, cert, key); err == nil {
		t.Error("TLSURL accepted a tcp:// broker")
	}
	tests := []struct {
		name, url, want string
	}{
		{"key readable by others", "mqtts://127.0.0.1:8883?ca=" + ca + "&cert=" + cert + "&key=" + loose, "key file"},
		{"missing key", "mqtts://127.0.0.1:8883?ca=" + ca + "&cert=" + cert, "required"},
		{"plain scheme", "tcp://127.0.0.1:1883?ca=" + ca + "&cert=" + cert + "&key=" + key, "mqtts"},
		{"missing CA file", "mqtts://127.0.0.1:8883?ca=/nonexistent/ca.crt&cert=" + cert + "&key=" + key, "CA file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := mqttc.New(mqttc.Options{BrokerURL: tt.url, ClientID: "x"})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New: err = %v, want one saying %q", err, tt.want)
			}
		})
	}
}
