package plant

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"millwright/wire"
)

// Options configures Run. The zero value runs the demo scenario against a
// broker on 127.0.0.1:1883 until the context ends.
type Options struct {
	// Broker is the MQTT broker URL; default tcp://127.0.0.1:1883.
	Broker string
	// ClientID is the MQTT client id; default "firmware-sim".
	ClientID string
	// Scenario is the plant; one without gateways means Demo().
	Scenario Scenario
	// Format is the telemetry encoding; default CBOR.
	Format Format
	// Start is the true time of the first tick; default now.
	Start time.Time
	// Duration is how much simulated time to run; 0 runs until ctx ends.
	Duration time.Duration
	// LabelsOut, when set, is where the ground truth is written (JSON, and
	// CSV beside it) before the first reading is sent.
	LabelsOut string
	Logger    *slog.Logger

	dial dialer // tests swap the MQTT client
}

// Stats counts what Run did.
type Stats struct {
	Ticks      int64
	Sent       int64 // messages handed to the broker, duplicates included
	Duplicates int64
	Errors     int64 // publish failures (the message is lost, as with QoS 0)
	Lost       int64 // messages lost in outages with Lose set
}

func (o Options) withDefaults() Options {
	if o.Broker == "" {
		o.Broker = "tcp://127.0.0.1:1883"
	}
	if o.ClientID == "" {
		o.ClientID = "firmware-sim"
	}
	if len(o.Scenario.Gateways) == 0 {
		o.Scenario = Demo()
	}
	if o.Format == "" {
		o.Format = FormatCBOR
	}
	if o.Start.IsZero() {
		o.Start = time.Now()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.dial == nil {
		o.dial = dialPaho
	}
	return o
}

// Run simulates the plant and publishes its telemetry until ctx ends or
// Duration of simulated time has passed and every held-back message has
// been delivered. Simulated time runs Scenario.Speed times faster than the
// wall clock. Cancelling ctx is a clean stop and returns the stats with a
// nil error.
func Run(ctx context.Context, opts Options) (Stats, error) {
	opts = opts.withDefaults()
	log := opts.Logger.With("component", "firmware-sim")
	g, err := NewGenerator(opts.Scenario, opts.Start)
	if err != nil {
		return Stats{}, err
	}
	if opts.LabelsOut != "" {
		if err := WriteLabels(opts.LabelsOut, g.AllLabels()); err != nil {
			return Stats{}, fmt.Errorf("write labels: %w", err)
		}
	}
	log.Info("connecting", "broker", opts.Broker)
	pub, err := opts.dial(ctx, opts.Broker, opts.ClientID, log)
	if err != nil {
		if ctx.Err() != nil {
			return Stats{}, nil
		}
		return Stats{}, fmt.Errorf("connect to %s: %w", opts.Broker, err)
	}
	defer pub.Close()

	sc := g.Scenario()
	log.Info("simulating", "scenario", sc.Name, "machines", len(g.machines), "rate", sc.Rate, "speed", sc.Speed, "frames", sc.Vibration.Frames,
		"format", opts.Format, "broker", opts.Broker, "start", g.Start())
	topics := make([]string, len(g.machines))
	for i, gm := range g.machines {
		topics[i] = wire.TelemetryTopic(gm.gw, gm.st.id)
	}
	start := g.Start().UnixNano()
	end := int64(0)
	if opts.Duration > 0 {
		end = start + int64(opts.Duration)
	}
	net := newNetsim(sc.Network, start, g.step)
	wallStart := time.Now()
	simNow := func() int64 { return start + int64(float64(time.Since(wallStart))*sc.Speed) }
	var st Stats
	lastErrLog := time.Time{}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		now := simNow()
		for next := g.NextTime().UnixNano(); next <= now && (end == 0 || next < end); next = g.NextTime().UnixNano() {
			for i, f := range g.Next() {
				buf, err := AppendEncode(net.buffer(), f.Telemetry, opts.Format)
				if err != nil {
					return st, fmt.Errorf("encode telemetry of %s: %w", f.Telemetry.Machine, err)
				}
				net.send(g.machines[i].net, f.Gateway, f.Telemetry.Machine, topics[i], f.True, buf)
			}
			st.Ticks++
		}
		for d, ok := net.pop(now); ok; d, ok = net.pop(now) {
			if err := pub.Publish(ctx, d.topic, d.payload); err != nil {
				if ctx.Err() != nil {
					return st, nil
				}
				st.Errors++
				if time.Since(lastErrLog) > 10*time.Second {
					log.Warn("publish failed; messages are being lost", "topic", d.topic, "errors", st.Errors, "err", err)
					lastErrLog = time.Now()
				}
			} else {
				st.Sent++
				if d.dup {
					st.Duplicates++
				}
			}
			net.release(d)
		}
		st.Lost = net.lost
		wake, pending := net.next()
		genDone := end > 0 && g.NextTime().UnixNano() >= end
		if genDone && !pending {
			log.Info("scenario done", "ticks", st.Ticks, "sent", st.Sent, "errors", st.Errors)
			return st, nil
		}
		if !genDone && (!pending || g.NextTime().UnixNano() < wake) {
			wake = g.NextTime().UnixNano()
		}
		timer.Reset(time.Duration(float64(wake-simNow()) / sc.Speed))
		select {
		case <-ctx.Done():
			log.Info("stopped", "ticks", st.Ticks, "sent", st.Sent, "errors", st.Errors)
			return st, nil
		case <-timer.C:
		}
	}
}
