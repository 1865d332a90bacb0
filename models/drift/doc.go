// Package drift detects concept drift in a stream of numbers: a change of the
// mean that a deployed model should react to (retrain a challenger, re-warm a
// calibration). Both detectors take one value per call, answer whether a
// drift was detected at it, allocate nothing per value, and save their whole
// state as a versioned snapshot (models/snapshot).
//
// # ADWIN
//
// [ADWIN] is ADWIN2 of Bifet & Gavaldà, "Learning from Time-Changing Data
// with Adaptive Windowing" (SIAM SDM 2007). It keeps a window of recent values
// compressed into an exponential histogram (at most M buckets of each size
// 2^i, so memory is O(M log W)) and drops the window's older part whenever
// two sub-windows have means that differ by more than a Hoeffding-style bound
// with confidence δ. The window length is the detector's answer to "how long
// has the stream been stable".
//
// # Page-Hinkley
//
// [PageHinkley] is the Page-Hinkley test (Page, "Continuous Inspection
// Schemes", Biometrika 1954): a cumulative sum of deviations from the running
// mean, minus a tolerance, alarming when it rises more than a threshold above
// its minimum; here run both ways, for increases and decreases.
package drift
