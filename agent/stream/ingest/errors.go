package ingest

import (
	"log/slog"
	"sort"
	"sync"
	"time"
)

// otherTopics is the key under which TopicErrors counts topics beyond its
// limit.
const otherTopics = "(other)"

// TopicErrors counts refused messages per topic and logs at most once per
// topic per Every, with how many were refused since. It bounds the topics
// it tracks, so a flood of random topics cannot grow it: beyond MaxTopics
// they are counted together under "(other)". The zero value counts, logs
// nowhere, and uses the defaults. Safe for concurrent use.
type TopicErrors struct {
	Log       *slog.Logger
	Every     time.Duration // default 1m
	MaxTopics int           // default 1024

	mu     sync.Mutex
	topics map[string]*topicErr
	total  uint64
}

type topicErr struct {
	count      uint64
	suppressed uint64
	lastLog    time.Time
}

// TopicCount is one row of TopicErrors.Snapshot.
type TopicCount struct {
	Topic string
	Count uint64
}

// Record counts err for topic at now and logs it unless this topic logged
// less than Every ago.
func (e *TopicErrors) Record(now time.Time, topic string, err error) {
	every, maxTopics := e.Every, e.MaxTopics
	if every <= 0 {
		every = time.Minute
	}
	if maxTopics <= 0 {
		maxTopics = 1024
	}
	e.mu.Lock()
	if e.topics == nil {
		e.topics = map[string]*topicErr{}
	}
	e.total++
	t := e.topics[topic]
	if t == nil {
		if len(e.topics) >= maxTopics {
			topic = otherTopics
			t = e.topics[topic]
		}
		if t == nil {
			t = &topicErr{}
			e.topics[topic] = t
		}
	}
	t.count++
	log := t.lastLog.IsZero() || now.Sub(t.lastLog) >= every
	var suppressed uint64
	if log {
		suppressed, t.suppressed, t.lastLog = t.suppressed, 0, now
	} else {
		t.suppressed++
	}
	count := t.count
	e.mu.Unlock()
	if log && e.Log != nil {
		e.Log.Warn("payload refused", "topic", topic, "err", err, "count", count, "suppressed", suppressed)
	}
}

// Count returns how many messages on topic were refused ("(other)" for
// the topics beyond the limit).
func (e *TopicErrors) Count(topic string) uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	if t := e.topics[topic]; t != nil {
		return t.count
	}
	return 0
}

// Total returns how many messages were refused in all.
func (e *TopicErrors) Total() uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.total
}

// Snapshot returns the counts per topic, sorted by topic.
func (e *TopicErrors) Snapshot() []TopicCount {
	e.mu.Lock()
	out := make([]TopicCount, 0, len(e.topics))
	for k, t := range e.topics {
		out = append(out, TopicCount{k, t.count})
	}
	e.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Topic < out[j].Topic })
	return out
}
