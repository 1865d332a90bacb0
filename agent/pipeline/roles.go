package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"millwright/models"
	"millwright/wire"
)

// Hash is the content hash of a snapshot: hex SHA-256 of its bytes, as the
// hub names snapshots.
func Hash(snapshot []byte) string {
	h := sha256.Sum256(snapshot)
	return hex.EncodeToString(h[:])
}

// Refused is the error of a command the pipeline will not apply; its text
// is the reason sent back in the wire.CommandAck.
type Refused struct{ Reason string }

func (e *Refused) Error() string { return e.Reason }

func refuse(format string, args ...any) error { return &Refused{Reason: fmt.Sprintf(format, args...)} }

// Settings a deploy command may carry.
const (
	SettingThreshold = "threshold" // the model's decision threshold, in (0, 1]
	SettingWarmUp    = "warmup"    // a champion's warm-up in vectors (default WarmUp fresh, 0 from a snapshot)
)

// Command applies one hub command between two vectors: it must be called
// on the pipeline's goroutine. A command that cannot be applied returns a
// *Refused saying why and changes nothing.
func (p *Pipeline) Command(c *wire.Command) error {
	switch c.Kind {
	case wire.CmdPing:
		return nil
	case wire.CmdDeploy, wire.CmdRollback, wire.CmdRemove:
	default:
		return refuse("unknown command kind %q", c.Kind)
	}
	m := p.machines[c.Machine]
	if m == nil {
		return refuse("unknown machine %q", c.Machine)
	}
	if m.slots == nil {
		return refuse("machine %s is still learning its sensor set; try again shortly", m.id)
	}
	switch c.Kind {
	case wire.CmdRollback:
		if m.prev == nil {
			return refuse("machine %s has no previous champion to roll back to", m.id)
		}
		p.endEpisode(m)
		m.prev.active, m.prev.over = false, 0
		m.prev.fired, m.prev.lastFire = m.slots[0].fired, m.slots[0].lastFire // the cooldown spans the swap
		// The replaced pair is kept in turn: a second rollback undoes the first.
		m.slots[0], m.prev = m.prev, m.slots[0]
		m.slots[1], m.prevTwin = m.prevTwin, m.slots[1]
		m.drift.resetScore()
		p.log.Info("champion rolled back", "machine", m.id, "model", m.slots[0].name, "snapshot", m.slots[0].hash)
	case wire.CmdRemove:
		i := slices.IndexFunc(m.slots, func(s *slot) bool { return s.role == wire.RoleChallenger && s.name == c.Name })
		if i < 0 {
			return refuse("machine %s has no challenger named %q", m.id, c.Name)
		}
		m.slots = slices.Delete(m.slots, i, i+1)
		p.log.Info("challenger removed", "machine", m.id, "model", c.Name)
	case wire.CmdDeploy:
		return p.deploy(m, c)
	}
	p.publishInfos()
	return nil
}

func (p *Pipeline) deploy(m *machine, c *wire.Command) error {
	role := c.Role
	if role == "" {
		role = wire.RoleChampion
	}
	if role != wire.RoleChampion && role != wire.RoleChallenger {
		return refuse("cannot deploy as %q (want %s or %s)", role, wire.RoleChampion, wire.RoleChallenger)
	}
	thr, warm, warmSet := 0.0, p.opts.WarmUp, false
	keys := make([]string, 0, len(c.Settings))
	for k := range c.Settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := c.Settings[k]
		switch k {
		case SettingThreshold:
			if !(v > 0 && v <= 1) {
				return refuse("setting threshold %v: want a score in (0, 1]", v)
			}
			thr = v
		case SettingWarmUp:
			if !(v >= 0 && v <= 1e7) {
				return refuse("setting warmup %v: want 0 to 1e7 vectors", v)
			}
			warm, warmSet = int(v), true
		default:
			return refuse("unknown setting %q (known: %s, %s)", k, SettingThreshold, SettingWarmUp)
		}
	}
	dim := len(m.sensors)
	build := func() (models.Detector, error) {
		if len(c.Snapshot) > 0 {
			det, err := p.opts.Restore(c.Snapshot)
			if err != nil {
				return nil, refuse("corrupt snapshot: %v", err)
			}
			if c.Model != "" && det.Kind() != c.Model {
				return nil, refuse("snapshot is of kind %q, command says %q", det.Kind(), c.Model)
			}
			return det, nil
		}
		if c.Model == "" {
			return nil, refuse("deploy needs a snapshot or a model kind")
		}
		det, err := p.opts.NewDetector(c.Model, dim, seed(p.opts.Gateway, m.id))
		if err != nil {
			return nil, refuse("cannot build model: %v", err)
		}
		return det, nil
	}
	det, err := build()
	if err != nil {
		return err
	}
	if err := checkDim(det, dim); err != nil {
		return refuse("model %q does not fit machine %s: %v", det.Kind(), m.id, err)
	}
	hash := ""
	if len(c.Snapshot) > 0 {
		hash = Hash(c.Snapshot)
		if !warmSet {
			warm = 0 // a deployed snapshot is trained: it scores frozen at once
		}
	}
	if role == wire.RoleChallenger {
		name := c.Name
		if name == "" {
			m.nextChallenger++
			name = "challenger-" + strconv.Itoa(m.nextChallenger)
		}
		if !wire.ValidID(name) {
			return refuse("invalid model name %q", name)
		}
		i := slices.IndexFunc(m.slots, func(s *slot) bool { return s.name == name })
		switch {
		case i >= 0 && m.slots[i].role != wire.RoleChallenger:
			return refuse("name %q is the machine's %s", name, m.slots[i].role)
		case i < 0 && len(m.slots)-2 >= p.opts.MaxChallengers:
			return refuse("machine %s already has %d challengers (the most allowed); remove one first", m.id, p.opts.MaxChallengers)
		}
		s := &slot{name: name, role: wire.RoleChallenger, kind: det.Kind(), hash: hash, det: det, threshold: thr}
		if i >= 0 {
			m.slots[i] = s
		} else {
			m.slots = append(m.slots, s)
		}
		p.log.Info("challenger deployed", "machine", m.id, "model", name, "kind", s.kind, "snapshot", hash)
		return nil
	}
	twin, err := build() // a second instance from the same start
	if err != nil {
		return err
	}
	ch := &slot{name: det.Kind(), role: wire.RoleChampion, kind: det.Kind(), hash: hash, det: det, threshold: thr, warm: warm}
	old := m.slots[0]
	ch.fired, ch.lastFire = old.fired, old.lastFire // the cooldown spans the swap
	tw := &slot{name: det.Kind() + "-twin", role: wire.RoleTwin, kind: det.Kind(), hash: hash, det: twin, threshold: thr}
	p.endEpisode(m)
	m.prev, m.prevTwin = old, m.slots[1]
	m.slots[0], m.slots[1] = ch, tw
	m.drift.resetScore() // another champion, another score distribution
	p.log.Info("champion deployed", "machine", m.id, "kind", ch.kind, "snapshot", hash, "warmup", warm)
	p.publishInfos()
	return nil
}

// endEpisode ends the machine's alert episode before its champion changes.
func (p *Pipeline) endEpisode(m *machine) {
	m.slots[0].active, m.slots[0].over = false, 0
	p.setAlarm(m, false)
}

// checkDim tells whether det takes vectors of dim features: by its Dim
// method when it has one, else by scoring a probe vector (a detector of
// another dimension panics or returns garbage; a panic is caught).
func checkDim(det models.Detector, dim int) (err error) {
	if d, ok := det.(interface{ Dim() int }); ok {
		if d.Dim() != dim {
			return fmt.Errorf("it takes %d features, the machine has %d", d.Dim(), dim)
		}
		return nil
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("scoring a %d-feature vector failed: %v", dim, r)
		}
	}()
	det.Score(make([]float64, dim))
	return nil
}

// Saved is one model of a machine as kept on disk, for RestoreMachine.
type Saved struct {
	Name      string
	Role      string // wire.RoleChampion, RoleTwin or RoleChallenger
	Previous  bool   // the champion pair a deploy replaced
	Hash      string // content hash of the snapshot it started from
	Warm      int    // champion: vectors left in its warm-up
	Threshold float64
	Detector  models.Detector
}

// RestoreMachine gives a machine its sensor set and its models restored
// from saved state, before any of its telemetry arrives. A champion is
// required; a missing twin is an error too (the caller makes one from the
// champion's snapshot). It fails when the machine is already known or the
// state does not fit.
func (p *Pipeline) RestoreMachine(id string, sensors []string, saved []Saved) error {
	return p.RestoreMachineInputs(id, nil, sensors, saved)
}

// RestoreMachineInputs is RestoreMachine with the machine's own sensors
// (inputs) as saved, which the vector layout alone cannot give when
// StreamOptions.Exclude leaves some out; nil inputs are worked out from
// sensors.
func (p *Pipeline) RestoreMachineInputs(id string, inputs, sensors []string, saved []Saved) error {
	if !wire.ValidID(id) {
		return fmt.Errorf("restore: invalid machine id %q", id)
	}
	if _, ok := p.machines[id]; ok {
		return fmt.Errorf("restore %s: machine already known", id)
	}
	// sensors is the saved vector layout; the machine's own sensors are
	// what it is computed from (the same without features or derived
	// signals).
	if inputs == nil {
		inputs = sensors
		if o := p.opts.Stream; o.Window > 0 || len(o.Derived) > 0 {
			inputs = p.sensorsOf(sensors)
		}
	}
	if len(inputs) == 0 || len(inputs) > p.opts.MaxSensors || !slices.IsSorted(inputs) {
		return fmt.Errorf("restore %s: %d sensors, want 1 to %d, sorted", id, len(inputs), p.opts.MaxSensors)
	}
	for i, s := range inputs {
		if !wire.ValidID(s) || (i > 0 && inputs[i-1] == s) {
			return fmt.Errorf("restore %s: bad or repeated sensor %q", id, s)
		}
	}
	var ch, tw, prev, prevTwin *slot
	var challengers []*slot
	for _, s := range saved {
		if err := checkDim(s.Detector, len(sensors)); err != nil {
			return fmt.Errorf("restore %s %s: %w", id, s.Name, err)
		}
		sl := &slot{name: s.Name, role: s.Role, kind: s.Detector.Kind(), hash: s.Hash, det: s.Detector, threshold: s.Threshold, warm: s.Warm}
		switch {
		case s.Role == wire.RoleChampion && s.Previous:
			prev = sl
		case s.Role == wire.RoleTwin && s.Previous:
			prevTwin = sl
		case s.Role == wire.RoleChampion:
			ch = sl
		case s.Role == wire.RoleTwin:
			tw = sl
		case s.Role == wire.RoleChallenger && len(challengers) < p.opts.MaxChallengers:
			challengers = append(challengers, sl)
		default:
			return fmt.Errorf("restore %s: unexpected model %q of role %q", id, s.Name, s.Role)
		}
	}
	if ch == nil || tw == nil {
		return fmt.Errorf("restore %s: champion and twin are required", id)
	}
	if (prev == nil) != (prevTwin == nil) {
		prev, prevTwin = nil, nil
	}
	m := &machine{id: id, inputs: slices.Clone(inputs)}
	names, err := p.streamLayout(m, slices.Clone(inputs))
	if err != nil {
		return fmt.Errorf("restore %s: %w", id, err)
	}
	if !slices.Equal(names, sensors) {
		return fmt.Errorf("restore %s: saved features %v do not match the configured ones %v (features.window or derived changed)", id, sensors, names)
	}
	p.layout(m, names)
	slices.SortFunc(challengers, func(a, b *slot) int { return strings.Compare(a.name, b.name) })
	m.slots = append([]*slot{ch, tw}, challengers...)
	m.prev, m.prevTwin = prev, prevTwin
	m.nextChallenger = len(challengers)
	p.machines[id] = m
	p.order = append(p.order, m)
	p.publishInfos()
	return nil
}

// Model is one model of one machine, as Models shows it.
type Model struct {
	Machine   string
	Sensors   []string // the vector's features, in order; do not modify
	Inputs    []string // the machine's own sensors the vector is made from; do not modify
	Name      string
	Role      string
	Previous  bool   // kept for rollback, not scoring
	Hash      string // content hash of the snapshot it started from
	Warm      int
	Threshold float64 // 0: the pipeline's alert threshold
	Detector  models.Detector
}

// Models calls fn for every model of every machine with a sensor set, in
// discovery order, the champion first, then its twin, challengers and the
// previous champion pair. fn runs on the pipeline's goroutine and may use
// the detector (to snapshot it) but must not keep it.
func (p *Pipeline) Models(fn func(Model)) {
	for _, m := range p.order {
		do := func(s *slot, previous bool) {
			fn(Model{Machine: m.id, Sensors: m.sensors, Inputs: m.inputs, Name: s.name, Role: s.role, Previous: previous,
				Hash: s.hash, Warm: s.warm, Threshold: s.threshold, Detector: s.det})
		}
		for _, s := range m.slots {
			do(s, false)
		}
		if m.prev != nil {
			do(m.prev, true)
			do(m.prevTwin, true)
		}
	}
}
