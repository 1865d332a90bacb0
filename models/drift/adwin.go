package drift

import (
	"math"

	"millwright/models/snapshot"
)

// ADWINOptions configures an ADWIN. The zero value gives the published
// defaults.
type ADWINOptions struct {
	// Delta is the confidence of a cut: smaller means fewer false drifts
	// and slower detection. Default 0.002.
	Delta float64
	// MaxBuckets is M, the number of buckets kept per size. Default 5.
	MaxBuckets int
	// Clock is how many values pass between two drift checks. Default 32.
	Clock int
	// MinWindow is the least number of values on each side of a cut.
	// Default 5.
	MinWindow int
	// GracePeriod is the least window length before checking. Default 10.
	GracePeriod int
}

func (o *ADWINOptions) fill() {
	if !(o.Delta > 0 && o.Delta < 1) {
		o.Delta = 0.002
	}
	if o.MaxBuckets < 2 || o.MaxBuckets > maxBucketsCap {
		o.MaxBuckets = 5
	}
	if o.Clock <= 0 {
		o.Clock = 32
	}
	if o.MinWindow <= 0 {
		o.MinWindow = 5
	}
	if o.GracePeriod <= 0 {
		o.GracePeriod = 10
	}
}

const (
	maxRows       = 62 // bucket sizes up to 2^61: more values than a uint64 counts
	maxBucketsCap = 16
)

type bucket struct {
	Total    float64 `cbor:"1,keyasint"`
	Variance float64 `cbor:"2,keyasint"` // sum of squared deviations from the bucket's mean
}

// ADWIN is an adaptive-window drift detector. Use NewADWIN.
type ADWIN struct {
	opt ADWINOptions
	// rows[i] holds buckets of 2^i values, newest first; count[i] of them
	// are in use. Fixed arrays: nothing is allocated per value.
	rows  [maxRows][maxBucketsCap + 1]bucket
	count [maxRows]int
	nRows int

	width    uint64
	total    float64
	variance float64
	ticks    uint64
	samples  uint64
	drifts   uint64
}

// NewADWIN returns an empty ADWIN.
func NewADWIN(o ADWINOptions) *ADWIN {
	o.fill()
	return &ADWIN{opt: o, nRows: 1}
}

// Width is the number of values in the current window.
func (a *ADWIN) Width() uint64 { return a.width }

// Mean is the mean of the current window, 0 when empty.
func (a *ADWIN) Mean() float64 {
	if a.width == 0 {
		return 0
	}
	return a.total / float64(a.width)
}

// Variance is the population variance of the current window.
func (a *ADWIN) Variance() float64 {
	if a.width == 0 {
		return 0
	}
	return a.variance / float64(a.width)
}

// Drifts is the number of drifts detected so far.
func (a *ADWIN) Drifts() uint64 { return a.drifts }

// Samples is the number of values added (NaN and ±Inf are skipped).
func (a *ADWIN) Samples() uint64 { return a.samples }

// Add adds x to the window and reports whether the window was cut, that is,
// whether the mean drifted. NaN and ±Inf are ignored.
func (a *ADWIN) Add(x float64) bool {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return false
	}
	a.samples++
	a.insert(x)
	a.ticks++
	if a.ticks%uint64(a.opt.Clock) != 0 || a.width <= uint64(a.opt.GracePeriod) {
		return false
	}
	drift := false
	for a.cutOnce() {
		drift = true
	}
	if drift {
		a.drifts++
	}
	return drift
}

func (a *ADWIN) insert(x float64) {
	a.width++
	if a.width > 1 {
		w := float64(a.width)
		d := x - a.total/(w-1)
		a.variance += (w - 1) * d * d / w
	}
	a.total += x
	a.pushFront(0, bucket{Total: x})
	a.compress()
}

func (a *ADWIN) pushFront(row int, b bucket) {
	r := &a.rows[row]
	copy(r[1:a.count[row]+1], r[:a.count[row]])
	r[0] = b
	a.count[row]++
	if row >= a.nRows {
		a.nRows = row + 1
	}
}

// compress merges the two oldest buckets of every row holding more than M
// into one bucket of the next size.
func (a *ADWIN) compress() {
	for i := 0; i < a.nRows && a.count[i] > a.opt.MaxBuckets; i++ {
		if i+1 >= maxRows {
			// 2^61 values in one row: keep the oldest bucket as it is.
			a.count[i] = a.opt.MaxBuckets
			return
		}
		r := &a.rows[i]
		n := float64(uint64(1) << i)
		b1, b2 := r[a.count[i]-1], r[a.count[i]-2]
		a.count[i] -= 2
		d := b1.Total/n - b2.Total/n
		a.pushFront(i+1, bucket{
			Total:    b1.Total + b2.Total,
			Variance: b1.Variance + b2.Variance + n*n*d*d/(2*n),
		})
	}
}

// cutOnce looks for one cut point, oldest first, and drops the oldest
// bucket if it finds one.
func (a *ADWIN) cutOnce() bool {
	var n0, u0 float64
	n1, u1 := float64(a.width), a.total
	minW := float64(a.opt.MinWindow)
	w := float64(a.width)
	v := a.variance / w
	dd := math.Log(2 * math.Log(w) / a.opt.Delta)
	for i := a.nRows - 1; i >= 0; i-- {
		size := float64(uint64(1) << i)
		for k := a.count[i] - 1; k >= 0; k-- {
			b := a.rows[i][k]
			n0 += size
			n1 -= size
			u0 += b.Total
			u1 -= b.Total
			if i == 0 && k == 0 {
				return false // the newest bucket: no right-hand side left
			}
			if n0 < minW || n1 < minW {
				continue
			}
			m := 1/(n0-minW+1) + 1/(n1-minW+1)
			eps := math.Sqrt(2*m*v*dd) + 2.0/3*dd*m
			if math.Abs(u0/n0-u1/n1) > eps {
				a.dropOldest()
				return a.width > 0
			}
		}
	}
	return false
}

func (a *ADWIN) dropOldest() {
	i := a.nRows - 1
	for i > 0 && a.count[i] == 0 {
		i--
	}
	if a.count[i] == 0 {
		return
	}
	b := a.rows[i][a.count[i]-1]
	a.count[i]--
	n := float64(uint64(1) << i)
	a.width -= uint64(n)
	a.total -= b.Total
	if a.width == 0 {
		a.total, a.variance = 0, 0
	} else {
		w := float64(a.width)
		d := b.Total/n - a.total/w
		a.variance -= b.Variance + n*w*d*d/(n+w)
		a.variance = max(a.variance, 0)
	}
	for a.nRows > 1 && a.count[a.nRows-1] == 0 {
		a.nRows--
	}
}

// Snapshots.

const (
	adwinKind    = "adwin"
	adwinVersion = 1
)

type adwinState struct {
	Delta       float64    `cbor:"1,keyasint"`
	MaxBuckets  int        `cbor:"2,keyasint"`
	Clock       int        `cbor:"3,keyasint"`
	MinWindow   int        `cbor:"4,keyasint"`
	GracePeriod int        `cbor:"5,keyasint"`
	Rows        [][]bucket `cbor:"6,keyasint"`
	Width       uint64     `cbor:"7,keyasint"`
	Total       float64    `cbor:"8,keyasint"`
	Variance    float64    `cbor:"9,keyasint"`
	Ticks       uint64     `cbor:"10,keyasint"`
	Samples     uint64     `cbor:"11,keyasint"`
	Drifts      uint64     `cbor:"12,keyasint"`
}

// MarshalSnapshot returns the whole state as a versioned CBOR snapshot.
func (a *ADWIN) MarshalSnapshot() ([]byte, error) {
	s := adwinState{
		Delta: a.opt.Delta, MaxBuckets: a.opt.MaxBuckets, Clock: a.opt.Clock,
		MinWindow: a.opt.MinWindow, GracePeriod: a.opt.GracePeriod,
		Width: a.width, Total: a.total, Variance: a.variance,
		Ticks: a.ticks, Samples: a.samples, Drifts: a.drifts,
		Rows: make([][]bucket, a.nRows),
	}
	for i := range a.nRows {
		s.Rows[i] = append([]bucket{}, a.rows[i][:a.count[i]]...)
	}
	return snapshot.Marshal(adwinKind, adwinVersion, s)
}

// UnmarshalSnapshot replaces the state with a snapshot's, refusing another
// kind, an unknown version or an inconsistent state and leaving the state
// as it was.
func (a *ADWIN) UnmarshalSnapshot(b []byte) error {
	var s adwinState
	if _, err := snapshot.Unmarshal(b, adwinKind, adwinVersion, &s); err != nil {
		return err
	}
	o := ADWINOptions{Delta: s.Delta, MaxBuckets: s.MaxBuckets, Clock: s.Clock,
		MinWindow: s.MinWindow, GracePeriod: s.GracePeriod}
	o.fill()
	if o != (ADWINOptions{Delta: s.Delta, MaxBuckets: s.MaxBuckets, Clock: s.Clock,
		MinWindow: s.MinWindow, GracePeriod: s.GracePeriod}) {
		return snapshot.Corrupt(adwinKind, "invalid options")
	}
	if len(s.Rows) == 0 || len(s.Rows) > maxRows {
		return snapshot.Corrupt(adwinKind, "%d bucket rows", len(s.Rows))
	}
	var width uint64
	for i, r := range s.Rows {
		if len(r) > o.MaxBuckets {
			return snapshot.Corrupt(adwinKind, "row %d holds %d buckets, limit %d", i, len(r), o.MaxBuckets)
		}
		for _, bk := range r {
			if !finite(bk.Total) || !finite(bk.Variance) || bk.Variance < 0 {
				return snapshot.Corrupt(adwinKind, "non-finite bucket in row %d", i)
			}
		}
		width += uint64(len(r)) << i
	}
	if width != s.Width || !finite(s.Total) || !finite(s.Variance) || s.Variance < 0 {
		return snapshot.Corrupt(adwinKind, "window of %d values, buckets hold %d", s.Width, width)
	}
	*a = ADWIN{opt: o, nRows: len(s.Rows), width: s.Width, total: s.Total,
		variance: s.Variance, ticks: s.Ticks, samples: s.Samples, drifts: s.Drifts}
	for i, r := range s.Rows {
		a.count[i] = copy(a.rows[i][:], r)
	}
	return nil
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
