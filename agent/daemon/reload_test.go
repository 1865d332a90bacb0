package daemon

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"millwright/agent/pipeline"
)

func TestReload(t *testing.T) {
	level := new(slog.LevelVar)
	a := newAgent(t, Options{LevelVar: level})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()

	next := a.opts // what a reloaded file gives
	next.Alert = pipeline.AlertOptions{Threshold: 0.95, Clear: 0.5, Critical: 0.999, Consecutive: 2, Cooldown: time.Minute}
	next.MetricsInterval = 2 * time.Second
	next.LogLevel = slog.LevelDebug
	next.BrokerURL = "tcp://elsewhere:1883"
	next.WarmUp = 10
	res, err := a.Reload(t.Context(), next)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"alert", "intervals.metrics", "log_level"}; !slices.Equal(res.Applied, want) {
		t.Errorf("applied %v, want %v", res.Applied, want)
	}
	if want := []string{"broker", "models.warmup"}; !slices.Equal(res.Restart, want) {
		t.Errorf("restart %v, want %v", res.Restart, want)
	}
	if level.Level() != slog.LevelDebug {
		t.Errorf("log level = %v", level.Level())
	}
	// Reloading the same again applies nothing.
	if res, err := a.Reload(t.Context(), next); err != nil || len(res.Applied) != 0 {
		t.Errorf("second reload = %+v, %v", res, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := a.pl.AlertOptions(); got.Threshold != 0.95 || got.Consecutive != 2 {
		t.Errorf("pipeline alert options after reload = %+v", got)
	}
	if _, err := a.Reload(t.Context(), next); err == nil {
		t.Error("Reload after Run returned succeeded")
	}
}
