package outbox

import (
	"context"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// batch is what one commit writes: the changes since the last one and the
// counters as they were when the writer took them, a consistent state.
type batch struct {
	pending
	seq, delivered uint64
	dropped        [numClasses]uint64
}

// writeLoop is the writer goroutine: it commits whatever is waiting, one
// transaction at a time, until Close; then it commits what is left and
// returns.
func (o *Outbox) writeLoop() {
	defer close(o.stopped)
	for {
		select {
		case <-o.wkick:
		case <-o.stop:
			for o.writeBatch() {
			}
			return
		}
		for o.writeBatch() {
		}
	}
}

// writeBatch commits what is waiting. It reports whether it committed a
// batch: false when there was nothing to write or the commit failed (the
// next change retries).
func (o *Outbox) writeBatch() bool {
	o.mu.Lock()
	if o.gen == o.taken {
		o.mu.Unlock()
		return false
	}
	b := batch{pending: o.pend, seq: o.seq, delivered: o.delivered, dropped: o.dropped}
	b.gen = o.gen
	o.taken = o.gen
	o.pend = pending{puts: o.spare.puts[:0], dels: o.spare.dels[:0]}
	o.spare = pending{}
	// Entries acked or dropped since they were queued are not written.
	b.puts = slices.DeleteFunc(b.puts, func(e *entry) bool { return e.gone })
	o.progressLocked() // the queue has room again
	o.mu.Unlock()

	if o.opts.beforeCommit != nil {
		o.opts.beforeCommit()
	}
	// The entries' seq and value do not change once queued: read them
	// without the lock.
	err := o.db.Update(func(tx *bolt.Tx) error {
		eb, mb := tx.Bucket(bucketEntries), tx.Bucket(bucketMeta)
		for _, s := range b.dels {
			if err := eb.Delete(seqKey(s)); err != nil {
				return err
			}
		}
		for _, e := range b.puts {
			if err := eb.Put(seqKey(e.seq), e.value); err != nil {
				return err
			}
		}
		for c := range numClasses {
			if err := putUint(mb, droppedKey(c), b.dropped[c]); err != nil {
				return err
			}
		}
		if err := putUint(mb, keyDelivered, b.delivered); err != nil {
			return err
		}
		return putUint(mb, keySeq, b.seq)
	})

	o.mu.Lock()
	if err != nil {
		// The new entries are lost: count them. The deletions are
		// retried with the next batch.
		lost := 0
		for _, e := range b.puts {
			if !e.gone {
				e.gone = true
				o.dropped[e.class]++
				o.failed[e.class]++
				lost++
			}
		}
		o.removeGoneLocked()
		o.pend.dels = append(o.pend.dels, b.dels...)
		if o.writeErr == nil || o.writeErr.Error() != err.Error() {
			o.log.Error("outbox write failed: entries lost", "entries", lost, "err", err)
		}
		o.writeErr = fmt.Errorf("outbox write: %w", err)
	} else {
		for _, e := range b.puts {
			if !e.gone {
				e.durable = true
				e.value = nil
				o.unwritten--
			}
		}
		if o.writeErr != nil {
			o.log.Info("outbox writes work again")
		}
		o.writeErr = nil
		o.commits++
	}
	o.written = b.gen
	clear(b.puts)
	o.spare = pending{puts: b.puts[:0], dels: b.dels[:0]}
	o.progressLocked()
	o.mu.Unlock()
	o.wake() // the sender has committed entries to send
	return err == nil
}

// progressLocked wakes whoever waits for the writer.
func (o *Outbox) progressLocked() {
	if o.waiters > 0 {
		close(o.progress)
		o.progress = make(chan struct{})
	}
}

// Sync waits until everything queued before it is committed, or ctx is
// done. It returns the error of the last commit, if that failed.
func (o *Outbox) Sync(ctx context.Context) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	target := o.gen
	for o.written < target {
		ch := o.progress
		o.waiters++
		o.mu.Unlock()
		var err error
		select {
		case <-ch:
		case <-o.stopped:
		case <-ctx.Done():
			err = fmt.Errorf("outbox sync: %w", context.Cause(ctx))
		}
		o.mu.Lock()
		o.waiters--
		if err != nil {
			return err
		}
		select {
		case <-o.stopped:
			return o.writeErr
		default:
		}
	}
	return o.writeErr
}
