package wire

import (
	"errors"
	"log/slog"
	"sort"
	"sync"
)

// maxLogged bounds how many (kind, topic) pairs Rejects remembers having
// logged, so a flood of random topics cannot grow it without bound.
const maxLogged = 1024

// Rejects counts refused messages by kind and logs the first of each kind
// per topic. The zero value is ready to use and logs nowhere; it is safe for
// concurrent use.
type Rejects struct {
	Log *slog.Logger

	mu     sync.Mutex
	counts map[string]uint64
	logged map[[2]string]struct{}
}

// Reject records that the message on topic was refused with err.
func (r *Rejects) Reject(topic string, err error) {
	kind := KindMalformed
	var de *DecodeError
	if errors.As(err, &de) {
		kind = de.Kind
	}
	r.mu.Lock()
	if r.counts == nil {
		r.counts = make(map[string]uint64)
		r.logged = make(map[[2]string]struct{})
	}
	r.counts[kind]++
	key := [2]string{kind, topic}
	_, seen := r.logged[key]
	if !seen && len(r.logged) < maxLogged {
		r.logged[key] = struct{}{}
	}
	r.mu.Unlock()
	if !seen && r.Log != nil {
		r.Log.Warn("message refused", "kind", kind, "topic", topic, "err", err)
	}
}

// Count returns how many messages of kind were refused.
func (r *Rejects) Count(kind string) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counts[kind]
}

// Total returns how many messages were refused in all.
func (r *Rejects) Total() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var n uint64
	for _, c := range r.counts {
		n += c
	}
	return n
}

// KindCount is one row of Snapshot.
type KindCount struct {
	Kind  string
	Count uint64
}

// Snapshot returns the counts by kind, sorted by kind.
func (r *Rejects) Snapshot() []KindCount {
	r.mu.Lock()
	out := make([]KindCount, 0, len(r.counts))
	for k, c := range r.counts {
		out = append(out, KindCount{k, c})
	}
	r.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Kind < out[j].Kind })
	return out
}
