package config_test

import (
	"path/filepath"
	"strings"
	"testing"

	"millwright/hub/config"
)

func TestSigning(t *testing.T) {
	d := config.Default()
	if d.Signing.Disabled || d.Signing.RequireAgentSignatures || d.Signing.Dir(d.DataDir) != filepath.Join(d.DataDir, "keys") {
		t.Fatalf("default signing %+v: want on, keys in <data_dir>/keys, agent signatures not required", d.Signing)
	}
	c, err := config.Load(filepath.Join("testdata", "signing", "production.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Signing.RequireAgentSignatures || c.Signing.Dir(c.DataDir) != "/etc/millwright/keys" {
		t.Fatalf("signing = %+v", c.Signing)
	}
	_, err = config.Load(filepath.Join("testdata", "signing", "key-dir-is-data-dir.bad.yaml"))
	if err == nil || !strings.Contains(err.Error(), "signing.key_dir") {
		t.Fatalf("key dir = data dir: %v, want a signing.key_dir error", err)
	}
}
