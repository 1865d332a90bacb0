// Package rrcf is a streaming Robust Random Cut Forest: Guha, Mishra, Roy
// and Schrijvers, "Robust Random Cut Forest Based Anomaly Detection on
// Streams", ICML 2016.
//
// # Model
//
// Each of Trees trees holds a sample of at most Samples points and is the
// random cut tree of that sample: a cut picks a dimension with probability
// proportional to the sample's extent along it, and a uniform value within.
// Points are inserted and deleted incrementally, as in the paper, so a
// tree always has the distribution of a tree built from scratch.
//
// The sample is a time-decayed reservoir (as in Amazon's random cut forest
// library): a point gets the priority -λ·t + ln(-ln U) and each tree keeps
// the Samples lowest, so recent points are favoured with a horizon of about
// 1/λ points (default λ = 1/(10·Samples)).
//
// # Score
//
// The raw score of x is its collusive displacement (CoDisp), averaged over
// trees: how many points would move in the tree if x were inserted,
// relative to the size of the group x hides in. It is computed in
// expectation over where the insertion would cut, from the bounding boxes
// along x's path, so scoring consumes no randomness and changes nothing.
// It goes through models/calibrate. Until the first Samples points are in,
// every score is 0.
//
// # Snapshots
//
// Snapshots are canonical (points numbered by first use, trees in
// preorder) and store each distinct point once: about 0.7 MB at 8
// features, 1.4 MB at 32, so the 2 MiB limit allows a point dimension
// (features × Shingle) of about 50.
//
// # Shingles
//
// A point is the concatenation of the last Shingle vectors (default 8 for a
// single signal, 1 otherwise), which lets the forest see shapes in time.
// A missing feature (NaN or ±Inf) is replaced by its last observed value
// (the missing value itself is never learned) and counted; a vector with
// every feature missing is skipped.
package rrcf
