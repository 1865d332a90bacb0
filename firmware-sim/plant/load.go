package plant

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"millwright/wire"
)

// LoadOptions configures Load. Zero fields get defaults.
type LoadOptions struct {
	Broker     string  // default tcp://127.0.0.1:1883
	Devices    int     // synthetic devices; default 100
	TargetRate float64 // total messages per second; default 1000
	// Duration of the run in wall-clock time; default 10s.
	Duration time.Duration
	// Clients is the number of MQTT connections sharing the devices; default 4.
	Clients int
	Format  Format
	Seed    uint64
	Logger  *slog.Logger

	dial dialer
}

// LoadResult is what a load run achieved.
type LoadResult struct {
	Devices    int
	TargetRate float64
	Sent       int64
	Errors     int64
	Elapsed    time.Duration
}

// Rate is the achieved rate in messages per second.
func (r LoadResult) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Sent) / r.Elapsed.Seconds()
}

func (r LoadResult) String() string {
	return fmt.Sprintf("load: %d devices, target %.0f msg/s, achieved %.1f msg/s (%d sent, %d errors in %v)",
		r.Devices, r.TargetRate, r.Rate(), r.Sent, r.Errors, r.Elapsed.Round(time.Millisecond))
}

// LoadScenarioFor is the synthetic plant of a load run: devices motors on
// gateways of up to 100, each sending rate/devices readings per second.
func LoadScenarioFor(devices int, rate float64, seed uint64) Scenario {
	sc := Scenario{Name: "load", Seed: seed, Rate: rate / float64(devices), Speed: 1}
	for i := range devices {
		if i%100 == 0 {
			sc.Gateways = append(sc.Gateways, Gateway{ID: "load-gw" + strconv.Itoa(i/100)})
		}
		g := &sc.Gateways[len(sc.Gateways)-1]
		g.Machines = append(g.Machines, Machine{ID: "dev-" + strconv.Itoa(i), Type: TypeMotor})
	}
	return sc
}

type loadMsg struct {
	topic   string
	payload []byte
}

// Load publishes synthetic telemetry from many devices at a target total
// rate for a while and reports the rate it really achieved. Messages the
// publishers cannot keep up with are not queued without bound: the
// generator waits for them and stops at the deadline, so the achieved rate
// shows the shortfall.
func Load(ctx context.Context, o LoadOptions) (LoadResult, error) {
	if o.Broker == "" {
		o.Broker = "tcp://127.0.0.1:1883"
	}
	if o.Devices <= 0 {
		o.Devices = 100
	}
	if o.TargetRate <= 0 {
		o.TargetRate = 1000
	}
	if o.Duration <= 0 {
		o.Duration = 10 * time.Second
	}
	if o.Clients <= 0 {
		o.Clients = 4
	}
	if o.Format == "" {
		o.Format = FormatCBOR
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.dial == nil {
		o.dial = dialPaho
	}
	res := LoadResult{Devices: o.Devices, TargetRate: o.TargetRate}
	g, err := NewGenerator(LoadScenarioFor(o.Devices, o.TargetRate, o.Seed), time.Now())
	if err != nil {
		return res, fmt.Errorf("load scenario: %w", err)
	}
	topics := make([]string, len(g.machines))
	for i, gm := range g.machines {
		topics[i] = wire.TelemetryTopic(gm.gw, gm.st.id)
	}
	pubs := make([]publisher, 0, o.Clients)
	defer func() {
		for _, p := range pubs {
			p.Close()
		}
	}()
	for i := range o.Clients {
		p, err := o.dial(ctx, o.Broker, "firmware-sim-load-"+strconv.Itoa(i), o.Logger)
		if err != nil {
			return res, fmt.Errorf("connect to %s: %w", o.Broker, err)
		}
		pubs = append(pubs, p)
	}

	var sent, errs atomic.Int64
	free := make(chan []byte, 4*o.Clients+len(g.machines))
	work := make(chan loadMsg, 2*o.Clients)
	eg, ectx := errgroup.WithContext(ctx)
	for _, p := range pubs {
		eg.Go(func() error {
			for m := range work {
				if err := p.Publish(ectx, m.topic, m.payload); err != nil {
					errs.Add(1)
				} else {
					sent.Add(1)
				}
				select {
				case free <- m.payload[:0]:
				default:
				}
			}
			return nil
		})
	}
	begin := time.Now()
	eg.Go(func() error {
		defer close(work)
		deadline := begin.Add(o.Duration)
		timer := time.NewTimer(0)
		defer timer.Stop()
		for k := int64(0); ; k++ {
			due := begin.Add(time.Duration(k) * g.Interval())
			if !due.Before(deadline) || !time.Now().Before(deadline) {
				return nil // a generator behind schedule stops at the deadline too
			}
			timer.Reset(time.Until(due))
			select {
			case <-ectx.Done():
				return nil
			case <-timer.C:
			}
			for i, f := range g.Next() {
				var buf []byte
				select {
				case buf = <-free:
				default:
					buf = make([]byte, 0, 256)
				}
				buf, err := AppendEncode(buf, f.Telemetry, o.Format)
				if err != nil {
					return fmt.Errorf("encode: %w", err)
				}
				select {
				case work <- loadMsg{topics[i], buf}:
				case <-ectx.Done():
					return nil
				}
			}
		}
	})
	err = eg.Wait()
	// The generator covers [begin, begin+Duration): a run that kept up
	// took the whole window, one that fell behind took longer.
	res.Elapsed = time.Since(begin)
	if ctx.Err() == nil {
		res.Elapsed = max(res.Elapsed, o.Duration)
	}
	res.Sent, res.Errors = sent.Load(), errs.Load()
	o.Logger.Info("load done", "result", res.String())
	return res, err
}
