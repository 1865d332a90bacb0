// Package modeltest is the conformance suite every detector of models/
// runs from its own tests: determinism, test-then-train, the [0, 1] score
// range, missing values, exact snapshot round trips, refusal of bad
// snapshots, and that a gross outlier scores high after a normal warm-up.
//
//	func TestConformance(t *testing.T) {
//		modeltest.Run(t, func(dim int, seed uint64) models.Detector {
//			d, _ := mydetector.New(dim, mydetector.Options{Seed: seed})
//			return d
//		})
//	}
//
// FuzzSnapshot is the matching fuzz target for UnmarshalSnapshot.
package modeltest

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"

	"millwright/models"
	"millwright/models/snapshot"
)

// New builds a detector for vectors of dim features from a seed.
type New func(dim int, seed uint64) models.Detector

// Stream returns n vectors of dim features: independent normals with a
// per-feature offset and scale, deterministic for a seed.
func Stream(seed uint64, n, dim int) [][]float64 {
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	off := make([]float64, dim)
	scale := make([]float64, dim)
	for j := range dim {
		off[j] = 100 * r.Float64()
		scale[j] = 0.5 + 2*r.Float64()
	}
	out := make([][]float64, n)
	for i := range out {
		x := make([]float64, dim)
		for j := range x {
			x[j] = off[j] + scale[j]*r.NormFloat64()
		}
		out[i] = x
	}
	return out
}

// withMissing returns a copy of xs where about one feature in ten is NaN,
// +Inf or -Inf.
func withMissing(seed uint64, xs [][]float64) [][]float64 {
	r := rand.New(rand.NewPCG(seed, 7))
	bad := []float64{math.NaN(), math.Inf(1), math.Inf(-1)}
	out := make([][]float64, len(xs))
	for i, x := range xs {
		y := slices.Clone(x)
		for j := range y {
			if r.IntN(10) == 0 {
				y[j] = bad[r.IntN(len(bad))]
			}
		}
		out[i] = y
	}
	return out
}

func snap(t *testing.T, d models.Detector) []byte {
	t.Helper()
	s, ok := d.(models.Snapshotter)
	if !ok {
		t.Fatalf("%T does not implement models.Snapshotter", d)
	}
	b, err := s.MarshalSnapshot()
	if err != nil {
		t.Fatalf("MarshalSnapshot: %v", err)
	}
	return b
}

func checkScore(t *testing.T, what string, i int, p float64) {
	t.Helper()
	if !(p >= 0 && p <= 1) {
		t.Fatalf("%s: vector %d: score %v outside [0, 1]", what, i, p)
	}
}

// Run runs the conformance suite against detectors built by newDetector.
func Run(t *testing.T, newDetector New) {
	t.Helper()
	const seed = 42
	t.Run("Kind", func(t *testing.T) {
		d := newDetector(3, seed)
		if d.Kind() == "" {
			t.Fatal("empty Kind")
		}
		kind, err := snapshot.Kind(snap(t, d))
		if err != nil || kind != d.Kind() {
			t.Fatalf("snapshot kind = %q, %v; want %q", kind, err, d.Kind())
		}
	})
	t.Run("Deterministic", func(t *testing.T) {
		for _, dim := range []int{1, 5} {
			xs := withMissing(3, Stream(seed, 1200, dim))
			a, b := newDetector(dim, seed), newDetector(dim, seed)
			for i, x := range xs {
				pa, pb := a.Update(x), b.Update(x)
				checkScore(t, "Update", i, pa)
				if math.Float64bits(pa) != math.Float64bits(pb) {
					t.Fatalf("dim %d vector %d: scores %v and %v from the same seed", dim, i, pa, pb)
				}
			}
			if want := present(xs); a.Samples() != want {
				t.Errorf("dim %d: Samples = %d after %d vectors with some feature present", dim, a.Samples(), want)
			}
		}
	})
	t.Run("ScoreDoesNotLearn", func(t *testing.T) {
		xs := Stream(seed, 600, 4)
		d := newDetector(4, seed)
		for _, x := range xs[:500] {
			d.Update(x)
		}
		before, n := snap(t, d), d.Samples()
		for i, x := range xs[500:] {
			checkScore(t, "Score", i, d.Score(x))
		}
		if !bytes.Equal(before, snap(t, d)) || d.Samples() != n {
			t.Fatal("Score changed the detector's state")
		}
	})
	t.Run("Missing", func(t *testing.T) {
		const dim = 4
		xs := Stream(seed, 1500, dim)
		a, b := newDetector(dim, seed), newDetector(dim, seed)
		allBad := [][]float64{
			{math.NaN(), math.NaN(), math.NaN(), math.NaN()},
			{math.Inf(1), math.Inf(-1), math.NaN(), math.Inf(1)},
		}
		for i, x := range xs {
			if i%7 == 0 {
				// An all-missing vector is neither learned nor propagated:
				// the twin that never saw it scores identically.
				bad := allBad[i%2]
				checkScore(t, "Update(all missing)", i, a.Update(bad))
				checkScore(t, "Score(all missing)", i, a.Score(bad))
			}
			pa, pb := a.Update(x), b.Update(x)
			if math.Float64bits(pa) != math.Float64bits(pb) {
				t.Fatalf("vector %d: all-missing vectors changed the score: %v vs %v", i, pa, pb)
			}
		}
		if a.Samples() != b.Samples() {
			t.Fatalf("Samples = %d, twin %d: all-missing vectors were learned", a.Samples(), b.Samples())
		}
		c := newDetector(dim, seed)
		for i, x := range withMissing(9, xs) {
			checkScore(t, "Update(partly missing)", i, c.Update(x))
			checkScore(t, "Score(partly missing)", i, c.Score(x))
		}
	})
	t.Run("SnapshotRoundTrip", func(t *testing.T) {
		for _, dim := range []int{1, 6} {
			xs := withMissing(5, Stream(seed+1, 1600, dim))
			for _, cut := range []int{0, 10, 700} {
				a := newDetector(dim, seed)
				for _, x := range xs[:cut] {
					a.Update(x)
				}
				b1 := snap(t, a)
				// Another seed and dimension: everything must come from the snapshot.
				r := newDetector(dim+1, seed+99)
				if err := r.(models.Snapshotter).UnmarshalSnapshot(b1); err != nil {
					t.Fatalf("dim %d cut %d: UnmarshalSnapshot of own snapshot: %v", dim, cut, err)
				}
				if b2 := snap(t, r); !bytes.Equal(b1, b2) {
					t.Fatalf("dim %d cut %d: snapshot of restored detector differs (%d vs %d bytes)", dim, cut, len(b1), len(b2))
				}
				if r.Samples() != a.Samples() || r.Kind() != a.Kind() {
					t.Fatalf("restored Samples/Kind = %d/%s, want %d/%s", r.Samples(), r.Kind(), a.Samples(), a.Kind())
				}
				for i, x := range xs[cut:] {
					pa, pr := a.Update(x), r.Update(x)
					if math.Float64bits(pa) != math.Float64bits(pr) {
						t.Fatalf("dim %d cut %d: vector %d after restore: score %v, uninterrupted %v", dim, cut, i, pr, pa)
					}
				}
			}
		}
	})
	t.Run("SnapshotEveryEarlyStep", func(t *testing.T) {
		// A model saved at any point of its warm-up restores: state that
		// is only valid before the first refresh, decomposition or tree
		// build must be accepted too. The restored model goes on exactly.
		const dim = 6
		xs := Stream(seed+3, 100, dim)
		a := newDetector(dim, seed)
		for cut := range 80 {
			a.Update(xs[cut])
			r := newDetector(dim, seed+7)
			if err := r.(models.Snapshotter).UnmarshalSnapshot(snap(t, a)); err != nil {
				t.Fatalf("snapshot after %d updates refused: %v", cut+1, err)
			}
			if pa, pr := a.Score(xs[cut+1]), r.Score(xs[cut+1]); math.Float64bits(pa) != math.Float64bits(pr) {
				t.Fatalf("after %d updates: restored scores %v, uninterrupted %v", cut+1, pr, pa)
			}
		}
	})
	t.Run("RefuseBadSnapshots", func(t *testing.T) {
		d := newDetector(3, seed)
		for _, x := range Stream(seed, 300, 3) {
			d.Update(x)
		}
		good := snap(t, d)
		other, err := snapshot.Marshal(d.Kind()+"-other", 1, map[string]int{"a": 1})
		if err != nil {
			t.Fatal(err)
		}
		newer, err := snapshot.Marshal(d.Kind(), math.MaxInt32, map[string]int{"a": 1})
		if err != nil {
			t.Fatal(err)
		}
		flipped := slices.Clone(good)
		flipped[len(flipped)/2] ^= 0xff
		cases := []struct {
			name string
			b    []byte
			want error
		}{
			{"empty", nil, snapshot.ErrCorrupt},
			{"garbage", []byte("not a snapshot at all"), snapshot.ErrCorrupt},
			{"truncated", good[:len(good)/2], snapshot.ErrCorrupt},
			{"other kind", other, snapshot.ErrKind},
			{"newer version", newer, snapshot.ErrVersion},
			{"oversized", make([]byte, snapshot.MaxSize+1), snapshot.ErrOversized},
			{"wrong state", mustMarshal(t, d.Kind(), map[string]string{"x": "y"}), snapshot.ErrCorrupt},
			{"flipped byte", flipped, nil}, // may decode; then it must validate or be refused
		}
		for _, c := range cases {
			err := d.(models.Snapshotter).UnmarshalSnapshot(c.b)
			if c.want == nil {
				if err == nil {
					checkScore(t, "after flipped snapshot", 0, d.Update(make([]float64, 3)))
					d.(models.Snapshotter).UnmarshalSnapshot(good)
				}
				continue
			}
			if err == nil {
				t.Errorf("%s: accepted", c.name)
				continue
			}
			if !errors.Is(err, c.want) {
				t.Errorf("%s: error %q does not wrap %q", c.name, err, c.want)
			}
			if after := snap(t, d); !bytes.Equal(after, good) {
				t.Errorf("%s: refused snapshot changed the state", c.name)
			}
		}
	})
	t.Run("Outlier", func(t *testing.T) {
		for _, dim := range []int{1, 8} {
			xs := Stream(seed+2, 3200, dim)
			d := newDetector(dim, seed)
			for _, x := range xs[:3000] {
				d.Update(x)
			}
			var typical []float64
			for _, x := range xs[3000:] {
				typical = append(typical, d.Score(x))
			}
			slices.Sort(typical)
			if med := typical[len(typical)/2]; med > 0.8 {
				t.Errorf("dim %d: median score of typical points %.3f, want low", dim, med)
			}
			if high := typical[len(typical)*9/10]; high > 0.995 {
				t.Errorf("dim %d: 90th percentile score of typical points %.3f, want below 0.995", dim, high)
			}
			out := slices.Clone(xs[3000])
			mean, sd := moments(xs[:3000])
			for j := range out {
				out[j] = mean[j] + 25*sd[j]
			}
			if p := d.Score(out); p <= 0.9 {
				t.Errorf("dim %d: gross outlier scored %.4f, want > 0.9", dim, p)
			}
			if e, ok := d.(models.Explainer); ok {
				c := make([]float64, dim)
				e.Contributions(c)
				for j, v := range c {
					if !(v >= 0) || math.IsInf(v, 0) {
						t.Errorf("dim %d: contribution %d of the outlier is %v, want finite and non-negative", dim, j, v)
					}
				}
			}
		}
	})
}

// present counts the vectors with at least one finite feature.
func present(xs [][]float64) uint64 {
	var n uint64
	for _, x := range xs {
		if slices.ContainsFunc(x, func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }) {
			n++
		}
	}
	return n
}

func mustMarshal(t *testing.T, kind string, state any) []byte {
	t.Helper()
	b, err := snapshot.Marshal(kind, 1, state)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func moments(xs [][]float64) (mean, sd []float64) {
	dim := len(xs[0])
	mean, sd = make([]float64, dim), make([]float64, dim)
	for _, x := range xs {
		for j, v := range x {
			mean[j] += v
		}
	}
	for j := range mean {
		mean[j] /= float64(len(xs))
	}
	for _, x := range xs {
		for j, v := range x {
			sd[j] += (v - mean[j]) * (v - mean[j])
		}
	}
	for j := range sd {
		sd[j] = math.Sqrt(sd[j] / float64(len(xs)))
	}
	return mean, sd
}

// FuzzSnapshot fuzzes UnmarshalSnapshot, seeded with snapshots of a
// detector at several points of a stream. Each input is tried twice: as raw
// bytes, and as one of the seed snapshots with a single number of its
// state replaced (structure-aware, so that the state validation itself is
// exercised, not only the CBOR decoder). A refused input must leave the
// state unchanged; an accepted one must give a working detector whose
// snapshot round-trips.
func FuzzSnapshot(f *testing.F, newDetector New) {
	const dim = 3
	d := newDetector(dim, 1)
	xs := withMissing(2, Stream(1, 400, dim))
	var seeds [][]byte
	for i, x := range xs {
		d.Update(x)
		if i == 0 || i == 50 || i == len(xs)-1 {
			b, err := d.(models.Snapshotter).MarshalSnapshot()
			if err != nil {
				f.Fatal(err)
			}
			seeds = append(seeds, b)
			f.Add(b, uint32(i), int64(i))
		}
	}
	f.Add([]byte{0xa0}, uint32(7), int64(-1))
	f.Fuzz(func(t *testing.T, b []byte, pick uint32, val int64) {
		tryRestore(t, newDetector, dim, b)
		if m := mutate(seeds[int(pick)%len(seeds)], pick/uint32(len(seeds)), val); m != nil {
			tryRestore(t, newDetector, dim, m)
		}
	})
}

func tryRestore(t *testing.T, newDetector New, dim int, b []byte) {
	t.Helper()
	d := newDetector(dim, 1)
	before := snap(t, d)
	s := d.(models.Snapshotter)
	if err := s.UnmarshalSnapshot(b); err != nil {
		if !bytes.Equal(before, snap(t, d)) {
			t.Fatalf("refused snapshot (%v) changed the state", err)
		}
		return
	}
	b1 := snap(t, d)
	r := newDetector(dim, 2)
	if err := r.(models.Snapshotter).UnmarshalSnapshot(b1); err != nil {
		t.Fatalf("re-snapshot of an accepted snapshot refused: %v", err)
	}
	if !bytes.Equal(b1, snap(t, r)) {
		t.Fatal("accepted snapshot does not round-trip")
	}
	x := make([]float64, dim)
	for i := range 20 {
		x[i%dim] += float64(i)
		checkScore(t, "Update after fuzzed snapshot", i, d.Update(x))
		checkScore(t, "Score after fuzzed snapshot", i, d.Score(x))
	}
}

// mutate decodes a snapshot generically, sets its n-th number (counting
// depth first) to a value derived from val, and re-encodes it. It returns
// nil if the snapshot has no numbers.
func mutate(b []byte, n uint32, val int64) []byte {
	var v any
	if err := cbor.Unmarshal(b, &v); err != nil {
		return nil
	}
	var leaves []func()
	special := []float64{math.NaN(), math.Inf(1), math.Inf(-1), -0.0, 1e308, -1e308}
	var walk func(get func() any, set func(any))
	walk = func(get func() any, set func(any)) {
		switch x := get().(type) {
		case map[any]any:
			keys := make([]any, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			// Depth-first in key order, so an input always names the same leaf.
			slices.SortFunc(keys, func(a, b any) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
			for _, k := range keys {
				walk(func() any { return x[k] }, func(nv any) { x[k] = nv })
			}
		case []any:
			for i := range x {
				walk(func() any { return x[i] }, func(nv any) { x[i] = nv })
			}
		case uint64, int64:
			leaves = append(leaves, func() { set(val) })
		case float64, float32:
			leaves = append(leaves, func() {
				if val < 0 && -val <= int64(len(special)) {
					set(special[-val-1])
				} else {
					set(float64(val) / 8)
				}
			})
		}
	}
	walk(func() any { return v }, func(nv any) { v = nv })
	if len(leaves) == 0 {
		return nil
	}
	leaves[int(n)%len(leaves)]()
	em, err := cbor.CoreDetEncOptions().EncMode() // sorted keys: deterministic
	if err != nil {
		return nil
	}
	out, err := em.Marshal(v)
	if err != nil {
		return nil
	}
	return out
}
