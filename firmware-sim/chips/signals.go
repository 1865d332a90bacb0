package chips

import (
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/pin"
)

// Vibration describes the acceleration a rotating machine puts on an
// accelerometer mounted on its bearing housing: shaft-speed harmonics on
// each axis plus Gaussian noise, on top of gravity.
type Vibration struct {
	// ShaftHz is the shaft's rotation frequency (rpm / 60).
	ShaftHz float64
	// Harmonics[k] is the peak amplitude in m/s² of harmonic k+1 (1×, 2×,
	// 3× the shaft speed...) on X; Y sees it 90° later (a rotating
	// unbalance force) and Z at half amplitude.
	Harmonics []float64
	// Noise is the RMS of the broadband noise in m/s², per axis.
	Noise float64
	// Gravity is the static acceleration; zero means 1 g on Z.
	Gravity [3]float64
	// Seed seeds the noise.
	Seed uint64
}

// Source returns the signal as a function of time. The function keeps a
// random stream: call it from one goroutine at a time (the chips do).
func (v Vibration) Source() func(t float64) [3]float64 {
	rng := rand.New(rand.NewPCG(v.Seed, 0x5eed))
	g := v.Gravity
	if g == ([3]float64{}) {
		g = [3]float64{0, 0, gravity}
	}
	h := append([]float64(nil), v.Harmonics...)
	return func(t float64) [3]float64 {
		out := g
		for k, amp := range h {
			ph := 2 * math.Pi * float64(k+1) * v.ShaftHz * t
			out[0] += amp * math.Sin(ph)
			out[1] += amp * math.Cos(ph)
			out[2] += amp / 2 * math.Sin(ph+0.5)
		}
		for i := range out {
			out[i] += v.Noise * rng.NormFloat64()
		}
		return out
	}
}

// Pin is an emulated GPIO pin: as an input it reads Level at the time of
// the read; as an output it records the level it is driven to.
type Pin struct {
	N string
	// Level is the input level at t seconds; nil reads low.
	Level func(t float64) bool
	// Now is the pin's clock; nil is time.Now.
	Now func() time.Time

	once  sync.Once
	clk   clock
	mu    sync.Mutex
	out   bool
	level gpio.Level
	edges int
}

var _ gpio.PinIO = (*Pin)(nil)

func (p *Pin) setup() { p.once.Do(func() { p.clk = newClock(p.Now) }) }

func (p *Pin) String() string   { return p.N }
func (p *Pin) Name() string     { return p.N }
func (p *Pin) Number() int      { return -1 }
func (p *Pin) Function() string { return string(p.Func()) }
func (p *Pin) Halt() error      { return nil }

// Func implements pin.PinFunc.
func (p *Pin) Func() pin.Func {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.out {
		return gpio.OUT
	}
	return gpio.IN
}

// In implements gpio.PinIn; edges are not emulated.
func (p *Pin) In(gpio.Pull, gpio.Edge) error {
	p.setup()
	p.mu.Lock()
	p.out = false
	p.mu.Unlock()
	return nil
}

// Read implements gpio.PinIn.
func (p *Pin) Read() gpio.Level {
	p.setup()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.out || p.Level == nil {
		return p.level
	}
	return gpio.Level(p.Level(p.clk.seconds(p.clk.now())))
}

// WaitForEdge implements gpio.PinIn; it never sees an edge.
func (p *Pin) WaitForEdge(time.Duration) bool { return false }

// Pull implements gpio.PinIn.
func (p *Pin) Pull() gpio.Pull { return gpio.PullNoChange }

// DefaultPull implements gpio.PinIn.
func (p *Pin) DefaultPull() gpio.Pull { return gpio.Float }

// Out implements gpio.PinOut.
func (p *Pin) Out(l gpio.Level) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.out && p.level != l {
		p.edges++
	}
	p.out, p.level = true, l
	return nil
}

// Driven returns the level the pin was last driven to and how many times
// it changed as an output.
func (p *Pin) Driven() (gpio.Level, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.level, p.edges
}

// PWM implements gpio.PinOut as on/off: a duty over half is high.
func (p *Pin) PWM(d gpio.Duty, _ physic.Frequency) error { return p.Out(d > gpio.DutyHalf) }
