// Package influx writes the hub's per-model, per-machine metrics to
// InfluxDB and reads them back for charts.
//
// The store is the source of truth; InfluxDB is a view for dashboards. A
// Writer therefore never slows ingest down: Add encodes points into a
// bounded in-memory queue (points and bytes) and returns at once; Run sends
// batches through influxdb-client-go's blocking write API, retrying with
// exponential backoff and jitter while InfluxDB is down. When the queue is
// full the oldest points are dropped and counted, and the time span they
// covered is remembered: once writes succeed again the Writer re-reads that
// span from its Source (the store) and writes it again. InfluxDB replaces
// a point with the same series and time, so re-writing is harmless.
//
// The client's asynchronous write API is not used: it keeps failed batches
// for minutes in a retry queue of its own and stalls on unread errors.
// Reads use InfluxQL through the /query endpoint (see Query).
package influx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	http2 "github.com/influxdata/influxdb-client-go/v2/api/http"
	"github.com/prometheus/client_golang/prometheus"

	"millwright/hub/store"
	"millwright/wire"
)

// Defaults for Options.
const (
	DefaultMaxPoints       = 100_000
	DefaultMaxBytes        = 16 << 20
	DefaultBatchPoints     = 5000
	DefaultFlushEvery      = time.Second
	DefaultRetryMin        = 500 * time.Millisecond
	DefaultRetryMax        = 30 * time.Second
	DefaultWriteTimeout    = 10 * time.Second
	DefaultShutdownTimeout = 5 * time.Second
)

// Options configure New. URL and Database are required.
type Options struct {
	// URL is InfluxDB's HTTP API, e.g. http://127.0.0.1:8086.
	URL string
	// Database and RetentionPolicy (empty: the database's default) name
	// the InfluxDB 1.8 bucket "Database/RetentionPolicy".
	Database        string
	RetentionPolicy string
	// Username and Password, when set, authenticate (token "user:pass").
	Username string
	Password string

	MaxPoints   int           // queue bound in points; default DefaultMaxPoints
	MaxBytes    int           // queue bound in bytes of line protocol; default DefaultMaxBytes
	BatchPoints int           // points per write; default DefaultBatchPoints
	FlushEvery  time.Duration // longest a point waits for a fuller batch; default DefaultFlushEvery
	RetryMin    time.Duration // first retry delay; default DefaultRetryMin
	RetryMax    time.Duration // longest retry delay; default DefaultRetryMax
	// WriteTimeout bounds one write request; default DefaultWriteTimeout.
	WriteTimeout time.Duration
	// ShutdownTimeout bounds the last flush when Run's context ends;
	// default DefaultShutdownTimeout.
	ShutdownTimeout time.Duration

	// Source, when set, is re-read for the span of dropped points once
	// InfluxDB accepts writes again. StoreSource adapts the hub store.
	Source Source
	// BackfillOnStart, with a Source, re-reads the last BackfillOnStart of
	// points when Run starts: what a previous run still had queued when it
	// stopped is written after all. 0 disables it.
	BackfillOnStart time.Duration

	Logger *slog.Logger
	// Registerer, when set, receives the writer's metrics.
	Registerer prometheus.Registerer

	writer lineWriter // tests only; default the client's blocking write API
}

// Source re-reads points that the Writer had to drop.
type Source interface {
	// Points passes to add, in batches, every point it holds whose time is
	// in [from, to]. add blocks while the Writer's queue is busy and
	// returns ctx's error when the Writer stops; Points returns it.
	Points(ctx context.Context, from, to time.Time, add func([]Point) error) error
}

// lineWriter is the slice of the client's blocking write API the Writer uses.
type lineWriter interface {
	// WriteRecord writes lines of line protocol in one request.
	WriteRecord(ctx context.Context, line ...string) error
}

// Stats are running totals since start.
type Stats struct {
	QueuedPoints   int
	QueuedBytes    int
	Written        uint64 // points InfluxDB accepted
	Retries        uint64 // failed write attempts that will be retried
	Dropped        uint64 // points dropped from a full queue
	Refused        uint64 // points InfluxDB refused (bad request); not retried
	RejectedValues uint64 // NaN or ±Inf fields left out
	Backfilled     uint64 // points re-read from the Source
	LastError      string // "" after a successful write
	LastErrorTime  time.Time
}

// line is one encoded point in the queue.
type line struct {
	off, end int   // bytes in queue.buf
	t        int64 // point time, Unix ns
}

// Writer is the bounded, retrying InfluxDB writer. Add is safe for
// concurrent use; Run must be called once.
type Writer struct {
	opts Options
	log  *slog.Logger
	w    lineWriter
	m    *metrics

	mu      sync.Mutex
	buf     []byte // encoded lines; live from lines[head].off
	lines   []line
	head    int
	inBytes int // bytes and points taken by the batch in flight
	inPts   int
	// dropped span not yet backfilled; dropFrom > dropTo when none
	dropFrom, dropTo int64
	sc               scratch
	rejectedScratch  int

	kick chan struct{} // a batch is ready
	room chan struct{} // a write finished: the queue has room again

	written, retries, dropped, refused, rejectedValues, backfilled atomic.Uint64
	lastErr                                                        atomic.Pointer[errAt]
}

type errAt struct {
	msg string
	at  time.Time
}

// New checks opts and builds a Writer; Run sends.
func New(opts Options) (*Writer, error) {
	if opts.URL == "" {
		return nil, errors.New("influx: URL is required")
	}
	if opts.Database == "" {
		return nil, errors.New("influx: database is required")
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defD := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&opts.MaxPoints, DefaultMaxPoints)
	def(&opts.MaxBytes, DefaultMaxBytes)
	def(&opts.BatchPoints, DefaultBatchPoints)
	opts.BatchPoints = min(opts.BatchPoints, opts.MaxPoints)
	defD(&opts.FlushEvery, DefaultFlushEvery)
	defD(&opts.RetryMin, DefaultRetryMin)
	defD(&opts.RetryMax, DefaultRetryMax)
	defD(&opts.WriteTimeout, DefaultWriteTimeout)
	defD(&opts.ShutdownTimeout, DefaultShutdownTimeout)
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	w := &Writer{opts: opts, log: opts.Logger, w: opts.writer, dropFrom: 1, dropTo: 0,
		kick: make(chan struct{}, 1), room: make(chan struct{}, 1)}
	if w.w == nil {
		token := ""
		if opts.Username != "" || opts.Password != "" {
			token = opts.Username + ":" + opts.Password
		}
		// The blocking API writes each call as one request, with no retry
		// queue of its own: retries are ours.
		c := influxdb2.NewClientWithOptions(opts.URL, token, influxdb2.DefaultOptions().
			SetHTTPClient(&http.Client{Timeout: opts.WriteTimeout}))
		w.w = c.WriteAPIBlocking("", opts.Database+"/"+opts.RetentionPolicy)
	}
	w.m = newMetrics(w)
	if opts.Registerer != nil {
		if err := w.m.register(opts.Registerer); err != nil {
			return nil, fmt.Errorf("influx: register metrics: %w", err)
		}
	}
	return w, nil
}

// Add queues points for writing and returns at once. Points that cannot be
// encoded are counted as refused; NaN and ±Inf fields are left out and
// counted. When the queue is full the oldest queued points are dropped.
func (w *Writer) Add(points ...Point) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := range points {
		w.addLocked(&points[i])
	}
	w.kickLocked()
}

// AddMetrics queues one point per series of a stored metrics message of
// gateway gw. It allocates nothing once the queue has grown.
func (w *Writer) AddMetrics(gw string, m *wire.Metrics) {
	w.mu.Lock()
	defer w.mu.Unlock()
	t := time.Unix(0, m.Env.Time)
	for i := range m.Series {
		w.addLocked(w.sc.modelPoint(gw, t, m.IntervalNs, &m.Series[i]))
	}
	w.kickLocked()
}

// AddAlert queues the point of a stored alert.
func (w *Writer) AddAlert(a store.Alert) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.addLocked(w.sc.alertPoint(&a))
	w.kickLocked()
}

// AddDrift queues the point of a stored drift event of gateway gw.
func (w *Writer) AddDrift(gw string, d *wire.Drift) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.addLocked(w.sc.driftPoint(gw, d))
	w.kickLocked()
}

func (w *Writer) addLocked(p *Point) {
	rejected := 0
	off := len(w.buf)
	var err error
	w.buf, err = appendLine(w.buf, p, &rejected)
	if rejected > 0 {
		w.rejectedValues.Add(uint64(rejected))
	}
	if err != nil {
		w.refused.Add(1)
		return
	}
	n := len(w.buf) - off
	t := p.Time.UnixNano()
	// Make room by dropping the oldest queued points; the batch in flight
	// is not the queue's to drop.
	for w.queuedPointsLocked()+w.inPts+1 > w.opts.MaxPoints || w.queuedBytesLocked()+w.inBytes > w.opts.MaxBytes {
		if w.head == len(w.lines) {
			// Nothing older to drop: the new point goes.
			w.buf = w.buf[:off]
			w.dropLocked(t)
			return
		}
		w.dropLocked(w.lines[w.head].t)
		w.head++
	}
	w.lines = append(w.lines, line{off: off, end: off + n, t: t})
	w.compactLocked()
}

func (w *Writer) queuedPointsLocked() int { return len(w.lines) - w.head }

func (w *Writer) queuedBytesLocked() int {
	if w.head == len(w.lines) {
		return 0
	}
	return len(w.buf) - w.lines[w.head].off
}

// dropLocked counts a dropped point at time t and widens the span to backfill.
func (w *Writer) dropLocked(t int64) {
	if n := w.dropped.Add(1); n&(n-1) == 0 {
		w.log.Warn("influx queue full, oldest points dropped; they are re-read from the store once InfluxDB is back",
			"dropped_total", n)
	}
	if w.dropFrom > w.dropTo {
		w.dropFrom, w.dropTo = t, t
		return
	}
	w.dropFrom, w.dropTo = min(w.dropFrom, t), max(w.dropTo, t)
}

func (w *Writer) kickLocked() {
	if w.queuedPointsLocked() >= w.opts.BatchPoints {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
}

func (w *Writer) batchReady() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.queuedPointsLocked() >= w.opts.BatchPoints
}

// take moves up to BatchPoints queued lines into batch (reusing its
// memory) and marks them in flight.
func (w *Writer) take(batch []byte) ([]byte, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := min(w.queuedPointsLocked(), w.opts.BatchPoints)
	if n == 0 {
		return batch[:0], 0
	}
	first, last := w.lines[w.head], w.lines[w.head+n-1]
	batch = append(batch[:0], w.buf[first.off:last.end]...)
	w.head += n
	w.inPts, w.inBytes = n, len(batch)
	w.compactLocked()
	return batch, n
}

// compactLocked reclaims the memory of lines already taken or dropped,
// moving the live ones to the front once they are at most half of what is
// held: amortised O(1) per line.
func (w *Writer) compactLocked() {
	if w.head == len(w.lines) {
		w.buf, w.lines, w.head = w.buf[:0], w.lines[:0], 0
		return
	}
	if w.head < 1024 || w.head < len(w.lines)/2 {
		return
	}
	base := w.lines[w.head].off
	n := copy(w.buf, w.buf[base:])
	w.buf = w.buf[:n]
	m := copy(w.lines, w.lines[w.head:])
	w.lines = w.lines[:m]
	for i := range w.lines {
		w.lines[i].off -= base
		w.lines[i].end -= base
	}
	w.head = 0
}

// done releases the batch in flight.
func (w *Writer) done() {
	w.mu.Lock()
	w.inPts, w.inBytes = 0, 0
	w.mu.Unlock()
	select {
	case w.room <- struct{}{}:
	default:
	}
}

// Stats returns the running totals.
func (w *Writer) Stats() Stats {
	w.mu.Lock()
	s := Stats{QueuedPoints: w.queuedPointsLocked() + w.inPts, QueuedBytes: w.queuedBytesLocked() + w.inBytes}
	w.mu.Unlock()
	s.Written, s.Retries, s.Dropped = w.written.Load(), w.retries.Load(), w.dropped.Load()
	s.Refused, s.RejectedValues, s.Backfilled = w.refused.Load(), w.rejectedValues.Load(), w.backfilled.Load()
	if e := w.lastErr.Load(); e != nil {
		s.LastError, s.LastErrorTime = e.msg, e.at
	}
	return s
}

// Run sends queued points until ctx is done, then makes one last attempt,
// bounded by ShutdownTimeout, to send what is left.
func (w *Writer) Run(ctx context.Context) error {
	var (
		batch   []byte
		n       int
		attempt int
		bf      sync.WaitGroup
	)
	defer bf.Wait()
	if w.opts.Source != nil && w.opts.BackfillOnStart > 0 {
		now := time.Now()
		w.mu.Lock()
		w.dropLockedSpan(now.Add(-w.opts.BackfillOnStart).UnixNano(), now.UnixNano())
		w.mu.Unlock()
	}
	tick := time.NewTicker(w.opts.FlushEvery)
	defer tick.Stop()
	for {
		if n == 0 {
			// A full batch goes at once; a partial one waits for the tick,
			// so a trickle of points is not sent one request each.
			if !w.batchReady() {
				select {
				case <-ctx.Done():
					return w.shutdown()
				case <-w.kick:
				case <-tick.C:
					// A pending backfill need not wait for live traffic.
					w.maybeBackfill(ctx, &bf)
				}
			}
			if batch, n = w.take(batch); n == 0 {
				continue
			}
		}
		err := w.send(ctx, batch, n)
		switch {
		case err == nil:
			attempt = 0
			n = 0
			w.done()
			w.maybeBackfill(ctx, &bf)
			continue
		case ctx.Err() != nil:
			return w.shutdown(batch...)
		case !retryable(err):
			w.refused.Add(uint64(n))
			w.log.Error("influx refused a batch; dropped", "points", n, "err", err)
			n = 0
			w.done()
			continue
		}
		w.retries.Add(1)
		delay := backoff(w.opts.RetryMin, w.opts.RetryMax, attempt)
		attempt++
		if attempt == 1 || attempt%10 == 0 {
			w.log.Warn("influx write failed; retrying", "points", n, "attempt", attempt, "in", delay, "err", err)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return w.shutdown(batch...)
		case <-t.C:
		}
	}
}

// send writes one batch and records the outcome.
func (w *Writer) send(ctx context.Context, batch []byte, n int) error {
	wctx, cancel := context.WithTimeout(ctx, w.opts.WriteTimeout)
	defer cancel()
	start := time.Now()
	err := w.w.WriteRecord(wctx, string(batch))
	w.m.writeSeconds.Observe(time.Since(start).Seconds())
	if err != nil {
		err = fmt.Errorf("influx write %d points: %w", n, err)
		w.lastErr.Store(&errAt{msg: err.Error(), at: time.Now()})
		return err
	}
	w.written.Add(uint64(n))
	w.lastErr.Store(nil)
	return nil
}

// shutdown makes one bounded attempt to write the batch in flight (if
// any) and everything queued.
func (w *Writer) shutdown(inflight ...byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), w.opts.ShutdownTimeout)
	defer cancel()
	if len(inflight) > 0 {
		w.mu.Lock()
		n := w.inPts
		w.mu.Unlock()
		if err := w.send(ctx, inflight, n); err != nil {
			w.log.Warn("influx: points not written at shutdown (the store keeps them)", "points", w.Stats().QueuedPoints, "err", err)
			return nil
		}
		w.done()
	}
	var batch []byte
	for {
		var n int
		batch, n = w.take(batch)
		if n == 0 {
			return nil
		}
		if err := w.send(ctx, batch, n); err != nil {
			w.log.Warn("influx: points not written at shutdown (the store keeps them)", "points", w.Stats().QueuedPoints, "err", err)
			return nil
		}
		w.done()
	}
}

// retryable reports whether a failed write may succeed later: network
// errors, 429 and 5xx, and also 401/403/404 (credentials or a database
// may be fixed while we wait). A bad request (unparsable or partly
// written batch) or a too-large one will not.
func retryable(err error) bool {
	var he *http2.Error
	if !errors.As(err, &he) {
		return true
	}
	switch he.StatusCode {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		return false
	}
	return true
}

// backoff is the delay before retry number attempt (from 0): doubling
// from lo up to hi, with equal jitter (half fixed, half random) so that
// replicas do not retry in step.
func backoff(lo, hi time.Duration, attempt int) time.Duration {
	d := lo
	for range min(attempt, 32) {
		d *= 2
		if d >= hi {
			d = hi
			break
		}
	}
	half := d / 2
	return half + rand.N(half+1)
}

// maybeBackfill starts one backfill of the dropped span once the queue has
// drained to half, unless one is running.
func (w *Writer) maybeBackfill(ctx context.Context, wg *sync.WaitGroup) {
	if w.opts.Source == nil {
		return
	}
	w.mu.Lock()
	from, to := w.dropFrom, w.dropTo
	ready := from <= to && w.queuedPointsLocked() <= w.opts.MaxPoints/2
	if ready {
		w.dropFrom, w.dropTo = 1, 0
	}
	w.mu.Unlock()
	if !ready {
		return
	}
	w.log.Info("influx backfill from the store", "from", time.Unix(0, from).UTC(), "to", time.Unix(0, to).UTC())
	wg.Add(1)
	go func() {
		defer wg.Done()
		chunk := max(w.opts.MaxPoints/2, 1)
		err := w.opts.Source.Points(ctx, time.Unix(0, from), time.Unix(0, to), func(ps []Point) error {
			// In chunks that fit beside live traffic: backfill must not
			// overflow the queue it is meant to repair.
			for len(ps) > 0 {
				n := min(len(ps), chunk)
				if err := w.waitRoom(ctx, n); err != nil {
					return err
				}
				w.Add(ps[:n]...)
				w.backfilled.Add(uint64(n))
				ps = ps[n:]
			}
			return nil
		})
		if err != nil && ctx.Err() == nil {
			w.log.Error("influx backfill failed", "err", err)
			// Try again after the next successful write.
			w.mu.Lock()
			w.dropLockedSpan(from, to)
			w.mu.Unlock()
		}
	}()
}

func (w *Writer) dropLockedSpan(from, to int64) {
	if w.dropFrom > w.dropTo {
		w.dropFrom, w.dropTo = from, to
		return
	}
	w.dropFrom, w.dropTo = min(w.dropFrom, from), max(w.dropTo, to)
}

// waitRoom blocks until the queue can take n more points and still keep a
// quarter of its bound free for live traffic.
func (w *Writer) waitRoom(ctx context.Context, n int) error {
	for {
		w.mu.Lock()
		ok := w.queuedPointsLocked()+w.inPts+n <= max(w.opts.MaxPoints*3/4, n)
		w.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-w.room:
		}
	}
}
