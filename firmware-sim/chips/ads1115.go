package chips

import (
	"errors"
	"math"
	"sync"
	"time"
)

// ADS1115Opts configure an emulated ADS1115.
type ADS1115Opts struct {
	// Inputs are the voltages on AIN0..AIN3 at t seconds; nil is 0 V.
	Inputs func(t float64) [4]float64
	// Now is the chip's clock; nil is time.Now.
	Now func() time.Time
}

// ADS1115 is an emulated ADS1115. A single-shot conversion started by
// writing OS = 1 completes 1/data rate later on the chip's clock, with the
// voltage sampled at its midpoint; OS reads 0 until then. In continuous
// mode the conversion register follows the input at every read. The
// comparator (threshold registers aside) is not emulated.
type ADS1115 struct {
	mu     sync.Mutex
	inputs func(t float64) [4]float64
	clk    clock
	ptr    byte
	config uint16
	conv   int16
	lo, hi uint16
	busy   bool
	doneAt time.Time
}

var ads1115Rates = [8]float64{8, 16, 32, 64, 128, 250, 475, 860}

var ads1115FS = [8]float64{6.144, 4.096, 2.048, 1.024, 0.512, 0.256, 0.256, 0.256}

// NewADS1115 returns a chip in its power-on state.
func NewADS1115(o ADS1115Opts) *ADS1115 {
	a := &ADS1115{inputs: o.Inputs, clk: newClock(o.Now), config: 0x8583, lo: 0x8000, hi: 0x7FFF}
	if a.inputs == nil {
		a.inputs = func(float64) [4]float64 { return [4]float64{} }
	}
	return a
}

// convert is the conversion result of the current config at t.
func (a *ADS1115) convert(t time.Time) int16 {
	in := a.inputs(a.clk.seconds(t))
	var v float64
	switch mux := a.config >> 12 & 0x07; mux {
	case 0:
		v = in[0] - in[1]
	case 1:
		v = in[0] - in[3]
	case 2:
		v = in[1] - in[3]
	case 3:
		v = in[2] - in[3]
	default:
		v = in[mux-4]
	}
	fs := ads1115FS[a.config>>9&0x07]
	return int16(max(-32768, min(32767, math.Round(v/fs*32768))))
}

func (a *ADS1115) convTime() time.Duration {
	return time.Duration(float64(time.Second) / ads1115Rates[a.config>>5&0x07])
}

// settle finishes a conversion that is due.
func (a *ADS1115) settle(now time.Time) {
	if a.config&0x0100 == 0 { // continuous
		a.conv = a.convert(now)
		return
	}
	if a.busy && !now.Before(a.doneAt) {
		a.conv = a.convert(a.doneAt.Add(-a.convTime() / 2))
		a.busy = false
	}
}

var errADSWrite = errors.New("chips: ads1115: a register write is the pointer and two bytes")

// TxI2C implements Chip: the first byte written is the address pointer
// (two bits); a register write adds its two bytes, MSB first. Reads return
// the pointed register, MSB first.
func (a *ADS1115) TxI2C(w, r []byte) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.clk.now()
	a.settle(now)
	if len(w) > 0 {
		a.ptr = w[0] & 0x03
		switch len(w) {
		case 1:
		case 3:
			v := uint16(w[1])<<8 | uint16(w[2])
			switch a.ptr {
			case 1:
				a.config = v &^ 0x8000
				if v&0x8000 != 0 && v&0x0100 != 0 && !a.busy {
					a.busy, a.doneAt = true, now.Add(a.convTime())
				}
				a.settle(now)
			case 2:
				a.lo = v
			case 3:
				a.hi = v
			}
		default:
			return errADSWrite
		}
	}
	if len(r) > 0 {
		var v uint16
		switch a.ptr {
		case 0:
			v = uint16(a.conv)
		case 1:
			v = a.config
			if !a.busy {
				v |= 0x8000
			}
		case 2:
			v = a.lo
		case 3:
			v = a.hi
		}
		for i := range r {
			r[i] = byte(v >> (8 * (1 - i%2)))
		}
	}
	return nil
}
