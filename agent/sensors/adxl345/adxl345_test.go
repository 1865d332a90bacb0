package adxl345_test

import (
	"errors"
	"math"
	"testing"

	"periph.io/x/conn/v3/conntest"
	"periph.io/x/conn/v3/i2c/i2ctest"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"
	"periph.io/x/conn/v3/spi/spitest"

	"millwright/agent/sensors/adxl345"
	"millwright/agent/sensors/sensortest"
)

func load(t testing.TB, name string) []sensortest.Op {
	t.Helper()
	ops, err := sensortest.Load("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return ops
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

func spiPlayback(t *testing.T, ops []sensortest.Op, mode spi.Mode) spi.Conn {
	p := &spitest.Playback{Playback: conntest.Playback{Ops: sensortest.Conn(ops), DontPanic: true}}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	})
	c, err := p.Connect(adxl345.MaxSPIFrequency, mode, 8)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

const g = adxl345.StandardGravity

func checkFrame(t *testing.T, f *adxl345.Frame, n int, want adxl345.Sample) {
	t.Helper()
	if f.N != n {
		t.Fatalf("frame has %d samples, want %d", f.N, n)
	}
	for i, s := range f.Get() {
		if math.Abs(s.X-want.X) > 1e-9 || math.Abs(s.Y-want.Y) > 1e-9 || math.Abs(s.Z-want.Z) > 1e-9 {
			t.Errorf("sample %d = %+v, want %+v", i, s, want)
		}
	}
}

func TestTranscripts(t *testing.T) {
	want := adxl345.Sample{X: -0.5 * g, Z: g}
	t.Run("i2c", func(t *testing.T) {
		d, err := adxl345.NewI2C(playback(t, load(t, "i2c_stream.txt")), adxl345.AddrLow, nil)
		if err != nil {
			t.Fatal(err)
		}
		var f adxl345.Frame
		if err := d.ReadFIFO(&f); err != nil {
			t.Fatal(err)
		}
		checkFrame(t, &f, 3, want)
		if f.Full {
			t.Error("3 entries reported as a full FIFO")
		}
	})
	t.Run("spi4", func(t *testing.T) {
		c := spiPlayback(t, load(t, "spi4_stream.txt"), adxl345.SPIMode(false))
		d, err := adxl345.NewSPI(c, &adxl345.Opts{Range: 4, Rate: 800 * physic.Hertz, Watermark: 8})
		if err != nil {
			t.Fatal(err)
		}
		var f adxl345.Frame
		if err := d.ReadFIFO(&f); err != nil {
			t.Fatal(err)
		}
		checkFrame(t, &f, 2, want)
	})
	t.Run("spi3", func(t *testing.T) {
		c := spiPlayback(t, load(t, "spi3_stream.txt"), adxl345.SPIMode(true))
		d, err := adxl345.NewSPI(c, &adxl345.Opts{SPI3Wire: true})
		if err != nil {
			t.Fatal(err)
		}
		var f adxl345.Frame
		if err := d.ReadFIFO(&f); err != nil {
			t.Fatal(err)
		}
		checkFrame(t, &f, 1, want)
	})
}

// initOps is the I²C start-up of opts at 0x1D with the given DATA_FORMAT.
func initOps(format byte) []sensortest.Op {
	a := adxl345.AddrHigh
	return []sensortest.Op{
		{Addr: a, W: []byte{0x00}, R: []byte{0xE5}},
		{Addr: a, W: []byte{0x2D, 0x00}},
		{Addr: a, W: []byte{0x2C, 0x0A}},
		{Addr: a, W: []byte{0x31, format}},
		{Addr: a, W: []byte{0x38, 0x90}},
		{Addr: a, W: []byte{0x2D, 0x08}},
	}
}

func TestScale(t *testing.T) {
	// One entry of raw X = 100, Y = -1, Z = 32767 in each resolution.
	raw := []byte{100, 0, 0xFF, 0xFF, 0xFF, 0x7F}
	for _, tc := range []struct {
		rng     int
		tenBit  bool
		format  byte
		lsbPerG float64
	}{
		{16, false, 0x0B, 256},
		{2, false, 0x08, 256},
		{2, true, 0x00, 256},
		{4, true, 0x01, 128},
		{8, true, 0x02, 64},
		{16, true, 0x03, 32},
	} {
		ops := append(initOps(tc.format),
			sensortest.Op{Addr: adxl345.AddrHigh, W: []byte{0x39}, R: []byte{0x81}}, // FIFO_TRIG set, 1 entry
			sensortest.Op{Addr: adxl345.AddrHigh, W: []byte{0x32}, R: raw})
		d, err := adxl345.NewI2C(playback(t, ops), adxl345.AddrHigh, &adxl345.Opts{Range: tc.rng, TenBit: tc.tenBit})
		if err != nil {
			t.Fatalf("range %d tenBit %v: %v", tc.rng, tc.tenBit, err)
		}
		var f adxl345.Frame
		if err := d.ReadFIFO(&f); err != nil {
			t.Fatal(err)
		}
		checkFrame(t, &f, 1, adxl345.Sample{X: 100 / tc.lsbPerG * g, Y: -1 / tc.lsbPerG * g, Z: 32767 / tc.lsbPerG * g})
	}
}

var errBus = errors.New("bus fault")

type failBus struct{ i2ctest.Playback }

func (b *failBus) Tx(uint16, []byte, []byte) error { return errBus }

func TestErrors(t *testing.T) {
	t.Run("chip id", func(t *testing.T) {
		ops := []sensortest.Op{{Addr: 0x53, W: []byte{0x00}, R: []byte{0x60}}}
		_, err := adxl345.NewI2C(playback(t, ops), adxl345.AddrLow, nil)
		if !errors.Is(err, adxl345.ErrChipID) {
			t.Fatalf("err = %v, want ErrChipID", err)
		}
	})
	t.Run("bus", func(t *testing.T) {
		_, err := adxl345.NewI2C(&failBus{}, adxl345.AddrLow, nil)
		if !errors.Is(err, errBus) {
			t.Fatalf("err = %v, want the bus error", err)
		}
	})
	t.Run("fifo bus error", func(t *testing.T) {
		ops := append(initOps(0x0B),
			sensortest.Op{Addr: adxl345.AddrHigh, W: []byte{0x39}, R: []byte{0x02}},
			sensortest.Op{Addr: adxl345.AddrHigh, W: []byte{0x32}, R: make([]byte, 6)})
		p := &i2ctest.Playback{Ops: sensortest.I2C(ops), DontPanic: true}
		d, err := adxl345.NewI2C(p, adxl345.AddrHigh, nil)
		if err != nil {
			t.Fatal(err)
		}
		var f adxl345.Frame
		// The second entry is not in the script: the bus fails mid-frame.
		if err := d.ReadFIFO(&f); err == nil || f.N != 1 {
			t.Fatalf("ReadFIFO = %v with %d samples, want an error after 1", err, f.N)
		}
	})
	for name, o := range map[string]adxl345.Opts{
		"range":     {Range: 3},
		"rate":      {Rate: 99 * physic.Hertz},
		"watermark": {Watermark: 32},
		"3-wire":    {SPI3Wire: true},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := adxl345.NewI2C(playback(t, nil), adxl345.AddrLow, &o); err == nil {
				t.Fatal("no error")
			}
		})
	}
	t.Run("address", func(t *testing.T) {
		if _, err := adxl345.NewI2C(playback(t, nil), 0x50, nil); err == nil {
			t.Fatal("no error")
		}
	})
}

func TestRateCode(t *testing.T) {
	for _, tc := range []struct {
		f    physic.Frequency
		code byte
	}{
		{3200 * physic.Hertz, 0x0F}, {1600 * physic.Hertz, 0x0E}, {100 * physic.Hertz, 0x0A},
		{25 * physic.Hertz, 0x08}, {6250 * physic.MilliHertz, 0x06},
	} {
		c, ok := adxl345.RateCode(tc.f)
		if !ok || c != tc.code {
			t.Errorf("RateCode(%s) = %#x, %v; want %#x", tc.f, c, ok, tc.code)
		}
		if back := adxl345.RateOf(c); back != tc.f {
			t.Errorf("RateOf(%#x) = %s, want %s", c, back, tc.f)
		}
	}
}

func BenchmarkReadFIFO(b *testing.B) {
	// Steady state: a full FIFO (32 entries) per read over I²C.
	ops := initOps(0x0B)
	ops = append(ops, sensortest.Op{Addr: adxl345.AddrHigh, W: []byte{0x39}, R: []byte{0x20}})
	for range adxl345.FIFODepth {
		ops = append(ops, sensortest.Op{Addr: adxl345.AddrHigh, W: []byte{0x32}, R: []byte{1, 0, 2, 0, 0, 1}})
	}
	bus := &sensortest.LoopBus{Ops: ops}
	d, err := adxl345.NewI2C(bus, adxl345.AddrHigh, nil)
	if err != nil {
		b.Fatal(err)
	}
	bus.Ops = ops[len(initOps(0)):]
	bus.Reset()
	var f adxl345.Frame
	if err := d.ReadFIFO(&f); err != nil || !f.Full || f.N != adxl345.FIFODepth {
		b.Fatalf("ReadFIFO: %v, %d samples, full %v", err, f.N, f.Full)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := d.ReadFIFO(&f); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/adxl345.FIFODepth, "ns/sample")
}

// FuzzReadFIFO feeds arbitrary FIFO_STATUS and data bytes to ReadFIFO: it
// reads at most the FIFO's depth, each value within the 16-bit range.
func FuzzReadFIFO(f *testing.F) {
	f.Add(byte(0x03), []byte{0x80, 0xFF, 0, 0, 0, 1})
	f.Add(byte(0xFF), []byte{0xFF, 0x7F, 0, 0x80, 1, 2})
	f.Fuzz(func(t *testing.T, status byte, data []byte) {
		var raw [6]byte
		copy(raw[:], data)
		ops := append(initOps(0x0B), sensortest.Op{Addr: adxl345.AddrHigh, W: []byte{0x39}, R: []byte{status}})
		for range adxl345.FIFODepth {
			ops = append(ops, sensortest.Op{Addr: adxl345.AddrHigh, W: []byte{0x32}, R: raw[:]})
		}
		bus := &sensortest.LoopBus{Ops: ops}
		d, err := adxl345.NewI2C(bus, adxl345.AddrHigh, nil)
		if err != nil {
			t.Fatal(err)
		}
		var fr adxl345.Frame
		if err := d.ReadFIFO(&fr); err != nil {
			t.Fatal(err)
		}
		if want := min(int(status&0x3F), adxl345.FIFODepth); fr.N != want {
			t.Fatalf("status %#x: %d samples, want %d", status, fr.N, want)
		}
		limit := 32768 * g / 256
		for _, s := range fr.Get() {
			if math.Abs(s.X) > limit || math.Abs(s.Y) > limit || math.Abs(s.Z) > limit {
				t.Fatalf("sample %+v beyond ±%g", s, limit)
			}
		}
	})
}
