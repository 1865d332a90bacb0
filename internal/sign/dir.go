package sign

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Files of a key Dir.
const (
	activeFile  = "active"      // the id of the signing key
	BundleFile  = "trusted.pem" // every public key of the dir: what agents trust
	privateExt  = ".key"
	publicExt   = ".pub"
	retiredMark = ".retired"
)

// Dir is a hub's directory of signing keys: <id>.key (0600) and <id>.pub
// per key, the active key's id in "active", and trusted.pem, the bundle of
// every public key not retired, which agents are given.
type Dir struct{ Path string }

// KeyInfo describes a key of a Dir.
type KeyInfo struct {
	ID     string
	Active bool
	Public ed25519.PublicKey
}

// Generate adds a new key pair to the dir (created 0700 if missing) and
// returns its id. The key is trusted at once (it joins trusted.pem) but
// does not sign until activated, so agents can be given it first.
func (d Dir) Generate() (string, error) {
	if err := os.MkdirAll(d.Path, 0o700); err != nil {
		return "", fmt.Errorf("key dir: %w", err)
	}
	s, err := GenerateSigner()
	if err != nil {
		return "", err
	}
	if err := WritePrivateKey(filepath.Join(d.Path, s.id+privateExt), s.priv); err != nil {
		return "", err
	}
	pub, err := EncodePublicKeys(s.Public())
	if err != nil {
		return "", err
	}
	if err := writeAtomic(filepath.Join(d.Path, s.id+publicExt), pub, 0o644); err != nil {
		return "", err
	}
	return s.id, d.writeBundle()
}

// Activate makes key id the one that signs.
func (d Dir) Activate(id string) error {
	if _, err := d.signer(id); err != nil {
		return err
	}
	return writeAtomic(filepath.Join(d.Path, activeFile), []byte(id+"\n"), 0o644)
}

// Retire removes key id from the trusted bundle and deletes its private
// key; the active key cannot be retired.
func (d Dir) Retire(id string) error {
	if active, _ := d.activeID(); active == id {
		return fmt.Errorf("key %s is active: activate another first", id)
	}
	pub := filepath.Join(d.Path, id+publicExt)
	if _, err := os.Stat(pub); err != nil {
		return fmt.Errorf("key %s: %w", id, err)
	}
	if err := os.Rename(pub, pub+retiredMark); err != nil {
		return fmt.Errorf("retire key %s: %w", id, err)
	}
	if err := os.Remove(filepath.Join(d.Path, id+privateExt)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("retire key %s: %w", id, err)
	}
	return d.writeBundle()
}

// List returns the keys not retired, sorted by id.
func (d Dir) List() ([]KeyInfo, error) {
	ents, err := os.ReadDir(d.Path)
	if err != nil {
		return nil, fmt.Errorf("key dir: %w", err)
	}
	active, _ := d.activeID()
	var out []KeyInfo
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), publicExt)
		if !ok || e.IsDir() {
			continue
		}
		keys, err := ReadPublicKeys(filepath.Join(d.Path, e.Name()))
		if err != nil {
			return nil, err
		}
		if len(keys) != 1 || KeyID(keys[0]) != id {
			return nil, fmt.Errorf("key dir: %s does not hold the key of id %s", e.Name(), id)
		}
		out = append(out, KeyInfo{ID: id, Active: id == active, Public: keys[0]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Keyring trusts every key of the dir not retired.
func (d Dir) Keyring() (*Keyring, error) {
	list, err := d.List()
	if err != nil {
		return nil, err
	}
	k := &Keyring{}
	for _, i := range list {
		k.Add(i.Public)
	}
	return k, nil
}

// Active returns the signer of the active key.
func (d Dir) Active() (*Signer, error) {
	id, err := d.activeID()
	if err != nil {
		return nil, err
	}
	return d.signer(id)
}

// Ensure returns the active signer, first generating and activating a key
// when the dir has no active key (a hub's first start). created tells.
func (d Dir) Ensure() (s *Signer, created bool, err error) {
	if _, err := d.activeID(); err == nil {
		s, err := d.Active()
		return s, false, err
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, false, err
	}
	id, err := d.Generate()
	if err != nil {
		return nil, false, err
	}
	if err := d.Activate(id); err != nil {
		return nil, false, err
	}
	s, err = d.Active()
	return s, true, err
}

// BundlePath is the path of the trusted bundle agents are given.
func (d Dir) BundlePath() string { return filepath.Join(d.Path, BundleFile) }

func (d Dir) activeID() (string, error) {
	b, err := os.ReadFile(filepath.Join(d.Path, activeFile))
	if err != nil {
		return "", fmt.Errorf("active signing key: %w", err)
	}
	id := strings.TrimSpace(string(b))
	if id == "" {
		return "", fmt.Errorf("active signing key: %s is empty", filepath.Join(d.Path, activeFile))
	}
	return id, nil
}

func (d Dir) signer(id string) (*Signer, error) {
	if id == "" || strings.ContainsAny(id, `/\.`) {
		return nil, fmt.Errorf("bad key id %q", id)
	}
	priv, err := ReadPrivateKey(filepath.Join(d.Path, id+privateExt))
	if err != nil {
		return nil, err
	}
	s := NewSigner(priv)
	if s.id != id {
		return nil, fmt.Errorf("key file %s holds key %s", id+privateExt, s.id)
	}
	return s, nil
}

func (d Dir) writeBundle() error {
	list, err := d.List()
	if err != nil {
		return err
	}
	keys := make([]ed25519.PublicKey, len(list))
	for i := range list {
		keys[i] = list[i].Public
	}
	var b []byte
	if len(keys) > 0 {
		if b, err = EncodePublicKeys(keys...); err != nil {
			return err
		}
	}
	return writeAtomic(d.BundlePath(), b, 0o644)
}
