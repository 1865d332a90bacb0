package proctest

import (
	"net"
	"strconv"
	"sync"
	"testing"
	"time"
)

func TestFreePortThenListening(t *testing.T) {
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	if err := WaitListening(addr, 100*time.Millisecond); err == nil {
		t.Fatal("nothing listens yet, but WaitListening succeeded")
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := WaitListening(addr, 5*time.Second); err != nil {
		t.Fatalf("listening, but WaitListening: %v", err)
	}
}

func TestBufferConcurrent(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { b.Write([]byte("ab")) })
	}
	wg.Wait()
	if got := len(b.String()); got != 16 {
		t.Fatalf("%d bytes, want 16", got)
	}
}
