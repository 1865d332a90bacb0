package ingest

import (
	"fmt"
	"testing"

	"millwright/wire"
)

func BenchmarkProcessMetrics(b *testing.B) {
	for _, n := range []int{1, 64} {
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) { benchProcess(b, n) })
	}
}

// benchProcess measures batches of batchSize metrics messages (6 series
// each) decoded, stored durably in one commit and acked.
func benchProcess(b *testing.B, batchSize int) {
	in, _ := newTestIngest(b)
	m := &wire.Metrics{Env: wire.Envelope{Sender: "gw"}, IntervalNs: 5e9}
	for _, id := range []string{"m1", "m2", "m3", "m4", "m5", "m6"} {
		m.Series = append(m.Series, wire.ModelMetric{Machine: id, Model: "hst", Role: wire.RoleChampion, Count: 100, ScoreLast: 0.3})
	}
	topic := wire.AgentTopic("gw", wire.LeafMetrics)
	b.ReportAllocs()
	var seq uint64
	batch := make([]inbound, 0, batchSize)
	for b.Loop() {
		batch = batch[:0]
		for range batchSize {
			seq++
			m.Env.Seq = seq
			payload, err := wire.Marshal(m)
			if err != nil {
				b.Fatal(err)
			}
			batch = append(batch, inbound{topic: topic, payload: payload})
		}
		in.process(b.Context(), batch)
	}
	if s := in.Stats(); s.Ingested != seq {
		b.Fatalf("ingested %d of %d", s.Ingested, seq)
	}
}
