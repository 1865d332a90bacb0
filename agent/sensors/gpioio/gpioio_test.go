package gpioio_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"

	"millwright/agent/sensors/gpioio"
	"millwright/agent/sensors/sensortest"
)

func TestInputDebounce(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	type step struct {
		at          int // ms
		level       gpio.Level
		on, changed bool
	}
	for _, tc := range []struct {
		name  string
		opts  gpioio.InputOpts
		steps []step
	}{
		{"bounce is ignored", gpioio.InputOpts{Debounce: 20 * time.Millisecond}, []step{
			{0, gpio.Low, false, false},
			{5, gpio.High, false, false},  // starts to close
			{10, gpio.Low, false, false},  // bounces back
			{15, gpio.High, false, false}, // closes again: the clock restarts
			{30, gpio.High, false, false}, // 15 ms held
			{35, gpio.High, true, true},   // 20 ms held
			{40, gpio.High, true, false},
			{45, gpio.Low, true, false},
			{50, gpio.High, true, false}, // a glitch back to the stable level
			{80, gpio.High, true, false},
		}},
		{"active low", gpioio.InputOpts{ActiveLow: true, Pull: gpio.PullUp}, []step{
			{0, gpio.High, false, false},
			{10, gpio.Low, false, false},
			{59, gpio.Low, false, false},
			{60, gpio.Low, true, true}, // default 50 ms
		}},
		{"no debounce", gpioio.InputOpts{Debounce: -1}, []step{
			{0, gpio.High, true, false},
			{1, gpio.Low, false, true},
			{2, gpio.High, true, true},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &sensortest.Pin{N: "GPIO17"}
			in, err := gpioio.NewInput(p, &tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if out, _, pull := p.State(); out || pull != tc.opts.Pull {
				t.Fatalf("pin output %v pull %s, want input with %s", out, pull, tc.opts.Pull)
			}
			for _, s := range tc.steps {
				p.SetLevel(s.level)
				on, changed := in.Sample(ms(s.at))
				if on != s.on || changed != s.changed || in.On() != s.on {
					t.Fatalf("at %d ms level %s: on %v changed %v, want %v %v", s.at, s.level, on, changed, s.on, s.changed)
				}
			}
		})
	}
}

func TestAlarm(t *testing.T) {
	for _, activeLow := range []bool{false, true} {
		p := &sensortest.Pin{N: "GPIO27"}
		a, err := gpioio.NewAlarm(p, &gpioio.AlarmOpts{ActiveLow: activeLow})
		if err != nil {
			t.Fatal(err)
		}
		off := gpio.Level(activeLow)
		if out, _, _ := p.State(); !out || p.Level() != off {
			t.Fatalf("active low %v: after NewAlarm pin out %v level %s, want output at %s", activeLow, out, p.Level(), off)
		}
		if err := a.Set(t.Context(), true); err != nil {
			t.Fatal(err)
		}
		if p.Level() != !off || !a.On() {
			t.Fatalf("active low %v: on drives %s", activeLow, p.Level())
		}
		if err := a.Halt(); err != nil || p.Level() != off || a.On() {
			t.Fatalf("active low %v: Halt: %v, level %s", activeLow, err, p.Level())
		}
	}
}

func TestErrors(t *testing.T) {
	errPin := errors.New("pin busy")
	p := &sensortest.Pin{N: "GPIO5"}
	p.Fail(errPin)
	if _, err := gpioio.NewInput(p, nil); !errors.Is(err, errPin) {
		t.Errorf("NewInput: %v", err)
	}
	if _, err := gpioio.NewAlarm(p, nil); !errors.Is(err, errPin) {
		t.Errorf("NewAlarm: %v", err)
	}
	p.Fail(nil)
	a, err := gpioio.NewAlarm(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.Fail(errPin)
	if err := a.Set(t.Context(), true); !errors.Is(err, errPin) || a.On() {
		t.Errorf("Set on a failing pin: %v, on %v", err, a.On())
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	p.Fail(nil)
	if err := a.Set(ctx, true); !errors.Is(err, context.Canceled) {
		t.Errorf("Set with a cancelled context: %v", err)
	}
}

func BenchmarkSample(b *testing.B) {
	p := &sensortest.Pin{N: "GPIO17"}
	in, err := gpioio.NewInput(p, nil)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Unix(0, 0)
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Millisecond)
		in.Sample(now)
	}
}
