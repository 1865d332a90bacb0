// Package config is the hub's typed configuration file. Defaults are filled
// in by Default, so the demo runs without a file; Load reads a YAML file
// strictly over them and validates the result.
package config

import (
	"millwright/hub/influx"
	"millwright/hub/ingest"
	"millwright/hub/routing"

	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	"millwright/internal/conf"
)

// Config is the whole hub configuration.
type Config struct {
	// DataDir holds the store (hub.db).
	DataDir string  `yaml:"data_dir"`
	HTTP    HTTP    `yaml:"http"`
	MQTT    MQTT    `yaml:"mqtt"`
	Store   Store   `yaml:"store"`
	Ingest  Ingest  `yaml:"ingest"`
	Rollout Rollout `yaml:"rollout"`
	// Influx, when its url is set, receives every model metric, alert and
	// drift event too (the embedded store stays the source of truth).
	Influx influx.Config `yaml:"influx"`
	// Routing sends alerts to technicians' channels (webhooks, MQTT
	// displays) beside the hub's own inbox, with escalation.
	Routing routing.Config `yaml:"routing"`
	// Auth is the login to the API and UI (hub/config/auth.go).
	Auth Auth `yaml:"auth"`
	// Signing signs commands and checks agents' snapshots (hub/config/signing.go).
	Signing Signing `yaml:"signing"`
	// PKI is the CA that enrols gateways (hub/config/tls.go).
	PKI PKI `yaml:"pki"`
	// StatusEvery is how often the status line is printed; 0 disables it.
	StatusEvery conf.Duration `yaml:"status_every"`
}

// HTTP is the API and UI server.
type HTTP struct {
	Listen string  `yaml:"listen"`
	TLS    HTTPTLS `yaml:"tls"` // HTTPS when set (hub/config/tls.go)
}

// MQTT is where agents connect.
type MQTT struct {
	// Listen is the embedded broker's TCP address, used when Broker is empty.
	Listen string `yaml:"listen"`
	// Broker is an external broker URL (tcp://host:1883); it replaces the
	// embedded broker.
	Broker string `yaml:"broker"`
	// ClientID is the hub's own client id at the broker. Replicas sharing
	// a broker need distinct ids.
	ClientID string `yaml:"client_id"`
	// SharedGroup subscribes through $share/<group>/… so that several hub
	// replicas on one external broker split the fleet's traffic. Empty means
	// "millwright-hub" with an external broker and none with the embedded
	// one; "none" turns it off.
	SharedGroup string `yaml:"shared_group"`
	// TLS is the embedded broker's mTLS listener (hub/config/tls.go).
	TLS MQTTTLS `yaml:"tls"`
	// Replica and ClientTLS: this replica at an external broker (hub/config/external.go).
	Replica   string    `yaml:"replica"`
	ClientTLS ClientTLS `yaml:"client_tls"`
}

// SharedGroupName resolves the SharedGroup default.
func (m MQTT) SharedGroupName() string {
	switch {
	case m.SharedGroup == "none":
		return ""
	case m.SharedGroup != "":
		return m.SharedGroup
	case m.Broker != "":
		return ingest.DefaultSharedGroup
	}
	return ""
}

// Store is the embedded database.
type Store struct {
	// Retention is how long metric points are kept.
	Retention conf.Duration `yaml:"retention"`
	// RetentionEvery is how often old points are deleted.
	RetentionEvery conf.Duration `yaml:"retention_every"`
}

// Ingest is the MQTT → store pipeline.
type Ingest struct {
	// Queue bounds messages waiting to be stored.
	Queue int `yaml:"queue"`
}

// Rollout is how challengers, promotions and staged rollouts run.
type Rollout struct {
	// Soak is how long each stage is watched by the health gates.
	Soak conf.Duration `yaml:"soak"`
	// Every is how often running rollouts are evaluated.
	Every conf.Duration `yaml:"every"`
	// CanaryPercent is the share of gateways in the stage after the canary.
	CanaryPercent int `yaml:"canary_percent"`
	// Baseline is the window before a stage whose alert rate the gate compares against.
	Baseline conf.Duration `yaml:"baseline"`
	// ResendAfter is how long a sent command waits for its answer before it is sent again.
	ResendAfter conf.Duration `yaml:"resend_after"`
	// MaxAttempts fails a command still unanswered after this many sends.
	MaxAttempts int         `yaml:"max_attempts"`
	Gates       Gates       `yaml:"gates"`
	AutoPromote AutoPromote `yaml:"auto_promote"`
}

// Gates are the health gates of a rollout stage.
type Gates struct {
	// AlertRateFactor and AlertRateMinJump: an asset fails when its new
	// champion alarms on more than factor × the old rate and by at least
	// the jump (alarmed vectors per vector).
	AlertRateFactor  float64 `yaml:"alert_rate_factor"`
	AlertRateMinJump float64 `yaml:"alert_rate_min_jump"`
	// MinVectors scored before the alert-rate gate judges.
	MinVectors int64 `yaml:"min_vectors"`
	// Silence fails an asset that sends no metrics this long after the change.
	Silence conf.Duration `yaml:"silence"`
	// IdleIntervals fails an asset whose new champion reports this many
	// metric intervals without scoring anything.
	IdleIntervals int64 `yaml:"idle_intervals"`
}

// AutoPromote promotes a challenger that beats its champion with
// confidence over Period. Off by default.
type AutoPromote struct {
	Enabled bool          `yaml:"enabled"`
	Period  conf.Duration `yaml:"period"`
}

// Default returns the configuration used when no file is given.
func Default() Config {
	return Config{
		DataDir: "./data/hub",
		HTTP:    HTTP{Listen: "127.0.0.1:8080"},
		MQTT:    MQTT{Listen: "127.0.0.1:1883", ClientID: "millwright-hub"},
		Store: Store{
			Retention:      conf.Duration(7 * 24 * time.Hour),
			RetentionEvery: conf.Duration(time.Hour),
		},
		Ingest: Ingest{Queue: 1024},
		Rollout: Rollout{
			Soak:          conf.Duration(30 * time.Minute),
			Every:         conf.Duration(15 * time.Second),
			CanaryPercent: 50,
			Baseline:      conf.Duration(24 * time.Hour),
			ResendAfter:   conf.Duration(time.Minute),
			MaxAttempts:   20,
			Gates: Gates{AlertRateFactor: 3, AlertRateMinJump: 0.01, MinVectors: 100,
				Silence: conf.Duration(5 * time.Minute), IdleIntervals: 3},
			AutoPromote: AutoPromote{Period: conf.Duration(7 * 24 * time.Hour)},
		},
		Influx:      influx.DefaultConfig(),
		Auth:        DefaultAuth(),
		StatusEvery: conf.Duration(5 * time.Second),
	}
}

// Load reads the file at path (none when empty) over the defaults and
// validates the result.
func Load(path string) (Config, error) { return LoadWith(path, nil) }

// plain is Config without its Validate method, to decode without validating.
type plain Config

// LoadWith is Load with override applied (e.g. command-line flags) after
// the file is read and before the result is validated.
func LoadWith(path string, override func(*Config)) (Config, error) {
	c := Default()
	if err := conf.Load(path, (*plain)(&c)); err != nil {
		return Config{}, err
	}
	if override != nil {
		override(&c)
	}
	if err := c.Validate(); err != nil {
		if path == "" {
			return Config{}, fmt.Errorf("config: %w", err)
		}
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Validate checks every field and names the first bad one.
func (c *Config) Validate() error {
	if c.DataDir == "" {
		return errors.New("data_dir: must not be empty")
	}
	if err := hostPort(c.HTTP.Listen); err != nil {
		return fmt.Errorf("http.listen: %w", err)
	}
	if c.MQTT.Broker == "" {
		if err := hostPort(c.MQTT.Listen); err != nil {
			return fmt.Errorf("mqtt.listen: %w", err)
		}
	} else if err := brokerURL(c.MQTT.Broker); err != nil {
		return fmt.Errorf("mqtt.broker: %w", err)
	}
	if c.MQTT.ClientID == "" {
		return errors.New("mqtt.client_id: must not be empty")
	}
	if c.Store.Retention.D() < time.Minute {
		return fmt.Errorf("store.retention: %v is under the minimum of 1m", c.Store.Retention.D())
	}
	if c.Store.RetentionEvery.D() < time.Second {
		return fmt.Errorf("store.retention_every: %v is under the minimum of 1s", c.Store.RetentionEvery.D())
	}
	if c.Ingest.Queue < 1 || c.Ingest.Queue > 1<<20 {
		return fmt.Errorf("ingest.queue: %d is outside 1..1048576", c.Ingest.Queue)
	}
	if err := c.Rollout.validate(); err != nil {
		return fmt.Errorf("rollout.%w", err)
	}
	if err := c.Influx.Validate(); err != nil {
		return err // names influx.<field> itself
	}
	if err := c.Routing.Validate(); err != nil {
		return err // names routing.<field> itself
	}
	if err := c.Auth.validate(c.HTTP.Listen); err != nil {
		return err
	}
	if err := c.Signing.validate(c.DataDir); err != nil {
		return err
	}
	if err := c.validateTLS(); err != nil {
		return err
	}
	if err := c.validateExternal(); err != nil {
		return err
	}
	if c.StatusEvery.D() < 0 {
		return fmt.Errorf("status_every: %v is negative", c.StatusEvery.D())
	}
	return nil
}

func hostPort(s string) error {
	if _, _, err := net.SplitHostPort(s); err != nil {
		return fmt.Errorf("%q is not host:port", s)
	}
	return nil
}

func brokerURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q: %w", s, err)
	}
	switch u.Scheme {
	case "tcp", "mqtt", "ssl", "tls", "mqtts", "ws", "wss":
	default:
		return fmt.Errorf("%q: scheme must be tcp, mqtt, ssl, tls, mqtts, ws or wss", s)
	}
	if u.Host == "" {
		return fmt.Errorf("%q: no host", s)
	}
	return nil
}

func (r *Rollout) validate() error {
	switch {
	case r.Soak.D() < time.Second:
		return fmt.Errorf("soak: %v is under the minimum of 1s", r.Soak.D())
	case r.Every.D() < 10*time.Millisecond:
		return fmt.Errorf("every: %v is under the minimum of 10ms", r.Every.D())
	case r.CanaryPercent < 1 || r.CanaryPercent > 100:
		return fmt.Errorf("canary_percent: %d is outside 1..100", r.CanaryPercent)
	case r.Baseline.D() < time.Minute:
		return fmt.Errorf("baseline: %v is under the minimum of 1m", r.Baseline.D())
	case r.ResendAfter.D() < time.Second:
		return fmt.Errorf("resend_after: %v is under the minimum of 1s", r.ResendAfter.D())
	case r.MaxAttempts < 1:
		return fmt.Errorf("max_attempts: %d is under 1", r.MaxAttempts)
	case r.Gates.AlertRateFactor < 1:
		return fmt.Errorf("gates.alert_rate_factor: %g is under 1", r.Gates.AlertRateFactor)
	case r.Gates.AlertRateMinJump < 0 || r.Gates.AlertRateMinJump > 1:
		return fmt.Errorf("gates.alert_rate_min_jump: %g is outside 0..1", r.Gates.AlertRateMinJump)
	case r.Gates.MinVectors < 1:
		return fmt.Errorf("gates.min_vectors: %d is under 1", r.Gates.MinVectors)
	case r.Gates.IdleIntervals < 1:
		return fmt.Errorf("gates.idle_intervals: %d is under 1", r.Gates.IdleIntervals)
	case r.Gates.Silence.D() < time.Second:
		return fmt.Errorf("gates.silence: %v is under the minimum of 1s", r.Gates.Silence.D())
	case r.AutoPromote.Period.D() < time.Hour:
		return fmt.Errorf("auto_promote.period: %v is under the minimum of 1h", r.AutoPromote.Period.D())
	}
	return nil
}
