// Package chips emulates sensor chips at the register level for the
// simulator and for tests of the agent's drivers: an ADXL345 accelerometer
// (I²C and SPI), a BME280 environment sensor and an ADS1115 ADC, on an
// emulated I²C bus that implements periph.io's i2c.Bus, plus emulated GPIO
// pins.
//
// # Registers
//
// Each chip has a register file with the reset values of its data sheet,
// register auto-increment on multi-byte reads and writes (I²C: the first
// byte written is the register address; SPI: the command byte with its
// multi-byte bit), and the chip-id registers. Reads and writes of
// registers the emulation does not model go to the register file as is.
//
// # Physics
//
// A chip's measurements come from a source function of time (seconds since
// the chip was made, on its clock): acceleration in m/s² for the ADXL345,
// whose FIFO fills at its output data rate; temperature, pressure and
// humidity for the BME280, whose raw ADC values are the inverse of the data
// sheet's compensation for its calibration words; voltages on AIN0..AIN3
// for the ADS1115, whose single-shot conversions take 1/data rate. Sources
// are called with the chip's lock held, one call at a time. Vibration makes
// a rotating machine's acceleration (shaft harmonics plus noise);
// ProcessSignals derives every chip's source from a machine's process
// values in the plant simulator's units (vibration velocity RMS, bearing
// temperature, current, pressure), through a current clamp and a 4–20 mA
// pressure loop; StreamSignal plays a sampled stream, such as a simulated
// machine's raw vibration (plant.VibrationSource), through the ADXL345's
// FIFO sample for sample.
//
// Options take a clock (Now) so tests can step time by hand; the zero
// value is the wall clock.
package chips

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
)

// Chip is an emulated I²C device. Tx is one transaction: w written, then r
// read after a repeated start, as i2c.Bus.Tx.
type Chip interface {
	TxI2C(w, r []byte) error
}

// ErrNoDevice is returned for a transaction to an address no chip answers
// (the address byte is not acknowledged).
var ErrNoDevice = errors.New("chips: address not acknowledged")

// Bus is an emulated I²C bus.
type Bus struct {
	name  string
	mu    sync.Mutex
	chips map[uint16]Chip
}

var _ i2c.BusCloser = (*Bus)(nil)

// NewBus returns an empty bus.
func NewBus(name string) *Bus { return &Bus{name: name, chips: map[uint16]Chip{}} }

// Attach puts c at the 7-bit address addr.
func (b *Bus) Attach(addr uint16, c Chip) error {
	if addr > 0x7F {
		return fmt.Errorf("chips: address %#x is not a 7-bit address", addr)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.chips[addr]; ok {
		return fmt.Errorf("chips: address %#x already in use on %s", addr, b.name)
	}
	b.chips[addr] = c
	return nil
}

// Addrs lists the addresses in use, sorted.
func (b *Bus) Addrs() []uint16 {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]uint16, 0, len(b.chips))
	for a := range b.chips {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// String implements i2c.Bus.
func (b *Bus) String() string { return b.name }

// Tx implements i2c.Bus.
func (b *Bus) Tx(addr uint16, w, r []byte) error {
	b.mu.Lock()
	c := b.chips[addr]
	b.mu.Unlock()
	if c == nil {
		return &noDeviceError{addr}
	}
	return c.TxI2C(w, r)
}

type noDeviceError struct{ addr uint16 }

func (e *noDeviceError) Error() string {
	return "chips: address 0x" + strconv.FormatUint(uint64(e.addr), 16) + " not acknowledged"
}
func (e *noDeviceError) Unwrap() error { return ErrNoDevice }

// SetSpeed implements i2c.Bus; any speed up to 3.4 MHz goes.
func (b *Bus) SetSpeed(f physic.Frequency) error {
	if f <= 0 || f > 3400*physic.KiloHertz {
		return fmt.Errorf("chips: i2c speed %s out of range", f)
	}
	return nil
}

// Close implements i2c.BusCloser.
func (b *Bus) Close() error { return nil }

// clock is a chip's time base.
type clock struct {
	now   func() time.Time
	epoch time.Time
}

func newClock(now func() time.Time) clock {
	if now == nil {
		now = time.Now
	}
	return clock{now: now, epoch: now()}
}

// seconds is t in seconds since the epoch.
func (c *clock) seconds(t time.Time) float64 { return t.Sub(c.epoch).Seconds() }
