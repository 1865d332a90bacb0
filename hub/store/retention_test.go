package store_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"millwright/hub/store"
	"millwright/wire"
)

// TestRunRetention lets fake time pass in a bubble: points age out on the
// retention job's schedule, not before.
func TestRunRetention(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		s, err := store.Open(ctx, dir, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		start := time.Now()
		if _, err := s.IngestMetrics(ctx, &wire.Metrics{Env: wire.Envelope{Version: wire.Version, Sender: "gw1", Seq: 1, Time: start.UnixNano()},
			Series: []wire.ModelMetric{{Machine: "m1", Model: "hst", Role: wire.RoleChampion}}}, start); err != nil {
			t.Fatal(err)
		}
		count := func() int {
			pts, err := s.MetricPoints(ctx, "gw1", "m1", time.Unix(0, 0), 10)
			if err != nil {
				t.Fatal(err)
			}
			return len(pts)
		}
		done := make(chan error, 1)
		go func() { done <- s.RunRetention(ctx, time.Hour, 10*time.Minute) }()
		time.Sleep(55 * time.Minute) // fake time: the job ran at 0,10,…,50m
		synctest.Wait()
		if n := count(); n != 1 {
			t.Fatalf("at 55m: %d points, want 1 (retention is 1h)", n)
		}
		time.Sleep(20 * time.Minute) // the 70m run finds it over an hour old
		synctest.Wait()
		if n := count(); n != 0 {
			t.Fatalf("at 75m: %d points, want 0", n)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}
