package reorder

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

const ms = int64(time.Millisecond)

// seq makes n readings 10ms apart, Seq 1..n, value = index.
func seqItems(n int) []Item[float64] {
	items := make([]Item[float64], n)
	for i := range items {
		items[i] = Item[float64]{Time: int64(i+1) * 10 * ms, Seq: uint64(i + 1), V: float64(i)}
	}
	return items
}

// shuffleWithin moves about frac of the items later by fewer than maxShift
// positions (so each stays within the lateness of the greatest time before it).
func shuffleWithin(r *rand.Rand, items []Item[float64], frac float64, maxShift int) {
	moved := make([]bool, len(items))
	for i := range items {
		if moved[i] || r.Float64() >= frac {
			continue
		}
		j := min(len(items)-1, i+1+r.IntN(maxShift))
		if moved[j] {
			continue
		}
		items[i], items[j] = items[j], items[i]
		moved[i], moved[j] = true, true
	}
}

func pushAll(b *Buffer[float64], in []Item[float64]) (out []Item[float64], results map[Result]int) {
	results = map[Result]int{}
	for _, it := range in {
		var r Result
		out, r = b.Push(it, out)
		results[r]++
	}
	return b.Drain(out), results
}

func isSorted(items []Item[float64]) bool {
	return slices.IsSortedFunc(items, func(a, b Item[float64]) int {
		if a.Time < b.Time {
			return -1
		}
		if a.Time > b.Time {
			return 1
		}
		return 0
	})
}

func TestShuffledWithinLatenessComesOutSortedAndComplete(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3, 42, 1234} {
		r := rand.New(rand.NewPCG(seed, seed))
		in := seqItems(5000)
		// Displacements of at most 4 positions (40ms) against 100ms lateness.
		shuffleWithin(r, in, 0.15, 4)
		if isSorted(in) {
			t.Fatalf("seed %d: input not shuffled", seed)
		}
		b := NewBuffer[float64](Options{Lateness: 100 * time.Millisecond})
		out, res := pushAll(b, in)
		if len(out) != len(in) || res[Buffered] != len(in) {
			t.Fatalf("seed %d: released %d of %d, results %v", seed, len(out), len(in), res)
		}
		if !isSorted(out) {
			t.Fatalf("seed %d: output not sorted", seed)
		}
		for i, it := range out {
			if it.V != float64(i) || it.Late {
				t.Fatalf("seed %d: out[%d] = %+v", seed, i, it)
			}
		}
		if st := b.Stats(); st.Late+st.Dropped+st.Duplicates+st.Overflow != 0 || st.Released != uint64(len(in)) {
			t.Fatalf("seed %d: stats %+v", seed, st)
		}
	}
}

// TestRandomPermutationProperty feeds a seeded random permutation of a
// sorted stream: whatever the order, every reading is accounted for exactly
// once, the in-order releases are sorted, and no reading is late unless it
// arrived behind the watermark.
func TestRandomPermutationProperty(t *testing.T) {
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 7))
		n := 1 + r.IntN(500)
		in := seqItems(n)
		r.Shuffle(len(in), func(i, j int) { in[i], in[j] = in[j], in[i] })
		lateness := time.Duration(r.IntN(50)) * 10 * time.Millisecond
		for _, pol := range []LatePolicy{ScoreOnly, Drop} {
			b := NewBuffer[float64](Options{Lateness: lateness, Late: pol})
			var out []Item[float64]
			maxSeen := int64(-1 << 63)
			wantLate := 0
			for _, it := range in {
				var res Result
				floor := max(b.floor, b.Watermark())
				out, res = b.Push(it, out)
				late := it.Time <= floor
				if late {
					wantLate++
				}
				if late != (res == Late || res == Dropped) {
					t.Fatalf("seed %d: item %d at %d floor %d got %v", seed, it.Seq, it.Time, floor, res)
				}
				maxSeen = max(maxSeen, it.Time)
			}
			out = b.Drain(out)
			st := b.Stats()
			if int(st.Late+st.Dropped) != wantLate || st.Duplicates != 0 || st.Accepted+st.Late+st.Dropped != uint64(n) {
				t.Fatalf("seed %d %v: stats %+v, want %d late", seed, pol, st, wantLate)
			}
			var inOrder []Item[float64]
			seen := map[uint64]bool{}
			for _, it := range out {
				if seen[it.Seq] {
					t.Fatalf("seed %d: %d released twice", seed, it.Seq)
				}
				seen[it.Seq] = true
				if !it.Late {
					inOrder = append(inOrder, it)
				}
			}
			if !isSorted(inOrder) {
				t.Fatalf("seed %d %v: in-order releases not sorted", seed, pol)
			}
			wantOut := n
			if pol == Drop {
				wantOut -= wantLate
			}
			if len(out) != wantOut {
				t.Fatalf("seed %d %v: released %d, want %d", seed, pol, len(out), wantOut)
			}
		}
	}
}

func TestLatePolicy(t *testing.T) {
	tests := []struct {
		name     string
		policy   LatePolicy
		wantRes  Result
		wantOut  int
		wantLate bool
	}{
		{"score only releases flagged", ScoreOnly, Late, 1, true},
		{"drop discards", Drop, Dropped, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := NewBuffer[float64](Options{Lateness: 50 * time.Millisecond, Late: tt.policy})
			var out []Item[float64]
			for _, at := range []int64{100, 200, 300} {
				out, _ = b.Push(Item[float64]{Time: at * ms}, out)
			}
			// Watermark is 250ms: 100 and 200 released, 300 buffered.
			if len(out) != 2 || b.Watermark() != 250*ms || b.Len() != 1 {
				t.Fatalf("before: out %d watermark %d len %d", len(out), b.Watermark(), b.Len())
			}
			// 240ms is 60ms behind the newest: beyond the lateness.
			got, res := b.Push(Item[float64]{Time: 240 * ms, V: 7}, nil)
			if res != tt.wantRes || len(got) != tt.wantOut {
				t.Fatalf("late push: %v, %d out; want %v, %d", res, len(got), tt.wantRes, tt.wantOut)
			}
			if tt.wantOut == 1 && (got[0].Late != tt.wantLate || got[0].V != 7) {
				t.Fatalf("late item %+v", got[0])
			}
			st := b.Stats()
			if st.Late+st.Dropped != 1 {
				t.Fatalf("late not counted: %+v", st)
			}
			// 260ms is within the lateness: buffered and released in order.
			got, res = b.Push(Item[float64]{Time: 260 * ms}, nil)
			if res != Buffered || len(got) != 0 {
				t.Fatalf("in-lateness push: %v %d", res, len(got))
			}
			got = b.Drain(nil)
			if len(got) != 2 || got[0].Time != 260*ms || got[1].Time != 300*ms {
				t.Fatalf("drain %+v", got)
			}
		})
	}
}

func TestDuplicates(t *testing.T) {
	tests := []struct {
		name string
		dup  Item[float64]
	}{
		{"same time buffered", Item[float64]{Time: 300 * ms, Seq: 99}},
		{"same seq buffered", Item[float64]{Time: 310 * ms, Seq: 3}},
		{"same time released", Item[float64]{Time: 100 * ms, Seq: 98}},
		{"same seq released", Item[float64]{Time: 330 * ms, Seq: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := NewBuffer[float64](Options{Lateness: 150 * time.Millisecond})
			var out []Item[float64]
			for i, at := range []int64{100, 200, 300} {
				out, _ = b.Push(Item[float64]{Time: at * ms, Seq: uint64(i + 1)}, out)
			}
			// Watermark 150ms: 100 released.
			if len(out) != 1 {
				t.Fatalf("released %d before the duplicate", len(out))
			}
			got, res := b.Push(tt.dup, nil)
			if res != Duplicate || len(got) != 0 {
				t.Fatalf("got %v, %d out", res, len(got))
			}
			if st := b.Stats(); st.Duplicates != 1 || st.Accepted != 3 {
				t.Fatalf("stats %+v", st)
			}
			if got := b.Drain(nil); len(got) != 2 {
				t.Fatalf("drain: %d", len(got))
			}
		})
	}
}

func TestOverflowForcesOldestOut(t *testing.T) {
	b := NewBuffer[float64](Options{Lateness: time.Hour, MaxBuffered: 4})
	var out []Item[float64]
	for i := range 6 {
		out, _ = b.Push(Item[float64]{Time: int64(10-i) * ms}, out) // descending: all within lateness
	}
	// 10,9,8,7 buffered; 6 is older than all of a full buffer: forced out
	// at once; 5 is then behind the released 6: late.
	st := b.Stats()
	if st.Overflow != 1 || st.Late != 1 || b.Len() != 4 {
		t.Fatalf("stats %+v len %d", st, b.Len())
	}
	if st.Overflow+st.Late+uint64(b.Len()) != 6 {
		t.Fatalf("readings unaccounted: %+v len %d", st, b.Len())
	}
	out = b.Drain(out)
	var inOrder []Item[float64]
	for _, it := range out {
		if !it.Late {
			inOrder = append(inOrder, it)
		}
	}
	if len(out) != 6 || !isSorted(inOrder) {
		t.Fatalf("out %+v", out)
	}

	// Ascending input past the bound: the oldest go first, in order.
	b = NewBuffer[float64](Options{Lateness: time.Hour, MaxBuffered: 3})
	out = out[:0]
	for i := range 10 {
		out, _ = b.Push(Item[float64]{Time: int64(i+1) * ms}, out)
	}
	if len(out) != 7 || !isSorted(out) || b.Stats().Overflow != 7 || b.Len() != 3 {
		t.Fatalf("ascending: out %d stats %+v", len(out), b.Stats())
	}
}

func TestIdleFlush(t *testing.T) {
	b := NewBuffer[float64](Options{Lateness: time.Minute, Idle: 2 * time.Second})
	sec := int64(time.Second)
	var out []Item[float64]
	for i := range 3 {
		out, _ = b.Push(Item[float64]{Time: int64(i+1) * sec}, out)
	}
	if len(out) != 0 {
		t.Fatalf("released %d before idle", len(out))
	}
	steps := []struct {
		now  int64
		want int
	}{
		{100 * sec, 0}, // first flush after pushes starts the quiet period
		{101 * sec, 0},
		{102 * sec, 3}, // quiet for Idle
		{103 * sec, 0},
	}
	for _, s := range steps {
		got := b.Flush(s.now, nil)
		if len(got) != s.want {
			t.Fatalf("flush at %d: %d released, want %d", s.now/sec, len(got), s.want)
		}
	}
	if b.Stats().Idle != 3 {
		t.Fatalf("stats %+v", b.Stats())
	}
	// After an idle flush, an older reading is late.
	if _, res := b.Push(Item[float64]{Time: 2*sec + 1}, nil); res != Late {
		t.Fatalf("after flush: %v", res)
	}
}

func TestSet(t *testing.T) {
	s := NewSet[float64](SetOptions{Options: Options{Lateness: 20 * time.Millisecond}, MaxSensors: 2})
	var out []Released[float64]
	name := []byte("temp")
	for i, at := range []int64{30, 10, 20, 60} {
		var err error
		out, _, err = s.Push(string(name), Item[float64]{Time: at * ms, Seq: uint64(i + 1)}, out)
		if err != nil {
			t.Fatal(err)
		}
	}
	copy(name, "XXXX") // the Set must not keep the caller's bytes
	out, _, _ = s.Push("vib", Item[float64]{Time: 5 * ms}, out)
	if _, _, err := s.Push("third", Item[float64]{Time: 5 * ms}, out); err != ErrTooManySensors {
		t.Fatalf("third sensor: %v", err)
	}
	out = s.Drain(out)
	var times []int64
	for _, r := range out {
		if r.Sensor == "temp" {
			times = append(times, r.Time/ms)
		}
	}
	if !slices.Equal(times, []int64{10, 20, 30, 60}) {
		t.Fatalf("temp released %v", times)
	}
	if s.Buffer("temp") == nil || s.Buffer("XXXX") != nil || s.Stats().Released != 5 {
		t.Fatalf("stats %+v", s.Stats())
	}
}

func TestPushAllocatesNothing(t *testing.T) {
	b := NewBuffer[float64](Options{Lateness: 50 * time.Millisecond, MaxBuffered: 64})
	r := rand.New(rand.NewPCG(1, 1))
	in := seqItems(4096)
	shuffleWithin(r, in, 0.15, 3)
	out := make([]Item[float64], 0, 64)
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		out, _ = b.Push(in[i%len(in)], out[:0])
		i++
	})
	if allocs != 0 {
		t.Fatalf("%v allocs per Push", allocs)
	}
}

func BenchmarkPush(b *testing.B) {
	for _, bc := range []struct {
		name string
		frac float64
	}{{"inorder", 0}, {"shuffled15", 0.15}} {
		b.Run(bc.name, func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 1))
			in := seqItems(1 << 16)
			shuffleWithin(r, in, bc.frac, 8)
			buf := NewBuffer[float64](Options{Lateness: 100 * time.Millisecond})
			out := make([]Item[float64], 0, 64)
			i := 0
			var base int64
			b.ReportAllocs()
			for b.Loop() {
				it := in[i]
				it.Time += base
				it.Seq += uint64(base)
				out, _ = buf.Push(it, out[:0])
				i++
				if i == len(in) {
					i = 0
					base += in[len(in)-1].Time + int64(time.Second)
				}
			}
		})
	}
}

func BenchmarkSetPush(b *testing.B) {
	s := NewSet[float64](SetOptions{Options: Options{Lateness: 100 * time.Millisecond}})
	sensors := []string{"temp", "vib", "current", "voltage"}
	out := make([]Released[float64], 0, 64)
	var t0 int64
	b.ReportAllocs()
	for b.Loop() {
		t0 += ms
		out, _, _ = s.Push(sensors[t0/ms%4], Item[float64]{Time: t0}, out[:0])
	}
}

func TestLatePolicyText(t *testing.T) {
	for _, p := range []LatePolicy{ScoreOnly, Drop} {
		var got LatePolicy
		if err := got.UnmarshalText([]byte(p.String())); err != nil || got != p {
			t.Errorf("%v: %v, %v", p, got, err)
		}
	}
	var p LatePolicy
	if err := p.UnmarshalText([]byte("keep")); err == nil {
		t.Error("keep parsed")
	}
}

func TestExtremeTimesDoNotWrap(t *testing.T) {
	b := NewBuffer[float64](Options{Lateness: time.Second})
	out, res := b.Push(Item[float64]{Time: math.MinInt64 + 5}, nil)
	if res != Buffered || b.Watermark() != math.MinInt64 {
		t.Fatalf("%v watermark %d", res, b.Watermark())
	}
	out, res = b.Push(Item[float64]{Time: 10 * ms}, out)
	if res != Buffered || len(out) != 1 {
		t.Fatalf("%v, %d out", res, len(out))
	}
	out, _ = b.Push(Item[float64]{Time: math.MaxInt64}, out)
	if out = b.Drain(out); len(out) != 3 || !isSorted(out) {
		t.Fatalf("%+v", out)
	}
}
