package chips_test

import (
	"testing"
	"time"

	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"

	"millwright/firmware-sim/chips"
)

// FuzzTx sends arbitrary transactions to every chip, on I²C and SPI: none
// may panic, and the chip-id registers read the same afterwards.
func FuzzTx(f *testing.F) {
	f.Add([]byte{0x53, 2, 1, 0x00, 0x00, 0x76, 3, 0, 0xE0, 0xB6, 0x00, 0x48, 3, 2, 0x01, 0xC3, 0x83})
	f.Add([]byte{0xFF, 7, 7, 0xF2, 0, 0, 0, 0, 0, 0, 0x2D, 0x08})
	f.Fuzz(func(t *testing.T, data []byte) {
		clk := newClock()
		adxl := chips.NewADXL345(chips.ADXL345Opts{Now: clk.Now})
		bus := chips.NewBus("fuzz")
		for addr, c := range map[uint16]chips.Chip{
			0x53: adxl,
			0x76: chips.NewBME280(chips.BME280Opts{Now: clk.Now}),
			0x48: chips.NewADS1115(chips.ADS1115Opts{Now: clk.Now}),
		} {
			if err := bus.Attach(addr, c); err != nil {
				t.Fatal(err)
			}
		}
		full, err := adxl.SPI().Connect(5*physic.MegaHertz, spi.Mode3, 8)
		if err != nil {
			t.Fatal(err)
		}
		for len(data) >= 3 {
			target, nw, nr := data[0], int(data[1]%8), int(data[2]%40)
			data = data[3:]
			w := data[:min(nw, len(data))]
			data = data[len(w):]
			r := make([]byte, nr)
			clk.Advance(time.Duration(target) * time.Millisecond)
			if target == 0xFF {
				_ = full.Tx(w, r)
				continue
			}
			_ = bus.Tx(uint16(target&0x7F), w, r)
		}
		for _, c := range []struct {
			addr uint16
			reg  byte
			want byte
		}{{0x53, 0x00, 0xE5}, {0x76, 0xD0, 0x60}} {
			var id [1]byte
			if err := bus.Tx(c.addr, []byte{c.reg}, id[:]); err != nil || id[0] != c.want {
				t.Fatalf("chip %#x id %#x, %v; want %#x", c.addr, id[0], err, c.want)
			}
		}
	})
}
