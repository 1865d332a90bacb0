package modeltest

import "testing"

// ReportCPU makes a benchmark also report the process CPU time per
// operation ("cpu-ns/op"), which a loaded shared machine inflates far less
// than wall time. Call it before b.Loop and defer the function it returns.
func ReportCPU(b *testing.B) func() {
	start := processCPU()
	return func() {
		if n := b.N; n > 0 && start > 0 {
			b.ReportMetric(float64(processCPU()-start)/float64(n), "cpu-ns/op")
		}
	}
}
