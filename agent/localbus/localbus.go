// Package localbus is the agent's input for sensors wired to the gateway
// itself: accelerometers, environment sensors, ADCs and digital inputs on
// the board's I²C, SPI and GPIO, read through periph.io.
//
// New validates a Config; Run opens the configured sensors (on hardware
// through periph.io/x/host/v3, or, with emulate: true, on the emulated
// chips of firmware-sim/chips), polls each in a goroutine of its own at its
// rate, and hands each sensor's readings, as one wire.Telemetry for the
// machine, to the callback. Run returns when its context ends, after its
// goroutines have.
//
// # Readings
//
//   - adxl345: <name>_x, <name>_y, <name>_z, the RMS acceleration in m/s²
//     (mean removed, so gravity drops out) of every sample the FIFO gave
//     over the interval. The FIFO is drained every 8 samples (2 ms at
//     least), so the interval should span several shaft turns.
//   - bme280: the names given to temperature (°C), pressure (Pa) and
//     humidity (%RH).
//   - ads1115: one reading per channel, in volts, amps (a clamp) or the
//     loop's unit (a 4–20 mA loop). A broken loop gives no reading, and is
//     counted as a read error.
//   - gpio: 1 or 0, debounced, at every interval and at every change.
//
// A sensor whose read fails is logged when it starts failing and when it
// recovers, and its readings are left out meanwhile; it does not stop Run.
package localbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"millwright/agent/sensors/gpioio"
	"millwright/wire"
)

// Options tune New. The zero value works except for Sink.
type Options struct {
	// Sink receives the telemetry. It is never called concurrently; the
	// message and its readings are reused after it returns.
	Sink func(*wire.Telemetry)
	// Logger; nil discards.
	Logger *slog.Logger
	// Emulation tunes the emulated chips when Config.Emulate is set; nil
	// uses DefaultEmulation.
	Emulation *Emulation
	// Now is the clock of the readings' timestamps; nil is time.Now.
	Now func() time.Time
}

// Stats count what Run did.
type Stats struct {
	Messages uint64 // telemetry messages handed to the sink
	Errors   uint64 // failed sensor reads
	// Overruns counts accelerometer FIFO reads that found the FIFO full:
	// samples were probably lost (poll faster or lower rate_hz).
	Overruns uint64
}

// Input polls a machine's local sensors.
type Input struct {
	cfg  Config
	opts Options
	log  *slog.Logger

	sinkMu sync.Mutex
	seq    uint64

	alarmMu sync.Mutex
	alarm   *gpioio.Alarm

	running                    atomic.Bool
	messages, errors, overruns atomic.Uint64
}

// ErrNoAlarm is returned by SetAlarm when no alarm output is configured
// or Run is not running.
var ErrNoAlarm = errors.New("localbus: no alarm output")

// New checks cfg and returns an input ready to Run.
func New(cfg Config, opts Options) (*Input, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("local bus config: %w", err)
	}
	if opts.Sink == nil {
		return nil, errors.New("localbus: Options.Sink is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Input{cfg: cfg.WithDefaults(), opts: opts, log: opts.Logger.With("component", "localbus", "machine", cfg.Machine)}, nil
}

// Stats returns the counters so far.
func (in *Input) Stats() Stats {
	return Stats{Messages: in.messages.Load(), Errors: in.errors.Load(), Overruns: in.overruns.Load()}
}

// SetAlarm turns the configured alarm output on or off while Run runs.
func (in *Input) SetAlarm(ctx context.Context, on bool) error {
	in.alarmMu.Lock()
	a := in.alarm
	in.alarmMu.Unlock()
	if a == nil {
		return ErrNoAlarm
	}
	return a.Set(ctx, on)
}

// poller is one opened sensor.
type poller interface {
	// run polls until ctx ends, emitting through emit.
	run(ctx context.Context, in *Input) error
	close() error
}

// Run opens the sensors, polls them until ctx ends, then closes them and
// returns nil. It returns an error if a sensor cannot be opened, or if Run
// is already running.
func (in *Input) Run(ctx context.Context) error {
	if !in.running.CompareAndSwap(false, true) {
		return errors.New("localbus: Run is already running")
	}
	defer in.running.Store(false)
	hw, err := in.open()
	if err != nil {
		return err
	}
	defer hw.close(in.log)
	in.alarmMu.Lock()
	in.alarm = hw.alarm
	in.alarmMu.Unlock()
	defer func() {
		in.alarmMu.Lock()
		in.alarm = nil
		in.alarmMu.Unlock()
	}()
	in.log.Info("local sensors open", "sensors", len(hw.pollers), "emulated", in.cfg.Emulate)
	var wg sync.WaitGroup
	for _, p := range hw.pollers {
		wg.Go(func() { _ = p.run(ctx, in) })
	}
	wg.Wait()
	return nil
}

// emit hands t to the sink with the next sequence number.
func (in *Input) emit(t *wire.Telemetry, at time.Time) {
	if len(t.Readings) == 0 {
		return
	}
	in.sinkMu.Lock()
	defer in.sinkMu.Unlock()
	in.seq++
	t.Env = wire.Envelope{Version: wire.Version, Sender: in.cfg.Machine, Seq: in.seq, Time: at.UnixNano()}
	t.Machine = in.cfg.Machine
	in.opts.Sink(t)
	in.messages.Add(1)
}

// health logs a sensor's failures once per episode.
type health struct {
	name    string
	failing bool
}

func (h *health) report(in *Input, err error) {
	switch {
	case err != nil:
		in.errors.Add(1)
		if !h.failing {
			h.failing = true
			in.log.Warn("sensor read failing", "sensor", h.name, "err", err)
		}
	case h.failing:
		h.failing = false
		in.log.Info("sensor read recovered", "sensor", h.name)
	}
}
