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
// preorder) and store each distinct point once. Everything a tree can
// re-derive exactly is left out: which leaf holds a sample is where its
// point descends to, and boxes and masses are rebuilt from the points.
// What remains is packed (version 2): the integers as varints, the floats
// (points, cuts, priorities) with their bytes regrouped by significance,
// both deflated. At the defaults (50 trees of 256 samples, points of 8
// values) that is about 480 KB for 8 features of full-precision noise and
// 370 KB for one shingled signal, against 650 KB unpacked (version 1, still
// read); sensor values of limited precision pack smaller.
//
// # Memory
//
// At the defaults with points of 8 values an instance holds about 3 MB
// (the conformance stream, after warm-up): the boxes of the 255 internal
// nodes of each tree (1.6 MB; leaves use their point as box), the node
// pools (0.8 MB), the distinct points (about 0.35 MB) and the reservoirs
// (0.2 MB). Exact boxes are what make an insertion the paper's; caching
// only the boxes of large subtrees would trade memory for update time.
//
// # Shingles
//
// A point is the concatenation of the last Shingle vectors (default 8 for a
// single signal, 1 otherwise), which lets the forest see shapes in time.
// A missing feature (NaN or ±Inf) is replaced by its last observed value
// (the missing value itself is never learned) and counted; a vector with
// every feature missing is skipped.
package rrcf
