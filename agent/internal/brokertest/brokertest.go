// Package brokertest holds the agent's MQTT test helpers: the embedded
// mochi broker in-process on a loopback listener the test owns (Start), a
// fake hub that acknowledges what agents owe it (StartHub), and a load
// generator: a QoS 0 publisher of pre-encoded packets (DialRaw) and a
// fleet of machines whose telemetry frames are rewritten in place (Fleet).
package brokertest

import (
	"log/slog"
	"net"
	"testing"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// Broker is a running in-process broker.
type Broker struct {
	URL    string // tcp://127.0.0.1:PORT
	Server *mqtt.Server
}

// Start runs a broker that lets every client in on 127.0.0.1 and a free
// port, and stops it when the test ends.
func Start(t testing.TB) *Broker {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("broker listen: %v", err)
	}
	srv := mqtt.New(&mqtt.Options{Logger: slog.New(slog.DiscardHandler)})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		t.Fatalf("broker auth hook: %v", err)
	}
	if err := srv.AddListener(listeners.NewNet("tcp", ln)); err != nil {
		t.Fatalf("broker listener: %v", err)
	}
	if err := srv.Serve(); err != nil {
		t.Fatalf("broker serve: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	return &Broker{URL: "tcp://" + ln.Addr().String(), Server: srv}
}
