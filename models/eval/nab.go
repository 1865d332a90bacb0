package eval

import "math"

// Profile weighs the outcomes of the window score. FP and FN are negative.
type Profile struct {
	Name       string
	TP, FP, FN float64
}

// The three application profiles of the Numenta Anomaly Benchmark.
var (
	Standard    = Profile{Name: "standard", TP: 1, FP: -0.11, FN: -1}
	RewardLowFP = Profile{Name: "reward_low_FP", TP: 1, FP: -0.22, FN: -1}
	RewardLowFN = Profile{Name: "reward_low_FN", TP: 1, FP: -0.11, FN: -2}
)

// ScaledSigmoid is NAB's position weight: 2/(1+e^(5y)) - 1, and -1 beyond
// y = 3. y = -1 is a window's first row (weight ≈ 0.987), y = 0 its end
// (weight 0), y > 0 rows after it (weight toward -1).
func ScaledSigmoid(y float64) float64 {
	if y > 3 {
		return -1
	}
	return 2/(1+math.Exp(5*y)) - 1
}

// NAB accumulates the window score row by row. The windows are runs of rows
// flagged inWindow; a window's weights are settled when it closes (the row
// after it, or Break), so the score needs no look-ahead. The components are
// kept unweighted, so one pass yields the score of every profile. The zero
// value is ready to use.
type NAB struct {
	windows  int
	missed   int
	tpWeight float64 // Σ ScaledSigmoid(position of first alarm) over hit windows
	fpWeight float64 // Σ -ScaledSigmoid(distance past the previous window) over FP rows

	// per-series state
	idx      int
	inWindow bool
	winStart int
	hit      int // row index of the window's first alarm, -1 if none
	prevEnd  int
	prevLen  int
	hasPrev  bool
}

// Add counts one row of the current series.
func (n *NAB) Add(inWindow, alarm bool) {
	if inWindow && !n.inWindow {
		n.inWindow = true
		n.winStart = n.idx
		n.hit = -1
		n.windows++
	}
	if !inWindow && n.inWindow {
		n.closeWindow()
	}
	switch {
	case alarm && inWindow:
		if n.hit < 0 {
			n.hit = n.idx
		}
	case alarm:
		w := 1.0 // before the first window: full penalty
		if n.hasPrev {
			d := float64(max(n.prevLen-1, 1))
			w = -ScaledSigmoid(float64(n.idx-n.prevEnd) / d)
		}
		n.fpWeight += w
	}
	n.idx++
}

func (n *NAB) closeWindow() {
	n.inWindow = false
	length := n.idx - n.winStart
	if n.hit < 0 {
		n.missed++
	} else {
		pos := -float64(length-(n.hit-n.winStart)) / float64(length)
		n.tpWeight += ScaledSigmoid(pos)
	}
	n.prevEnd = n.idx - 1
	n.prevLen = length
	n.hasPrev = true
}

// Break ends the current series: an open window closes with its last row,
// and the next row starts a new series with no previous window.
func (n *NAB) Break() {
	if n.inWindow {
		n.closeWindow()
	}
	n.idx = 0
	n.hasPrev = false
}

// Windows is the number of windows seen, including an open one.
func (n *NAB) Windows() int { return n.windows }

// Raw is the unnormalised score under p of the closed windows and all rows.
func (n *NAB) Raw(p Profile) float64 {
	return p.TP*n.tpWeight + p.FP*n.fpWeight + p.FN*float64(n.missed)
}

// Score is the normalised score under p, over closed windows: 100 for a
// detector that alarms exactly on the first row of every window, 0 for one
// that never alarms, negative for one worse than silence. It is 0 when no
// window has closed.
func (n *NAB) Score(p Profile) float64 {
	closed := n.windows
	if n.inWindow {
		closed--
	}
	if closed == 0 {
		return 0
	}
	null := p.FN * float64(closed)
	perfect := p.TP * ScaledSigmoid(-1) * float64(closed)
	if perfect == null {
		return 0
	}
	return 100 * (n.Raw(p) - null) / (perfect - null)
}
