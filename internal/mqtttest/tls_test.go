package mqtttest

import (
	"crypto/tls"
	"net"
	"path/filepath"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"millwright/internal/pki"
)

func TestMosquittoTLSRequiresCertificate(t *testing.T) {
	ca, err := pki.Open(t.TempDir(), pki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.IssueKeyPair(pki.Request{Name: "127.0.0.1", Server: true, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "b.crt"), filepath.Join(dir, "b.key")
	if err := pki.WriteFile(cert, certPEM); err != nil {
		t.Fatal(err)
	}
	if err := pki.WriteKeyFile(key, keyPEM); err != nil {
		t.Fatal(err)
	}
	m := StartMosquitto(t, MosquittoOptions{TLS: &MosquittoTLS{CAFile: ca.CertPath(), CertFile: cert, KeyFile: key, CRLFile: ca.CRLPath()}})

	gwCert, gwKey, err := ca.IssueKeyPair(pki.Request{Name: "gw1"})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(gwCert, gwKey)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		certs []tls.Certificate
		ok    bool
	}{
		{"client certificate", []tls.Certificate{pair}, true},
		{"no client certificate", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(m.TLSURL).SetClientID("x").SetAutoReconnect(false).
				SetTLSConfig(&tls.Config{RootCAs: ca.Pool(), Certificates: tt.certs}))
			tok := c.Connect()
			if !tok.WaitTimeout(10 * time.Second) {
				t.Fatal("connect timed out")
			}
			if ok := tok.Error() == nil; ok != tt.ok {
				t.Fatalf("connect: %v, want ok=%v", tok.Error(), tt.ok)
			}
			c.Disconnect(0)
		})
	}
}
