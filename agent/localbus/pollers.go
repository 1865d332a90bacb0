package localbus

import (
	"context"
	"math"
	"time"

	"periph.io/x/conn/v3/physic"

	"millwright/agent/sensors/ads1115"
	"millwright/agent/sensors/adxl345"
	"millwright/agent/sensors/bme280"
	"millwright/agent/sensors/gpioio"
	"millwright/wire"
)

// adxlPoller drains an ADXL345's FIFO every 8 samples (a quarter of its
// depth, so a goroutine delayed by three drain periods loses nothing) and
// reports the RMS of each axis every interval.
type adxlPoller struct {
	dev      *adxl345.Dev
	names    [3]string
	interval time.Duration
	drain    time.Duration
	next     time.Time // end of the interval
	frame    adxl345.Frame
	n        int
	sum, sq  [3]float64
	tel      wire.Telemetry
	h        health
}

func newADXLPoller(d *adxl345.Dev, s *Sensor) *adxlPoller {
	p := &adxlPoller{
		dev:      d,
		names:    [3]string{s.Name + "_x", s.Name + "_y", s.Name + "_z"},
		interval: s.Interval.D(),
		drain:    max(2*time.Millisecond, time.Duration(8*float64(time.Second)/s.RateHz)),
		h:        health{name: s.Name},
	}
	p.tel.Readings = make([]wire.Reading, 0, 3)
	return p
}

func (p *adxlPoller) run(ctx context.Context, in *Input) error {
	tick := time.NewTicker(min(p.drain, p.interval))
	defer tick.Stop()
	p.next = in.opts.Now().Add(p.interval)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		p.step(in)
	}
}

// step drains the FIFO and reports if the interval is over.
func (p *adxlPoller) step(in *Input) {
	err := p.dev.ReadFIFO(&p.frame)
	p.h.report(in, err)
	if p.frame.Full {
		in.overruns.Add(1)
	}
	for _, s := range p.frame.Get() {
		p.n++
		for i, v := range [3]float64{s.X, s.Y, s.Z} {
			p.sum[i] += v
			p.sq[i] += v * v
		}
	}
	now := in.opts.Now()
	if now.Before(p.next) {
		return
	}
	if p.next = p.next.Add(p.interval); p.next.Before(now) {
		p.next = now.Add(p.interval)
	}
	if p.n == 0 {
		return
	}
	rs := p.tel.Readings[:0]
	for i, name := range p.names {
		mean := p.sum[i] / float64(p.n)
		rs = append(rs, wire.Reading{Sensor: name, Time: now.UnixNano(), Value: math.Sqrt(max(0, p.sq[i]/float64(p.n)-mean*mean))})
	}
	p.tel.Readings = rs
	in.emit(&p.tel, now)
	p.n, p.sum, p.sq = 0, [3]float64{}, [3]float64{}
}

func (p *adxlPoller) close() error { return p.dev.Halt() }

// bmePoller reads a BME280 every interval.
type bmePoller struct {
	dev      *bme280.Dev
	s        Sensor
	interval time.Duration
	env      physic.Env
	tel      wire.Telemetry
	h        health
}

func newBMEPoller(d *bme280.Dev, s *Sensor) *bmePoller {
	p := &bmePoller{dev: d, s: *s, interval: s.Interval.D(), h: health{name: d.String()}}
	p.tel.Readings = make([]wire.Reading, 0, 3)
	return p
}

func (p *bmePoller) run(ctx context.Context, in *Input) error {
	tick := time.NewTicker(p.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		p.step(in)
	}
}

// step reads once and reports.
func (p *bmePoller) step(in *Input) {
	err := p.dev.Sense(&p.env)
	p.h.report(in, err)
	if err != nil {
		return
	}
	now := in.opts.Now()
	ts := now.UnixNano()
	rs := p.tel.Readings[:0]
	if p.s.Temperature != "" {
		rs = append(rs, wire.Reading{Sensor: p.s.Temperature, Time: ts, Value: float64(p.env.Temperature-physic.ZeroCelsius) / float64(physic.Kelvin)})
	}
	if p.s.Pressure != "" {
		rs = append(rs, wire.Reading{Sensor: p.s.Pressure, Time: ts, Value: float64(p.env.Pressure) / float64(physic.Pascal)})
	}
	if p.s.Humidity != "" {
		rs = append(rs, wire.Reading{Sensor: p.s.Humidity, Time: ts, Value: float64(p.env.Humidity) / float64(physic.PercentRH)})
	}
	p.tel.Readings = rs
	in.emit(&p.tel, now)
}

func (p *bmePoller) close() error { return p.dev.Halt() }

// adsPoller converts every channel of an ADS1115 every interval.
type adsPoller struct {
	dev      *ads1115.Dev
	chans    []adsChannel
	interval time.Duration
	tel      wire.Telemetry
}

type adsChannel struct {
	Channel
	ch   ads1115.Channel
	loop ads1115.Loop
	h    health
}

func newADSPoller(d *ads1115.Dev, s *Sensor) *adsPoller {
	p := &adsPoller{dev: d, interval: s.Interval.D()}
	for _, c := range s.Channels {
		ac := adsChannel{Channel: c, ch: ads1115.Channel{Mux: inputs[c.Input], FullScale: fullScales[c.FullScale]}, h: health{name: c.Name}}
		if c.Loop != nil {
			ac.loop = ads1115.Loop{Shunt: physic.ElectricResistance(c.Loop.ShuntOhms * float64(physic.Ohm)), Lo: c.Loop.Lo, Hi: c.Loop.Hi}
		}
		p.chans = append(p.chans, ac)
	}
	p.tel.Readings = make([]wire.Reading, 0, len(p.chans))
	return p
}

func (p *adsPoller) run(ctx context.Context, in *Input) error {
	tick := time.NewTicker(p.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		if err := p.step(ctx, in); err != nil {
			return err
		}
	}
}

// step converts every channel and reports; it fails only when ctx ends.
func (p *adsPoller) step(ctx context.Context, in *Input) error {
	rs := p.tel.Readings[:0]
	for i := range p.chans {
		c := &p.chans[i]
		v, err := p.dev.Read(ctx, c.ch)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var value float64
		if err == nil {
			switch {
			case c.Loop != nil:
				value, err = c.loop.Value(v)
			case c.AmpsPerVolt != 0:
				value = float64(ads1115.ClampCurrent(v, c.AmpsPerVolt)) / float64(physic.Ampere)
			default:
				value = float64(v) / float64(physic.Volt)
			}
		}
		c.h.report(in, err)
		if err == nil {
			rs = append(rs, wire.Reading{Sensor: c.Name, Time: in.opts.Now().UnixNano(), Value: value})
		}
	}
	p.tel.Readings = rs
	in.emit(&p.tel, in.opts.Now())
	return nil
}

func (p *adsPoller) close() error { return nil }

// gpioPoller samples a digital input every 10 ms at most and reports it
// every interval and at every debounced change.
type gpioPoller struct {
	dev      *gpioio.Input
	name     string
	interval time.Duration
	tel      wire.Telemetry
}

func newGPIOPoller(d *gpioio.Input, s *Sensor) *gpioPoller {
	p := &gpioPoller{dev: d, name: s.Name, interval: s.Interval.D()}
	p.tel.Readings = make([]wire.Reading, 0, 1)
	return p
}

func (p *gpioPoller) run(ctx context.Context, in *Input) error {
	tick := time.NewTicker(min(p.interval, 10*time.Millisecond))
	defer tick.Stop()
	var next time.Time
	for {
		now := in.opts.Now()
		on, changed := p.dev.Sample(now)
		if changed || !now.Before(next) {
			if next = next.Add(p.interval); next.Before(now) {
				next = now.Add(p.interval)
			}
			v := 0.0
			if on {
				v = 1
			}
			p.tel.Readings = append(p.tel.Readings[:0], wire.Reading{Sensor: p.name, Time: now.UnixNano(), Value: v})
			in.emit(&p.tel, now)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

func (p *gpioPoller) close() error { return nil }
