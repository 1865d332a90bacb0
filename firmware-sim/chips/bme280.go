package chips

import (
	"encoding/binary"
	"math"
	"sync"
	"time"
)

// Env is an environment as a BME280 measures it.
type Env struct {
	Temperature float64 // °C
	Pressure    float64 // Pa
	Humidity    float64 // %RH
}

// BME280Calibration is a BME280's trimming parameters (data sheet Table 16).
type BME280Calibration struct {
	T1         uint16
	T2, T3     int16
	P1         uint16
	P2, P3, P4 int16
	P5, P6, P7 int16
	P8, P9     int16
	H1         uint8
	H2         int16
	H3         uint8
	H4, H5     int16 // 12-bit signed
	H6         int8
}

// DefaultBME280Calibration is the BMP280 data sheet's worked example
// (section 3.12) for temperature and pressure, with typical humidity words.
func DefaultBME280Calibration() BME280Calibration {
	return BME280Calibration{
		T1: 27504, T2: 26435, T3: -1000,
		P1: 36477, P2: -10685, P3: 3024, P4: 2855, P5: 140, P6: -7, P7: 15500, P8: -14600, P9: 6000,
		H1: 75, H2: 362, H3: 0, H4: 313, H5: 50, H6: 30,
	}
}

// BME280Opts configure an emulated BME280.
type BME280Opts struct {
	// Env is the environment at t seconds; nil is 20 °C, 101325 Pa, 45 %RH.
	Env func(t float64) Env
	// Calibration is the chip's trimming; the zero value means
	// DefaultBME280Calibration.
	Calibration BME280Calibration
	// Now is the chip's clock; nil is time.Now.
	Now func() time.Time
}

const (
	bmeNumRegs  = 0x100
	bmeCtrlHum  = 0xF2
	bmeStatus   = 0xF3
	bmeCtrlMeas = 0xF4
	bmeConfig   = 0xF5
	bmeData     = 0xF7
	bmeReset    = 0xE0
)

// BME280 is an emulated BME280. In normal mode a measurement is made when
// the data registers are read, from the environment at that time; forced
// mode measures once and returns to sleep. The raw values are the inverse
// of the data sheet's floating-point compensation for the chip's
// calibration, at the resolution oversampling gives (16 + osrs − 1 bits
// for temperature and pressure, without the IIR filter, which is not
// emulated). Data read 0x80000/0x8000 (skipped) until the first
// measurement.
type BME280 struct {
	mu   sync.Mutex
	env  func(t float64) Env
	cal  BME280Calibration
	clk  clock
	regs [bmeNumRegs]byte
	ptr  byte
}

// NewBME280 returns a chip in its reset state (sleep mode).
func NewBME280(o BME280Opts) *BME280 {
	b := &BME280{env: o.Env, cal: o.Calibration, clk: newClock(o.Now)}
	if b.env == nil {
		b.env = func(float64) Env { return Env{20, 101325, 45} }
	}
	if b.cal == (BME280Calibration{}) {
		b.cal = DefaultBME280Calibration()
	}
	b.reset()
	return b
}

func (b *BME280) reset() {
	b.regs = [bmeNumRegs]byte{}
	b.regs[0xD0] = 0x60
	le := binary.LittleEndian
	c := &b.cal
	for i, v := range [...]uint16{c.T1, uint16(c.T2), uint16(c.T3), c.P1, uint16(c.P2), uint16(c.P3),
		uint16(c.P4), uint16(c.P5), uint16(c.P6), uint16(c.P7), uint16(c.P8), uint16(c.P9)} {
		le.PutUint16(b.regs[0x88+2*i:], v)
	}
	b.regs[0xA1] = c.H1
	le.PutUint16(b.regs[0xE1:], uint16(c.H2))
	b.regs[0xE3] = c.H3
	b.regs[0xE4] = byte(c.H4 >> 4)
	b.regs[0xE5] = byte(c.H4&0x0F) | byte(c.H5&0x0F)<<4
	b.regs[0xE6] = byte(c.H5 >> 4)
	b.regs[0xE7] = byte(c.H6)
	copy(b.regs[bmeData:], []byte{0x80, 0, 0, 0x80, 0, 0, 0x80, 0})
}

// TxI2C implements Chip, with register auto-increment.
func (b *BME280) TxI2C(w, r []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(w) > 0 {
		b.ptr = w[0]
		// Writes are register/value pairs (data sheet 6.2.1).
		for i := 1; i < len(w); i += 2 {
			reg := b.ptr
			if i > 1 {
				reg = w[i-1]
			}
			b.write(reg, w[i])
		}
	}
	if len(r) > 0 {
		if b.ptr <= bmeData+7 && int(b.ptr)+len(r) > bmeData && b.regs[bmeCtrlMeas]&0x03 == 0x03 {
			b.measure()
		}
		for i := range r {
			r[i] = b.regs[b.ptr+byte(i)]
		}
	}
	return nil
}

func (b *BME280) write(reg, v byte) {
	switch {
	case reg == bmeReset:
		if v == 0xB6 {
			b.reset()
		}
	case reg == bmeCtrlHum || reg == bmeConfig:
		b.regs[reg] = v
	case reg == bmeCtrlMeas:
		b.regs[reg] = v
		if m := v & 0x03; m == 1 || m == 2 { // forced: measure, then sleep
			b.measure()
			b.regs[reg] &^= 0x03
		}
	}
	// Other registers are read-only.
}

// measure fills the data registers from the environment now.
func (b *BME280) measure() {
	e := b.env(b.clk.seconds(b.clk.now()))
	meas := b.regs[bmeCtrlMeas]
	adcT := b.invTemp(e.Temperature)
	tFine := b.tFine(float64(adcT))
	put20 := func(at int, v int32, osrs byte) {
		if osrs == 0 {
			v = 0x80000 // skipped
		} else {
			// Below the resolution of the oversampling, 16 + osrs - 1 bits.
			v &^= 1<<(5-min(5, osrs)) - 1
		}
		b.regs[at] = byte(v >> 12)
		b.regs[at+1] = byte(v >> 4)
		b.regs[at+2] = byte(v << 4)
	}
	put20(bmeData, b.invPress(tFine, e.Pressure), meas>>2&0x07)
	put20(bmeData+3, adcT, meas>>5)
	adcH := int32(0x8000)
	if b.regs[bmeCtrlHum]&0x07 != 0 {
		adcH = b.invHum(tFine, e.Humidity)
	}
	b.regs[bmeData+6] = byte(adcH >> 8)
	b.regs[bmeData+7] = byte(adcH)
}

// The data sheet's floating-point compensation (section 8.1).

func (b *BME280) tFine(adcT float64) float64 {
	c := &b.cal
	v1 := (adcT/16384 - float64(c.T1)/1024) * float64(c.T2)
	d := adcT/131072 - float64(c.T1)/8192
	return v1 + d*d*float64(c.T3)
}

func (b *BME280) press(tFine, adcP float64) float64 {
	c := &b.cal
	v1 := math.Trunc(tFine)/2 - 64000
	v2 := v1 * v1 * float64(c.P6) / 32768
	v2 += v1 * float64(c.P5) * 2
	v2 = v2/4 + float64(c.P4)*65536
	v1 = (float64(c.P3)*v1*v1/524288 + float64(c.P2)*v1) / 524288
	v1 = (1 + v1/32768) * float64(c.P1)
	if v1 == 0 {
		return 0
	}
	p := 1048576 - adcP
	p = (p - v2/4096) * 6250 / v1
	return p + (float64(c.P9)*p*p/2147483648+p*float64(c.P8)/32768+float64(c.P7))/16
}

func (b *BME280) hum(tFine, adcH float64) float64 {
	c := &b.cal
	x := math.Trunc(tFine) - 76800
	x = (adcH - (float64(c.H4)*64 + float64(c.H5)/16384*x)) *
		(float64(c.H2) / 65536 * (1 + float64(c.H6)/67108864*x*(1+float64(c.H3)/67108864*x)))
	return x * (1 - float64(c.H1)*x/524288)
}

// bisect finds the integer x in [lo, hi] where f crosses want, f monotonic
// in the direction up.
func bisect(lo, hi int32, want float64, up bool, f func(x float64) float64) int32 {
	for lo < hi {
		mid := lo + (hi-lo)/2
		if (f(float64(mid)) < want) == up {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

func (b *BME280) invTemp(celsius float64) int32 {
	return bisect(0, 1<<20-1, celsius*5120, true, b.tFine)
}

func (b *BME280) invPress(tFine, pa float64) int32 {
	return bisect(0, 1<<20-1, pa, false, func(x float64) float64 { return b.press(tFine, x) })
}

// invHum solves the humidity compensation for adc_H: y = x·(1 − H1·x/2¹⁹)
// on its rising branch, and x is linear in adc_H.
func (b *BME280) invHum(tFine, rh float64) int32 {
	c := &b.cal
	y := min(100, max(0, rh))
	x := y
	if c.H1 != 0 {
		k := float64(c.H1) / 524288
		x = (1 - math.Sqrt(max(0, 1-4*k*y))) / (2 * k)
	}
	t := math.Trunc(tFine) - 76800
	k0 := float64(c.H4)*64 + float64(c.H5)/16384*t
	k1 := float64(c.H2) / 65536 * (1 + float64(c.H6)/67108864*t*(1+float64(c.H3)/67108864*t))
	if k1 == 0 {
		return 0
	}
	return int32(min(65535, max(0, math.Round(x/k1+k0))))
}
