package localbus

import (
	"sync"
	"testing"
	"time"

	"millwright/internal/conf"
	"millwright/wire"
)

// stepClock is a clock the benchmark steps by hand.
type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *stepClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func openEmulated(tb testing.TB, s Sensor) (*Input, poller, *stepClock) {
	tb.Helper()
	clk := &stepClock{t: time.Unix(1_700_000_000, 0)}
	var msgs int
	cfg := Config{Machine: "m", Emulate: true, Sensors: []Sensor{s}}
	in, err := New(cfg, Options{Sink: func(*wire.Telemetry) { msgs++ }, Now: clk.Now, Emulation: &Emulation{Now: clk.Now}})
	if err != nil {
		tb.Fatal(err)
	}
	o, err := in.open()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { o.close(in.log) })
	return in, o.pollers[0], clk
}

// One FIFO drain of 16 samples (20 ms at 800 Hz) on the emulated chip, with
// a report every fifth: the agent's per-sample path allocates nothing.
func BenchmarkADXL345Poll(b *testing.B) {
	in, p, clk := openEmulated(b, Sensor{Kind: KindADXL345, Interval: conf.Duration(100 * time.Millisecond)})
	ap := p.(*adxlPoller)
	ap.next = clk.Now().Add(ap.interval)
	b.ReportAllocs()
	for b.Loop() {
		clk.advance(20 * time.Millisecond)
		ap.step(in)
	}
	if in.Stats().Errors != 0 || in.Stats().Messages == 0 {
		b.Fatalf("stats %+v", in.Stats())
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/16, "ns/sample")
}

func BenchmarkBME280Poll(b *testing.B) {
	in, p, _ := openEmulated(b, Sensor{Kind: KindBME280, Temperature: "t", Pressure: "p", Humidity: "h"})
	bp := p.(*bmePoller)
	b.ReportAllocs()
	for b.Loop() {
		bp.step(in)
	}
	if in.Stats().Errors != 0 {
		b.Fatalf("stats %+v", in.Stats())
	}
}

func TestPollAllocs(t *testing.T) {
	in, p, clk := openEmulated(t, Sensor{Kind: KindADXL345, Interval: conf.Duration(40 * time.Millisecond)})
	ap := p.(*adxlPoller)
	ap.next = clk.Now().Add(ap.interval)
	step := func() {
		clk.advance(20 * time.Millisecond)
		ap.step(in)
	}
	step()
	if n := testing.AllocsPerRun(100, step); n != 0 {
		t.Errorf("adxl345 poll: %v allocations per drain", n)
	}
	if in.Stats().Messages < 50 {
		t.Errorf("%d messages in 100 drains of half an interval", in.Stats().Messages)
	}
}

func TestPollOverrun(t *testing.T) {
	in, p, clk := openEmulated(t, Sensor{Kind: KindADXL345, Interval: conf.Duration(time.Second)})
	ap := p.(*adxlPoller)
	ap.next = clk.Now().Add(ap.interval)
	clk.advance(20 * time.Millisecond) // 16 samples at 800 Hz
	ap.step(in)
	if st := in.Stats(); st.Overruns != 0 {
		t.Fatalf("overrun after 16 samples: %+v", st)
	}
	clk.advance(100 * time.Millisecond) // 80 samples: the FIFO holds 32
	ap.step(in)
	if st := in.Stats(); st.Overruns != 1 || ap.n != 16+32 {
		t.Fatalf("after 80 samples: %+v, %d samples kept", st, ap.n)
	}
}
