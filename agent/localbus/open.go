package localbus

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/i2c/i2creg"
	"periph.io/x/conn/v3/spi"
	"periph.io/x/conn/v3/spi/spireg"
	"periph.io/x/host/v3"

	"millwright/agent/sensors/ads1115"
	"millwright/agent/sensors/adxl345"
	"millwright/agent/sensors/bme280"
	"millwright/agent/sensors/gpioio"
	"millwright/firmware-sim/chips"
)

// backend gives the buses and pins sensors sit on.
type backend interface {
	i2c() (i2c.Bus, error)
	spi(port string, s *Sensor) (spi.Conn, error)
	pin(name string) (gpio.PinIO, error)
	// prepare readies the bus for s (emulation attaches its chip).
	prepare(s *Sensor) error
	close() error
}

// opened is what Run polls and closes.
type opened struct {
	be      backend
	pollers []poller
	alarm   *gpioio.Alarm
}

func (o *opened) close(log *slog.Logger) {
	for _, p := range o.pollers {
		if err := p.close(); err != nil {
			log.Warn("closing sensor", "err", err)
		}
	}
	if o.alarm != nil {
		if err := o.alarm.Halt(); err != nil {
			log.Warn("turning the alarm off", "err", err)
		}
	}
	if err := o.be.close(); err != nil {
		log.Warn("closing buses", "err", err)
	}
}

func (in *Input) open() (_ *opened, err error) {
	var be backend
	if in.cfg.Emulate {
		e := DefaultEmulation()
		if in.opts.Emulation != nil {
			e = *in.opts.Emulation
		}
		be = newEmulated(e, in.cfg.Seed)
	} else {
		if _, err := host.Init(); err != nil {
			return nil, fmt.Errorf("localbus: periph host init: %w", err)
		}
		be = &hardware{name: in.cfg.I2C}
	}
	o := &opened{be: be}
	defer func() {
		if err != nil {
			o.close(in.log)
		}
	}()
	for i := range in.cfg.Sensors {
		s := &in.cfg.Sensors[i]
		if err := be.prepare(s); err != nil {
			return nil, fmt.Errorf("localbus: sensors[%d] (%s): %w", i, s.Kind, err)
		}
		p, err := in.openSensor(be, s)
		if err != nil {
			return nil, fmt.Errorf("localbus: sensors[%d] (%s): %w", i, s.Kind, err)
		}
		o.pollers = append(o.pollers, p)
	}
	if a := in.cfg.Alarm; a != nil {
		pin, err := be.pin(a.Pin)
		if err != nil {
			return nil, fmt.Errorf("localbus: alarm: %w", err)
		}
		if o.alarm, err = gpioio.NewAlarm(pin, &gpioio.AlarmOpts{ActiveLow: a.ActiveLow}); err != nil {
			return nil, fmt.Errorf("localbus: alarm: %w", err)
		}
	}
	return o, nil
}

func (in *Input) openSensor(be backend, s *Sensor) (poller, error) {
	switch s.Kind {
	case KindADXL345:
		o := &adxl345.Opts{Range: s.RangeG, Rate: hz(s.RateHz), SPI3Wire: s.SPI3Wire}
		var d *adxl345.Dev
		if s.SPI != "" {
			c, err := be.spi(s.SPI, s)
			if err != nil {
				return nil, err
			}
			if d, err = adxl345.NewSPI(c, o); err != nil {
				return nil, err
			}
		} else {
			b, err := be.i2c()
			if err != nil {
				return nil, err
			}
			if d, err = adxl345.NewI2C(b, s.Addr, o); err != nil {
				return nil, err
			}
		}
		return newADXLPoller(d, s), nil
	case KindBME280:
		b, err := be.i2c()
		if err != nil {
			return nil, err
		}
		d, err := bme280.New(b, s.Addr, nil)
		if err != nil {
			return nil, err
		}
		return newBMEPoller(d, s), nil
	case KindADS1115:
		b, err := be.i2c()
		if err != nil {
			return nil, err
		}
		d, err := ads1115.New(b, s.Addr, &ads1115.Opts{DataRate: s.DataRate})
		if err != nil {
			return nil, err
		}
		return newADSPoller(d, s), nil
	case KindGPIO:
		p, err := be.pin(s.Pin)
		if err != nil {
			return nil, err
		}
		d, err := gpioio.NewInput(p, &gpioio.InputOpts{ActiveLow: s.ActiveLow, Debounce: max(s.Debounce.D(), -1)})
		if err != nil {
			return nil, err
		}
		return newGPIOPoller(d, s), nil
	}
	return nil, fmt.Errorf("unknown kind %q", s.Kind)
}

// hardware is the board's buses through periph.io.
type hardware struct {
	name    string
	bus     i2c.BusCloser
	closers []io.Closer
}

func (h *hardware) i2c() (i2c.Bus, error) {
	if h.bus == nil {
		b, err := i2creg.Open(h.name)
		if err != nil {
			return nil, fmt.Errorf("open i2c bus %q: %w", h.name, err)
		}
		h.bus = b
	}
	return h.bus, nil
}

func (h *hardware) spi(name string, s *Sensor) (spi.Conn, error) {
	p, err := spireg.Open(name)
	if err != nil {
		return nil, fmt.Errorf("open spi port %q: %w", name, err)
	}
	h.closers = append(h.closers, p)
	c, err := p.Connect(adxl345.MaxSPIFrequency, adxl345.SPIMode(s.SPI3Wire), 8)
	if err != nil {
		return nil, fmt.Errorf("connect spi port %q: %w", name, err)
	}
	return c, nil
}

func (h *hardware) pin(name string) (gpio.PinIO, error) {
	p := gpioreg.ByName(name)
	if p == nil {
		return nil, fmt.Errorf("gpio pin %q not found", name)
	}
	return p, nil
}

func (h *hardware) prepare(*Sensor) error { return nil }

func (h *hardware) close() error {
	var errs []error
	for _, c := range h.closers {
		errs = append(errs, c.Close())
	}
	if h.bus != nil {
		errs = append(errs, h.bus.Close())
	}
	return errors.Join(errs...)
}

// Emulation is the physical world of emulated chips.
type Emulation struct {
	// Vibration is what every ADXL345 feels, unless Accel is set.
	Vibration chips.Vibration
	// Accel, if set, is every ADXL345's acceleration in m/s² instead
	// (e.g. chips.ProcessSignals' Accel, fed by the plant simulator); it
	// must be safe for concurrent use.
	Accel func(t float64) [3]float64
	// Env is what every BME280 measures.
	Env func(t float64) chips.Env
	// Inputs are every ADS1115's AIN0..AIN3 in volts.
	Inputs func(t float64) [4]float64
	// Running is every GPIO input's level.
	Running func(t float64) bool
	// Pins are the emulated pins by name; the pins the config names that
	// are missing are made.
	Pins map[string]*chips.Pin
	// Now is the chips' clock; nil is time.Now.
	Now func() time.Time
}

// DefaultEmulation is a running pump at 1485 rpm: vibration harmonics of
// 1.5, 0.5 and 0.2 m/s² with 0.05 m/s² of noise; a bearing warming from
// 22 °C toward 40 °C with a 10-minute time constant at 45 %RH; a 30 A/V
// current clamp on AIN0 reading about 12 A; a 4–20 mA pressure loop across
// 250 Ω on AIN1 at about 12 mA; the running contact closed.
func DefaultEmulation() Emulation {
	return Emulation{
		Vibration: chips.Vibration{ShaftHz: 1485.0 / 60, Harmonics: []float64{1.5, 0.5, 0.2}, Noise: 0.05},
		Env: func(t float64) chips.Env {
			return chips.Env{Temperature: 22 + 18*(1-math.Exp(-t/600)), Pressure: 101325, Humidity: 45}
		},
		Inputs: func(t float64) [4]float64 {
			amps := 12 + 0.3*math.Sin(2*math.Pi*t/60)
			loop := 0.012 + 0.0005*math.Sin(2*math.Pi*t/90)
			return [4]float64{amps / 30, loop * 250, 0, 0}
		},
		Running: func(float64) bool { return true },
	}
}

// emulated is a backend of emulated chips, made as sensors ask for them.
type emulated struct {
	e    Emulation
	seed uint64
	bus  *chips.Bus
	mu   sync.Mutex
}

func newEmulated(e Emulation, seed uint64) *emulated {
	d := DefaultEmulation()
	if e.Env == nil {
		e.Env = d.Env
	}
	if e.Inputs == nil {
		e.Inputs = d.Inputs
	}
	if e.Running == nil {
		e.Running = d.Running
	}
	if e.Vibration.ShaftHz == 0 && len(e.Vibration.Harmonics) == 0 {
		e.Vibration = d.Vibration
	}
	if e.Vibration.Seed == 0 {
		e.Vibration.Seed = seed
	}
	if e.Pins == nil {
		e.Pins = map[string]*chips.Pin{}
	}
	return &emulated{e: e, seed: seed, bus: chips.NewBus("emulated-i2c")}
}

// i2c returns the emulated bus; prepare attaches the chips.
func (m *emulated) i2c() (i2c.Bus, error) { return m.bus, nil }

func (m *emulated) prepare(s *Sensor) error {
	var c chips.Chip
	switch s.Kind {
	case KindADXL345:
		if s.SPI != "" {
			return nil
		}
		c = chips.NewADXL345(chips.ADXL345Opts{Signal: m.accel(), Now: m.e.Now})
	case KindBME280:
		c = chips.NewBME280(chips.BME280Opts{Env: m.e.Env, Now: m.e.Now})
	case KindADS1115:
		c = chips.NewADS1115(chips.ADS1115Opts{Inputs: m.e.Inputs, Now: m.e.Now})
	default:
		return nil
	}
	return m.bus.Attach(s.Addr, c)
}

// accel is the signal of a new ADXL345: each has its own noise stream.
func (m *emulated) accel() func(t float64) [3]float64 {
	if m.e.Accel != nil {
		return m.e.Accel
	}
	return m.e.Vibration.Source()
}

func (m *emulated) spi(_ string, s *Sensor) (spi.Conn, error) {
	chip := chips.NewADXL345(chips.ADXL345Opts{Signal: m.accel(), Now: m.e.Now})
	return chip.SPI().Connect(adxl345.MaxSPIFrequency, adxl345.SPIMode(s.SPI3Wire), 8)
}

func (m *emulated) pin(name string) (gpio.PinIO, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.e.Pins[name]
	if !ok {
		p = &chips.Pin{N: name, Level: m.e.Running, Now: m.e.Now}
		m.e.Pins[name] = p
	}
	return p, nil
}

func (m *emulated) close() error { return nil }
