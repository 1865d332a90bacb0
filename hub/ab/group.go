package ab

import (
	"context"
	"fmt"
	"sort"
	"time"

	"millwright/hub/store"
	"millwright/wire"
)

// GroupBy values of Group.
const (
	ByType = "type"
	BySite = "site"
)

// Fleet lists the machines to roll up and the challengers and twins that
// ran on them; *store.Store implements it.
type Fleet interface {
	Machines(ctx context.Context) ([]store.Machine, error)
	ModelInstances(ctx context.Context, since time.Time) ([]store.ModelInstance, error)
}

// KindSummary pools one model kind in one role over the assets of a group.
type KindSummary struct {
	Role              string  `json:"role"`
	Kind              string  `json:"kind"`
	Assets            int     `json:"assets"`
	Vectors           int64   `json:"vectors"`
	Alerts            int64   `json:"alerts"`
	Faults            int     `json:"faults"`
	Detected          int     `json:"detected"`
	FalseAlarmsPerDay float64 `json:"false_alarms_per_day"` // mean over machine-days
	F1                float64 `json:"f1"`                   // of the pooled confusion
	// Verdict pools the discordant decisions of every asset and bootstraps
	// over every asset's machine-days (challengers and twin only).
	Verdict *Verdict `json:"verdict,omitempty"`
}

// GroupReport rolls up the comparisons of the assets of one machine type or site.
type GroupReport struct {
	Group  string        `json:"group"`
	Assets []string      `json:"assets"` // gateway/machine
	Kinds  []KindSummary `json:"kinds"`
}

// Group compares every machine that ran a challenger or twin in the
// window and rolls the reports up by machine type (ByType) or site
// (BySite). Assets with only a champion have nothing to compare and are
// skipped, which keeps a fleet-wide rollup proportional to the experiments.
func Group(ctx context.Context, src Source, fleet Fleet, by string, o Options) ([]GroupReport, error) {
	if by != ByType && by != BySite {
		return nil, fmt.Errorf("group by %q: want type or site", by)
	}
	o.defaults()
	ms, err := fleet.Machines(ctx)
	if err != nil {
		return nil, fmt.Errorf("group: %w", err)
	}
	inst, err := fleet.ModelInstances(ctx, o.From)
	if err != nil {
		return nil, fmt.Errorf("group: %w", err)
	}
	compared := map[[2]string]bool{}
	for _, mi := range inst {
		compared[[2]string{mi.Gateway, mi.Machine}] = true
	}
	type acc struct {
		sum        KindSummary
		wins, loss uint64
		days       float64
		faDays     float64 // Σ false alarms per day × days
		diffs      []float64
		tp, fp, fn uint64
	}
	groups := map[string]map[string]*acc{}
	assets := map[string][]string{}
	for _, m := range ms {
		if !compared[[2]string{m.Gateway, m.ID}] {
			continue
		}
		key := m.Type
		if by == BySite {
			key = m.Site
		}
		r, err := Compare(ctx, src, m.Gateway, m.ID, o)
		if err != nil {
			return nil, err
		}
		assets[key] = append(assets[key], m.Gateway+"/"+m.ID)
		if groups[key] == nil {
			groups[key] = map[string]*acc{}
		}
		var champ *ModelReport
		for i := range r.Models {
			if r.Models[i].Role == wire.RoleChampion {
				champ = &r.Models[i]
				break
			}
		}
		for i := range r.Models {
			mr := &r.Models[i]
			k := mr.Role + "\x00" + mr.Kind
			a := groups[key][k]
			if a == nil {
				a = &acc{sum: KindSummary{Role: mr.Role, Kind: mr.Kind}}
				groups[key][k] = a
			}
			a.sum.Assets++
			a.sum.Vectors += mr.Vectors
			a.sum.Alerts += mr.Alerts
			a.sum.Faults += mr.Faults
			a.sum.Detected += mr.Detected
			a.days += mr.Days
			a.faDays += mr.FalseAlarmsPerDay * mr.Days
			a.tp, a.fp, a.fn = a.tp+mr.Confusion.TP, a.fp+mr.Confusion.FP, a.fn+mr.Confusion.FN
			if mr.Verdict != nil && champ != nil {
				a.wins += mr.Verdict.Wins
				a.loss += mr.Verdict.Losses
				a.diffs = append(a.diffs, pairedDiffs(champ, mr, o.FaultWeight)...)
			}
		}
	}
	out := make([]GroupReport, 0, len(groups))
	for key, kinds := range groups {
		g := GroupReport{Group: key, Assets: assets[key], Kinds: []KindSummary{}}
		for _, a := range kinds {
			s := a.sum
			if a.days > 0 {
				s.FalseAlarmsPerDay = a.faDays / a.days
			}
			if d := 2*a.tp + a.fp + a.fn; d > 0 {
				s.F1 = float64(2*a.tp) / float64(d)
			}
			if s.Role != wire.RoleChampion {
				v := decide(a.wins, a.loss, a.days, a.diffs, &o)
				s.Verdict = &v
			}
			g.Kinds = append(g.Kinds, s)
		}
		sort.Slice(g.Kinds, func(i, j int) bool {
			if g.Kinds[i].Role != g.Kinds[j].Role {
				return g.Kinds[i].Role < g.Kinds[j].Role
			}
			return g.Kinds[i].Kind < g.Kinds[j].Kind
		})
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Group < out[j].Group })
	return out, nil
}
