package reorder

import (
	"testing"
	"time"
)

// FuzzBuffer drives a Buffer with arbitrary pushes and flushes and checks
// that every reading is accounted for exactly once and that the in-order
// releases come out sorted with no time twice.
func FuzzBuffer(f *testing.F) {
	f.Add([]byte{10, 3, 7, 200, 4, 4, 1, 9}, uint8(5), uint8(4), false)
	f.Add([]byte{1, 2, 3, 255, 0, 0, 5}, uint8(0), uint8(1), true)
	f.Fuzz(func(t *testing.T, ops []byte, lateness, maxBuf uint8, drop bool) {
		pol := ScoreOnly
		if drop {
			pol = Drop
		}
		b := NewBuffer[int](Options{Lateness: time.Duration(lateness), MaxBuffered: int(maxBuf%16) + 1, Late: pol, Idle: 3, DedupWindow: 4})
		var out []Item[int]
		pushed := 0
		now := int64(0)
		for i, op := range ops {
			if op == 255 { // a flush tick
				now++
				out = b.Flush(now, out)
				continue
			}
			pushed++
			out, _ = b.Push(Item[int]{Time: int64(op), V: i}, out)
			if b.Len() > int(maxBuf%16)+1 {
				t.Fatalf("holds %d", b.Len())
			}
		}
		out = b.Drain(out)
		st := b.Stats()
		if st.Accepted+st.Late+st.Dropped+st.Duplicates != uint64(pushed) {
			t.Fatalf("pushed %d, stats %+v", pushed, st)
		}
		if st.Released != uint64(len(out)) || st.Released != st.Accepted+st.Late {
			t.Fatalf("released %d, stats %+v", len(out), st)
		}
		last := int64(-1)
		for _, it := range out {
			if it.Late {
				if pol == Drop {
					t.Fatal("late reading released under Drop")
				}
				continue
			}
			if it.Time <= last {
				t.Fatalf("in-order release %d after %d", it.Time, last)
			}
			last = it.Time
		}
	})
}
