package eval_test

import (
	"math"
	"testing"
	"time"

	"millwright/models/eval"
)

func bits(s string) []bool {
	b := make([]bool, len(s))
	for i, c := range s {
		b[i] = c == '1'
	}
	return b
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestConfusion(t *testing.T) {
	tests := []struct {
		name, labels, alarms string
		tp, fp, tn, fn       uint64
		prec, rec, f1        float64
		far, mar             float64
	}{
		{"mixed", "11000", "10100", 1, 1, 2, 1, 0.5, 0.5, 0.5, 1.0 / 3, 0.5},
		{"always alarm", "11000", "11111", 2, 3, 0, 0, 0.4, 1, 4.0 / 7, 1, 0},
		{"never alarm", "11000", "00000", 0, 0, 3, 2, 0, 0, 0, 0, 1},
		{"perfect", "11000", "11000", 2, 0, 3, 0, 1, 1, 1, 0, 0},
		{"no anomaly, silent", "000", "000", 0, 0, 3, 0, 0, 0, 0, 0, 0},
		{"no anomaly, always", "000", "111", 0, 3, 0, 0, 0, 0, 0, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c eval.Confusion
			l, a := bits(tt.labels), bits(tt.alarms)
			for i := range l {
				c.Add(l[i], a[i])
			}
			if c.TP != tt.tp || c.FP != tt.fp || c.TN != tt.tn || c.FN != tt.fn {
				t.Fatalf("counts = %+v, want TP %d FP %d TN %d FN %d", c, tt.tp, tt.fp, tt.tn, tt.fn)
			}
			for _, m := range []struct {
				name      string
				got, want float64
			}{
				{"precision", c.Precision(), tt.prec},
				{"recall", c.Recall(), tt.rec},
				{"F1", c.F1(), tt.f1},
				{"FAR", c.FAR(), tt.far},
				{"MAR", c.MAR(), tt.mar},
			} {
				if !near(m.got, m.want) {
					t.Errorf("%s = %v, want %v", m.name, m.got, m.want)
				}
			}
		})
	}
}

func TestConfusionMerge(t *testing.T) {
	a := eval.Confusion{TP: 1, FP: 2, TN: 3, FN: 4}
	a.Merge(eval.Confusion{TP: 10, FP: 20, TN: 30, FN: 40})
	if want := (eval.Confusion{TP: 11, FP: 22, TN: 33, FN: 44}); a != want {
		t.Fatalf("merged = %+v, want %+v", a, want)
	}
	if a.Total() != 110 {
		t.Fatalf("total = %d, want 110", a.Total())
	}
}

func TestEvents(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name, labels, alarms string
		want                 eval.EventStats
	}{
		{"mixed", "011100110", "101110001", eval.EventStats{
			Windows: 2, Detected: 1, Missed: 1, MeanDelay: time.Second, MaxDelay: time.Second,
			FalseAlarms: 2, Observed: 8 * time.Second, FalseAlarmsPerDay: 2 * 86400 / 8.0}},
		{"always alarm", "011100110", "111111111", eval.EventStats{
			Windows: 2, Detected: 2, FalseAlarms: 1, Observed: 8 * time.Second,
			FalseAlarmsPerDay: 86400 / 8.0}},
		{"never alarm", "011100110", "000000000", eval.EventStats{
			Windows: 2, Missed: 2, Observed: 8 * time.Second}},
		{"late detections", "0111011110", "0001000010", eval.EventStats{
			Windows: 2, Detected: 2, MeanDelay: 2500 * time.Millisecond, MaxDelay: 3 * time.Second,
			Observed: 9 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e eval.Events
			l, a := bits(tt.labels), bits(tt.alarms)
			for i := range l {
				e.Add(t0.Add(time.Duration(i)*time.Second), l[i], a[i])
			}
			if got := e.Stats(); got != tt.want {
				t.Fatalf("stats = %+v\nwant    %+v", got, tt.want)
			}
		})
	}
}

func TestEventsBreak(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var e eval.Events
	// Series 1 ends inside an alarmed window; series 2 starts a day later with
	// an alarm outside any window: a new false alarm, and the gap between the
	// series is not observed time.
	e.Add(t0, false, false)
	e.Add(t0.Add(time.Hour), true, true)
	e.Break()
	e.Add(t0.Add(24*time.Hour), false, true)
	e.Add(t0.Add(36*time.Hour), false, false)
	got := e.Stats()
	want := eval.EventStats{Windows: 1, Detected: 1, FalseAlarms: 1,
		Observed: 13 * time.Hour, FalseAlarmsPerDay: 24.0 / 13}
	if !near(got.FalseAlarmsPerDay, want.FalseAlarmsPerDay) {
		t.Fatalf("per day = %v, want %v", got.FalseAlarmsPerDay, want.FalseAlarmsPerDay)
	}
	got.FalseAlarmsPerDay = want.FalseAlarmsPerDay
	if got != want {
		t.Fatalf("stats = %+v\nwant    %+v", got, want)
	}
}

// sig is NAB's scaled sigmoid written out independently of the package.
func sig(y float64) float64 { return 2/(1+math.Exp(5*y)) - 1 }

func TestNAB(t *testing.T) {
	// Rows 0..6, one window on rows 1-4 (length 4); rows 5, 6 after it are
	// 1/3 and 2/3 of (length-1) past its end.
	const windows = "0111100"
	first := sig(-1)
	tests := []struct {
		name, alarms string
		raw          float64 // standard profile
	}{
		{"never alarm", "0000000", -1},
		{"perfect", "0100000", first},
		{"last row of window", "0000100", sig(-0.25)},
		{"second alarm in window ignored", "0110000", first},
		{"FP before window", "1000000", -0.11 - 1},
		{"FP just after window", "0000010", -0.11*-sig(1.0/3) - 1},
		{"always alarm", "1111111", first - 0.11*(1-sig(1.0/3)-sig(2.0/3))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n eval.NAB
			w, a := bits(windows), bits(tt.alarms)
			for i := range w {
				n.Add(w[i], a[i])
			}
			n.Break()
			if got := n.Raw(eval.Standard); !near(got, tt.raw) {
				t.Fatalf("raw = %v, want %v", got, tt.raw)
			}
			want := 100 * (tt.raw + 1) / (first + 1)
			if got := n.Score(eval.Standard); !near(got, want) {
				t.Fatalf("score = %v, want %v", got, want)
			}
		})
	}
}

func TestNABAnchors(t *testing.T) {
	// Two series, two windows each; the anchors hold under every profile.
	series := []string{"0011100011000", "1110000111"}
	run := func(alarm func(w string, i int) bool) *eval.NAB {
		var n eval.NAB
		for _, s := range series {
			w := bits(s)
			for i := range w {
				n.Add(w[i], alarm(s, i))
			}
			n.Break()
		}
		return &n
	}
	never := run(func(string, int) bool { return false })
	perfect := run(func(s string, i int) bool { return s[i] == '1' && (i == 0 || s[i-1] == '0') })
	always := run(func(string, int) bool { return true })
	for _, p := range []eval.Profile{eval.Standard, eval.RewardLowFP, eval.RewardLowFN} {
		if never.Windows() != 4 {
			t.Fatalf("windows = %d, want 4", never.Windows())
		}
		if got := never.Score(p); got != 0 {
			t.Errorf("%s: never alarm = %v, want 0", p.Name, got)
		}
		if got := perfect.Score(p); !near(got, 100) {
			t.Errorf("%s: perfect = %v, want 100", p.Name, got)
		}
		if got := always.Score(p); got >= 100 || got <= 0 {
			t.Errorf("%s: always alarm = %v, want in (0, 100)", p.Name, got)
		}
	}
	if a, b := always.Score(eval.Standard), always.Score(eval.RewardLowFP); b >= a {
		t.Errorf("reward_low_FP (%v) should punish always-alarm more than standard (%v)", b, a)
	}
}

func TestScaledSigmoid(t *testing.T) {
	for _, tt := range []struct{ y, want float64 }{
		{-1, 0.9866142981514305}, {0, 0}, {3.5, -1}, {1, sig(1)},
	} {
		if got := eval.ScaledSigmoid(tt.y); !near(got, tt.want) {
			t.Errorf("ScaledSigmoid(%v) = %v, want %v", tt.y, got, tt.want)
		}
	}
}

func BenchmarkAccumulators(b *testing.B) {
	b.ReportAllocs()
	var (
		c eval.Confusion
		e eval.Events
		n eval.NAB
	)
	t0 := time.Now()
	i := 0
	for b.Loop() {
		label := i%100 < 30
		alarm := i%7 == 0
		c.Add(label, alarm)
		e.Add(t0.Add(time.Duration(i)*time.Second), label, alarm)
		n.Add(label, alarm)
		i++
	}
}
