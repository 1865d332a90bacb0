package features

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Kind is what a signal's readings are.
type Kind uint8

const (
	// Scalar readings are one value each.
	Scalar Kind = iota
	// Frame readings are a block of samples at Signal.SampleRate (a
	// vibration frame), timed by their first sample.
	Frame
)

// String returns "scalar" or "frame".
func (k Kind) String() string {
	if k == Frame {
		return "frame"
	}
	return "scalar"
}

// UnmarshalText parses "scalar" or "frame", for configuration.
func (k *Kind) UnmarshalText(b []byte) error {
	switch string(b) {
	case "scalar":
		*k = Scalar
	case "frame":
		*k = Frame
	default:
		return fmt.Errorf("signal kind %q: want scalar or frame", b)
	}
	return nil
}

// Signal configures one sensor of an asset.
type Signal struct {
	Name string `yaml:"name"`
	Kind Kind   `yaml:"kind"`
	// Aggs are the window aggregates of each series of the signal
	// (default AllAggs for a scalar, Mean and Max for a frame's features).
	Aggs []Agg `yaml:"aggs"`

	// Frame signals only.
	SampleRate  float64  `yaml:"sample_rate"`  // Hz, required
	Bands       []Band   `yaml:"bands"`        // band energies
	Bearing     *Bearing `yaml:"bearing"`      // adds bpfo, bpfi, bsf and ftf band energies
	DefectWidth float64  `yaml:"defect_width"` // relative half-width of a defect band (default 0.03)
	Harmonics   int      `yaml:"harmonics"`    // harmonics summed per defect band (default 3)
	MaxFrame    int      `yaml:"max_frame"`    // longest frame accepted (default 65536)
}

// Options configure a Joiner. Size and Emit are required.
type Options struct {
	// Size is the window length. Step is how far successive windows start
	// apart: 0 or Size for tumbling windows, a divisor of Size for sliding.
	Size, Step time.Duration
	// Grace is how long after a window's end (in the asset's event time,
	// the greatest seen over its signals) the window stays open for
	// slower sensors.
	Grace time.Duration
	// Carry is how many windows a signal without readings keeps its last
	// values for; after that its features are NaN. 0: NaN at once.
	Carry int
	// Signals in vector layout order.
	Signals []Signal
	// Emit receives each closed window that had a reading of any signal.
	// The Window and its Values are only valid during the call.
	Emit func(w *Window)
}

// Window is one closed window's feature vector.
type Window struct {
	Start, End int64     // event time, Unix ns, [Start, End)
	Values     []float64 // in the order of Joiner.Names
	Fresh      int       // signals with readings in the window
	Carried    int       // signals carrying earlier values
	Missing    int       // signals NaN
}

// Stats count what a Joiner did.
type Stats struct {
	Readings uint64 // readings and frames added
	Late     uint64 // readings for windows already closed, dropped
	Invalid  uint64 // NaN or infinite values, empty or oversized frames, dropped
	Windows  uint64 // windows emitted
}

// Joiner computes one asset's features over event-time windows and joins
// its signals into one vector per window. It is not safe for concurrent use.
type Joiner struct {
	step, grace int64
	m, ring     int64 // panes per window, pane slots per series
	carry       int
	emit        func(*Window)

	sigs  []*signal
	names []string
	win   Window

	started  bool
	clock    int64 // greatest event time seen
	next     int64 // end pane of the next window to close
	lastData int64 // greatest pane with data
	stats    Stats
}

type signal struct {
	name   string
	kind   Kind
	series int // scalars 1; frames frameFixed + bands
	aggs   []Agg
	off    int       // first index in the vector
	last   []float64 // last computed values, for carrying
	valid  bool      // last holds values
	missed int

	panes []int64 // pane number per slot
	accs  []acc   // slot*series + series index
	win   []acc   // merge scratch per series

	spec     frameSpec
	maxFrame int
	plans    map[int]*framePlan
	plan     *framePlan // last used
	feat     []float64
}

const noPane = math.MinInt64

// maxTime bounds event times (about the years 1824 to 2116), so that pane
// arithmetic cannot overflow on untrusted times.
const maxTime = 1 << 62

// NewJoiner checks o and returns a Joiner.
func NewJoiner(o Options) (*Joiner, error) {
	if o.Size <= 0 {
		return nil, errors.New("features: window size must be positive")
	}
	if o.Step == 0 {
		o.Step = o.Size
	}
	if o.Step < 0 || o.Step > o.Size || o.Size%o.Step != 0 {
		return nil, fmt.Errorf("features: step %v must divide window size %v", o.Step, o.Size)
	}
	if o.Grace < 0 || o.Carry < 0 {
		return nil, errors.New("features: grace and carry must not be negative")
	}
	if o.Emit == nil {
		return nil, errors.New("features: Emit is required")
	}
	if len(o.Signals) == 0 {
		return nil, errors.New("features: no signals")
	}
	j := &Joiner{
		step:  int64(o.Step),
		grace: int64(o.Grace),
		m:     int64(o.Size / o.Step),
		carry: o.Carry,
		emit:  o.Emit,
	}
	j.ring = j.m + (j.grace+j.step-1)/j.step + 2
	seen := map[string]bool{}
	for i, cfg := range o.Signals {
		if cfg.Name == "" {
			return nil, fmt.Errorf("features: signal %d: needs a name", i)
		}
		if seen[cfg.Name] {
			return nil, fmt.Errorf("features: signal %q: configured twice", cfg.Name)
		}
		seen[cfg.Name] = true
		s, series, err := j.newSignal(cfg)
		if err != nil {
			return nil, fmt.Errorf("features: signal %q: %w", cfg.Name, err)
		}
		s.off = len(j.names)
		for _, sr := range series {
			for _, a := range s.aggs {
				name := sr + "." + a.String()
				if seen[name] {
					return nil, fmt.Errorf("features: signal %q: feature %q named twice", cfg.Name, name)
				}
				seen[name] = true
				j.names = append(j.names, name)
			}
		}
		s.last = make([]float64, len(series)*len(s.aggs))
		j.sigs = append(j.sigs, s)
	}
	j.win.Values = make([]float64, len(j.names))
	return j, nil
}

func (j *Joiner) newSignal(cfg Signal) (*signal, []string, error) {
	s := &signal{name: cfg.Name, kind: cfg.Kind, aggs: cfg.Aggs}
	var series []string
	switch cfg.Kind {
	case Scalar:
		series = []string{cfg.Name}
		if s.aggs == nil {
			s.aggs = AllAggs
		}
	case Frame:
		if !(cfg.SampleRate > 0) || math.IsInf(cfg.SampleRate, 0) {
			return nil, nil, errors.New("frame signal needs a positive sample rate")
		}
		if s.aggs == nil {
			s.aggs = []Agg{Mean, Max}
		}
		s.spec.rate = cfg.SampleRate
		for _, f := range frameFixedNames {
			series = append(series, cfg.Name+"_"+f)
		}
		for _, b := range cfg.Bands {
			if err := checkBand(b, cfg.SampleRate); err != nil {
				return nil, nil, err
			}
			series = append(series, cfg.Name+"_band_"+b.Name)
			s.spec.bands = append(s.spec.bands, []bandHz{{b.Lo, b.Hi}})
		}
		if cfg.Bearing != nil {
			if err := cfg.Bearing.Validate(); err != nil {
				return nil, nil, err
			}
			width, h := cfg.DefectWidth, cfg.Harmonics
			if width == 0 {
				width = 0.03
			}
			if h == 0 {
				h = 3
			}
			if !(width > 0 && width < 0.5) || h < 0 {
				return nil, nil, fmt.Errorf("defect width %g must be in (0, 0.5) and harmonics %d positive", width, h)
			}
			names, bands := defectBands(*cfg.Bearing, width, h)
			for i, n := range names {
				series = append(series, cfg.Name+"_"+n)
				s.spec.bands = append(s.spec.bands, bands[i])
			}
		}
		s.maxFrame = cfg.MaxFrame
		if s.maxFrame <= 0 {
			s.maxFrame = 1 << 16
		}
		s.plans = map[int]*framePlan{}
		s.feat = make([]float64, len(series))
	default:
		return nil, nil, fmt.Errorf("unknown kind %d", cfg.Kind)
	}
	if len(s.aggs) == 0 {
		return nil, nil, errors.New("no aggregates")
	}
	for _, a := range s.aggs {
		if a >= numAggs {
			return nil, nil, fmt.Errorf("unknown aggregate %d", a)
		}
	}
	s.series = len(series)
	s.panes = make([]int64, j.ring)
	for i := range s.panes {
		s.panes[i] = noPane
	}
	s.accs = make([]acc, int(j.ring)*s.series)
	s.win = make([]acc, s.series)
	return s, series, nil
}

// Names returns the feature names in vector order, e.g. "temp.mean",
// "vib_rms.max", "vib_bpfo.mean". The slice must not be modified.
func (j *Joiner) Names() []string { return j.names }

// Index returns the index of the signal named name for Add and AddFrame,
// or -1.
func (j *Joiner) Index(name string) int {
	for i, s := range j.sigs {
		if s.name == name {
			return i
		}
	}
	return -1
}

// Stats returns the counts so far.
func (j *Joiner) Stats() Stats { return j.stats }

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

// Add takes a reading of scalar signal sig (an Index) at event time t (Unix
// ns, within ±2^62, else invalid). Readings of a signal should come in event-time order (see package
// reorder); a reading for windows that all closed already is dropped and
// counted as late. Windows the reading's time closes are emitted first.
func (j *Joiner) Add(sig int, t int64, v float64) {
	s := j.sigs[sig]
	if s.kind != Scalar || math.IsNaN(v) || math.IsInf(v, 0) {
		j.stats.Invalid++
		return
	}
	slot, ok := j.admit(t)
	if !ok {
		return
	}
	s.at(slot, j.pane(t)).add(float64(mod(t, j.step))/1e9, v)
}

// AddFrame takes a frame of frame signal sig whose first sample is at event
// time t. The frame is read during the call only.
func (j *Joiner) AddFrame(sig int, t int64, frame []float64) {
	s := j.sigs[sig]
	if s.kind != Frame || len(frame) == 0 || len(frame) > s.maxFrame || !finite(frame) {
		j.stats.Invalid++
		return
	}
	p := s.plan
	if p == nil || p.n != len(frame) {
		p = s.plans[len(frame)]
		if p == nil {
			var err error
			if p, err = newFramePlan(&s.spec, len(frame)); err != nil {
				j.stats.Invalid++
				return
			}
			if len(s.plans) >= 8 { // frame lengths are few; bound the cache anyway
				clear(s.plans)
			}
			s.plans[len(frame)] = p
		}
		s.plan = p
	}
	slot, ok := j.admit(t)
	if !ok {
		return
	}
	p.frameFeatures(frame, s.feat)
	pane := j.pane(t)
	rel := float64(mod(t, j.step)) / 1e9
	s.at(slot, pane)
	for i, v := range s.feat {
		s.accs[slot*s.series+i].add(rel, v)
	}
}

func finite(x []float64) bool {
	for _, v := range x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}

func (j *Joiner) pane(t int64) int64 { return floorDiv(t, j.step) }

// admit advances the clock to t, closing windows, and returns the pane slot
// of t, or false (counted) when every window holding t has closed.
func (j *Joiner) admit(t int64) (int, bool) {
	if t < -maxTime || t > maxTime {
		j.stats.Invalid++
		return 0, false
	}
	j.stats.Readings++
	p := j.pane(t)
	if !j.started {
		// Windows within Grace of the first reading are still open for
		// the other signals.
		j.started = true
		j.clock, j.next, j.lastData = t, floorDiv(t-j.grace, j.step), p
	}
	j.Advance(t)
	if p+j.m-1 < j.next {
		j.stats.Late++
		return 0, false
	}
	j.lastData = max(j.lastData, p)
	return int(mod(p, j.ring)), true
}

// at returns series 0's accumulator of pane in slot, resetting the slot
// when it held an older pane.
func (s *signal) at(slot int, pane int64) *acc {
	if s.panes[slot] != pane {
		s.panes[slot] = pane
		for i := range s.series {
			s.accs[slot*s.series+i].reset()
		}
	}
	return &s.accs[slot*s.series]
}

// Advance moves the asset's event-time clock to t without a reading, as
// when a watermark passes, emitting the windows that closes.
func (j *Joiner) Advance(t int64) {
	if !j.started || t <= j.clock {
		return
	}
	j.clock = t
	j.closeThrough(floorDiv(t-j.grace, j.step) - 1)
}

// Flush emits every window that holds data, as at shutdown. Readings
// afterwards for those windows are late.
func (j *Joiner) Flush() {
	if j.started {
		j.closeThrough(j.lastData + j.m - 1)
	}
}

// closeThrough closes the windows ending at panes next..e.
func (j *Joiner) closeThrough(e int64) {
	if e < j.next {
		return
	}
	// Windows ending past lastData+m-1 hold no data: skip them.
	for w := j.next; w <= min(e, j.lastData+j.m-1); w++ {
		j.close(w)
	}
	j.next = e + 1
}

func (j *Joiner) close(e int64) {
	first := e - j.m + 1
	w := &j.win
	w.Start, w.End = first*j.step, (e+1)*j.step
	w.Fresh, w.Carried, w.Missing = 0, 0, 0
	hasData := false
	for _, s := range j.sigs {
		if s.merge(first, e, j.ring, j.step) {
			hasData = true
		}
	}
	if !hasData {
		return
	}
	for _, s := range j.sigs {
		out := w.Values[s.off : s.off+len(s.last)]
		switch {
		case s.win[0].n > 0:
			k := 0
			for i := range s.series {
				for _, a := range s.aggs {
					s.last[k] = s.win[i].agg(a)
					k++
				}
			}
			s.valid, s.missed = true, 0
			copy(out, s.last)
			w.Fresh++
		case s.valid && s.missed < j.carry:
			s.missed++
			copy(out, s.last)
			w.Carried++
		default:
			s.valid = false
			for i := range out {
				out[i] = math.NaN()
			}
			w.Missing++
		}
	}
	j.stats.Windows++
	j.emit(w)
}

// merge combines the signal's panes first..last into s.win, with times
// relative to the window's start, and reports whether any held data.
func (s *signal) merge(first, last, ring, step int64) bool {
	for i := range s.win {
		s.win[i].reset()
	}
	for p := first; p <= last; p++ {
		slot := int(mod(p, ring))
		if s.panes[slot] != p {
			continue
		}
		shift := float64((p-first)*step) / 1e9
		for i := range s.series {
			s.win[i].merge(&s.accs[slot*s.series+i], shift)
		}
	}
	return s.win[0].n > 0
}
