package outbox

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

func open(t *testing.T, path string, opts Options) *Outbox {
	t.Helper()
	o, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

func put(t *testing.T, o *Outbox, c Class, size int) uint64 {
	t.Helper()
	seq, err := o.Put(c, "t/"+c.String(), func(seq uint64) ([]byte, error) {
		b := make([]byte, size)
		copy(b, strconv.FormatUint(seq, 10))
		return b, nil
	})
	if err != nil {
		t.Fatalf("Put(%s): %v", c, err)
	}
	return seq
}

func checkBooks(t *testing.T, o *Outbox) Stats {
	t.Helper()
	s := o.Stats()
	if s.Produced != s.Delivered+s.Dropped+s.Queued {
		t.Errorf("books do not balance: %+v", s)
	}
	return s
}

func TestRestartKeepsQueueAndSeq(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	o, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if got := put(t, o, Alert, 10); got != uint64(i+1) {
			t.Fatalf("seq = %d, want %d", got, i+1)
		}
	}
	if n, err := o.Ack([]uint64{2, 4, 4, 99}); err != nil || n != 2 {
		t.Fatalf("Ack = %d, %v; want 2", n, err)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}

	o = open(t, path, Options{})
	s := checkBooks(t, o)
	if s.Produced != 5 || s.Delivered != 2 || s.Queued != 3 {
		t.Errorf("after restart: %+v", s)
	}
	if got := put(t, o, Metrics, 10); got != 6 {
		t.Errorf("seq after restart = %d, want 6", got)
	}
	var seqs []uint64
	for _, e := range o.entries {
		seqs = append(seqs, e.seq)
	}
	if !slices.Equal(seqs, []uint64{1, 3, 5, 6}) {
		t.Errorf("queued seqs = %v", seqs)
	}
}

func TestSeqNeverGoesBackwardsWhenAllAcked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	o, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	put(t, o, Alert, 1)
	put(t, o, Alert, 1)
	if _, err := o.Ack([]uint64{1, 2}); err != nil {
		t.Fatal(err)
	}
	o.Close()
	o = open(t, path, Options{})
	if got := put(t, o, Alert, 1); got != 3 {
		t.Errorf("seq = %d, want 3", got)
	}
}

func TestBoundDropsMetricsBeforeAlerts(t *testing.T) {
	tests := []struct {
		name        string
		puts        []Class
		put         Class
		wantErr     error
		wantDropped [numClasses]uint64
		wantClasses []Class // queued, in order
	}{
		{
			name:        "alert evicts oldest metrics",
			puts:        []Class{Metrics, Alert, Metrics, Alert},
			put:         Alert,
			wantDropped: [numClasses]uint64{Metrics: 1},
			wantClasses: []Class{Alert, Metrics, Alert, Alert},
		},
		{
			name:        "snapshot evicts metrics, not alerts",
			puts:        []Class{Alert, Alert, Metrics, Alert},
			put:         Snapshot,
			wantDropped: [numClasses]uint64{Metrics: 1},
			wantClasses: []Class{Alert, Alert, Alert, Snapshot},
		},
		{
			name:        "metrics never evict alerts",
			puts:        []Class{Alert, Alert, Alert, Alert},
			put:         Metrics,
			wantErr:     ErrFull,
			wantDropped: [numClasses]uint64{Metrics: 1},
			wantClasses: []Class{Alert, Alert, Alert, Alert},
		},
		{
			name:        "alert evicts oldest alert when only alerts are left",
			puts:        []Class{Alert, Alert, Alert, Alert},
			put:         Alert,
			wantDropped: [numClasses]uint64{Alert: 1},
			wantClasses: []Class{Alert, Alert, Alert, Alert},
		},
		{
			name:        "metrics evict oldest metrics",
			puts:        []Class{Metrics, Metrics, Alert, Metrics},
			put:         Metrics,
			wantDropped: [numClasses]uint64{Metrics: 1},
			wantClasses: []Class{Metrics, Alert, Metrics, Metrics},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "outbox.db")
			o := open(t, path, Options{MaxBytes: 4000})
			for _, c := range tt.puts {
				put(t, o, c, 1000-entryOverhead-len("t/"+c.String()))
			}
			_, err := o.Put(tt.put, "t/"+tt.put.String(), func(uint64) ([]byte, error) {
				return make([]byte, 1000-entryOverhead-len("t/"+tt.put.String())), nil
			})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Put = %v, want %v", err, tt.wantErr)
			}
			s := checkBooks(t, o)
			if s.DroppedBy != tt.wantDropped {
				t.Errorf("dropped = %v, want %v", s.DroppedBy, tt.wantDropped)
			}
			if s.Bytes > 4000 {
				t.Errorf("bytes = %d over the bound", s.Bytes)
			}
			var classes []Class
			for _, e := range o.entries {
				classes = append(classes, e.class)
			}
			if !slices.Equal(classes, tt.wantClasses) {
				t.Errorf("queued = %v, want %v", classes, tt.wantClasses)
			}
			// The drop counts survive a restart.
			o.Close()
			o2 := open(t, path, Options{MaxBytes: 4000})
			if s2 := checkBooks(t, o2); s2.DroppedBy != tt.wantDropped || s2.Queued != s.Queued {
				t.Errorf("after restart %+v, want %+v", s2, s)
			}
		})
	}
}

func TestOversizedEntryDropped(t *testing.T) {
	o := open(t, filepath.Join(t.TempDir(), "outbox.db"), Options{MaxBytes: 100})
	put(t, o, Metrics, 10)
	_, err := o.Put(Alert, "a", func(uint64) ([]byte, error) { return make([]byte, 200), nil })
	if !errors.Is(err, ErrFull) {
		t.Fatalf("Put = %v, want ErrFull", err)
	}
	s := checkBooks(t, o)
	if s.Queued != 1 || s.DroppedBy[Alert] != 1 {
		t.Errorf("stats = %+v: the metrics entry should stay, the alert be dropped", s)
	}
}

// recorder is a Publisher that records what it publishes and can fail.
type recorder struct {
	mu   sync.Mutex
	fail error
	got  []string // payload prefixes (the seq)
	ch   chan struct{}
}

func newRecorder() *recorder { return &recorder{ch: make(chan struct{}, 1000)} }

func (r *recorder) Publish(_ context.Context, topic string, payload []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	n := 0
	for n < len(payload) && payload[n] != 0 {
		n++
	}
	r.got = append(r.got, string(payload[:n]))
	r.ch <- struct{}{}
	return nil
}

func (r *recorder) sent() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestSenderOrderAckResend(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1000, 0)}
	o := open(t, filepath.Join(t.TempDir(), "outbox.db"), Options{AckTimeout: 40 * time.Millisecond, now: clock.Now})
	rec := newRecorder()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- o.Run(ctx, rec) }()
	t.Cleanup(func() { cancel(); <-done })

	for range 3 {
		put(t, o, Alert, 8)
	}
	waitFor(t, "3 publishes", func() bool { return len(rec.sent()) == 3 })
	if got := rec.sent(); !slices.Equal(got, []string{"1", "2", "3"}) {
		t.Fatalf("sent %v, want 1 2 3 in order", got)
	}

	// Acked entries leave; the others stay until acked.
	if _, err := o.Ack([]uint64{2}); err != nil {
		t.Fatal(err)
	}
	if s := checkBooks(t, o); s.Queued != 2 || s.Delivered != 1 {
		t.Fatalf("after ack: %+v", s)
	}

	// Past the ack timeout, unacked entries go again, in order.
	clock.Add(time.Second)
	waitFor(t, "resend after timeout", func() bool { return len(rec.sent()) == 5 })
	if got := rec.sent()[3:]; !slices.Equal(got, []string{"1", "3"}) {
		t.Errorf("resent %v, want 1 3", got)
	}

	// Resend (a reconnect) sends everything queued again at once.
	o.Resend()
	waitFor(t, "resend on reconnect", func() bool { return len(rec.sent()) == 7 })

	// While publishing fails nothing is lost; it goes out once it works.
	rec.mu.Lock()
	rec.fail = errors.New("not connected")
	rec.mu.Unlock()
	put(t, o, Metrics, 8)
	rec.mu.Lock()
	rec.fail = nil
	rec.mu.Unlock()
	o.Resend()
	waitFor(t, "seq 4 after failure", func() bool { return slices.Contains(rec.sent(), "4") })

	if _, err := o.Ack([]uint64{1, 3, 4}); err != nil {
		t.Fatal(err)
	}
	if err := o.Flush(t.Context()); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if s := checkBooks(t, o); s.Queued != 0 || s.Delivered != 4 || s.Bytes != 0 {
		t.Errorf("final books %+v", s)
	}
}

func TestWindowBoundsInflight(t *testing.T) {
	o := open(t, filepath.Join(t.TempDir(), "outbox.db"), Options{Window: 2, AckTimeout: time.Hour})
	rec := newRecorder()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- o.Run(ctx, rec) }()
	t.Cleanup(func() { cancel(); <-done })
	for range 5 {
		put(t, o, Metrics, 4)
	}
	waitFor(t, "window of 2", func() bool { return len(rec.sent()) == 2 })
	if _, err := o.Ack([]uint64{1}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "third after ack", func() bool { return len(rec.sent()) == 3 })
	if got := rec.sent(); !slices.Equal(got, []string{"1", "2", "3"}) {
		t.Errorf("sent %v", got)
	}
}

func TestFlushTimesOut(t *testing.T) {
	o := open(t, filepath.Join(t.TempDir(), "outbox.db"), Options{})
	put(t, o, Alert, 4)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if err := o.Flush(ctx); err == nil {
		t.Fatal("Flush with an unacked entry and no sender returned nil")
	}
}

func TestPutAfterClose(t *testing.T) {
	o, err := Open(filepath.Join(t.TempDir(), "outbox.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	o.Close()
	if _, err := o.Put(Alert, "a", func(uint64) ([]byte, error) { return nil, nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("Put after Close = %v", err)
	}
}

func BenchmarkPut(b *testing.B) {
	o, err := Open(filepath.Join(b.TempDir(), "outbox.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer o.Close()
	payload := make([]byte, 512)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := o.Put(Metrics, "mw/v1/agent/gw/metrics", func(uint64) ([]byte, error) { return payload, nil }); err != nil {
			b.Fatal(fmt.Errorf("put: %w", err))
		}
	}
}

func FuzzDecodeValue(f *testing.F) {
	f.Add(encodeValue(Alert, "mw/v1/agent/gw/alerts", []byte{1, 2, 3}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		class, topic, payload, err := decodeValue(b)
		if err != nil {
			return
		}
		if got := encodeValue(class, topic, payload); !slices.Equal(got, b) {
			t.Errorf("round trip %x -> %x", b, got)
		}
	})
}
