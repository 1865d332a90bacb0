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
// At the defaults with points of 8 values an instance holds about 1000 KiB
// after warm-up (TestBudget): the internal nodes (0.26 MB: 20 bytes each,
// with int32 child references, the mass of the left child only and no
// parent; a leaf is just a reference to its point), the distinct points,
// each stored once for all trees (about 0.35 MB), the reservoirs (0.15 MB)
// and the boxes of large subtrees (0.2 MB). Exact boxes are what make an
// insertion the paper's, but keeping all of them cost 1.6 MB: only nodes
// of mass 21 or more keep theirs, in 32 slots per tree; any other box is
// rebuilt from the subtree when needed. A box is minima and maxima, so a
// rebuilt box has the same bits as a kept one, and the forest behaves
// exactly as when every box was kept, at 1.3 to 1.5 times the update time.
//
// # Shingles
//
// A point is the concatenation of the last Shingle vectors (default 8 for a
// single signal, 1 otherwise), which lets the forest see shapes in time.
// A missing feature (NaN or ±Inf) is replaced by its last observed value
// (the missing value itself is never learned) and counted; a vector with
// every feature missing is skipped.
package rrcf
