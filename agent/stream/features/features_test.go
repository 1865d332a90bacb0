package features

import (
	"math"
	"math/cmplx"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"millwright/internal/conf"
)

const sec = int64(time.Second)

func near(a, b, tol float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Abs(a-b) <= tol*max(1, math.Abs(a), math.Abs(b))
}

func TestFFTMatchesNaiveDFT(t *testing.T) {
	for _, n := range []int{4, 8, 16, 64, 512} {
		r := rand.New(rand.NewPCG(uint64(n), 1))
		x := make([]float64, n)
		for i := range x {
			x[i] = r.NormFloat64()
		}
		f, err := NewFFT(n)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]float64, n/2+1)
		f.Power(x, got)
		for k := 0; k <= n/2; k++ {
			var s complex128
			for i, v := range x {
				s += complex(v, 0) * cmplx.Exp(complex(0, -2*math.Pi*float64(k*i)/float64(n)))
			}
			want := real(s)*real(s) + imag(s)*imag(s)
			if !near(got[k], want, 1e-9) {
				t.Fatalf("n=%d bin %d: %g, want %g", n, k, got[k], want)
			}
		}
	}
}

func TestNewFFTRejectsBadSizes(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 6, 100} {
		if _, err := NewFFT(n); err == nil {
			t.Errorf("NewFFT(%d): no error", n)
		}
	}
}

func TestBearingFrequencies(t *testing.T) {
	// SKF 6205-2RS JEM (the Case Western Reserve data set's drive end
	// bearing): published multiples of shaft speed.
	b := Bearing{Balls: 9, BallDiameter: 0.3126, PitchDiameter: 1.537, ShaftHz: 1797.0 / 60}
	tests := []struct {
		name     string
		got, per float64
	}{
		{"bpfo", b.Frequencies().BPFO, 3.5848},
		{"bpfi", b.Frequencies().BPFI, 5.4152},
		{"bsf", b.Frequencies().BSF, 2.3568},
		{"ftf", b.Frequencies().FTF, 0.39828},
	}
	for _, tt := range tests {
		if want := tt.per * b.ShaftHz; !near(tt.got, want, 2e-4) {
			t.Errorf("%s = %g Hz, want %g", tt.name, tt.got, want)
		}
	}
	// The contact angle lowers r: outer-race rate rises.
	angled := b
	angled.ContactAngle = 40
	if angled.Frequencies().BPFO <= b.Frequencies().BPFO {
		t.Error("contact angle did not raise BPFO")
	}
	bad := []Bearing{{}, {Balls: 9, BallDiameter: 2, PitchDiameter: 1, ShaftHz: 1}, {Balls: 9, BallDiameter: 1, PitchDiameter: 2}}
	for _, b := range bad {
		if b.Validate() == nil {
			t.Errorf("%+v validated", b)
		}
	}
}

func sine(n int, rate, hz, amp, offset float64) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = offset + amp*math.Sin(2*math.Pi*hz*float64(i)/rate)
	}
	return x
}

// frameJoiner builds a one-signal joiner over frames and returns the values
// of the first window.
func frameWindow(t *testing.T, sig Signal, frame []float64) map[string]float64 {
	t.Helper()
	got := map[string]float64{}
	var j *Joiner
	j, err := NewJoiner(Options{Size: time.Second, Signals: []Signal{sig}, Emit: func(w *Window) {
		for i, n := range j.Names() {
			got[n] = w.Values[i]
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	j.AddFrame(0, 0, frame)
	j.Flush()
	return got
}

func TestFrameFeatures(t *testing.T) {
	const rate = 10240.0
	bearing := &Bearing{Balls: 9, BallDiameter: 0.3126, PitchDiameter: 1.537, ShaftHz: 30}
	bpfo := bearing.Frequencies().BPFO
	sig := Signal{
		Name: "vib", Kind: Frame, SampleRate: rate, Aggs: []Agg{Mean},
		Bands:   []Band{{"lo", 0, 500}, {"mid", 500, 2000}, {"hi", 2000, 5120}},
		Bearing: bearing,
	}
	tests := []struct {
		name  string
		frame []float64
		want  map[string]float64
		tol   float64
	}{
		{"sine in mid band", sine(4096, rate, 1000, 2, 5), map[string]float64{
			"vib_rms.mean": math.Sqrt2, "vib_peak.mean": 2, "vib_crest.mean": math.Sqrt2,
			"vib_kurtosis.mean": 1.5, "vib_skewness.mean": 0,
			"vib_band_mid.mean": 2, "vib_band_lo.mean": 0, "vib_band_hi.mean": 0,
			"vib_bpfo.mean": 0,
		}, 0.01},
		{"sine at bpfo", sine(8192, rate, bpfo, 1, 0), map[string]float64{
			"vib_bpfo.mean": 0.5, "vib_bpfi.mean": 0, "vib_band_lo.mean": 0.5,
		}, 0.02},
		{"constant", sine(1000, rate, 0, 0, 3), map[string]float64{
			"vib_rms.mean": 0, "vib_crest.mean": 0, "vib_band_lo.mean": 0,
		}, 1e-12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := frameWindow(t, sig, tt.frame)
			for name, want := range tt.want {
				v, ok := got[name]
				if !ok {
					t.Fatalf("no feature %q in %v", name, got)
				}
				if math.Abs(v-want) > tt.tol*max(1, want) {
					t.Errorf("%s = %g, want %g", name, v, want)
				}
			}
		})
	}
}

type reading struct {
	t int64
	v float64
}

// naive computes an aggregate over rs directly.
func naive(rs []reading, a Agg, start int64) float64 {
	n := float64(len(rs))
	var sum, sq float64
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, r := range rs {
		sum += r.v
		sq += r.v * r.v
		lo, hi = min(lo, r.v), max(hi, r.v)
	}
	mean := sum / n
	switch a {
	case Mean:
		return mean
	case RMS:
		return math.Sqrt(sq / n)
	case Min:
		return lo
	case Max:
		return hi
	case Std:
		var m2 float64
		for _, r := range rs {
			m2 += (r.v - mean) * (r.v - mean)
		}
		return math.Sqrt(m2 / n)
	case Slope:
		var tm float64
		for _, r := range rs {
			tm += float64(r.t-start) / 1e9
		}
		tm /= n
		var c, v float64
		for _, r := range rs {
			dt := float64(r.t-start)/1e9 - tm
			c += dt * (r.v - mean)
			v += dt * dt
		}
		if v == 0 {
			return 0
		}
		return c / v
	}
	return math.NaN()
}

func TestWindowsMatchNaive(t *testing.T) {
	base := int64(1_700_000_000) * sec // far from the epoch: checks cancellation
	tests := []struct {
		name             string
		size, step, gap  time.Duration
		grace            time.Duration
		wantWindowsAtMin int
	}{
		{"tumbling 1s", time.Second, 0, 0, 0, 20},
		{"sliding 3s by 1s", 3 * time.Second, time.Second, 0, 0, 20},
		{"sliding 2s by 500ms with grace", 2 * time.Second, 500 * time.Millisecond, 0, 700 * time.Millisecond, 40},
		{"tumbling with a gap", time.Second, 0, 10 * time.Second, 0, 15},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(7, 7))
			var rs []reading
			at := base + 123*int64(time.Millisecond)
			for i := range 400 {
				at += int64(20+r.IntN(80)) * int64(time.Millisecond)
				if i == 200 {
					at += int64(tt.gap)
				}
				rs = append(rs, reading{at, 50 + 0.1*float64(at-base)/1e9 + r.NormFloat64()})
			}
			step := tt.step
			if step == 0 {
				step = tt.size
			}
			var windows [][3]int64
			var j *Joiner
			j, err := NewJoiner(Options{Size: tt.size, Step: tt.step, Grace: tt.grace, Signals: []Signal{{Name: "temp"}},
				Emit: func(w *Window) {
					if w.End-w.Start != int64(tt.size) || w.Start%int64(step) != 0 {
						t.Fatalf("window [%d, %d)", w.Start, w.End)
					}
					var in []reading
					for _, rd := range rs {
						if rd.t >= w.Start && rd.t < w.End {
							in = append(in, rd)
						}
					}
					if len(in) == 0 {
						t.Fatalf("window [%d, %d) emitted without readings", w.Start, w.End)
					}
					for i, a := range AllAggs {
						if want := naive(in, a, w.Start); !near(w.Values[i], want, 1e-8) {
							t.Errorf("window %d %s = %.12g, want %.12g", (w.Start-base)/int64(step), j.Names()[i], w.Values[i], want)
						}
					}
					windows = append(windows, [3]int64{w.Start, w.End, int64(len(in))})
				}})
			if err != nil {
				t.Fatal(err)
			}
			for _, rd := range rs {
				j.Add(0, rd.t, rd.v)
			}
			j.Flush()
			if len(windows) < tt.wantWindowsAtMin {
				t.Fatalf("%d windows", len(windows))
			}
			// Every non-empty window of the grid between the first and
			// last reading was emitted exactly once.
			for s := floorDiv(rs[0].t, int64(step))*int64(step) - int64(tt.size) + int64(step); s <= rs[len(rs)-1].t; s += int64(step) {
				n := 0
				for _, rd := range rs {
					if rd.t >= s && rd.t < s+int64(tt.size) {
						n++
					}
				}
				got := 0
				for _, w := range windows {
					if w[0] == s {
						got++
					}
				}
				if (n > 0) != (got == 1) || got > 1 {
					t.Fatalf("window at %d with %d readings emitted %d times", s, n, got)
				}
			}
			if st := j.Stats(); st.Late != 0 || st.Readings != 400 || st.Windows != uint64(len(windows)) {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

func TestJoinCarryThenNaN(t *testing.T) {
	type emitted struct {
		start          int64
		temp, pressure float64
		fresh, carried int
		missing        int
	}
	var got []emitted
	var j *Joiner
	j, err := NewJoiner(Options{
		Size: time.Second, Carry: 2,
		Signals: []Signal{{Name: "temp", Aggs: []Agg{Mean}}, {Name: "pressure", Aggs: []Agg{Max}}},
		Emit: func(w *Window) {
			got = append(got, emitted{w.Start / sec, w.Values[0], w.Values[1], w.Fresh, w.Carried, w.Missing})
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(j.Names(), []string{"temp.mean", "pressure.max"}) {
		t.Fatalf("names %v", j.Names())
	}
	temp, pressure := j.Index("temp"), j.Index("pressure")
	// Pressure reports in window 0 only; temp in windows 0..5.
	j.Add(pressure, 100*int64(time.Millisecond), 7)
	for w := range int64(6) {
		j.Add(temp, w*sec+500*int64(time.Millisecond), float64(w))
	}
	j.Flush()
	nan := math.NaN()
	want := []emitted{
		{0, 0, 7, 2, 0, 0},
		{1, 1, 7, 1, 1, 0},
		{2, 2, 7, 1, 1, 0},
		{3, 3, nan, 1, 0, 1},
		{4, 4, nan, 1, 0, 1},
		{5, 5, nan, 1, 0, 1},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d windows: %+v", len(got), got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.start != w.start || g.temp != w.temp || !near(g.pressure, w.pressure, 0) || g.fresh != w.fresh || g.carried != w.carried || g.missing != w.missing {
			t.Errorf("window %d: %+v, want %+v", i, g, w)
		}
	}
}

func TestLateAndInvalidReadings(t *testing.T) {
	n := 0
	j, err := NewJoiner(Options{Size: time.Second, Grace: 200 * time.Millisecond,
		Signals: []Signal{{Name: "a"}, {Name: "v", Kind: Frame, SampleRate: 1000}},
		Emit:    func(*Window) { n++ }})
	if err != nil {
		t.Fatal(err)
	}
	ms := int64(time.Millisecond)
	j.Add(0, 500*ms, 1)
	j.Add(0, 1100*ms, 1) // window 0 still open (grace)
	j.Add(0, 900*ms, 1)  // within grace: accepted
	j.Add(0, 1300*ms, 1) // closes window 0
	j.Add(0, 950*ms, 1)  // late
	j.Add(0, 1400*ms, math.NaN())
	j.Add(1, 1400*ms, 1)        // scalar into a frame signal
	j.AddFrame(1, 1400*ms, nil) // empty frame
	j.AddFrame(0, 1400*ms, []float64{1, 2})
	j.AddFrame(1, 1400*ms, []float64{1, math.Inf(1)})
	st := j.Stats()
	if n != 1 || st.Late != 1 || st.Invalid != 5 || st.Readings != 5 {
		t.Fatalf("windows %d stats %+v", n, st)
	}
}

func TestNewJoinerErrors(t *testing.T) {
	emit := func(*Window) {}
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"no size", Options{Emit: emit, Signals: []Signal{{Name: "a"}}}, "size"},
		{"step not dividing", Options{Size: time.Second, Step: 300 * time.Millisecond, Emit: emit, Signals: []Signal{{Name: "a"}}}, "divide"},
		{"no emit", Options{Size: time.Second, Signals: []Signal{{Name: "a"}}}, "Emit"},
		{"no signals", Options{Size: time.Second, Emit: emit}, "no signals"},
		{"twice", Options{Size: time.Second, Emit: emit, Signals: []Signal{{Name: "a"}, {Name: "a"}}}, "twice"},
		{"frame without rate", Options{Size: time.Second, Emit: emit, Signals: []Signal{{Name: "v", Kind: Frame}}}, "sample rate"},
		{"band over nyquist", Options{Size: time.Second, Emit: emit, Signals: []Signal{{Name: "v", Kind: Frame, SampleRate: 100, Bands: []Band{{"x", 60, 70}}}}}, "Nyquist"},
		{"bad bearing", Options{Size: time.Second, Emit: emit, Signals: []Signal{{Name: "v", Kind: Frame, SampleRate: 100, Bearing: &Bearing{}}}}, "balls"},
		{"name clash", Options{Size: time.Second, Emit: emit, Signals: []Signal{{Name: "v", Kind: Frame, SampleRate: 100}, {Name: "v_rms"}}}, "named twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewJoiner(tt.o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestParseAgg(t *testing.T) {
	for _, a := range AllAggs {
		got, err := ParseAgg(a.String())
		if err != nil || got != a {
			t.Errorf("ParseAgg(%q) = %v, %v", a, got, err)
		}
	}
	if _, err := ParseAgg("median"); err == nil {
		t.Error("median parsed")
	}
}

func newBenchJoiner(tb testing.TB, step time.Duration) *Joiner {
	j, err := NewJoiner(Options{Size: 10 * time.Second, Step: step, Carry: 3,
		Signals: []Signal{
			{Name: "temp"}, {Name: "current"},
			{Name: "vib", Kind: Frame, SampleRate: 10240, Bands: []Band{{"lo", 0, 1000}, {"hi", 1000, 5000}},
				Bearing: &Bearing{Balls: 9, BallDiameter: 0.3126, PitchDiameter: 1.537, ShaftHz: 30}},
		},
		Emit: func(*Window) {}})
	if err != nil {
		tb.Fatal(err)
	}
	return j
}

func TestSteadyStateAllocatesNothing(t *testing.T) {
	j := newBenchJoiner(t, time.Second)
	frame := sine(1024, 10240, 300, 1, 0)
	var at int64
	j.AddFrame(2, at, frame) // first frame of this length builds its plan
	allocs := testing.AllocsPerRun(2000, func() {
		at += 10 * int64(time.Millisecond)
		j.Add(0, at, 1)
		j.Add(1, at, 2)
		if at%(100*int64(time.Millisecond)) == 0 {
			j.AddFrame(2, at, frame)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocs per step", allocs)
	}
	if j.Stats().Windows == 0 {
		t.Fatal("no windows closed")
	}
}

func BenchmarkAdd(b *testing.B) {
	j := newBenchJoiner(b, time.Second)
	var at int64
	b.ReportAllocs()
	for b.Loop() {
		at += int64(time.Millisecond)
		j.Add(0, at, float64(at%1000))
	}
}

func BenchmarkAddFrame1024(b *testing.B) {
	j := newBenchJoiner(b, time.Second)
	frame := sine(1024, 10240, 300, 1, 0)
	var at int64
	b.ReportAllocs()
	for b.Loop() {
		at += 100 * int64(time.Millisecond)
		j.AddFrame(2, at, frame)
	}
}

func BenchmarkFFT1024(b *testing.B) {
	f, _ := NewFFT(1024)
	x := sine(1024, 10240, 300, 1, 0)
	dst := make([]float64, 513)
	b.ReportAllocs()
	for b.Loop() {
		f.Power(x, dst)
	}
}

func TestTextForms(t *testing.T) {
	for _, k := range []Kind{Scalar, Frame} {
		var got Kind
		if err := got.UnmarshalText([]byte(k.String())); err != nil || got != k {
			t.Errorf("kind %v: %v, %v", k, got, err)
		}
	}
	var a Agg
	if err := a.UnmarshalText([]byte("slope")); err != nil || a != Slope {
		t.Errorf("slope: %v, %v", a, err)
	}
	var k Kind
	if k.UnmarshalText([]byte("vector")) == nil || a.UnmarshalText([]byte("p99")) == nil {
		t.Error("bad names parsed")
	}
}

// TestBandsSumToMeanSquare checks the band scaling (Parseval): bands that
// cover the whole spectrum add up to the frame's mean square.
func TestBandsSumToMeanSquare(t *testing.T) {
	const rate = 8192.0
	r := rand.New(rand.NewPCG(5, 5))
	for _, n := range []int{1000, 4096} {
		frame := make([]float64, n)
		for i := range frame {
			frame[i] = r.NormFloat64()*0.7 + 0.3*math.Sin(2*math.Pi*440*float64(i)/rate)
		}
		got := frameWindow(t, Signal{Name: "v", Kind: Frame, SampleRate: rate, Aggs: []Agg{Mean},
			Bands: []Band{{"a", 0, 1000}, {"b", 1000, 3000}, {"c", 3000, rate/2 + 1}}}, frame)
		sum := got["v_band_a.mean"] + got["v_band_b.mean"] + got["v_band_c.mean"]
		ms := got["v_rms.mean"] * got["v_rms.mean"]
		if math.Abs(sum-ms) > 0.05*ms {
			t.Errorf("n=%d: bands sum to %g, mean square %g", n, sum, ms)
		}
	}
}

func TestGraceAppliesFromTheFirstReading(t *testing.T) {
	var starts []int64
	j, err := NewJoiner(Options{Size: time.Second, Grace: 200 * time.Millisecond,
		Signals: []Signal{{Name: "a"}, {Name: "b"}},
		Emit:    func(w *Window) { starts = append(starts, w.Start/sec) }})
	if err != nil {
		t.Fatal(err)
	}
	ms := int64(time.Millisecond)
	j.Add(0, 1100*ms, 1) // first reading of the asset
	j.Add(1, 950*ms, 2)  // another sensor, behind by less than the grace
	j.Add(0, math.MaxInt64, 1)
	j.Add(0, math.MinInt64, 1)
	j.Flush()
	if st := j.Stats(); st.Late != 0 || st.Invalid != 2 || !slices.Equal(starts, []int64{0, 1}) {
		t.Fatalf("windows %v stats %+v", starts, st)
	}
}

func TestSignalFromYAML(t *testing.T) {
	var cfg struct {
		Signals []Signal `yaml:"signals"`
	}
	src := `
signals:
  - name: temp
    aggs: [mean, slope]
  - name: vib
    kind: frame
    sample_rate: 10240
    bands: [{name: lo, lo: 0, hi: 1000}]
    bearing: {balls: 9, ball_diameter: 7.94, pitch_diameter: 39.04, contact_angle: 0, shaft_hz: 29.95}
`
	if err := conf.Decode([]byte(src), &cfg); err != nil {
		t.Fatal(err)
	}
	j, err := NewJoiner(Options{Size: time.Second, Signals: cfg.Signals, Emit: func(*Window) {}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"temp.mean", "temp.slope", "vib_rms.mean", "vib_rms.max"}
	if !slices.Equal(j.Names()[:4], want) || !slices.Contains(j.Names(), "vib_ftf.max") || len(j.Names()) != 2+2*(5+1+4) {
		t.Fatalf("names %v", j.Names())
	}
}
