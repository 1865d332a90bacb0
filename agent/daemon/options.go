package daemon

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"millwright/agent/config"
	"millwright/agent/localbus"
	"millwright/agent/pipeline"
	"millwright/agent/stream/ingest"
	"millwright/models"
	"millwright/models/catalog"
	"millwright/wire"
)

// Options configure an Agent. The zero value of every field but Gateway
// takes the default of config.Default.
type Options struct {
	Gateway   string // required
	BrokerURL string // default tcp://127.0.0.1:1883
	StateDir  string // default ./data/agent-<gateway>
	HTTPAddr  string // default 127.0.0.1:9100; "127.0.0.1:0" picks a free port
	Model     string // champion kind, default catalog.Default
	Logger    *slog.Logger

	Alert            pipeline.AlertOptions
	Learn            int           // messages a new machine's sensor set is learned from
	MetricsInterval  time.Duration // wire.Metrics every …
	StateInterval    time.Duration // model state to disk every …
	SnapshotInterval time.Duration // wire.Snapshot to the hub every …
	AckTimeout       time.Duration // outbox resend after …
	FlushTimeout     time.Duration // how long shutdown waits for the hub's acks
	OutboxMaxBytes   int64
	AgentVersion     string // announced in the birth message

	// WarmUp is how many vectors a fresh champion learns from before it
	// is frozen; MaxChallengers bounds a machine's challengers.
	WarmUp, MaxChallengers int
	DriftMinGap            time.Duration // least time between two drift reports of a machine
	DriftDisabled          bool
	// Stream tunes event-time processing (pipeline.StreamOptions): a zero
	// Lateness or Idle takes the default, a negative Lateness means none.
	Stream pipeline.StreamOptions
	// Ingest maps topics outside the wire contract (any JSON, CBOR or text
	// payload) to readings of machines: the asset is the machine.
	Ingest []ingest.Mapping
	// LocalAlertTopic is the local broker topic alerts are published on
	// as JSON ({gw} is the gateway id); "none" turns it off.
	LocalAlertTopic string
	// LocalBus lists machines read over the gateway's own buses (I2C, SPI,
	// GPIO), on real hardware or, with emulate set, on emulated chips.
	LocalBus []localbus.Config
	// Champion is how champions learn after their warm-up (pipeline.ChampionLearn,
	// ChampionGated, ChampionFrozen); default learn.
	Champion string
	// Alarm, when set, is on while any machine is in an alert episode.
	Alarm AlarmOutput
	// LogLevel is applied to LevelVar (when set) by Reload.
	LogLevel slog.Level
	LevelVar *slog.LevelVar
	// Signing checks hub commands and signs uploaded snapshots (signing.go).
	Signing SigningOptions

	// newDetector and restore default to catalog.New and catalog.Restore;
	// tests in this package replace them.
	newDetector pipeline.NewDetector
	restore     func([]byte) (models.Detector, error)
}

// FromConfig turns a loaded configuration into Options.
func FromConfig(c config.Config) Options {
	return Options{
		Gateway:   c.Gateway,
		BrokerURL: c.Broker,
		StateDir:  c.StateDir,
		HTTPAddr:  c.HTTP,
		Model:     c.Model,
		Alert: pipeline.AlertOptions{
			Threshold:   c.Alert.Threshold,
			Clear:       c.Alert.Clear,
			Critical:    c.Alert.Critical,
			Consecutive: c.Alert.Consecutive,
			Cooldown:    c.Alert.Cooldown.D(),
		},
		Learn:            c.Features.Learn,
		MetricsInterval:  c.Intervals.Metrics.D(),
		StateInterval:    c.Intervals.State.D(),
		SnapshotInterval: c.Intervals.Snapshot.D(),
		AckTimeout:       c.Outbox.AckTimeout.D(),
		FlushTimeout:     c.Outbox.FlushTimeout.D(),
		OutboxMaxBytes:   int64(c.Outbox.MaxBytes),
		WarmUp:           c.Models.WarmUp,
		MaxChallengers:   c.Models.MaxChallengers,
		Champion:         c.Models.Champion,
		DriftMinGap:      c.Drift.MinGap.D(),
		DriftDisabled:    c.Drift.Disabled,
		LocalAlertTopic:  c.Local.AlertsTopic,
		LocalBus:         c.LocalBus,
		LogLevel:         c.LogLevel,
		Stream:           streamFromConfig(c),
		Ingest:           c.Ingest,
		Signing:          SigningOptions(c.Signing),
	}
}

func streamFromConfig(c config.Config) pipeline.StreamOptions {
	s := pipeline.StreamOptions{
		Lateness: c.EventTime.Lateness.D(),
		Late:     c.EventTime.Late,
		Idle:     c.EventTime.Idle.D(),
	}
	if s.Lateness == 0 {
		s.Lateness = -1 // zero in the file means none, not the default
	}
	if w := c.Features.Window; w != nil {
		s.Window, s.Step = w.Size.D(), w.Step.D()
	}
	if len(c.Derived) > 0 {
		s.Derived = c.DerivedDefs()
	}
	s.Exclude = c.Features.Exclude
	if r := c.Features.Running; r != nil {
		s.Running = &pipeline.RunningGate{Signal: r.Signal, Min: r.Min, Settle: r.Settle.D()}
	}
	return s
}

// withDefaults fills every zero field from config.Default, the one place
// defaults live, and checks what it cannot fill.
func (o Options) withDefaults() (Options, error) {
	if !wire.ValidID(o.Gateway) {
		return o, fmt.Errorf("gateway: %q is not a valid id (required; 1-64 of letters, digits, '-', '_', '.')", o.Gateway)
	}
	d := FromConfig(config.Default())
	set := func(v *string, def string) {
		if *v == "" {
			*v = def
		}
	}
	setD := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	set(&o.BrokerURL, d.BrokerURL)
	set(&o.StateDir, filepath.Join("data", "agent-"+o.Gateway))
	set(&o.HTTPAddr, d.HTTPAddr)
	set(&o.Model, d.Model)
	set(&o.Champion, d.Champion)
	set(&o.AgentVersion, "dev")
	a, da := &o.Alert, d.Alert
	if a.Threshold == 0 {
		a.Threshold = da.Threshold
	}
	if a.Clear == 0 {
		a.Clear = da.Clear
		if a.Clear >= a.Threshold {
			a.Clear = a.Threshold * 0.99
		}
	}
	if a.Critical == 0 {
		a.Critical = max(da.Critical, a.Threshold)
	}
	if a.Consecutive == 0 {
		a.Consecutive = da.Consecutive
	}
	if a.Cooldown == 0 {
		a.Cooldown = da.Cooldown
	}
	if o.Learn <= 0 {
		o.Learn = d.Learn
	}
	setD(&o.MetricsInterval, d.MetricsInterval)
	setD(&o.StateInterval, d.StateInterval)
	setD(&o.SnapshotInterval, d.SnapshotInterval)
	setD(&o.AckTimeout, d.AckTimeout)
	setD(&o.FlushTimeout, d.FlushTimeout)
	if o.OutboxMaxBytes <= 0 {
		o.OutboxMaxBytes = d.OutboxMaxBytes
	}
	if o.WarmUp <= 0 {
		o.WarmUp = d.WarmUp
	}
	if o.MaxChallengers <= 0 {
		o.MaxChallengers = d.MaxChallengers
	}
	setD(&o.DriftMinGap, d.DriftMinGap)
	switch {
	case o.Stream.Lateness == 0:
		o.Stream.Lateness = d.Stream.Lateness
	case o.Stream.Lateness < 0:
		o.Stream.Lateness = 0
	}
	setD(&o.Stream.Idle, d.Stream.Idle)
	set(&o.LocalAlertTopic, d.LocalAlertTopic)
	if o.LocalAlertTopic == "none" {
		o.LocalAlertTopic = ""
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.newDetector == nil {
		o.newDetector = catalog.New
	}
	if o.restore == nil {
		o.restore = catalog.Restore
	}
	return o, nil
}
