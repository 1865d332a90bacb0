package localbus_test

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"

	"millwright/agent/localbus"
	"millwright/firmware-sim/chips"
	"millwright/internal/conf"
	"millwright/wire"
)

// collector keeps copies of what the sink got.
type collector struct {
	notify chan struct{} // a message arrived
	mu     sync.Mutex
	msgs   []wire.Telemetry
	last   map[string]float64
	seen   map[string]int
}

func newCollector() *collector {
	return &collector{notify: make(chan struct{}, 1), last: map[string]float64{}, seen: map[string]int{}}
}

func (c *collector) sink(t *wire.Telemetry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cp := *t
	cp.Readings = append([]wire.Reading(nil), t.Readings...)
	c.msgs = append(c.msgs, cp)
	for _, r := range t.Readings {
		c.last[r.Sensor] = r.Value
		c.seen[r.Sensor]++
	}
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// waitFor waits until every name was seen n times, or fails at the deadline.
func (c *collector) waitFor(t *testing.T, n int, names ...string) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		ok := true
		for _, name := range names {
			ok = ok && c.seen[name] >= n
		}
		seen := len(c.seen)
		c.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-c.notify:
		case <-deadline.C:
			c.mu.Lock()
			defer c.mu.Unlock()
			t.Fatalf("after 10s saw %d names, want %v %d times each: %v", seen, names, n, c.seen)
		}
	}
}

func TestRunEmulated(t *testing.T) {
	cfg := localbus.Config{
		Machine: "pump-7",
		Emulate: true,
		Sensors: []localbus.Sensor{
			// 400 Hz: the FIFO holds 80 ms, a margin for a loaded test machine.
			{Kind: localbus.KindADXL345, Interval: conf.Duration(200 * time.Millisecond), RateHz: 400},
			{Kind: localbus.KindADXL345, Name: "motor", SPI: "SPI0.0", SPI3Wire: true, RangeG: 4, RateHz: 400, Interval: conf.Duration(200 * time.Millisecond)},
			{Kind: localbus.KindBME280, Temperature: "bearing_temp", Pressure: "ambient_pa", Humidity: "humidity", Interval: conf.Duration(20 * time.Millisecond)},
			{Kind: localbus.KindADS1115, DataRate: 860, Interval: conf.Duration(20 * time.Millisecond), Channels: []localbus.Channel{
				{Name: "current", Input: "ain0", FullScale: 4.096, AmpsPerVolt: 30},
				{Name: "pressure", Input: "ain1", FullScale: 6.144, Loop: &localbus.Loop{ShuntOhms: 250, Lo: 0, Hi: 10}},
				{Name: "flow", Input: "ain2", FullScale: 6.144, Loop: &localbus.Loop{ShuntOhms: 250, Lo: 0, Hi: 100}},
			}},
			{Kind: localbus.KindGPIO, Name: "running", Pin: "GPIO17", Interval: conf.Duration(50 * time.Millisecond), Debounce: conf.Duration(time.Millisecond)},
		},
		Alarm: &localbus.Alarm{Pin: "GPIO27"},
	}
	alarm := &chips.Pin{N: "GPIO27"}
	emu := &localbus.Emulation{
		Vibration: chips.Vibration{ShaftHz: 24.75, Harmonics: []float64{2, 0.5}},
		Env:       func(float64) chips.Env { return chips.Env{Temperature: 41.5, Pressure: 100200, Humidity: 38} },
		// 12 A on a 30 A/V clamp; 12 mA (half scale) across 250 Ω; a broken loop.
		Inputs:  func(float64) [4]float64 { return [4]float64{0.4, 3, 0, 0} },
		Running: func(float64) bool { return true },
		Pins:    map[string]*chips.Pin{"GPIO27": alarm},
	}
	col := newCollector()
	in, err := localbus.New(cfg, localbus.Options{Sink: col.sink, Emulation: emu})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()
	col.waitFor(t, 3, "vib_x", "vib_y", "vib_z", "motor_x", "bearing_temp", "ambient_pa", "humidity", "current", "pressure", "running")

	if err := in.Run(ctx); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("a second Run: %v", err)
	}
	// The alarm output follows SetAlarm while Run runs.
	if err := in.SetAlarm(t.Context(), true); err != nil {
		t.Fatal(err)
	}
	if l, _ := alarm.Driven(); l != gpio.High {
		t.Errorf("alarm pin %s after SetAlarm(true)", l)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if l, _ := alarm.Driven(); l != gpio.Low {
		t.Errorf("alarm pin %s after Run returned, want off", l)
	}
	if err := in.SetAlarm(t.Context(), true); !errors.Is(err, localbus.ErrNoAlarm) {
		t.Errorf("SetAlarm after Run: %v", err)
	}

	col.mu.Lock()
	defer col.mu.Unlock()
	// Harmonics of peak a have RMS a/√2: X and Y see both, Z half of each.
	xy := math.Sqrt(2*2/2.0 + 0.5*0.5/2)
	for name, want := range map[string]float64{
		"vib_x": xy, "vib_y": xy, "vib_z": xy / 2, "motor_x": xy,
		"bearing_temp": 41.5, "ambient_pa": 100200, "humidity": 38,
		"current": 12, "pressure": 5, "running": 1,
	} {
		if strings.HasPrefix(name, "vib") || strings.HasPrefix(name, "motor") {
			if n := in.Stats().Overruns; n > 0 {
				// Samples were lost: the window is not the signal's.
				t.Logf("%d FIFO overruns on a loaded machine: %s not checked", n, name)
				continue
			}
		}
		tol := map[string]float64{"vib_x": 0.1, "vib_y": 0.1, "vib_z": 0.1, "motor_x": 0.1, "ambient_pa": 3, "humidity": 0.05, "current": 0.01, "pressure": 0.01}[name]
		if got := col.last[name]; math.Abs(got-want) > tol+0.011 {
			t.Errorf("%s = %.4f, want %.4f ± %g", name, got, want, tol+0.011)
		}
	}
	if col.seen["flow"] != 0 {
		t.Errorf("a broken loop was reported %d times", col.seen["flow"])
	}
	if st := in.Stats(); st.Errors == 0 || st.Messages != uint64(len(col.msgs)) {
		t.Errorf("stats %+v with %d messages, want errors from the broken loop", st, len(col.msgs))
	}
	for i, m := range col.msgs {
		if m.Machine != "pump-7" || m.Env.Sender != "pump-7" || m.Env.Version != wire.Version || m.Env.Seq != uint64(i+1) {
			t.Fatalf("message %d: %+v", i, m.Env)
		}
	}
}

// Without emulation the sensors are opened on the board through periph.io;
// a machine without an I²C bus fails Run naming the sensor.
func TestRunHardwareMissing(t *testing.T) {
	if m, _ := filepath.Glob("/dev/i2c-*"); len(m) > 0 {
		t.Skip("this machine has an I²C bus")
	}
	cfg := localbus.Config{Machine: "m", Sensors: []localbus.Sensor{{Kind: localbus.KindBME280, Temperature: "t"}}}
	in, err := localbus.New(cfg, localbus.Options{Sink: func(*wire.Telemetry) {}})
	if err != nil {
		t.Fatal(err)
	}
	err = in.Run(t.Context())
	if err == nil || !strings.Contains(err.Error(), "sensors[0] (bme280)") {
		t.Fatalf("Run = %v, want an error naming sensors[0]", err)
	}
}

func TestNew(t *testing.T) {
	if _, err := localbus.New(localbus.Config{}, localbus.Options{Sink: func(*wire.Telemetry) {}}); err == nil || !strings.Contains(err.Error(), "machine: required") {
		t.Errorf("New with an empty config: %v", err)
	}
	var c localbus.Config
	if err := conf.Load("testdata/emulated.yaml", &c); err != nil {
		t.Fatal(err)
	}
	if _, err := localbus.New(c, localbus.Options{}); err == nil {
		t.Error("New without a sink succeeded")
	}
}

// Emulated chips fed by a process (as the plant simulator has it) report
// it back in the agent's units.
func TestRunProcess(t *testing.T) {
	pv := chips.Process{VibRMS: 3.5, BearingTemp: 52.5, Current: 17.25, Pressure: 6, RPM: 1470}
	sig := chips.ProcessSignals(func(float64) chips.Process { return pv }, chips.ProcessOpts{})
	var c localbus.Config
	if err := conf.Load("testdata/emulated.yaml", &c); err != nil {
		t.Fatal(err)
	}
	for i := range c.Sensors {
		c.Sensors[i].Interval = conf.Duration(50 * time.Millisecond)
	}
	// About five shaft turns per report, so the RMS hardly depends on
	// where the window starts; 400 Hz, so the FIFO holds 80 ms.
	c.Sensors[0].Interval = conf.Duration(200 * time.Millisecond)
	c.Sensors[0].RateHz = 400
	col := newCollector()
	in, err := localbus.New(c, localbus.Options{Sink: col.sink, Emulation: &localbus.Emulation{Accel: sig.Accel, Env: sig.Env, Inputs: sig.Inputs}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()
	col.waitFor(t, 2, "vib_x", "bearing_temp", "current", "running")
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	col.mu.Lock()
	defer col.mu.Unlock()
	if n := in.Stats().Overruns; n > 0 {
		t.Logf("%d FIFO overruns on a loaded machine: vib_x not checked", n)
		delete(col.last, "vib_x")
	}
	accel := 2 * math.Pi * 1470 / 60 * 3.5 / 1000 // velocity RMS at the shaft speed, as acceleration RMS
	for name, want := range map[string][2]float64{
		"vib_x": {accel, 0.05 * accel}, "bearing_temp": {52.5, 0.01}, "current": {17.25, 0.01}, "running": {1, 0},
	} {
		got, ok := col.last[name]
		if !ok && name == "vib_x" {
			continue
		}
		if math.Abs(got-want[0]) > want[1] {
			t.Errorf("%s = %.4f, want %.4f ± %g", name, got, want[0], want[1])
		}
	}
}
