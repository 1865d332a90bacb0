package influx

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"millwright/internal/conf"
)

// Config is the influx section of the hub configuration. An empty URL
// disables InfluxDB.
type Config struct {
	URL             string `yaml:"url"`
	Database        string `yaml:"database"`
	RetentionPolicy string `yaml:"retention_policy"`
	Username        string `yaml:"username"`
	Password        Secret `yaml:"password"`
	// MaxPoints and MaxBytes bound the queue of points not yet written.
	MaxPoints   int           `yaml:"max_points"`
	MaxBytes    conf.ByteSize `yaml:"max_bytes"`
	BatchPoints int           `yaml:"batch_points"`
	FlushEvery  conf.Duration `yaml:"flush_every"`
	RetryMax    conf.Duration `yaml:"retry_max"`
	// BackfillOnStart re-reads this much of the store's recent points at
	// start (what the last run had not written yet); 0 disables it.
	BackfillOnStart conf.Duration `yaml:"backfill_on_start"`
}

// DefaultConfig is the configuration when the file sets nothing: disabled,
// with the defaults that apply once a URL is set.
func DefaultConfig() Config {
	return Config{
		Database:        "millwright",
		MaxPoints:       DefaultMaxPoints,
		MaxBytes:        DefaultMaxBytes,
		BatchPoints:     DefaultBatchPoints,
		FlushEvery:      conf.Duration(DefaultFlushEvery),
		RetryMax:        conf.Duration(DefaultRetryMax),
		BackfillOnStart: conf.Duration(time.Hour),
	}
}

// Enabled reports whether a URL is set.
func (c *Config) Enabled() bool { return c.URL != "" }

// Validate checks the configuration and names the first bad field.
func (c *Config) Validate() error {
	if !c.Enabled() {
		return nil
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("influx.url: %q is not an http(s) URL", c.URL)
	}
	if c.Database == "" {
		return errors.New("influx.database: must not be empty")
	}
	if c.MaxPoints < 1 || c.MaxPoints > 1<<24 {
		return fmt.Errorf("influx.max_points: %d is outside 1..16777216", c.MaxPoints)
	}
	if c.MaxBytes < 64<<10 {
		return fmt.Errorf("influx.max_bytes: %d is under the minimum of 64KiB", c.MaxBytes)
	}
	if c.BatchPoints < 1 || c.BatchPoints > c.MaxPoints {
		return fmt.Errorf("influx.batch_points: %d is outside 1..max_points", c.BatchPoints)
	}
	if c.FlushEvery.D() < time.Millisecond {
		return fmt.Errorf("influx.flush_every: %v is under the minimum of 1ms", c.FlushEvery.D())
	}
	if c.RetryMax.D() < time.Second {
		return fmt.Errorf("influx.retry_max: %v is under the minimum of 1s", c.RetryMax.D())
	}
	if c.BackfillOnStart.D() < 0 {
		return fmt.Errorf("influx.backfill_on_start: %v is negative", c.BackfillOnStart.D())
	}
	return nil
}

// Options maps the configuration onto Writer options; the caller adds
// Source, Logger and Registerer.
func (c *Config) Options() Options {
	return Options{
		URL: c.URL, Database: c.Database, RetentionPolicy: c.RetentionPolicy,
		Username: c.Username, Password: string(c.Password),
		MaxPoints: c.MaxPoints, MaxBytes: int(c.MaxBytes), BatchPoints: c.BatchPoints,
		FlushEvery: c.FlushEvery.D(), RetryMax: c.RetryMax.D(), BackfillOnStart: c.BackfillOnStart.D(),
	}
}

// Secret is a password that logs and prints redacted.
type Secret string

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// String redacts a non-empty secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "<redacted>"
}
