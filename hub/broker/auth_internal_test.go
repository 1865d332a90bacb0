package broker

import "testing"

func TestAllowed(t *testing.T) {
	tests := []struct {
		id, topic string
		write     bool
		want      bool
	}{
		{"gw1", "mw/v1/telemetry/gw1/pump-1", true, true},
		{"gw1", "mw/v1/telemetry/gw1", true, true},
		{"gw1", "mw/v1/agent/gw1/alerts", true, true},
		{"gw1", "mw/v1/local/gw1/alerts", true, true},
		{"gw1", "mw/v1/hub/gw1/cmd", true, false},
		{"gw1", "mw/v1/telemetry/gw10/pump-1", true, false},
		{"gw1", "mw/v1/telemetry/gw/pump-1", true, false},
		{"gw1", "mw/v1/agent/gw2/alerts", true, false},
		{"gw1", "mw/v1/agent/+/alerts", true, false},
		{"gw1", "mw/v2/agent/gw1/alerts", true, false},
		{"gw1", "mw/v1/hub/gw1/#", false, true},
		{"gw1", "mw/v1/hub/gw1/cmd", false, true},
		{"gw1", "mw/v1/telemetry/gw1/+", false, true},
		{"gw1", "mw/v1/agent/gw1/#", false, false},
		{"gw1", "mw/v1/local/gw1/#", false, false},
		{"gw1", "mw/v1/hub/+/cmd", false, false},
		{"gw1", "mw/v1/hub/#", false, false},
		{"gw1", "mw/v1/#", false, false},
		{"gw1", "$share/g/mw/v1/hub/gw1/cmd", false, false},
		{"", "mw/v1/telemetry//x", true, false},
	}
	for _, tt := range tests {
		if got := allowed([]byte(tt.id), tt.topic, tt.write); got != tt.want {
			t.Errorf("allowed(%q, %q, write=%v) = %v, want %v", tt.id, tt.topic, tt.write, got, tt.want)
		}
	}
}

func BenchmarkAllowed(b *testing.B) {
	id := []byte("gw1")
	b.ReportAllocs()
	for b.Loop() {
		if !allowed(id, "mw/v1/telemetry/gw1/pump-1", true) {
			b.Fatal("refused")
		}
	}
}
