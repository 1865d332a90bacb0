// Package catalog builds models/ detectors by kind name, the way agent/ and
// hub/ refer to them in configuration and snapshots.
//
// Every detector comes with its defaults; a dimension and a seed are all it
// needs. Restore reads the kind from a snapshot's envelope and returns a
// detector of that kind in the snapshot's state.
package catalog

import (
	"errors"
	"fmt"
	"slices"

	"millwright/models"
	"millwright/models/baseline"
	"millwright/models/hst"
	"millwright/models/snapshot"
)

// Default is the kind to use when a configuration names none.
const Default = baseline.Kind

// ErrUnknownKind is wrapped by the errors of New and Restore for a kind the
// catalog does not know.
var ErrUnknownKind = errors.New("unknown detector kind")

type entry struct {
	kind string
	new  func(dim int, seed uint64) (models.Detector, error)
}

// kinds is fixed at compile time; it is never mutated.
var kinds = []entry{
	{baseline.Kind, func(dim int, _ uint64) (models.Detector, error) { return baseline.New(dim, baseline.Options{}) }},
	{hst.Kind, func(dim int, seed uint64) (models.Detector, error) { return hst.New(dim, hst.Options{Seed: seed}) }},
}

// Kinds returns the known kinds, sorted.
func Kinds() []string {
	out := make([]string, 0, len(kinds))
	for _, e := range kinds {
		out = append(out, e.kind)
	}
	slices.Sort(out)
	return out
}

// New returns a detector of the given kind with default options for
// vectors of dim features, seeded for its random choices.
func New(kind string, dim int, seed uint64) (models.Detector, error) {
	if dim < 1 {
		return nil, fmt.Errorf("new %q detector: dimension %d, want at least 1", kind, dim)
	}
	for _, e := range kinds {
		if e.kind == kind {
			d, err := e.new(dim, seed)
			if err != nil {
				return nil, fmt.Errorf("new %q detector: %w", kind, err)
			}
			return d, nil
		}
	}
	return nil, fmt.Errorf("new detector: %w %q (known: %v)", ErrUnknownKind, kind, Kinds())
}

// Restore returns a detector of the kind named in the snapshot, in the
// snapshot's state.
func Restore(b []byte) (models.Detector, error) {
	kind, err := snapshot.Kind(b)
	if err != nil {
		return nil, fmt.Errorf("restore detector: %w", err)
	}
	d, err := New(kind, 1, 0)
	if err != nil {
		return nil, fmt.Errorf("restore detector: %w", err)
	}
	s, ok := d.(models.Snapshotter)
	if !ok {
		return nil, fmt.Errorf("restore detector: kind %q cannot be restored", kind)
	}
	if err := s.UnmarshalSnapshot(b); err != nil {
		return nil, fmt.Errorf("restore detector: %w", err)
	}
	return d, nil
}
