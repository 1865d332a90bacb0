package ab

import (
	"math"
	"math/rand/v2"
	"slices"
)

// McNemar is the exact test of a paired comparison on its discordant
// decisions: b cases went one way, c the other. Under the null hypothesis
// (neither model errs more often) b ~ Binomial(b+c, 1/2).
type McNemar struct {
	B, C uint64
	// P is the exact two-sided p-value, 2·P(X ≤ min(b, c)) capped at 1.
	P float64
	// MidP subtracts the probability of the observed count once:
	// 2·P(X ≤ k) − P(X = k). Less conservative than P and closer to the
	// nominal level (Fagerland, Lydersen & Laake, 2013).
	MidP float64
}

// McNemarTest computes the exact and mid-p McNemar tests for b and c.
func McNemarTest(b, c uint64) McNemar {
	m := McNemar{B: b, C: c, P: 1, MidP: 1}
	n := b + c
	if n == 0 {
		return m
	}
	k := min(b, c)
	// Sum the binomial(n, 1/2) pmf up to k in log space: n can be large.
	logHalfN := float64(n) * math.Ln2
	lgN1, _ := math.Lgamma(float64(n) + 1)
	var cdf, pk float64
	for i := uint64(0); i <= k; i++ {
		li, _ := math.Lgamma(float64(i) + 1)
		lr, _ := math.Lgamma(float64(n-i) + 1)
		p := math.Exp(lgN1 - li - lr - logHalfN)
		cdf += p
		if i == k {
			pk = p
		}
	}
	m.P = math.Min(1, 2*cdf)
	m.MidP = math.Min(1, 2*cdf-pk)
	return m
}

// Interval is a two-sided confidence interval of a mean.
type Interval struct {
	Mean   float64 `json:"mean"`
	Low    float64 `json:"low"`
	High   float64 `json:"high"`
	Level  float64 `json:"level"`
	Blocks int     `json:"blocks"` // resampled units (machine-days)
}

// PairedBootstrap is the percentile bootstrap interval of the mean of d
// (per-unit paired differences, e.g. champion minus challenger error rate
// per machine-day): resamples units with replacement, deterministically
// for a given seed. With fewer than two units the interval is [mean, mean].
func PairedBootstrap(d []float64, resamples int, level float64, seed uint64) Interval {
	iv := Interval{Level: level, Blocks: len(d)}
	if len(d) == 0 {
		return iv
	}
	var sum float64
	for _, v := range d {
		sum += v
	}
	iv.Mean = sum / float64(len(d))
	iv.Low, iv.High = iv.Mean, iv.Mean
	if len(d) < 2 || resamples < 1 {
		return iv
	}
	r := rand.New(rand.NewPCG(seed, 0x6d696c6c77726967))
	means := make([]float64, resamples)
	n := len(d)
	for i := range means {
		var s float64
		for range n {
			s += d[r.IntN(n)]
		}
		means[i] = s / float64(n)
	}
	slices.Sort(means)
	alpha := (1 - level) / 2
	iv.Low = quantile(means, alpha)
	iv.High = quantile(means, 1-alpha)
	return iv
}

// quantile of sorted xs by linear interpolation.
func quantile(xs []float64, q float64) float64 {
	pos := q * float64(len(xs)-1)
	i := int(pos)
	if i >= len(xs)-1 {
		return xs[len(xs)-1]
	}
	f := pos - float64(i)
	return xs[i]*(1-f) + xs[i+1]*f
}
