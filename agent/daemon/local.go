package daemon

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"time"

	"millwright/wire"
)

// AlarmOutput is a local alarm indicator, such as a lamp on a GPIO pin.
// Set turns it on or off; it is called from one goroutine, only when the
// state changes (and once at start with false), and should return quickly.
type AlarmOutput interface {
	Set(ctx context.Context, on bool) error
}

// localOut raises alerts where they are seen without any network: the log,
// a topic on the local broker (published directly, not via the outbox) and
// an optional AlarmOutput that is on while any machine is in an alert
// episode. The pipeline goroutine hands work over without blocking.
type localOut struct {
	log   *slog.Logger
	topic string // "" for none
	lamp  AlarmOutput

	alerts chan []byte // JSON alerts waiting for the local topic
	kick   chan struct{}

	mu       sync.Mutex
	alarming map[string]bool
}

// DefaultLocalAlertTopic is where alerts go on the local broker; {gw} is
// replaced by the gateway id.
const DefaultLocalAlertTopic = "mw/v1/local/{gw}/alerts"

func newLocalOut(o Options, log *slog.Logger) *localOut {
	return &localOut{
		log:      log,
		topic:    strings.ReplaceAll(o.LocalAlertTopic, "{gw}", o.Gateway),
		lamp:     o.Alarm,
		alerts:   make(chan []byte, 16),
		kick:     make(chan struct{}, 1),
		alarming: make(map[string]bool),
	}
}

// alert takes one alert raised on the pipeline goroutine.
func (l *localOut) alert(al *wire.Alert) {
	l.log.Warn("ALERT", "machine", al.Machine, "model", al.Model, "severity", al.Severity, "score", al.Score, "id", al.ID, "message", al.Message)
	if l.topic == "" {
		return
	}
	b, err := json.Marshal(al)
	if err != nil {
		l.log.Error("encode local alert", "err", err)
		return
	}
	select {
	case l.alerts <- b:
	default:
		l.log.Warn("local alert dropped: local publisher busy", "machine", al.Machine)
	}
}

// alarm records a machine's episode state (pipeline.Options.OnAlarm).
func (l *localOut) alarm(machine string, on bool) {
	l.mu.Lock()
	if on {
		l.alarming[machine] = true
	} else {
		delete(l.alarming, machine)
	}
	l.mu.Unlock()
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

func (l *localOut) anyAlarm() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.alarming) > 0
}

// publisher is the part of the MQTT client localOut uses.
type localPublisher interface {
	Connected() bool
	Publish(ctx context.Context, topic string, qos byte, retained bool, payload []byte) error
}

// run publishes local alerts and drives the lamp until ctx is done; it
// turns the lamp off on the way out.
func (l *localOut) run(ctx context.Context, pub localPublisher) {
	lampOn := false
	setLamp := func(ctx context.Context, on bool) {
		if l.lamp == nil {
			return
		}
		if err := l.lamp.Set(ctx, on); err != nil {
			l.log.Error("alarm output", "on", on, "err", err)
			return
		}
		lampOn = on
	}
	setLamp(ctx, false)
	defer func() {
		if lampOn {
			off, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			setLamp(off, false)
			cancel()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case b := <-l.alerts:
			if !pub.Connected() {
				l.log.Warn("local alert not published: not connected to the local broker")
				continue
			}
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			if err := pub.Publish(pctx, l.topic, 1, false, b); err != nil {
				l.log.Warn("publish local alert", "err", err)
			}
			cancel()
		case <-l.kick:
			if on := l.anyAlarm(); on != lampOn {
				setLamp(ctx, on)
			}
		}
	}
}
