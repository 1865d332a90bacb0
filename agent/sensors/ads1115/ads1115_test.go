package ads1115_test

import (
	"context"
	"errors"
	"math"
	"testing"

	"periph.io/x/conn/v3/i2c/i2ctest"
	"periph.io/x/conn/v3/physic"

	"millwright/agent/sensors/ads1115"
	"millwright/agent/sensors/sensortest"
)

func playback(t *testing.T, ops []sensortest.Op) *i2ctest.Playback {
	p := &i2ctest.Playback{Ops: sensortest.I2C(ops), DontPanic: true}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	})
	return p
}

func TestTranscript(t *testing.T) {
	ops, err := sensortest.Load("testdata/i2c_read.txt")
	if err != nil {
		t.Fatal(err)
	}
	d, err := ads1115.New(playback(t, ops), ads1115.AddrGND, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := d.Read(t.Context(), ads1115.Channel{Mux: ads1115.AIN0, FullScale: ads1115.FS4096mV})
	if err != nil {
		t.Fatal(err)
	}
	if v != 2048*physic.MilliVolt {
		t.Fatalf("read %s, want 2.048V", v)
	}
}

func TestBusyPollAndConfig(t *testing.T) {
	const a = ads1115.AddrSCL
	ops := []sensortest.Op{
		{Addr: a, W: []byte{0x01}, R: []byte{0x85, 0x83}},
		// OS | MUX=011 (AIN2-AIN3) | PGA=101 (±0.256 V) | single | DR=111 (860) | comparator off
		{Addr: a, W: []byte{0x01, 0b1_011_101_1, 0b111_00011}},
		{Addr: a, W: []byte{0x01}, R: []byte{0x3B, 0xE3}}, // busy
		{Addr: a, W: []byte{0x01}, R: []byte{0x3B, 0xE3}}, // busy
		{Addr: a, W: []byte{0x01}, R: []byte{0xBB, 0xE3}}, // done
		{Addr: a, W: []byte{0x00}, R: []byte{0x80, 0x00}}, // -32768 LSB: -FS
	}
	d, err := ads1115.New(playback(t, ops), a, &ads1115.Opts{DataRate: 860})
	if err != nil {
		t.Fatal(err)
	}
	v, err := d.Read(t.Context(), ads1115.Channel{Mux: ads1115.Diff23, FullScale: ads1115.FS256mV})
	if err != nil {
		t.Fatal(err)
	}
	if v != -256*physic.MilliVolt {
		t.Fatalf("read %s, want -256mV", v)
	}
}

func TestTimeout(t *testing.T) {
	const a = ads1115.AddrVDD
	ops := []sensortest.Op{{Addr: a, W: []byte{0x01}, R: []byte{0x85, 0x83}}, {Addr: a, W: []byte{0x01, 0xC5, 0xE3}}}
	for range 40 {
		ops = append(ops, sensortest.Op{Addr: a, W: []byte{0x01}, R: []byte{0x45, 0xE3}})
	}
	p := &i2ctest.Playback{Ops: sensortest.I2C(ops), DontPanic: true}
	d, err := ads1115.New(p, a, &ads1115.Opts{DataRate: 860})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Read(t.Context(), ads1115.Channel{Mux: ads1115.AIN0}); !errors.Is(err, ads1115.ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
}

var errBus = errors.New("bus fault")

type failBus struct{ i2ctest.Playback }

func (*failBus) Tx(uint16, []byte, []byte) error { return errBus }

func TestErrors(t *testing.T) {
	if _, err := ads1115.New(&failBus{}, ads1115.AddrGND, nil); !errors.Is(err, errBus) {
		t.Errorf("bus error: %v", err)
	}
	if _, err := ads1115.New(playback(t, nil), 0x47, nil); err == nil {
		t.Error("address 0x47 accepted")
	}
	if _, err := ads1115.New(playback(t, nil), ads1115.AddrGND, &ads1115.Opts{DataRate: 100}); err == nil {
		t.Error("data rate 100 accepted")
	}
	d, err := ads1115.New(playback(t, []sensortest.Op{{Addr: 0x48, W: []byte{1}, R: []byte{0x85, 0x83}}}), ads1115.AddrGND, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Read(t.Context(), ads1115.Channel{FullScale: physic.Volt}); err == nil {
		t.Error("full scale 1 V accepted")
	}
}

func TestCancel(t *testing.T) {
	ops := []sensortest.Op{{Addr: 0x48, W: []byte{1}, R: []byte{0x85, 0x83}}, {Addr: 0x48, W: []byte{0x01, 0xC5, 0x03}}}
	d, err := ads1115.New(playback(t, ops), ads1115.AddrGND, &ads1115.Opts{DataRate: 8})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := d.Read(ctx, ads1115.Channel{Mux: ads1115.AIN0}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestVolts(t *testing.T) {
	for _, tc := range []struct {
		raw  int16
		fs   physic.ElectricPotential
		want physic.ElectricPotential
	}{
		{1, ads1115.FS6144mV, 187500 * physic.NanoVolt},
		{1, ads1115.FS256mV, 7812 * physic.NanoVolt}, // 7.8125 µV, truncated to nV
		{32767, 0, 2047937500 * physic.NanoVolt},
		{-32768, ads1115.FS1024mV, -1024 * physic.MilliVolt},
	} {
		if got := ads1115.Volts(tc.raw, tc.fs); got != tc.want {
			t.Errorf("Volts(%d, %s) = %s, want %s", tc.raw, tc.fs, got, tc.want)
		}
	}
}

func TestClamp(t *testing.T) {
	if got := ads1115.ClampCurrent(500*physic.MilliVolt, 30); got != 15*physic.Ampere {
		t.Fatalf("0.5 V at 30 A/V = %s, want 15A", got)
	}
}

func TestLoop(t *testing.T) {
	l := ads1115.Loop{Shunt: 250 * physic.Ohm, Lo: 0, Hi: 10} // 0–10 bar
	for _, tc := range []struct {
		v    physic.ElectricPotential
		want float64
		err  error
	}{
		{1 * physic.Volt, 0, nil},                              // 4 mA
		{3 * physic.Volt, 5, nil},                              // 12 mA
		{5 * physic.Volt, 10, nil},                             // 20 mA
		{950 * physic.MilliVolt, -0.125, nil},                  // 3.8 mA: under-range but alive
		{850 * physic.MilliVolt, 0, ads1115.ErrLoopBroken},     // 3.4 mA
		{0, 0, ads1115.ErrLoopBroken},                          // open loop
		{5300 * physic.MilliVolt, 0, ads1115.ErrLoopOverRange}, // 21.2 mA
	} {
		got, err := l.Value(tc.v)
		if !errors.Is(err, tc.err) || math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("Value(%s) = %g, %v; want %g, %v", tc.v, got, err, tc.want, tc.err)
		}
	}
	if i := l.Current(3 * physic.Volt); i != 12*physic.MilliAmpere {
		t.Errorf("Current(3V) = %s, want 12mA", i)
	}
}

func BenchmarkRead(b *testing.B) {
	ops, err := sensortest.Load("testdata/i2c_read.txt")
	if err != nil {
		b.Fatal(err)
	}
	bus := &sensortest.LoopBus{Ops: ops}
	// 860 SPS: the conversion wait dominates; this measures allocations.
	ops[1].W = []byte{0x01, 0xC3, 0xE3}
	ops[2].R = []byte{0xC3, 0xE3}
	d, err := ads1115.New(bus, ads1115.AddrGND, &ads1115.Opts{DataRate: 860})
	if err != nil {
		b.Fatal(err)
	}
	bus.Ops = ops[1:]
	bus.Reset()
	ch := ads1115.Channel{Mux: ads1115.AIN0, FullScale: ads1115.FS4096mV}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Read(b.Context(), ch); err != nil {
			b.Fatal(err)
		}
	}
}

func TestReadAllocs(t *testing.T) {
	ops, err := sensortest.Load("testdata/i2c_read.txt")
	if err != nil {
		t.Fatal(err)
	}
	ops[1].W = []byte{0x01, 0xC3, 0xE3} // 860 SPS
	ops[2].R = []byte{0xC3, 0xE3}
	bus := &sensortest.LoopBus{Ops: ops}
	d, err := ads1115.New(bus, ads1115.AddrGND, &ads1115.Opts{DataRate: 860})
	if err != nil {
		t.Fatal(err)
	}
	bus.Ops = ops[1:]
	bus.Reset()
	ch := ads1115.Channel{Mux: ads1115.AIN0, FullScale: ads1115.FS4096mV}
	ctx := t.Context()
	if n := testing.AllocsPerRun(20, func() {
		if _, err := d.Read(ctx, ch); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("%v allocations per Read", n)
	}
}

// FuzzVolts: any conversion code at any PGA setting is within ±FS.
func FuzzVolts(f *testing.F) {
	f.Add(int16(-32768), uint8(0))
	f.Fuzz(func(t *testing.T, raw int16, pga uint8) {
		fs := []physic.ElectricPotential{ads1115.FS6144mV, ads1115.FS4096mV, ads1115.FS2048mV, ads1115.FS1024mV, ads1115.FS512mV, ads1115.FS256mV}[pga%6]
		v := ads1115.Volts(raw, fs)
		if v < -fs || v >= fs {
			t.Fatalf("Volts(%d, %s) = %s", raw, fs, v)
		}
	})
}
