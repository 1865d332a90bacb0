// Package gpioio reads a machine-running contact on a GPIO input, debounced,
// and drives an alarm output (a lamp or a buzzer) on a GPIO output, through
// periph.io's gpio.PinIn and gpio.PinOut.
//
// There is no chip data sheet here: the input is sampled at the caller's
// poll rate (no edge interrupts, which not every GPIO driver delivers
// reliably) and a level change counts only once it has held for the
// debounce time, the usual way to ride out contact bounce (typically a few
// milliseconds for a relay, tens for a mechanical switch).
package gpioio

import (
	"context"
	"fmt"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
)

// InputOpts configure an Input. The zero value works: active high, pin
// pull left as is, 50 ms debounce.
type InputOpts struct {
	// ActiveLow means the machine runs when the pin reads low (a contact
	// to ground with a pull-up).
	ActiveLow bool
	// Pull is the pull resistor to apply; 0 leaves it as it is.
	Pull gpio.Pull
	// Debounce is how long a new level must hold; 0 means 50 ms, negative
	// means none.
	Debounce time.Duration
}

// Input is a debounced digital input. It is not safe for concurrent use.
type Input struct {
	pin       gpio.PinIn
	activeLow bool
	debounce  time.Duration

	started   bool
	stable    bool
	candidate bool
	since     time.Time
}

// NewInput sets p up as an input.
func NewInput(p gpio.PinIn, o *InputOpts) (*Input, error) {
	var c InputOpts
	if o != nil {
		c = *o
	}
	if c.Debounce == 0 {
		c.Debounce = 50 * time.Millisecond
	}
	if err := p.In(c.Pull, gpio.NoEdge); err != nil {
		return nil, fmt.Errorf("gpioio: set %s as input: %w", p, err)
	}
	return &Input{pin: p, activeLow: c.ActiveLow, debounce: max(0, c.Debounce)}, nil
}

// String implements conn.Resource.
func (in *Input) String() string { return in.pin.String() }

// Sample reads the pin at now (the caller's clock, increasing) and returns
// the debounced state and whether this sample changed it. The first sample
// sets the state without waiting.
func (in *Input) Sample(now time.Time) (on, changed bool) {
	raw := bool(in.pin.Read()) != in.activeLow
	switch {
	case !in.started:
		in.started, in.stable, in.candidate, in.since = true, raw, raw, now
		return raw, false
	case raw == in.stable:
		in.candidate = raw
	case raw != in.candidate:
		in.candidate, in.since = raw, now
		if in.debounce == 0 {
			in.stable = raw
			return raw, true
		}
	case now.Sub(in.since) >= in.debounce:
		in.stable = raw
		return raw, true
	}
	return in.stable, false
}

// On is the debounced state of the last Sample.
func (in *Input) On() bool { return in.stable }

// AlarmOpts configure an Alarm. The zero value works: active high.
type AlarmOpts struct {
	// ActiveLow drives the pin low to turn the alarm on (a relay board
	// with inverted inputs).
	ActiveLow bool
}

// Alarm is an on/off output. It is safe for concurrent use.
type Alarm struct {
	mu        sync.Mutex
	pin       gpio.PinOut
	activeLow bool
	on        bool
}

// NewAlarm sets p up as an output, with the alarm off.
func NewAlarm(p gpio.PinOut, o *AlarmOpts) (*Alarm, error) {
	a := &Alarm{pin: p}
	if o != nil {
		a.activeLow = o.ActiveLow
	}
	if err := p.Out(gpio.Level(a.activeLow)); err != nil {
		return nil, fmt.Errorf("gpioio: set %s as output: %w", p, err)
	}
	return a, nil
}

// String implements conn.Resource.
func (a *Alarm) String() string { return a.pin.String() }

// Set turns the alarm on or off. A GPIO write does not block, so ctx is
// only checked before it.
func (a *Alarm) Set(ctx context.Context, on bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.pin.Out(gpio.Level(on != a.activeLow)); err != nil {
		return fmt.Errorf("gpioio: drive alarm %s: %w", a.pin, err)
	}
	a.on = on
	return nil
}

// On reports whether the alarm was last set on.
func (a *Alarm) On() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.on
}

// Halt turns the alarm off.
func (a *Alarm) Halt() error { return a.Set(context.Background(), false) }
