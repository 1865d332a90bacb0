// Package plantbench measures models/ detectors on the simulated plant of
// firmware-sim/plant, the way the agent runs them: one vector per telemetry
// message holding the latest value of each of the machine's sensors (sorted
// by name), then its derived signals (Config.Derived), less the signals
// Config.Exclude keeps out; a champion that warms up and then learns under
// a policy; and the agent's alert rule (Consecutive scores at or over
// Threshold raise an alert, a score under Clear ends it, Cooldown between
// alerts).
//
// Frames come straight from plant.Generator, in true time order, without
// the simulated network (no delay, reordering or duplicates); a
// dropped-out sensor keeps its last value, as in the agent. The outages of
// the scenario's network are left out of scoring by their labels
// (plant.LabelOutage): a lost outage's vectors never reach the detector, a
// burst's reach it but neither alert nor count.
//
// # Machine running
//
// The plant's normal life (plant.Life, Machine.Stops) stops and starts
// machines. Config.Running puts the champion behind a machine-running
// input, as an agent with a GPIO contact on the motor's contactor would:
// no scoring or learning while the machine stands still or settles after a
// start (RunGate). Without it a stopped machine is scored like any other.
//
// It reports, per fault, whether an alert was raised before failure, the
// lead time before failure and the delay after onset; and, per machine,
// the false alarms (alerts raised while no fault is active) per week of
// healthy online time, with the first false alarms described (Alarm) to
// tell which behaviour raised them.
//
// The package is a benchmark harness: detectors never import it. Its tests
// hold catalog.Default, with RecommendedAlert and the Learn policy, to the
// plant targets and print the tables. -short and -race run a short
// version of each:
//
//	go test -v ./models/plantbench/          # ~60 s: 72 machine-weeks of normal life
//	go test -short -v ./models/plantbench/   # ~5 s
//	go test -race ./models/plantbench/       # the short version, ~60 s
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
	// WarmUp/3, the agent's) are learned unconditionally, the rest only
	// when they score under Clear, as the agent does.
	WarmUp, ScoreAfter int
	Policy             Policy
	Alert              Alert
	// Trace, when set, sees every score: machine, true time, vector, score.
	Trace func(machine string, t time.Time, x []float64, score float64)
	// Running, when set, gates the champion by the machine-running input
	// (see RunGate); nil scores every vector, stopped or not.
	Running *RunGate
	// Derived signals join each machine's vector after its sensors, in
	// order, as the agent's derived signals do (agent config `derived`);
	// a machine without both inputs of one goes without it.
	Derived []Derived
	// Exclude names signals (sensors or derived) kept out of the vector:
	// read (by Derived and the RunGate) but not scored.
	Exclude []string
}

// Derived is a derived signal Name = Of - Minus, such as the bearing's
// rise above ambient: the agent's
//
//	derived: [{name: bearing_rise, expr: "bearing_temp - ambient_temp"}]
type Derived struct {
	Name, Of, Minus string
}

// RunGate is the machine-running input an agent reads from a GPIO
// contact, typically a current relay on the motor's feed: while the
// machine stands still, and for Settle after it starts, its vectors are
// neither scored nor learned and cannot raise or end an alert.
//
// The plant does not publish its contactor's state; the gate reads it
// from a sensor the way a current relay does: the machine runs while
// Sensor reads at least Min. The plant's current falls to 0 the moment
// the contactor opens, so the relay sees a stop at once, while the shaft
// still coasts.
type RunGate struct {
	Sensor string        // default "current"
	Min    float64       // default 0.5 (A): a current relay's trip point
	Settle time.Duration // after a start; default 0
}

func (g *RunGate) withDefaults() *RunGate {
	if g == nil {
		return nil
	}
	c := *g
	if c.Sensor == "" {
		c.Sensor = "current"
	}
	if c.Min == 0 {
		c.Min = 0.5
	}
	return &c
}

func (c Config) withDefaults() Config {
	if c.WarmUp <= 0 {
		c.WarmUp = 600
	}
	if c.ScoreAfter <= 0 {
		c.ScoreAfter = max(1, c.WarmUp/3)
	}
	if c.Alert.Consecutive <= 0 {
		c.Alert.Consecutive = 3
	}
	if c.Alert.Cooldown == 0 {
		c.Alert.Cooldown = time.Minute
	}
	c.Running = c.Running.withDefaults()
	return c
}

// Fault is the outcome of one fault.
type Fault struct {
	Gateway, Machine, Type, Kind string
	Onset, Failure               time.Time
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
	Gateway, Machine, Type string
	// Sensors name the vector's features: the machine's sensors, sorted,
	// then its derived signals, less Config.Exclude.
	Sensors []string
	Faults  int
	// Alerts are all alerts raised, warm-up included (the agent alerts
	// during its warm-up too); FalseAlarms those raised while no fault of
	// the machine was active.
	Alerts, FalseAlarms int
	// Healthy is the time with no fault active and the machine online
	// (outages excluded), warm-up included: the machine-time false alarms
	// are counted in. Scored is the part of it in which the champion
	// scored: with a RunGate, the machine running and settled.
	Healthy, Scored time.Duration
	// Offline is the time in outages, left out of scoring.
	Offline time.Duration
	// Starts counts the starts the RunGate saw (0 without one).
	Starts int
	// MaxHealthy is the highest score seen in healthy time.
	MaxHealthy float64
	// Alarms describe the first false alarms (up to maxAlarms), to tell
	// what raised them.
	Alarms []Alarm
}

// Alarm is one false alarm.
type Alarm struct {
	At    time.Time
	Score float64
	// Vector is the machine's vector when the alarm was raised.
	Vector []float64
	// SinceStart is the time since the machine last started, as the
	// RunGate saw it; negative without a gate or before any stop.
	SinceStart time.Duration
	// Vectors is how many vectors the champion had seen (its warm-up is
	// the first Config.WarmUp).
	Vectors int
}

const maxAlarms = 50

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
	latest  []float64 // latest value of each sensor
	derived []derivedAt
	keep    []int     // indexes into the signals (sensors, then derived) of the vector's features
	sig     []float64 // the signals: latest, then derived
	x       []float64 // the vector
	n       int       // vectors seen

	active   bool
	over     int
	fired    bool
	lastFire int64
	spans    []span
	outages  []outage
	faults   []int // indexes into Result.Faults
	begun    int   // faults whose onset has passed, in onset order
	res      *Machine
	step     time.Duration

	gate    int   // index of the RunGate's sensor in latest, -1 for none
	running bool  // as the gate saw it at the last vector
	started int64 // true time of the last start, 0 before any
}

// derivedAt is a Derived with its inputs' indexes into the signals.
type derivedAt struct{ of, minus int }

// outage is an outage window, in true Unix ns: lost readings never reach
// the agent, burst ones reach it late.
type outage struct {
	span
	lost bool
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
			res.Machines = append(res.Machines, Machine{Gateway: gw.ID, Machine: m.ID, Type: m.Type, Faults: len(m.Faults)})
			ms[gw.ID+"/"+m.ID] = mm
			order = append(order, mm)
		}
	}
	for i, mm := range order {
		mm.res = &res.Machines[i]
	}
	for _, l := range g.AllLabels() {
		mm := ms[l.Gateway+"/"+l.Machine]
		if l.Kind == plant.LabelOutage {
			mm.outages = append(mm.outages, outage{span{l.Onset.UnixNano(), l.Failure.UnixNano()}, l.Delivery == plant.DeliveryLost})
			continue
		}
		f := Fault{Gateway: l.Gateway, Machine: l.Machine, Type: mm.res.Type, Kind: l.Kind, Onset: l.Onset, Failure: l.Failure, Progressive: l.Failure.After(l.Onset)}
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
			off, lost := mm.offline(f.True)
			if lost {
				mm.res.Offline += mm.step
				continue
			}
			if err := mm.vector(f.Telemetry.Readings, cfg); err != nil {
				return res, err
			}
			res.Vectors++
			mm.score(f.True, off, cfg, res.Faults)
		}
	}
	return res, nil
}

// vector folds a message's readings into the machine's latest values and
// builds its vector, building the detector on the first message.
func (m *machine) vector(rs []wire.Reading, cfg Config) error {
	if m.det == nil {
		if err := m.layout(rs, cfg); err != nil {
			return err
		}
	}
	for _, r := range rs {
		if i, ok := slices.BinarySearch(m.sensors, r.Sensor); ok {
			m.latest[i] = r.Value
		}
	}
	copy(m.sig, m.latest)
	for i, d := range m.derived {
		m.sig[len(m.latest)+i] = m.sig[d.of] - m.sig[d.minus]
	}
	for i, k := range m.keep {
		m.x[i] = m.sig[k]
	}
	return nil
}

// layout fixes the machine's sensors (those of its first message, sorted,
// as the agent learns them), its derived signals and its vector, and
// builds its detector.
func (m *machine) layout(rs []wire.Reading, cfg Config) error {
	for _, r := range rs {
		m.sensors = append(m.sensors, r.Sensor)
	}
	slices.Sort(m.sensors)
	m.latest = make([]float64, len(m.sensors))
	for i := range m.latest {
		m.latest[i] = nan
	}
	names := slices.Clone(m.sensors)
	for _, d := range cfg.Derived {
		of, minus := slices.Index(names, d.Of), slices.Index(names, d.Minus)
		if of < 0 || minus < 0 {
			continue
		}
		m.derived = append(m.derived, derivedAt{of, minus})
		names = append(names, d.Name)
	}
	var features []string
	for i, n := range names {
		if !slices.Contains(cfg.Exclude, n) {
			m.keep = append(m.keep, i)
			features = append(features, n)
		}
	}
	m.sig = make([]float64, len(names))
	m.x = make([]float64, len(m.keep))
	det, err := cfg.New(len(m.x), seedOf(m.gw, m.id))
	if err != nil {
		return fmt.Errorf("plantbench: new detector for %s/%s: %w", m.gw, m.id, err)
	}
	m.det = det
	m.res.Sensors = features
	m.gate = -1
	if g := cfg.Running; g != nil {
		i, ok := slices.BinarySearch(m.sensors, g.Sensor)
		if !ok {
			return fmt.Errorf("plantbench: %s/%s has no sensor %q for the running input", m.gw, m.id, g.Sensor)
		}
		m.gate, m.running = i, true
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

// offline reports whether t is in an outage of the machine, and whether
// its readings are lost.
func (m *machine) offline(t int64) (off, lost bool) {
	for _, o := range m.outages {
		if t >= o.from && t < o.to {
			off, lost = true, lost || o.lost
		}
	}
	return off, lost
}

// runs applies the RunGate to the vector at true time t: whether the
// champion may score it.
func (m *machine) runs(t int64, g *RunGate) bool {
	if m.gate < 0 {
		return true
	}
	on := m.latest[m.gate] >= g.Min
	if on && !m.running {
		m.started = t
		m.res.Starts++
	}
	m.running = on
	return on && (m.started == 0 || t-m.started >= int64(g.Settle))
}

// score runs the detector under cfg's policy on the latest vector at true
// time t and the alert rule on its score. A vector of an outage (off) is
// learned as the policy says but neither alerts nor counts; one the
// RunGate holds back is not even scored.
func (m *machine) score(t int64, off bool, cfg Config, faults []Fault) {
	x := m.x
	faulty := m.faulty(t)
	if off {
		m.res.Offline += m.step
	} else if !faulty {
		m.res.Healthy += m.step
	}
	if !m.runs(t, cfg.Running) {
		m.over = 0
		return
	}
	if !off && !faulty {
		m.res.Scored += m.step
	}
	m.n++
	var v float64
	switch {
	case m.n <= cfg.ScoreAfter:
		v = m.det.Update(x)
	case m.n <= cfg.WarmUp || cfg.Policy == Gated:
		v = m.det.Score(x)
		if v < cfg.Alert.Clear {
			m.det.Update(x)
		}
	case cfg.Policy == Learn:
		v = m.det.Update(x)
	default:
		v = m.det.Score(x)
	}
	if cfg.Trace != nil {
		cfg.Trace(m.gw+"/"+m.id, time.Unix(0, t).UTC(), x, v)
	}
	for m.begun < len(m.faults) && t >= faults[m.faults[m.begun]].Onset.UnixNano() {
		faults[m.faults[m.begun]].Masked = m.active
		m.begun++
	}
	if off {
		return
	}
	if !faulty {
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
		if len(m.res.Alarms) < maxAlarms {
			since := time.Duration(-1)
			if m.started != 0 {
				since = time.Duration(t - m.started)
			}
			m.res.Alarms = append(m.res.Alarms, Alarm{At: time.Unix(0, t).UTC(), Score: v, Vector: slices.Clone(x), SinceStart: since, Vectors: m.n})
		}
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
