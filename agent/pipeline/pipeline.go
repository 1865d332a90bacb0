package pipeline

import (
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"millwright/agent/stream/reorder"
	"millwright/models"
	"millwright/models/catalog"
	"millwright/wire"
)

// Sink takes what the pipeline produces. The message passed is only valid
// during the call: the pipeline reuses it. The sink sets Env.Seq (and the
// alert's ID, which names that sequence number).
type Sink interface {
	Alert(a *wire.Alert) error
	Metrics(m *wire.Metrics) error
	Drift(d *wire.Drift) error
}

// Observer takes one scoring latency in seconds (a prometheus.Observer fits).
type Observer interface{ Observe(float64) }

// NewDetector makes a detector of a kind for vectors of dim features.
type NewDetector func(kind string, dim int, seed uint64) (models.Detector, error)

// AlertOptions tune alerting. Zero fields take the defaults.
type AlertOptions struct {
	Threshold   float64       // default DefaultThreshold
	Clear       float64       // default 0.9
	Critical    float64       // default 0.999
	Consecutive int           // default 3
	Cooldown    time.Duration // default 60s; negative means none
}

// Options tune New. The zero value works except for Gateway and Sink.
type Options struct {
	Gateway string
	Model   string // champion kind, default catalog.Default
	Alert   AlertOptions
	// Learn is how many messages of a new machine its sensor set is
	// learned from (default 10).
	Learn int
	// MaxMachines and MaxSensors bound what untrusted telemetry can make
	// the agent allocate (defaults 1024 and 256).
	MaxMachines, MaxSensors int

	Sink    Sink
	Rejects *wire.Rejects // default: a private one
	Latency Observer      // optional
	Logger  *slog.Logger
	// OnMachine is called (on the pipeline's goroutine) when a machine is
	// discovered or its sensor set becomes known.
	OnMachine func()
	// NewDetector defaults to catalog.New.
	NewDetector NewDetector
	// Restore makes a detector from a snapshot; default catalog.Restore.
	Restore func([]byte) (models.Detector, error)

	// WarmUp is how many vectors a fresh champion learns from before it
	// is frozen (default 600). ScoreAfter is how many it learns from
	// unconditionally before it learns only from vectors scoring below
	// Alert.Clear (default WarmUp/3); a detector with a Ready() bool
	// method says itself when it can score.
	WarmUp, ScoreAfter int
	// Champion says how a champion learns after its warm-up: ChampionLearn
	// (the default) keeps learning from every vector, relying on the
	// detector's own robustness (the default pca down-weights far-out
	// vectors) and on the warm-up gating; ChampionGated learns only from
	// vectors scoring below Alert.Clear; ChampionFrozen stops learning. Load
	// changes of normal life make frozen champions raise false alarms
	// (models/plantbench measures all three).
	Champion string
	// MaxChallengers bounds the challengers of a machine (default 3).
	MaxChallengers int
	Drift          DriftOptions
	// Stream tunes event-time processing: reordering, de-duplication,
	// windowed features and derived signals.
	Stream StreamOptions
	// OnAlarm is called (on the pipeline's goroutine) when a machine's
	// alert episode starts (on) or ends.
	OnAlarm func(machine string, on bool)
}

// Champion learning policies (Options.Champion).
const (
	ChampionLearn  = "learn"
	ChampionGated  = "gated"
	ChampionFrozen = "frozen"
)

// Alert defaults, chosen on the simulated plant (models/plantbench): with
// calibrated scores, 0.999 held for 5 vectors flags progressive faults well
// before failure with under one false alarm per machine-week.
const (
	DefaultThreshold   = 0.999
	DefaultClear       = 0.99
	DefaultConsecutive = 5
)

func (o Options) withDefaults() Options {
	if o.Model == "" {
		o.Model = catalog.Default
	}
	a := &o.Alert
	if a.Threshold <= 0 || a.Threshold > 1 {
		a.Threshold = DefaultThreshold
	}
	if a.Clear <= 0 || a.Clear >= a.Threshold {
		a.Clear = DefaultClear
		if a.Clear >= a.Threshold {
			a.Clear = a.Threshold * 0.99
		}
	}
	if a.Critical < a.Threshold || a.Critical > 1 {
		a.Critical = max(0.999, a.Threshold)
	}
	if a.Consecutive <= 0 {
		a.Consecutive = DefaultConsecutive
	}
	if a.Cooldown == 0 {
		a.Cooldown = 60 * time.Second
	}
	if o.Learn <= 0 {
		o.Learn = 10
	}
	if o.MaxMachines <= 0 {
		o.MaxMachines = 1024
	}
	if o.MaxSensors <= 0 {
		o.MaxSensors = 256
	}
	if o.Rejects == nil {
		o.Rejects = new(wire.Rejects)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.NewDetector == nil {
		o.NewDetector = catalog.New
	}
	if o.Restore == nil {
		o.Restore = catalog.Restore
	}
	if o.WarmUp <= 0 {
		o.WarmUp = 600
	}
	if o.ScoreAfter <= 0 {
		// A third of the warm-up covers the cold start of the catalog's
		// detectors (baseline: 32 samples, then 128 for calibration).
		o.ScoreAfter = max(1, o.WarmUp/3)
	}
	if o.Champion == "" {
		o.Champion = ChampionLearn
	}
	if o.MaxChallengers <= 0 {
		o.MaxChallengers = 3
	}
	o.Drift.fill()
	return o
}

// SetAlert replaces the alert options (zero fields take the defaults), for
// a configuration reload. Call it on the pipeline's goroutine.
func (p *Pipeline) SetAlert(a AlertOptions) {
	o := p.opts
	o.Alert = a
	p.opts.Alert = o.withDefaults().Alert
}

// Stats are running totals, safe to read concurrently.
type Stats struct {
	Messages uint64 // telemetry messages accepted
	Readings uint64 // readings ingested
	Vectors  uint64 // vectors scored (each by every model of its machine)
	Alerts   uint64 // alerts raised
	Ignored  uint64 // readings of sensors outside a machine's set
	Drifts   uint64 // drifts reported
	// DriftsDropped are drifts not reported because the machine had
	// reported one less than DriftOptions.MinGap before.
	DriftsDropped uint64
	// Event time: readings released behind the watermark and scored only
	// (Late), discarded behind it (LateDropped), discarded as duplicates
	// of a reading of the same sensor and time (Duplicates), and released
	// early because a sensor's reorder buffer was full (Overflow).
	Late, LateDropped, Duplicates, Overflow uint64
	// NotRunning counts vectors not scored because the running gate said
	// the machine was stopped or settling after a start.
	NotRunning uint64
}

// Pipeline scores telemetry. See the package comment.
type Pipeline struct {
	opts Options
	log  *slog.Logger

	msg      wire.Telemetry // reused decode target
	dec      wire.TelemetryDecoder
	machines map[string]*machine
	order    []*machine // discovery order, for stable output

	alert          wire.Alert
	contrib        []float64
	metrics        wire.Metrics
	lastEmt        time.Time
	metricsFailing bool // the last EmitMetrics could not queue

	messages, readings, vectors, alerts, ignored atomic.Uint64
	drifts, driftsDropped                        atomic.Uint64
	late, dropped, duplicates, overflow          atomic.Uint64
	notRunning                                   atomic.Uint64

	rel     []reorder.Released[float64] // released readings, reused
	defRefs [][]string                  // names each derived definition reads

	infoMu sync.Mutex
	infos  []wire.MachineInfo
}

// New returns a pipeline.
func New(opts Options) (*Pipeline, error) {
	if !wire.ValidID(opts.Gateway) {
		return nil, fmt.Errorf("new pipeline: invalid gateway id %q", opts.Gateway)
	}
	if opts.Sink == nil {
		return nil, errors.New("new pipeline: no sink")
	}
	opts = opts.withDefaults()
	refs, err := opts.Stream.check()
	if err != nil {
		return nil, fmt.Errorf("new pipeline: %w", err)
	}
	return &Pipeline{
		opts:     opts,
		log:      opts.Logger,
		machines: make(map[string]*machine),
		lastEmt:  time.Now(),
		defRefs:  refs,
	}, nil
}

// Rejects returns the counter of refused messages.
func (p *Pipeline) Rejects() *wire.Rejects { return p.opts.Rejects }

// Stats returns the running totals.
func (p *Pipeline) Stats() Stats {
	return Stats{
		Messages: p.messages.Load(),
		Readings: p.readings.Load(),
		Vectors:  p.vectors.Load(),
		Alerts:   p.alerts.Load(),
		Ignored:  p.ignored.Load(),
		Drifts:   p.drifts.Load(),

		DriftsDropped: p.driftsDropped.Load(),

		Late:        p.late.Load(),
		LateDropped: p.dropped.Load(),
		Duplicates:  p.duplicates.Load(),
		Overflow:    p.overflow.Load(),
		NotRunning:  p.notRunning.Load(),
	}
}

// Machines returns what is known of every machine, in discovery order.
func (p *Pipeline) Machines() []wire.MachineInfo {
	p.infoMu.Lock()
	defer p.infoMu.Unlock()
	out := make([]wire.MachineInfo, len(p.infos))
	for i, m := range p.infos {
		m.Sensors = slices.Clone(m.Sensors)
		out[i] = m
	}
	return out
}

func (p *Pipeline) publishInfos() {
	infos := make([]wire.MachineInfo, 0, len(p.order))
	for _, m := range p.order {
		info := wire.MachineInfo{ID: m.id, Sensors: m.sensors, Model: p.opts.Model}
		if m.slots != nil {
			info.Model = m.champion().kind
		}
		infos = append(infos, info)
	}
	p.infoMu.Lock()
	p.infos = infos
	p.infoMu.Unlock()
	if p.opts.OnMachine != nil {
		p.opts.OnMachine()
	}
}

func (p *Pipeline) reject(topic, kind string, err error) {
	p.opts.Rejects.Reject(topic, &wire.DecodeError{Kind: kind, What: "telemetry", Err: err})
}

// Handle processes one telemetry message received at recv (Unix ns).
func (p *Pipeline) Handle(topic string, payload []byte, recv int64) {
	t, err := wire.ParseTopic(topic)
	if err != nil || t.Dir != "telemetry" || t.Gateway != p.opts.Gateway || !wire.ValidID(t.Machine) {
		p.reject(topic, wire.KindInvalid, errors.New("not a telemetry topic of this gateway"))
		return
	}
	// Fields absent from this message must not keep the last one's values;
	// the readings' backing array is kept for reuse.
	p.msg = wire.Telemetry{Readings: p.msg.Readings[:0]}
	if err := p.dec.Decode(payload, t.Machine, recv, &p.msg); err != nil {
		p.opts.Rejects.Reject(topic, err)
		return
	}
	// A sender without a clock: its readings happened when they arrived.
	if p.msg.Env.Time <= 0 {
		p.msg.Env.Time = recv
	}
	for i := range p.msg.Readings {
		if p.msg.Readings[i].Time <= 0 {
			p.msg.Readings[i].Time = recv
		}
	}
	if p.msg.Machine != t.Machine {
		p.reject(topic, wire.KindInvalid, fmt.Errorf("payload names machine %q", p.msg.Machine))
		return
	}
	m := p.machines[t.Machine]
	if m == nil {
		if len(p.machines) >= p.opts.MaxMachines {
			p.reject(topic, wire.KindInvalid, fmt.Errorf("more than %d machines", p.opts.MaxMachines))
			return
		}
		m = p.addMachine(t.Machine)
	}
	p.messages.Add(1)
	p.readings.Add(uint64(len(p.msg.Readings)))
	if m.slots == nil {
		if !p.learn(m, &p.msg) {
			return
		}
	}
	p.score(m, &p.msg)
}

func (p *Pipeline) addMachine(id string) *machine {
	m := &machine{id: id, learning: make(map[string]struct{})}
	p.machines[id] = m
	p.order = append(p.order, m)
	p.log.Info("machine discovered", "machine", id)
	p.publishInfos()
	return m
}

// learn adds the message's sensors to a machine still learning its sensor
// set and reports whether the set is now fixed and models are ready.
func (p *Pipeline) learn(m *machine, msg *wire.Telemetry) bool {
	for _, r := range msg.Readings {
		if len(m.learning) < p.opts.MaxSensors && wire.ValidID(r.Sensor) {
			m.learning[r.Sensor] = struct{}{}
		}
	}
	m.learnMsgs++
	if m.learnMsgs < p.opts.Learn || len(m.learning) == 0 {
		return false
	}
	sensors := make([]string, 0, len(m.learning))
	for s := range m.learning {
		sensors = append(sensors, s)
	}
	slices.Sort(sensors)
	m.inputs = sensors
	names, err := p.streamLayout(m, slices.Clone(sensors))
	var det, twin models.Detector
	if err == nil {
		det, err = p.opts.NewDetector(p.opts.Model, len(names), seed(p.opts.Gateway, m.id))
	}
	if err == nil {
		twin, err = p.opts.NewDetector(p.opts.Model, len(names), seed(p.opts.Gateway, m.id))
	}
	if err != nil {
		// A configuration error (validated kinds make it unlikely): keep
		// learning so that it is retried, and say so once.
		if m.learnMsgs == p.opts.Learn {
			p.log.Error("cannot create detector", "machine", m.id, "err", err)
		}
		return false
	}
	p.layout(m, names)
	m.slots = []*slot{
		{name: det.Kind(), role: wire.RoleChampion, kind: det.Kind(), det: det, warm: p.opts.WarmUp},
		{name: det.Kind() + "-twin", role: wire.RoleTwin, kind: det.Kind(), det: twin},
	}
	p.log.Info("machine sensor set learned", "machine", m.id, "sensors", sensors, "features", len(names), "model", det.Kind())
	p.publishInfos()
	return true
}

func seed(gw, machine string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(gw))
	h.Write([]byte{0})
	h.Write([]byte(machine))
	return h.Sum64()
}

// layout fixes a machine's vector layout and the per-feature state.
func (p *Pipeline) layout(m *machine, sensors []string) {
	m.sensors = sensors
	m.index = make(map[string]int, len(sensors))
	for i, s := range sensors {
		m.index[s] = i
	}
	if m.stream != nil && m.stream.join == nil && m.stream.keep == nil {
		m.latest = m.stream.raw // the latest values are the vector
	} else {
		m.latest = make([]float64, len(sensors))
		for i := range m.latest {
			m.latest[i] = math.NaN()
		}
	}
	m.learning = nil
	m.stats = make([]robustStat, len(sensors))
	m.drift = newMachineDrift(len(sensors))
	if len(p.contrib) < len(sensors) {
		p.contrib = make([]float64, len(sensors))
	}
}

// AlertOptions returns the alert options in force. Call it on the
// pipeline's goroutine.
func (p *Pipeline) AlertOptions() AlertOptions { return p.opts.Alert }
