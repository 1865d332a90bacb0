package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"

	"millwright/wire"
)

// MaxCSRSize bounds a PEM certificate signing request: a P-256 CSR is
// about 400 bytes, a 4096-bit RSA one under 2 KiB.
const MaxCSRSize = 8 << 10

// ErrBadCSR wraps every reason ParseCSR refuses a request.
var ErrBadCSR = errors.New("bad certificate signing request")

// ParseCSR decodes an untrusted PEM certificate signing request: one PEM
// block of at most MaxCSRSize bytes, a valid self-signature, a key of an
// accepted type (ECDSA P-256/P-384, Ed25519, RSA 2048-8192 bits) and a
// CommonName that is a valid gateway id. Extensions the request asks for
// are ignored: Issue decides what a certificate says.
func ParseCSR(b []byte) (*x509.CertificateRequest, error) {
	if len(b) > MaxCSRSize {
		return nil, fmt.Errorf("%w: %d bytes is over the limit of %d", ErrBadCSR, len(b), MaxCSRSize)
	}
	block, rest := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("%w: no PEM block", ErrBadCSR)
	}
	if block.Type != "CERTIFICATE REQUEST" && block.Type != "NEW CERTIFICATE REQUEST" {
		return nil, fmt.Errorf("%w: PEM block %q, want CERTIFICATE REQUEST", ErrBadCSR, block.Type)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("%w: data after the PEM block", ErrBadCSR)
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadCSR, err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("%w: signature: %w", ErrBadCSR, err)
	}
	if err := checkPublicKey(csr.PublicKey); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadCSR, err)
	}
	if !wire.ValidID(csr.Subject.CommonName) {
		return nil, fmt.Errorf("%w: CommonName %q is not a valid gateway id", ErrBadCSR, csr.Subject.CommonName)
	}
	return csr, nil
}

func checkPublicKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() {
			return fmt.Errorf("ECDSA curve %s: want P-256 or P-384", k.Curve.Params().Name)
		}
	case ed25519.PublicKey:
	case *rsa.PublicKey:
		if n := k.N.BitLen(); n < 2048 || n > 8192 {
			return fmt.Errorf("RSA key of %d bits: want 2048 to 8192", n)
		}
	default:
		return fmt.Errorf("public key type %T not accepted", pub)
	}
	return nil
}

// NewCSR makes a PEM certificate signing request for name signed by key.
func NewCSR(key crypto.Signer, name string) ([]byte, error) {
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: name},
	}, key)
	if err != nil {
		return nil, fmt.Errorf("create CSR: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}
