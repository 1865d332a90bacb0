package sign_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"millwright/internal/sign"
)

func TestKeyFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "agent.key")
	s, created, err := sign.LoadOrCreateSigner(path)
	if err != nil || !created {
		t.Fatalf("LoadOrCreateSigner = %v, %v", created, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("private key mode %v, want 0600", st.Mode().Perm())
	}
	again, created, err := sign.LoadOrCreateSigner(path)
	if err != nil || created || again.KeyID() != s.KeyID() {
		t.Fatalf("second LoadOrCreateSigner = %v, %v, %v", again, created, err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := sign.LoadOrCreateSigner(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("loose key file: %v, want a refusal", err)
	}
	if err := sign.WritePrivateKey(path, make([]byte, 64)); err == nil {
		t.Fatal("WritePrivateKey replaced an existing key")
	}
	if strings.Contains(s.String(), "PRIVATE") || !strings.Contains(s.String(), s.KeyID()) {
		t.Fatalf("String() = %q", s.String())
	}
}

func TestParsePublicKeys(t *testing.T) {
	a, b := newSigner(t), newSigner(t)
	pem, err := sign.EncodePublicKeys(a.Public(), b.Public())
	if err != nil {
		t.Fatal(err)
	}
	keys, err := sign.ParsePublicKeys(pem)
	if err != nil || len(keys) != 2 || sign.KeyID(keys[1]) != b.KeyID() {
		t.Fatalf("ParsePublicKeys = %d keys, %v", len(keys), err)
	}
	for _, bad := range []string{"", "not pem", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"} {
		if _, err := sign.ParsePublicKeys([]byte(bad)); err == nil {
			t.Errorf("ParsePublicKeys(%q) succeeded", bad)
		}
	}
}

func TestDirRotation(t *testing.T) {
	d := sign.Dir{Path: filepath.Join(t.TempDir(), "keys")}
	first, created, err := d.Ensure()
	if err != nil || !created {
		t.Fatalf("Ensure = %v, %v", created, err)
	}
	if again, created, err := d.Ensure(); err != nil || created || again.KeyID() != first.KeyID() {
		t.Fatalf("second Ensure = %v, %v, %v", again, created, err)
	}
	next, err := d.Generate()
	if err != nil {
		t.Fatal(err)
	}
	trusted, err := sign.LoadKeyring(d.BundlePath())
	if err != nil {
		t.Fatal(err)
	}
	if trusted.Len() != 2 {
		t.Fatalf("bundle trusts %v, want both keys", trusted.IDs())
	}
	if s, _ := d.Active(); s.KeyID() != first.KeyID() {
		t.Fatal("a generated key became active by itself")
	}
	if err := d.Activate(next); err != nil {
		t.Fatal(err)
	}
	if s, _ := d.Active(); s.KeyID() != next {
		t.Fatalf("active %s, want %s", s.KeyID(), next)
	}
	if err := d.Retire(next); err == nil {
		t.Fatal("retired the active key")
	}
	if err := d.Retire(first.KeyID()); err != nil {
		t.Fatal(err)
	}
	list, err := d.List()
	if err != nil || len(list) != 1 || list[0].ID != next || !list[0].Active {
		t.Fatalf("List = %+v, %v", list, err)
	}
	trusted, err = sign.LoadKeyring(d.BundlePath())
	if err != nil || trusted.Len() != 1 {
		t.Fatalf("bundle after retire: %v, %v", trusted, err)
	}
	if err := d.Activate(first.KeyID()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Activate(retired) = %v", err)
	}
}
