// Package sensortest holds what the sensor driver tests and the chip
// emulator tests share: bus transcripts written as text from a datasheet's
// register map, loaded into i2ctest and conntest playbacks, and a looping
// bus that replays a transcript forever without allocating, for benchmarks.
//
// # Transcript format
//
// One bus transaction per line; '#' starts a comment. An I²C line starts
// with the 7-bit address, an SPI line does not:
//
//	0x53 w 32 r 00 00 00 00 00 01   # read DATAX0..DATAZ1
//	w f2 00 00 00 00 00 00 r 00 ...   # SPI, full duplex: as many bytes read as written
//
// "w" is followed by the bytes written, "r" by the bytes the device answers
// (hexadecimal). "r?" instead of "r" marks bytes that depend on the physical
// world (a measurement): playback returns them, but Compare checks only
// their length.
package sensortest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"periph.io/x/conn/v3"
	"periph.io/x/conn/v3/conntest"
	"periph.io/x/conn/v3/i2c/i2ctest"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"
)

// Op is one transaction of a transcript.
type Op struct {
	Line int    // line in the transcript, for messages
	Addr uint16 // I²C address; 0 for SPI
	W, R []byte
	// AnyR marks R as a measurement: Compare checks its length only.
	AnyR bool
}

// Load reads a transcript file.
func Load(path string) ([]Op, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load transcript: %w", err)
	}
	ops, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("transcript %s: %w", path, err)
	}
	return ops, nil
}

// Parse parses a transcript.
func Parse(b []byte) ([]Op, error) {
	var ops []Op
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		op := Op{Line: n}
		if strings.HasPrefix(f[0], "0x") {
			a, err := strconv.ParseUint(f[0][2:], 16, 10)
			if err != nil {
				return nil, fmt.Errorf("line %d: address %q: %w", n, f[0], err)
			}
			if a == 0 {
				return nil, fmt.Errorf("line %d: address 0 is the general call, and means SPI here", n)
			}
			op.Addr = uint16(a)
			f = f[1:]
		}
		var cur *[]byte
		for _, tok := range f {
			switch tok {
			case "w":
				cur = &op.W
			case "r", "r?":
				cur = &op.R
				op.AnyR = tok == "r?"
			default:
				if cur == nil {
					return nil, fmt.Errorf("line %d: byte %q before w or r", n, tok)
				}
				v, err := strconv.ParseUint(tok, 16, 8)
				if err != nil {
					return nil, fmt.Errorf("line %d: byte %q: %w", n, tok, err)
				}
				*cur = append(*cur, byte(v))
			}
		}
		op.AnyR = op.AnyR && len(op.R) > 0
		if len(op.W) == 0 && len(op.R) == 0 {
			return nil, fmt.Errorf("line %d: empty transaction", n)
		}
		ops = append(ops, op)
	}
	return ops, sc.Err()
}

// I2C converts ops to an i2ctest playback script.
func I2C(ops []Op) []i2ctest.IO {
	out := make([]i2ctest.IO, len(ops))
	for i, o := range ops {
		out[i] = i2ctest.IO{Addr: o.Addr, W: o.W, R: o.R}
	}
	return out
}

// Conn converts ops to a conntest (SPI) playback script.
func Conn(ops []Op) []conntest.IO {
	out := make([]conntest.IO, len(ops))
	for i, o := range ops {
		out[i] = conntest.IO{W: o.W, R: o.R}
	}
	return out
}

// Compare checks recorded traffic against a transcript: every write and
// every exact read byte for byte, measurements by length.
func Compare(want []Op, got []i2ctest.IO) error {
	var errs []error
	for i := range max(len(want), len(got)) {
		switch {
		case i >= len(want):
			errs = append(errs, fmt.Errorf("op %d: unexpected %#x w % x r % x", i, got[i].Addr, got[i].W, got[i].R))
			continue
		case i >= len(got):
			errs = append(errs, fmt.Errorf("line %d: missing %#x w % x", want[i].Line, want[i].Addr, want[i].W))
			continue
		}
		w, g := want[i], got[i]
		if w.Addr != g.Addr || !bytes.Equal(w.W, g.W) {
			errs = append(errs, fmt.Errorf("line %d: got %#x w % x, want %#x w % x", w.Line, g.Addr, g.W, w.Addr, w.W))
		}
		if len(w.R) != len(g.R) || (!w.AnyR && !bytes.Equal(w.R, g.R)) {
			errs = append(errs, fmt.Errorf("line %d: got r % x, want r % x", w.Line, g.R, w.R))
		}
	}
	return errors.Join(errs...)
}

// CompareConn is Compare for SPI traffic.
func CompareConn(want []Op, got []conntest.IO) error {
	io := make([]i2ctest.IO, len(got))
	for i, g := range got {
		io[i] = i2ctest.IO{W: g.W, R: g.R}
	}
	return Compare(want, io)
}

// LoopBus is an i2c.Bus and conn.Conn that replays ops in a loop, checking
// each write, without allocating: a steady-state source for benchmarks.
type LoopBus struct {
	mu  sync.Mutex
	Ops []Op
	n   int
}

// String implements i2c.Bus.
func (l *LoopBus) String() string { return "loop" }

// SetSpeed implements i2c.Bus.
func (l *LoopBus) SetSpeed(physic.Frequency) error { return nil }

// Duplex implements conn.Conn.
func (l *LoopBus) Duplex() conn.Duplex { return conn.Full }

var (
	errLoop = errors.New("sensortest: loop bus: traffic differs from the transcript")
	errPWM  = errors.New("sensortest: pin: PWM not supported")
)

// Tx implements i2c.Bus.
func (l *LoopBus) Tx(addr uint16, w, r []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	o := &l.Ops[l.n]
	l.n = (l.n + 1) % len(l.Ops)
	if o.Addr != addr || !bytes.Equal(o.W, w) || len(o.R) != len(r) {
		return errLoop
	}
	copy(r, o.R)
	return nil
}

// Reset restarts the loop at the first op.
func (l *LoopBus) Reset() {
	l.mu.Lock()
	l.n = 0
	l.mu.Unlock()
}

// Conn returns the bus as an SPI connection (conn.Conn and spi.Conn without packets).
func (l *LoopBus) Conn() *LoopConn { return &LoopConn{l} }

// LoopConn is a LoopBus seen as an SPI connection.
type LoopConn struct{ l *LoopBus }

func (c *LoopConn) String() string       { return "loop" }
func (c *LoopConn) Duplex() conn.Duplex  { return conn.Full }
func (c *LoopConn) Tx(w, r []byte) error { return c.l.Tx(0, w, r) }

// TxPackets implements spi.Conn; the loop bus does not support packets.
func (c *LoopConn) TxPackets([]spi.Packet) error {
	return errors.New("sensortest: packets not supported")
}
