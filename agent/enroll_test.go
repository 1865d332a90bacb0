package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"millwright/agent/config"
	hubconfig "millwright/hub/config"
	"millwright/hub/enroll"
	"millwright/internal/pki"
)

func TestEnrollCommand(t *testing.T) {
	ca, err := pki.Open(t.TempDir(), pki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	hub := httptest.NewServer(enroll.NewHandler(ca, nil))
	t.Cleanup(hub.Close)
	token := func(gw string) string {
		tok, _, err := ca.NewToken(gw, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}

	dir := t.TempDir()
	var out bytes.Buffer
	if err := runEnroll(t.Context(), []string{"--hub", hub.URL, "--token", token("gw1"), "--gateway", "gw1", "--dir", dir, "--ca-hash", ca.Fingerprint()}, &out); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, "gw1.key"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %o, want 600", st.Mode().Perm())
	}
	// The files make a configuration that loads, and the broker URL
	// carries them to the MQTT client.
	cfgFile := filepath.Join(t.TempDir(), "agent.yaml")
	yaml := "gateway: gw1\nbroker: mqtts://127.0.0.1:8883\nmqtt:\n  tls:\n    ca: " + filepath.Join(dir, "ca.crt") +
		"\n    cert: " + filepath.Join(dir, "gw1.crt") + "\n    key: " + filepath.Join(dir, "gw1.key") + "\n"
	if err := os.WriteFile(cfgFile, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if u := cfg.BrokerURL(); !strings.HasPrefix(u, "mqtts://127.0.0.1:8883?") || !strings.Contains(u, "gw1.key") {
		t.Fatalf("BrokerURL = %q", u)
	}
	if !strings.Contains(out.String(), "mqtt:") {
		t.Fatalf("no config snippet printed:\n%s", out.String())
	}
	t.Setenv("MW_TEST_TOKEN", token("gw3"))

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"token from the environment", []string{"--hub", hub.URL, "--token", "env:MW_TEST_TOKEN", "--gateway", "gw3", "--dir", t.TempDir()}, ""},
		{"unknown token", []string{"--hub", hub.URL, "--token", "mwe_nope", "--gateway", "gw1", "--dir", t.TempDir()}, "401"},
		{"token of another gateway", []string{"--hub", hub.URL, "--token", token("gw2"), "--gateway", "gw1", "--dir", t.TempDir()}, "403"},
		{"CA hash mismatch", []string{"--hub", hub.URL, "--token", token("gw1"), "--gateway", "gw1", "--dir", t.TempDir(), "--ca-hash", strings.Repeat("0", 64)}, "not the expected"},
		{"plain http to another host", []string{"--hub", "http://hub.example:8080", "--token", "x", "--gateway", "gw1"}, "loopback"},
		{"existing key", []string{"--hub", hub.URL, "--token", token("gw1"), "--gateway", "gw1", "--dir", dir}, "--force"},
		{"missing token", []string{"--hub", hub.URL, "--gateway", "gw1"}, "required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := runEnroll(t.Context(), tt.args, &bytes.Buffer{})
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one saying %q", err, tt.want)
			}
		})
	}
}

func TestAgentTLSConfigRefusals(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "gw1.key")
	if err := os.WriteFile(key, []byte("k"), 0o644); err != nil {
		t.Fatal(err)
	}
	crt := filepath.Join(dir, "gw1.crt")
	if err := os.WriteFile(crt, []byte("c"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		broker string
		tls    config.ClientTLS
		want   string
	}{
		{"partial", "mqtts://h:8883", config.ClientTLS{CA: crt}, "set ca, cert and key"},
		{"plain broker", "tcp://h:1883", config.ClientTLS{CA: crt, Cert: crt, Key: key}, "must be mqtts"},
		{"loose key", "mqtts://h:8883", config.ClientTLS{CA: crt, Cert: crt, Key: key}, "mqtt.tls.key"},
		{"missing CA", "mqtts://h:8883", config.ClientTLS{CA: filepath.Join(dir, "nope"), Cert: crt, Key: key}, "mqtt.tls.ca"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := config.Default()
			c.Broker, c.MQTT.TLS = tt.broker, tt.tls
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate: %v, want %q", err, tt.want)
			}
		})
	}
}

// TestEnrollPinnedHTTPS enrols against a hub whose HTTPS certificate its
// own CA issued (http.tls.hosts): the CA hash printed by `hub enroll` is
// all the gateway needs to trust it.
func TestEnrollPinnedHTTPS(t *testing.T) {
	cfg := hubconfig.Default()
	cfg.DataDir = t.TempDir()
	cfg.HTTP.TLS.Hosts = []string{"127.0.0.1"}
	sec, err := enroll.Open(enroll.FromConfig(cfg), cfg.DataDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	hub := httptest.NewUnstartedServer(sec.Mount(http.NotFoundHandler()))
	hub.Listener = sec.HTTPListener(hub.Listener)
	hub.Start()
	t.Cleanup(hub.Close)
	url := "https://" + hub.Listener.Addr().String()
	token := func() string {
		tok, _, err := sec.CA().NewToken("gw1", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	other, err := pki.Open(t.TempDir(), pki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		hash string
		ok   bool
	}{
		{"pinned hub CA", sec.CA().Fingerprint(), true},
		{"pinned hub CA, sha256: prefix", "sha256:" + sec.CA().Fingerprint(), true},
		{"another CA's hash", other.Fingerprint(), false},
		{"no pin: system roots do not know the hub", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"--hub", url, "--token", token(), "--gateway", "gw1", "--dir", t.TempDir()}
			if tt.hash != "" {
				args = append(args, "--ca-hash", tt.hash)
			}
			err := runEnroll(t.Context(), args, &bytes.Buffer{})
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}
