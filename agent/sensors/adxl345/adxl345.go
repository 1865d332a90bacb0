// Package adxl345 drives the Analog Devices ADXL345 3-axis accelerometer
// over I²C or SPI (3-wire or 4-wire), reading its FIFO in stream mode.
//
// The register map follows the ADXL345 data sheet (Rev. E): "Register Map"
// (Table 19) and "Register Definitions" for DEVID (0x00), BW_RATE (0x2C,
// Table 7 output data rates), POWER_CTL (0x2D), DATA_FORMAT (0x31),
// DATAX0..DATAZ1 (0x32..0x37), FIFO_CTL (0x38, Table 22 FIFO modes) and
// FIFO_STATUS (0x39); "Serial Communications" for the SPI command byte (R/W
// bit 7, MB multi-byte bit 6, mode 3, 5 MHz at most) and I²C register
// auto-increment; "FIFO" and "Retrieving Data from FIFO" for reading one
// entry per 6-byte multi-byte read of DATAX0..DATAZ1.
//
// # Units
//
// periph's physic package has no acceleration type (Force has EarthGravity,
// but acceleration is not a force), so samples are float64 metres per second
// squared (m/s²), converted with the standard gravity 9.80665 m/s² per g.
// In full resolution the scale is 3.9 mg/LSB (256 LSB/g) for every range; in
// 10-bit mode it is 256 LSB/g at ±2 g and halves with each doubling of the
// range.
package adxl345

import (
	"errors"
	"fmt"
	"time"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"
)

// Registers (data sheet Table 19).
const (
	RegDevID      = 0x00
	RegBWRate     = 0x2C
	RegPowerCtl   = 0x2D
	RegDataFormat = 0x31
	RegDataX0     = 0x32
	RegFIFOCtl    = 0x38
	RegFIFOStatus = 0x39
)

// Register values and bits.
const (
	DevID = 0xE5 // DEVID's fixed value

	PowerMeasure = 0x08 // POWER_CTL Measure bit

	FormatSPI3Wire = 0x40 // DATA_FORMAT SPI bit: 3-wire mode
	FormatFullRes  = 0x08 // DATA_FORMAT FULL_RES bit

	FIFOStream = 0x80 // FIFO_CTL FIFO_MODE = 10: stream

	spiRead      = 0x80 // SPI command: R/W bit
	spiMultiByte = 0x40 // SPI command: MB bit
)

// Addresses on I²C: ALT ADDRESS pin high or low.
const (
	AddrHigh uint16 = 0x1D
	AddrLow  uint16 = 0x53
)

// FIFODepth is how many entries the FIFO holds.
const FIFODepth = 32

// MaxSPIFrequency is the highest SPI clock the chip accepts.
const MaxSPIFrequency = 5 * physic.MegaHertz

// StandardGravity converts g to m/s².
const StandardGravity = 9.80665

// SPIMode is the mode to connect an spi.Port with for the chip: mode 3,
// half duplex in 3-wire mode.
func SPIMode(threeWire bool) spi.Mode {
	if threeWire {
		return spi.Mode3 | spi.HalfDuplex
	}
	return spi.Mode3
}

// ErrChipID is returned when DEVID does not read 0xE5.
var ErrChipID = errors.New("adxl345: wrong device id")

// Opts configure the chip. The zero value works: ±16 g full resolution,
// 100 Hz, watermark 16.
type Opts struct {
	// Range is the full scale in g: 2, 4, 8 or 16; 0 means 16.
	Range int
	// Rate is the output data rate, one of 6.25 Hz·2ⁿ up to 3200 Hz;
	// 0 means 100 Hz.
	Rate physic.Frequency
	// Watermark is the FIFO_CTL samples field (1..31); 0 means 16.
	Watermark int
	// TenBit selects 10-bit resolution instead of full resolution.
	TenBit bool
	// SPI3Wire selects 3-wire SPI (DATA_FORMAT SPI bit); SPI only.
	SPI3Wire bool
}

func (o *Opts) withDefaults() (Opts, error) {
	c := Opts{}
	if o != nil {
		c = *o
	}
	if c.Range == 0 {
		c.Range = 16
	}
	if c.Rate == 0 {
		c.Rate = 100 * physic.Hertz
	}
	if c.Watermark == 0 {
		c.Watermark = 16
	}
	if _, ok := rangeCode(c.Range); !ok {
		return c, fmt.Errorf("adxl345: range %d g: want 2, 4, 8 or 16", c.Range)
	}
	if _, ok := RateCode(c.Rate); !ok {
		return c, fmt.Errorf("adxl345: rate %s: want 6.25 Hz times a power of two up to 3200 Hz", c.Rate)
	}
	if c.Watermark < 1 || c.Watermark > 31 {
		return c, fmt.Errorf("adxl345: watermark %d: want 1..31", c.Watermark)
	}
	return c, nil
}

func rangeCode(g int) (byte, bool) {
	switch g {
	case 2:
		return 0, true
	case 4:
		return 1, true
	case 8:
		return 2, true
	case 16:
		return 3, true
	}
	return 0, false
}

// RateCode is BW_RATE's rate code of an output data rate (Table 7): 0x0F is
// 3200 Hz, each step down halves it, down to 0x06 at 6.25 Hz.
func RateCode(f physic.Frequency) (byte, bool) {
	r := 3200 * physic.Hertz
	for code := byte(0x0F); code >= 0x06; code-- {
		if f == r {
			return code, true
		}
		r /= 2
	}
	return 0, false
}

// RateOf is the output data rate of a BW_RATE rate code (0x06..0x0F); it
// is 0 for other codes.
func RateOf(code byte) physic.Frequency {
	code &= 0x0F
	if code < 0x06 {
		return 0
	}
	return (3200 * physic.Hertz) >> (0x0F - code)
}

// Sample is one acceleration in m/s².
type Sample struct{ X, Y, Z float64 }

// Frame holds the FIFO entries of one read. It is meant to be allocated
// once and reused.
type Frame struct {
	Samples [FIFODepth]Sample
	N       int
	// Full reports that the FIFO was full when read: in stream mode older
	// samples were probably dropped, so the chip should be read more often.
	Full bool
	// Time is when the read finished; Samples[N-1] is the newest sample,
	// the others are 1/rate apart before it.
	Time time.Time
}

// Get returns the samples read.
func (f *Frame) Get() []Sample { return f.Samples[:f.N] }

// regIO is the bus-specific half of the driver.
type regIO interface {
	write(reg, v byte) error
	read(reg byte, p []byte) error
}

// Dev is an ADXL345 in measurement mode with its FIFO streaming. It is not
// safe for concurrent use.
type Dev struct {
	io    regIO
	name  string
	opts  Opts
	scale float64 // m/s² per LSB
	buf   [6]byte
}

// NewI2C opens the chip at addr (AddrLow or AddrHigh) on b and starts it.
func NewI2C(b i2c.Bus, addr uint16, o *Opts) (*Dev, error) {
	if addr != AddrLow && addr != AddrHigh {
		return nil, fmt.Errorf("adxl345: i2c address %#x: want 0x53 or 0x1d", addr)
	}
	c, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	if c.SPI3Wire {
		return nil, errors.New("adxl345: SPI3Wire set on an i2c device")
	}
	d := &Dev{name: "adxl345(" + b.String() + ")", opts: c}
	d.io = &i2cIO{dev: i2c.Dev{Bus: b, Addr: addr}}
	return d, d.init()
}

// NewSPI starts the chip on c, connected in SPIMode(o.SPI3Wire) at no more
// than MaxSPIFrequency.
func NewSPI(c spi.Conn, o *Opts) (*Dev, error) {
	cfg, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	d := &Dev{name: "adxl345(" + c.String() + ")", opts: cfg}
	d.io = &spiIO{c: c, threeWire: cfg.SPI3Wire}
	return d, d.init()
}

// String implements conn.Resource.
func (d *Dev) String() string { return d.name }

// Rate is the output data rate.
func (d *Dev) Rate() physic.Frequency { return d.opts.Rate }

func (d *Dev) format() byte {
	rc, _ := rangeCode(d.opts.Range)
	f := rc
	if !d.opts.TenBit {
		f |= FormatFullRes
	}
	if d.opts.SPI3Wire {
		f |= FormatSPI3Wire
	}
	return f
}

func (d *Dev) init() error {
	if d.opts.SPI3Wire {
		// In 3-wire mode SDO is not driven: set the mode before reading.
		if err := d.io.write(RegDataFormat, d.format()); err != nil {
			return fmt.Errorf("adxl345: set 3-wire mode: %w", err)
		}
	}
	var id [1]byte
	if err := d.io.read(RegDevID, id[:]); err != nil {
		return fmt.Errorf("adxl345: read DEVID: %w", err)
	}
	if id[0] != DevID {
		return fmt.Errorf("%w: %#02x, want %#02x", ErrChipID, id[0], DevID)
	}
	rate, _ := RateCode(d.opts.Rate)
	// Configure in standby, then measure (Register Definitions: POWER_CTL).
	for _, w := range [...]struct {
		name   string
		reg, v byte
	}{
		{"POWER_CTL", RegPowerCtl, 0},
		{"BW_RATE", RegBWRate, rate},
		{"DATA_FORMAT", RegDataFormat, d.format()},
		{"FIFO_CTL", RegFIFOCtl, FIFOStream | byte(d.opts.Watermark)},
		{"POWER_CTL", RegPowerCtl, PowerMeasure},
	} {
		if err := d.io.write(w.reg, w.v); err != nil {
			return fmt.Errorf("adxl345: write %s: %w", w.name, err)
		}
	}
	lsbPerG := 256.0
	if d.opts.TenBit {
		lsbPerG = 512 / float64(d.opts.Range)
	}
	d.scale = StandardGravity / lsbPerG
	return nil
}

// ReadFIFO reads every entry the FIFO holds into f: FIFO_STATUS, then one
// 6-byte multi-byte read of DATAX0..DATAZ1 per entry. It does not allocate.
func (d *Dev) ReadFIFO(f *Frame) error {
	f.N, f.Full = 0, false
	if err := d.io.read(RegFIFOStatus, d.buf[:1]); err != nil {
		return fmt.Errorf("adxl345: read FIFO_STATUS: %w", err)
	}
	n := min(int(d.buf[0]&0x3F), FIFODepth)
	f.Full = n == FIFODepth
	for i := range n {
		if err := d.io.read(RegDataX0, d.buf[:6]); err != nil {
			return fmt.Errorf("adxl345: read DATAX0..DATAZ1: %w", err)
		}
		b := &d.buf
		f.Samples[i] = Sample{
			X: float64(int16(uint16(b[0])|uint16(b[1])<<8)) * d.scale,
			Y: float64(int16(uint16(b[2])|uint16(b[3])<<8)) * d.scale,
			Z: float64(int16(uint16(b[4])|uint16(b[5])<<8)) * d.scale,
		}
		f.N = i + 1
	}
	f.Time = time.Now()
	return nil
}

// Halt puts the chip in standby.
func (d *Dev) Halt() error {
	if err := d.io.write(RegPowerCtl, 0); err != nil {
		return fmt.Errorf("adxl345: standby: %w", err)
	}
	return nil
}

type i2cIO struct {
	dev i2c.Dev
	w   [2]byte
}

func (b *i2cIO) write(reg, v byte) error {
	b.w = [2]byte{reg, v}
	return b.dev.Tx(b.w[:], nil)
}

// read relies on the register address auto-incrementing over a
// multi-byte read ("I²C" in Serial Communications).
func (b *i2cIO) read(reg byte, p []byte) error {
	b.w[0] = reg
	return b.dev.Tx(b.w[:1], p)
}

type spiIO struct {
	c         spi.Conn
	threeWire bool
	w, r      [7]byte
}

func (s *spiIO) write(reg, v byte) error {
	s.w[0], s.w[1] = reg&0x3F, v
	return s.c.Tx(s.w[:2], nil)
}

func (s *spiIO) read(reg byte, p []byte) error {
	cmd := spiRead | reg&0x3F
	if len(p) > 1 {
		cmd |= spiMultiByte
	}
	if s.threeWire {
		// Half duplex: the command byte, then the data on the same wire.
		s.w[0] = cmd
		return s.c.Tx(s.w[:1], p)
	}
	n := len(p) + 1
	s.w = [7]byte{cmd}
	if err := s.c.Tx(s.w[:n], s.r[:n]); err != nil {
		return err
	}
	copy(p, s.r[1:n])
	return nil
}
