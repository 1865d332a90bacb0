// Package proctest holds what tests need to run a real server as a child
// process: a free loopback port, a wait for it to listen, and a log buffer
// that the process and the test may use at once. internal/mqtttest and
// internal/influxtest build on it.
package proctest

import (
	"bytes"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// WaitListening polls addr until it accepts a TCP connection or within
// has passed; it returns the last dial error then.
func WaitListening(addr string, within time.Duration) error {
	deadline := time.Now().Add(within)
	var err error
	for time.Now().Before(deadline) {
		var c net.Conn
		c, err = net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		// Poll: a child process gives no other readiness signal.
		time.Sleep(20 * time.Millisecond)
	}
	return err
}

// Buffer is a bytes.Buffer safe for concurrent use, for a child process's
// output.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written, trimmed.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.TrimSpace(s.b.String())
}
