// Package ab compares the models scoring the same machine (champion,
// learning twin, challengers) from the hub's stored metrics and technician
// feedback, and decides with stated uncertainty whether a challenger beats
// its champion.
//
// # Labels
//
// Technicians label the champion's alerts. An alert labelled real_fault
// marks a fault span from Lookback before the alert's start to its
// resolution (or FaultLength after its start while unresolved); everything
// else, including alerts labelled false_alarm or unsure, counts as normal.
// Metrics are read from the store's 5-minute rollups, so spans are rounded
// out to whole buckets.
//
// # Verdict
//
// A challenger's decisions are paired with the champion's on the same
// vectors (wire.ModelMetric Both/OnlyModel/OnlyChampion). A discordant
// decision is a win for the challenger when it alarmed alone inside a fault
// span or stayed silent alone outside one, and a loss otherwise. McNemar's
// exact test (mid-p) on wins vs losses says whether the difference is more
// than chance; a paired bootstrap over machine-days of the weighted error
// rate (false-alarm vectors + FaultWeight × missed fault vectors, per
// vector scored) says which way and how much. The verdict is "better" or
// "worse" only when both agree at the chosen level, "insufficient_evidence"
// below MinDays machine-days or MinDiscordant discordant decisions, and
// "no_difference" otherwise.
package ab

import (
	"time"
)

// Outcomes of a verdict.
const (
	Better       = "better"
	Worse        = "worse"
	NoDifference = "no_difference"
	Insufficient = "insufficient_evidence"
)

// Options tune a comparison. The zero value works (last 30 days).
type Options struct {
	From, To time.Time // default: To = now, From = To − 30 days
	// Lookback opens a fault span before the alert that confirmed it, so a
	// model that saw it coming earns lead time; default 1h.
	Lookback time.Duration
	// FaultLength closes the span of an unresolved fault; default 1h.
	FaultLength time.Duration
	// FaultWeight is the cost of a missed fault vector in false-alarm
	// vectors; default 5.
	FaultWeight float64
	// MinDays and MinDiscordant are the minimum evidence for a verdict;
	// defaults 7 machine-days and 20 discordant decisions.
	MinDays       float64
	MinDiscordant uint64
	// Alpha is the significance level; default 0.05 (95% intervals).
	Alpha float64
	// Resamples of the bootstrap; default 2000. Seed fixes its randomness.
	Resamples int
	Seed      uint64
	// Now is the clock for the default window; default time.Now.
	Now func() time.Time
}

func (o *Options) defaults() {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.To.IsZero() {
		o.To = o.Now()
	}
	if o.From.IsZero() {
		o.From = o.To.Add(-30 * 24 * time.Hour)
	}
	if o.Lookback <= 0 {
		o.Lookback = time.Hour
	}
	if o.FaultLength <= 0 {
		o.FaultLength = time.Hour
	}
	if o.FaultWeight <= 0 {
		o.FaultWeight = 5
	}
	if o.MinDays <= 0 {
		o.MinDays = 7
	}
	if o.MinDiscordant == 0 {
		o.MinDiscordant = 20
	}
	if o.Alpha <= 0 || o.Alpha >= 1 {
		o.Alpha = 0.05
	}
	if o.Resamples <= 0 {
		o.Resamples = 2000
	}
}

// Verdict says whether a model beats the champion, and how sure we are.
type Verdict struct {
	Outcome string `json:"outcome"`
	Reason  string `json:"reason"`
	// Wins and Losses are the discordant decisions in the model's favour
	// and against it (see the package documentation).
	Wins   uint64  `json:"wins"`
	Losses uint64  `json:"losses"`
	P      float64 `json:"p_exact"`
	MidP   float64 `json:"p_mid"`
	// CostDiff is the champion's weighted error rate minus the model's,
	// per vector, averaged over machine-days: positive means the model
	// errs less. Its interval is a paired bootstrap over machine-days.
	CostDiff Interval `json:"cost_diff"`
	Days     float64  `json:"machine_days"`
}

// decide applies the evidence rule and the two tests.
func decide(wins, losses uint64, days float64, diffs []float64, o *Options) Verdict {
	mc := McNemarTest(wins, losses)
	v := Verdict{Wins: wins, Losses: losses, P: mc.P, MidP: mc.MidP, Days: days,
		CostDiff: PairedBootstrap(diffs, o.Resamples, 1-o.Alpha, o.Seed)}
	switch {
	case days < o.MinDays:
		v.Outcome, v.Reason = Insufficient, "fewer machine-days than the minimum"
	case wins+losses < o.MinDiscordant:
		v.Outcome, v.Reason = Insufficient, "fewer discordant decisions than the minimum"
	case mc.MidP < o.Alpha && wins > losses && v.CostDiff.Low > 0:
		v.Outcome, v.Reason = Better, "wins significantly more discordant decisions and errs less per machine-day"
	case mc.MidP < o.Alpha && losses > wins && v.CostDiff.High < 0:
		v.Outcome, v.Reason = Worse, "loses significantly more discordant decisions and errs more per machine-day"
	case mc.MidP >= o.Alpha:
		v.Outcome, v.Reason = NoDifference, "discordant decisions within chance"
	default:
		v.Outcome, v.Reason = NoDifference, "McNemar and the per-day error interval disagree"
	}
	return v
}
