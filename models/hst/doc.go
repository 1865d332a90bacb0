// Package hst is a streaming Half-Space Trees detector: Tan, Ting and Liu,
// "Fast Anomaly Detection for Streaming Data", IJCAI 2011.
//
// # Model
//
// Each of Trees trees splits a random work space in halves, down to Depth
// levels, choosing the feature of every node at random. A node counts the
// points that reached it in two consecutive windows of Window points: the
// reference mass r (the last complete window) and the latest mass l (the
// window being filled). When a window completes, l becomes r. A point's
// mass score is Σ r·2^k over trees, taken at the first node on its path
// whose r is at most SizeLimit (or the deepest node): anomalies fall in
// regions that held little mass. The raw score -ln(1 + mass/Trees) goes
// through models/calibrate.
//
// The paper's window is 250 points with SizeLimit 0.1·Window; the defaults
// here are 1000 and 0.05·Window, which on machine-like signals with slow
// components (see models/catalog's injected-anomaly test) raise the AUC
// from about 0.67 to 0.8: a longer warm-up sees more of each feature's
// range, and finer mass cells separate short anomalies.
//
// # Work space
//
// The first Window points are buffered; their per-feature minimum and
// maximum fix the work space, as in the paper: per tree and feature a
// random s in [0, 1] of the observed range, widened to s ± 2·max(s, 1-s).
// The buffered points then form the first reference window. Until then
// every score is 0.
//
// The latest Window points are kept. When half of a window falls outside
// the range the work space was built from (widened by half of it on each
// side) — a machine that warmed up idle and now runs, a recalibrated
// sensor — the work space is rebuilt from the latest window's range and
// the trees relearn that window, so resolution follows the data.
//
// # Memory
//
// Trees are materialized lazily: a node gets its two children only once
// SizeLimit points of a window reached it, and a subtree whose masses all
// fell to zero is returned to a free list. A node's feature is a hash of
// the tree's seed and the node's position, so a regrown node splits as
// before. Nodes live in one flat pool with int32 child indices: 16 bytes
// (split value, children, masses) plus 2 for the split feature in a
// parallel array; the pool is capped at MaxNodes (default 32768, 576 KiB).
//
// # Cost
//
// A node stores its split value, the midpoint of its region along its
// feature, derived when the node is made (and on restore) from the work
// space and the splits above it, so a descent compares one value and
// carries no bounds. Scoring and learning share one descent per tree. A
// descent is a chain of dependent loads (node, feature value, child), most
// of it above the node where the tree scores: two trees descend side by
// side, two independent chains the CPU overlaps, with a branch-free choice
// of child (a coin toss for the branch predictor), and when one reaches its
// scoring node it finishes alone and the next tree takes its place.
//
// Split features of a node that are missing (NaN or ±Inf) stop the point
// there: it is scored at that node and learned no deeper.
package hst
