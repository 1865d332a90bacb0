package broker

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TLSOptions add a listener whose clients must present a certificate.
type TLSOptions struct {
	// Addr is the TLS listen address, e.g. "0.0.0.0:8883".
	Addr string
	// Listener, when set, is used instead of listening on Addr; TLS is
	// layered on it.
	Listener net.Listener
	// Config is the server side: certificate, ClientAuth
	// tls.RequireAndVerifyClientCert and ClientCAs (see
	// pki.Authority.ServerTLS). Required.
	Config *tls.Config
	// Revoked reports a revoked client certificate: refused at connect,
	// and disconnected by Sweep.
	Revoked func(*x509.Certificate) bool
	// HandshakeTimeout bounds the TLS handshake and the CONNECT packet;
	// default 10s.
	HandshakeTimeout time.Duration
}

// handshakeListener hands out TLS connections with a deadline on their
// first bytes; the broker replaces it with the keepalive deadline once the
// client has connected.
type handshakeListener struct {
	net.Listener
	cfg     *tls.Config
	timeout time.Duration
	onFail  func(remote string, err error)
}

func (l handshakeListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(l.timeout))
	return &tlsConn{Conn: tls.Server(c, l.cfg), onFail: l.onFail}, nil
}

// tlsConn completes its handshake on the first Read (the broker's
// goroutine for the client, not the accept loop) and reports a refused one.
type tlsConn struct {
	*tls.Conn
	once   sync.Once
	onFail func(remote string, err error)
}

func (c *tlsConn) Read(p []byte) (int, error) {
	var herr error
	c.once.Do(func() {
		if herr = c.Conn.Handshake(); herr != nil && c.onFail != nil {
			c.onFail(c.RemoteAddr().String(), herr)
		}
	})
	if herr != nil {
		return 0, herr
	}
	return c.Conn.Read(p)
}

func listenTLS(o *TLSOptions, onFail func(string, error)) (net.Listener, error) {
	if o.Config == nil {
		return nil, errors.New("broker TLS: no server configuration")
	}
	if o.Config.ClientAuth != tls.RequireAndVerifyClientCert {
		return nil, errors.New("broker TLS: client certificates must be required (tls.RequireAndVerifyClientCert)")
	}
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = 10 * time.Second
	}
	ln := o.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", o.Addr); err != nil {
			return nil, fmt.Errorf("broker TLS listen: %w", err)
		}
	}
	return handshakeListener{Listener: ln, cfg: o.Config, timeout: o.HandshakeTimeout, onFail: onFail}, nil
}

// listenInternal makes the hub's own unix socket, 0600 so that only the
// hub's OS user may connect: its clients get full access without a
// certificate.
func listenInternal(path string) (net.Listener, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("broker internal socket: %w", err)
	}
	if len(abs) > 100 {
		return nil, fmt.Errorf("broker internal socket: path %q is over the 100 bytes a unix socket allows", abs)
	}
	if err := os.Remove(abs); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("broker internal socket: %w", err)
	}
	ln, err := net.Listen("unix", abs)
	if err != nil {
		return nil, fmt.Errorf("broker internal socket: %w", err)
	}
	if err := os.Chmod(abs, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("broker internal socket: %w", err)
	}
	return ln, nil
}

type metrics struct {
	denied  *prometheus.CounterVec
	refused prometheus.Counter
}

func newMetrics() *metrics {
	return &metrics{
		denied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "millwright_broker_acl_denied_total",
			Help: "Publishes (action=publish) and subscriptions or deliveries (action=subscribe) refused by the topic ACL of the TLS listener.",
		}, []string{"action"}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "millwright_broker_connections_refused_total",
			Help: "TLS connections refused: revoked certificate, bad identity or another identity's client id.",
		}),
	}
}

// Collectors are the broker's metrics, to register with the hub's registry.
func (b *Broker) Collectors() []prometheus.Collector {
	return []prometheus.Collector{b.metrics.denied, b.metrics.refused}
}
