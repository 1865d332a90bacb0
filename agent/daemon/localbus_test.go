package daemon

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"millwright/agent/localbus"
	"millwright/internal/conf"
)

// An agent with a machine on emulated local buses scores its readings with
// no broker at all: the sensors on the gateway's own buses do not need the
// network.
func TestLocalBusFeedsThePipeline(t *testing.T) {
	var lb localbus.Config
	if err := conf.Load(filepath.Join("..", "localbus", "testdata", "emulated.yaml"), &lb); err != nil {
		t.Fatal(err)
	}
	a := newAgent(t, Options{LocalBus: []localbus.Config{lb}})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	for a.PipelineStats().Vectors < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("no vectors from the local bus within 20s: %+v", a.PipelineStats())
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	var ids []string
	for _, m := range a.pl.Machines() {
		ids = append(ids, m.ID)
	}
	if !slices.Contains(ids, lb.Machine) {
		t.Fatalf("machines %v, want %s", ids, lb.Machine)
	}
}
