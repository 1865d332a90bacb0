package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"millwright/internal/conf"
	"millwright/internal/pki"
)

// runEnroll gets the gateway its certificate: it makes a key pair here
// (the private key never leaves the gateway), sends a certificate signing
// request with the one-time token `hub enroll` printed, and writes the key
// (0600), the certificate and the hub CA into --dir.
func runEnroll(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("agent enroll", flag.ContinueOnError)
	hub := fs.String("hub", "", "hub `url`, https://host:port (http only to a loopback address)")
	var token conf.Secret
	fs.TextVar(&token, "token", conf.Secret{}, "one-time enrolment `token` from hub enroll; env:NAME or file:PATH keep it off the command line")
	gateway := fs.String("gateway", "", "gateway `id` the token was issued for")
	dir := fs.String("dir", ".", "`dir`ectory for ca.crt, <gateway>.crt and <gateway>.key")
	hubCA := fs.String("hub-ca", "", "PEM `file` of the CA that signed the hub's HTTPS certificate (default: the system's)")
	caHash := fs.String("ca-hash", "", "SHA-256 (`hex`) of the hub CA, as hub enroll printed it: the CA received is refused unless it matches")
	force := fs.Bool("force", false, "replace an existing key and certificate")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("enroll: unexpected arguments %q", fs.Args())
	}
	if *hub == "" || token.IsZero() || *gateway == "" {
		return errors.New("enroll: --hub, --token and --gateway are required")
	}
	endpoint, err := enrollURL(*hub)
	if err != nil {
		return err
	}
	keyPath := filepath.Join(*dir, *gateway+".key")
	certPath := filepath.Join(*dir, *gateway+".crt")
	caPath := filepath.Join(*dir, "ca.crt")
	if _, err := os.Stat(keyPath); err == nil && !*force {
		return fmt.Errorf("enroll: %s exists; --force replaces it", keyPath)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	switch {
	case *hubCA != "":
		pool, err := pki.LoadPool(*hubCA)
		if err != nil {
			return fmt.Errorf("enroll: --hub-ca: %w", err)
		}
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	case *caHash != "":
		client.Transport = &http.Transport{TLSClientConfig: pinnedTLS(*caHash)}
	}

	key, err := pki.GenerateKey()
	if err != nil {
		return err
	}
	csr, err := pki.NewCSR(key, *gateway)
	if err != nil {
		return err
	}
	certPEM, caPEM, err := requestCert(ctx, client, endpoint, token.Value(), csr)
	if err != nil {
		return err
	}
	caCert, err := checkIssued(certPEM, caPEM, *gateway, key.Public(), *caHash)
	if err != nil {
		return err
	}
	keyPEM, err := pki.EncodeKey(key)
	if err != nil {
		return err
	}
	if err := pki.WriteKeyFile(keyPath, keyPEM); err != nil {
		return err
	}
	if err := pki.WriteFile(certPath, certPEM); err != nil {
		return err
	}
	if err := pki.WriteFile(caPath, caPEM); err != nil {
		return err
	}
	for _, p := range []*string{&keyPath, &certPath, &caPath} {
		if abs, err := filepath.Abs(*p); err == nil {
			*p = abs
		}
	}
	host := "HUB-HOST"
	if u, err := url.Parse(endpoint); err == nil {
		host = u.Hostname()
	}
	fmt.Fprintf(out, "enrolled %s: certificate %s (key %s, hub CA %s, sha256 %s)\n\nin the agent's config:\n\n", *gateway, certPath, keyPath, caPath, pki.Fingerprint(caCert))
	fmt.Fprintf(out, "  gateway: %s\n  broker: mqtts://%s\n  mqtt:\n    tls: {ca: %s, cert: %s, key: %s}\n", *gateway, net.JoinHostPort(host, "8883"), caPath, certPath, keyPath)
	return nil
}

// enrollURL checks the hub URL: https, or http to a loopback address only
// (the token would cross the network in clear).
func enrollURL(hub string) (string, error) {
	u, err := url.Parse(hub)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("enroll: --hub %q: want https://host:port", hub)
	}
	switch u.Scheme {
	case "https":
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return "", fmt.Errorf("enroll: --hub %q: plain http only to a loopback address; the token would travel in clear", hub)
		}
	default:
		return "", fmt.Errorf("enroll: --hub %q: want https://", hub)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/api/v1/enroll"
	return u.String(), nil
}

func requestCert(ctx context.Context, client *http.Client, endpoint, token string, csr []byte) (certPEM, caPEM []byte, err error) {
	body, err := json.Marshal(map[string]string{"token": token, "csr": string(csr)})
	if err != nil {
		return nil, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, nil, fmt.Errorf("enroll: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("enroll: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("enroll: reading the answer: %w", err)
	}
	var r struct {
		Certificate string `json:"certificate"`
		CA          string `json:"ca"`
		Error       string `json:"error"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, nil, fmt.Errorf("enroll: hub answered %s: %.200q", resp.Status, b)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("enroll: hub refused (%s): %s", resp.Status, r.Error)
	}
	return []byte(r.Certificate), []byte(r.CA), nil
}

// checkIssued makes sure the hub sent what was asked for: a client
// certificate for gateway and our key, chaining to the CA it sent, and
// that CA the one the operator expects when caHash is given.
func checkIssued(certPEM, caPEM []byte, gateway string, pub crypto.PublicKey, caHash string) (*x509.Certificate, error) {
	cas, err := pki.ParseCertificates(caPEM)
	if err != nil || len(cas) != 1 {
		return nil, fmt.Errorf("enroll: the hub's CA certificate: want one, %v", err)
	}
	ca := cas[0]
	if caHash != "" && !strings.EqualFold(strings.TrimPrefix(caHash, "sha256:"), pki.Fingerprint(ca)) {
		return nil, fmt.Errorf("enroll: the hub's CA has SHA-256 %s, not the expected %s: refusing it", pki.Fingerprint(ca), caHash)
	}
	certs, err := pki.ParseCertificates(certPEM)
	if err != nil {
		return nil, fmt.Errorf("enroll: the certificate: %w", err)
	}
	cert := certs[0]
	if cert.Subject.CommonName != gateway {
		return nil, fmt.Errorf("enroll: the certificate is for %q, not %q", cert.Subject.CommonName, gateway)
	}
	if k, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !k.Equal(pub) {
		return nil, errors.New("enroll: the certificate is not for the key made here")
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return nil, fmt.Errorf("enroll: the certificate does not verify against the hub's CA: %w", err)
	}
	return ca, nil
}

// pinnedTLS trusts the hub's HTTPS certificate when it chains to a CA,
// sent along in the handshake, whose SHA-256 is hash: the hub CA, as `hub
// enroll` printed it (a hub with http.tls.hosts sends it). Nothing else
// needs to be on the gateway beforehand.
func pinnedTLS(hash string) *tls.Config {
	want := strings.ToLower(strings.TrimPrefix(hash, "sha256:"))
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// The default verification needs the CA up front; VerifyConnection
		// below does it with the pinned CA instead (crypto/tls's
		// Config.VerifyConnection example).
		InsecureSkipVerify: true, //nolint:gosec // verified in VerifyConnection
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the hub sent no certificate")
			}
			for _, c := range cs.PeerCertificates[1:] {
				if pki.Fingerprint(c) != want {
					continue
				}
				roots := x509.NewCertPool()
				roots.AddCert(c)
				_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, DNSName: cs.ServerName,
					KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
				if err != nil {
					return fmt.Errorf("the hub's certificate: %w", err)
				}
				return nil
			}
			return fmt.Errorf("the hub's HTTPS certificate does not come with the CA of SHA-256 %s (use --hub-ca FILE)", want)
		},
	}
}
