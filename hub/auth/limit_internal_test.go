package auth

import (
	"strconv"
	"testing"
	"time"
)

// TestLimiterBounded sprays keys: the map never grows past MaxKeys, and a
// fresh key still gets its burst.
func TestLimiterBounded(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := NewLimiter(2, time.Hour, 100)
	for i := range 10000 {
		l.Allow("k"+strconv.Itoa(i), t0)
		if len(l.buckets) > 100 {
			t.Fatalf("%d buckets after %d keys, want at most 100", len(l.buckets), i+1)
		}
	}
	if ok, _ := l.Allow("fresh", t0); !ok {
		t.Fatal("a fresh key is refused after a key spray")
	}
}
