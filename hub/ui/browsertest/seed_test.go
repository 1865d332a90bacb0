package browsertest_test

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"millwright/hub/store"
	"millwright/wire"
)

// seeder writes agent messages straight into the hub's store, numbering
// each sender's envelopes as an agent would.
type seeder struct {
	t   testing.TB
	ctx context.Context
	st  *store.Store
	seq map[string]uint64
}

func newSeeder(t testing.TB, st *store.Store) *seeder {
	return &seeder{t: t, ctx: t.Context(), st: st, seq: map[string]uint64{}}
}

func (s *seeder) env(gw string, at time.Time) wire.Envelope {
	s.seq[gw]++
	return wire.Envelope{Version: wire.Version, Sender: gw, Seq: s.seq[gw], Time: at.UnixNano()}
}

func (s *seeder) check(what string, dup bool, err error) {
	s.t.Helper()
	if err != nil {
		s.t.Fatalf("seed %s: %v", what, err)
	}
	if dup {
		s.t.Fatalf("seed %s: stored as a duplicate", what)
	}
}

func (s *seeder) birth(gw string, ms ...wire.MachineInfo) {
	s.t.Helper()
	dup, err := s.st.IngestBirth(s.ctx, &wire.Birth{Env: s.env(gw, time.Now()), AgentVersion: "0.1.0", Machines: ms}, time.Now())
	s.check("birth "+gw, dup, err)
}

func (s *seeder) death(gw string) {
	s.t.Helper()
	dup, err := s.st.IngestDeath(s.ctx, &wire.Death{Env: s.env(gw, time.Now()), Reason: "test"}, time.Now())
	s.check("death "+gw, dup, err)
}

func (s *seeder) metrics(gw string, at time.Time, series ...wire.ModelMetric) {
	s.t.Helper()
	dup, err := s.st.IngestMetrics(s.ctx, &wire.Metrics{Env: s.env(gw, at), IntervalNs: int64(time.Minute), Series: series}, at)
	s.check("metrics "+gw, dup, err)
}

func (s *seeder) alert(gw string, a wire.Alert, at time.Time) {
	s.t.Helper()
	a.Env = s.env(gw, at)
	dup, err := s.st.IngestAlert(s.ctx, &a, at)
	s.check("alert "+a.ID, dup, err)
}

func (s *seeder) snapshot(gw string, sn wire.Snapshot, at time.Time) string {
	s.t.Helper()
	sn.Env = s.env(gw, at)
	dup, err := s.st.IngestSnapshot(s.ctx, &sn, at)
	s.check("snapshot", dup, err)
	return store.SnapshotID(sn.Data)
}

// score is a smooth, deterministic anomaly score in [0, 1) with a bump
// around minute bump (negative: none).
func score(machine int, minute, bump int, scale float64) float64 {
	v := 0.25 + 0.08*math.Sin(float64(minute)/7+float64(machine))
	if bump >= 0 {
		d := float64(minute - bump)
		v += 0.7 * math.Exp(-d*d/18)
	}
	return math.Min(0.99, v*scale)
}

func hist(center float64) []uint32 {
	h := make([]uint32, wire.HistBins)
	for i := range h {
		x := (float64(i) + 0.5) / wire.HistBins
		h[i] = uint32(500 * math.Exp(-(x-center)*(x-center)/0.01))
	}
	return h
}

// seedPlant is the plant the UI tests look at: two sites, three gateways
// (one offline), six machines, an hour of metrics of a champion, a twin
// and a challenger, two open alerts and one acknowledged, and a snapshot
// lineage of three generations.
func seedPlant(t *testing.T, st *store.Store) {
	s := newSeeder(t, st)
	s.birth("gw-a",
		wire.MachineInfo{ID: "press-1", Type: "press", Site: "north", Line: "1", Sensors: []string{"force", "temp"}, Model: "hst"},
		wire.MachineInfo{ID: "press-2", Type: "press", Site: "north", Line: "1", Sensors: []string{"force", "temp"}, Model: "hst"},
		wire.MachineInfo{ID: "pump-1", Type: "pump", Site: "north", Line: "1", Sensors: []string{"flow", "vib"}, Model: "hst"})
	s.birth("gw-b",
		wire.MachineInfo{ID: "mill-1", Type: "mill", Site: "north", Line: "2", Sensors: []string{"rpm", "vib"}, Model: "hst"},
		wire.MachineInfo{ID: "mill-2", Type: "mill", Site: "north", Line: "2", Sensors: []string{"rpm", "vib"}, Model: "hst"})
	s.birth("gw-c", wire.MachineInfo{ID: "oven-1", Type: "oven", Site: "south", Line: "7", Sensors: []string{"temp"}, Model: "hst"})
	s.death("gw-c")

	machines := map[string][]string{"gw-a": {"press-1", "press-2", "pump-1"}, "gw-b": {"mill-1", "mill-2"}}
	now := time.Now().Truncate(time.Minute)
	for gw, ms := range machines {
		for minute := 0; minute <= 60; minute++ {
			at := now.Add(time.Duration(minute-60) * time.Minute)
			var series []wire.ModelMetric
			for i, m := range ms {
				bump := -1
				if m == "press-1" {
					bump = 45
				}
				if m == "pump-1" {
					bump = 55
				}
				c := score(i, minute, bump, 1)
				series = append(series, wire.ModelMetric{Machine: m, Model: "hst", Role: wire.RoleChampion, Kind: "hst", Count: 600,
					ScoreMean: c, ScoreMax: math.Min(1, c*1.1), ScoreLast: c, Samples: uint64(100000 + 600*minute), Threshold: 0.8,
					LatencyNs: 9000, Hist: hist(c)})
				if m == "press-1" {
					tw := score(i, minute, bump, 0.95)
					ch := score(i, minute, bump, 0.85)
					series = append(series,
						wire.ModelMetric{Machine: m, Model: "hst-twin", Role: wire.RoleTwin, Kind: "hst", Count: 600, ScoreMean: tw,
							ScoreMax: tw, ScoreLast: tw, Samples: uint64(600 * minute), Threshold: 0.8, Both: 3, OnlyModel: 1, OnlyChampion: 2, Hist: hist(tw)},
						wire.ModelMetric{Machine: m, Model: "rrcf", Role: wire.RoleChallenger, Kind: "rrcf", Count: 600, ScoreMean: ch,
							ScoreMax: ch, ScoreLast: ch, Samples: uint64(600 * minute), Threshold: 0.8, Both: 2, OnlyModel: 1, OnlyChampion: 4, Hist: hist(ch)})
				}
			}
			s.metrics(gw, at, series...)
		}
	}
	contrib := []wire.Contribution{{Feature: "force", Value: 0.71}, {Feature: "temp", Value: 0.18}}
	s.alert("gw-a", wire.Alert{ID: "gw-a-press-1-1", Machine: "press-1", Model: "hst", Severity: wire.SeverityCritical,
		Score: 0.93, Threshold: 0.8, Contributors: contrib, Message: "force far above its learned range"}, now.Add(-15*time.Minute))
	s.alert("gw-a", wire.Alert{ID: "gw-a-pump-1-1", Machine: "pump-1", Model: "hst", Severity: wire.SeverityWarning,
		Score: 0.86, Threshold: 0.8, Contributors: []wire.Contribution{{Feature: "vib", Value: 0.6}}}, now.Add(-5*time.Minute))
	s.alert("gw-b", wire.Alert{ID: "gw-b-mill-1-1", Machine: "mill-1", Model: "hst", Severity: wire.SeverityWarning,
		Score: 0.82, Threshold: 0.8}, now.Add(-40*time.Minute))
	if _, err := st.AckAlert(t.Context(), "gw-b-mill-1-1", now.Add(-30*time.Minute)); err != nil {
		t.Fatalf("seed ack: %v", err)
	}

	dup, err := st.IngestDrift(t.Context(), &wire.Drift{Env: s.env("gw-a", now.Add(-20*time.Minute)), Machine: "press-1", Model: "hst",
		Role: wire.RoleChampion, Detector: "adwin", Signal: "force", Before: 0.31, After: 0.52, Samples: 4200}, now.Add(-20*time.Minute))
	s.check("drift", dup, err)

	parent := ""
	for gen := range 3 {
		parent = s.snapshot("gw-a", wire.Snapshot{Machine: "press-1", Model: "hst", Role: wire.RoleChampion, Parent: parent,
			Samples: uint64(50000 * (gen + 1)), Data: []byte(fmt.Sprintf("hst state generation %d", gen))}, now.Add(time.Duration(gen-3)*time.Hour))
	}
	s.snapshot("gw-a", wire.Snapshot{Machine: "press-1", Model: "rrcf", Role: wire.RoleChallenger, Samples: 36000,
		Data: []byte("rrcf state")}, now.Add(-30*time.Minute))
}

// seedFleet registers n machines behind n/50 gateways on 4 sites, each
// with one metrics point, for the first-view measurement.
func seedFleet(t *testing.T, st *store.Store, n int) {
	s := newSeeder(t, st)
	const perGateway = 50
	now := time.Now()
	for g := 0; g*perGateway < n; g++ {
		gw := fmt.Sprintf("gw-%03d", g)
		var ms []wire.MachineInfo
		var series []wire.ModelMetric
		for i := 0; i < perGateway && g*perGateway+i < n; i++ {
			id := fmt.Sprintf("m-%05d", g*perGateway+i)
			ms = append(ms, wire.MachineInfo{ID: id, Type: []string{"press", "pump", "mill", "oven"}[i%4],
				Site: fmt.Sprintf("site-%d", g%4), Line: fmt.Sprintf("%d", g%10), Sensors: []string{"a", "b"}, Model: "hst"})
			c := score(i, g, -1, 1+float64(i%17)/10)
			series = append(series, wire.ModelMetric{Machine: id, Model: "hst", Role: wire.RoleChampion, Kind: "hst", Count: 100,
				ScoreMean: c, ScoreMax: c, ScoreLast: c, Threshold: 0.8})
		}
		s.birth(gw, ms...)
		s.metrics(gw, now, series...)
	}
}

// liveFeed is an HTTP endpoint the browser script calls to make the plant
// move while a page is open: each call publishes one metrics interval of
// gw-a/press-1 (champion score 0.5) through the hub's broker, as an agent
// would, so the page must pick it up through ingest and the API.
func liveFeed(t *testing.T, brokerAddr string) string {
	t.Helper()
	c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + brokerAddr).SetClientID("browsertest-gw-a"))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect to the hub's broker: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	var mu sync.Mutex
	seq := uint64(1 << 20) // clear of the seeder's numbers
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seq++
		// Two seconds ahead: strictly newer than any seeded point.
		env := wire.Envelope{Version: wire.Version, Sender: "gw-a", Seq: seq, Time: time.Now().Add(2 * time.Second).UnixNano()}
		mu.Unlock()
		// ?alert=ID publishes an alert of press-1 instead of metrics.
		leaf, msg := wire.LeafMetrics, wire.Message(&wire.Metrics{Env: env, IntervalNs: int64(time.Minute), Series: []wire.ModelMetric{{
			Machine: "press-1", Model: "hst", Role: wire.RoleChampion, Kind: "hst", Count: 600,
			ScoreMean: 0.5, ScoreMax: 0.55, ScoreLast: 0.5, Threshold: 0.8}}})
		if id := r.URL.Query().Get("alert"); id != "" {
			leaf, msg = wire.LeafAlerts, &wire.Alert{Env: env, ID: id, Machine: "press-1", Model: "hst", Severity: wire.SeverityWarning,
				Score: 0.84, Threshold: 0.8, Message: "published while the page is open"}
		}
		b, err := wire.Marshal(msg)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if tok := c.Publish(wire.AgentTopic("gw-a", leaf), 1, false, b); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			http.Error(w, fmt.Sprint("publish: ", tok.Error()), http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// burstFeed is an HTTP endpoint that publishes, through the hub's broker,
// one metrics interval of every machine seedFleet(n) made (champion score
// ?score=, default 0.321): 5,000 machines reporting at once, as the fleet
// page must absorb without redrawing per machine.
func burstFeed(t *testing.T, brokerAddr string, n int) string {
	t.Helper()
	const perGateway = 50 // as seedFleet
	c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + brokerAddr).SetClientID("browsertest-burst"))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect to the hub's broker: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	var mu sync.Mutex
	seq := uint64(1 << 20) // clear of the seeder's numbers
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		score := 0.321
		if v := r.URL.Query().Get("score"); v != "" {
			if _, err := fmt.Sscan(v, &score); err != nil {
				http.Error(w, "score: "+err.Error(), http.StatusBadRequest)
				return
			}
		}
		mu.Lock()
		defer mu.Unlock()
		seq++
		env := wire.Envelope{Version: wire.Version, Seq: seq, Time: time.Now().Add(2 * time.Second).UnixNano()}
		var toks []paho.Token
		for g := 0; g*perGateway < n; g++ {
			gw := fmt.Sprintf("gw-%03d", g)
			env.Sender = gw
			m := &wire.Metrics{Env: env, IntervalNs: int64(time.Minute)}
			for i := 0; i < perGateway && g*perGateway+i < n; i++ {
				m.Series = append(m.Series, wire.ModelMetric{Machine: fmt.Sprintf("m-%05d", g*perGateway+i), Model: "hst",
					Role: wire.RoleChampion, Kind: "hst", Count: 600, ScoreMean: score, ScoreMax: score, ScoreLast: score, Threshold: 0.8})
			}
			b, err := wire.Marshal(m)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			toks = append(toks, c.Publish(wire.AgentTopic(gw, wire.LeafMetrics), 1, false, b))
		}
		for _, tok := range toks {
			if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
				http.Error(w, fmt.Sprint("publish: ", tok.Error()), http.StatusBadGateway)
				return
			}
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}
