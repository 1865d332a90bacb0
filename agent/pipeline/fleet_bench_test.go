package pipeline

import (
	"fmt"
	"runtime"
	"testing"

	"millwright/models/catalog"
	"millwright/wire"
)

// BenchmarkIngestFleet is the agent's sustained ingest at the size of a
// busy gateway: 50 assets of 4 sensors (200 sensors), each asset scored by
// three models (the default champion, its learning twin and one
// challenger), one CBOR message of 4 readings per asset in turn, through
// decode, reorder and the alert logic. It reports readings per second on
// one goroutine, and the heap in use once the fleet's models exist (the
// benchmark's own payloads included).
func BenchmarkIngestFleet(b *testing.B) {
	const assets, sensors = 50, 4
	p, _ := newTest(b, Options{NewDetector: catalog.New, Learn: 1})
	p.opts.Model = catalog.Default
	type stream struct {
		topic    string
		payloads [][]byte
		patchers []*timePatcher
	}
	streams := make([]stream, assets)
	for a := range streams {
		id := fmt.Sprintf("m%02d", a)
		st := stream{topic: wire.TelemetryTopic(gw, id)}
		for i := range 64 {
			kv := make([]any, 0, 2*sensors)
			for s := range sensors {
				kv = append(kv, fmt.Sprintf("s%d", s), float64((i*7+s*3+a)%17)+float64(s))
			}
			pl := telemetry(b, id, at(i), kv...)
			st.payloads = append(st.payloads, pl)
			st.patchers = append(st.patchers, newTimePatcher(b, pl, at(i), false))
		}
		for _, pl := range st.payloads {
			p.Handle(st.topic, pl, 0)
		}
		if err := p.Command(&wire.Command{Kind: wire.CmdDeploy, Machine: id, Role: wire.RoleChallenger, Model: catalog.Default}); err != nil {
			b.Fatal(err)
		}
		streams[a] = st
	}
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	heap := float64(ms.HeapAlloc) / (1 << 20)
	b.ReportAllocs()
	i := 64
	n := 0
	for b.Loop() {
		st := &streams[n%assets]
		k := i % len(st.payloads)
		st.patchers[k].set(at(i))
		p.Handle(st.topic, st.payloads[k], 0)
		n++
		if n%assets == 0 {
			i++
		}
	}
	b.ReportMetric(float64(n*sensors)/b.Elapsed().Seconds(), "readings/s")
	b.ReportMetric(heap, "heap-MB")
	checkAllScored(b, p)
}
