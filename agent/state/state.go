// Package state keeps each model's state on the gateway's disk so that an
// agent restarted (or crashed) resumes learning where it stopped.
//
// Every model is one file, <dir>/<machine>.<slot>.model: a small CBOR
// record holding the machine's sensor set (the vector layout the model was
// trained on), the model's role and lineage, and its own snapshot. The slot
// names the model on its machine: champion, twin, prev-champion,
// prev-twin, or c-<name> for a challenger (files of version 1 used the
// role). Files are replaced atomically:
// written to a temporary file, synced, renamed over the old one, and the
// directory synced, so a crash leaves either the old or the new state.
package state

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/fxamacker/cbor/v2"

	"millwright/internal/atomicfile"
	"millwright/wire"
)

// Version is the file format version.
const Version = 1

// MaxFileSize bounds a state file: a model snapshot plus a little.
const MaxFileSize = 4 << 20

const suffix = ".model"

// Model is one saved model.
type Model struct {
	Version uint16   `cbor:"1,keyasint"`
	Machine string   `cbor:"2,keyasint"`
	Role    string   `cbor:"3,keyasint"`
	Kind    string   `cbor:"4,keyasint"`
	Sensors []string `cbor:"5,keyasint"`
	Data    []byte   `cbor:"6,keyasint"` // the detector's MarshalSnapshot
	Saved   int64    `cbor:"7,keyasint"` // Unix ns
	// Slot names the file (see the package comment); empty means Role.
	Slot     string  `cbor:"8,keyasint,omitempty"`
	Name     string  `cbor:"9,keyasint,omitempty"`  // model instance name
	Parent   string  `cbor:"10,keyasint,omitempty"` // content hash of the snapshot it started from
	Warm     int     `cbor:"11,keyasint,omitempty"` // champion: vectors left in its warm-up
	Previous bool    `cbor:"12,keyasint,omitempty"` // kept for rollback
	Thresh   float64 `cbor:"13,keyasint,omitempty"` // the model's own threshold, 0 for the agent's
	// Inputs are the machine's own sensors the vector is made from, when
	// they differ from Sensors (derived signals, windows, exclusions).
	Inputs []string `cbor:"14,keyasint,omitempty"`
}

// Key is the file key of m: Slot, or Role for files without one.
func (m *Model) Key() string {
	if m.Slot != "" {
		return m.Slot
	}
	return m.Role
}

var decMode cbor.DecMode

func init() {
	var err error
	decMode, err = cbor.DecOptions{
		MaxNestedLevels:  4,
		MaxArrayElements: 4096,
		MaxMapPairs:      64,
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		IndefLength:      cbor.IndefLengthForbidden,
		TagsMd:           cbor.TagsForbidden,
	}.DecMode()
	if err != nil {
		panic(fmt.Sprintf("state: cbor decode mode: %v", err))
	}
}

// Path returns the file of a machine's model of a role in dir.
func Path(dir, machine, role string) string {
	return filepath.Join(dir, machine+"."+role+suffix)
}

// Save writes m atomically to its file in dir.
func Save(dir string, m Model) error {
	if !wire.ValidID(m.Machine) || !wire.ValidID(m.Role) || !wire.ValidID(m.Key()) {
		return fmt.Errorf("save model state: bad machine %q, role %q or slot %q", m.Machine, m.Role, m.Slot)
	}
	m.Version = Version
	b, err := cbor.Marshal(m)
	if err != nil {
		return fmt.Errorf("save model state %s: encode: %w", m.Machine, err)
	}
	if err := WriteAtomic(Path(dir, m.Machine, m.Key()), b); err != nil {
		return fmt.Errorf("save model state %s: %w", m.Machine, err)
	}
	return nil
}

// WriteAtomic replaces the file at path with b: temporary file, fsync,
// rename, fsync of the directory.
func WriteAtomic(path string, b []byte) error { return atomicfile.Write(path, b, 0o600) }

// Decode parses a state file's bytes, refusing anything malformed.
func Decode(b []byte) (Model, error) {
	var m Model
	if len(b) > MaxFileSize {
		return m, fmt.Errorf("%d bytes, limit %d", len(b), MaxFileSize)
	}
	if err := decMode.Unmarshal(b, &m); err != nil {
		return Model{}, fmt.Errorf("malformed: %w", err)
	}
	if m.Version != Version {
		return Model{}, fmt.Errorf("unknown version %d", m.Version)
	}
	if !wire.ValidID(m.Machine) || !wire.ValidID(m.Role) || !wire.ValidID(m.Key()) || len(m.Data) == 0 || len(m.Sensors) == 0 {
		return Model{}, errors.New("incomplete: machine, role, sensors and data are required")
	}
	switch m.Role {
	case wire.RoleChampion, wire.RoleTwin, wire.RoleChallenger:
	default:
		return Model{}, fmt.Errorf("unknown role %q", m.Role)
	}
	if m.Warm < 0 || !(m.Thresh >= 0 && m.Thresh <= 1) {
		return Model{}, fmt.Errorf("bad warm-up %d or threshold %v", m.Warm, m.Thresh)
	}
	if m.Name != "" && !wire.ValidID(m.Name) {
		return Model{}, fmt.Errorf("bad model name %q", m.Name)
	}
	for _, s := range m.Sensors {
		if !wire.ValidID(s) {
			return Model{}, fmt.Errorf("bad sensor id %q", s)
		}
	}
	return m, nil
}

// Failed is a state file that could not be loaded.
type Failed struct {
	Path string
	Err  error
}

// LoadAll reads every state file in dir. Files that cannot be read or
// decoded are returned in failed, each with the reason; the caller decides
// (the agent starts those machines fresh). Temporary files left by a
// write that a crash interrupted are removed: call it before any save.
func LoadAll(dir string) (models []Model, failed []Failed, err error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("load model state: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() && isTemp(name) {
			// Never loaded; one that cannot be removed is tried again
			// at the next start.
			_ = os.Remove(filepath.Join(dir, name))
			continue
		}
		if e.IsDir() || !strings.HasSuffix(name, suffix) || strings.HasPrefix(name, ".") {
			continue
		}
		path := filepath.Join(dir, name)
		m, err := readFile(path)
		if err == nil && Path(dir, m.Machine, m.Key()) != path {
			err = fmt.Errorf("names machine %q slot %q, not its file name", m.Machine, m.Key())
		}
		if err != nil {
			failed = append(failed, Failed{Path: path, Err: err})
			continue
		}
		models = append(models, m)
	}
	return models, failed, nil
}

// isTemp tells the temporary files of WriteAtomic for state files.
func isTemp(name string) bool {
	return strings.HasPrefix(name, ".") && strings.Contains(name, suffix+".tmp")
}

func readFile(path string) (Model, error) {
	f, err := os.Open(path)
	if err != nil {
		return Model{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Model{}, err
	}
	if st.Size() > MaxFileSize {
		return Model{}, fmt.Errorf("%d bytes, limit %d", st.Size(), MaxFileSize)
	}
	b := make([]byte, st.Size())
	if _, err := f.ReadAt(b, 0); err != nil && st.Size() > 0 {
		return Model{}, err
	}
	return Decode(b)
}

// SetAside renames a state file that could not be used to <path>.corrupt,
// keeping it for inspection without loading it again.
func SetAside(path string) error {
	if err := os.Rename(path, path+".corrupt"); err != nil {
		return fmt.Errorf("set aside %s: %w", path, err)
	}
	return nil
}

// SaveMachine writes every model of one machine and then removes the
// machine's other state files (models removed or replaced since the last
// save). Each file is replaced atomically; a crash in between leaves a mix
// of old and new files, each whole.
func SaveMachine(dir, machine string, ms []Model) error {
	keep := make(map[string]bool, len(ms))
	var errs []error
	for _, m := range ms {
		m.Machine = machine
		if err := Save(dir, m); err != nil {
			errs = append(errs, err)
			continue
		}
		keep[filepath.Base(Path(dir, machine, m.Key()))] = true
	}
	if len(errs) > 0 {
		return errors.Join(errs...) // keep the old files: they may be all we have
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("save model state %s: %w", machine, err)
	}
	prefix := machine + "."
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || keep[name] || !strings.HasPrefix(name, prefix) || !strings.HasSuffix(name, suffix) {
			continue
		}
		// Only this machine's files: the slot between the prefix and the
		// suffix must be one id (machine ids may contain dots).
		if slot := strings.TrimSuffix(strings.TrimPrefix(name, prefix), suffix); !wire.ValidID(slot) || strings.Contains(slot, ".") {
			continue
		}
		if err := os.Remove(filepath.Join(dir, name)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
