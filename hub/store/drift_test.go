package store_test

import (
	"testing"
	"time"

	"millwright/hub/store"
	"millwright/wire"
)

func TestDriftStoredOnceAndQueried(t *testing.T) {
	ctx := t.Context()
	s, err := store.Open(ctx, t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	at := time.Unix(1_800_000_000, 0)
	d := &wire.Drift{Env: wire.Envelope{Version: wire.Version, Sender: "gw1", Seq: 7, Time: at.UnixNano()},
		Machine: "m1", Model: "pca", Role: wire.RoleChampion, Detector: "adwin", Signal: "score", Before: 0.1, After: 0.6, Samples: 400}
	for i, wantDup := range []bool{false, true} {
		dup, err := s.IngestDrift(ctx, d, at.Add(time.Second))
		if err != nil || dup != wantDup {
			t.Fatalf("ingest %d: dup %v, err %v; want dup %v", i, dup, err, wantDup)
		}
	}
	tests := []struct {
		name, gw, machine string
		since             time.Time
		want              int
	}{
		{"all", "", "", time.Time{}, 1},
		{"gateway", "gw1", "", time.Time{}, 1},
		{"machine", "gw1", "m1", time.Time{}, 1},
		{"other machine", "gw1", "m2", time.Time{}, 0},
		{"later", "", "", at.Add(time.Minute), 0},
	}
	for _, tt := range tests {
		got, err := s.Drifts(ctx, tt.gw, tt.machine, tt.since, 10)
		if err != nil || len(got) != tt.want {
			t.Fatalf("%s: %d drifts, err %v; want %d", tt.name, len(got), err, tt.want)
		}
		if tt.want == 1 && (got[0].After != 0.6 || got[0].Detector != "adwin" || !got[0].Time.Equal(at)) {
			t.Fatalf("%s: got %+v", tt.name, got[0])
		}
	}
}
