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
}

// Observer takes one scoring latency in seconds (a prometheus.Observer fits).
type Observer interface{ Observe(float64) }

// NewDetector makes a detector of a kind for vectors of dim features.
type NewDetector func(kind string, dim int, seed uint64) (models.Detector, error)

// AlertOptions tune alerting. Zero fields take the defaults.
type AlertOptions struct {
	Threshold   float64       // default 0.99
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
}

func (o Options) withDefaults() Options {
	if o.Model == "" {
		o.Model = catalog.Default
	}
	a := &o.Alert
	if a.Threshold <= 0 || a.Threshold > 1 {
		a.Threshold = 0.99
	}
	if a.Clear <= 0 || a.Clear >= a.Threshold {
		a.Clear = min(0.9, a.Threshold*0.9)
	}
	if a.Critical < a.Threshold || a.Critical > 1 {
		a.Critical = max(0.999, a.Threshold)
	}
	if a.Consecutive <= 0 {
		a.Consecutive = 3
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
	return o
}

// Stats are running totals, safe to read concurrently.
type Stats struct {
	Messages uint64 // telemetry messages accepted
	Readings uint64 // readings ingested
	Vectors  uint64 // vectors scored (per model)
	Alerts   uint64 // alerts raised
	Ignored  uint64 // readings of sensors outside a machine's set
}

// Pipeline scores telemetry. See the package comment.
type Pipeline struct {
	opts Options
	log  *slog.Logger

	msg      wire.Telemetry // reused decode target
	machines map[string]*machine
	order    []*machine // discovery order, for stable output

	alert   wire.Alert
	contrib []float64
	metrics wire.Metrics
	lastEmt time.Time

	messages, readings, vectors, alerts, ignored atomic.Uint64

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
	return &Pipeline{
		opts:     opts,
		log:      opts.Logger,
		machines: make(map[string]*machine),
		lastEmt:  time.Now(),
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
		infos = append(infos, wire.MachineInfo{ID: m.id, Sensors: m.sensors, Model: p.opts.Model})
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
	if err := wire.DecodeTelemetry(payload, t.Machine, recv, &p.msg); err != nil {
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
	det, err := p.opts.NewDetector(p.opts.Model, len(sensors), seed(p.opts.Gateway, m.id))
	if err != nil {
		// A configuration error (validated kinds make it unlikely): keep
		// learning so that it is retried, and say so once.
		if m.learnMsgs == p.opts.Learn {
			p.log.Error("cannot create detector", "machine", m.id, "err", err)
		}
		return false
	}
	p.setModels(m, sensors, det)
	p.log.Info("machine sensor set learned", "machine", m.id, "sensors", sensors, "model", det.Kind())
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

func (p *Pipeline) setModels(m *machine, sensors []string, champion models.Detector) {
	m.sensors = sensors
	m.index = make(map[string]int, len(sensors))
	for i, s := range sensors {
		m.index[s] = i
	}
	m.latest = make([]float64, len(sensors))
	for i := range m.latest {
		m.latest[i] = math.NaN()
	}
	m.learning = nil
	m.slots = []*slot{{name: champion.Kind(), role: wire.RoleChampion, det: champion}}
	if len(p.contrib) < len(sensors) {
		p.contrib = make([]float64, len(sensors))
	}
}

// Restore gives a machine its sensor set and a champion restored from saved
// state, before any of its telemetry arrives. It fails when the machine is
// already known or the state does not fit.
func (p *Pipeline) Restore(id string, sensors []string, champion models.Detector) error {
	if !wire.ValidID(id) {
		return fmt.Errorf("restore: invalid machine id %q", id)
	}
	if _, ok := p.machines[id]; ok {
		return fmt.Errorf("restore %s: machine already known", id)
	}
	if len(sensors) == 0 || len(sensors) > p.opts.MaxSensors || !slices.IsSorted(sensors) {
		return fmt.Errorf("restore %s: %d sensors, want 1 to %d, sorted", id, len(sensors), p.opts.MaxSensors)
	}
	for i, s := range sensors {
		if !wire.ValidID(s) || (i > 0 && sensors[i-1] == s) {
			return fmt.Errorf("restore %s: bad or repeated sensor %q", id, s)
		}
	}
	if champion.Kind() != p.opts.Model {
		return fmt.Errorf("restore %s: saved model is %q, configured %q", id, champion.Kind(), p.opts.Model)
	}
	m := &machine{id: id}
	p.setModels(m, slices.Clone(sensors), champion)
	p.machines[id] = m
	p.order = append(p.order, m)
	p.publishInfos()
	return nil
}

// Model is one model of one machine, as Models shows it.
type Model struct {
	Machine  string
	Sensors  []string // the vector's features, in order; do not modify
	Role     string
	Detector models.Detector
}

// Models calls fn for every model of every machine with a sensor set, in
// discovery order. fn runs on the pipeline's goroutine and may use the
// detector (to snapshot it) but must not keep it.
func (p *Pipeline) Models(fn func(Model)) {
	for _, m := range p.order {
		for _, s := range m.slots {
			fn(Model{Machine: m.id, Sensors: m.sensors, Role: s.role, Detector: s.det})
		}
	}
}
