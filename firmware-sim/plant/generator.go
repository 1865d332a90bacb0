package plant

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"time"

	"millwright/wire"
)

// Frame is one machine's telemetry for one tick.
type Frame struct {
	Gateway string
	// Telemetry holds every reading of the tick. Its times are the device's
	// clock (true time plus the device's skew), in whole milliseconds.
	Telemetry *wire.Telemetry
	// True is the tick's true event time, Unix nanoseconds.
	True int64
}

// Generator produces the plant's telemetry tick by tick, as fast as it is
// asked to, without any I/O: one Frame per machine per tick. It is
// deterministic: the same scenario, seed and start give the same frames.
// Each machine has its own random streams, seeded from the scenario's seed
// and the machine's gateway and id, so adding a machine changes no other.
type Generator struct {
	sc       Scenario
	start    int64 // Unix ns of tick 0
	step     int64 // ns between ticks
	n        int64 // ticks generated
	machines []*genMachine
	frames   []Frame
}

type genMachine struct {
	gw   string
	mean float64 // mean load
	st   *state
	net  *rand.Rand // network behaviour: separate, so it never changes the signals
	skew int64      // ns
	tel  wire.Telemetry
}

// NewGenerator returns a generator of sc's plant whose first tick is at
// start, truncated to the millisecond. It validates sc.
func NewGenerator(sc Scenario, start time.Time) (*Generator, error) {
	sc = sc.withDefaults()
	if err := sc.Validate(); err != nil {
		return nil, fmt.Errorf("scenario %q: %w", sc.Name, err)
	}
	g := &Generator{
		sc:    sc,
		start: start.Truncate(time.Millisecond).UnixNano(),
		step:  int64(float64(time.Second) / sc.Rate),
	}
	if g.step <= 0 {
		return nil, fmt.Errorf("scenario %q: rate %g too high", sc.Name, sc.Rate)
	}
	for _, gw := range sc.Gateways {
		for _, m := range gw.Machines {
			h := streamKey(gw.ID, m.ID)
			gm := &genMachine{
				gw: gw.ID,
				st: newState(gw.ID, m, stateOpts{ambient: sc.Ambient, rng: rand.New(rand.NewPCG(sc.Seed, h)), seed: sc.Seed, key: h,
					start: g.start, life: sc.Life, vib: sc.Vibration, frames: sc.Vibration.Frames}),
				net: rand.New(rand.NewPCG(sc.Seed^0x9e3779b97f4a7c15, h)),
			}
			gm.mean = gm.st.mean
			gm.skew = m.Skew.D().Milliseconds() * int64(time.Millisecond)
			if gm.skew == 0 && sc.Network.Skew > 0 {
				max := sc.Network.Skew.D().Milliseconds()
				gm.skew = (gm.net.Int64N(2*max+1) - max) * int64(time.Millisecond)
			}
			gm.tel.Env = wire.Envelope{Version: wire.Version, Sender: m.ID}
			gm.tel.Machine = m.ID
			gm.tel.Readings = make([]wire.Reading, 0, numSensors)
			g.machines = append(g.machines, gm)
		}
	}
	g.frames = make([]Frame, len(g.machines))
	return g, nil
}

func streamKey(gw, machine string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(gw))
	h.Write([]byte{'/'})
	h.Write([]byte(machine))
	return h.Sum64()
}

// Scenario returns the scenario with defaults filled in.
func (g *Generator) Scenario() Scenario { return g.sc }

// Interval is the simulated time between ticks.
func (g *Generator) Interval() time.Duration { return time.Duration(g.step) }

// Start is the true time of the first tick.
func (g *Generator) Start() time.Time { return time.Unix(0, g.start).UTC() }

// Ticks is how many ticks have been generated.
func (g *Generator) Ticks() int64 { return g.n }

// NextTime is the true event time of the tick the next call to Next makes.
func (g *Generator) NextTime() time.Time { return time.Unix(0, g.start+g.n*g.step).UTC() }

// Next advances the plant by one tick and returns one frame per machine, in
// scenario order. The frames and their telemetry are reused by the next
// call: copy or encode them before calling again. It does not allocate.
func (g *Generator) Next() []Frame {
	t := g.start + g.n*g.step
	tsec := float64(g.n*g.step) / 1e9
	dt := float64(g.step) / 1e9
	g.n++
	for i, gm := range g.machines {
		gm.st.step(tsec, dt)
		ts := (t + gm.skew) / int64(time.Millisecond) * int64(time.Millisecond)
		gm.tel.Env.Seq++
		gm.tel.Env.Time = ts
		rs := gm.tel.Readings[:0]
		for _, s := range gm.st.sensors {
			if gm.st.present[s] {
				rs = append(rs, wire.Reading{Sensor: sensorNameOf[s], Time: ts, Value: gm.st.vals[s]})
			}
		}
		gm.tel.Readings = rs
		g.frames[i] = Frame{Gateway: gm.gw, Telemetry: &gm.tel, True: t}
	}
	return g.frames
}

// Skew returns the clock skew of machine id, and whether it exists.
func (g *Generator) Skew(id string) (time.Duration, bool) {
	for _, gm := range g.machines {
		if gm.st.id == id {
			return time.Duration(gm.skew), true
		}
	}
	return 0, false
}

// nominalShaft is the machine's shaft frequency in Hz at its mean load.
func (gm *genMachine) nominalShaft() float64 {
	mt := gm.st.typ
	return (mt.shaftRPM - mt.shaftSlip*gm.mean) / 60
}
