package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"millwright/internal/sign"
)

func TestKeysCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	run := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		if err := runKeys(append(args, "--dir", dir), &out); err != nil {
			t.Fatalf("hub keys %v: %v", args, err)
		}
		return out.String()
	}
	if out := run("generate"); !strings.Contains(out, "generated and activated") {
		t.Fatalf("first generate: %s", out)
	}
	first, err := sign.Dir{Path: dir}.Active()
	if err != nil {
		t.Fatal(err)
	}
	run("rotate")
	second, err := sign.Dir{Path: dir}.Active()
	if err != nil || second.KeyID() == first.KeyID() {
		t.Fatalf("rotate left %v active (%v)", second, err)
	}
	if out := run("list"); !strings.Contains(out, first.KeyID()) || !strings.Contains(out, second.KeyID()+"  true") {
		t.Fatalf("list:\n%s", out)
	}
	run("retire", first.KeyID())
	ring, err := sign.LoadKeyring(sign.Dir{Path: dir}.BundlePath())
	if err != nil || ring.Len() != 1 {
		t.Fatalf("bundle after retire: %v, %v", ring, err)
	}
	var out bytes.Buffer
	if err := runKeys([]string{"activate", "--dir", dir}, &out); err == nil {
		t.Fatal("activate without an id succeeded")
	}
}
