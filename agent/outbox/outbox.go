// Package outbox is the agent's durable, bounded queue of everything it owes
// the hub: metrics, alerts, snapshots.
//
// # Queueing and group commit
//
// Put gives an entry the next per-agent sequence number, which is persisted
// and never goes backwards once committed, decides at once what the byte
// bound drops (metrics before snapshots, snapshots before alerts, oldest
// first; an entry never makes room by dropping a more important one) and
// hands the entry to an in-memory queue; it does not wait for the disk. One
// writer goroutine, started by Open and stopped by Close, commits everything
// waiting (new entries, deletions of acknowledged and dropped entries, the
// counters) in one bbolt transaction: one fsync per batch, however many
// entries it holds. Sync waits for what was queued before it to be
// committed.
//
// The queue is bounded (Options.QueueLen entries). When the writer falls
// behind and it is full, a metrics entry is dropped and counted at once,
// while an alert or a snapshot waits up to Options.QueueWait for room and is
// then dropped and counted (Stats.QueueFullBy, included in DroppedBy).
//
// # Sending and acknowledgement
//
// Run publishes committed entries in order, never one still in the queue,
// and publishes again any entry the hub has not acknowledged within the ack
// timeout, and every entry after Resend (called on every reconnect). An
// entry leaves the outbox only when Ack names its sequence number (the hub
// acks after its own durable write) or when it is dropped to keep the
// outbox within its byte bound.
//
// # Books
//
// Produced = Delivered + Dropped + Queued, always, and across restarts too.
// An entry in the in-memory queue is Queued. A batch whose commit fails (a
// full disk, an I/O error) loses its new entries: they are counted in
// DroppedBy and in FailedBy; its deletions are retried with the next batch.
//
// # What a crash loses
//
// A crash (kill -9, power cut) loses at most what had not been committed:
// the entries still in the queue or in the batch being written, and the
// acknowledgements and drops not yet committed. On the next Open the books
// are those of the last committed batch, so they still balance: lost new
// entries were never counted as produced, and an entry whose ack or drop
// was lost is queued again and resent (the hub de-duplicates). Nothing the
// hub acknowledged is ever lost, because only committed entries are sent.
// The lost entries' sequence numbers are given out again after the
// restart; the hub never saw them, but a local alert's id (which carries
// its sequence number) may then name two alerts.
package outbox

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Class orders entries by importance when the outbox is full.
type Class uint8

// Classes, least important first.
const (
	Metrics Class = iota
	Snapshot
	Alert
	numClasses
)

func (c Class) String() string {
	switch c {
	case Metrics:
		return "metrics"
	case Snapshot:
		return "snapshot"
	case Alert:
		return "alert"
	}
	return "unknown"
}

// ErrFull is returned by Put when the entry was dropped because the outbox
// has no room for it even after dropping less important entries. The drop
// is counted.
var ErrFull = errors.New("outbox full")

// ErrClosed is returned after Close.
var ErrClosed = errors.New("outbox closed")

// ErrQueueFull (wrapping ErrFull) is returned by Put when the entry was
// dropped because the writer fell behind and the queue stayed full. The
// drop is counted.
var ErrQueueFull = fmt.Errorf("write queue full: %w", ErrFull)

// Publisher sends one entry to the broker at QoS 1. It returns when the
// broker has taken it, or with an error (for example when disconnected).
type Publisher interface {
	Publish(ctx context.Context, topic string, payload []byte) error
}

// Options tune Open. The zero value gives the defaults.
type Options struct {
	MaxBytes   int64         // bound on stored bytes (default 64 MiB)
	AckTimeout time.Duration // resend an entry unacked this long (default 10s)
	Window     int           // most entries sent but unacked at once (default 256)
	// QueueLen bounds the entries waiting for the writer (default 4096).
	QueueLen int
	// QueueWait is how long Put waits for room in a full queue with an
	// alert or a snapshot before dropping it (default 2s); metrics never
	// wait.
	QueueWait time.Duration
	Logger    *slog.Logger
	// now is the clock, for tests.
	now func() time.Time
	// beforeCommit, if set, runs on the writer before each commit, for
	// tests that need the writer to fall behind.
	beforeCommit func()
}

func (o Options) withDefaults() Options {
	if o.MaxBytes <= 0 {
		o.MaxBytes = 64 << 20
	}
	if o.AckTimeout <= 0 {
		o.AckTimeout = 10 * time.Second
	}
	if o.Window <= 0 {
		o.Window = 256
	}
	if o.QueueLen <= 0 {
		o.QueueLen = 4096
	}
	if o.QueueWait <= 0 {
		o.QueueWait = 2 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.now == nil {
		o.now = time.Now
	}
	return o
}

// Stats are the outbox's books.
type Stats struct {
	Produced  uint64 // sequence numbers given out, ever
	Delivered uint64 // acknowledged by the hub
	Dropped   uint64 // dropped to stay within the bound
	Queued    uint64 // waiting for an ack, in the write queue or committed
	Bytes     int64  // bytes of the queued entries
	// Unwritten counts the queued entries not yet committed (part of
	// Queued): what a crash now would lose.
	Unwritten uint64
	// DroppedBy counts drops by class.
	DroppedBy [numClasses]uint64
	// Sent counts publishes, resends included.
	Sent uint64
	// FailedBy counts, by class, the entries lost because their batch's
	// commit failed (disk full, I/O error); they are counted in DroppedBy
	// too. Since Open.
	FailedBy [numClasses]uint64
	// QueueFullBy counts, by class, the entries dropped because the write
	// queue was full; they are counted in DroppedBy too. Since Open.
	QueueFullBy [numClasses]uint64
	// Commits counts the writer's transactions since Open.
	Commits uint64
}

var (
	bucketEntries = []byte("entries")
	bucketMeta    = []byte("meta")
	keySeq        = []byte("seq")
	keyDelivered  = []byte("delivered")
	keyDropped    = []byte("dropped") // followed by the class byte
)

// entryOverhead is what an entry costs beyond its topic and payload: key,
// header and bbolt bookkeeping, roughly.
const entryOverhead = 32

type entry struct {
	seq    uint64
	class  Class
	topic  string
	size   int64
	sentAt time.Time // zero: not sent since the last Resend
	// value is the encoded entry until the writer has committed it.
	value []byte
	// durable is set once the entry is committed: only then is it sent.
	durable bool
	// gone is set when the entry leaves the queue (acked or dropped), so
	// that a writer that has not committed it yet skips it.
	gone bool
}

// pending is what the writer has not yet taken: a batch in the making.
type pending struct {
	puts []*entry // new entries, ascending seq
	dels []uint64 // keys to delete: acked and dropped entries
	gen  uint64   // mutations so far (see Outbox.gen)
}

// Outbox is a durable queue. Its methods are safe for concurrent use.
type Outbox struct {
	opts Options
	db   *bolt.DB
	log  *slog.Logger

	kick    chan struct{} // wakes Run
	wkick   chan struct{} // wakes the writer
	stop    chan struct{} // closed by Close: the writer drains and returns
	stopped chan struct{} // closed by the writer when it returns

	mu        sync.Mutex
	closed    bool
	entries   []*entry // ascending seq: committed, then unwritten
	pend      pending
	spare     pending       // the writer's batch, reused
	gen       uint64        // mutations handed to the writer, ever
	written   uint64        // gen of the last batch the writer finished
	taken     uint64        // gen of the last batch the writer took
	progress  chan struct{} // closed and replaced when the writer takes or finishes a batch, if waited on
	waiters   int           // Puts waiting for room and Syncs waiting for written
	writeErr  error         // of the last commit
	unwritten int
	commits   uint64
	queueFull [numClasses]uint64
	bytes     int64
	seq       uint64
	delivered uint64
	dropped   [numClasses]uint64
	sent      uint64
	failed    [numClasses]uint64
	changed   chan struct{} // closed and replaced whenever entries shrink
}

// Open opens or creates the outbox file at path and loads its queue.
func Open(path string, opts Options) (*Outbox, error) {
	opts = opts.withDefaults()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open outbox %s: %w", path, err)
	}
	o := &Outbox{
		opts:     opts,
		db:       db,
		log:      opts.Logger,
		kick:     make(chan struct{}, 1),
		wkick:    make(chan struct{}, 1),
		stop:     make(chan struct{}),
		stopped:  make(chan struct{}),
		progress: make(chan struct{}),
		changed:  make(chan struct{}),
	}
	if err := o.load(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open outbox %s: %w", path, err)
	}
	go o.writeLoop()
	st := o.Stats()
	o.log.Info("outbox opened", "path", path, "queued", st.Queued, "bytes", st.Bytes, "next_seq", st.Produced+1)
	return o, nil
}

func (o *Outbox) load() error {
	return o.db.Update(func(tx *bolt.Tx) error {
		eb, err := tx.CreateBucketIfNotExists(bucketEntries)
		if err != nil {
			return err
		}
		mb, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		o.seq = getUint(mb, keySeq)
		o.delivered = getUint(mb, keyDelivered)
		for c := range numClasses {
			o.dropped[c] = getUint(mb, droppedKey(c))
		}
		return eb.ForEach(func(k, v []byte) error {
			if len(k) != 8 {
				return fmt.Errorf("entry key of %d bytes", len(k))
			}
			class, topic, payload, err := decodeValue(v)
			if err != nil {
				return fmt.Errorf("entry %d: %w", binary.BigEndian.Uint64(k), err)
			}
			e := &entry{seq: binary.BigEndian.Uint64(k), class: class, topic: topic, size: entrySize(topic, payload), durable: true}
			if e.seq > o.seq { // a sequence number never goes backwards
				o.seq = e.seq
			}
			o.entries = append(o.entries, e)
			o.bytes += e.size
			return nil
		})
	})
}

func droppedKey(c Class) []byte { return append(slices.Clip(keyDropped), byte(c)) }

func getUint(b *bolt.Bucket, k []byte) uint64 {
	v := b.Get(k)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func putUint(b *bolt.Bucket, k []byte, n uint64) error {
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], n)
	return b.Put(k, v[:])
}

func seqKey(seq uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	return k[:]
}

func entrySize(topic string, payload []byte) int64 {
	return int64(len(topic) + len(payload) + entryOverhead)
}

// value layout: class byte, topic length (uint16 big endian), topic, payload.
func encodeValue(class Class, topic string, payload []byte) []byte {
	v := make([]byte, 0, 3+len(topic)+len(payload))
	v = append(v, byte(class))
	v = binary.BigEndian.AppendUint16(v, uint16(len(topic)))
	v = append(v, topic...)
	return append(v, payload...)
}

func decodeValue(v []byte) (Class, string, []byte, error) {
	if len(v) < 3 {
		return 0, "", nil, errors.New("value too short")
	}
	class := Class(v[0])
	n := int(binary.BigEndian.Uint16(v[1:3]))
	if class >= numClasses || len(v) < 3+n {
		return 0, "", nil, errors.New("corrupt value")
	}
	return class, string(v[3 : 3+n]), v[3+n:], nil
}

// Put queues a new entry. encode is called with the entry's sequence
// number and returns the message bytes to publish on topic. Put does not
// wait for the disk (see Sync): it returns once the entry is queued, or
// ErrFull (wrapped) when it was dropped for lack of room, ErrQueueFull
// when the writer fell behind. A drop is counted and uses up the sequence
// number.
func (o *Outbox) Put(class Class, topic string, encode func(seq uint64) ([]byte, error)) (uint64, error) {
	if class >= numClasses {
		return 0, fmt.Errorf("outbox put: unknown class %d", class)
	}
	if len(topic) > 0xffff {
		return 0, fmt.Errorf("outbox put: topic of %d bytes", len(topic))
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return 0, ErrClosed
	}
	queueFull := len(o.pend.puts) >= o.opts.QueueLen && (class == Metrics || !o.waitRoomLocked())
	if o.closed {
		return 0, ErrClosed
	}
	seq := o.seq + 1
	if queueFull {
		o.seq = seq
		o.dropped[class]++
		o.queueFull[class]++
		o.changedLocked()
		return seq, fmt.Errorf("outbox put %s seq %d: %w", class, seq, ErrQueueFull)
	}
	payload, err := encode(seq)
	if err != nil {
		return 0, fmt.Errorf("outbox put %s: encode: %w", class, err)
	}
	size := entrySize(topic, payload)

	// Choose victims: oldest first, least important class first, never a
	// class more important than the new entry.
	free := o.opts.MaxBytes - o.bytes
	nv := 0
	for c := Class(0); c <= class && free < size; c++ {
		for _, e := range o.entries {
			if free >= size {
				break
			}
			if e.class == c && !e.gone {
				e.gone = true
				nv++
				free += e.size
			}
		}
	}
	fits := free >= size
	if nv > 0 && !fits { // dropping others would not make room: drop the new one only
		for _, e := range o.entries {
			e.gone = false
		}
		nv = 0
	}
	o.seq = seq
	if nv > 0 {
		for _, e := range o.entries {
			if e.gone {
				o.dropped[e.class]++
				o.pend.dels = append(o.pend.dels, e.seq)
			}
		}
		o.removeGoneLocked()
		o.log.Warn("outbox full: dropped entries", "count", nv, "for_class", class.String())
	}
	if !fits {
		o.dropped[class]++
		o.changedLocked()
		o.log.Warn("outbox full: dropped new entry", "seq", seq, "class", class.String(), "bytes", size)
		return seq, fmt.Errorf("outbox put %s seq %d: %w", class, seq, ErrFull)
	}
	e := &entry{seq: seq, class: class, topic: topic, size: size, value: encodeValue(class, topic, payload)}
	o.entries = append(o.entries, e)
	o.pend.puts = append(o.pend.puts, e)
	o.bytes += size
	o.unwritten++
	o.changedLocked()
	return seq, nil
}

// waitRoomLocked waits up to QueueWait for the writer to take the queue.
// It reports whether there is room.
func (o *Outbox) waitRoomLocked() bool {
	var t *time.Timer
	for len(o.pend.puts) >= o.opts.QueueLen && !o.closed {
		if t == nil {
			t = time.NewTimer(o.opts.QueueWait)
			defer t.Stop()
		}
		ch := o.progress
		o.waiters++
		o.mu.Unlock()
		timeout := false
		select {
		case <-ch:
		case <-t.C:
			timeout = true
		}
		o.mu.Lock()
		o.waiters--
		if timeout {
			break
		}
	}
	return len(o.pend.puts) < o.opts.QueueLen
}

// changedLocked records a change for the writer to commit and wakes it.
func (o *Outbox) changedLocked() {
	o.gen++
	select {
	case o.wkick <- struct{}{}:
	default:
	}
}

// removeGoneLocked removes the entries marked gone and signals Flush.
func (o *Outbox) removeGoneLocked() {
	n := len(o.entries)
	o.entries = slices.DeleteFunc(o.entries, func(e *entry) bool {
		if !e.gone {
			return false
		}
		o.bytes -= e.size
		if !e.durable {
			o.unwritten-- // a writer that took it may still read e.value
		}
		return true
	})
	if len(o.entries) != n {
		close(o.changed)
		o.changed = make(chan struct{})
	}
}
func (o *Outbox) wake() {
	select {
	case o.kick <- struct{}{}:
	default:
	}
}

// Ack removes the entries the hub acknowledged and returns how many were
// still queued. Unknown and repeated sequence numbers are ignored. The
// removal is committed by the writer with its next batch; a crash before
// that only makes the entries be sent again.
func (o *Outbox) Ack(seqs []uint64) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return 0, ErrClosed
	}
	hit := 0
	for _, s := range seqs {
		if i, ok := o.findLocked(s); ok && !o.entries[i].gone {
			o.entries[i].gone = true
			o.pend.dels = append(o.pend.dels, s)
			hit++
		}
	}
	if hit == 0 {
		return 0, nil
	}
	o.delivered += uint64(hit)
	o.removeGoneLocked()
	o.changedLocked()
	o.wake() // the window may have room now
	return hit, nil
}

func (o *Outbox) findLocked(seq uint64) (int, bool) {
	return slices.BinarySearchFunc(o.entries, seq, func(e *entry, s uint64) int {
		switch {
		case e.seq < s:
			return -1
		case e.seq > s:
			return 1
		}
		return 0
	})
}

// Resend makes Run publish every queued entry again, in order. Call it on
// every (re)connect: a new session may have lost what was in flight.
func (o *Outbox) Resend() {
	o.mu.Lock()
	for _, e := range o.entries {
		e.sentAt = time.Time{}
	}
	o.mu.Unlock()
	o.wake()
}

// Stats returns the books.
func (o *Outbox) Stats() Stats {
	o.mu.Lock()
	defer o.mu.Unlock()
	s := Stats{
		Produced:    o.seq,
		Delivered:   o.delivered,
		Queued:      uint64(len(o.entries)),
		Bytes:       o.bytes,
		Unwritten:   uint64(o.unwritten),
		DroppedBy:   o.dropped,
		Sent:        o.sent,
		FailedBy:    o.failed,
		QueueFullBy: o.queueFull,
		Commits:     o.commits,
	}
	for _, d := range o.dropped {
		s.Dropped += d
	}
	return s
}

// Flush waits until every queued entry is acknowledged or dropped, or ctx
// is done. Run must be running for the queue to drain.
func (o *Outbox) Flush(ctx context.Context) error {
	for {
		o.mu.Lock()
		n, ch := len(o.entries), o.changed
		o.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("outbox flush: %d entries still queued: %w", n, context.Cause(ctx))
		case <-ch:
		}
	}
}

// Close stops taking entries, waits for the writer to commit everything
// queued, and closes the file. Queued entries stay for the next Open.
func (o *Outbox) Close() error {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		<-o.stopped
		return nil
	}
	o.closed = true
	o.progressLocked() // wakes Puts waiting for room: they fail
	o.mu.Unlock()
	close(o.stop)
	<-o.stopped
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := o.db.Close(); err != nil {
		return fmt.Errorf("close outbox: %w", err)
	}
	return nil
}
