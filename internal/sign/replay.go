package sign

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// Replay keeps, per signing key id, the highest command sequence accepted
// (and that command's id), in a JSON file rewritten atomically on every
// acceptance, so that a command recorded here is refused again after a
// restart too.
type Replay struct {
	path string
	mu   sync.Mutex
	high map[string]accepted
}

type accepted struct {
	Seq uint64 `json:"seq"`
	ID  string `json:"id"`
}

// ErrDuplicate wraps ErrReplayed for a second delivery of the very command
// accepted last from a key (same sequence and id): a transport redelivery,
// to be dropped without an answer rather than refused.
var ErrDuplicate = fmt.Errorf("duplicate delivery: %w", ErrReplayed)

// OpenReplay loads the state at path (none yet is an empty state); its
// directory is created when missing.
func OpenReplay(path string) (*Replay, error) {
	r := &Replay{path: path, high: map[string]accepted{}}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("replay state dir: %w", err)
		}
		return r, nil
	case err != nil:
		return nil, fmt.Errorf("read replay state: %w", err)
	}
	if err := json.Unmarshal(b, &r.high); err != nil {
		// Refusing to start is safer than forgetting what was accepted.
		return nil, fmt.Errorf("replay state %s: %w (remove it to accept every sequence again)", path, err)
	}
	if r.high == nil {
		r.high = map[string]accepted{}
	}
	return r, nil
}

// Accept records seq (of command cmd) as the highest of key id, durably,
// when it is above every sequence accepted from that key; otherwise it
// records nothing and returns an error wrapping ErrReplayed, and
// ErrDuplicate when it is the last accepted command delivered again.
func (r *Replay) Accept(id string, seq uint64, cmd string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	last, had := r.high[id]
	if had && seq <= last.Seq {
		if seq == last.Seq && cmd == last.ID {
			return fmt.Errorf("command %s, sequence %d of key %s: %w", cmd, seq, id, ErrDuplicate)
		}
		return fmt.Errorf("sequence %d of key %s, last accepted %d: %w", seq, id, last.Seq, ErrReplayed)
	}
	prev := last
	r.high[id] = accepted{Seq: seq, ID: cmd}
	b, err := json.Marshal(r.high)
	if err == nil {
		err = writeAtomic(r.path, b, 0o600)
	}
	if err != nil {
		if had {
			r.high[id] = prev
		} else {
			delete(r.high, id)
		}
		return fmt.Errorf("record command sequence: %w", err)
	}
	return nil
}

// Highest is the highest sequence accepted from key id (0 when none).
func (r *Replay) Highest(id string) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.high[id].Seq
}
