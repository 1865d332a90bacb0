package ab_test

import (
	"math"
	"testing"

	"millwright/hub/ab"
)

// Hand-computed: under H0, X ~ Binomial(b+c, 1/2); k = min(b, c);
// P = 2·P(X ≤ k), mid-p = 2·P(X ≤ k) − P(X = k).
func TestMcNemar(t *testing.T) {
	tests := []struct {
		b, c    uint64
		p, midP float64
	}{
		{0, 0, 1, 1},
		{0, 5, 2.0 / 32, 1.0 / 32},                 // P(X≤0) = 1/32
		{5, 0, 2.0 / 32, 1.0 / 32},                 // symmetric
		{1, 9, 22.0 / 1024, 12.0 / 1024},           // P(X≤1) = 11/1024, P(X=1) = 10/1024
		{2, 10, 158.0 / 4096, 92.0 / 4096},         // P(X≤2) = 79/4096, P(X=2) = 66/4096
		{3, 3, 1, 1},                               // 2·42/64 capped; mid 84/64 − 20/64 = 1
		{4, 6, 772.0 / 1024, (772.0 - 210) / 1024}, // P(X≤4) = 386/1024, P(X=4) = 210/1024
		{0, 20, 2.0 / (1 << 20), 1.0 / (1 << 20)},  // tiny p
		// Σ_{i≤10} C(40,i) = 1221246132, C(40,10) = 847660528, over 2^40.
		{10, 30, 2 * 1221246132.0 / (1 << 40), (2*1221246132.0 - 847660528) / (1 << 40)},
	}
	for _, tt := range tests {
		got := ab.McNemarTest(tt.b, tt.c)
		if math.Abs(got.P-tt.p) > 1e-9 || math.Abs(got.MidP-tt.midP) > 1e-9 {
			t.Errorf("McNemar(%d, %d) = p %.10g mid %.10g, want %.10g, %.10g", tt.b, tt.c, got.P, got.MidP, tt.p, tt.midP)
		}
	}
}

func TestMcNemarLarge(t *testing.T) {
	// Large n must neither overflow nor lose the tail: 5000 vs 5400 is
	// z ≈ 3.92, two-sided p ≈ 9e-5 by the normal approximation.
	got := ab.McNemarTest(5000, 5400)
	if got.P < 5e-5 || got.P > 2e-4 || got.MidP > got.P {
		t.Fatalf("McNemar(5000, 5400) = %+v", got)
	}
}

func TestPairedBootstrap(t *testing.T) {
	tests := []struct {
		name      string
		d         []float64
		wantMean  float64
		excludes0 bool // the 95% interval lies strictly on one side of 0
	}{
		{"empty", nil, 0, false},
		{"one", []float64{0.3}, 0.3, true},
		{"clearly positive", []float64{0.1, 0.12, 0.09, 0.11, 0.1, 0.13, 0.08, 0.1}, 0.10375, true},
		{"noise around zero", []float64{0.1, -0.1, 0.05, -0.05, 0.02, -0.02, 0.01, -0.01}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			iv := ab.PairedBootstrap(tt.d, 2000, 0.95, 1)
			if math.Abs(iv.Mean-tt.wantMean) > 1e-12 {
				t.Fatalf("mean = %v, want %v", iv.Mean, tt.wantMean)
			}
			if iv.Low > iv.Mean || iv.High < iv.Mean {
				t.Fatalf("interval %+v does not hold its mean", iv)
			}
			if got := iv.Low > 0 || iv.High < 0; got != tt.excludes0 && len(tt.d) > 0 {
				t.Fatalf("interval %+v excludes 0 = %v, want %v", iv, got, tt.excludes0)
			}
			if again := ab.PairedBootstrap(tt.d, 2000, 0.95, 1); again != iv {
				t.Fatalf("not deterministic: %+v vs %+v", again, iv)
			}
		})
	}
}
