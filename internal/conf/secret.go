package conf

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

// redacted is what a Secret prints in place of its value, everywhere.
const redacted = "[redacted]"

// MaxKeyFileSize bounds a key, certificate or secret file.
const MaxKeyFileSize = 1 << 20

// Secret is a configuration value that must never be printed: a password,
// a token, a private key. In YAML it is written as one of
//
//	literal-value        the value itself (fine for the demo, not for production)
//	env:NAME             read from the environment variable NAME at load
//	file:PATH            read from PATH, which must not be readable by group
//	                     or others; one trailing newline is trimmed
//
// A Secret prints as "[redacted]" through fmt, log/slog (it is a
// slog.LogValuer) and encoding (MarshalText gives the reference, never the
// value), so a config struct may be logged whole.
type Secret struct {
	v   string
	ref string // "env:NAME", "file:PATH" or "" for a literal
}

// NewSecret wraps a literal value, for tests and programmatic configs.
func NewSecret(v string) Secret { return Secret{v: v} }

// UnmarshalText resolves env: and file: references.
func (s *Secret) UnmarshalText(b []byte) error {
	raw := string(b)
	switch {
	case strings.HasPrefix(raw, "env:"):
		name := strings.TrimPrefix(raw, "env:")
		v, ok := os.LookupEnv(name)
		if !ok || v == "" {
			return fmt.Errorf("secret: environment variable %s is not set", name)
		}
		*s = Secret{v: v, ref: raw}
	case strings.HasPrefix(raw, "file:"):
		path := strings.TrimPrefix(raw, "file:")
		v, err := ReadKeyFile(path)
		if err != nil {
			return fmt.Errorf("secret: %w", err)
		}
		v = bytes.TrimSuffix(v, []byte("\n"))
		v = bytes.TrimSuffix(v, []byte("\r"))
		*s = Secret{v: string(v), ref: raw}
	default:
		*s = Secret{v: raw}
	}
	return nil
}

// MarshalText gives the reference the secret was loaded from, or
// "[redacted]" for a literal: never the value.
func (s Secret) MarshalText() ([]byte, error) {
	if s.ref != "" {
		return []byte(s.ref), nil
	}
	if s.v == "" {
		return nil, nil
	}
	return []byte(redacted), nil
}

// Value is the secret itself. Call it only where the value is used.
func (s Secret) Value() string { return s.v }

// IsZero reports whether no secret was given.
func (s Secret) IsZero() bool { return s.v == "" }

// String is "[redacted]" (or empty when unset).
func (s Secret) String() string {
	if s.v == "" {
		return ""
	}
	return redacted
}

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return "conf.Secret(" + s.String() + ")" }

// Format keeps every fmt verb from printing the value.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.String()) }

// LogValue makes log/slog print "[redacted]".
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// ReadKeyFile reads a private key or secret file, refusing one that group
// or others may read or write (mode must be 0600 or stricter, as ssh does)
// and one larger than MaxKeyFileSize.
func ReadKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("key file %s: not a regular file", path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("key file %s has mode %04o: group or others may access it; run chmod 600 %s", path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	if len(b) > MaxKeyFileSize {
		return nil, fmt.Errorf("key file %s: larger than %d bytes", path, MaxKeyFileSize)
	}
	return b, nil
}
