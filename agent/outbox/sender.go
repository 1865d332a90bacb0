package outbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Run is the sender loop: it publishes due committed entries through pub, in sequence
// order, until ctx is done. An entry is due when it was never sent since the
// last Resend or was sent more than the ack timeout ago; at most Window
// entries wait for an ack at once. A failed publish ends the round; the
// next starts on Put, Ack, Resend or the ack timer.
func (o *Outbox) Run(ctx context.Context, pub Publisher) error {
	tick := time.NewTicker(max(o.opts.AckTimeout/4, 10*time.Millisecond))
	defer tick.Stop()
	var lastErr string
	for {
		if err := o.sendDue(ctx, pub); err != nil && ctx.Err() == nil {
			if errors.Is(err, ErrClosed) {
				return nil
			}
			// Log a failure once until it changes or a round succeeds.
			if err.Error() != lastErr {
				o.log.Warn("outbox send paused", "err", err)
				lastErr = err.Error()
			}
		} else {
			lastErr = ""
		}
		select {
		case <-ctx.Done():
			return nil
		case <-o.kick:
		case <-tick.C:
		}
	}
}

type due struct {
	e     *entry
	topic string
}

func (o *Outbox) sendDue(ctx context.Context, pub Publisher) error {
	for ctx.Err() == nil {
		batch, err := o.collectDue()
		if err != nil || len(batch) == 0 {
			return err
		}
		for _, d := range batch {
			payload, ok, err := o.payload(d.e.seq)
			if err != nil {
				return err
			}
			if !ok { // acked or dropped meanwhile
				continue
			}
			if err := pub.Publish(ctx, d.topic, payload); err != nil {
				return fmt.Errorf("publish seq %d: %w", d.e.seq, err)
			}
			o.mu.Lock()
			d.e.sentAt = o.opts.now()
			o.sent++
			o.mu.Unlock()
		}
	}
	return nil
}

// collectDue picks the due entries that fit the window, oldest first.
func (o *Outbox) collectDue() ([]due, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil, ErrClosed
	}
	now := o.opts.now()
	inflight := 0
	for _, e := range o.entries {
		if !e.durable { // the unwritten entries come last
			break
		}
		if !e.sentAt.IsZero() && now.Sub(e.sentAt) < o.opts.AckTimeout {
			inflight++
		}
	}
	var batch []due
	for _, e := range o.entries {
		if inflight+len(batch) >= o.opts.Window || len(batch) >= 64 || !e.durable {
			break
		}
		if e.sentAt.IsZero() || now.Sub(e.sentAt) >= o.opts.AckTimeout {
			batch = append(batch, due{e: e, topic: e.topic})
		}
	}
	return batch, nil
}

// payload reads an entry's bytes from the file.
func (o *Outbox) payload(seq uint64) ([]byte, bool, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil, false, ErrClosed
	}
	if _, ok := o.findLocked(seq); !ok {
		return nil, false, nil
	}
	var out []byte
	err := o.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketEntries).Get(seqKey(seq))
		if v == nil {
			return nil
		}
		_, _, p, err := decodeValue(v)
		if err != nil {
			return fmt.Errorf("entry %d: %w", seq, err)
		}
		out = append([]byte(nil), p...) // v is only valid inside the transaction
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("read outbox entry: %w", err)
	}
	return out, out != nil, nil
}
