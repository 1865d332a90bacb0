package pipeline

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"

	"millwright/agent/stream/derive"
	"millwright/agent/stream/features"
	"millwright/agent/stream/reorder"
)

// StreamOptions tune event-time processing. The zero value reorders
// nothing (a reading behind the newest of its sensor is late), de-duplicates
// and makes one latest-value vector per released event time.
type StreamOptions struct {
	// Lateness is how far behind the newest reading of its sensor a
	// reading may arrive and still be put in event-time order.
	Lateness time.Duration
	// Late says what happens to a reading behind the watermark:
	// reorder.ScoreOnly (scored by every model, learned by none, no
	// alerting) or reorder.Drop.
	Late reorder.LatePolicy
	// Idle is the processing time without a reading of a sensor after
	// which Flush releases its buffered readings (default 5s).
	Idle time.Duration
	// Window and Step, when Window is set, make the machine's vector the
	// features of each event-time window (package features) instead of
	// the latest values: tumbling windows when Step is 0.
	Window, Step time.Duration
	// Derived signals are computed from each machine's sensors (and
	// earlier derived signals) and join its vector.
	Derived []derive.Def
	// Exclude names signals (sensors or derived) that derived expressions
	// and the running gate may read but that stay out of every vector,
	// e.g. a raw temperature replaced by its rise above ambient.
	Exclude []string
	// Running, when set, scores a machine only while it runs.
	Running *RunningGate
}

// RunningGate keeps a stopped or just-started machine out of scoring and
// learning: a machine runs while Signal (a sensor or derived signal, such
// as motor current or a GPIO running input) is at least Min; for Settle of
// event time after each start its vectors are neither scored nor learned
// (warm-up, inrush). A machine without the signal, or before its first
// value, is scored as usual.
type RunningGate struct {
	Signal string
	Min    float64
	Settle time.Duration
}

// CheckDerived compiles defs over the names they reference and returns,
// per definition, the names it reads; an error names the definition's Field.
func CheckDerived(defs []derive.Def) ([][]string, error) {
	var all []string
	refs := make([][]string, len(defs))
	derived := map[string]bool{}
	for i, d := range defs {
		tree, err := parser.Parse(d.Expr)
		if err != nil {
			return nil, &derive.CompileError{Field: d.Field, Name: d.Name, Expr: d.Expr, Err: err}
		}
		v := &identVisitor{}
		ast.Walk(&tree.Node, v)
		refs[i] = v.names
		for _, n := range v.names {
			if !derived[n] && !slices.Contains(all, n) {
				all = append(all, n)
			}
		}
		derived[d.Name] = true
	}
	slices.Sort(all)
	if _, err := derive.New(all, defs); err != nil {
		return nil, err
	}
	return refs, nil
}

type identVisitor struct{ names []string }

func (v *identVisitor) Visit(n *ast.Node) {
	if id, ok := (*n).(*ast.IdentifierNode); ok && !slices.Contains(v.names, id.Value) {
		v.names = append(v.names, id.Value)
	}
}

// derivedFor returns the derived definitions a machine with sensors can
// compute: those whose every reference is a sensor or an earlier kept one.
func (p *Pipeline) derivedFor(sensors []string) []derive.Def {
	have := map[string]bool{}
	for _, s := range sensors {
		have[s] = true
	}
	var defs []derive.Def
	for i, d := range p.opts.Stream.Derived {
		ok := !have[d.Name]
		for _, r := range p.defRefs[i] {
			ok = ok && have[r]
		}
		if ok {
			defs = append(defs, d)
			have[d.Name] = true
		}
	}
	return defs
}

// sensorsOf returns the sorted sensors a vector layout of names is
// computed from: feature names lose their aggregate suffix, derived signals
// are left out.
func (p *Pipeline) sensorsOf(names []string) []string {
	o := &p.opts.Stream
	var out []string
	for _, n := range names {
		if o.Window > 0 {
			i := strings.LastIndexByte(n, '.')
			if i < 0 {
				return nil
			}
			n = n[:i]
		}
		if slices.ContainsFunc(o.Derived, func(d derive.Def) bool { return d.Name == n }) || slices.Contains(out, n) {
			continue
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// streamState is a machine's event-time stages.
type streamState struct {
	set *reorder.Set[float64]
	// raw is the latest value of each input (sensors, then signals only
	// derived expressions read, then derived signals), in the deriver's
	// layout; without features it is the scored vector itself.
	raw    []float64
	rawIdx map[string]int // sensor -> index in raw
	der    *derive.Deriver
	join   *features.Joiner
	sig    []int     // raw index -> joiner signal, -1 for none
	late   []float64 // scratch vector of a late group
	over   uint64    // reorder overflow already counted
	// keep maps vector index -> raw index when Exclude leaves signals out
	// (nil: the vector is raw itself); lateRaw is then a late group's
	// scratch in raw's layout.
	keep    []int
	lateRaw []float64
	run     int   // raw index of the running signal, -1 for none
	started int64 // event time the machine last started; 0 while stopped
}

// streamLayout builds the machine's stages for its learned sensors and
// returns the names of its vector.
func (p *Pipeline) streamLayout(m *machine, sensors []string) ([]string, error) {
	o := &p.opts.Stream
	st := &streamState{
		set: reorder.NewSet[float64](reorder.SetOptions{
			Options:    reorder.Options{Lateness: o.Lateness, Late: o.Late, Idle: o.Idle},
			MaxSensors: p.opts.MaxSensors,
		}),
	}
	inputs := slices.Clone(sensors)
	if defs := p.derivedFor(sensors); len(defs) > 0 {
		der, err := derive.New(inputs, defs)
		if err != nil {
			return nil, fmt.Errorf("machine %s: %w", m.id, err)
		}
		st.der = der
		inputs = der.Names()
	}
	st.raw = make([]float64, len(inputs))
	for i := range st.raw {
		st.raw[i] = math.NaN()
	}
	st.rawIdx = make(map[string]int, len(sensors))
	for i, s := range sensors {
		st.rawIdx[s] = i
	}
	st.run = -1
	if g := o.Running; g != nil {
		st.run = slices.Index(inputs, g.Signal)
	}
	kept := inputs
	if len(o.Exclude) > 0 {
		kept = nil
		for i, n := range inputs {
			if !slices.Contains(o.Exclude, n) {
				kept = append(kept, n)
				st.keep = append(st.keep, i)
			}
		}
		if len(kept) == 0 {
			return nil, fmt.Errorf("machine %s: features.exclude leaves no signal of %v", m.id, inputs)
		}
		if len(kept) == len(inputs) {
			st.keep = nil
		} else {
			st.lateRaw = make([]float64, len(inputs))
		}
	}
	names := kept
	if o.Window > 0 {
		sigs := make([]features.Signal, 0, len(kept))
		for _, n := range kept {
			sigs = append(sigs, features.Signal{Name: n, Aggs: []features.Agg{features.Mean, features.RMS, features.Min, features.Max, features.Slope}})
		}
		join, err := features.NewJoiner(features.Options{
			Size: o.Window, Step: o.Step, Signals: sigs,
			Emit: func(w *features.Window) { p.windowVector(m, w) },
		})
		if err != nil {
			return nil, fmt.Errorf("machine %s: features.window: %w", m.id, err)
		}
		st.join = join
		st.sig = make([]int, len(inputs))
		for i, n := range inputs {
			st.sig[i] = -1
			if slices.Contains(kept, n) {
				st.sig[i] = join.Index(n)
			}
		}
		names = slices.Clone(join.Names())
	}
	st.late = make([]float64, len(names))
	m.stream = st
	return names, nil
}

// push puts a message's readings of known sensors through the machine's
// reorder buffers and scores what they release.
func (p *Pipeline) push(m *machine, sensor string, t int64, v float64) {
	var res reorder.Result
	var err error
	p.rel, res, err = m.stream.set.Push(sensor, reorder.Item[float64]{Time: t, V: v}, p.rel)
	if err != nil {
		p.ignored.Add(1)
		return
	}
	switch res {
	case reorder.Late:
		p.late.Add(1)
	case reorder.Dropped:
		p.dropped.Add(1)
	case reorder.Duplicate:
		p.duplicates.Add(1)
	}
}

// release scores the readings in p.rel, grouped by event time: each group
// updates the machine's latest values and makes one vector.
func (p *Pipeline) release(m *machine) {
	st := m.stream
	if over := st.set.Stats().Overflow; over != st.over {
		p.overflow.Add(over - st.over)
		st.over = over
	}
	rel := p.rel
	if len(rel) == 0 {
		return
	}
	slices.SortStableFunc(rel, func(a, b reorder.Released[float64]) int {
		switch {
		case a.Time < b.Time:
			return -1
		case a.Time > b.Time:
			return 1
		}
		return 0
	})
	for i := 0; i < len(rel); {
		j := i + 1
		for j < len(rel) && rel[j].Time == rel[i].Time && rel[j].Late == rel[i].Late {
			j++
		}
		p.group(m, rel[i:j])
		i = j
	}
	p.rel = rel[:0]
}

func (p *Pipeline) group(m *machine, g []reorder.Released[float64]) {
	st := m.stream
	t := g[0].Time
	if g[0].Late {
		if st.join != nil {
			return // its windows are closed; the reorder stats counted it
		}
		if !p.runs(st, t, false) {
			p.notRunning.Add(1)
			return
		}
		vec := st.late
		if st.keep != nil {
			vec = st.lateRaw
		}
		copy(vec, st.raw)
		for _, r := range g {
			vec[st.rawIdx[r.Sensor]] = r.V
		}
		if st.der != nil {
			st.der.Eval(vec) // a failing expression leaves NaN
		}
		if st.keep != nil {
			for k, i := range st.keep {
				st.late[k] = vec[i]
			}
			vec = st.late
		}
		p.scoreLate(m, vec)
		return
	}
	for _, r := range g {
		st.raw[st.rawIdx[r.Sensor]] = r.V
	}
	if st.der != nil {
		st.der.Eval(st.raw)
	}
	if !p.runs(st, t, true) {
		p.notRunning.Add(1)
		return
	}
	if st.join == nil {
		for k, i := range st.keep {
			m.latest[k] = st.raw[i]
		}
		p.scoreVector(m, t)
		return
	}
	for _, r := range g {
		if i := st.sig[st.rawIdx[r.Sensor]]; i >= 0 {
			st.join.Add(i, t, r.V)
		}
	}
	if st.der != nil {
		for i := st.der.Inputs(); i < len(st.raw); i++ {
			if st.sig[i] >= 0 && !math.IsNaN(st.raw[i]) {
				st.join.Add(st.sig[i], t, st.raw[i])
			}
		}
	}
}

// runs applies the running gate at event time t: whether the machine runs
// and has settled since its last start. Only in-order groups (advance)
// move the gate's state; a late group is judged by the state as it is.
func (p *Pipeline) runs(st *streamState, t int64, advance bool) bool {
	g := p.opts.Stream.Running
	if g == nil || st.run < 0 {
		return true
	}
	v := st.raw[st.run]
	if math.IsNaN(v) {
		return true // no value yet: nothing says it is stopped
	}
	if v < g.Min {
		if advance {
			st.started = 0
		}
		return false
	}
	if st.started == 0 {
		if !advance {
			return false
		}
		st.started = t
	}
	return t-st.started >= int64(g.Settle)
}

// windowVector scores one closed window of a machine.
func (p *Pipeline) windowVector(m *machine, w *features.Window) {
	copy(m.latest, w.Values)
	p.scoreVector(m, w.End)
}

// Flush releases readings buffered for sensors quiet for StreamOptions.Idle
// of processing time now, and scores them. Call it periodically on the
// pipeline's goroutine.
func (p *Pipeline) Flush(now time.Time) {
	for _, m := range p.order {
		if m.stream == nil {
			continue
		}
		p.rel = m.stream.set.Flush(now.UnixNano(), p.rel[:0])
		p.release(m)
	}
}

// Drain releases everything buffered and closes every window, as at
// shutdown. Call it on the pipeline's goroutine.
func (p *Pipeline) Drain() {
	for _, m := range p.order {
		if m.stream == nil {
			continue
		}
		p.rel = m.stream.set.Drain(p.rel[:0])
		p.release(m)
		if m.stream.join != nil {
			m.stream.join.Flush()
		}
	}
}

func (o *StreamOptions) check() ([][]string, error) {
	if o.Lateness < 0 {
		return nil, errors.New("stream: negative lateness")
	}
	if o.Window > 0 {
		step := o.Step
		if step == 0 {
			step = o.Window
		}
		if step < 0 || step > o.Window || o.Window%step != 0 {
			return nil, fmt.Errorf("stream: window step %v must divide window size %v", o.Step, o.Window)
		}
	}
	if len(o.Derived) == 0 {
		return nil, nil
	}
	return CheckDerived(o.Derived)
}
