package pki_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"millwright/internal/pki"
)

// clock is a settable clock for Options.Now.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *clock) Now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *clock) Add(d time.Duration) { c.ns.Add(int64(d)) }
func openCA(t *testing.T, dir string, c *clock) *pki.Authority {
	t.Helper()
	a, err := pki.Open(dir, pki.Options{Now: c.Now, Validity: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func csrFor(t *testing.T, name string) []byte {
	t.Helper()
	key, err := pki.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	b, err := pki.NewCSR(key, name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOpenCreatesThenLoads(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	c := newClock()
	a := openCA(t, dir, c)
	st, err := os.Stat(filepath.Join(dir, pki.CAKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if perm := st.Mode().Perm(); perm != 0o600 {
		t.Fatalf("ca.key mode %o, want 600", perm)
	}
	b := openCA(t, dir, c)
	if a.Fingerprint() != b.Fingerprint() {
		t.Fatal("reopening made a new CA")
	}
	if !b.Certificate().IsCA {
		t.Fatal("CA certificate is not a CA")
	}
	// A key file others may read is refused.
	if err := os.Chmod(filepath.Join(dir, pki.CAKeyFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := pki.Open(dir, pki.Options{}); err == nil || !strings.Contains(err.Error(), "key file") {
		t.Fatalf("Open with a 0644 CA key: err = %v, want a refusal", err)
	}
}

func TestEnroll(t *testing.T) {
	c := newClock()
	a := openCA(t, t.TempDir(), c)
	tokenFor := func(gw string, ttl time.Duration) string {
		tok, _, err := a.NewToken(gw, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	used := tokenFor("gw1", time.Hour)
	if _, err := a.Enroll(used, csrFor(t, "gw1")); err != nil {
		t.Fatal(err)
	}
	expired := tokenFor("gw1", time.Minute)
	c.Add(2 * time.Minute)

	tests := []struct {
		name  string
		token string
		csr   []byte
		want  error
	}{
		{"ok", tokenFor("gw1", time.Hour), csrFor(t, "gw1"), nil},
		{"token with blanks around", " " + tokenFor("gw1", time.Hour) + "\n", csrFor(t, "gw1"), nil},
		{"used", used, csrFor(t, "gw1"), pki.ErrTokenUsed},
		{"expired", expired, csrFor(t, "gw1"), pki.ErrTokenExpired},
		{"unknown", "mwe_nope", csrFor(t, "gw1"), pki.ErrTokenUnknown},
		{"huge token", strings.Repeat("x", 1000), csrFor(t, "gw1"), pki.ErrTokenUnknown},
		{"other gateway", tokenFor("gw1", time.Hour), csrFor(t, "gw2"), pki.ErrNameMismatch},
		{"hub identity", tokenFor("gw1", time.Hour), csrFor(t, "hub"), pki.ErrNameMismatch},
		{"garbage CSR", tokenFor("gw1", time.Hour), []byte("hello"), pki.ErrBadCSR},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			certPEM, err := a.Enroll(tt.token, tt.csr)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Enroll: err = %v, want %v", err, tt.want)
			}
			if tt.want != nil {
				return
			}
			certs, err := pki.ParseCertificates(certPEM)
			if err != nil {
				t.Fatal(err)
			}
			cert := certs[0]
			if cert.Subject.CommonName != "gw1" {
				t.Fatalf("CN %q", cert.Subject.CommonName)
			}
			if _, err := cert.Verify(x509.VerifyOptions{Roots: a.Pool(), CurrentTime: c.Now(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
				t.Fatalf("verify: %v", err)
			}
			if got := cert.NotAfter.Sub(c.Now()); got > 24*time.Hour || got < 23*time.Hour {
				t.Fatalf("validity %v, want the configured 24h", got)
			}
		})
	}
	// A token works once even when its first use failed for another reason.
	tok := tokenFor("gw3", time.Hour)
	if _, err := a.Enroll(tok, csrFor(t, "gw4")); !errors.Is(err, pki.ErrNameMismatch) {
		t.Fatal(err)
	}
	if _, err := a.Enroll(tok, csrFor(t, "gw3")); err != nil {
		t.Fatalf("a refused request spent the token: %v", err)
	}
}

func TestTokensStoredHashed(t *testing.T) {
	dir := t.TempDir()
	a := openCA(t, dir, newClock())
	tok, _, err := a.NewToken("gw1", 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "tokens.json"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), strings.TrimPrefix(tok, "mwe_")) {
		t.Fatal("tokens.json holds the token in clear")
	}
	if !strings.Contains(string(b), "gw1") {
		t.Fatal("tokens.json does not name the gateway")
	}
	for _, gw := range []string{"hub", "hub-1", "a/b", ""} {
		if _, _, err := a.NewToken(gw, 0); err == nil {
			t.Errorf("NewToken(%q): want an error", gw)
		}
	}
}

func TestTokensConcurrent(t *testing.T) {
	a := openCA(t, t.TempDir(), newClock())
	var wg sync.WaitGroup
	toks := make([]string, 8)
	for i := range toks {
		wg.Go(func() {
			tok, _, err := a.NewToken("gw1", 0)
			if err != nil {
				t.Error(err)
			}
			toks[i] = tok
		})
	}
	wg.Wait()
	for _, tok := range toks {
		if _, err := a.Enroll(tok, csrFor(t, "gw1")); err != nil {
			t.Fatalf("a token made concurrently was lost: %v", err)
		}
	}
}

func TestRevoke(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	a := openCA(t, dir, c)
	hub := openCA(t, dir, c) // the running hub, another process in real life
	issue := func(name string) *x509.Certificate {
		certPEM, _, err := a.IssueKeyPair(pki.Request{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		certs, err := pki.ParseCertificates(certPEM)
		if err != nil {
			t.Fatal(err)
		}
		return certs[0]
	}
	gw1a, gw1b, gw2 := issue("gw1"), issue("gw1"), issue("gw2")
	serials, err := a.Revoke("gw1")
	if err != nil {
		t.Fatal(err)
	}
	if len(serials) != 2 {
		t.Fatalf("revoked %d certificates of gw1, want 2", len(serials))
	}
	if !a.Revoked(gw1a) || !a.Revoked(gw1b) || a.Revoked(gw2) {
		t.Fatal("Revoked disagrees with Revoke")
	}
	if hub.Revoked(gw1a) {
		t.Fatal("the other instance saw the revocation before reloading")
	}
	changed, err := hub.Reload()
	if err != nil || !changed {
		t.Fatalf("Reload = %v, %v; want a change", changed, err)
	}
	if !hub.Revoked(gw1a) || hub.Revoked(gw2) {
		t.Fatal("the other instance disagrees after Reload")
	}
	if changed, _ := hub.Reload(); changed {
		t.Fatal("Reload without a change said changed")
	}
	if _, err := a.Revoke("gw1"); !errors.Is(err, pki.ErrNothingToRevoke) {
		t.Fatalf("second Revoke: %v, want ErrNothingToRevoke", err)
	}
	if _, err := a.Revoke("nobody"); !errors.Is(err, pki.ErrNothingToRevoke) {
		t.Fatalf("Revoke of an unknown name: %v", err)
	}
	// A revoked gateway enrols again with a new key: its new certificate is good.
	if again := issue("gw1"); a.Revoked(again) {
		t.Fatal("a certificate issued after the revocation is revoked")
	}

	// The CRL says the same, signed by the CA.
	b, err := os.ReadFile(a.CRLPath())
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	crl, err := x509.ParseRevocationList(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := crl.CheckSignatureFrom(a.Certificate()); err != nil {
		t.Fatalf("CRL signature: %v", err)
	}
	got := map[string]bool{}
	for _, e := range crl.RevokedCertificateEntries {
		got[e.SerialNumber.String()] = true
	}
	if !got[gw1a.SerialNumber.String()] || !got[gw1b.SerialNumber.String()] || got[gw2.SerialNumber.String()] {
		t.Fatalf("CRL lists %v", got)
	}
	if !crl.NextUpdate.After(c.Now().Add(7 * 24 * time.Hour)) {
		t.Fatalf("CRL NextUpdate %v is too soon", crl.NextUpdate)
	}
}

func TestParseCSRLimits(t *testing.T) {
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaSmall, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(key crypto.Signer, name string) []byte {
		b, err := pki.NewCSR(key, name)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	good := csrFor(t, "gw1")
	block, _ := pem.Decode(good)
	tampered := slices.Clone(block.Bytes)
	tampered[len(tampered)-5] ^= 0xff // inside the signature
	tests := []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"p256", good, true},
		{"p384", mk(p384, "gw1"), true},
		{"ed25519", mk(ed, "gw1"), true},
		{"p224 refused", mk(p224, "gw1"), false},
		{"rsa 1024 refused", mk(rsaSmall, "gw1"), false},
		{"bad CommonName", mk(p384, "gw/1"), false},
		{"empty CommonName", mk(p384, ""), false},
		{"bad signature", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: tampered}), false},
		{"wrong block type", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: block.Bytes}), false},
		{"trailing data", append(slices.Clone(good), "junk"...), false},
		{"trailing newline", append(slices.Clone(good), "\n\n"...), true},
		{"too big", append(slices.Clone(good), make([]byte, pki.MaxCSRSize)...), false},
		{"empty", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			csr, err := pki.ParseCSR(tt.in)
			if tt.ok != (err == nil) {
				t.Fatalf("ParseCSR: err = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, pki.ErrBadCSR) {
				t.Fatalf("error %v does not wrap ErrBadCSR", err)
			}
			if err == nil && csr.Subject.CommonName != "gw1" {
				t.Fatalf("CN %q", csr.Subject.CommonName)
			}
		})
	}
}

func FuzzParseCSR(f *testing.F) {
	key, err := pki.GenerateKey()
	if err != nil {
		f.Fatal(err)
	}
	good, err := pki.NewCSR(key, "gw1")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		csr, err := pki.ParseCSR(b)
		if err != nil {
			if !errors.Is(err, pki.ErrBadCSR) {
				t.Fatalf("error %v does not wrap ErrBadCSR", err)
			}
			return
		}
		// What is accepted round-trips: the same DER, re-encoded, parses
		// to the same name.
		again, err := pki.ParseCSR(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr.Raw}))
		if err != nil {
			t.Fatalf("re-encoded accepted CSR refused: %v", err)
		}
		if again.Subject.CommonName != csr.Subject.CommonName {
			t.Fatalf("CN %q became %q", csr.Subject.CommonName, again.Subject.CommonName)
		}
	})
}

func TestWatchRevocations(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	cli := openCA(t, dir, c) // `hub revoke`, another process in real life
	hub := openCA(t, dir, c)
	certPEM, _, err := cli.IssueKeyPair(pki.Request{Name: "gw1"})
	if err != nil {
		t.Fatal(err)
	}
	certs, err := pki.ParseCertificates(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	changed := make(chan struct{}, 4)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		hub.WatchRevocations(ctx, 5*time.Millisecond, func() { changed <- struct{}{} }, func(err error) { t.Error(err) })
	}()
	t.Cleanup(func() { cancel(); <-done })
	if _, err := cli.Revoke("gw1"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	case <-time.After(10 * time.Second):
		t.Fatal("the watch did not see the revocation")
	}
	if !hub.Revoked(certs[0]) {
		t.Fatal("onChange ran before the list was in force")
	}
}
