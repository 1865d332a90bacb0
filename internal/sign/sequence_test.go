package sign_test

import (
	"path/filepath"
	"testing"

	"millwright/internal/sign"
)

// Sequences grow across a restart even when the clock (the floor) went
// back.
func TestSequenceSurvivesClockGoingBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys", "sequence")
	s, err := sign.OpenSequence(path, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var last uint64
	for range 3 {
		v, err := s.Next()
		if err != nil {
			t.Fatal(err)
		}
		if v <= last || v <= 1000 {
			t.Fatalf("sequence %d after %d (floor 1000)", v, last)
		}
		last = v
	}
	again, err := sign.OpenSequence(path, 10) // the clock went back
	if err != nil {
		t.Fatal(err)
	}
	v, err := again.Next()
	if err != nil {
		t.Fatal(err)
	}
	if v <= last {
		t.Fatalf("after restart %d, not above %d", v, last)
	}
	later, err := sign.OpenSequence(path, v+1<<30) // the clock far ahead wins
	if err != nil {
		t.Fatal(err)
	}
	if w, _ := later.Next(); w <= v+1<<30 {
		t.Fatalf("floor ignored: %d", w)
	}
}
