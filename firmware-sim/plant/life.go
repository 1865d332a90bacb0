package plant

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"millwright/internal/conf"
)

// Life is a plant's normal life beyond load changes and warm-up, which
// every machine has: the seasons and the working pattern. None of it is a
// fault, and none of it is labelled: a detector must not alarm on it.
type Life struct {
	Climate Climate `yaml:"climate"`
	// Shifts is the working day, in UTC: each shift runs from its start to
	// the next one's (the last to the first one's, next day). Empty: the
	// plant runs round the clock.
	Shifts []Shift `yaml:"shifts"`
	// WeekendsOff stops every machine from Saturday 00:00 to Monday 00:00
	// UTC.
	WeekendsOff bool `yaml:"weekends_off"`
}

// Climate makes the ambient temperature (Scenario.Ambient is its mean)
// follow the seasons and the day, from the simulation's start date.
type Climate struct {
	// Yearly is the amplitude in °C of the yearly cycle, warmest mid-July.
	Yearly float64 `yaml:"yearly"`
	// Daily is the amplitude in °C of the daily cycle, warmest at 15:00
	// UTC, coldest at 03:00.
	Daily float64 `yaml:"daily"`
}

// Shift is one shift of the working day.
type Shift struct {
	Start string `yaml:"start"` // "HH:MM", UTC
	// Load scales every machine's mean load during the shift; 0 stops the
	// machines (the plant is closed).
	Load float64 `yaml:"load"`
}

// Stops makes a machine stop at random: it runs for Every on average
// (exponentially distributed), then stands still for about For (uniform
// between half and one and a half of it). Stopping, the machine coasts
// down over seconds and cools; starting, it draws an inrush current.
type Stops struct {
	Every conf.Duration `yaml:"every"`
	For   conf.Duration `yaml:"for"`
}

func (l *Life) active() bool {
	return l.Climate != (Climate{}) || len(l.Shifts) > 0 || l.WeekendsOff
}

func (l *Life) validate() error {
	for _, c := range []struct {
		name string
		v    float64
	}{{"life.climate.yearly", l.Climate.Yearly}, {"life.climate.daily", l.Climate.Daily}} {
		if math.IsNaN(c.v) || c.v < 0 || c.v > 30 {
			return fmt.Errorf("%s: %g °C, want 0 to 30", c.name, c.v)
		}
	}
	prev := -1
	for i, s := range l.Shifts {
		m, err := parseClock(s.Start)
		if err != nil {
			return fmt.Errorf("life.shifts[%d].start: %w", i, err)
		}
		if m <= prev {
			return fmt.Errorf("life.shifts[%d].start: %s, shifts must be in order of start within the day", i, s.Start)
		}
		prev = m
		if math.IsNaN(s.Load) || s.Load < 0 || s.Load > 1.5 {
			return fmt.Errorf("life.shifts[%d].load: %g, want 0 (stopped) to 1.5", i, s.Load)
		}
	}
	return nil
}

func (s *Stops) validate(p string) error {
	if s.Every < 0 || s.For < 0 {
		return fmt.Errorf("%s: negative duration", p)
	}
	if s.Every > 0 && s.For == 0 {
		return fmt.Errorf("%s.for: stops every %v need a length", p, s.Every.D())
	}
	if s.Every > 0 && s.Every.D() < time.Minute {
		return fmt.Errorf("%s.every: %v, want at least 1m", p, s.Every.D())
	}
	return nil
}

// parseClock parses "HH:MM" into minutes after midnight.
func parseClock(s string) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || hh < 0 || hh > 23 || mm < 0 || mm > 59 || len(m) != 2 {
		return 0, fmt.Errorf("%q: want HH:MM (00:00 to 23:59)", s)
	}
	return hh*60 + mm, nil
}

// lifeState runs one machine's normal life.
type lifeState struct {
	start    float64 // Unix seconds of tick 0
	mean     float64 // the machine's mean load
	climate  Climate
	ambient  float64 // mean
	shifts   []int   // start minute of each shift
	loads    []float64
	weekends bool
	stops    Stops
	rng      *rand.Rand // its own stream: schedules never shift the physics' noise
	shift    int        // current shift, -1 before the first step
	stopped  bool       // in a random stop
	nextStop float64    // sim seconds: the next random stop begins, or ends when stopped
}

func newLifeState(o stateOpts, m Machine, mean float64) *lifeState {
	l := &lifeState{
		start: float64(o.start) / 1e9, mean: mean, climate: o.life.Climate, ambient: o.ambient,
		weekends: o.life.WeekendsOff, stops: m.Stops, shift: -1,
		rng: rand.New(rand.NewPCG(o.seed^0x6c696665, o.key)),
	}
	for _, s := range o.life.Shifts {
		min, _ := parseClock(s.Start)
		l.shifts = append(l.shifts, min)
		l.loads = append(l.loads, s.Load)
	}
	if l.stops.Every > 0 {
		l.nextStop = l.stops.Every.D().Seconds() * l.rng.ExpFloat64()
	}
	return l
}

// ambientAt is the ambient temperature at t seconds since start.
func (l *lifeState) ambientAt(t float64) float64 {
	u := l.start + t
	day := u / 86400
	a := l.ambient
	if l.climate.Yearly != 0 {
		// Day 195.5 after 1 January 1970 is mid-July; the year drifts by a
		// quarter day a year, which is what 365.2425 keeps in step.
		a += l.climate.Yearly * math.Cos(2*math.Pi*(day-195.5)/365.2425)
	}
	if l.climate.Daily != 0 {
		a += l.climate.Daily * math.Cos(2*math.Pi*(day-math.Floor(day)-15.0/24))
	}
	return a
}

// schedule reports whether the schedule has the machine running at t, and the
// load factor of the current shift.
func (l *lifeState) schedule(t float64) (run bool, factor float64, shift int) {
	u := l.start + t
	factor, shift = 1, -1
	if l.weekends {
		// 1 January 1970 was a Thursday: day 2 is Saturday.
		if wd := int64(math.Floor(u/86400)) % 7; wd == 2 || wd == 3 {
			return false, 0, -2
		}
	}
	if len(l.shifts) > 0 {
		min := int(math.Mod(u, 86400) / 60)
		shift = len(l.shifts) - 1 // before the first start: the last shift of the day before
		for i, s := range l.shifts {
			if min >= s {
				shift = i
			}
		}
		factor = l.loads[shift]
	}
	return factor > 0, factor, shift
}

// step runs the schedule to t: the machine's mean load, whether its
// contactor is closed, its speed, its inrush current and the ambient.
func (l *lifeState) step(s *state, t, dt float64) {
	s.ambient = l.ambientAt(t)
	run, factor, shift := l.schedule(t)
	if shift != l.shift {
		// A new shift: the load target moves to the shift's level now.
		l.shift = shift
		if factor > 0 {
			s.mean = l.mean * factor
			s.target = s.clampLoad(s.mean + s.swing*(2*l.rng.Float64()-1))
		}
	}
	if l.stops.Every > 0 && t >= l.nextStop {
		l.stopped = !l.stopped
		if l.stopped {
			l.nextStop = t + l.stops.For.D().Seconds()*(0.5+l.rng.Float64())
		} else {
			l.nextStop = t + l.stops.Every.D().Seconds()*l.rng.ExpFloat64()
		}
	}
	run = run && !l.stopped
	was := s.run
	// The contactor follows the schedule at once: open, the motor draws
	// no current (a current relay sees the stop), though the shaft coasts.
	s.fed = run
	if !run {
		s.inrush = 0
	}
	if run {
		// Direct-on-line start: up to speed in about 3 s, drawing five to
		// six times the full-load current, which decays as it speeds up.
		s.run = min(1, s.run+dt/3)
		if was == 0 {
			mt := s.typ
			s.inrush = 5.5 * (mt.amps + mt.ampsLoad)
		}
	} else {
		s.run = max(0, s.run-dt/8) // coasting down
	}
	s.inrush *= math.Exp(-dt / 1.0)
	if s.inrush < 0.01 {
		s.inrush = 0
	}
}
