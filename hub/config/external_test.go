package config_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"millwright/hub/config"
	"millwright/internal/pki"
)

func TestExternalFixtures(t *testing.T) {
	got, err := config.Load(filepath.Join("testdata", "external", "good.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := config.ClientTLS{CA: "/etc/millwright-hub/mqtt/ca.crt", Cert: "/etc/millwright-hub/mqtt/hub-1.crt", Key: "/etc/millwright-hub/mqtt/hub-1.key"}
	if got.MQTT.ClientTLS != want || got.MQTT.ReplicaID() != "hub-1" || got.MQTT.ReplicaClientID() != "millwright-hub-hub-1" {
		t.Fatalf("got %+v, replica %q, client id %q", got.MQTT.ClientTLS, got.MQTT.ReplicaID(), got.MQTT.ReplicaClientID())
	}
	for file, wantErr := range map[string]string{
		"embedded.bad.yaml":    "mqtt.client_tls: only for an external broker",
		"no-key.bad.yaml":      "mqtt.client_tls.key: must be set",
		"plain-url.bad.yaml":   "mqtt.broker: \"tcp://mqtt.plant.local:1883\": mqtt.client_tls needs",
		"bad-replica.bad.yaml": "mqtt.replica",
	} {
		t.Run(file, func(t *testing.T) {
			_, err := config.Load(filepath.Join("testdata", "external", file))
			if err == nil || !strings.Contains(err.Error(), wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, wantErr)
			}
		})
	}
}

func TestReplicaID(t *testing.T) {
	tests := []struct {
		name string
		mqtt config.MQTT
		want string // "*" : hostname-pid
	}{
		{"embedded broker", config.MQTT{ClientID: "millwright-hub"}, ""},
		{"embedded broker, named", config.MQTT{ClientID: "millwright-hub", Replica: "a"}, "a"},
		{"external broker, named", config.MQTT{ClientID: "millwright-hub", Broker: "tcp://b:1883", Replica: "a"}, "a"},
		{"external broker", config.MQTT{ClientID: "millwright-hub", Broker: "tcp://b:1883"}, "*"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.mqtt.ReplicaID()
			if tt.want == "*" {
				if !strings.HasSuffix(got, "-"+strconv.Itoa(os.Getpid())) {
					t.Fatalf("ReplicaID() = %q, want <host>-%d", got, os.Getpid())
				}
			} else if got != tt.want {
				t.Fatalf("ReplicaID() = %q, want %q", got, tt.want)
			}
			id := tt.mqtt.ReplicaClientID()
			if (got == "" && id != "millwright-hub") || (got != "" && id != "millwright-hub-"+got) {
				t.Fatalf("ReplicaClientID() = %q for replica %q", id, got)
			}
		})
	}
}

func TestClientTLSLoad(t *testing.T) {
	ca, err := pki.Open(t.TempDir(), pki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.IssueKeyPair(pki.Request{Name: "hub-1"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c := config.ClientTLS{CA: ca.CertPath(), Cert: filepath.Join(dir, "hub-1.crt"), Key: filepath.Join(dir, "hub-1.key")}
	if err := pki.WriteFile(c.Cert, certPEM); err != nil {
		t.Fatal(err)
	}
	if err := pki.WriteKeyFile(c.Key, keyPEM); err != nil {
		t.Fatal(err)
	}
	cfg, id, err := c.Load()
	if err != nil {
		t.Fatal(err)
	}
	if id != "hub-1" || len(cfg.Certificates) != 1 || cfg.RootCAs == nil {
		t.Fatalf("identity %q, config %+v", id, cfg)
	}
	if err := os.Chmod(c.Key, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Load(); err == nil || !strings.Contains(err.Error(), "mqtt.client_tls") {
		t.Fatalf("a key readable by others: err = %v, want a refusal naming mqtt.client_tls", err)
	}
}
