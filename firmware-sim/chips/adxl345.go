package chips

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"periph.io/x/conn/v3"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"
)

// ADXL345 registers and bits (data sheet Table 19).
const (
	adxlDevID      = 0x00
	adxlIntSource  = 0x30
	adxlBWRate     = 0x2C
	adxlPowerCtl   = 0x2D
	adxlDataFormat = 0x31
	adxlDataX0     = 0x32
	adxlFIFOCtl    = 0x38
	adxlFIFOStatus = 0x39
	adxlNumRegs    = 0x3A
	adxlFIFODepth  = 32
	gravity        = 9.80665
)

// ADXL345Opts configure an emulated ADXL345.
type ADXL345Opts struct {
	// Signal is the acceleration in m/s² at t seconds; nil is 1 g on Z.
	Signal func(t float64) [3]float64
	// Now is the chip's clock; nil is time.Now.
	Now func() time.Time
}

// ADXL345 is an emulated ADXL345. Its FIFO fills at the output data rate
// set in BW_RATE while POWER_CTL's Measure bit is set: in stream mode the
// oldest entry is dropped when it is full (an overrun), in FIFO mode
// sampling stops. Reading DATAX0 pops the oldest entry into DATAX0..DATAZ1;
// in bypass mode those registers hold the latest sample. Left-justified
// output (DATA_FORMAT Justify) and the interrupt, tap, activity and
// free-fall functions are not emulated.
type ADXL345 struct {
	mu       sync.Mutex
	signal   func(t float64) [3]float64
	clk      clock
	regs     [adxlNumRegs]byte
	ptr      byte // I²C register pointer
	fifo     [adxlFIFODepth][3]int16
	head, n  int
	start    time.Time // when Measure was set
	produced int64     // samples made since start
	overruns int
}

// NewADXL345 returns a chip in its reset state (standby, 100 Hz, bypass).
func NewADXL345(o ADXL345Opts) *ADXL345 {
	a := &ADXL345{signal: o.Signal, clk: newClock(o.Now)}
	if a.signal == nil {
		a.signal = func(float64) [3]float64 { return [3]float64{0, 0, gravity} }
	}
	a.regs[adxlDevID] = 0xE5
	a.regs[adxlBWRate] = 0x0A
	a.regs[adxlIntSource] = 0x02
	return a
}

// Overruns counts samples dropped from a full FIFO.
func (a *ADXL345) Overruns() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.overruns
}

func (a *ADXL345) rate() float64 {
	code := a.regs[adxlBWRate] & 0x0F
	return 3200 / math.Exp2(float64(0x0F-code))
}

func (a *ADXL345) measuring() bool { return a.regs[adxlPowerCtl]&0x08 != 0 }

func (a *ADXL345) fifoMode() byte { return a.regs[adxlFIFOCtl] >> 6 }

// toLSB converts m/s² to output counts under DATA_FORMAT.
func (a *ADXL345) toLSB(v float64) int16 {
	f := a.regs[adxlDataFormat]
	rangeG := float64(int(2) << (f & 0x03))
	lsbPerG, limit := 256.0, 511.0
	if f&0x08 != 0 { // full resolution: 3.9 mg/LSB over the whole range
		limit = rangeG*256 - 1
	} else {
		lsbPerG = 512 / rangeG
	}
	c := math.Round(v / gravity * lsbPerG)
	return int16(max(-limit-1, min(limit, c)))
}

// update makes the samples due by now.
func (a *ADXL345) update(now time.Time) {
	if !a.measuring() {
		return
	}
	rate := a.rate()
	due := int64(now.Sub(a.start).Seconds() * rate)
	if due-a.produced > adxlFIFODepth+1 {
		// Only the newest samples can still be in the FIFO.
		a.overruns += int(due - a.produced - adxlFIFODepth - 1)
		a.produced = due - adxlFIFODepth - 1
	}
	t0 := a.clk.seconds(a.start)
	for a.produced < due {
		a.produced++
		s := a.signal(t0 + float64(a.produced)/rate)
		e := [3]int16{a.toLSB(s[0]), a.toLSB(s[1]), a.toLSB(s[2])}
		switch a.fifoMode() {
		case 0: // bypass
			a.setOutput(e)
			continue
		case 1: // FIFO: stop when full
			if a.n == adxlFIFODepth {
				a.overruns++
				continue
			}
		default: // stream (trigger is emulated as stream)
			if a.n == adxlFIFODepth {
				a.head = (a.head + 1) % adxlFIFODepth
				a.n--
				a.overruns++
			}
		}
		a.fifo[(a.head+a.n)%adxlFIFODepth] = e
		a.n++
	}
}

func (a *ADXL345) setOutput(e [3]int16) {
	for i, v := range e {
		a.regs[adxlDataX0+2*i] = byte(v)
		a.regs[adxlDataX0+2*i+1] = byte(uint16(v) >> 8)
	}
}

func (a *ADXL345) pop() {
	if a.n == 0 {
		return
	}
	a.setOutput(a.fifo[a.head])
	a.head = (a.head + 1) % adxlFIFODepth
	a.n--
}

func (a *ADXL345) writeReg(reg, v byte) {
	if int(reg) >= adxlNumRegs {
		return
	}
	switch reg {
	case adxlDevID, adxlIntSource, adxlFIFOStatus, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37:
		return // read-only
	case adxlPowerCtl:
		if v&0x08 != 0 && !a.measuring() {
			a.start, a.produced = a.clk.now(), 0
		}
	case adxlFIFOCtl, adxlBWRate:
		a.head, a.n = 0, 0 // a mode or rate change clears the FIFO
		a.start, a.produced = a.clk.now(), 0
	}
	a.regs[reg] = v
}

func (a *ADXL345) readReg(reg byte) byte {
	switch reg {
	case adxlFIFOStatus:
		return byte(a.n)
	case adxlIntSource:
		v := byte(0)
		if a.n > 0 || a.fifoMode() == 0 && a.produced > 0 {
			v |= 0x80 // DATA_READY
		}
		if a.n > int(a.regs[adxlFIFOCtl]&0x1F) {
			v |= 0x02 // Watermark
		}
		return v
	}
	if int(reg) < adxlNumRegs {
		return a.regs[reg]
	}
	return 0
}

// read reads len(p) registers from reg, incrementing the address when inc.
// A read that starts at DATAX0 pops a FIFO entry first.
func (a *ADXL345) read(reg byte, p []byte, inc bool) {
	a.update(a.clk.now())
	if reg == adxlDataX0 && a.fifoMode() != 0 {
		a.pop()
	}
	for i := range p {
		p[i] = a.readReg(reg)
		if inc {
			reg++
		}
	}
}

// TxI2C implements Chip: the first byte written is the register address,
// the rest are written from it on; then r is read from the address, both
// with auto-increment.
func (a *ADXL345) TxI2C(w, r []byte) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(w) > 0 {
		a.ptr = w[0] & 0x3F
		for i, v := range w[1:] {
			a.writeReg(a.ptr+byte(i), v)
		}
	}
	if len(r) > 0 {
		a.read(a.ptr, r, true)
	}
	return nil
}

// SPI returns the chip's SPI port: mode 3, up to 5 MHz, 8 bits per word.
func (a *ADXL345) SPI() spi.PortCloser { return &adxlPort{a: a} }

type adxlPort struct {
	a    *ADXL345
	mode spi.Mode
}

func (p *adxlPort) String() string                    { return "adxl345-spi" }
func (p *adxlPort) Close() error                      { return nil }
func (p *adxlPort) LimitSpeed(physic.Frequency) error { return nil }

// Connect implements spi.Port: the ADXL345 needs mode 3 (CPOL = CPHA = 1)
// at 5 MHz at most, 8-bit words.
func (p *adxlPort) Connect(f physic.Frequency, mode spi.Mode, bits int) (spi.Conn, error) {
	if mode&spi.Mode3 != spi.Mode3 {
		return nil, fmt.Errorf("chips: adxl345: SPI mode %s, want Mode3", mode)
	}
	if f > 5*physic.MegaHertz || f <= 0 {
		return nil, fmt.Errorf("chips: adxl345: SPI clock %s, want up to 5MHz", f)
	}
	if bits != 8 {
		return nil, fmt.Errorf("chips: adxl345: %d bits per word, want 8", bits)
	}
	return &adxlConn{a: p.a, half: mode&spi.HalfDuplex != 0}, nil
}

type adxlConn struct {
	a    *ADXL345
	half bool
}

var errPackets = errors.New("chips: adxl345: TxPackets not supported")

func (c *adxlConn) String() string { return "adxl345-spi" }
func (c *adxlConn) Duplex() conn.Duplex {
	if c.half {
		return conn.Half
	}
	return conn.Full
}
func (c *adxlConn) TxPackets([]spi.Packet) error { return errPackets }

// Tx implements conn.Conn. The command byte holds R/W (bit 7), MB (bit 6)
// and the address. In 4-wire mode the transfer is full duplex: r is as
// long as w and r[0] is clocked out during the command byte. In 3-wire
// mode (DATA_FORMAT SPI bit) data come back after the command in r.
func (c *adxlConn) Tx(w, r []byte) error {
	a := c.a
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(w) == 0 {
		return errors.New("chips: adxl345: SPI transfer without a command byte")
	}
	threeWire := a.regs[adxlDataFormat]&0x40 != 0
	if c.half != threeWire && w[0]&0x80 != 0 {
		return fmt.Errorf("chips: adxl345: half-duplex connection %v, chip 3-wire mode %v", c.half, threeWire)
	}
	cmd := w[0]
	reg, mb := cmd&0x3F, cmd&0x40 != 0
	if cmd&0x80 == 0 { // write
		if !mb {
			w = w[:min(len(w), 2)]
		}
		for _, v := range w[1:] {
			a.writeReg(reg, v)
			reg++
		}
		for i := range r {
			r[i] = 0
		}
		return nil
	}
	if threeWire {
		a.read(reg, r, mb)
		return nil
	}
	if len(r) != len(w) {
		return fmt.Errorf("chips: adxl345: 4-wire SPI is full duplex: wrote %d bytes, read %d", len(w), len(r))
	}
	r[0] = 0
	a.read(reg, r[1:], mb)
	return nil
}
