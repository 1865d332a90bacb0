// Package eval is the yardstick for Millwright's streaming anomaly
// detectors: accumulators that take one (label, decision) pair at a time and
// report point, event and window-score metrics. Every accumulator is usable
// online, allocation-free per row, and can be merged or split into series, so
// the hub's champion/challenger comparison and the offline benchmarks use the
// same arithmetic.
//
// # Point metrics
//
// [Confusion] counts true/false positives/negatives row by row and derives
// precision, recall, F1, the false-alarm rate FAR = FP/(FP+TN) and the
// missed-alarm rate MAR = FN/(FN+TP), as the SKAB leaderboard reports them.
//
// # Event metrics
//
// [Events] treats each maximal run of labelled rows as one anomaly window and
// reports, per window, the detection delay (first alarm inside the window
// minus the window start) or a miss, and counts alarm events (rising edges of
// the decision) that start outside every window as false alarms, per day of
// observed time.
//
// # Window score
//
// [NAB] is the Numenta Anomaly Benchmark score of Lavin & Ahmad, "Evaluating
// Real-time Anomaly Detection Algorithms – the Numenta Anomaly Benchmark"
// (IEEE ICMLA 2015): only the first alarm inside a window counts, weighted by
// a scaled sigmoid of its position (early is worth almost A_TP, the window's
// end almost nothing); every alarmed row outside a window costs A_FP,
// discounted by the same sigmoid just after a window; a window without alarm
// costs A_FN. The raw sum is normalised so a detector that never fires scores
// 0 and one that fires exactly at every window start scores 100.
package eval
