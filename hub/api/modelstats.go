package api

import (
	"context"
	"net/http"
	"sync"
	"time"

	"millwright/hub/store"
)

// ModelStats is the body of GET /api/v1/models/stats: what the Models page
// shows beside the registry.
type ModelStats struct {
	// Days are the UTC days of the window, oldest first (YYYY-MM-DD).
	Days []string `json:"days"`
	// Scored holds the vectors scored per kind, role and day, by day;
	// days without metrics are absent. Finished days may be up to an
	// hour old, today up to a minute.
	Scored []store.ModelDay `json:"scored"`
	// Promotions are the latest champion promotion per kind (newest
	// first) and per most recently changed asset.
	Promotions struct {
		Kinds  []store.Promotion `json:"kinds"`
		Assets []store.Promotion `json:"assets"`
	} `json:"promotions"`
	// Features are each model's top features over its alerts of the
	// window; FeatureAlerts counts those alerts per model.
	Features      []store.FeatureShare `json:"features"`
	FeatureAlerts map[string]int64     `json:"feature_alerts"`
}

const (
	defaultStatsDays = 14
	maxStatsDays     = int(store.RollupKeep / (24 * time.Hour))
	statsAlerts      = 5000 // newest alerts whose contributions are aggregated
	statsAssets      = 20
	statsFeatures    = 6
)

// Vectors scored per day come from every machine's 5-minute rollups, a
// query linear in their number (seconds for 5,000 machines over two
// weeks), so each UTC day's sums are kept: finished days for
// pastDayTTL (metrics may arrive late from a gateway that was offline),
// today for todayTTL.
const (
	pastDayTTL = time.Hour
	todayTTL   = time.Minute
)

// scoredDays caches store.ScoredPerDay by UTC day.
type scoredDays struct {
	h    *handler
	mu   sync.Mutex // held across a query: concurrent viewers wait for one
	days map[string]scoredDay
}

type scoredDay struct {
	rows []store.ModelDay
	at   time.Time
}

// modelStatsHandler returns the handler of GET /api/v1/models/stats with
// its own cache.
func (h *handler) modelStatsHandler() http.HandlerFunc {
	c := &scoredDays{h: h, days: map[string]scoredDay{}}
	return func(w http.ResponseWriter, r *http.Request) { h.modelStats(w, r, c) }
}

// get returns the rows of days (consecutive, oldest first, the last being
// today), querying the store from the oldest stale day on.
func (c *scoredDays) get(ctx context.Context, days []string, first time.Time, now time.Time) ([]store.ModelDay, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	stale := -1
	for i, d := range days {
		ttl := pastDayTTL
		if i == len(days)-1 {
			ttl = todayTTL
		}
		if e, ok := c.days[d]; !ok || now.Sub(e.at) >= ttl || now.Before(e.at) {
			stale = i
			break
		}
	}
	if stale >= 0 {
		rows, err := c.h.opts.Store.ScoredPerDay(ctx, first.AddDate(0, 0, stale), time.Time{})
		if err != nil {
			return nil, err
		}
		fresh := map[string][]store.ModelDay{}
		for _, r := range rows {
			fresh[r.Day] = append(fresh[r.Day], r)
		}
		for _, d := range days[stale:] {
			c.days[d] = scoredDay{rows: fresh[d], at: now}
		}
		for d := range c.days { // forget days that left every window
			if d < days[0] && now.Sub(c.days[d].at) > pastDayTTL {
				delete(c.days, d)
			}
		}
	}
	out := []store.ModelDay{}
	for _, d := range days {
		out = append(out, c.days[d].rows...)
	}
	return out, nil
}

// modelStats answers GET /api/v1/models/stats?days=N (default 14).
func (h *handler) modelStats(w http.ResponseWriter, r *http.Request, cache *scoredDays) {
	days, err := parseLimit(r.URL.Query().Get("days"), defaultStatsDays, maxStatsDays)
	if err != nil {
		writeError(w, http.StatusBadRequest, "days: want a whole number from 1 to 180")
		return
	}
	ctx := r.Context()
	now := h.opts.Now()
	first := now.UTC().Truncate(24*time.Hour).AddDate(0, 0, 1-days)
	var out ModelStats
	for d := range days {
		out.Days = append(out.Days, first.AddDate(0, 0, d).Format(time.DateOnly))
	}
	if out.Scored, err = cache.get(ctx, out.Days, first, now); err != nil {
		h.internal(w, r, err)
		return
	}
	if out.Promotions.Kinds, out.Promotions.Assets, err = h.opts.Store.LastPromotions(ctx, statsAssets); err != nil {
		h.internal(w, r, err)
		return
	}
	if out.Features, out.FeatureAlerts, err = h.opts.Store.ModelFeatures(ctx, first, statsAlerts, statsFeatures); err != nil {
		h.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}
