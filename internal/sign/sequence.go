package sign

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// seqBlock is how many sequences a Sequence reserves at a time.
const seqBlock = 1 << 20

// Sequence hands out the hub's command sequences: strictly increasing,
// also across restarts, whatever the clock does. It reserves blocks of
// sequences in a file before using them, so it writes rarely; a restart
// skips the rest of the block it was in.
type Sequence struct {
	path     string
	mu       sync.Mutex
	next     uint64
	reserved uint64 // every sequence below is ours to use
}

// OpenSequence starts above floor (e.g. the clock in Unix nanoseconds)
// and above every sequence reserved in the file at path.
func OpenSequence(path string, floor uint64) (*Sequence, error) {
	s := &Sequence{path: path, next: floor + 1}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("sequence dir: %w", err)
		}
	case err != nil:
		return nil, fmt.Errorf("read sequence: %w", err)
	default:
		v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("sequence file %s: %w", path, err)
		}
		s.next = max(s.next, v)
	}
	return s, nil
}

// Next returns the next sequence, reserving a new block first when needed.
func (s *Sequence) Next() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.next >= s.reserved {
		end := s.next + seqBlock
		if err := writeAtomic(s.path, []byte(strconv.FormatUint(end, 10)+"\n"), 0o600); err != nil {
			return 0, fmt.Errorf("reserve command sequences: %w", err)
		}
		s.reserved = end
	}
	v := s.next
	s.next++
	return v, nil
}
