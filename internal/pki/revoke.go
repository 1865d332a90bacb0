package pki

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// CRL timing: a CRL is valid for crlValidity and signed again once less
// than half of that is left (OpenSSL, hence Mosquitto, refuses every client
// certificate once the CRL's NextUpdate has passed).
const crlValidity = 30 * 24 * time.Hour

type revokedDoc struct {
	CRLNumber int64          `json:"crl_number"`
	Entries   []revokedEntry `json:"entries"`
}

type revokedEntry struct {
	Serial    string    `json:"serial"`
	Name      string    `json:"name"`
	RevokedAt time.Time `json:"revoked_at"`
	NotAfter  time.Time `json:"not_after"`
}

// fileStamp tells whether a file changed since it was last read.
type fileStamp struct {
	mod  time.Time
	size int64
	ok   bool
}

// ErrNothingToRevoke is returned by Revoke when name holds no valid
// certificate that is not revoked already.
var ErrNothingToRevoke = errors.New("no valid certificate to revoke")

// Revoke revokes every unexpired certificate issued to name (a gateway id
// or Hub) and writes revoked.json and a new CRL. It returns the serials
// revoked. A running hub sees the change at its next Reload.
func (a *Authority) Revoke(name string) ([]string, error) {
	var serials []string
	err := locked(a.dir, func() error {
		var issued []issuedEntry
		if err := readJSON(filepath.Join(a.dir, issuedFile), &issued); err != nil {
			return err
		}
		var doc revokedDoc
		if err := readJSON(filepath.Join(a.dir, revokedFile), &doc); err != nil {
			return err
		}
		already := make(map[string]bool, len(doc.Entries))
		for _, e := range doc.Entries {
			already[e.Serial] = true
		}
		now := a.opts.Now().UTC()
		for _, e := range issued {
			if e.Name != name || e.Server || already[e.Serial] || !now.Before(e.NotAfter) {
				continue
			}
			doc.Entries = append(doc.Entries, revokedEntry{Serial: e.Serial, Name: e.Name, RevokedAt: now, NotAfter: e.NotAfter})
			serials = append(serials, e.Serial)
		}
		if len(serials) == 0 {
			return fmt.Errorf("revoke %s: %w", name, ErrNothingToRevoke)
		}
		return a.writeRevokedLocked(&doc)
	})
	if err != nil {
		return nil, err
	}
	if _, err := a.Reload(); err != nil {
		return serials, err
	}
	return serials, nil
}

// writeRevokedLocked drops entries of long-expired certificates, then
// writes the CRL and revoked.json. The CRL first: revoked.json is what the
// hub watches, and by then the CRL already says the same.
func (a *Authority) writeRevokedLocked(doc *revokedDoc) error {
	now := a.opts.Now().UTC()
	keep := doc.Entries[:0]
	for _, e := range doc.Entries {
		if now.Before(e.NotAfter.Add(24 * time.Hour)) {
			keep = append(keep, e)
		}
	}
	doc.Entries = keep
	doc.CRLNumber++
	if err := a.writeCRL(doc); err != nil {
		return err
	}
	return writeJSON(filepath.Join(a.dir, revokedFile), doc, 0o644)
}

func (a *Authority) writeCRL(doc *revokedDoc) error {
	now := a.opts.Now().UTC()
	tmpl := &x509.RevocationList{
		Number:     big.NewInt(doc.CRLNumber),
		ThisUpdate: now.Add(-clockSkew),
		NextUpdate: now.Add(crlValidity),
	}
	for _, e := range doc.Entries {
		n, ok := new(big.Int).SetString(e.Serial, 16)
		if !ok {
			return fmt.Errorf("revoked.json: bad serial %q", e.Serial)
		}
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries, x509.RevocationListEntry{SerialNumber: n, RevocationTime: e.RevokedAt})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, a.cert, a.key)
	if err != nil {
		return fmt.Errorf("sign CRL: %w", err)
	}
	return writeFileAtomic(a.CRLPath(), pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}), 0o644)
}

// refreshCRLLocked signs the CRL again when it is missing, unreadable or
// past half its life (or always with force).
func (a *Authority) refreshCRLLocked(force bool) error {
	if !force {
		b, err := os.ReadFile(a.CRLPath())
		if err == nil {
			if block, _ := pem.Decode(b); block != nil {
				if crl, err := x509.ParseRevocationList(block.Bytes); err == nil &&
					a.opts.Now().Before(crl.NextUpdate.Add(-crlValidity/2)) {
					return nil
				}
			}
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("read CRL: %w", err)
		}
	}
	var doc revokedDoc
	if err := readJSON(filepath.Join(a.dir, revokedFile), &doc); err != nil {
		return err
	}
	return a.writeRevokedLocked(&doc)
}

// RefreshCRL signs the CRL again if it is past half its life.
func (a *Authority) RefreshCRL() error {
	return locked(a.dir, func() error { return a.refreshCRLLocked(false) })
}

// Reload reads revoked.json again if it changed since the last read, and
// reports whether it did.
func (a *Authority) Reload() (bool, error) {
	path := filepath.Join(a.dir, revokedFile)
	var stamp fileStamp
	if st, err := os.Stat(path); err == nil {
		stamp = fileStamp{mod: st.ModTime(), size: st.Size(), ok: true}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("revocations: %w", err)
	}
	a.mu.RLock()
	same := a.revoked != nil && stamp == a.revStat
	a.mu.RUnlock()
	if same {
		return false, nil
	}
	var doc revokedDoc
	if err := readJSON(path, &doc); err != nil {
		return false, fmt.Errorf("revocations: %w", err)
	}
	set := make(map[string]struct{}, len(doc.Entries))
	for _, e := range doc.Entries {
		set[e.Serial] = struct{}{}
	}
	a.mu.Lock()
	a.revoked, a.revStat = set, stamp
	a.mu.Unlock()
	return true, nil
}

// Revoked reports whether cert was revoked, as of the last Reload.
func (a *Authority) Revoked(cert *x509.Certificate) bool {
	s := serialHex(cert.SerialNumber)
	a.mu.RLock()
	_, ok := a.revoked[s]
	a.mu.RUnlock()
	return ok
}

// WatchRevocations reloads the revocation list every period (default 1s)
// and calls onChange after each change, until ctx is done. It also keeps
// the CRL fresh. `hub revoke` in another process takes effect within a
// period. Errors go to onError (may be nil) and the watch goes on: the
// last list read stays in force.
func (a *Authority) WatchRevocations(ctx context.Context, every time.Duration, onChange func(), onError func(error)) {
	if every <= 0 {
		every = time.Second
	}
	if onError == nil {
		onError = func(error) {}
	}
	t := time.NewTicker(every)
	defer t.Stop()
	lastCRL := a.opts.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		changed, err := a.Reload()
		if err != nil {
			onError(err)
		} else if changed && onChange != nil {
			onChange()
		}
		if now := a.opts.Now(); now.Sub(lastCRL) > time.Hour {
			lastCRL = now
			if err := a.RefreshCRL(); err != nil {
				onError(err)
			}
		}
	}
}
