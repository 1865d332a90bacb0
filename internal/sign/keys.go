package sign

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"millwright/internal/atomicfile"
	"millwright/internal/conf"
)

// PEM block types of key files.
const (
	pemPrivate = "PRIVATE KEY"
	pemPublic  = "PUBLIC KEY"
)

// KeyID names a public key: hex of the first 8 bytes of its SHA-256.
func KeyID(pub ed25519.PublicKey) string {
	h := sha256.Sum256(pub)
	return hex.EncodeToString(h[:8])
}

// Signer signs with one private key.
type Signer struct {
	id   string
	priv ed25519.PrivateKey
}

// NewSigner wraps priv.
func NewSigner(priv ed25519.PrivateKey) *Signer {
	return &Signer{id: KeyID(priv.Public().(ed25519.PublicKey)), priv: priv}
}

// GenerateSigner makes a signer with a fresh key.
func GenerateSigner() (*Signer, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate ed25519 key: %w", err)
	}
	return NewSigner(priv), nil
}

// KeyID is the id of the signer's key.
func (s *Signer) KeyID() string { return s.id }

// Public is the signer's public key.
func (s *Signer) Public() ed25519.PublicKey { return s.priv.Public().(ed25519.PublicKey) }

// sign signs msg.
func (s *Signer) sign(msg []byte) []byte { return ed25519.Sign(s.priv, msg) }

// String never shows the private key.
func (s *Signer) String() string { return "ed25519 signer " + s.id }

// WritePrivateKey writes priv to path as PEM PKCS#8 with mode 0600. It
// refuses to replace an existing file.
func WritePrivateKey(path string, priv ed25519.PrivateKey) error {
	if len(priv) != ed25519.PrivateKeySize {
		return fmt.Errorf("write key %s: not an Ed25519 private key (%d bytes)", path, len(priv))
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return fmt.Errorf("encode private key: %w", err)
	}
	return writeNew(path, pem.EncodeToMemory(&pem.Block{Type: pemPrivate, Bytes: der}), 0o600)
}

// ReadPrivateKey reads an Ed25519 PEM PKCS#8 private key, refusing a file
// that group or others may access.
func ReadPrivateKey(path string) (ed25519.PrivateKey, error) {
	b, err := conf.ReadKeyFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != pemPrivate {
		return nil, fmt.Errorf("key file %s: no %q PEM block", path, pemPrivate)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("key file %s: %T is not an Ed25519 key", path, k)
	}
	return priv, nil
}

// EncodePublicKeys returns keys as concatenated PEM PKIX blocks.
func EncodePublicKeys(keys ...ed25519.PublicKey) ([]byte, error) {
	var out []byte
	for _, k := range keys {
		der, err := x509.MarshalPKIXPublicKey(k)
		if err != nil {
			return nil, fmt.Errorf("encode public key: %w", err)
		}
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: pemPublic, Bytes: der})...)
	}
	return out, nil
}

// ParsePublicKeys decodes every PEM PKIX Ed25519 public key in b; other PEM
// blocks and text between blocks are an error, and so is none at all.
func ParsePublicKeys(b []byte) ([]ed25519.PublicKey, error) {
	var keys []ed25519.PublicKey
	for {
		blk, rest := pem.Decode(b)
		if blk == nil {
			break
		}
		b = rest
		if blk.Type != pemPublic {
			return nil, fmt.Errorf("unexpected PEM block %q (want %q)", blk.Type, pemPublic)
		}
		k, err := x509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("public key: %w", err)
		}
		pub, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("public key: %T is not an Ed25519 key", k)
		}
		keys = append(keys, pub)
	}
	if len(keys) == 0 {
		return nil, errors.New("no PEM public key")
	}
	return keys, nil
}

// ReadPublicKeys reads every public key of a PEM file.
func ReadPublicKeys(path string) ([]ed25519.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read public keys: %w", err)
	}
	keys, err := ParsePublicKeys(b)
	if err != nil {
		return nil, fmt.Errorf("public key file %s: %w", path, err)
	}
	return keys, nil
}

// LoadOrCreateSigner reads the private key at path, or, when there is no
// file, generates one and writes it (0600, its directory 0700). created
// tells which happened.
func LoadOrCreateSigner(path string) (s *Signer, created bool, err error) {
	priv, err := ReadPrivateKey(path)
	if err == nil {
		return NewSigner(priv), false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, fmt.Errorf("key dir: %w", err)
	}
	s, err = GenerateSigner()
	if err != nil {
		return nil, false, err
	}
	if err := WritePrivateKey(path, s.priv); err != nil {
		return nil, false, err
	}
	return s, true, nil
}

// writeNew writes a file that must not exist yet, durably.
func writeNew(path string, b []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("write key: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write key %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write key %s: %w", path, err)
	}
	return f.Close()
}

// writeAtomic replaces path with b through a temporary file and a rename.
func writeAtomic(path string, b []byte, perm os.FileMode) error {
	return atomicfile.Write(path, b, perm)
}
