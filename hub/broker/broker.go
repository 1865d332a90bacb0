// Package broker runs the hub's embedded MQTT broker (mochi-mqtt) on a TCP
// listener. Agents connect to it directly; the hub's own ingest connects to
// it like any other client, so the same ingest code works against an
// external broker.
package broker

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"

	"millwright/wire"
)

// DefaultAddr is where the broker listens when Options.Addr is empty.
const DefaultAddr = "127.0.0.1:1883"

// Options configure New. The zero value listens on DefaultAddr.
type Options struct {
	// Addr is the TCP listen address; "127.0.0.1:0" picks a free port.
	Addr string
	// Listener, when set, is used instead of listening on Addr.
	Listener net.Listener
	// MaxPacketSize refuses bigger MQTT packets at the door (the client is
	// disconnected). Default DefaultMaxPacketSize: twice the largest wire
	// message, so messages a little over the wire limit still reach ingest
	// and are counted there as oversized.
	MaxPacketSize uint32
	Logger        *slog.Logger
}

// DefaultMaxPacketSize is the default Options.MaxPacketSize.
const DefaultMaxPacketSize = 2 * wire.MaxMessageSize

// Broker is an embedded MQTT broker.
type Broker struct {
	srv       *mqtt.Server
	ln        net.Listener
	log       *slog.Logger
	closeOnce sync.Once
	closeErr  error
}

// New binds the listener and prepares the broker; Run starts serving.
func New(opts Options) (*Broker, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Addr == "" {
		opts.Addr = DefaultAddr
	}
	ln := opts.Listener
	if ln == nil {
		var err error
		ln, err = net.Listen("tcp", opts.Addr)
		if err != nil {
			return nil, fmt.Errorf("broker listen: %w", err)
		}
	}
	if opts.MaxPacketSize == 0 {
		opts.MaxPacketSize = DefaultMaxPacketSize
	}
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumPacketSize = opts.MaxPacketSize
	srv := mqtt.New(&mqtt.Options{
		Logger:       opts.Logger,
		Capabilities: caps,
		InlineClient: false,
	})
	// Anyone may connect and publish for now; mTLS and per-gateway ACLs
	// replace this hook later.
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		ln.Close()
		return nil, fmt.Errorf("broker auth hook: %w", err)
	}
	if err := srv.AddListener(listeners.NewNet("tcp", ln)); err != nil {
		ln.Close()
		return nil, fmt.Errorf("broker listener: %w", err)
	}
	return &Broker{srv: srv, ln: ln, log: opts.Logger}, nil
}

// Addr returns the bound listen address, e.g. "127.0.0.1:41883".
func (b *Broker) Addr() string { return b.ln.Addr().String() }

// URL returns the address as a client broker URL, e.g. "tcp://127.0.0.1:41883".
func (b *Broker) URL() string { return "tcp://" + b.Addr() }

// Run serves until ctx is done, then disconnects every client and closes
// the listener.
func (b *Broker) Run(ctx context.Context) error {
	if err := b.srv.Serve(); err != nil {
		b.Close()
		return fmt.Errorf("broker serve: %w", err)
	}
	b.log.Info("mqtt broker listening", "addr", b.Addr())
	<-ctx.Done()
	return b.Close()
}

// Close disconnects every client and closes the listener. Run calls it on
// return; call it yourself only for a Broker that never ran. It is safe to
// call more than once.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() {
		// No new connections first: mochi's Close races with a connection
		// being established.
		b.ln.Close()
		if err := b.srv.Close(); err != nil {
			b.closeErr = fmt.Errorf("broker close: %w", err)
		}
	})
	return b.closeErr
}
