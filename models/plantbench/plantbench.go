// Package plantbench measures models/ detectors on the simulated plant of
// firmware-sim/plant, the way the agent runs them: one vector per telemetry
// message holding the latest value of each of the machine's sensors (sorted
// by name), a champion that warms up and then learns under a policy, and the
// agent's alert rule (Consecutive scores at or over Threshold raise an
// alert, a score under Clear ends it, Cooldown between alerts).
//
// Frames come straight from plant.Generator, in true time order, without
// the simulated network (no delay, reordering, duplicates or outages); a
// dropped-out sensor keeps its last value, as in the agent.
//
// It reports, per fault, whether an alert was raised before failure, the
// lead time before failure and the delay after onset; and, per machine,
// the false alarms (alerts raised while no fault is active) per week of
// simulated scored time.
//
// The package is a benchmark harness: detectors never import it. Its tests
// hold catalog.Default, with RecommendedAlert and the Learn policy, to the
// plant targets and print the tables:
//
//	go test -v ./models/plantbench/          # ~40 s: 36 machine-weeks of normal life
//	go test -short -v ./models/plantbench/   # ~4 s
package plantbench

import (
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"time"

	"millwright/firmware-sim/plant"
	"millwright/models"
	"millwright/wire"
)

// Policy is how the champion learns once its warm-up is over.
type Policy int

// Policies.
const (
	// Frozen scores only (Score) after the warm-up: the agent's champion.
	Frozen Policy = iota
	// Gated keeps learning after the warm-up, only from vectors scoring
	// under Clear: the agent's learning twin.
	Gated
	// Learn always learns (Update), fault or not.
	Learn
)

func (p Policy) String() string {
	switch p {
	case Frozen:
		return "frozen"
	case Gated:
		return "gated"
	case Learn:
		return "learn"
	}
	return fmt.Sprintf("Policy(%d)", int(p))
}

// Alert is the agent's alert rule.
type Alert struct {
	Threshold, Clear float64
	Consecutive      int
	Cooldown         time.Duration
}

// Config says which detector runs and how.
type Config struct {
	// New builds the detector of one machine.
	New func(dim int, seed uint64) (models.Detector, error)
	// WarmUp is how many vectors the detector learns from before Policy
	// applies (default 600). The first ScoreAfter of them (default
	// WarmUp/5) are learned unconditionally, the rest only when they score
	// under Clear, as the agent does.
	WarmUp, ScoreAfter int
	Policy             Policy
	Alert              Alert
	// Trace, when set, sees every score: machine, true time, vector, score.
	Trace func(machine string, t time.Time, x []float64, score float64)
}

func (c Config) withDefaults() Config {
	if c.WarmUp <= 0 {
		c.WarmUp = 600
	}
	if c.ScoreAfter <= 0 {
		c.ScoreAfter = max(1, c.WarmUp/5)
	}
	if c.Alert.Consecutive <= 0 {
		c.Alert.Consecutive = 3
	}
	if c.Alert.Cooldown == 0 {
		c.Alert.Cooldown = time.Minute
	}
	return c
}

// Fault is the outcome of one fault.
type Fault struct {
	Gateway, Machine, Kind string
	Onset, Failure         time.Time
	// Progressive faults develop over a ramp (failure after onset).
	Progressive bool
	// Detected: an alert was raised in [onset, failure] (or at onset +
	// 1 min for a fault without ramp).
	Detected bool
	// Masked: the machine was already in alert when the fault began, so no
	// new alert could be raised for it.
	Masked bool
	// Delay is from onset to the alert, Lead from the alert to failure.
	Delay, Lead time.Duration
}

// Machine is the outcome of one machine.
type Machine struct {
	Gateway, Machine string
	Faults           int
	// Alerts are all alerts raised, warm-up included (the agent alerts
	// during its warm-up too); FalseAlarms those raised while no fault of
	// the machine was active.
	Alerts, FalseAlarms int
	// Healthy is the time with no fault active, warm-up included.
	Healthy time.Duration
	// MaxHealthy is the highest score seen in healthy time.
	MaxHealthy float64
}

// Result is the outcome of one run.
type Result struct {
	Scenario string
	Duration time.Duration // simulated
	Vectors  int
	Faults   []Fault
	Machines []Machine
}

// FalseAlarmsPerWeek returns the false alarms per machine-week of healthy
// scored time, over all machines, and the machine-weeks it is measured on.
func (r Result) FalseAlarmsPerWeek() (rate, weeks float64) {
	n := 0
	var h time.Duration
	for _, m := range r.Machines {
		n += m.FalseAlarms
		h += m.Healthy
	}
	weeks = h.Hours() / (7 * 24)
	if weeks == 0 {
		return 0, 0
	}
	return float64(n) / weeks, weeks
}

// Merge returns the union of results, for runs over several seeds.
func Merge(rs ...Result) Result {
	var out Result
	for _, r := range rs {
		if out.Scenario == "" {
			out.Scenario = r.Scenario
		}
		out.Duration += r.Duration
		out.Vectors += r.Vectors
		out.Faults = append(out.Faults, r.Faults...)
		out.Machines = append(out.Machines, r.Machines...)
	}
	return out
}

// span is a fault's active time, in true Unix ns.
type span struct{ from, to int64 }

type machine struct {
	gw, id  string
	det     models.Detector
	sensors []string  // sorted
	latest  []float64 // vector
	n       int       // vectors seen

	active   bool
	over     int
	fired    bool
	lastFire int64
	spans    []span
	faults   []int // indexes into Result.Faults
	begun    int   // faults whose onset has passed, in onset order
	res      *Machine
	step     time.Duration
}

// Run runs cfg's detector on every machine of sc for d of simulated time
// from start.
func Run(sc plant.Scenario, start time.Time, d time.Duration, cfg Config) (Result, error) {
	cfg = cfg.withDefaults()
	g, err := plant.NewGenerator(sc, start)
	if err != nil {
		return Result{}, fmt.Errorf("plantbench: %w", err)
	}
	res := Result{Scenario: g.Scenario().Name, Duration: d}
	ms := map[string]*machine{}
	var order []*machine
	for _, gw := range g.Scenario().Gateways {
		for _, m := range gw.Machines {
			mm := &machine{gw: gw.ID, id: m.ID, step: g.Interval()}
			res.Machines = append(res.Machines, Machine{Gateway: gw.ID, Machine: m.ID, Faults: len(m.Faults)})
			ms[gw.ID+"/"+m.ID] = mm
			order = append(order, mm)
		}
	}
	for i, mm := range order {
		mm.res = &res.Machines[i]
	}
	for _, l := range g.Labels() {
		mm := ms[l.Gateway+"/"+l.Machine]
		f := Fault{Gateway: l.Gateway, Machine: l.Machine, Kind: l.Kind, Onset: l.Onset, Failure: l.Failure, Progressive: l.Failure.After(l.Onset)}
		to := int64(1<<63 - 1)
		if l.Repair != nil {
			to = l.Repair.UnixNano()
		}
		mm.spans = append(mm.spans, span{l.Onset.UnixNano(), to})
		mm.faults = append(mm.faults, len(res.Faults))
		res.Faults = append(res.Faults, f)
	}
	for _, mm := range order {
		slices.SortStableFunc(mm.faults, func(a, b int) int { return res.Faults[a].Onset.Compare(res.Faults[b].Onset) })
	}
	end := g.Start().Add(d).UnixNano()
	for g.NextTime().UnixNano() < end {
		for i, f := range g.Next() {
			mm := order[i]
			if err := mm.vector(f.Telemetry.Readings, cfg); err != nil {
				return res, err
			}
			res.Vectors++
			mm.score(f.True, cfg, res.Faults)
		}
	}
	return res, nil
}

// vector folds a message's readings into the machine's latest vector,
// building the detector on the first message.
func (m *machine) vector(rs []wire.Reading, cfg Config) error {
	if m.det == nil {
		for _, r := range rs {
			m.sensors = append(m.sensors, r.Sensor)
		}
		slices.Sort(m.sensors)
		m.latest = make([]float64, len(m.sensors))
		for i := range m.latest {
			m.latest[i] = nan
		}
		det, err := cfg.New(len(m.sensors), seedOf(m.gw, m.id))
		if err != nil {
			return fmt.Errorf("plantbench: new detector for %s/%s: %w", m.gw, m.id, err)
		}
		m.det = det
	}
	for _, r := range rs {
		if i, ok := slices.BinarySearch(m.sensors, r.Sensor); ok {
			m.latest[i] = r.Value
		}
	}
	return nil
}

var nan = math.NaN()

func seedOf(gw, id string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(gw))
	h.Write([]byte{'/'})
	h.Write([]byte(id))
	return h.Sum64()
}

// faulty reports whether a fault of the machine is active at t.
func (m *machine) faulty(t int64) bool {
	for _, s := range m.spans {
		if t >= s.from && t < s.to {
			return true
		}
	}
	return false
}

// score runs the detector under cfg's policy on the latest vector at true
// time t and the alert rule on its score.
func (m *machine) score(t int64, cfg Config, faults []Fault) {
	m.n++
	var v float64
	switch {
	case m.n <= cfg.ScoreAfter:
		v = m.det.Update(m.latest)
	case m.n <= cfg.WarmUp || cfg.Policy == Gated:
		v = m.det.Score(m.latest)
		if v < cfg.Alert.Clear {
			m.det.Update(m.latest)
		}
	case cfg.Policy == Learn:
		v = m.det.Update(m.latest)
	default:
		v = m.det.Score(m.latest)
	}
	if cfg.Trace != nil {
		cfg.Trace(m.gw+"/"+m.id, time.Unix(0, t).UTC(), m.latest, v)
	}
	for m.begun < len(m.faults) && t >= faults[m.faults[m.begun]].Onset.UnixNano() {
		faults[m.faults[m.begun]].Masked = m.active
		m.begun++
	}
	faulty := m.faulty(t)
	if !faulty {
		m.res.Healthy += m.step
		m.res.MaxHealthy = max(m.res.MaxHealthy, v)
	}
	a := &cfg.Alert
	if m.active {
		if v < a.Clear {
			m.active, m.over = false, 0
		}
		return
	}
	if v < a.Threshold {
		m.over = 0
		return
	}
	m.over++
	if m.over < a.Consecutive {
		return
	}
	if m.fired && a.Cooldown > 0 && t-m.lastFire < int64(a.Cooldown) {
		return
	}
	m.active, m.fired, m.lastFire, m.over = true, true, t, 0
	m.res.Alerts++
	if !faulty {
		m.res.FalseAlarms++
		return
	}
	for _, i := range m.faults {
		f := &faults[i]
		on, fail := f.Onset.UnixNano(), f.Failure.UnixNano()
		if !f.Progressive {
			fail = on + int64(time.Minute)
		}
		if f.Detected || t < on || t > fail {
			continue
		}
		f.Detected = true
		f.Delay = time.Duration(t - on)
		f.Lead = time.Duration(max(0, f.Failure.UnixNano()-t))
	}
}

// Kind returns a Config.New that builds catalog kinds through newKind
// (catalog.New, or a wrapper that sets options).
func Kind(kind string, newKind func(kind string, dim int, seed uint64) (models.Detector, error)) func(dim int, seed uint64) (models.Detector, error) {
	return func(dim int, seed uint64) (models.Detector, error) { return newKind(kind, dim, seed) }
}

// RecommendedAlert is the alert rule the default champion is tuned for,
// the agent's alert settings to use with it: calibrated threshold 0.999,
// clear under 0.99, 5 consecutive vectors, 60 s cooldown.
func RecommendedAlert() Alert {
	return Alert{Threshold: 0.999, Clear: 0.99, Consecutive: 5, Cooldown: time.Minute}
}
