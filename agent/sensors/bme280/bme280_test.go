package bme280_test

import (
	"errors"
	"math"
	"testing"
	"time"

	"periph.io/x/conn/v3/i2c/i2ctest"
	"periph.io/x/conn/v3/physic"

	"millwright/agent/sensors/bme280"
	"millwright/agent/sensors/sensortest"
)

// worked is the BMP280 data sheet's worked calibration (section 3.12) with
// typical BME280 humidity words.
var worked = bme280.Calibration{
	T1: 27504, T2: 26435, T3: -1000,
	P1: 36477, P2: -10685, P3: 3024, P4: 2855, P5: 140, P6: -7, P7: 15500, P8: -14600, P9: 6000,
	H1: 75, H2: 362, H3: 0, H4: 313, H5: 50, H6: 30,
}

func playback(t *testing.T, ops []sensortest.Op) *i2ctest.Playback {
	p := &i2ctest.Playback{Ops: sensortest.I2C(ops), DontPanic: true}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	})
	return p
}

func TestWorkedExample(t *testing.T) {
	temp, press, _ := worked.Compensate(519888, 415148, 0x7000)
	if temp != 2508 {
		t.Errorf("temperature = %d, want 2508 (25.08 °C)", temp)
	}
	// The data sheet prints 25767236 (100653.27 Pa); its integer formula
	// gives a few 1/256 Pa less, which the data sheet allows.
	if d := int64(press) - 25767236; d < -4 || d > 0 {
		t.Errorf("pressure = %d (%.2f Pa), want 25767236 within -4", press, float64(press)/256)
	}
}

// The data sheet's floating-point formulas (section 8.1), as an
// independent reference for the integer ones.
func reference(c *bme280.Calibration, adcT, adcP, adcH int32) (t, p, h float64) {
	T, P := float64(adcT), float64(adcP)
	v1 := (T/16384 - float64(c.T1)/1024) * float64(c.T2)
	d := T/131072 - float64(c.T1)/8192
	v2 := d * d * float64(c.T3)
	tFine := math.Trunc(v1 + v2)
	t = (v1 + v2) / 5120

	v1 = tFine/2 - 64000
	v2 = v1 * v1 * float64(c.P6) / 32768
	v2 += v1 * float64(c.P5) * 2
	v2 = v2/4 + float64(c.P4)*65536
	v1 = (float64(c.P3)*v1*v1/524288 + float64(c.P2)*v1) / 524288
	v1 = (1 + v1/32768) * float64(c.P1)
	p = 1048576 - P
	p = (p - v2/4096) * 6250 / v1
	v1 = float64(c.P9) * p * p / 2147483648
	v2 = p * float64(c.P8) / 32768
	p += (v1 + v2 + float64(c.P7)) / 16

	x := tFine - 76800
	x = (float64(adcH) - (float64(c.H4)*64 + float64(c.H5)/16384*x)) *
		(float64(c.H2) / 65536 * (1 + float64(c.H6)/67108864*x*(1+float64(c.H3)/67108864*x)))
	x *= 1 - float64(c.H1)*x/524288
	h = max(0, min(100, x))
	return t, p, h
}

func TestCompensateAgainstFloat(t *testing.T) {
	for adcT := int32(400000); adcT <= 600000; adcT += 25000 {
		for adcP := int32(250000); adcP <= 450000; adcP += 25000 {
			for adcH := int32(0x5000); adcH <= 0x9000; adcH += 0x800 {
				ti, pi, hi := worked.Compensate(adcT, adcP, adcH)
				tf, pf, hf := reference(&worked, adcT, adcP, adcH)
				if d := math.Abs(float64(ti)/100 - tf); d > 0.01 {
					t.Errorf("adc %d: temperature %.2f, float %.4f", adcT, float64(ti)/100, tf)
				}
				// The formulas differ by less than the chip's finest
				// pressure resolution, 0.18 Pa at 20 bits.
				if d := math.Abs(float64(pi)/256 - pf); d > 0.18 {
					t.Errorf("adc %d/%d: pressure %.3f, float %.3f", adcT, adcP, float64(pi)/256, pf)
				}
				if d := math.Abs(float64(hi)/1024 - hf); d > 0.01 {
					t.Errorf("adc %d/%d: humidity %.3f, float %.3f", adcT, adcH, float64(hi)/1024, hf)
				}
			}
		}
	}
}

func TestCalibrationBytes(t *testing.T) {
	a, b := worked.Bytes()
	if got := bme280.ParseCalibration(a, b); got != worked {
		t.Fatalf("round trip: %+v, want %+v", got, worked)
	}
	// Negative 12-bit humidity words sharing 0xE5.
	c := worked
	c.H4, c.H5 = -2048, -1
	a, b = c.Bytes()
	if got := bme280.ParseCalibration(a, b); got != c {
		t.Fatalf("round trip: %+v, want %+v", got, c)
	}
}

func TestTranscript(t *testing.T) {
	ops, err := sensortest.Load("testdata/i2c_sense.txt")
	if err != nil {
		t.Fatal(err)
	}
	d, err := bme280.New(playback(t, ops), bme280.AddrLow, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Calibration(); got != worked {
		t.Fatalf("calibration %+v, want %+v", got, worked)
	}
	var env physic.Env
	if err := d.Sense(&env); err != nil {
		t.Fatal(err)
	}
	_, _, hf := reference(&worked, 519888, 415148, 0x7000)
	if c := float64(env.Temperature-physic.ZeroCelsius) / float64(physic.Kelvin); math.Abs(c-25.08) > 1e-9 {
		t.Errorf("temperature %s, want 25.08°C", env.Temperature)
	}
	if pa := float64(env.Pressure) / float64(physic.Pascal); math.Abs(pa-100653.27) > 0.02 {
		t.Errorf("pressure %s, want 100653.27 Pa", env.Pressure)
	}
	if rh := float64(env.Humidity) / float64(physic.PercentRH); math.Abs(rh-hf) > 0.01 {
		t.Errorf("humidity %s, want %.3f%%", env.Humidity, hf)
	}
}

type failBus struct{ i2ctest.Playback }

var errBus = errors.New("bus fault")

func (*failBus) Tx(uint16, []byte, []byte) error { return errBus }

func TestErrors(t *testing.T) {
	t.Run("chip id", func(t *testing.T) {
		ops := []sensortest.Op{{Addr: 0x77, W: []byte{0xD0}, R: []byte{0x58}}} // a BMP280
		if _, err := bme280.New(playback(t, ops), bme280.AddrHigh, nil); !errors.Is(err, bme280.ErrChipID) {
			t.Fatalf("err = %v, want ErrChipID", err)
		}
	})
	t.Run("bus", func(t *testing.T) {
		if _, err := bme280.New(&failBus{}, bme280.AddrHigh, nil); !errors.Is(err, errBus) {
			t.Fatalf("err = %v, want the bus error", err)
		}
	})
	t.Run("skipped", func(t *testing.T) {
		ops, err := sensortest.Load("testdata/i2c_sense.txt")
		if err != nil {
			t.Fatal(err)
		}
		ops[len(ops)-1].R = []byte{0x80, 0, 0, 0x80, 0, 0, 0x80, 0} // power-on reset values
		d, err := bme280.New(playback(t, ops), bme280.AddrLow, nil)
		if err != nil {
			t.Fatal(err)
		}
		var env physic.Env
		if err := d.Sense(&env); !errors.Is(err, bme280.ErrSkipped) {
			t.Fatalf("err = %v, want ErrSkipped", err)
		}
	})
	for name, o := range map[string]bme280.Opts{
		"oversampling": {Pressure: 3},
		"filter":       {Filter: 5},
		"standby":      {Standby: time.Millisecond},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := bme280.New(playback(t, nil), bme280.AddrLow, &o); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func TestOptsRegisters(t *testing.T) {
	ops := []sensortest.Op{
		{Addr: 0x77, W: []byte{0xD0}, R: []byte{0x60}},
		{Addr: 0x77, W: []byte{0x88}, R: make([]byte, 26)},
		{Addr: 0x77, W: []byte{0xE1}, R: make([]byte, 7)},
		{Addr: 0x77, W: []byte{0xF2, 0x05}},         // osrs_h ×16
		{Addr: 0x77, W: []byte{0xF5, 0b110_100_00}}, // t_sb 10 ms, filter 16
		{Addr: 0x77, W: []byte{0xF4, 0b010_011_11}}, // osrs_t ×2, osrs_p ×4, normal
	}
	o := bme280.Opts{Temperature: 2, Pressure: 4, Humidity: 16, Filter: 16, Standby: 10 * time.Millisecond}
	if _, err := bme280.New(playback(t, ops), bme280.AddrHigh, &o); err != nil {
		t.Fatal(err)
	}
}

func FuzzCompensate(f *testing.F) {
	a, b := worked.Bytes()
	f.Add(a[:], b[:], int32(519888), int32(415148), int32(0x7000))
	f.Fuzz(func(t *testing.T, ab, bb []byte, adcT, adcP, adcH int32) {
		var a [bme280.CalibLenA]byte
		var b [bme280.CalibLenB]byte
		copy(a[:], ab)
		copy(b[:], bb)
		c := bme280.ParseCalibration(a, b)
		if a2, b2 := c.Bytes(); [24]byte(a2[:24]) != [24]byte(a[:24]) || a2[25] != a[25] || b2 != b {
			t.Fatalf("calibration round trip differs")
		}
		// 0xA0 is unused. 20-bit and 16-bit raw values, as the chip delivers them.
		_, _, h := c.Compensate(adcT&0xFFFFF, adcP&0xFFFFF, adcH&0xFFFF)
		if h > 100<<10 {
			t.Fatalf("humidity %d > 100%%", h)
		}
	})
}

func BenchmarkSense(b *testing.B) {
	ops, err := sensortest.Load("testdata/i2c_sense.txt")
	if err != nil {
		b.Fatal(err)
	}
	bus := &sensortest.LoopBus{Ops: ops}
	d, err := bme280.New(bus, bme280.AddrLow, nil)
	if err != nil {
		b.Fatal(err)
	}
	bus.Ops = ops[len(ops)-1:]
	bus.Reset()
	var env physic.Env
	b.ReportAllocs()
	for b.Loop() {
		if err := d.Sense(&env); err != nil {
			b.Fatal(err)
		}
	}
}
