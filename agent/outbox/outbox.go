// Package outbox is the agent's durable, bounded queue of everything it owes
// the hub: metrics, alerts, snapshots.
//
// Put gives an entry the next per-agent sequence number, which is persisted
// and never goes backwards, and commits it to a bbolt file before it
// returns. Run publishes pending entries in order and publishes again any
// entry the hub has not acknowledged within the ack timeout, and every entry
// after Resend (called on every reconnect). An entry leaves the outbox only
// when Ack names its sequence number (the hub acks after its own durable
// write) or when it is dropped to keep the outbox within its byte bound:
// metrics are dropped before snapshots, snapshots before alerts, oldest
// first, and an entry never makes room by dropping a more important one.
//
// The books always balance: Produced = Delivered + Dropped + Queued, across
// restarts too.
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
	Logger     *slog.Logger
	// now is the clock, for tests.
	now func() time.Time
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
	Queued    uint64 // waiting for an ack
	Bytes     int64  // stored bytes of the queued entries
	// DroppedBy counts drops by class.
	DroppedBy [numClasses]uint64
	// Sent counts publishes, resends included.
	Sent uint64
	// FailedBy counts, by class, the entries Put could not store because
	// the write failed (disk full, I/O error). They never got a sequence
	// number, so they are outside the books; counted since Open.
	FailedBy [numClasses]uint64
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
}

// Outbox is a durable queue. Its methods are safe for concurrent use.
type Outbox struct {
	opts Options
	db   *bolt.DB
	log  *slog.Logger

	kick chan struct{} // wakes Run

	mu        sync.Mutex
	closed    bool
	entries   []*entry // ascending seq
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
		opts:    opts,
		db:      db,
		log:     opts.Logger,
		kick:    make(chan struct{}, 1),
		changed: make(chan struct{}),
	}
	if err := o.load(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open outbox %s: %w", path, err)
	}
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
			e := &entry{seq: binary.BigEndian.Uint64(k), class: class, topic: topic, size: entrySize(topic, payload)}
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

// Put stores a new entry. encode is called with the entry's sequence number
// and returns the message bytes to publish on topic. Put returns once the
// entry is durable, or ErrFull (wrapped) when it was dropped for lack of room.
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
	seq := o.seq + 1
	payload, err := encode(seq)
	if err != nil {
		return 0, fmt.Errorf("outbox put %s: encode: %w", class, err)
	}
	size := entrySize(topic, payload)

	// Choose victims: oldest first, least important class first, never a
	// class more important than the new entry.
	var victims []*entry
	free := o.opts.MaxBytes - o.bytes
	for c := Class(0); c <= class && free < size; c++ {
		for _, e := range o.entries {
			if free >= size {
				break
			}
			if e.class == c {
				victims = append(victims, e)
				free += e.size
			}
		}
	}
	fits := free >= size
	if !fits {
		victims = nil // dropping others would not make room: drop the new one only
	}
	dropped := o.dropped
	for _, e := range victims {
		dropped[e.class]++
	}
	if !fits {
		dropped[class]++
	}
	err = o.db.Update(func(tx *bolt.Tx) error {
		eb, mb := tx.Bucket(bucketEntries), tx.Bucket(bucketMeta)
		for _, e := range victims {
			if err := eb.Delete(seqKey(e.seq)); err != nil {
				return err
			}
		}
		if fits {
			if err := eb.Put(seqKey(seq), encodeValue(class, topic, payload)); err != nil {
				return err
			}
		}
		for c := range numClasses {
			if dropped[c] != o.dropped[c] {
				if err := putUint(mb, droppedKey(c), dropped[c]); err != nil {
					return err
				}
			}
		}
		return putUint(mb, keySeq, seq)
	})
	if err != nil {
		o.failed[class]++
		return 0, fmt.Errorf("outbox put %s: %w", class, err)
	}
	o.seq = seq
	o.dropped = dropped
	if len(victims) > 0 {
		o.removeLocked(func(e *entry) bool { return slices.Contains(victims, e) })
		o.log.Warn("outbox full: dropped entries", "count", len(victims), "for_class", class.String())
	}
	if !fits {
		o.log.Warn("outbox full: dropped new entry", "seq", seq, "class", class.String(), "bytes", size)
		return seq, fmt.Errorf("outbox put %s seq %d: %w", class, seq, ErrFull)
	}
	o.entries = append(o.entries, &entry{seq: seq, class: class, topic: topic, size: size})
	o.bytes += size
	o.wake()
	return seq, nil
}

// removeLocked removes the entries for which drop is true and signals Flush.
func (o *Outbox) removeLocked(drop func(*entry) bool) {
	n := len(o.entries)
	o.entries = slices.DeleteFunc(o.entries, func(e *entry) bool {
		if drop(e) {
			o.bytes -= e.size
			return true
		}
		return false
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

// Ack deletes the entries the hub acknowledged and returns how many were
// still queued. Unknown and repeated sequence numbers are ignored.
func (o *Outbox) Ack(seqs []uint64) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return 0, ErrClosed
	}
	var hit []uint64
	for _, s := range seqs {
		if _, ok := o.findLocked(s); ok && !slices.Contains(hit, s) {
			hit = append(hit, s)
		}
	}
	if len(hit) == 0 {
		return 0, nil
	}
	delivered := o.delivered + uint64(len(hit))
	err := o.db.Update(func(tx *bolt.Tx) error {
		eb := tx.Bucket(bucketEntries)
		for _, s := range hit {
			if err := eb.Delete(seqKey(s)); err != nil {
				return err
			}
		}
		return putUint(tx.Bucket(bucketMeta), keyDelivered, delivered)
	})
	if err != nil {
		return 0, fmt.Errorf("outbox ack: %w", err)
	}
	o.delivered = delivered
	slices.Sort(hit)
	o.removeLocked(func(e *entry) bool { _, ok := slices.BinarySearch(hit, e.seq); return ok })
	o.wake() // the window may have room now
	return len(hit), nil
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
		Produced:  o.seq,
		Delivered: o.delivered,
		Queued:    uint64(len(o.entries)),
		Bytes:     o.bytes,
		DroppedBy: o.dropped,
		Sent:      o.sent,
		FailedBy:  o.failed,
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

// Close closes the file. Queued entries stay for the next Open.
func (o *Outbox) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil
	}
	o.closed = true
	if err := o.db.Close(); err != nil {
		return fmt.Errorf("close outbox: %w", err)
	}
	return nil
}
