package pki

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"millwright/wire"
)

// Enrolment token errors. Enroll wraps them; the HTTP handler maps them to
// status codes.
var (
	ErrTokenUnknown  = errors.New("enrolment token unknown")
	ErrTokenUsed     = errors.New("enrolment token already used")
	ErrTokenExpired  = errors.New("enrolment token expired")
	ErrNameMismatch  = errors.New("CSR CommonName is not the gateway the token was issued for")
	errTokenTooLarge = fmt.Errorf("%w: too long", ErrTokenUnknown)
)

// tokenPrefix marks a token so that secret scanners and people recognise one.
const tokenPrefix = "mwe_"

// DefaultTokenTTL is how long a token stays valid when NewToken is given 0.
const DefaultTokenTTL = time.Hour

type tokenEntry struct {
	Hash    string    `json:"sha256"`
	Name    string    `json:"gateway"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	Used    time.Time `json:"used,omitzero"`
}

// NewToken makes a one-time enrolment token for gateway, valid for ttl
// (0: DefaultTokenTTL). Only its SHA-256 is stored.
func (a *Authority) NewToken(gateway string, ttl time.Duration) (token string, expires time.Time, err error) {
	if !wire.ValidID(gateway) {
		return "", time.Time{}, fmt.Errorf("enrolment token: %q is not a valid gateway id", gateway)
	}
	if IsHubName(gateway) {
		return "", time.Time{}, fmt.Errorf("enrolment token: %w", ErrReservedName)
	}
	if ttl <= 0 {
		ttl = DefaultTokenTTL
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", time.Time{}, fmt.Errorf("enrolment token: %w", err)
	}
	token = tokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	now := a.opts.Now().UTC()
	expires = now.Add(ttl)
	err = locked(a.dir, func() error {
		tokens, err := a.readTokens()
		if err != nil {
			return err
		}
		tokens = append(tokens, tokenEntry{Hash: hashToken(token), Name: gateway, Created: now, Expires: expires})
		return a.writeTokens(tokens, now)
	})
	if err != nil {
		return "", time.Time{}, err
	}
	return token, expires, nil
}

// Enroll redeems token for the certificate request csrPEM: the token must
// be known, unused and unexpired, and the request's CommonName must be the
// token's gateway. It returns the signed certificate, PEM encoded. The
// token is spent only when a certificate is issued.
func (a *Authority) Enroll(token string, csrPEM []byte) ([]byte, error) {
	if len(token) > 128 {
		return nil, errTokenTooLarge
	}
	csr, err := ParseCSR(csrPEM)
	if err != nil {
		return nil, err
	}
	var certPEM []byte
	h := hashToken(strings.TrimSpace(token))
	err = locked(a.dir, func() error {
		tokens, err := a.readTokens()
		if err != nil {
			return err
		}
		now := a.opts.Now().UTC()
		for i := range tokens {
			t := &tokens[i]
			if t.Hash != h {
				continue
			}
			switch {
			case !t.Used.IsZero():
				return ErrTokenUsed
			case !now.Before(t.Expires):
				return ErrTokenExpired
			case csr.Subject.CommonName != t.Name:
				return fmt.Errorf("%w (%q, token for %q)", ErrNameMismatch, csr.Subject.CommonName, t.Name)
			}
			req := Request{Name: t.Name}
			cert, pemBytes, err := a.sign(csr.PublicKey, req)
			if err != nil {
				return err
			}
			if err := a.recordLocked(cert, req); err != nil {
				return err
			}
			certPEM = pemBytes
			t.Used = now
			return a.writeTokens(tokens, now)
		}
		return ErrTokenUnknown
	})
	if err != nil {
		return nil, fmt.Errorf("enroll: %w", err)
	}
	return certPEM, nil
}

func (a *Authority) readTokens() ([]tokenEntry, error) {
	var tokens []tokenEntry
	err := readJSON(filepath.Join(a.dir, tokensFile), &tokens)
	return tokens, err
}

// writeTokens forgets tokens used or expired more than a day ago.
func (a *Authority) writeTokens(tokens []tokenEntry, now time.Time) error {
	keep := tokens[:0]
	for _, t := range tokens {
		end := t.Expires
		if !t.Used.IsZero() {
			end = t.Used
		}
		if now.Sub(end) < 24*time.Hour {
			keep = append(keep, t)
		}
	}
	return writeJSON(filepath.Join(a.dir, tokensFile), keep, 0o600)
}

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
