package localbus

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"millwright/agent/sensors/ads1115"
	"millwright/agent/sensors/adxl345"
	"millwright/internal/conf"

	"periph.io/x/conn/v3/physic"
)

// Sensor kinds.
const (
	KindADXL345 = "adxl345"
	KindBME280  = "bme280"
	KindADS1115 = "ads1115"
	KindGPIO    = "gpio"
)

// Config is the local sensor bus of one machine.
type Config struct {
	// Machine is the machine id the telemetry is for (required).
	Machine string `yaml:"machine"`
	// Emulate runs the sensors on emulated chips (firmware-sim/chips)
	// instead of periph.io hardware: for a dev machine.
	Emulate bool `yaml:"emulate"`
	// Seed seeds the emulated signals' noise.
	Seed uint64 `yaml:"seed"`
	// I2C is the periph i2creg name of the bus ("1" for /dev/i2c-1); empty
	// means the first bus found.
	I2C     string   `yaml:"i2c"`
	Sensors []Sensor `yaml:"sensors"`
	// Alarm is an optional lamp or buzzer output.
	Alarm *Alarm `yaml:"alarm"`
}

// Sensor is one chip or input. Which fields apply depends on Kind.
type Sensor struct {
	// Kind is adxl345, bme280, ads1115 or gpio.
	Kind string `yaml:"kind"`
	// Name: for adxl345 the prefix of its readings <name>_x, _y, _z
	// (acceleration RMS in m/s² over the interval, mean removed; default
	// "vib"); for gpio the reading's name (1 when on, 0 when off).
	Name string `yaml:"name"`
	// Interval is how often readings are reported; default 1s.
	Interval conf.Duration `yaml:"interval"`
	// Addr is the I²C address; 0 means the chip's first address.
	Addr uint16 `yaml:"addr"`

	// ADXL345: SPI is the periph spireg port ("SPI0.0"); empty means I²C.
	SPI      string  `yaml:"spi"`
	SPI3Wire bool    `yaml:"spi_3wire"`
	RateHz   float64 `yaml:"rate_hz"` // output data rate; default 800
	RangeG   int     `yaml:"range_g"` // full scale; default 16

	// BME280: the reading names of each quantity; empty means not
	// reported. Temperature in °C, pressure in Pa, humidity in %RH.
	Temperature string `yaml:"temperature"`
	Pressure    string `yaml:"pressure"`
	Humidity    string `yaml:"humidity"`

	// ADS1115: its channels and data rate (samples per second; default 128).
	Channels []Channel `yaml:"channels"`
	DataRate int       `yaml:"data_rate"`

	// GPIO: the periph gpioreg pin name ("GPIO17"), its polarity and
	// debounce time (default 50ms).
	Pin       string        `yaml:"pin"`
	ActiveLow bool          `yaml:"active_low"`
	Debounce  conf.Duration `yaml:"debounce"`
}

// Channel is one ADS1115 measurement. The reading is in volts, or in amps
// with AmpsPerVolt, or in the loop's engineering unit with Loop.
type Channel struct {
	Name string `yaml:"name"`
	// Input is ain0..ain3 (against GND) or a pair ain0-ain1, ain0-ain3,
	// ain1-ain3, ain2-ain3.
	Input string `yaml:"input"`
	// FullScale in volts: 6.144, 4.096, 2.048 (default), 1.024, 0.512, 0.256.
	FullScale   float64 `yaml:"full_scale"`
	AmpsPerVolt float64 `yaml:"amps_per_volt"`
	Loop        *Loop   `yaml:"loop"`
}

// Loop is a 4–20 mA loop across a shunt.
type Loop struct {
	ShuntOhms float64 `yaml:"shunt_ohms"`
	Lo        float64 `yaml:"lo"` // value at 4 mA
	Hi        float64 `yaml:"hi"` // value at 20 mA
}

// Alarm is a GPIO output.
type Alarm struct {
	Pin       string `yaml:"pin"`
	ActiveLow bool   `yaml:"active_low"`
}

var inputs = map[string]ads1115.Mux{
	"ain0-ain1": ads1115.Diff01, "ain0-ain3": ads1115.Diff03, "ain1-ain3": ads1115.Diff13, "ain2-ain3": ads1115.Diff23,
	"ain0": ads1115.AIN0, "ain1": ads1115.AIN1, "ain2": ads1115.AIN2, "ain3": ads1115.AIN3,
}

var fullScales = map[float64]physic.ElectricPotential{
	6.144: ads1115.FS6144mV, 4.096: ads1115.FS4096mV, 2.048: ads1115.FS2048mV,
	1.024: ads1115.FS1024mV, 0.512: ads1115.FS512mV, 0.256: ads1115.FS256mV,
}

// WithDefaults returns c with every zero field that has a default set.
func (c Config) WithDefaults() Config {
	c.Sensors = append([]Sensor(nil), c.Sensors...)
	for i := range c.Sensors {
		s := &c.Sensors[i]
		if s.Interval == 0 {
			s.Interval = conf.Duration(time.Second)
		}
		switch s.Kind {
		case KindADXL345:
			if s.Name == "" {
				s.Name = "vib"
			}
			if s.RateHz == 0 {
				s.RateHz = 800
			}
			if s.RangeG == 0 {
				s.RangeG = 16
			}
			if s.Addr == 0 && s.SPI == "" {
				s.Addr = adxl345.AddrLow
			}
		case KindBME280:
			if s.Addr == 0 {
				s.Addr = 0x76
			}
		case KindADS1115:
			if s.Addr == 0 {
				s.Addr = ads1115.AddrGND
			}
			if s.DataRate == 0 {
				s.DataRate = 128
			}
			s.Channels = append([]Channel(nil), s.Channels...)
			for j := range s.Channels {
				if s.Channels[j].FullScale == 0 {
					s.Channels[j].FullScale = 2.048
				}
			}
		case KindGPIO:
			if s.Debounce == 0 {
				s.Debounce = conf.Duration(50 * time.Millisecond)
			}
		}
	}
	return c
}

// Validate checks c (with its defaults) and names the offending field.
func (c *Config) Validate() error {
	d := c.WithDefaults()
	var errs []error
	bad := func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, a...)))
	}
	if strings.TrimSpace(d.Machine) == "" {
		bad("machine", "required")
	}
	if len(d.Sensors) == 0 {
		bad("sensors", "at least one sensor is required")
	}
	names := map[string]string{}
	name := func(field, n string) {
		if n == "" {
			return
		}
		if prev, ok := names[n]; ok {
			bad(field, "reading name %q already used by %s", n, prev)
			return
		}
		names[n] = field
	}
	addrs := map[uint16]string{}
	addr := func(field string, a uint16) {
		if prev, ok := addrs[a]; ok {
			bad(field, "I²C address %#x already used by %s", a, prev)
		}
		addrs[a] = field
	}
	for i, s := range d.Sensors {
		f := fmt.Sprintf("sensors[%d]", i)
		if s.Interval.D() < 10*time.Millisecond {
			bad(f+".interval", "%s: want at least 10ms", s.Interval.D())
		}
		switch s.Kind {
		case KindADXL345:
			if s.SPI == "" {
				if s.Addr != adxl345.AddrLow && s.Addr != adxl345.AddrHigh {
					bad(f+".addr", "%#x: an adxl345 is at 0x53 or 0x1d", s.Addr)
				}
				addr(f+".addr", s.Addr)
			} else if s.Addr != 0 {
				bad(f+".addr", "set on an SPI adxl345")
			}
			if s.SPI3Wire && s.SPI == "" {
				bad(f+".spi_3wire", "set without spi")
			}
			if _, ok := adxl345.RateCode(hz(s.RateHz)); !ok {
				bad(f+".rate_hz", "%g: want 6.25 times a power of two up to 3200", s.RateHz)
			}
			switch s.RangeG {
			case 2, 4, 8, 16:
			default:
				bad(f+".range_g", "%d: want 2, 4, 8 or 16", s.RangeG)
			}
			for _, ax := range []string{"_x", "_y", "_z"} {
				name(f+".name", s.Name+ax)
			}
		case KindBME280:
			if s.Addr != 0x76 && s.Addr != 0x77 {
				bad(f+".addr", "%#x: a bme280 is at 0x76 or 0x77", s.Addr)
			}
			addr(f+".addr", s.Addr)
			if s.Temperature == "" && s.Pressure == "" && s.Humidity == "" {
				bad(f, "a bme280 needs a reading name in temperature, pressure or humidity")
			}
			name(f+".temperature", s.Temperature)
			name(f+".pressure", s.Pressure)
			name(f+".humidity", s.Humidity)
		case KindADS1115:
			if s.Addr < ads1115.AddrGND || s.Addr > ads1115.AddrSCL {
				bad(f+".addr", "%#x: an ads1115 is at 0x48..0x4b", s.Addr)
			}
			addr(f+".addr", s.Addr)
			switch s.DataRate {
			case 8, 16, 32, 64, 128, 250, 475, 860:
			default:
				bad(f+".data_rate", "%d: want 8, 16, 32, 64, 128, 250, 475 or 860", s.DataRate)
			}
			if len(s.Channels) == 0 {
				bad(f+".channels", "at least one channel is required")
			}
			for j, ch := range s.Channels {
				cf := fmt.Sprintf("%s.channels[%d]", f, j)
				if ch.Name == "" {
					bad(cf+".name", "required")
				}
				name(cf+".name", ch.Name)
				if _, ok := inputs[ch.Input]; !ok {
					bad(cf+".input", "%q: want ain0..ain3 or ain0-ain1, ain0-ain3, ain1-ain3, ain2-ain3", ch.Input)
				}
				if _, ok := fullScales[ch.FullScale]; !ok {
					bad(cf+".full_scale", "%g: want 6.144, 4.096, 2.048, 1.024, 0.512 or 0.256", ch.FullScale)
				}
				if ch.AmpsPerVolt < 0 || math.IsNaN(ch.AmpsPerVolt) {
					bad(cf+".amps_per_volt", "%g: want a positive ratio", ch.AmpsPerVolt)
				}
				if ch.Loop != nil {
					if ch.AmpsPerVolt != 0 {
						bad(cf+".loop", "set with amps_per_volt: a channel is one or the other")
					}
					if !(ch.Loop.ShuntOhms > 0) {
						bad(cf+".loop.shunt_ohms", "%g: want a positive resistance", ch.Loop.ShuntOhms)
					}
					if ch.Loop.Lo == ch.Loop.Hi {
						bad(cf+".loop.hi", "equal to lo")
					}
				}
			}
		case KindGPIO:
			if s.Pin == "" {
				bad(f+".pin", "required")
			}
			if s.Name == "" {
				bad(f+".name", "required")
			}
			name(f+".name", s.Name)
			if s.Debounce.D() < 0 {
				bad(f+".debounce", "negative")
			}
		case "":
			bad(f+".kind", "required (adxl345, bme280, ads1115 or gpio)")
		default:
			bad(f+".kind", "%q: want adxl345, bme280, ads1115 or gpio", s.Kind)
		}
	}
	if d.Alarm != nil && d.Alarm.Pin == "" {
		bad("alarm.pin", "required")
	}
	return errors.Join(errs...)
}

func hz(f float64) physic.Frequency { return physic.Frequency(math.Round(f * float64(physic.Hertz))) }
