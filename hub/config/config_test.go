package config_test

import (
	"errors"
	"io/fs"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"millwright/hub/config"
	"millwright/internal/conf"
)

func TestGoodFixtures(t *testing.T) {
	full := config.Default()
	full.DataDir = "/var/lib/millwright/hub"
	full.HTTP.Listen = "0.0.0.0:8080"
	full.MQTT = config.MQTT{Listen: "0.0.0.0:1883", ClientID: "hub-a"}
	full.Store.Retention.UnmarshalText([]byte("72h"))
	full.Store.RetentionEvery.UnmarshalText([]byte("30m"))
	full.Ingest.Queue = 4096
	full.StatusEvery.UnmarshalText([]byte("10s"))
	full.Rollout = config.Rollout{Soak: conf.Duration(time.Hour), Every: conf.Duration(30 * time.Second), CanaryPercent: 25,
		Baseline: conf.Duration(48 * time.Hour), ResendAfter: conf.Duration(2 * time.Minute), MaxAttempts: 5,
		Gates:       config.Gates{AlertRateFactor: 2, AlertRateMinJump: 0.02, MinVectors: 500, Silence: conf.Duration(10 * time.Minute), IdleIntervals: 5},
		AutoPromote: config.AutoPromote{Enabled: true, Period: conf.Duration(14 * 24 * time.Hour)}}
	ext := config.Default()
	ext.MQTT.Broker = "tcp://mosquitto.local:1883"
	prod := config.Default()
	prod.HTTP.Listen = "0.0.0.0:8443"
	prod.Auth.Mode, prod.Auth.SessionTTL, prod.Auth.IdleTimeout, prod.Auth.SecureCookies = config.AuthRequired,
		conf.Duration(8*time.Hour), conf.Duration(15*time.Minute), true
	tests := []struct {
		file string
		want config.Config
	}{
		{"", config.Default()},
		{"empty.yaml", config.Default()},
		{"example.yaml", config.Default()}, // documents the defaults: must equal them
		{"full.yaml", full},
		{"external-broker.yaml", ext},
		{"auth-required.yaml", prod},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := tt.file
			if path != "" {
				path = filepath.Join("testdata", path)
			}
			got, err := config.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	d := config.Default()
	if d.StatusEvery.D() != 5*time.Second || d.Store.Retention.D() != 7*24*time.Hour || d.HTTP.Listen != "127.0.0.1:8080" {
		t.Fatalf("defaults = %+v", d)
	}
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestBadFixtures(t *testing.T) {
	tests := map[string]string{
		"unknown-field.bad.yaml":   "field port not found",
		"bad-duration.bad.yaml":    `duration "often"`,
		"bad-listen.bad.yaml":      "http.listen",
		"bad-broker.bad.yaml":      "mqtt.broker",
		"short-retention.bad.yaml": "store.retention",
		"bad-queue.bad.yaml":       "ingest.queue",
		"empty-datadir.bad.yaml":   "data_dir",
		"bad-canary.bad.yaml":      "rollout.canary_percent",
		"auth-off-public.bad.yaml": "auth.mode: off is only allowed with a loopback",
		"bad-auth-mode.bad.yaml":   `auth.mode: "sometimes"`,
		"auth-demo-pw.bad.yaml":    "auth.demo_password",
	}
	files, err := filepath.Glob(filepath.Join("testdata", "*.bad.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(tests) {
		t.Fatalf("%d bad fixtures on disk, %d in the table: pair every fixture with its error", len(files), len(tests))
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			want, ok := tests[name]
			if !ok {
				t.Fatalf("no expected error for %s", name)
			}
			_, err := config.Load(f)
			if err == nil {
				t.Fatal("loaded without error")
			}
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("error %q does not contain %q", err, want)
			}
		})
	}
}

func TestMissingFile(t *testing.T) {
	_, err := config.Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err = %v, want not-exist", err)
	}
}

// TestRepoConfigs loads every hub config shipped in the repository's
// configs/ directory (found relative to this package).
func TestRepoConfigs(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "configs", "hub*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Skip("no configs/hub*.yaml in the repository yet")
	}
	for _, f := range files {
		if _, err := config.Load(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}
