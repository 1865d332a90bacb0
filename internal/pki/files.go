package pki

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"millwright/internal/atomicfile"
)

// File names inside the authority's directory.
const (
	CACertFile  = "ca.crt"
	CAKeyFile   = "ca.key"
	CRLFile     = "crl.pem"
	issuedFile  = "issued.json"
	revokedFile = "revoked.json"
	tokensFile  = "tokens.json"
	lockFile    = "lock"
)

// maxStateFile bounds the JSON state files read back from disk.
const maxStateFile = 64 << 20

// locked runs fn holding an exclusive lock on dir/lock, shared with every
// other process using the same directory.
func locked(dir string, fn func() error) error {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("pki lock: %w", err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("pki lock: %w", err)
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN) //nolint:errcheck // closing releases it too
	return fn()
}

// writeFileAtomic replaces path with data: readers see the old or the new
// content, never a part.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	return atomicfile.Write(path, data, perm)
}

// readJSON decodes path into v; a missing file leaves v as it is.
func readJSON(path string, v any) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if st.Size() > maxStateFile {
		return fmt.Errorf("read %s: %d bytes is over the limit of %d", path, st.Size(), maxStateFile)
	}
	if err := json.NewDecoder(f).Decode(v); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	return nil
}

func writeJSON(path string, v any, perm os.FileMode) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	return writeFileAtomic(path, append(b, '\n'), perm)
}
