package enroll_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"millwright/hub/broker"
	"millwright/hub/config"
	"millwright/hub/enroll"
	"millwright/internal/pki"
)

func newCSR(t *testing.T, name string) (csr []byte, key []byte) {
	t.Helper()
	k, err := pki.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	csr, err = pki.NewCSR(k, name)
	if err != nil {
		t.Fatal(err)
	}
	key, err = pki.EncodeKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return csr, key
}

func post(t *testing.T, url string, body any) (*http.Response, []byte) {
	t.Helper()
	var b []byte
	switch v := body.(type) {
	case []byte:
		b = v
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out bytes.Buffer
	if _, err := out.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	return resp, out.Bytes()
}

func TestHandler(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	ca, err := pki.Open(t.TempDir(), pki.Options{Now: func() time.Time { return clock() }})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "login required", http.StatusUnauthorized) })
	srv := httptest.NewServer(enroll.Mount(mux, enroll.NewHandler(ca, nil)))
	t.Cleanup(srv.Close)
	url := srv.URL + enroll.Path

	token := func(gw string, ttl time.Duration) string {
		tok, _, err := ca.NewToken(gw, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	used := token("gw1", time.Hour)
	csr1, _ := newCSR(t, "gw1")
	if resp, body := post(t, url, enroll.Request{Token: used, CSR: string(csr1)}); resp.StatusCode != http.StatusOK {
		t.Fatalf("first enrolment: %d %s", resp.StatusCode, body)
	}
	expired := token("gw1", time.Minute)
	now = now.Add(2 * time.Minute)

	tests := []struct {
		name   string
		body   any
		status int
		errHas string
	}{
		{"ok", enroll.Request{Token: token("gw1", time.Hour), CSR: string(csr1)}, 200, ""},
		{"used token", enroll.Request{Token: used, CSR: string(csr1)}, 401, "already used"},
		{"expired token", enroll.Request{Token: expired, CSR: string(csr1)}, 401, "expired"},
		{"unknown token", enroll.Request{Token: "mwe_guess", CSR: string(csr1)}, 401, "unknown"},
		{"CSR of another gateway", enroll.Request{Token: token("gw2", time.Hour), CSR: string(csr1)}, 403, "CommonName"},
		{"garbage CSR", enroll.Request{Token: token("gw1", time.Hour), CSR: "hello"}, 400, "certificate signing request"},
		{"missing token", enroll.Request{CSR: string(csr1)}, 400, "required"},
		{"bad JSON", []byte("{"), 400, "bad JSON"},
		{"unknown field", []byte(`{"token":"x","csr":"y","admin":true}`), 400, "unknown field"},
		{"too large", []byte(`{"token":"` + strings.Repeat("x", 20000) + `"}`), 413, "over"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := post(t, url, tt.body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, body, tt.status)
			}
			if tt.status != 200 {
				var e struct{ Error string }
				if err := json.Unmarshal(body, &e); err != nil || !strings.Contains(e.Error, tt.errHas) {
					t.Fatalf("error body %s, want it to say %q", body, tt.errHas)
				}
				return
			}
			var r enroll.Response
			if err := json.Unmarshal(body, &r); err != nil {
				t.Fatal(err)
			}
			certs, err := pki.ParseCertificates([]byte(r.Certificate))
			if err != nil || certs[0].Subject.CommonName != "gw1" {
				t.Fatalf("certificate: %v", err)
			}
			if !bytes.Equal([]byte(r.CA), ca.CertPEM()) {
				t.Fatal("response CA is not the hub CA")
			}
		})
	}
	// GET is refused, and other paths go to the wrapped handler.
	if resp, err := http.Get(url); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET: %v %v", resp.StatusCode, err)
	}
	if resp, err := http.Get(srv.URL + "/api/v1/other"); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("other path: %v %v", resp.StatusCode, err)
	}
}

// TestEnrolConnectRevoke runs the whole story against a broker built by
// Security: `hub enroll` prints a token, the gateway enrols over HTTPS,
// connects over mTLS, and `hub revoke` (another Authority on the same
// directory, as another process would be) disconnects it at once.
func TestEnrolConnectRevoke(t *testing.T) {
	dataDir := t.TempDir()
	cfg := config.Default()
	cfg.DataDir = dataDir
	cfg.MQTT.TLS = config.MQTTTLS{Listen: "127.0.0.1:0", Only: true}
	cfg.PKI.RevocationCheck.UnmarshalText([]byte("20ms"))

	// HTTPS with a certificate the test issues from a CA of its own.
	webCA, err := pki.Open(t.TempDir(), pki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := webCA.IssueKeyPair(pki.Request{Name: "127.0.0.1", Server: true, DNSNames: []string{"localhost"}, IPs: nil})
	if err != nil {
		t.Fatal(err)
	}
	webDir := t.TempDir()
	cfg.HTTP.TLS = config.HTTPTLS{Cert: filepath.Join(webDir, "web.crt"), Key: filepath.Join(webDir, "web.key")}
	if err := pki.WriteFile(cfg.HTTP.TLS.Cert, certPEM); err != nil {
		t.Fatal(err)
	}
	if err := pki.WriteKeyFile(cfg.HTTP.TLS.Key, keyPEM); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}

	sec, err := enroll.Open(enroll.FromConfig(cfg), cfg.DataDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	bo, err := sec.BrokerOptions(broker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := broker.New(bo)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 2)
	go func() { done <- b.Run(ctx) }()
	go func() { done <- sec.Run(ctx, b) }()
	t.Cleanup(func() { cancel(); <-done; <-done })

	web := httptest.NewUnstartedServer(sec.Mount(http.NotFoundHandler()))
	web.Listener = sec.HTTPListener(web.Listener)
	web.Start()
	t.Cleanup(web.Close)
	if sec.HTTPScheme() != "https" {
		t.Fatal("http.tls set but the scheme is not https")
	}

	// hub enroll
	var out bytes.Buffer
	cfgFile := filepath.Join(t.TempDir(), "hub.yaml")
	if err := os.WriteFile(cfgFile, []byte("data_dir: "+dataDir+"\nmqtt:\n  tls:\n    listen: 127.0.0.1:8883\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := enroll.Main(t.Context(), "enroll", []string{"--config", cfgFile, "--gateway", "gw1"}, &out); err != nil {
		t.Fatal(err)
	}
	tok := regexp.MustCompile(`mwe_[A-Za-z0-9_-]+`).FindString(out.String())
	if tok == "" || !strings.Contains(out.String(), "agent enroll") || !strings.Contains(out.String(), sec.CA().Fingerprint()) {
		t.Fatalf("hub enroll printed:\n%s", out.String())
	}

	// agent enroll, by hand: over HTTPS trusting the web CA.
	csr, keyPEM := newCSR(t, "gw1")
	body, _ := json.Marshal(enroll.Request{Token: tok, CSR: string(csr)})
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: webCA.Pool(), ServerName: "localhost"}}}
	resp, err := hc.Post("https://"+web.Listener.Addr().String()+enroll.Path, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var r enroll.Response
	err = json.NewDecoder(resp.Body).Decode(&r)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("enrol over HTTPS: %d %v", resp.StatusCode, err)
	}
	pair, err := tls.X509KeyPair([]byte(r.Certificate), keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	// The CA the enrolment returned is the one that verifies the broker.
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM([]byte(r.CA)) {
		t.Fatal("no CA in the enrolment response")
	}
	tcfg := &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: roots, ServerName: "localhost"}

	connect := func() (paho.Client, chan error, error) {
		lost := make(chan error, 1)
		c := paho.NewClient(paho.NewClientOptions().AddBroker("ssl://" + b.TLSAddr()).SetClientID("mw-agent-gw1").
			SetTLSConfig(tcfg).SetAutoReconnect(false).
			SetConnectionLostHandler(func(_ paho.Client, err error) { lost <- err }))
		tok := c.Connect()
		if !tok.WaitTimeout(10 * time.Second) {
			return nil, nil, context.DeadlineExceeded
		}
		return c, lost, tok.Error()
	}
	c, lost, err := connect()
	if err != nil {
		t.Fatalf("enrolled gateway cannot connect: %v", err)
	}
	defer c.Disconnect(0)

	out.Reset()
	if err := enroll.Main(t.Context(), "revoke", []string{"--config", cfgFile, "--gateway", "gw1"}, &out); err != nil {
		t.Fatal(err)
	}
	select {
	case <-lost:
	case <-time.After(10 * time.Second):
		t.Fatal("hub revoke did not disconnect the gateway")
	}
	if _, _, err := connect(); err == nil {
		t.Fatal("a revoked gateway reconnected")
	}
}

func TestCertCommand(t *testing.T) {
	data := t.TempDir()
	tests := []struct {
		name string
		args []string
		file string // written certificate, "" for an error
		eku  x509.ExtKeyUsage
	}{
		{"hub identity", []string{"--name", "hub"}, "hub.crt", x509.ExtKeyUsageClientAuth},
		{"broker server", []string{"--server", "--host", "mqtt.plant.local,10.0.0.5", "--name", "mqtt.plant.local"}, "mqtt.plant.local.crt", x509.ExtKeyUsageServerAuth},
		{"server without host", []string{"--server", "--name", "x"}, "", 0},
		{"name with a slash", []string{"--name", "../x"}, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := t.TempDir()
			err := enroll.Main(t.Context(), "cert", append([]string{"--data", data, "--out", out}, tt.args...), io.Discard)
			if tt.file == "" {
				if err == nil {
					t.Fatal("want an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join(out, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			certs, err := pki.ParseCertificates(b)
			if err != nil {
				t.Fatal(err)
			}
			if len(certs[0].ExtKeyUsage) != 1 || certs[0].ExtKeyUsage[0] != tt.eku {
				t.Fatalf("ExtKeyUsage %v, want %v", certs[0].ExtKeyUsage, tt.eku)
			}
			if _, err := pki.LoadKeyPair(filepath.Join(out, tt.file), filepath.Join(out, strings.TrimSuffix(tt.file, ".crt")+".key")); err != nil {
				t.Fatalf("written pair does not load: %v", err)
			}
		})
	}
}
