package store_test

import (
	"fmt"
	"testing"
	"time"

	"millwright/wire"
)

// BenchmarkMachines lists a fleet of 5,000 machines (100 gateways × 50)
// with a score each and 500 open alerts: the UI's first view.
func BenchmarkMachines(b *testing.B) {
	s := open(b, b.TempDir())
	ctx := b.Context()
	for g := range 100 {
		gw := fmt.Sprintf("gw%03d", g)
		birth := &wire.Birth{Env: wire.Envelope{Version: 1, Sender: gw, Seq: 1}}
		m := &wire.Metrics{Env: wire.Envelope{Version: 1, Sender: gw, Seq: 2, Time: time.Now().UnixNano()}}
		for i := range 50 {
			id := fmt.Sprintf("m%02d", i)
			birth.Machines = append(birth.Machines, wire.MachineInfo{ID: id, Type: "pump", Site: "s", Line: "l", Sensors: []string{"a", "b", "c"}, Model: "hst"})
			m.Series = append(m.Series, wire.ModelMetric{Machine: id, Model: "hst", Role: wire.RoleChampion, Count: 1, ScoreLast: 0.5, Threshold: 0.9})
		}
		if _, err := s.IngestBirth(ctx, birth, time.Now()); err != nil {
			b.Fatal(err)
		}
		if _, err := s.IngestMetrics(ctx, m, time.Now()); err != nil {
			b.Fatal(err)
		}
		for i := range 5 {
			if _, err := s.IngestAlert(ctx, &wire.Alert{Env: wire.Envelope{Version: 1, Sender: gw, Seq: 10 + uint64(i)}, ID: fmt.Sprint(gw, i), Machine: fmt.Sprintf("m%02d", i)}, time.Now()); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		ms, err := s.Machines(ctx)
		if err != nil || len(ms) != 5000 {
			b.Fatalf("%d machines, %v", len(ms), err)
		}
	}
}
