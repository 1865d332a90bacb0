// Package config is the agent's typed configuration: one YAML file loaded
// strictly through internal/conf, with every default in Default so that the
// demo needs no file at all. Command-line flags override what the file says.
package config

import (
	"millwright/agent/localbus"
	"millwright/agent/pipeline"
	"millwright/agent/stream/derive"
	"millwright/agent/stream/ingest"
	"millwright/agent/stream/reorder"

	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"time"

	"millwright/internal/conf"
	"millwright/models/catalog"
	"millwright/wire"
)

// Config is the whole agent configuration.
type Config struct {
	// Gateway is this agent's gateway id (required, here or by flag).
	Gateway string `yaml:"gateway"`
	// Broker is the MQTT broker URL, e.g. tcp://127.0.0.1:1883.
	Broker string `yaml:"broker"`
	// MQTT holds the client certificate for an mqtts:// broker (tls.go).
	MQTT MQTT `yaml:"mqtt"`
	// StateDir holds the outbox and model state; empty means
	// ./data/agent-<gateway>.
	StateDir string `yaml:"state_dir"`
	// HTTP is the listen address of /healthz, /readyz and /metrics.
	HTTP string `yaml:"http"`
	// Model is the champion detector kind of every machine.
	Model string `yaml:"model"`

	// LogLevel is debug, info, warn or error.
	LogLevel slog.Level `yaml:"log_level"`

	Alert     Alert     `yaml:"alert"`
	Features  Features  `yaml:"features"`
	Models    Models    `yaml:"models"`
	Drift     Drift     `yaml:"drift"`
	Local     Local     `yaml:"local"`
	Intervals Intervals `yaml:"intervals"`
	Outbox    Outbox    `yaml:"outbox"`
	EventTime EventTime `yaml:"event_time"`
	Signing   Signing   `yaml:"signing"`

	// Ingest maps MQTT topics outside the wire contract to readings:
	// topic pattern, payload format and JSON paths (package
	// agent/stream/ingest). The asset is the machine. None by default.
	Ingest []ingest.Mapping `yaml:"ingest"`

	// Derived signals are computed from each machine's sensors, e.g.
	// {name: power, expr: "voltage * current"}, and join its vector. A
	// machine without every sensor a definition reads goes without it.
	Derived []derive.Def `yaml:"derived"`

	// LocalBus lists machines whose sensors sit on the gateway's own buses
	// (ADXL345, BME280, ADS1115, GPIO), read through periph.io.
	LocalBus []localbus.Config `yaml:"local_bus"`
}

// Models tunes the models of each machine.
type Models struct {
	// WarmUp is how many vectors a fresh champion learns from (only those
	// scoring below alert.clear once it can score) before it is frozen.
	WarmUp int `yaml:"warmup"`
	// MaxChallengers bounds the challengers the hub may deploy per machine.
	MaxChallengers int `yaml:"max_challengers"`
	// Champion is how a champion learns after its warm-up: learn, gated
	// (only from vectors under alert.clear) or frozen.
	Champion string `yaml:"champion"`
}

// Drift tunes drift detection on champion scores and input features.
type Drift struct {
	// MinGap is the least event time between two drift reports of a machine.
	MinGap   conf.Duration `yaml:"min_gap"`
	Disabled bool          `yaml:"disabled"`
}

// Local tunes the outputs that work without the hub.
type Local struct {
	// AlertsTopic is the local broker topic alerts are published on as
	// JSON; {gw} is replaced by the gateway id; "none" turns it off.
	AlertsTopic string `yaml:"alerts_topic"`
}

// Alert tunes when a champion's scores raise an alert.
type Alert struct {
	// Threshold is the score at or above which a vector counts as anomalous.
	Threshold float64 `yaml:"threshold"`
	// Clear is the score below which an alert episode ends (hysteresis).
	Clear float64 `yaml:"clear"`
	// Consecutive is how many anomalous vectors in a row raise an alert.
	Consecutive int `yaml:"consecutive"`
	// Cooldown is the least event time between two alerts of a machine.
	Cooldown conf.Duration `yaml:"cooldown"`
	// Critical is the score at or above which an alert is critical.
	Critical float64 `yaml:"critical"`
}

// Features tunes how readings become feature vectors.
type Features struct {
	// Learn is how many telemetry messages of a new machine are used to
	// learn its sensor set before scoring starts.
	Learn int `yaml:"learn"`
	// Window, when set, makes each machine's vector the mean, rms, min,
	// max and slope of every signal over event-time windows of Size every
	// Step (Step 0: tumbling) instead of the latest values.
	Window *Window `yaml:"window"`
	// Exclude names signals (sensors or derived) that derived expressions
	// and the running gate may read but that stay out of every vector:
	// e.g. bearing_temp and ambient_temp once bearing_rise (their
	// difference) is derived, so the daily ambient cycle is not an anomaly.
	Exclude []string `yaml:"exclude"`
	// Running, when set, scores a machine only while it runs and has
	// settled after a start.
	Running *Running `yaml:"running"`
}

// Running is the running gate: a machine runs while Signal (a sensor or
// derived signal: motor current, a GPIO running input) is at least Min;
// for Settle after each start (inrush, warm-up) its vectors are neither
// scored nor learned.
type Running struct {
	Signal string        `yaml:"signal"`
	Min    float64       `yaml:"min"`
	Settle conf.Duration `yaml:"settle"`
}

// Window is an event-time window.
type Window struct {
	Size conf.Duration `yaml:"size"`
	Step conf.Duration `yaml:"step"`
}

// EventTime tunes how readings are put back in event-time order.
type EventTime struct {
	// Lateness is how far behind the newest reading of its sensor a
	// reading may arrive and still be put in order.
	Lateness conf.Duration `yaml:"lateness"`
	// Late is what happens to a reading later than that: score_only
	// (scored, not learned, no alert) or drop. Either way it is counted.
	Late reorder.LatePolicy `yaml:"late"`
	// Idle is how long a sensor may stay quiet before its buffered
	// readings are released without waiting for later ones.
	Idle conf.Duration `yaml:"idle"`
}

// Intervals are the agent's periodic duties.
type Intervals struct {
	Metrics  conf.Duration `yaml:"metrics"`  // emit wire.Metrics
	State    conf.Duration `yaml:"state"`    // write model state to the state dir
	Snapshot conf.Duration `yaml:"snapshot"` // publish wire.Snapshot to the hub
}

// Outbox tunes the durable queue of messages owed to the hub.
type Outbox struct {
	MaxBytes     conf.ByteSize `yaml:"max_bytes"`
	AckTimeout   conf.Duration `yaml:"ack_timeout"`
	FlushTimeout conf.Duration `yaml:"flush_timeout"` // at shutdown
}

// Default returns the configuration used when no file and no flag says
// otherwise. It is the one place where defaults live.
func Default() Config {
	return Config{
		Broker: "tcp://127.0.0.1:1883",
		HTTP:   "127.0.0.1:9100",
		Model:  catalog.Default,
		Alert: Alert{
			Threshold:   pipeline.DefaultThreshold,
			Clear:       pipeline.DefaultClear,
			Consecutive: pipeline.DefaultConsecutive,
			Cooldown:    conf.Duration(60 * time.Second),
			Critical:    0.999,
		},
		Features: Features{Learn: 10},
		Models:   Models{WarmUp: 600, MaxChallengers: 3, Champion: pipeline.ChampionLearn},
		Drift:    Drift{MinGap: conf.Duration(10 * time.Minute)},
		Local:    Local{AlertsTopic: "mw/v1/local/{gw}/alerts"},
		Intervals: Intervals{
			Metrics:  conf.Duration(5 * time.Second),
			State:    conf.Duration(time.Minute),
			Snapshot: conf.Duration(10 * time.Minute),
		},
		EventTime: EventTime{
			Lateness: conf.Duration(2 * time.Second),
			Late:     reorder.ScoreOnly,
			Idle:     conf.Duration(time.Second),
		},
		Outbox: Outbox{
			MaxBytes:     64 << 20,
			AckTimeout:   conf.Duration(10 * time.Second),
			FlushTimeout: conf.Duration(5 * time.Second),
		},
	}
}

// Load reads the file at path over the defaults and validates the result.
// An empty path gives the defaults. The gateway may still be empty: flags
// can set it, so RequireGateway checks it after they are applied.
func Load(path string) (Config, error) {
	c := Default()
	if err := conf.Load(path, &c); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Limits on numeric fields.
const (
	MinOutboxBytes = 64 << 10
	MaxConsecutive = 10000
	MaxLearn       = 10000
	MaxWarmUp      = 10_000_000
	MaxChallengers = 16
	MaxLateness    = time.Hour
	MaxDerived     = 64
	MaxExclude     = 256
)

// Validate checks every field, naming the first that is wrong.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if c.Gateway != "" && !wire.ValidID(c.Gateway) {
		bad("gateway", "%q is not a valid id (1-64 of letters, digits, '-', '_', '.')", c.Gateway)
	}
	if !strings.Contains(c.Broker, "://") {
		bad("broker", "%q: want a URL such as tcp://127.0.0.1:1883", c.Broker)
	}
	if c.HTTP == "" {
		bad("http", "empty: want a listen address such as 127.0.0.1:9100")
	}
	if !slices.Contains(catalog.Kinds(), c.Model) {
		bad("model", "unknown kind %q (known: %s)", c.Model, strings.Join(catalog.Kinds(), ", "))
	}
	a := c.Alert
	if !(a.Threshold > 0 && a.Threshold <= 1) {
		bad("alert.threshold", "%v: want a score in (0, 1]", a.Threshold)
	}
	if !(a.Clear >= 0 && a.Clear < a.Threshold) {
		bad("alert.clear", "%v: want a score in [0, alert.threshold)", a.Clear)
	}
	if a.Consecutive < 1 || a.Consecutive > MaxConsecutive {
		bad("alert.consecutive", "%d: want 1 to %d", a.Consecutive, MaxConsecutive)
	}
	if a.Cooldown < 0 {
		bad("alert.cooldown", "%v: want zero or more", a.Cooldown.D())
	}
	if !(a.Critical >= a.Threshold && a.Critical <= 1) {
		bad("alert.critical", "%v: want a score in [alert.threshold, 1]", a.Critical)
	}
	if c.Features.Learn < 1 || c.Features.Learn > MaxLearn {
		bad("features.learn", "%d: want 1 to %d", c.Features.Learn, MaxLearn)
	}
	if c.Models.WarmUp < 1 || c.Models.WarmUp > MaxWarmUp {
		bad("models.warmup", "%d: want 1 to %d", c.Models.WarmUp, MaxWarmUp)
	}
	switch c.Models.Champion {
	case pipeline.ChampionLearn, pipeline.ChampionGated, pipeline.ChampionFrozen:
	default:
		bad("models.champion", "%q: want learn, gated or frozen", c.Models.Champion)
	}
	if c.Models.MaxChallengers < 1 || c.Models.MaxChallengers > MaxChallengers {
		bad("models.max_challengers", "%d: want 1 to %d", c.Models.MaxChallengers, MaxChallengers)
	}
	if l := c.EventTime.Lateness.D(); l < 0 || l > MaxLateness {
		bad("event_time.lateness", "%v: want 0 to %v", l, MaxLateness)
	}
	if d := c.EventTime.Idle.D(); d < 10*time.Millisecond {
		bad("event_time.idle", "%v: want at least 10ms", d)
	}
	if w := c.Features.Window; w != nil {
		size, step := w.Size.D(), w.Step.D()
		switch {
		case size <= 0:
			bad("features.window.size", "%v: want a positive duration", size)
		case step < 0 || step > size || (step > 0 && size%step != 0):
			bad("features.window.step", "%v: want a divisor of features.window.size (%v), or 0 for tumbling windows", step, size)
		}
	}
	if len(c.Features.Exclude) > MaxExclude {
		bad("features.exclude", "%d names: want at most %d", len(c.Features.Exclude), MaxExclude)
	}
	for i, n := range c.Features.Exclude {
		if !wire.ValidID(n) {
			bad(fmt.Sprintf("features.exclude[%d]", i), "%q is not a valid signal name", n)
		}
	}
	if r := c.Features.Running; r != nil {
		if !wire.ValidID(r.Signal) {
			bad("features.running.signal", "%q is not a valid signal name (required)", r.Signal)
		}
		if math.IsNaN(r.Min) || math.IsInf(r.Min, 0) {
			bad("features.running.min", "%v: want a finite number", r.Min)
		}
		if d := r.Settle.D(); d < 0 || d > 24*time.Hour {
			bad("features.running.settle", "%v: want 0 to 24h", d)
		}
	}
	if len(c.Derived) > MaxDerived {
		bad("derived", "%d definitions: want at most %d", len(c.Derived), MaxDerived)
	} else if len(c.Derived) > 0 {
		defs := c.DerivedDefs()
		if _, err := pipeline.CheckDerived(defs); err != nil {
			errs = append(errs, err) // names derived[i]
		}
	}
	for i, m := range c.Ingest {
		if _, err := ingest.NewDecoder(m); err != nil {
			bad(fmt.Sprintf("ingest[%d]", i), "%v", err)
		} else if m.Asset == "" && !strings.Contains(m.Topic, "{asset}") {
			bad(fmt.Sprintf("ingest[%d]", i), "topic %q names no machine: capture {asset} or set asset", m.Topic)
		}
	}
	seen := map[string]bool{}
	for i := range c.LocalBus {
		lb := &c.LocalBus[i]
		if err := lb.Validate(); err != nil {
			bad(fmt.Sprintf("local_bus[%d]", i), "%v", err)
		} else if seen[lb.Machine] {
			bad(fmt.Sprintf("local_bus[%d].machine", i), "%q appears twice", lb.Machine)
		}
		seen[lb.Machine] = true
	}
	if t := c.Local.AlertsTopic; t != "none" && (t == "" || strings.ContainsAny(t, "+#")) {
		bad("local.alerts_topic", "%q: want a topic without wildcards, or none", t)
	}
	for _, iv := range []struct {
		name string
		d    conf.Duration
	}{
		{"intervals.metrics", c.Intervals.Metrics},
		{"drift.min_gap", c.Drift.MinGap},
		{"intervals.state", c.Intervals.State},
		{"intervals.snapshot", c.Intervals.Snapshot},
		{"outbox.ack_timeout", c.Outbox.AckTimeout},
		{"outbox.flush_timeout", c.Outbox.FlushTimeout},
	} {
		if iv.d.D() < 10*time.Millisecond {
			bad(iv.name, "%v: want at least 10ms", iv.d.D())
		}
	}
	if err := c.Signing.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.MQTT.validate(c.Broker); err != nil {
		errs = append(errs, err)
	}
	if c.Outbox.MaxBytes < MinOutboxBytes {
		bad("outbox.max_bytes", "%d: want at least %d", c.Outbox.MaxBytes, MinOutboxBytes)
	}
	return errors.Join(errs...)
}

// DerivedDefs returns the derived definitions with the field each came from.
func (c *Config) DerivedDefs() []derive.Def {
	defs := slices.Clone(c.Derived)
	for i := range defs {
		defs[i].Field = fmt.Sprintf("derived[%d]", i)
	}
	return defs
}

// RequireGateway reports an error when no gateway id was given.
func (c *Config) RequireGateway() error {
	if c.Gateway == "" {
		return errors.New("gateway: required (set gateway: in the config file or --gateway)")
	}
	return nil
}
