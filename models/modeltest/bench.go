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

// BenchUpdate is the shared score+learn benchmark: d learns n vectors of
// Stream(1, n, dim) first, then b.Loop replays them through Update,
// reporting allocations and CPU time per vector. n must be a power of two.
func BenchUpdate(b *testing.B, d interface{ Update([]float64) float64 }, dim, n int) {
	b.Helper()
	xs := Stream(1, n, dim)
	for _, x := range xs {
		d.Update(x)
	}
	i := 0
	b.ReportAllocs()
	defer ReportCPU(b)()
	for b.Loop() {
		d.Update(xs[i&(n-1)])
		i++
	}
}
