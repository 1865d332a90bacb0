package ab

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"millwright/hub/store"
	"millwright/models/eval"
	"millwright/wire"
)

// Source is what a comparison reads; *store.Store implements it.
type Source interface {
	LabeledAlerts(ctx context.Context, gw, machine string, from, to time.Time) ([]store.LabeledAlert, error)
	DayAggs(ctx context.Context, gw, machine string, from, to time.Time, faults []store.Span) ([]store.DayAgg, error)
	AlarmTimes(ctx context.Context, gw, machine string, from, to time.Time) (map[string][]time.Time, time.Duration, error)
}

// NAB holds the windowed event scores of one model under the three profiles.
type NAB struct {
	Standard    float64 `json:"standard"`
	RewardLowFP float64 `json:"reward_low_fp"`
	RewardLowFN float64 `json:"reward_low_fn"`
}

// ModelReport is what one model did on the machine over the window.
type ModelReport struct {
	Model string `json:"model"`
	Role  string `json:"role"`
	Kind  string `json:"kind,omitempty"`
	// Vectors scored, alarmed vectors, metric intervals and alarmed intervals.
	Vectors      int64   `json:"vectors"`
	Alerts       int64   `json:"alerts"`
	Intervals    int64   `json:"intervals"`
	AlarmedIntvl int64   `json:"alarmed_intervals"`
	AlarmRate    float64 `json:"alarm_rate"` // alarmed vectors per vector
	// Paired decisions against the champion (challengers and twin only).
	Both         int64   `json:"both"`
	OnlyModel    int64   `json:"only_model"`
	OnlyChampion int64   `json:"only_champion"`
	Agreement    float64 `json:"agreement"` // share of paired vectors decided alike; 1 for the champion
	// Interval-level confusion against the fault spans.
	Confusion eval.Confusion `json:"confusion"`
	Precision float64        `json:"precision"`
	Recall    float64        `json:"recall"`
	F1        float64        `json:"f1"`
	// Faults detected among the confirmed ones, and how long before the
	// champion's alert the model first alarmed (negative: after it).
	Faults            int           `json:"faults"`
	Detected          int           `json:"detected"`
	MeanLead          time.Duration `json:"mean_lead_ns"`
	FalseAlarmsPerDay float64       `json:"false_alarms_per_day"`
	NAB               NAB           `json:"nab"`
	Days              float64       `json:"machine_days"`
	// Verdict against the champion (challengers and twin only).
	Verdict *Verdict `json:"verdict,omitempty"`

	days   map[int64]*dayCost // per UTC day, for the bootstrap
	wins   uint64
	losses uint64
}

type dayCost struct{ vectors, fp, fn float64 }

func (d *dayCost) rate(w float64) float64 {
	if d.vectors == 0 {
		return 0
	}
	return (d.fp + w*d.fn) / d.vectors
}

// Report compares every model of one machine.
type Report struct {
	Gateway string        `json:"gateway"`
	Machine string        `json:"machine"`
	From    time.Time     `json:"from"`
	To      time.Time     `json:"to"`
	Faults  int           `json:"faults"`  // confirmed faults (real_fault alerts)
	Labeled int           `json:"labeled"` // alerts with any feedback
	Models  []ModelReport `json:"models"`  // champion first, then by role and name
	Options ReportOptions `json:"options"`
}

// ReportOptions echoes the settings that shaped a report.
type ReportOptions struct {
	Lookback      time.Duration `json:"lookback_ns"`
	FaultLength   time.Duration `json:"fault_length_ns"`
	FaultWeight   float64       `json:"fault_weight"`
	MinDays       float64       `json:"min_days"`
	MinDiscordant uint64        `json:"min_discordant"`
	Alpha         float64       `json:"alpha"`
}

// Compare builds the report of one machine from src.
func Compare(ctx context.Context, src Source, gw, machine string, o Options) (Report, error) {
	o.defaults()
	r := Report{Gateway: gw, Machine: machine, From: o.From.UTC(), To: o.To.UTC(), Models: []ModelReport{},
		Options: ReportOptions{o.Lookback, o.FaultLength, o.FaultWeight, o.MinDays, o.MinDiscordant, o.Alpha}}
	alerts, err := src.LabeledAlerts(ctx, gw, machine, o.From.Add(-o.FaultLength), o.To.Add(o.Lookback))
	if err != nil {
		return r, fmt.Errorf("compare %s/%s: %w", gw, machine, err)
	}
	var spans []store.Span
	var confirmed []time.Time // alert starts of the spans
	for _, a := range alerts {
		if a.Label != "" {
			r.Labeled++
		}
		if a.Label != store.LabelRealFault {
			continue
		}
		end := a.End
		if end.IsZero() || end.Before(a.Start) {
			end = a.Start.Add(o.FaultLength)
		}
		spans = append(spans, store.Span{From: a.Start.Add(-o.Lookback), To: end})
		confirmed = append(confirmed, a.Start)
	}
	r.Faults = len(spans)
	aggs, err := src.DayAggs(ctx, gw, machine, o.From, o.To, spans)
	if err != nil {
		return r, fmt.Errorf("compare %s/%s: %w", gw, machine, err)
	}
	alarms, period, err := src.AlarmTimes(ctx, gw, machine, o.From, o.To)
	if err != nil {
		return r, fmt.Errorf("compare %s/%s: %w", gw, machine, err)
	}
	byModel := map[string]*ModelReport{}
	for _, a := range aggs {
		key := a.Role + "\x00" + a.Model
		m := byModel[key]
		if m == nil {
			m = &ModelReport{Model: a.Model, Role: a.Role, days: map[int64]*dayCost{}}
			byModel[key] = m
		}
		m.add(a)
	}
	var champ *ModelReport
	for _, m := range byModel {
		if m.Role == wire.RoleChampion && (champ == nil || m.Vectors > champ.Vectors) {
			champ = m
		}
	}
	for _, m := range byModel {
		m.finish(spans, confirmed, alarms[m.Model], period, &o)
		if m.Role != wire.RoleChampion && champ != nil {
			v := decide(m.wins, m.losses, m.Days, pairedDiffs(champ, m, o.FaultWeight), &o)
			m.Verdict = &v
		}
		r.Models = append(r.Models, *m)
	}
	rank := map[string]int{wire.RoleChampion: 0, wire.RoleTwin: 1, wire.RoleChallenger: 2}
	sort.Slice(r.Models, func(i, j int) bool {
		a, b := r.Models[i], r.Models[j]
		if rank[a.Role] != rank[b.Role] {
			return rank[a.Role] < rank[b.Role]
		}
		return a.Model < b.Model
	})
	return r, nil
}

// add folds one day × fault/normal aggregate into the report.
func (m *ModelReport) add(a store.DayAgg) {
	if a.Kind != "" {
		m.Kind = a.Kind
	}
	m.Vectors += a.Count
	m.Alerts += a.Alerts
	m.Intervals += a.Points
	m.AlarmedIntvl += a.AlarmPoints
	m.Both += a.Both
	m.OnlyModel += a.OnlyModel
	m.OnlyChampion += a.OnlyChampion
	d := m.days[a.Day.Unix()]
	if d == nil {
		d = &dayCost{}
		m.days[a.Day.Unix()] = d
	}
	d.vectors += float64(a.Count)
	if a.Fault {
		m.Confusion.TP += uint64(a.AlarmPoints)
		m.Confusion.FN += uint64(a.Points - a.AlarmPoints)
		d.fn += float64(max(a.Count-a.Alerts, 0))
		m.wins += uint64(a.OnlyModel)
		m.losses += uint64(a.OnlyChampion)
	} else {
		m.Confusion.FP += uint64(a.AlarmPoints)
		m.Confusion.TN += uint64(a.Points - a.AlarmPoints)
		d.fp += float64(a.Alerts)
		m.wins += uint64(a.OnlyChampion)
		m.losses += uint64(a.OnlyModel)
	}
}

// finish derives rates, event statistics and the NAB score.
func (m *ModelReport) finish(spans []store.Span, confirmed, alarms []time.Time, period time.Duration, o *Options) {
	if m.Vectors > 0 {
		m.AlarmRate = float64(m.Alerts) / float64(m.Vectors)
	}
	m.Agreement = 1
	if m.Role != wire.RoleChampion && m.Vectors > 0 {
		m.Agreement = 1 - float64(m.OnlyModel+m.OnlyChampion)/float64(m.Vectors)
	}
	m.Precision, m.Recall, m.F1 = m.Confusion.Precision(), m.Confusion.Recall(), m.Confusion.F1()
	if period > 0 {
		m.Days = float64(m.Intervals) * period.Hours() / 24
	}
	// Lead time per confirmed fault: its first alarm inside the span.
	var leadSum time.Duration
	m.Faults = len(spans)
	for i, sp := range spans {
		j, _ := slices.BinarySearchFunc(alarms, sp.From, func(a, t time.Time) int { return a.Compare(t) })
		if j < len(alarms) && alarms[j].Before(sp.To) {
			m.Detected++
			leadSum += confirmed[i].Sub(alarms[j])
		}
	}
	if m.Detected > 0 {
		m.MeanLead = leadSum / time.Duration(m.Detected)
	}
	m.events(spans, alarms, period, o)
}

// events replays the model's alarms on the metrics grid through the event
// and NAB accumulators of models/eval.
func (m *ModelReport) events(spans []store.Span, alarms []time.Time, period time.Duration, o *Options) {
	if period <= 0 || len(m.days) == 0 {
		return
	}
	var first, last int64 = 1<<63 - 1, -1 << 63
	for d := range m.days {
		first, last = min(first, d), max(last, d)
	}
	from := time.Unix(first, 0).UTC()
	if from.Before(o.From) {
		from = o.From
	}
	to := time.Unix(last, 0).UTC().Add(24 * time.Hour)
	if to.After(o.To) {
		to = o.To
	}
	var (
		ev  eval.Events
		nab eval.NAB
		si  int // next span that may contain t
		ai  int // next alarm not yet consumed
	)
	for t := from.Add(period); !t.After(to); t = t.Add(period) {
		for si < len(spans) && !spans[si].To.After(t) {
			si++
		}
		label := si < len(spans) && !spans[si].From.After(t)
		alarm := false
		for ai < len(alarms) && !alarms[ai].After(t) {
			alarm = true
			ai++
		}
		ev.Add(t, label, alarm)
		nab.Add(label, alarm)
	}
	ev.Break()
	nab.Break()
	m.FalseAlarmsPerDay = ev.Stats().FalseAlarmsPerDay
	m.NAB = NAB{nab.Score(eval.Standard), nab.Score(eval.RewardLowFP), nab.Score(eval.RewardLowFN)}
}

// pairedDiffs is, per day both models scored, the champion's weighted
// error rate minus the model's.
func pairedDiffs(champ, m *ModelReport, w float64) []float64 {
	keys := make([]int64, 0, len(m.days))
	for d := range m.days {
		if _, ok := champ.days[d]; ok {
			keys = append(keys, d)
		}
	}
	slices.Sort(keys)
	out := make([]float64, 0, len(keys))
	for _, d := range keys {
		out = append(out, champ.days[d].rate(w)-m.days[d].rate(w))
	}
	return out
}
