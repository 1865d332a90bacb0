package models

// Detector is a streaming anomaly detector over feature vectors of a fixed
// dimension. Implementations are not safe for concurrent use; they are
// deterministic for a given seed and input sequence.
type Detector interface {
	// Update scores x against what was learned before it, then learns x.
	// It returns the calibrated score in [0, 1]. x is not retained.
	Update(x []float64) float64
	// Score returns the calibrated score of x in [0, 1] without learning.
	Score(x []float64) float64
	// Kind names the algorithm, as models/catalog knows it (e.g. "hst").
	Kind() string
	// Samples returns how many vectors the detector has learned from.
	Samples() uint64
}

// Snapshotter is a Detector whose whole state can be saved and restored.
// Restoring a snapshot and continuing gives exactly the scores the
// uninterrupted run gives.
type Snapshotter interface {
	// MarshalSnapshot returns the whole state as versioned CBOR.
	MarshalSnapshot() ([]byte, error)
	// UnmarshalSnapshot replaces the state with a snapshot's. A snapshot of
	// another kind, of an unknown version, or corrupt is refused with an
	// error that says why, leaving the state as it was.
	UnmarshalSnapshot(b []byte) error
}

// Explainer is a Detector that can say which features drove its last score.
type Explainer interface {
	// Contributions writes, into dst (len = dimension), each feature's share
	// of the most recent score; the shares are non-negative.
	Contributions(dst []float64)
}
