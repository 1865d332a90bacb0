// Package bme280 drives the Bosch BME280 temperature, pressure and humidity
// sensor over I²C, in normal mode.
//
// It follows the BME280 data sheet (BST-BME280-DS002): section 5.3 "Memory
// map" (Table 18) and 5.4 "Register description" for id (0xD0, reads 0x60),
// ctrl_hum (0xF2), ctrl_meas (0xF4), config (0xF5) and the burst-read data
// registers press (0xF7..0xF9), temp (0xFA..0xFC) and hum (0xFD..0xFE);
// section 4.2.2 "Trimming parameter readout" (Table 16) for the calibration
// words at 0x88..0xA1 and 0xE1..0xE7 (dig_H4 and dig_H5 are 12-bit values
// sharing 0xE5); and section 4.2.3 "Compensation formulas" in integer
// arithmetic: temperature in 0.01 °C, pressure in Pa as unsigned Q24.8 (the
// 64-bit formula), humidity in %RH as unsigned Q22.10. The tests check them
// against the floating-point versions of appendix 8.1 and the BMP280 data
// sheet's worked example (section 3.12), whose temperature and pressure
// formulas are the same.
//
// Section 5.4.3: a ctrl_hum change takes effect only after a write to
// ctrl_meas, so ctrl_hum is written first. Section 5.4.6: writes to config
// may be ignored in normal mode, so config is written before ctrl_meas
// starts normal mode.
package bme280

import (
	"errors"
	"fmt"
	"time"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
)

// Registers (Table 18).
const (
	RegCalib00  = 0x88 // 26 bytes: dig_T1..dig_P9, dig_H1 at 0xA1
	RegChipID   = 0xD0
	RegCalib26  = 0xE1 // 7 bytes: dig_H2..dig_H6
	RegCtrlHum  = 0xF2
	RegCtrlMeas = 0xF4
	RegConfig   = 0xF5
	RegPressMSB = 0xF7 // 8 bytes burst: press, temp, hum
	ChipID      = 0x60
	CalibLenA   = 26
	CalibLenB   = 7
	DataLen     = 8
)

const (
	modeNormal = 0x03
	skipped    = 0x80000 // raw value of a skipped pressure or temperature measurement
)

// Addresses: SDO to GND or to VDDIO.
const (
	AddrLow  uint16 = 0x76
	AddrHigh uint16 = 0x77
)

// ErrChipID is returned when the id register does not read 0x60 (a BMP280
// reads 0x58).
var ErrChipID = errors.New("bme280: wrong chip id")

// ErrSkipped is returned when a measurement reads as skipped, e.g. before the
// first conversion completed after power-on.
var ErrSkipped = errors.New("bme280: measurement skipped")

// Opts configure the chip. The zero value works: oversampling ×1 on every
// channel, filter off, standby 62.5 ms.
type Opts struct {
	// Oversampling of temperature, pressure, humidity: 1, 2, 4, 8 or 16;
	// 0 means 1. (Skipping a channel is not supported.)
	Temperature, Pressure, Humidity int
	// Filter is the IIR filter coefficient: 0 (off), 2, 4, 8 or 16.
	Filter int
	// Standby is t_sb between normal-mode measurements, one of 0.5 ms,
	// 10 ms, 20 ms, 62.5 ms, 125 ms, 250 ms, 500 ms, 1 s; 0 means 62.5 ms.
	Standby time.Duration
}

var standbyCodes = [...]time.Duration{
	500 * time.Microsecond, 62500 * time.Microsecond, 125 * time.Millisecond, 250 * time.Millisecond,
	500 * time.Millisecond, time.Second, 10 * time.Millisecond, 20 * time.Millisecond,
}

func osrsCode(n int) (byte, bool) {
	switch n {
	case 0, 1:
		return 1, true
	case 2:
		return 2, true
	case 4:
		return 3, true
	case 8:
		return 4, true
	case 16:
		return 5, true
	}
	return 0, false
}

func filterCode(n int) (byte, bool) {
	switch n {
	case 0:
		return 0, true
	case 2:
		return 1, true
	case 4:
		return 2, true
	case 8:
		return 3, true
	case 16:
		return 4, true
	}
	return 0, false
}

// registers returns ctrl_hum, ctrl_meas and config for o.
func (o *Opts) registers() (hum, meas, config byte, err error) {
	var c Opts
	if o != nil {
		c = *o
	}
	if c.Standby == 0 {
		c.Standby = 62500 * time.Microsecond
	}
	t, ok1 := osrsCode(c.Temperature)
	p, ok2 := osrsCode(c.Pressure)
	h, ok3 := osrsCode(c.Humidity)
	if !ok1 || !ok2 || !ok3 {
		return 0, 0, 0, fmt.Errorf("bme280: oversampling %d/%d/%d: want 1, 2, 4, 8 or 16", c.Temperature, c.Pressure, c.Humidity)
	}
	f, ok := filterCode(c.Filter)
	if !ok {
		return 0, 0, 0, fmt.Errorf("bme280: filter %d: want 0, 2, 4, 8 or 16", c.Filter)
	}
	sb := -1
	for i, d := range standbyCodes {
		if d == c.Standby {
			sb = i
		}
	}
	if sb < 0 {
		return 0, 0, 0, fmt.Errorf("bme280: standby %s: not a t_sb setting", c.Standby)
	}
	return h, t<<5 | p<<2 | modeNormal, byte(sb)<<5 | f<<2, nil
}

// Dev is a BME280 measuring in normal mode. It is not safe for concurrent use.
type Dev struct {
	dev i2c.Dev
	cal Calibration
	w   [2]byte
	buf [DataLen]byte
}

// New opens the chip at addr (AddrLow or AddrHigh) on b, reads its
// calibration and starts normal mode.
func New(b i2c.Bus, addr uint16, o *Opts) (*Dev, error) {
	if addr != AddrLow && addr != AddrHigh {
		return nil, fmt.Errorf("bme280: i2c address %#x: want 0x76 or 0x77", addr)
	}
	hum, meas, config, err := o.registers()
	if err != nil {
		return nil, err
	}
	d := &Dev{dev: i2c.Dev{Bus: b, Addr: addr}}
	var id [1]byte
	if err := d.read(RegChipID, id[:]); err != nil {
		return nil, fmt.Errorf("bme280: read id: %w", err)
	}
	if id[0] != ChipID {
		return nil, fmt.Errorf("%w: %#02x, want %#02x", ErrChipID, id[0], ChipID)
	}
	var a [CalibLenA]byte
	var c [CalibLenB]byte
	if err := d.read(RegCalib00, a[:]); err != nil {
		return nil, fmt.Errorf("bme280: read calibration 0x88..0xA1: %w", err)
	}
	if err := d.read(RegCalib26, c[:]); err != nil {
		return nil, fmt.Errorf("bme280: read calibration 0xE1..0xE7: %w", err)
	}
	d.cal = ParseCalibration(a, c)
	for _, w := range [...]struct {
		name   string
		reg, v byte
	}{
		{"ctrl_hum", RegCtrlHum, hum},
		{"config", RegConfig, config},
		{"ctrl_meas", RegCtrlMeas, meas},
	} {
		if err := d.write(w.reg, w.v); err != nil {
			return nil, fmt.Errorf("bme280: write %s: %w", w.name, err)
		}
	}
	return d, nil
}

func (d *Dev) read(reg byte, p []byte) error {
	d.w[0] = reg
	return d.dev.Tx(d.w[:1], p)
}

func (d *Dev) write(reg, v byte) error {
	d.w = [2]byte{reg, v}
	return d.dev.Tx(d.w[:], nil)
}

// String implements conn.Resource.
func (d *Dev) String() string { return "bme280(" + d.dev.String() + ")" }

// Calibration returns the trimming parameters read from the chip.
func (d *Dev) Calibration() Calibration { return d.cal }

// Sense burst-reads the latest measurement (0xF7..0xFE, one transaction so
// the three values belong together) and compensates it. It does not
// allocate.
func (d *Dev) Sense(env *physic.Env) error {
	if err := d.read(RegPressMSB, d.buf[:]); err != nil {
		return fmt.Errorf("bme280: read data: %w", err)
	}
	b := &d.buf
	adcP := int32(b[0])<<12 | int32(b[1])<<4 | int32(b[2])>>4
	adcT := int32(b[3])<<12 | int32(b[4])<<4 | int32(b[5])>>4
	adcH := int32(b[6])<<8 | int32(b[7])
	if adcT == skipped || adcP == skipped {
		return ErrSkipped
	}
	t, p, h := d.cal.Compensate(adcT, adcP, adcH)
	env.Temperature = CentiCelsius(t)
	env.Pressure = Q248Pascal(p)
	env.Humidity = Q2210RH(h)
	return nil
}

// Halt puts the chip in sleep mode.
func (d *Dev) Halt() error {
	if err := d.write(RegCtrlMeas, 0); err != nil {
		return fmt.Errorf("bme280: sleep: %w", err)
	}
	return nil
}

// CentiCelsius converts a temperature in 0.01 °C.
func CentiCelsius(t int32) physic.Temperature {
	return physic.ZeroCelsius + physic.Temperature(t)*10*physic.MilliKelvin
}

// Q248Pascal converts a pressure in Pa as unsigned Q24.8.
func Q248Pascal(p uint32) physic.Pressure {
	return physic.Pressure(p) * (physic.Pascal / 256)
}

// Q2210RH converts a relative humidity in % as unsigned Q22.10.
func Q2210RH(h uint32) physic.RelativeHumidity {
	return physic.RelativeHumidity(int64(h) * int64(physic.PercentRH) / 1024)
}
