// Package ads1115 drives the Texas Instruments ADS1115 16-bit ADC over I²C
// in single-shot mode, and turns its voltages into currents: a clamp with a
// voltage output, or a 4–20 mA loop across a shunt resistor.
//
// It follows the ADS111x data sheet (SBAS444): section 9.6 "Register Map":
// the address pointer register (9.6.1: 0 conversion, 1 config), the
// conversion register (9.6.2: 16-bit two's complement, MSB first) and the
// config register (9.6.3, Table 8: OS[15], MUX[14:12], PGA[11:9], MODE[8],
// DR[7:5], comparator bits [4:0]); section 9.3.3 "Full-Scale Range (FSR)
// and LSB Size" (Table 3: LSB = FSR / 2¹⁵); section 9.4.2 "Operating
// Modes", single-shot: writing OS = 1 starts one conversion, and OS reads 0
// while it runs and 1 once it is done. The chip has no identification
// register: New checks only that it answers.
package ads1115

import (
	"context"
	"errors"
	"fmt"
	"time"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
)

// Register pointers.
const (
	RegConversion = 0x00
	RegConfig     = 0x01
)

// Config register bits.
const (
	ConfigOS         = 0x8000 // start a conversion / conversion done
	ConfigSingleShot = 0x0100 // MODE: single-shot
	ConfigCompOff    = 0x0003 // COMP_QUE = 11: comparator disabled
	ConfigDefault    = 0x8583 // value after power-on reset
)

// Mux is the input multiplexer setting, MUX[14:12].
type Mux uint8

// Inputs: differential pairs, then single-ended against GND.
const (
	Diff01 Mux = iota // AIN0 − AIN1
	Diff03            // AIN0 − AIN3
	Diff13            // AIN1 − AIN3
	Diff23            // AIN2 − AIN3
	AIN0              // AIN0 − GND
	AIN1
	AIN2
	AIN3
)

// Full-scale ranges of the PGA (Table 3).
const (
	FS6144mV = 6144 * physic.MilliVolt
	FS4096mV = 4096 * physic.MilliVolt
	FS2048mV = 2048 * physic.MilliVolt
	FS1024mV = 1024 * physic.MilliVolt
	FS512mV  = 512 * physic.MilliVolt
	FS256mV  = 256 * physic.MilliVolt
)

var fullScales = [...]physic.ElectricPotential{FS6144mV, FS4096mV, FS2048mV, FS1024mV, FS512mV, FS256mV}

var dataRates = [...]int{8, 16, 32, 64, 128, 250, 475, 860}

// Addresses: ADDR pin to GND, VDD, SDA or SCL.
const (
	AddrGND uint16 = 0x48
	AddrVDD uint16 = 0x49
	AddrSDA uint16 = 0x4A
	AddrSCL uint16 = 0x4B
)

// ErrTimeout is returned when a conversion does not complete in three
// conversion times.
var ErrTimeout = errors.New("ads1115: conversion did not complete")

// Channel is one measurement: an input and its full-scale range.
type Channel struct {
	Mux Mux
	// FullScale is one of the FS constants; 0 means ±2.048 V.
	FullScale physic.ElectricPotential
}

// config is the config register value that starts a single-shot
// conversion of c at the data rate code dr.
func (c Channel) config(dr byte) (uint16, error) {
	fs := c.FullScale
	if fs == 0 {
		fs = FS2048mV
	}
	pga := -1
	for i, f := range fullScales {
		if f == fs {
			pga = i
		}
	}
	if pga < 0 {
		return 0, fmt.Errorf("ads1115: full scale %s: not a PGA setting", fs)
	}
	if c.Mux > AIN3 {
		return 0, fmt.Errorf("ads1115: mux %d: want 0..7", c.Mux)
	}
	return ConfigOS | uint16(c.Mux)<<12 | uint16(pga)<<9 | ConfigSingleShot | uint16(dr)<<5 | ConfigCompOff, nil
}

// Opts configure the driver. The zero value works: 128 samples per second.
type Opts struct {
	// DataRate in samples per second: 8, 16, 32, 64, 128, 250, 475 or 860;
	// 0 means 128. A conversion takes 1/DataRate.
	DataRate int
}

// Dev is an ADS1115. It is not safe for concurrent use.
type Dev struct {
	dev   i2c.Dev
	dr    byte
	conv  time.Duration
	timer *time.Timer
	w     [3]byte
	r     [2]byte
}

// New opens the ADC at addr (0x48..0x4B) on b: it reads the config
// register to see that the chip answers.
func New(b i2c.Bus, addr uint16, o *Opts) (*Dev, error) {
	if addr < AddrGND || addr > AddrSCL {
		return nil, fmt.Errorf("ads1115: i2c address %#x: want 0x48..0x4b", addr)
	}
	rate := 128
	if o != nil && o.DataRate != 0 {
		rate = o.DataRate
	}
	d := &Dev{dev: i2c.Dev{Bus: b, Addr: addr}, dr: 0xFF}
	for i, r := range dataRates {
		if r == rate {
			d.dr = byte(i)
		}
	}
	if d.dr == 0xFF {
		return nil, fmt.Errorf("ads1115: data rate %d: want 8, 16, 32, 64, 128, 250, 475 or 860", rate)
	}
	d.conv = time.Second / time.Duration(rate)
	if _, err := d.readReg(RegConfig); err != nil {
		return nil, fmt.Errorf("ads1115: read config: %w", err)
	}
	d.timer = time.NewTimer(time.Hour)
	d.timer.Stop()
	return d, nil
}

// String implements conn.Resource.
func (d *Dev) String() string { return "ads1115(" + d.dev.String() + ")" }

func (d *Dev) readReg(reg byte) (uint16, error) {
	d.w[0] = reg
	if err := d.dev.Tx(d.w[:1], d.r[:]); err != nil {
		return 0, err
	}
	return uint16(d.r[0])<<8 | uint16(d.r[1]), nil
}

func (d *Dev) wait(ctx context.Context, t time.Duration) error {
	d.timer.Reset(t)
	select {
	case <-ctx.Done():
		d.timer.Stop()
		return ctx.Err()
	case <-d.timer.C:
		return nil
	}
}

// Read makes one single-shot conversion of ch and returns the voltage. It
// waits one conversion time, then polls OS until the conversion is done.
// It does not allocate.
func (d *Dev) Read(ctx context.Context, ch Channel) (physic.ElectricPotential, error) {
	cfg, err := ch.config(d.dr)
	if err != nil {
		return 0, err
	}
	d.w = [3]byte{RegConfig, byte(cfg >> 8), byte(cfg)}
	if err := d.dev.Tx(d.w[:], nil); err != nil {
		return 0, fmt.Errorf("ads1115: start conversion: %w", err)
	}
	if err := d.wait(ctx, d.conv); err != nil {
		return 0, err
	}
	poll := max(d.conv/8, 100*time.Microsecond)
	for tries := 0; ; tries++ {
		c, err := d.readReg(RegConfig)
		if err != nil {
			return 0, fmt.Errorf("ads1115: poll config: %w", err)
		}
		if c&ConfigOS != 0 {
			break
		}
		if time.Duration(tries)*poll > 2*d.conv {
			return 0, ErrTimeout
		}
		if err := d.wait(ctx, poll); err != nil {
			return 0, err
		}
	}
	raw, err := d.readReg(RegConversion)
	if err != nil {
		return 0, fmt.Errorf("ads1115: read conversion: %w", err)
	}
	return Volts(int16(raw), ch.FullScale), nil
}

// Volts converts a conversion register value at a full scale (0 means
// ±2.048 V): one LSB is FSR/32768.
func Volts(raw int16, fullScale physic.ElectricPotential) physic.ElectricPotential {
	if fullScale == 0 {
		fullScale = FS2048mV
	}
	return physic.ElectricPotential(int64(raw) * int64(fullScale) / 32768)
}

// ClampCurrent converts the voltage of a current clamp (or transducer)
// with a DC voltage output proportional to the current, e.g. 30 A per volt.
// An AC clamp without an RMS converter needs sampling, not one reading.
func ClampCurrent(v physic.ElectricPotential, ampsPerVolt float64) physic.ElectricCurrent {
	return physic.ElectricCurrent(float64(v) * ampsPerVolt)
}

// Errors of a 4–20 mA loop, after NAMUR NE 43: below 3.6 mA the loop is
// broken or the transmitter failed; above 21 mA it is shorted or failed.
var (
	ErrLoopBroken    = errors.New("ads1115: 4-20 mA loop broken (below 3.6 mA)")
	ErrLoopOverRange = errors.New("ads1115: 4-20 mA loop over range (above 21 mA)")
)

// Loop is a 4–20 mA current loop read as the voltage across a shunt
// resistor (250 Ω gives 1–5 V; 100 Ω gives 0.4–2 V).
type Loop struct {
	Shunt physic.ElectricResistance
	// Lo and Hi are the engineering values at 4 mA and 20 mA.
	Lo, Hi float64
}

// Current is the loop current.
func (l Loop) Current(v physic.ElectricPotential) physic.ElectricCurrent {
	if l.Shunt <= 0 {
		return 0
	}
	// nV / nΩ = A; scale to nA.
	return physic.ElectricCurrent(float64(v) / float64(l.Shunt) * float64(physic.Ampere))
}

// Value maps the loop current linearly from 4–20 mA to Lo–Hi. Currents
// between 3.6 and 4 mA or 20 and 21 mA extrapolate; outside, it returns
// ErrLoopBroken or ErrLoopOverRange.
func (l Loop) Value(v physic.ElectricPotential) (float64, error) {
	i := l.Current(v)
	switch {
	case i < 3600*physic.MicroAmpere:
		return 0, ErrLoopBroken
	case i > 21*physic.MilliAmpere:
		return 0, ErrLoopOverRange
	}
	frac := float64(i-4*physic.MilliAmpere) / float64(16*physic.MilliAmpere)
	return l.Lo + frac*(l.Hi-l.Lo), nil
}
