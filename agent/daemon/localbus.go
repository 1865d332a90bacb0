package daemon

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"millwright/agent/localbus"
	"millwright/wire"
)

// buses are the machines read over the gateway's own I2C/SPI/GPIO buses.
// Their telemetry joins the MQTT telemetry on the same input channel, so it
// is scored by the same pipeline goroutine.
type buses struct {
	inputs []*localbus.Input
}

// openBuses builds one localbus input per configured machine. The first
// configured alarm output becomes the agent's lamp unless Options.Alarm is set.
func (a *Agent) openBuses() error {
	for i, cfg := range a.opts.LocalBus {
		machine := cfg.Machine
		topic := wire.TelemetryTopic(a.opts.Gateway, machine)
		in, err := localbus.New(cfg, localbus.Options{
			Logger: a.log.With("component", "localbus", "machine", machine),
			Sink:   func(t *wire.Telemetry) { a.fromBus(topic, t) },
		})
		if err != nil {
			return fmt.Errorf("local_bus[%d] (%s): %w", i, machine, err)
		}
		a.buses.inputs = append(a.buses.inputs, in)
		if a.local.lamp == nil && cfg.Alarm != nil {
			a.local.lamp = busAlarm{in}
		}
	}
	return nil
}

// fromBus hands one local reading set to the pipeline. It runs on the
// input's goroutine; the message is reused after return, so it is encoded
// here. Local buses run at tens of messages a second, where one encoding
// per message is cheap.
func (a *Agent) fromBus(topic string, t *wire.Telemetry) {
	t.Env.Sender = t.Machine
	b, err := wire.Marshal(t)
	if err != nil {
		a.log.Error("encode local telemetry", "topic", topic, "err", err)
		return
	}
	select {
	case a.in <- inMsg{topic: topic, payload: b, recv: time.Now().UnixNano()}:
	case <-a.inStop:
	}
}

// runBuses polls every local bus until ctx is done and they all returned.
func (a *Agent) runBuses(ctx context.Context) {
	var wg sync.WaitGroup
	for _, in := range a.buses.inputs {
		wg.Go(func() {
			if err := in.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				a.log.Error("local bus stopped", "err", err)
			}
		})
	}
	wg.Wait()
}

// busAlarm is a local bus's alarm output as the agent's lamp.
type busAlarm struct{ in *localbus.Input }

func (b busAlarm) Set(ctx context.Context, on bool) error { return b.in.SetAlarm(ctx, on) }
