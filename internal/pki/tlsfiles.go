package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"millwright/internal/conf"
)

// LoadKeyPair reads a PEM certificate (chain) and its private key; the key
// file must not be readable by group or others (conf.ReadKeyFile).
func LoadKeyPair(certPath, keyPath string) (tls.Certificate, error) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certificate: %w", err)
	}
	keyPEM, err := conf.ReadKeyFile(keyPath)
	if err != nil {
		return tls.Certificate{}, err
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("key pair %s, %s: %w", certPath, keyPath, err)
	}
	return pair, nil
}

// LoadPool reads PEM CA certificates into a pool.
func LoadPool(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("CA file: %w", err)
	}
	certs, err := ParseCertificates(b)
	if err != nil {
		return nil, fmt.Errorf("CA file %s: %w", path, err)
	}
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p, nil
}

// ClientTLS is the TLS configuration of a client that presents the
// certificate in certPath/keyPath and trusts only the CAs in caPath.
func ClientTLS(caPath, certPath, keyPath string) (*tls.Config, error) {
	if caPath == "" || certPath == "" || keyPath == "" {
		return nil, errors.New("client TLS: ca, cert and key are all required")
	}
	pool, err := LoadPool(caPath)
	if err != nil {
		return nil, err
	}
	pair, err := LoadKeyPair(certPath, keyPath)
	if err != nil {
		return nil, err
	}
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
}

// WriteKeyFile writes a private key with mode 0600, atomically, creating
// its directory (0700) if needed.
func WriteKeyFile(path string, keyPEM []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("key dir: %w", err)
	}
	return writeFileAtomic(path, keyPEM, 0o600)
}

// WriteFile writes a public file (a certificate) atomically with mode 0644.
func WriteFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("dir: %w", err)
	}
	return writeFileAtomic(path, data, 0o644)
}

// ErrRevoked is returned by VerifyClient for a revoked certificate.
var ErrRevoked = errors.New("certificate revoked")

// VerifyClient is a tls.Config.VerifyConnection for servers that require
// client certificates of this CA: it refuses a revoked one. Chain and
// validity checks are tls's own (RequireAndVerifyClientCert).
func (a *Authority) VerifyClient(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("no client certificate")
	}
	if leaf := cs.PeerCertificates[0]; a.Revoked(leaf) {
		return fmt.Errorf("%w: %s (serial %s)", ErrRevoked, leaf.Subject.CommonName, serialHex(leaf.SerialNumber))
	}
	return nil
}

// ServerTLS is the configuration of a TLS listener presenting cert and
// requiring a valid, unrevoked client certificate issued by this CA.
func (a *Authority) ServerTLS(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		Certificates:     []tls.Certificate{cert},
		ClientAuth:       tls.RequireAndVerifyClientCert,
		ClientCAs:        a.Pool(),
		MinVersion:       tls.VersionTLS12,
		VerifyConnection: a.VerifyClient,
		Time:             a.opts.Now,
	}
}
