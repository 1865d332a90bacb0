package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"millwright/internal/conf"
	"millwright/wire"
)

// Hub is the reserved identity of the hub's own MQTT clients.
const Hub = "hub"

// Defaults of Options.
const (
	DefaultValidity   = 365 * 24 * time.Hour
	DefaultCAValidity = 10 * 365 * 24 * time.Hour
	DefaultCAName     = "Millwright hub CA"
	// clockSkew backdates NotBefore so that a gateway whose clock is a
	// little behind accepts a fresh certificate.
	clockSkew = 5 * time.Minute
)

// Options configure Open. The zero value works.
type Options struct {
	// Validity of issued certificates; default DefaultValidity.
	Validity time.Duration
	// CAValidity of a CA created by Open; default DefaultCAValidity.
	CAValidity time.Duration
	// CAName is the CommonName of a CA created by Open.
	CAName string
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Authority is a CA in a directory. Its methods are safe for concurrent
// use, and other processes may use the same directory at once.
type Authority struct {
	dir     string
	opts    Options
	cert    *x509.Certificate
	certPEM []byte
	key     crypto.Signer

	mu      sync.RWMutex
	revoked map[string]struct{} // serial (hex) → revoked
	revStat fileStamp
}

// Open loads the CA in dir, creating dir and a new CA when there is none.
func Open(dir string, opts Options) (*Authority, error) {
	if opts.Validity <= 0 {
		opts.Validity = DefaultValidity
	}
	if opts.CAValidity <= 0 {
		opts.CAValidity = DefaultCAValidity
	}
	if opts.CAName == "" {
		opts.CAName = DefaultCAName
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pki dir: %w", err)
	}
	a := &Authority{dir: dir, opts: opts}
	err := locked(dir, func() error {
		_, err := os.Stat(filepath.Join(dir, CACertFile))
		if errors.Is(err, fs.ErrNotExist) {
			if err := a.create(); err != nil {
				return err
			}
		} else if err != nil {
			return fmt.Errorf("pki: %w", err)
		}
		if err := a.load(); err != nil {
			return err
		}
		return a.refreshCRLLocked(false)
	})
	if err != nil {
		return nil, err
	}
	if _, err := a.Reload(); err != nil {
		return nil, err
	}
	return a, nil
}

func (a *Authority) create() error {
	key, err := GenerateKey()
	if err != nil {
		return err
	}
	now := a.opts.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          newSerial(),
		Subject:               pkix.Name{CommonName: a.opts.CAName, Organization: []string{"Millwright"}},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(a.opts.CAValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return fmt.Errorf("create CA: %w", err)
	}
	keyPEM, err := EncodeKey(key)
	if err != nil {
		return err
	}
	// The key first: a certificate without its key would be loaded and fail.
	if err := writeFileAtomic(filepath.Join(a.dir, CAKeyFile), keyPEM, 0o600); err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(a.dir, CACertFile), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

func (a *Authority) load() error {
	certPEM, err := os.ReadFile(filepath.Join(a.dir, CACertFile))
	if err != nil {
		return fmt.Errorf("load CA: %w", err)
	}
	certs, err := ParseCertificates(certPEM)
	if err != nil || len(certs) != 1 || !certs[0].IsCA {
		return fmt.Errorf("load CA %s: want one CA certificate: %v", filepath.Join(a.dir, CACertFile), err)
	}
	keyPEM, err := conf.ReadKeyFile(filepath.Join(a.dir, CAKeyFile))
	if err != nil {
		return fmt.Errorf("load CA: %w", err)
	}
	key, err := ParseKey(keyPEM)
	if err != nil {
		return fmt.Errorf("load CA key: %w", err)
	}
	if !publicKeysEqual(key.Public(), certs[0].PublicKey) {
		return errors.New("load CA: ca.key does not belong to ca.crt")
	}
	a.cert, a.certPEM, a.key = certs[0], certPEM, key
	return nil
}

// Dir is the authority's directory.
func (a *Authority) Dir() string { return a.dir }

// Certificate is the CA certificate.
func (a *Authority) Certificate() *x509.Certificate { return a.cert }

// CertPEM is the CA certificate, PEM encoded.
func (a *Authority) CertPEM() []byte { return bytes.Clone(a.certPEM) }

// CertPath is the CA certificate's file, for brokers configured by path.
func (a *Authority) CertPath() string { return filepath.Join(a.dir, CACertFile) }

// CRLPath is the signed revocation list's file (Mosquitto's crlfile).
func (a *Authority) CRLPath() string { return filepath.Join(a.dir, CRLFile) }

// Pool is a pool holding only the CA certificate.
func (a *Authority) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(a.cert)
	return p
}

// Fingerprint is the SHA-256 of the CA certificate, hex encoded, to check a
// CA received over the network against (agent enroll --ca-hash).
func (a *Authority) Fingerprint() string { return Fingerprint(a.cert) }

// Fingerprint is the SHA-256 of a certificate's DER bytes, hex encoded.
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// Request describes a certificate to issue.
type Request struct {
	// Name is the CommonName: a gateway id or Hub for client certificates,
	// the host name for a server certificate.
	Name string
	// Server makes a TLS server certificate for DNSNames and IPs; otherwise
	// the certificate is a client certificate whose identity is Name.
	Server   bool
	DNSNames []string
	IPs      []net.IP
	// Validity; zero takes Options.Validity. Never beyond the CA's expiry.
	Validity time.Duration
}

// ErrReservedName refuses a gateway named like the hub or a hub replica.
var ErrReservedName = errors.New(`"hub" and "hub-*" are reserved for the hub's own clients`)

// IsHubName reports whether name is reserved for the hub's own clients:
// "hub", and "hub-*" for the replicas that share an external broker (whose
// ACL grants them every topic).
func IsHubName(name string) bool { return name == Hub || strings.HasPrefix(name, Hub+"-") }

// Issue signs pub into a certificate for req and records it (issued.json).
func (a *Authority) Issue(pub crypto.PublicKey, req Request) (*x509.Certificate, []byte, error) {
	cert, certPEM, err := a.sign(pub, req)
	if err != nil {
		return nil, nil, err
	}
	if err := locked(a.dir, func() error { return a.recordLocked(cert, req) }); err != nil {
		return nil, nil, fmt.Errorf("issue %s: %w", req.Name, err)
	}
	return cert, certPEM, nil
}

func (a *Authority) sign(pub crypto.PublicKey, req Request) (*x509.Certificate, []byte, error) {
	if !req.Server && !wire.ValidID(req.Name) {
		return nil, nil, fmt.Errorf("issue: %q is not a valid identity (1-64 of letters, digits, '-', '_', '.')", req.Name)
	}
	if err := checkPublicKey(pub); err != nil {
		return nil, nil, fmt.Errorf("issue: %w", err)
	}
	validity := req.Validity
	if validity <= 0 {
		validity = a.opts.Validity
	}
	now := a.opts.Now()
	notAfter := now.Add(validity)
	if notAfter.After(a.cert.NotAfter) {
		notAfter = a.cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: newSerial(),
		Subject:      pkix.Name{CommonName: req.Name, Organization: []string{"Millwright"}},
		NotBefore:    now.Add(-clockSkew),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		DNSNames:     req.DNSNames,
		IPAddresses:  req.IPs,
	}
	if req.Server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	if _, ok := pub.(*rsa.PublicKey); ok {
		tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment // RSA key exchange in TLS 1.2
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, pub, a.key)
	if err != nil {
		return nil, nil, fmt.Errorf("issue %s: %w", req.Name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("issue %s: %w", req.Name, err)
	}
	return cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// recordLocked appends cert to issued.json, forgetting certificates long
// expired (a revocation can no longer matter for them).
func (a *Authority) recordLocked(cert *x509.Certificate, req Request) error {
	var issued []issuedEntry
	if err := readJSON(filepath.Join(a.dir, issuedFile), &issued); err != nil {
		return err
	}
	now := a.opts.Now().UTC()
	keep := issued[:0]
	for _, e := range issued {
		if now.Before(e.NotAfter.Add(24 * time.Hour)) {
			keep = append(keep, e)
		}
	}
	keep = append(keep, issuedEntry{Serial: serialHex(cert.SerialNumber), Name: req.Name, Server: req.Server, NotAfter: cert.NotAfter, Issued: now})
	return writeJSON(filepath.Join(a.dir, issuedFile), keep, 0o600)
}

// IssueKeyPair generates a key and issues a certificate for it: for the
// broker's server certificate, the hub's identity and tests. The key is
// PEM (PKCS #8); write it with mode 0600.
func (a *Authority) IssueKeyPair(req Request) (certPEM, keyPEM []byte, err error) {
	key, err := GenerateKey()
	if err != nil {
		return nil, nil, err
	}
	if _, certPEM, err = a.Issue(key.Public(), req); err != nil {
		return nil, nil, err
	}
	keyPEM, err = EncodeKey(key)
	return certPEM, keyPEM, err
}

type issuedEntry struct {
	Serial   string    `json:"serial"`
	Name     string    `json:"name"`
	Server   bool      `json:"server,omitempty"`
	NotAfter time.Time `json:"not_after"`
	Issued   time.Time `json:"issued"`
}

// newSerial is a random positive 127-bit serial number.
func newSerial() *big.Int {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand.Read never fails on supported platforms
	}
	b[0] &= 0x7f
	b[0] |= 0x40 // never zero, and always 16 bytes long
	return new(big.Int).SetBytes(b[:])
}

func serialHex(n *big.Int) string { return n.Text(16) }

// GenerateKey makes an ECDSA P-256 key.
func GenerateKey() (*ecdsa.PrivateKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	return k, nil
}

// EncodeKey encodes a private key as PKCS #8 PEM.
func EncodeKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParseKey decodes a PEM private key (PKCS #8, SEC 1 or PKCS #1).
func ParseKey(b []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	var (
		k   any
		err error
	)
	switch block.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q is not a private key", block.Type)
	}
	if err != nil {
		return nil, err
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%T is not a signing key", k)
	}
	return s, nil
}

// ParseCertificates decodes every CERTIFICATE block of b.
func ParseCertificates(b []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse certificate: %w", err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no certificate in PEM")
	}
	return certs, nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	ea, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ea.Equal(b)
}
