// Package broker runs the hub's embedded MQTT broker (mochi-mqtt) on a TCP
// listener. Agents connect to it directly; the hub's own ingest connects to
// it like any other client, so the same ingest code works against an
// external broker.
//
// With TLSOptions it also listens for TLS with client certificates
// required: a client's identity is its certificate's CommonName, and topic
// ACLs keep each gateway to its own topics (see OnACLCheck in auth.go).
// The plain listener can then be turned off (NoPlain), and the hub's own
// clients connect over a unix socket (InternalSocket).
package broker

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"

	mqtt "github.com/mochi-mqtt/server/v2"
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

	// TLS, when set, adds a listener requiring client certificates.
	TLS *TLSOptions
	// NoPlain turns the plain TCP listener off (Addr and Listener unused).
	NoPlain bool
	// InternalSocket, when set, is the path of a unix socket (mode 0600)
	// for the hub's own clients, with full access: InternalURL.
	InternalSocket string
}

// DefaultMaxPacketSize is the default Options.MaxPacketSize.
const DefaultMaxPacketSize = 2 * wire.MaxMessageSize

// Broker is an embedded MQTT broker.
type Broker struct {
	srv       *mqtt.Server
	ln        net.Listener // nil with NoPlain
	tlsLn     net.Listener // nil without TLS
	unixLn    net.Listener // nil without InternalSocket
	revoked   func(*x509.Certificate) bool
	auth      *authHook
	metrics   *metrics
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
	b := &Broker{log: opts.Logger, metrics: newMetrics()}
	b.auth = &authHook{b: b}
	if err := b.listen(&opts); err != nil {
		b.closeListeners()
		return nil, err
	}
	if opts.MaxPacketSize == 0 {
		opts.MaxPacketSize = DefaultMaxPacketSize
	}
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumPacketSize = opts.MaxPacketSize
	b.srv = mqtt.New(&mqtt.Options{
		Logger:       opts.Logger,
		Capabilities: caps,
		InlineClient: false,
	})
	// The plain and internal listeners let anyone connect and publish (the
	// loopback demo, the hub itself); the TLS listener authenticates by
	// certificate and applies the ACLs.
	if err := b.srv.AddHook(b.auth, nil); err != nil {
		b.closeListeners()
		return nil, fmt.Errorf("broker auth hook: %w", err)
	}
	for id, ln := range map[string]net.Listener{plainID: b.ln, tlsID: b.tlsLn, internalID: b.unixLn} {
		if ln == nil {
			continue
		}
		if err := b.srv.AddListener(listeners.NewNet(id, ln)); err != nil {
			b.closeListeners()
			return nil, fmt.Errorf("broker listener: %w", err)
		}
	}
	return b, nil
}

func (b *Broker) listen(opts *Options) error {
	if opts.NoPlain && opts.TLS == nil {
		return errors.New("broker: no listener (the plain one is off and there is no TLS)")
	}
	if !opts.NoPlain {
		b.ln = opts.Listener
		if b.ln == nil {
			var err error
			if b.ln, err = net.Listen("tcp", opts.Addr); err != nil {
				return fmt.Errorf("broker listen: %w", err)
			}
		}
	}
	if opts.TLS != nil {
		var err error
		if b.tlsLn, err = listenTLS(opts.TLS, b.auth.handshakeFailed); err != nil {
			return err
		}
		b.revoked = opts.TLS.Revoked
	}
	if opts.InternalSocket != "" {
		var err error
		if b.unixLn, err = listenInternal(opts.InternalSocket); err != nil {
			return err
		}
	}
	return nil
}

func (b *Broker) closeListeners() {
	for _, ln := range []net.Listener{b.ln, b.tlsLn, b.unixLn} {
		if ln != nil {
			ln.Close()
		}
	}
}

// Addr returns the bound listen address, e.g. "127.0.0.1:41883": the plain
// listener's, or the TLS listener's with NoPlain.
func (b *Broker) Addr() string {
	if b.ln == nil {
		return b.TLSAddr()
	}
	return b.ln.Addr().String()
}

// URL returns the address as a client broker URL, e.g. "tcp://127.0.0.1:41883"
// (or "mqtts://…" with NoPlain).
func (b *Broker) URL() string {
	if b.ln == nil {
		return "mqtts://" + b.Addr()
	}
	return "tcp://" + b.Addr()
}

// TLSAddr is the TLS listener's bound address, or "" without TLS.
func (b *Broker) TLSAddr() string {
	if b.tlsLn == nil {
		return ""
	}
	return b.tlsLn.Addr().String()
}

// InternalURL is the URL of the internal unix socket ("unix:///path"), or
// URL() without one: where the hub's own clients connect.
func (b *Broker) InternalURL() string {
	if b.unixLn == nil {
		return b.URL()
	}
	return "unix://" + b.unixLn.Addr().String()
}

// Run serves until ctx is done, then disconnects every client and closes
// the listener.
func (b *Broker) Run(ctx context.Context) error {
	if err := b.srv.Serve(); err != nil {
		b.Close()
		return fmt.Errorf("broker serve: %w", err)
	}
	b.log.Info("mqtt broker listening", "addr", b.Addr(), "tls", b.TLSAddr(), "plain", b.ln != nil)
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
		b.closeListeners()
		if err := b.srv.Close(); err != nil {
			b.closeErr = fmt.Errorf("broker close: %w", err)
		}
	})
	return b.closeErr
}
