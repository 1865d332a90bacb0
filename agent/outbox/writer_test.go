package outbox

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
)

// gate blocks the writer before each commit until released, so that a
// test can make it fall behind.
type gate struct {
	open    atomic.Bool // let every commit through
	entered chan struct{}
	release chan struct{}
}

func newGate() *gate {
	return &gate{entered: make(chan struct{}, 100), release: make(chan struct{}, 100)}
}

func (g *gate) hook() {
	if g.open.Load() {
		return
	}
	g.entered <- struct{}{}
	<-g.release
}

// A commit that fails (the file cannot grow, an I/O error) loses the new
// entries of its batch: they are counted by class as failed and as
// dropped, so the books balance, and Sync reports the failure.
func TestWriteFailureCounted(t *testing.T) {
	o := open(t, filepath.Join(t.TempDir(), "ob.db"), Options{})
	put(t, o, Alert, 1)
	if err := o.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := o.db.Close(); err != nil { // the file goes away under the outbox
		t.Fatal(err)
	}
	for _, c := range []Class{Alert, Metrics, Metrics} {
		put(t, o, c, 1)
	}
	if err := o.Sync(t.Context()); err == nil {
		t.Fatal("Sync after failed commits = nil")
	}
	s := checkBooks(t, o)
	want := [numClasses]uint64{Alert: 1, Metrics: 2}
	if s.FailedBy != want || s.DroppedBy != want || s.Produced != 4 || s.Queued != 1 || s.Unwritten != 0 {
		t.Errorf("stats after failed writes: %+v", s)
	}
}

// Everything queued while the writer commits goes to disk in one
// transaction; the sender sees an entry only once it is committed.
func TestGroupCommit(t *testing.T) {
	g := newGate()
	o := open(t, filepath.Join(t.TempDir(), "ob.db"), Options{beforeCommit: g.hook})
	put(t, o, Alert, 8)
	<-g.entered // the writer holds seq 1
	for range 100 {
		put(t, o, Metrics, 8)
	}
	if s := checkBooks(t, o); s.Unwritten != 101 || s.Queued != 101 {
		t.Fatalf("before any commit: %+v", s)
	}
	if d, _ := o.collectDue(); len(d) != 0 {
		t.Fatalf("%d unwritten entries due for sending", len(d))
	}
	g.release <- struct{}{}
	<-g.entered // seq 2..101, all at once
	g.release <- struct{}{}
	if err := o.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	s := checkBooks(t, o)
	if s.Commits != 2 || s.Unwritten != 0 || s.Queued != 101 {
		t.Errorf("after the writer caught up: %+v, want 2 commits", s)
	}
	if d, _ := o.collectDue(); len(d) != 64 || d[0].e.seq != 1 {
		t.Errorf("due after commit: %d entries", len(d))
	}
}

// When the write queue is full, metrics are dropped at once and counted;
// an alert waits for room, and is dropped and counted only if none comes
// within QueueWait.
func TestQueueFullPolicy(t *testing.T) {
	g := newGate()
	o := open(t, filepath.Join(t.TempDir(), "ob.db"), Options{QueueLen: 3, QueueWait: 20e6, beforeCommit: g.hook})
	put(t, o, Alert, 8)
	<-g.entered
	for range 3 {
		put(t, o, Metrics, 8)
	}
	fill := func(c Class) error {
		_, err := o.Put(c, "t", func(uint64) ([]byte, error) { return []byte("x"), nil })
		return err
	}
	if err := fill(Metrics); !errors.Is(err, ErrQueueFull) || !errors.Is(err, ErrFull) {
		t.Fatalf("metrics into a full queue: %v", err)
	}
	if err := fill(Alert); !errors.Is(err, ErrQueueFull) { // the writer stays stuck past QueueWait
		t.Fatalf("alert into a queue full for longer than QueueWait: %v", err)
	}
	s := checkBooks(t, o)
	if want := [numClasses]uint64{Metrics: 1, Alert: 1}; s.QueueFullBy != want || s.DroppedBy != want {
		t.Fatalf("queue-full drops: %+v", s)
	}

	// An alert that finds the queue full waits for the writer to catch up.
	done := make(chan error, 1)
	go func() { done <- fill(Alert) }()
	waitFor(t, "the alert waiting for room", func() bool {
		o.mu.Lock()
		defer o.mu.Unlock()
		return o.waiters == 1
	})
	g.release <- struct{}{}
	<-g.entered
	if err := <-done; err != nil {
		t.Fatalf("alert after the writer caught up: %v", err)
	}
	close(g.release)
	if err := o.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if s := checkBooks(t, o); s.Queued != 5 || s.QueueFullBy[Alert] != 1 {
		t.Errorf("final: %+v", s)
	}
}

// A crash while the writer is behind loses only what was not committed,
// and the file it leaves has balanced books: a copy of the file taken then
// is what a restart after kill -9 would open.
func TestCrashLosesOnlyUnwritten(t *testing.T) {
	dir := t.TempDir()
	g := newGate()
	g.open.Store(true)
	o := open(t, filepath.Join(dir, "ob.db"), Options{beforeCommit: g.hook})
	for range 3 {
		put(t, o, Alert, 8)
	}
	if err := o.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	g.open.Store(false)
	// Committed: 1..3. Then ack 2, drop nothing, and queue 4..5 while the
	// writer is stuck before committing them.
	if _, err := o.Ack([]uint64{2}); err != nil {
		t.Fatal(err)
	}
	<-g.entered // the ack's batch
	put(t, o, Alert, 8)
	put(t, o, Metrics, 8)
	b, err := os.ReadFile(filepath.Join(dir, "ob.db"))
	if err != nil {
		t.Fatal(err)
	}
	crashed := filepath.Join(dir, "crashed.db")
	if err := os.WriteFile(crashed, b, 0o600); err != nil {
		t.Fatal(err)
	}
	g.open.Store(true)
	close(g.release)

	c := open(t, crashed, Options{})
	s := checkBooks(t, c)
	if s.Produced != 3 || s.Queued != 3 || s.Delivered != 0 {
		t.Errorf("after the crash: %+v, want the 3 committed entries, the ack lost", s)
	}
	var seqs []uint64
	for _, e := range c.entries {
		seqs = append(seqs, e.seq)
	}
	if !slices.Equal(seqs, []uint64{1, 2, 3}) {
		t.Errorf("queued after the crash: %v", seqs)
	}
	if got := put(t, c, Alert, 8); got != 4 {
		t.Errorf("next seq after the crash = %d, want 4 (the lost 4 was never sent)", got)
	}
}
