package config

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestSigningFixtures(t *testing.T) {
	c, err := Load(filepath.Join("testdata", "signing", "production.yaml"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := Signing{Required: true, TrustedKeys: []string{"/etc/millwright/hub-trusted.pem"}, KeyFile: "/var/lib/millwright/agent.key"}
	if !reflect.DeepEqual(c.Signing, want) {
		t.Errorf("signing = %+v, want %+v", c.Signing, want)
	}
	if d := Default().Signing; d.Required || len(d.TrustedKeys) > 0 {
		t.Errorf("default signing %+v: want off (the demo needs no keys)", d)
	}
	for name, wantErr := range map[string]string{
		"required_no_keys.bad.yaml": "signing.trusted_keys: empty, but signing.required is true",
		"empty_path.bad.yaml":       "signing.trusted_keys[0]: empty path",
	} {
		t.Run(name, func(t *testing.T) {
			c, err := Load(filepath.Join("testdata", "signing", name))
			if err == nil {
				err = c.Validate()
			}
			if err == nil || !strings.Contains(err.Error(), wantErr) {
				t.Fatalf("Load(%s) = %v, want an error containing %q", name, err, wantErr)
			}
		})
	}
}
