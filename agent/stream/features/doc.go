// Package features turns an asset's readings into one named feature vector
// per event-time window.
//
// # Windows
//
// Windows are aligned to the Unix epoch: tumbling windows of Size, or
// sliding windows of Size every Step (Step divides Size). Readings fall in
// panes of Step; each series keeps a small ring of pane accumulators (count,
// centred moments of value and time, their co-moment, min, max), and a
// window's aggregates come from merging its panes, so a sliding window costs
// no more per reading than a tumbling one. Merging uses the pairwise update
// of Chan et al., free of the cancellation of raw power sums, so the slope
// and standard deviation stay exact far from the epoch.
//
// The asset's clock is the greatest event time seen over all its signals.
// A window closes when the clock passes its end by Options.Grace; readings
// that only fall in closed windows are late, dropped and counted. Feed the
// Joiner from per-sensor reorder buffers (package reorder) so that each
// signal arrives in order; Grace absorbs the skew between sensors. Advance
// moves the clock without a reading, Flush closes everything at shutdown.
//
// # Scalar signals
//
// A scalar signal is one series, aggregated by mean, RMS, min, max, slope
// (least squares against event time, per second) and standard deviation,
// or the subset Signal.Aggs names.
//
// # Vibration frames
//
// A frame signal takes blocks of samples at a known rate. Each frame gives
// the series rms, peak, crest, kurtosis and skewness of the centred frame,
// and the energy of every configured band of its Hann-windowed spectrum
// (a radix-2 real FFT, zero-padded to a power of two), scaled so that a
// sine of amplitude A puts A²/2 in its band. With a Bearing configured, four
// more bands sum the energy around the first Harmonics multiples of its
// defect frequencies BPFO, BPFI, BSF and FTF (±DefectWidth). Each frame
// series is then aggregated over the window like a scalar (by default mean
// and max).
//
// # Layout and missing values
//
// The vector holds, for each signal in configuration order, each of its
// series, each aggregate: "temp.mean", "temp.slope", "vib_rms.mean",
// "vib_band_hi.max", "vib_bpfo.mean". Names never change for a
// configuration. A window is emitted when any signal had a reading in it; a
// signal without one keeps its last values for up to Options.Carry windows,
// then reads NaN.
//
// # Allocation
//
// Add allocates nothing; AddFrame allocates only the first time it sees a
// frame length (its FFT plan). A Joiner is not safe for concurrent use.
package features
