package conf

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type withSecret struct {
	User     string `yaml:"user"`
	Password Secret `yaml:"password"`
}

func TestSecretSources(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	if err := os.WriteFile(good, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	loose := filepath.Join(dir, "loose")
	if err := os.WriteFile(loose, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MW_TEST_SECRET", "from-env")
	tests := []struct {
		name, yaml, want, wantErr string
	}{
		{"literal", "password: hunter2", "hunter2", ""},
		{"env", "password: env:MW_TEST_SECRET", "from-env", ""},
		{"env missing", "password: env:MW_TEST_NOT_SET_ANYWHERE", "", "MW_TEST_NOT_SET_ANYWHERE is not set"},
		{"file", "password: file:" + good, "from-file", ""},
		{"file loose", "password: file:" + loose, "", "mode 0644"},
		{"file missing", "password: file:" + filepath.Join(dir, "nope"), "", "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c withSecret
			err := Decode([]byte(tt.yaml), &c)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Password.Value(); got != tt.want {
				t.Fatalf("value = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSecretNeverPrinted(t *testing.T) {
	c := withSecret{User: "ops", Password: NewSecret("hunter2")}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "cfg", c, "pw", c.Password)
	slog.New(slog.NewTextHandler(&logged, nil)).Info("config", "pw", c.Password)
	outs := []string{
		fmt.Sprint(c), fmt.Sprintf("%v %+v %#v %s %q %x", c, c, c, c.Password, c.Password, c.Password),
		logged.String(),
	}
	if b, err := c.Password.MarshalText(); err != nil || string(b) != redacted {
		t.Fatalf("MarshalText = %q, %v", b, err)
	}
	for _, s := range outs {
		if strings.Contains(s, "hunter2") {
			t.Fatalf("secret printed: %s", s)
		}
	}
	if !strings.Contains(logged.String(), redacted) {
		t.Fatalf("log does not say redacted: %s", logged.String())
	}
}

func TestReadKeyFileRefusesNonRegular(t *testing.T) {
	if _, err := ReadKeyFile(t.TempDir()); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("err = %v", err)
	}
}
