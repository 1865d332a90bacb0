package auth

import (
	"sync"
	"time"
)

// Limiter is a set of token buckets, one per key, each holding up to Burst
// tokens and refilled at one token per Every. It keeps at most MaxKeys
// buckets: a full bucket is the same as a missing one, so full buckets are
// forgotten first, then the fullest. Safe for concurrent use.
//
// We use this instead of golang.org/x/time/rate because login needs many
// keyed buckets with a bounded memory footprint and an injectable clock for
// tests; a single-bucket library would still need this map around it.
type Limiter struct {
	Burst   float64
	Every   time.Duration
	MaxKeys int

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// NewLimiter returns a limiter of burst tokens per key refilled one per
// every, remembering at most maxKeys keys.
func NewLimiter(burst int, every time.Duration, maxKeys int) *Limiter {
	return &Limiter{Burst: float64(burst), Every: every, MaxKeys: maxKeys, buckets: map[string]*bucket{}}
}

func (l *Limiter) level(b *bucket, now time.Time) float64 {
	t := b.tokens + float64(now.Sub(b.at))/float64(l.Every)
	return min(t, l.Burst)
}

// Allow takes a token from key's bucket at now. When there is none it
// returns false and how long until there is.
func (l *Limiter) Allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		l.makeRoom(now)
		b = &bucket{tokens: l.Burst, at: now}
		l.buckets[key] = b
	}
	b.tokens, b.at = l.level(b, now), now
	if b.tokens < 1 {
		return false, time.Duration((1 - b.tokens) * float64(l.Every))
	}
	b.tokens--
	return true, 0
}

// Reset refills key's bucket (e.g. after a successful login).
func (l *Limiter) Reset(key string) {
	l.mu.Lock()
	delete(l.buckets, key)
	l.mu.Unlock()
}

// makeRoom keeps the map under MaxKeys: drop full buckets, then the fullest.
func (l *Limiter) makeRoom(now time.Time) {
	if l.MaxKeys <= 0 || len(l.buckets) < l.MaxKeys {
		return
	}
	var fullest string
	most := -1.0
	for k, b := range l.buckets {
		lv := l.level(b, now)
		if lv >= l.Burst {
			delete(l.buckets, k)
			continue
		}
		if lv > most {
			fullest, most = k, lv
		}
	}
	if len(l.buckets) >= l.MaxKeys {
		delete(l.buckets, fullest)
	}
}
