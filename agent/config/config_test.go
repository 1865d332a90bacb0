package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"millwright/agent/stream/reorder"
)

func TestLoadGood(t *testing.T) {
	c, err := Load(filepath.Join("testdata", "good.yaml"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.Gateway != "gw1" || c.Broker != "tcp://10.0.0.5:1883" || c.HTTP != "0.0.0.0:9100" {
		t.Errorf("top level = %q %q %q", c.Gateway, c.Broker, c.HTTP)
	}
	if c.Alert.Threshold != 0.98 || c.Alert.Clear != 0.85 || c.Alert.Consecutive != 5 || c.Alert.Cooldown.D() != 2*time.Minute {
		t.Errorf("alert = %+v", c.Alert)
	}
	if c.Features.Learn != 20 || c.Intervals.State.D() != 30*time.Second || c.Outbox.MaxBytes != 32<<20 {
		t.Errorf("features %+v intervals %+v outbox %+v", c.Features, c.Intervals, c.Outbox)
	}
}

func TestLoadMinimalKeepsDefaults(t *testing.T) {
	c, err := Load(filepath.Join("testdata", "minimal.yaml"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := Default()
	want.Gateway = "gw2"
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got %+v\nwant %+v", c, want)
	}
}

func TestDefaultsValidWithoutFile(t *testing.T) {
	c, err := Load("")
	if err != nil {
		t.Fatalf("Load(\"\"): %v", err)
	}
	if err := c.RequireGateway(); err == nil || !strings.Contains(err.Error(), "gateway") {
		t.Errorf("RequireGateway without gateway = %v, want an error naming gateway", err)
	}
}

// Every *.bad.yaml fixture must be refused with an error containing its
// expected text, and every fixture in testdata must be listed here.
func TestLoadBad(t *testing.T) {
	cases := map[string]string{
		"unknown_field.bad.yaml":         "field brokr not found",
		"bad_gateway.bad.yaml":           "gateway: \"gw/1\" is not a valid id",
		"unknown_model.bad.yaml":         "model: unknown kind \"nosuch\"",
		"threshold.bad.yaml":             "alert.threshold: 1.5",
		"champion.bad.yaml":              "models.champion: \"sometimes\": want learn, gated or frozen",
		"clear_above_threshold.bad.yaml": "alert.clear: 0.95",
		"consecutive.bad.yaml":           "alert.consecutive: 0",
		"cooldown_unit.bad.yaml":         "duration \"soon\"",
		"metrics_interval.bad.yaml":      "intervals.metrics: 1ms",
		"outbox_small.bad.yaml":          "outbox.max_bytes: 1024",
		"outbox_unit.bad.yaml":           "size \"lots\"",
		"broker_url.bad.yaml":            "broker: \"localhost\"",
		"learn.bad.yaml":                 "features.learn: -1",
		"syntax.bad.yaml":                "yaml:",
		"warmup.bad.yaml":                "models.warmup: 0",
		"challengers.bad.yaml":           "models.max_challengers: 99",
		"local_topic.bad.yaml":           "local.alerts_topic",
		"log_level.bad.yaml":             "loud",
		"drift_gap.bad.yaml":             "drift.min_gap: 1ms",
		"ingest_asset.bad.yaml":          "ingest[0]: topic \"plant/{sensor}\" names no machine",
		"late_policy.bad.yaml":           "late policy \"sometimes\": want score_only or drop",
		"lateness.bad.yaml":              "event_time.lateness: -1s",
		"window_size.bad.yaml":           "features.window.size: 0s",
		"window_step.bad.yaml":           "features.window.step: 3s: want a divisor",
		"derived_syntax.bad.yaml":        "derived[1]: derived signal \"bad\" = \"voltage +\": unexpected token",
		"derived_twice.bad.yaml":         "derived[1]: derived signal \"power\" = \"voltage\": name already used",
		"derived_type.bad.yaml":          "derived[0]: derived signal \"flag\" = \"voltage > 3\": expected float64",
	}
	files, err := filepath.Glob(filepath.Join("testdata", "*.bad.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if _, ok := cases[filepath.Base(f)]; !ok {
			t.Errorf("fixture %s has no expected error in this table", f)
		}
	}
	for name, want := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("testdata", name)
			if _, err := os.Stat(path); err != nil {
				t.Fatalf("fixture missing: %v", err)
			}
			_, err := Load(path)
			if err == nil {
				t.Fatalf("Load(%s) succeeded, want error containing %q", name, want)
			}
			if !strings.Contains(err.Error(), want) {
				t.Errorf("Load(%s) = %q, want it to contain %q", name, err, want)
			}
			if !strings.Contains(err.Error(), name) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

func TestExampleIsTheDefaults(t *testing.T) {
	c, err := Load("example.yaml")
	if err != nil {
		t.Fatalf("Load(example.yaml): %v", err)
	}
	want := Default()
	want.Gateway = "gw1"
	if !reflect.DeepEqual(c, want) {
		t.Errorf("example.yaml drifted from Default():\n got %+v\nwant %+v", c, want)
	}
}

// The example in configs/ is the defaults, like example.yaml.
func TestConfigsAgentYAMLIsTheDefaults(t *testing.T) {
	c, err := Load(filepath.Join("..", "..", "configs", "agent.yaml"))
	if err != nil {
		t.Fatalf("Load(configs/agent.yaml): %v", err)
	}
	want := Default()
	want.Gateway = "gw1"
	if !reflect.DeepEqual(c, want) {
		t.Errorf("configs/agent.yaml drifted from Default():\n got %+v\nwant %+v", c, want)
	}
}

func TestLogLevelAndNewSections(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.yaml")
	os.WriteFile(path, []byte("log_level: debug\nmodels:\n  warmup: 50\n  max_challengers: 2\ndrift:\n  min_gap: 1m\nlocal:\n  alerts_topic: none\n"), 0o600)
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.LogLevel.String() != "DEBUG" || c.Models.WarmUp != 50 || c.Models.MaxChallengers != 2 || c.Drift.MinGap.D() != time.Minute || c.Local.AlertsTopic != "none" {
		t.Errorf("config = %+v", c)
	}
}

func TestLoadEventTimeFeaturesDerived(t *testing.T) {
	c, err := Load(filepath.Join("testdata", "stream.yaml"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.EventTime.Lateness.D() != 500*time.Millisecond || c.EventTime.Late != reorder.Drop || c.EventTime.Idle.D() != 2*time.Second {
		t.Errorf("event_time = %+v", c.EventTime)
	}
	if w := c.Features.Window; w == nil || w.Size.D() != 10*time.Second || w.Step.D() != 5*time.Second {
		t.Errorf("features.window = %+v", w)
	}
	defs := c.DerivedDefs()
	if len(defs) != 2 || defs[0].Name != "power" || defs[0].Expr != "voltage * current" || defs[1].Field != "derived[1]" {
		t.Errorf("derived = %+v", defs)
	}
	if len(c.Ingest) != 1 || c.Ingest[0].Topic != "plant/{line}/{asset}/{sensor}" || c.Ingest[0].JSON.Value != "v" {
		t.Errorf("ingest = %+v", c.Ingest)
	}
	d := Default()
	if d.EventTime.Lateness.D() != 2*time.Second || d.EventTime.Late != reorder.ScoreOnly || d.Features.Window != nil || d.Derived != nil {
		t.Errorf("defaults: event_time %+v window %v derived %v", d.EventTime, d.Features.Window, d.Derived)
	}
}
