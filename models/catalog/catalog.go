// Package catalog builds models/ detectors by kind name, the way agent/ and
// hub/ refer to them in configuration and snapshots.
//
// Every detector comes with its defaults; a dimension and a seed are all it
// needs. Restore reads the kind from a snapshot's envelope and returns a
// detector of that kind in the snapshot's state.
//
// # Kinds
//
//	kind      catches                                  Update, 8 features
//	baseline  one feature far from its robust level    ~0.17 µs
//	pca       broken correlations between features     ~1 µs
//	          (the default; options: PCAOptions)
//	forecast  a signal leaving its predicted course    see models/forecast
//	hst       points in low-mass regions of the space  ~1.8 µs
//	rrcf      shapes in time (shingles), any outlier   ~45 µs
//	ensemble  max of baseline and pca                  ~1 µs
//
// Times are CPU time per Update on a loaded 2-core machine (go test
// -bench); accuracy_test.go compares the kinds on injected anomalies.
package catalog

import (
	"errors"
	"fmt"

	"millwright/models"
	"millwright/models/baseline"
	"millwright/models/ensemble"
	"millwright/models/forecast"
	"millwright/models/hst"
	"millwright/models/pca"
	"millwright/models/rrcf"
	"millwright/models/snapshot"
)

// Default is the kind to use when a configuration names none: PCA with
// the options of PCAOptions, the only kind that meets the plant targets of
// models/plantbench (bearing wear flagged seconds after onset, no false
// alarm over simulated weeks of load changes) when it keeps learning.
// "baseline", the previous default, still works everywhere.
const Default = pca.Kind

// PCAOptions are the options of catalog "pca" detectors, tuned on the
// simulated plant (models/plantbench): the squared prediction error Q
// around one retained component (the machine's load, which moves every
// sensor together), so that load changes are normal and broken
// correlations are not; learning soft-gated by Robust, so that a fault
// scoring far out is hardly learned while a new operating point is;
// calibration frozen after the first 600 samples, the agent's warm-up, so
// that a slowly developing fault is not calibrated away. Use it with the
// alert rule of plantbench.RecommendedAlert: threshold 0.999, clear 0.99,
// 5 consecutive vectors.
func PCAOptions() pca.Options {
	return pca.Options{Components: 1, Statistic: pca.StatQ, Forget: 0.9999, Robust: 2.5, CalibrateUntil: 600}
}

// ErrUnknownKind is wrapped by the errors of New and Restore for a kind the
// catalog does not know.
var ErrUnknownKind = errors.New("unknown detector kind")

// Kinds returns the known kinds, sorted.
func Kinds() []string {
	return []string{baseline.Kind, ensemble.Kind, forecast.Kind, hst.Kind, pca.Kind, rrcf.Kind}
}

// New returns a detector of the given kind with default options for
// vectors of dim features, seeded for its random choices.
//
// "ensemble" is the max of a robust baseline and a streaming PCA detector:
// the baseline is sharp on single features, PCA on broken correlations.
func New(kind string, dim int, seed uint64) (models.Detector, error) {
	if dim < 1 {
		return nil, fmt.Errorf("new %q detector: dimension %d, want at least 1", kind, dim)
	}
	var (
		d   models.Detector
		err error
	)
	switch kind {
	case baseline.Kind:
		d, err = baseline.New(dim, baseline.Options{})
	case hst.Kind:
		d, err = hst.New(dim, hst.Options{Seed: seed})
	case rrcf.Kind:
		d, err = rrcf.New(dim, rrcf.Options{Seed: seed})
	case pca.Kind:
		d, err = pca.New(dim, PCAOptions())
	case forecast.Kind:
		d, err = forecast.New(dim, forecast.Options{})
	case ensemble.Kind:
		d, err = newEnsemble(dim)
	default:
		return nil, fmt.Errorf("new detector: %w %q (known: %v)", ErrUnknownKind, kind, Kinds())
	}
	if err != nil {
		return nil, fmt.Errorf("new %q detector: %w", kind, err)
	}
	return d, nil
}

func newEnsemble(dim int) (models.Detector, error) {
	b, err := baseline.New(dim, baseline.Options{})
	if err != nil {
		return nil, err
	}
	p, err := pca.New(dim, pca.Options{})
	if err != nil {
		return nil, err
	}
	return ensemble.New([]models.Detector{b, p}, ensemble.Options{Combine: ensemble.Max, Restore: Restore})
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
