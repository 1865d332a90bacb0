package sensortest

import (
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/pin"
)

// Pin is a fake gpio.PinIO: tests set the level it reads, and see what it
// was driven to and how. (periph's gpiotest.Pin would need the clockwork
// module, which the repository does not carry.)
type Pin struct {
	N string

	mu    sync.Mutex
	level gpio.Level
	pull  gpio.Pull
	isOut bool
	outs  int
	err   error
}

var _ gpio.PinIO = (*Pin)(nil)

// SetLevel sets the level the pin reads.
func (p *Pin) SetLevel(l gpio.Level) {
	p.mu.Lock()
	p.level = l
	p.mu.Unlock()
}

// Level is the pin's level (as read, or as last driven).
func (p *Pin) Level() gpio.Level {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.level
}

// Fail makes In and Out return err (nil to stop failing).
func (p *Pin) Fail(err error) {
	p.mu.Lock()
	p.err = err
	p.mu.Unlock()
}

// State reports whether the pin is an output, how many times it was
// driven, and the pull it was set with.
func (p *Pin) State() (isOut bool, outs int, pull gpio.Pull) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.isOut, p.outs, p.pull
}

func (p *Pin) String() string   { return p.N }
func (p *Pin) Name() string     { return p.N }
func (p *Pin) Number() int      { return -1 }
func (p *Pin) Function() string { return string(p.Func()) }
func (p *Pin) Halt() error      { return nil }

// Func implements pin.PinFunc.
func (p *Pin) Func() pin.Func {
	if out, _, _ := p.State(); out {
		return gpio.OUT
	}
	return gpio.IN
}

// In implements gpio.PinIn.
func (p *Pin) In(pull gpio.Pull, _ gpio.Edge) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return p.err
	}
	p.isOut, p.pull = false, pull
	return nil
}

// Read implements gpio.PinIn.
func (p *Pin) Read() gpio.Level { return p.Level() }

// WaitForEdge implements gpio.PinIn; the fake has no edges.
func (p *Pin) WaitForEdge(time.Duration) bool { return false }

// Pull implements gpio.PinIn.
func (p *Pin) Pull() gpio.Pull {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pull
}

// DefaultPull implements gpio.PinIn.
func (p *Pin) DefaultPull() gpio.Pull { return gpio.Float }

// Out implements gpio.PinOut.
func (p *Pin) Out(l gpio.Level) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return p.err
	}
	p.isOut, p.level = true, l
	p.outs++
	return nil
}

// PWM implements gpio.PinOut; the fake does not support it.
func (p *Pin) PWM(gpio.Duty, physic.Frequency) error { return errPWM }
