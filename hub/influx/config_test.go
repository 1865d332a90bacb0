package influx

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"millwright/internal/conf"
)

func TestConfig(t *testing.T) {
	good := DefaultConfig()
	good.URL = "http://influx:8086"
	cases := []struct {
		name string
		edit func(*Config)
		err  string
	}{
		{"disabled", func(c *Config) { c.URL = "" }, ""},
		{"enabled", func(*Config) {}, ""},
		{"bad url", func(c *Config) { c.URL = "influx:8086" }, "influx.url"},
		{"no database", func(c *Config) { c.Database = "" }, "influx.database"},
		{"zero queue", func(c *Config) { c.MaxPoints = 0 }, "influx.max_points"},
		{"tiny bytes", func(c *Config) { c.MaxBytes = 10 }, "influx.max_bytes"},
		{"batch over queue", func(c *Config) { c.BatchPoints = c.MaxPoints + 1 }, "influx.batch_points"},
		{"fast flush", func(c *Config) { c.FlushEvery = 0 }, "influx.flush_every"},
		{"short retry", func(c *Config) { c.RetryMax = conf.Duration(1) }, "influx.retry_max"},
		{"negative backfill", func(c *Config) { c.BackfillOnStart = -1 }, "influx.backfill_on_start"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := good
			c.edit(&cfg)
			err := cfg.Validate()
			if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
				t.Fatalf("err = %v, want %q", err, c.err)
			}
		})
	}
	src := "url: http://127.0.0.1:8086\ndatabase: mw\npassword: hunter2\nmax_bytes: 8MiB\nflush_every: 2s\n"
	cfg := DefaultConfig()
	if err := conf.Decode([]byte(src), &cfg); err != nil {
		t.Fatal(err)
	}
	o := cfg.Options()
	if o.Database != "mw" || o.Password != "hunter2" || o.MaxBytes != 8<<20 || o.FlushEvery.Seconds() != 2 || o.MaxPoints != DefaultMaxPoints {
		t.Fatalf("options = %+v", o)
	}
	var b strings.Builder
	slog.New(slog.NewTextHandler(&b, nil)).Info("cfg", "password", cfg.Password)
	if strings.Contains(b.String(), "hunter2") || strings.Contains(fmt.Sprint(cfg.Password), "hunter2") {
		t.Fatalf("password printed: %s", b.String())
	}
}
