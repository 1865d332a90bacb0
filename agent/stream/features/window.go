package features

import (
	"fmt"
	"math"
)

// Agg is a window aggregate of a scalar series.
type Agg uint8

// Aggregates. Std is the population standard deviation; Slope is the least
// squares slope against event time, in units per second (0 for fewer than
// two distinct times).
const (
	Mean Agg = iota
	RMS
	Min
	Max
	Slope
	Std
	numAggs
)

var aggNames = [numAggs]string{"mean", "rms", "min", "max", "slope", "std"}

// String returns the aggregate's name as used in feature names.
func (a Agg) String() string {
	if a < numAggs {
		return aggNames[a]
	}
	return fmt.Sprintf("agg(%d)", uint8(a))
}

// ParseAgg returns the aggregate named s.
func ParseAgg(s string) (Agg, error) {
	for i, n := range aggNames {
		if n == s {
			return Agg(i), nil
		}
	}
	return 0, fmt.Errorf("unknown aggregate %q (want mean, rms, min, max, slope or std)", s)
}

// UnmarshalText parses an aggregate name, for configuration.
func (a *Agg) UnmarshalText(b []byte) error {
	g, err := ParseAgg(string(b))
	if err != nil {
		return err
	}
	*a = g
	return nil
}

// AllAggs is every aggregate, in layout order: the default of a scalar signal.
var AllAggs = []Agg{Mean, RMS, Min, Max, Slope, Std}

// acc accumulates a series in one pane (or merged window): count, centred
// moments of value and time and their co-moment, so that panes merge
// without the cancellation of raw power sums (Chan et al.).
type acc struct {
	n          float64
	mean, m2   float64
	tmean, tm2 float64 // seconds from the reference (the pane's start)
	cov        float64
	lo, hi     float64
}

func (a *acc) reset() { *a = acc{} }

func (a *acc) add(t, y float64) {
	if a.n == 0 {
		a.lo, a.hi = y, y
	} else {
		a.lo, a.hi = min(a.lo, y), max(a.hi, y)
	}
	a.n++
	dt := t - a.tmean
	a.tmean += dt / a.n
	dy := y - a.mean
	a.mean += dy / a.n
	a.m2 += dy * (y - a.mean)
	a.tm2 += dt * (t - a.tmean)
	a.cov += dt * (y - a.mean)
}

// merge adds b, whose times are shift seconds later than a's reference.
func (a *acc) merge(b *acc, shift float64) {
	if b.n == 0 {
		return
	}
	bt := b.tmean + shift
	if a.n == 0 {
		*a = *b
		a.tmean = bt
		return
	}
	n := a.n + b.n
	dt, dy := bt-a.tmean, b.mean-a.mean
	f := a.n * b.n / n
	a.m2 += b.m2 + dy*dy*f
	a.tm2 += b.tm2 + dt*dt*f
	a.cov += b.cov + dt*dy*f
	a.mean += dy * b.n / n
	a.tmean += dt * b.n / n
	a.n = n
	a.lo, a.hi = min(a.lo, b.lo), max(a.hi, b.hi)
}

func (a *acc) agg(g Agg) float64 {
	switch g {
	case Mean:
		return a.mean
	case RMS:
		return math.Sqrt(a.mean*a.mean + a.m2/a.n)
	case Min:
		return a.lo
	case Max:
		return a.hi
	case Slope:
		if a.tm2 <= 0 {
			return 0
		}
		return a.cov / a.tm2
	case Std:
		return math.Sqrt(max(a.m2, 0) / a.n)
	}
	return math.NaN()
}
