package api_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"millwright/hub/api"
	"millwright/hub/store"
	"millwright/wire"
)

func TestModelStats(t *testing.T) {
	st := fixture(t)
	ctx := t.Context()
	e := func(seq uint64, at time.Time) wire.Envelope {
		return wire.Envelope{Version: wire.Version, Sender: "gw1", Seq: seq, Time: at.UnixNano()}
	}
	yesterday := now.Add(-24 * time.Hour)
	for i, at := range []time.Time{yesterday, now.Add(-time.Minute), now.AddDate(0, 0, -20)} {
		if _, err := st.IngestMetrics(ctx, &wire.Metrics{Env: e(uint64(100+i), at), Series: []wire.ModelMetric{
			{Machine: "m2", Model: "hst", Role: wire.RoleChampion, Kind: "hst", Count: uint64(300 + i)}}}, at); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.Deploy(ctx, store.Deployment{Gateway: "gw1", Machine: "m1", Role: wire.RoleChampion, Name: "rrcf", Kind: "rrcf", By: "dana"},
		&wire.Command{Kind: wire.CmdDeploy}, now.Add(-3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.IngestAlert(ctx, &wire.Alert{Env: e(120, now), ID: "al-3", Machine: "m1", Model: "hst", Severity: wire.SeverityWarning,
		Score: 0.95, Threshold: 0.9, Contributors: []wire.Contribution{{Feature: "vib", Value: 0.3}, {Feature: "temp", Value: 0.1}}}, now); err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, st, nil)

	code, body := do(t, "GET", srv.URL+"/api/v1/models/stats?days=2")
	if code != http.StatusOK {
		t.Fatalf("GET stats = %d %s", code, body)
	}
	var s api.ModelStats
	decode(t, body, &s)
	today, yday := now.Format(time.DateOnly), yesterday.Format(time.DateOnly)
	if len(s.Days) != 2 || s.Days[0] != yday || s.Days[1] != today {
		t.Errorf("days = %v, want [%s %s]", s.Days, yday, today)
	}
	vectors := map[string]int64{}
	for _, d := range s.Scored {
		if d.Kind == "hst" && d.Role == wire.RoleChampion {
			vectors[d.Day] += d.Vectors
		}
	}
	if len(vectors) != 2 || vectors[yday] != 300 || vectors[today] != 301 {
		t.Errorf("hst champion vectors per day = %v, want %s 300, %s 301 (and not the 20-day-old point)", vectors, yday, today)
	}
	if k := s.Promotions.Kinds; len(k) != 1 || k[0].Kind != "rrcf" || k[0].By != "dana" || !k[0].At.Equal(now.Add(-3*time.Hour)) {
		t.Errorf("promotions by kind = %+v, want rrcf by dana", k)
	}
	if a := s.Promotions.Assets; len(a) != 1 || a[0].Machine != "m1" {
		t.Errorf("promotions by asset = %+v, want m1", a)
	}
	if f := s.Features; len(f) != 2 || f[0].Feature != "vib" || f[0].Share < 0.74 || f[0].Share > 0.76 || s.FeatureAlerts["hst"] != 1 {
		t.Errorf("features = %+v (alerts %v), want vib 0.75 then temp over one alert", f, s.FeatureAlerts)
	}

	for _, bad := range []string{"0", "181", "x"} {
		if code, body := do(t, "GET", srv.URL+"/api/v1/models/stats?days="+bad); code != http.StatusBadRequest {
			t.Errorf("days=%s: %d %s, want 400", bad, code, body)
		}
	}
}

// TestModelStatsCache: finished days are answered from the cache for an
// hour, today for a minute.
func TestModelStatsCache(t *testing.T) {
	st := fixture(t)
	ctx := t.Context()
	clock := now
	srv := httptest.NewServer(api.New(api.Options{Store: st, Ingest: fakeStats{}, Gatherer: prometheus.NewRegistry(),
		Now: func() time.Time { return clock }}))
	t.Cleanup(srv.Close)
	seq := uint64(500)
	put := func(at time.Time, n uint64) {
		seq++
		if _, err := st.IngestMetrics(ctx, &wire.Metrics{Env: wire.Envelope{Version: wire.Version, Sender: "gw1", Seq: seq, Time: at.UnixNano()},
			Series: []wire.ModelMetric{{Machine: "m2", Model: "hst", Role: wire.RoleChampion, Kind: "hst", Count: n}}}, at); err != nil {
			t.Fatal(err)
		}
	}
	yday, today := now.Add(-24*time.Hour).Format(time.DateOnly), now.Format(time.DateOnly)
	vectors := func() (int64, int64) {
		t.Helper()
		code, body := do(t, "GET", srv.URL+"/api/v1/models/stats?days=2")
		if code != http.StatusOK {
			t.Fatalf("GET stats = %d %s", code, body)
		}
		var s api.ModelStats
		decode(t, body, &s)
		v := map[string]int64{}
		for _, d := range s.Scored {
			v[d.Day] += d.Vectors
		}
		return v[yday], v[today]
	}
	put(now.Add(-24*time.Hour), 10)
	put(now.Add(-time.Hour), 20)
	steps := []struct {
		advance     time.Duration
		yday, today int64
		what        string
	}{
		{0, 10, 20, "first answer"},
		{30 * time.Second, 10, 20, "both days cached"},
		{time.Minute, 10, 21, "today refreshed after a minute, yesterday cached"},
		{time.Hour, 11, 21, "yesterday refreshed after an hour"},
	}
	for i, s := range steps {
		clock = clock.Add(s.advance)
		if y, d := vectors(); y != s.yday || d != s.today {
			t.Errorf("%s: yesterday %d, today %d; want %d, %d", s.what, y, d, s.yday, s.today)
		}
		if i == 0 {
			put(now.Add(-24*time.Hour), 1)
			put(now.Add(-time.Hour), 1)
		}
	}
}
