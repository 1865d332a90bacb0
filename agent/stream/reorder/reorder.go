package reorder

import (
	"fmt"
	"math"
	"time"
)

// LatePolicy says what happens to a reading that arrives behind the watermark.
type LatePolicy uint8

const (
	// ScoreOnly releases a late reading at once, with Item.Late set.
	ScoreOnly LatePolicy = iota
	// Drop discards a late reading.
	Drop
)

// String returns "score_only" or "drop".
func (p LatePolicy) String() string {
	if p == Drop {
		return "drop"
	}
	return "score_only"
}

// UnmarshalText parses "score_only" or "drop", for configuration.
func (p *LatePolicy) UnmarshalText(b []byte) error {
	switch string(b) {
	case "score_only":
		*p = ScoreOnly
	case "drop":
		*p = Drop
	default:
		return fmt.Errorf("late policy %q: want score_only or drop", b)
	}
	return nil
}

// Options tune a Buffer. The zero value works: no lateness (in-order input
// only), ScoreOnly, 1024 readings, an idle timeout of 5s, 16 recent readings
// remembered for de-duplication.
type Options struct {
	// Lateness is how far behind the greatest event time seen a reading
	// may arrive and still be put in order.
	Lateness time.Duration
	Late     LatePolicy
	// MaxBuffered bounds the readings a Buffer holds (default 1024).
	MaxBuffered int
	// Idle is the processing time without a reading after which Flush
	// releases everything buffered (default 5s; negative: never).
	Idle time.Duration
	// DedupWindow is how many released readings are remembered to catch
	// duplicates that arrive after their twin was released (default 16).
	DedupWindow int
}

func (o Options) withDefaults() Options {
	if o.Lateness < 0 {
		o.Lateness = 0
	}
	if o.MaxBuffered <= 0 {
		o.MaxBuffered = 1024
	}
	if o.Idle == 0 {
		o.Idle = 5 * time.Second
	}
	if o.DedupWindow <= 0 {
		o.DedupWindow = 16
	}
	return o
}

// Item is one reading of a sensor. V is its payload: a float64 for a scalar
// signal, a frame for a vibration sensor. A Buffer holds V until it releases
// it, so a slice payload must not be reused by the caller before then.
type Item[T any] struct {
	Time int64  // event time, Unix ns
	Seq  uint64 // sender sequence number; 0: none, de-duplicate on Time only
	V    T
	// Late is set on a reading released behind the watermark (ScoreOnly).
	Late bool
}

// Result says what Push did with a reading.
type Result uint8

const (
	Buffered  Result = iota // held until the watermark passes it (it may already have)
	Late                    // behind the watermark, released at once flagged Late
	Dropped                 // behind the watermark, discarded (Drop policy)
	Duplicate               // seen before, discarded
)

// Stats count what a Buffer did.
type Stats struct {
	Accepted   uint64 // readings buffered in order
	Released   uint64 // readings released, late ones included
	Late       uint64 // late readings released flagged (ScoreOnly)
	Dropped    uint64 // late readings discarded (Drop)
	Duplicates uint64 // duplicates discarded
	Overflow   uint64 // readings forced out early by MaxBuffered
	Idle       uint64 // readings released early by an idle Flush
}

func (s *Stats) add(o Stats) {
	s.Accepted += o.Accepted
	s.Released += o.Released
	s.Late += o.Late
	s.Dropped += o.Dropped
	s.Duplicates += o.Duplicates
	s.Overflow += o.Overflow
	s.Idle += o.Idle
}

type key struct {
	time int64
	seq  uint64
}

// Buffer reorders the readings of one sensor. See the package comment.
type Buffer[T any] struct {
	opts     Options
	lateness int64

	ring       []Item[T] // sorted by Time from head, n long; len is a power of two
	mask, head int
	n          int

	maxSeen int64 // greatest event time seen, MinInt64 before the first
	floor   int64 // greatest event time released, MinInt64 before the first

	recent  []key // last released, ring
	recentI int

	// Idle detection: pushed is set by Push and cleared by Flush, which
	// stamps quietSince with the processing time it first saw no pushes.
	pushed     bool
	quietSince int64

	stats Stats
}

// NewBuffer returns an empty Buffer.
func NewBuffer[T any](o Options) *Buffer[T] {
	o = o.withDefaults()
	size := 1
	for size < o.MaxBuffered {
		size <<= 1
	}
	b := &Buffer[T]{
		opts:     o,
		lateness: int64(o.Lateness),
		ring:     make([]Item[T], size),
		mask:     size - 1,
		maxSeen:  math.MinInt64,
		floor:    math.MinInt64,
		recent:   make([]key, o.DedupWindow),
		pushed:   true,
	}
	for i := range b.recent {
		b.recent[i] = key{time: math.MinInt64}
	}
	return b
}

// Watermark returns the greatest event time seen minus the lateness, or
// math.MinInt64 before the first reading.
func (b *Buffer[T]) Watermark() int64 {
	if b.maxSeen < math.MinInt64+b.lateness { // none yet, or it would wrap
		return math.MinInt64
	}
	return b.maxSeen - b.lateness
}

// Len returns how many readings are buffered.
func (b *Buffer[T]) Len() int { return b.n }

// Stats returns the counts so far.
func (b *Buffer[T]) Stats() Stats { return b.stats }

func (b *Buffer[T]) at(i int) *Item[T] { return &b.ring[(b.head+i)&b.mask] }

// Push takes one reading and appends to out every reading it releases, in
// event-time order (a late reading under ScoreOnly is appended by itself,
// flagged). The item's Late field is ignored on input.
func (b *Buffer[T]) Push(it Item[T], out []Item[T]) ([]Item[T], Result) {
	b.pushed = true
	it.Late = false
	if b.isRecent(it) {
		b.stats.Duplicates++
		return out, Duplicate
	}
	if it.Time <= max(b.floor, b.Watermark()) {
		if b.opts.Late == Drop {
			b.stats.Dropped++
			return out, Dropped
		}
		b.remember(it)
		it.Late = true
		b.stats.Late++
		b.stats.Released++
		return append(out, it), Late
	}
	// Find the insertion point from the tail: input is mostly in order.
	i := b.n
	for i > 0 {
		p := b.at(i - 1)
		if p.Time == it.Time {
			b.stats.Duplicates++
			return out, Duplicate
		}
		if p.Time < it.Time {
			break
		}
		i--
	}
	if it.Seq != 0 {
		for j := 0; j < b.n; j++ {
			if b.at(j).Seq == it.Seq {
				b.stats.Duplicates++
				return out, Duplicate
			}
		}
	}
	if b.n == len(b.ring) || b.n == b.opts.MaxBuffered {
		if i == 0 {
			// Older than all of a full buffer: it would be forced out at
			// once; do so without shuffling.
			b.stats.Accepted++
			b.stats.Overflow++
			return b.release(it, out), Buffered
		}
		out = b.release(b.popHead(), out)
		b.stats.Overflow++
		i--
	}
	for j := b.n; j > i; j-- {
		*b.at(j) = *b.at(j - 1)
	}
	*b.at(i) = it
	b.n++
	b.stats.Accepted++
	b.maxSeen = max(b.maxSeen, it.Time)
	return b.releaseUpTo(b.Watermark(), out), Buffered
}

func (b *Buffer[T]) popHead() Item[T] {
	h := &b.ring[b.head]
	it := *h
	var zero Item[T]
	*h = zero // drop references held by the payload
	b.head = (b.head + 1) & b.mask
	b.n--
	return it
}

func (b *Buffer[T]) release(it Item[T], out []Item[T]) []Item[T] {
	b.floor = max(b.floor, it.Time)
	b.remember(it)
	b.stats.Released++
	return append(out, it)
}

func (b *Buffer[T]) releaseUpTo(t int64, out []Item[T]) []Item[T] {
	for b.n > 0 && b.ring[b.head].Time <= t {
		out = b.release(b.popHead(), out)
	}
	return out
}

func (b *Buffer[T]) remember(it Item[T]) {
	b.recent[b.recentI] = key{it.Time, it.Seq}
	b.recentI++
	if b.recentI == len(b.recent) {
		b.recentI = 0
	}
}

func (b *Buffer[T]) isRecent(it Item[T]) bool {
	for _, k := range b.recent {
		if k.time == it.Time || (it.Seq != 0 && k.seq == it.Seq) {
			return true
		}
	}
	return false
}

// Flush releases everything buffered when no reading has arrived for
// Options.Idle of processing time, now being the processing time in Unix ns.
// Call it periodically: the quiet period is measured from the first Flush
// that saw no new reading, so the release comes between Idle and Idle plus
// the calling period after the last reading.
func (b *Buffer[T]) Flush(now int64, out []Item[T]) []Item[T] {
	if b.pushed {
		b.pushed = false
		b.quietSince = now
		return out
	}
	if b.opts.Idle < 0 || b.n == 0 || now-b.quietSince < int64(b.opts.Idle) {
		return out
	}
	b.stats.Idle += uint64(b.n)
	return b.Drain(out)
}

// Drain releases everything buffered, in order, as at shutdown. Readings
// that arrive later at or before the last one released are late.
func (b *Buffer[T]) Drain(out []Item[T]) []Item[T] {
	return b.releaseUpTo(math.MaxInt64, out)
}
