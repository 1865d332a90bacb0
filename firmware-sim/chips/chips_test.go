package chips_test

import (
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/i2c/i2ctest"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi/spitest"

	"millwright/agent/sensors/ads1115"
	"millwright/agent/sensors/adxl345"
	"millwright/agent/sensors/bme280"
	"millwright/agent/sensors/sensortest"
	"millwright/firmware-sim/chips"
)

// manualClock is a clock tests step by hand.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *manualClock { return &manualClock{t: time.Unix(1_700_000_000, 0)} }

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

const g = 9.80665

func TestBus(t *testing.T) {
	b := chips.NewBus("i2c-emu")
	if err := b.Attach(0x48, chips.NewADS1115(chips.ADS1115Opts{})); err != nil {
		t.Fatal(err)
	}
	if err := b.Attach(0x48, chips.NewADS1115(chips.ADS1115Opts{})); err == nil {
		t.Error("a second chip at 0x48 was accepted")
	}
	if err := b.Attach(0x80, chips.NewADS1115(chips.ADS1115Opts{})); err == nil {
		t.Error("address 0x80 was accepted")
	}
	if err := b.Tx(0x49, []byte{0}, make([]byte, 2)); !errors.Is(err, chips.ErrNoDevice) {
		t.Errorf("Tx to an empty address: %v, want ErrNoDevice", err)
	}
	if got := b.Addrs(); len(got) != 1 || got[0] != 0x48 {
		t.Errorf("Addrs = %v", got)
	}
}

// transcript loads a driver's transcript from its testdata.
func transcript(t *testing.T, driver, name string) []sensortest.Op {
	t.Helper()
	ops, err := sensortest.Load(filepath.Join("..", "..", "agent", "sensors", driver, "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return ops
}

// The drivers' playback transcripts, replayed against the emulated chips:
// the driver runs on the emulation through a recorder, and the recorded
// traffic must be the transcript's.
func TestTranscriptsReplay(t *testing.T) {
	halfG := func(float64) [3]float64 { return [3]float64{-g / 2, 0, g} }
	t.Run("adxl345 i2c", func(t *testing.T) {
		clk := newClock()
		bus := chips.NewBus("emu")
		if err := bus.Attach(0x53, chips.NewADXL345(chips.ADXL345Opts{Signal: halfG, Now: clk.Now})); err != nil {
			t.Fatal(err)
		}
		rec := &i2ctest.Record{Bus: bus}
		d, err := adxl345.NewI2C(rec, adxl345.AddrLow, nil)
		if err != nil {
			t.Fatal(err)
		}
		clk.Advance(35 * time.Millisecond) // 3 samples at 100 Hz
		var f adxl345.Frame
		if err := d.ReadFIFO(&f); err != nil {
			t.Fatal(err)
		}
		if err := sensortest.Compare(transcript(t, "adxl345", "i2c_stream.txt"), rec.Ops); err != nil {
			t.Fatal(err)
		}
	})
	for _, tc := range []struct {
		file    string
		opts    adxl345.Opts
		advance time.Duration
	}{
		{"spi4_stream.txt", adxl345.Opts{Range: 4, Rate: 800 * physic.Hertz, Watermark: 8}, 3 * time.Millisecond},
		{"spi3_stream.txt", adxl345.Opts{SPI3Wire: true}, 15 * time.Millisecond},
	} {
		t.Run("adxl345 "+tc.file, func(t *testing.T) {
			clk := newClock()
			chip := chips.NewADXL345(chips.ADXL345Opts{Signal: halfG, Now: clk.Now})
			rec := &spitest.Record{Port: chip.SPI()}
			c, err := rec.Connect(adxl345.MaxSPIFrequency, adxl345.SPIMode(tc.opts.SPI3Wire), 8)
			if err != nil {
				t.Fatal(err)
			}
			d, err := adxl345.NewSPI(c, &tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			clk.Advance(tc.advance)
			var f adxl345.Frame
			if err := d.ReadFIFO(&f); err != nil {
				t.Fatal(err)
			}
			if err := sensortest.CompareConn(transcript(t, "adxl345", tc.file), rec.Ops); err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Run("bme280", func(t *testing.T) {
		bus := chips.NewBus("emu")
		if err := bus.Attach(0x76, chips.NewBME280(chips.BME280Opts{})); err != nil {
			t.Fatal(err)
		}
		rec := &i2ctest.Record{Bus: bus}
		d, err := bme280.New(rec, bme280.AddrLow, nil)
		if err != nil {
			t.Fatal(err)
		}
		var env physic.Env
		if err := d.Sense(&env); err != nil {
			t.Fatal(err)
		}
		if err := sensortest.Compare(transcript(t, "bme280", "i2c_sense.txt"), rec.Ops); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ads1115", func(t *testing.T) {
		bus := chips.NewBus("emu")
		in := func(float64) [4]float64 { return [4]float64{2.048, 0, 0, 0} }
		if err := bus.Attach(0x48, chips.NewADS1115(chips.ADS1115Opts{Inputs: in})); err != nil {
			t.Fatal(err)
		}
		rec := &i2ctest.Record{Bus: bus}
		d, err := ads1115.New(rec, ads1115.AddrGND, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.Read(t.Context(), ads1115.Channel{Mux: ads1115.AIN0, FullScale: ads1115.FS4096mV}); err != nil {
			t.Fatal(err)
		}
		ops := transcript(t, "ads1115", "i2c_read.txt")
		if err := sensortest.Compare(ops, rec.Ops); err != nil {
			t.Fatal(err)
		}
		// 2.048 V at ±4.096 V is the transcript's 0x4000 exactly.
		if got, want := rec.Ops[3].R, ops[3].R; got[0] != want[0] || got[1] != want[1] {
			t.Fatalf("conversion % x, want % x", got, want)
		}
	})
}
