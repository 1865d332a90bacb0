// Package conf loads Millwright's YAML configuration files strictly: an
// unknown field is an error naming the field, its line and the file, and
// units parse themselves (Duration, ByteSize).
package conf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// MaxFileSize bounds a configuration file.
const MaxFileSize = 1 << 20

// Validator is a configuration that checks itself after loading. Validate
// returns an error naming the offending field.
type Validator interface {
	Validate() error
}

// Load reads the YAML file at path into dst, which holds the defaults on
// entry. An empty path leaves dst as it is (and still validates it).
func Load(path string, dst any) error {
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("read config: %w", err)
		}
		if err := Decode(b, dst); err != nil {
			return fmt.Errorf("config %s: %w", path, err)
		}
	}
	if v, ok := dst.(Validator); ok {
		if err := v.Validate(); err != nil {
			if path == "" {
				return fmt.Errorf("config (defaults): %w", err)
			}
			return fmt.Errorf("config %s: %w", path, err)
		}
	}
	return nil
}

// Decode parses YAML bytes into dst strictly. Unknown fields are errors.
func Decode(b []byte, dst any) error {
	if len(b) > MaxFileSize {
		return fmt.Errorf("%d bytes, limit %d", len(b), MaxFileSize)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(dst); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return errors.New(strings.Join(te.Errors, "; "))
		}
		return err
	}
	return nil
}

// Duration is a time.Duration that reads "250ms", "5s", "1h30m".
type Duration time.Duration

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("duration %q: want a number with a unit such as 500ms, 10s, 5m", b)
	}
	*d = Duration(v)
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// ByteSize is a size in bytes that reads "512", "64KiB", "10MB", "1GiB".
type ByteSize int64

var byteUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1},
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *ByteSize) UnmarshalText(b []byte) error {
	str := strings.TrimSpace(string(b))
	mult := int64(1)
	for _, u := range byteUnits {
		if strings.HasSuffix(str, u.suffix) {
			str, mult = strings.TrimSpace(strings.TrimSuffix(str, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(str, 10, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("size %q: want a whole number with an optional unit such as 64KiB, 10MB", b)
	}
	*s = ByteSize(n * mult)
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (s ByteSize) MarshalText() ([]byte, error) { return []byte(strconv.FormatInt(int64(s), 10)), nil }
