// Package calibrate turns a detector's raw anomaly score (higher is more
// anomalous, any scale) into a probability-like value in [0, 1] that means
// the same on every machine: p is the estimated probability that a score
// from the recent past is lower than this one.
//
// The body of the distribution is the empirical CDF of a window of recent
// raw scores, kept sorted. The upper tail, where a window has too few
// points to rank against, follows the peaks-over-threshold approach of SPOT
// (Siffer, Fouque, Termier and Largouët, "Anomaly Detection in Streams with
// Extreme Value Theory", KDD 2017): exceedances over a high quantile t of
// the window are fitted with a generalized Pareto distribution (by the
// method of moments), and a score x > t gets
//
//	p = 1 - f·(1 + γ(x-t)/σ)^(-1/γ)
//
// where f is the fraction of the window above t. Until MinPeaks
// exceedances have been kept (a detector frozen after a short warm-up may
// never get there), the tail is exponential (γ = 0) with σ the window's
// own mean excess over t, inflated by 1 + 1/√k for its k points: unlike
// ranks, which cannot exceed 1 - 1/n, it lets a frozen detector's score
// reach thresholds like 0.9999 on a real fault, and with few points it errs
// toward lower scores. Until MinSamples scores have been observed every
// score calibrates to 0, so a cold detector never raises a spurious alarm.
//
// A Calibrator allocates nothing per update and is not safe for concurrent
// use. Its State round-trips exactly: a restored calibrator continues with
// the very same values.
package calibrate
