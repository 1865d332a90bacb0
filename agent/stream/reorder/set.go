package reorder

import (
	"errors"
	"strings"
)

// ErrTooManySensors is returned by Set.Push for a new sensor beyond
// SetOptions.MaxSensors.
var ErrTooManySensors = errors.New("reorder: too many sensors")

// Released is a reading released by a Set, with its sensor.
type Released[T any] struct {
	Sensor string // the Set's own copy, stable for the Set's life
	Item[T]
}

// SetOptions tune a Set. The zero value works.
type SetOptions struct {
	Options
	// MaxSensors bounds how many sensors a Set tracks (default 1024), so
	// untrusted input cannot grow it without bound.
	MaxSensors int
}

type entry[T any] struct {
	name string // interned copy of the key
	buf  *Buffer[T]
}

// Set is a Buffer per sensor, created on a sensor's first reading.
type Set[T any] struct {
	opts    SetOptions
	buffers map[string]*entry[T]
	order   []*entry[T] // first-seen order, for stable flushes
	scratch []Item[T]
}

// NewSet returns an empty Set.
func NewSet[T any](o SetOptions) *Set[T] {
	if o.MaxSensors <= 0 {
		o.MaxSensors = 1024
	}
	return &Set[T]{opts: o, buffers: make(map[string]*entry[T])}
}

// Push takes one reading of sensor and appends what it releases to out. It
// returns ErrTooManySensors, having done nothing, for a new sensor beyond
// the limit.
func (s *Set[T]) Push(sensor string, it Item[T], out []Released[T]) ([]Released[T], Result, error) {
	e, ok := s.buffers[sensor]
	if !ok {
		if len(s.buffers) >= s.opts.MaxSensors {
			return out, Dropped, ErrTooManySensors
		}
		// The caller's string may alias a message buffer: keep a copy.
		e = &entry[T]{name: strings.Clone(sensor), buf: NewBuffer[T](s.opts.Options)}
		s.buffers[e.name] = e
		s.order = append(s.order, e)
	}
	var r Result
	s.scratch, r = e.buf.Push(it, s.scratch[:0])
	return s.wrap(e.name, out), r, nil
}

func (s *Set[T]) wrap(sensor string, out []Released[T]) []Released[T] {
	for _, it := range s.scratch {
		out = append(out, Released[T]{Sensor: sensor, Item: it})
	}
	return out
}

// Flush calls Buffer.Flush on every sensor, in first-seen order.
func (s *Set[T]) Flush(now int64, out []Released[T]) []Released[T] {
	for _, e := range s.order {
		s.scratch = e.buf.Flush(now, s.scratch[:0])
		out = s.wrap(e.name, out)
	}
	return out
}

// Drain releases everything buffered by every sensor.
func (s *Set[T]) Drain(out []Released[T]) []Released[T] {
	for _, e := range s.order {
		s.scratch = e.buf.Drain(s.scratch[:0])
		out = s.wrap(e.name, out)
	}
	return out
}

// Buffer returns the Buffer of sensor, or nil.
func (s *Set[T]) Buffer(sensor string) *Buffer[T] {
	if e := s.buffers[sensor]; e != nil {
		return e.buf
	}
	return nil
}

// Stats returns the counts summed over all sensors.
func (s *Set[T]) Stats() Stats {
	var st Stats
	for _, e := range s.order {
		st.add(e.buf.stats)
	}
	return st
}
