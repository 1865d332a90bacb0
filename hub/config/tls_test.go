package config_test

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"millwright/hub/config"
	"millwright/internal/conf"
)

func TestTLSFixtures(t *testing.T) {
	want := config.Default()
	want.HTTP.TLS = config.HTTPTLS{Cert: "/etc/millwright/web.crt", Key: "/etc/millwright/web.key"}
	want.MQTT.TLS = config.MQTTTLS{Listen: "0.0.0.0:8883", Only: true, Hosts: []string{"hub.plant.local", "10.0.0.5"}}
	want.PKI = config.PKI{Dir: "/var/lib/millwright-hub/pki", Validity: conf.Duration(720 * time.Hour),
		TokenTTL: conf.Duration(30 * time.Minute), RevocationCheck: conf.Duration(500 * time.Millisecond)}
	got, err := config.Load(filepath.Join("testdata", "tls", "good.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	if got.PKIDir() != "/var/lib/millwright-hub/pki" || config.Default().PKIDir() != filepath.Join("data", "hub", "pki") {
		t.Fatalf("PKIDir: %q, default %q", got.PKIDir(), config.Default().PKIDir())
	}

	bad := map[string]string{
		"only-without-listen.bad.yaml":  "mqtt.tls.only",
		"cert-without-key.bad.yaml":     "set both cert and key",
		"external-broker.bad.yaml":      "with mqtt.broker set",
		"http-key-only.bad.yaml":        "http.tls",
		"short-validity.bad.yaml":       "pki.validity",
		"bad-tls-listen.bad.yaml":       "mqtt.tls.listen",
		"hosts-with-cert.bad.yaml":      "mqtt.tls.hosts",
		"http-hosts-with-cert.bad.yaml": "http.tls.hosts",
	}
	files, err := filepath.Glob(filepath.Join("testdata", "tls", "*.bad.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(bad) {
		t.Fatalf("%d bad TLS fixtures on disk, %d in the table", len(files), len(bad))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			msg, ok := bad[filepath.Base(f)]
			if !ok {
				t.Fatal("no expected error")
			}
			_, err := config.Load(f)
			if err == nil || !strings.Contains(err.Error(), msg) {
				t.Fatalf("err = %v, want one containing %q", err, msg)
			}
		})
	}
}
