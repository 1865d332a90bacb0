package enroll

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"path/filepath"
	"slices"
	"time"

	"millwright/hub/broker"
	"millwright/hub/config"
	"millwright/internal/pki"
)

// Config is a hub's transport security. The zero value opens the CA in
// <data dir>/pki and changes nothing else: plain MQTT, plain HTTP.
type Config struct {
	// Dir is the PKI directory; default <data dir>/pki.
	Dir string
	// Validity of issued gateway certificates; default pki.DefaultValidity.
	Validity time.Duration
	// RevocationCheck is how often revocations written by `hub revoke`
	// are picked up; default 1s.
	RevocationCheck time.Duration
	MQTT            config.MQTTTLS
	HTTP            config.HTTPTLS
}

// FromConfig maps the hub configuration onto Config.
func FromConfig(c config.Config) Config {
	return Config{
		Dir:             c.PKIDir(),
		Validity:        c.PKI.Validity.D(),
		RevocationCheck: c.PKI.RevocationCheck.D(),
		MQTT:            c.MQTT.TLS,
		HTTP:            c.HTTP.TLS,
	}
}

// Security is a hub's CA, enrolment endpoint, broker TLS and HTTPS.
type Security struct {
	cfg     Config
	log     *slog.Logger
	ca      *pki.Authority
	handler *Handler
	httpTLS *tls.Config // nil: plain HTTP
}

// Open opens (or creates) the CA and loads the configured certificates.
func Open(cfg Config, dataDir string, log *slog.Logger) (*Security, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Dir == "" {
		cfg.Dir = filepath.Join(dataDir, "pki")
	}
	if cfg.RevocationCheck <= 0 {
		cfg.RevocationCheck = time.Second
	}
	ca, err := pki.Open(cfg.Dir, pki.Options{Validity: cfg.Validity})
	if err != nil {
		return nil, err
	}
	s := &Security{cfg: cfg, log: log, ca: ca, handler: NewHandler(ca, log.With("component", "enroll"))}
	if cfg.HTTP.Enabled() {
		var (
			pair tls.Certificate
			err  error
		)
		if cfg.HTTP.Cert != "" {
			pair, err = pki.LoadKeyPair(cfg.HTTP.Cert, cfg.HTTP.Key)
		} else if pair, err = s.serverCert("https", cfg.HTTP.Hosts); err == nil {
			// The CA rides along, so that `agent enroll --ca-hash` can
			// find it in the handshake and trust the hub with it.
			pair.Certificate = append(pair.Certificate, ca.Certificate().Raw)
		}
		if err != nil {
			return nil, fmt.Errorf("http.tls: %w", err)
		}
		s.httpTLS = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	}
	return s, nil
}

// CA is the hub's certificate authority.
func (s *Security) CA() *pki.Authority { return s.ca }

// BrokerOptions adds the TLS listener (and, with it, the hub's internal
// socket) to o when mqtt.tls is configured, and turns the plain listener
// off when mqtt.tls.only says so.
func (s *Security) BrokerOptions(o broker.Options) (broker.Options, error) {
	t := s.cfg.MQTT
	if !t.Enabled() {
		return o, nil
	}
	var (
		pair tls.Certificate
		err  error
	)
	if t.Cert != "" {
		pair, err = pki.LoadKeyPair(t.Cert, t.Key)
	} else {
		pair, err = s.serverCert("broker", t.Hosts)
	}
	if err != nil {
		return o, fmt.Errorf("mqtt.tls: %w", err)
	}
	o.TLS = &broker.TLSOptions{Addr: t.Listen, Config: s.ca.ServerTLS(pair), Revoked: s.ca.Revoked}
	o.NoPlain = t.Only
	// The hub's own clients skip certificates on a socket only its OS
	// user may open.
	o.InternalSocket = filepath.Join(s.cfg.Dir, "mqtt.sock")
	return o, nil
}

// serverCert loads the server certificate <name>.crt from the PKI
// directory, issuing a new one when it is missing, expires within 30 days
// or names other hosts.
func (s *Security) serverCert(name string, hosts []string) (tls.Certificate, error) {
	if len(hosts) == 0 {
		hosts = []string{"localhost", "127.0.0.1"}
	}
	req := pki.Request{Name: hosts[0], Server: true}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			req.IPs = append(req.IPs, ip)
		} else {
			req.DNSNames = append(req.DNSNames, h)
		}
	}
	certPath, keyPath := filepath.Join(s.cfg.Dir, name+".crt"), filepath.Join(s.cfg.Dir, name+".key")
	if pair, err := pki.LoadKeyPair(certPath, keyPath); err == nil {
		if leaf, err := x509.ParseCertificate(pair.Certificate[0]); err == nil &&
			time.Until(leaf.NotAfter) > 30*24*time.Hour && sameHosts(leaf, req) {
			return pair, nil
		}
	}
	certPEM, keyPEM, err := s.ca.IssueKeyPair(req)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := pki.WriteKeyFile(keyPath, keyPEM); err != nil {
		return tls.Certificate{}, err
	}
	if err := pki.WriteFile(certPath, certPEM); err != nil {
		return tls.Certificate{}, err
	}
	s.log.Info("issued a server certificate", "for", name, "hosts", hosts, "cert", certPath)
	return tls.X509KeyPair(certPEM, keyPEM)
}

func sameHosts(leaf *x509.Certificate, req pki.Request) bool {
	if !slices.Equal(leaf.DNSNames, req.DNSNames) || len(leaf.IPAddresses) != len(req.IPs) {
		return false
	}
	for i, ip := range leaf.IPAddresses {
		if !ip.Equal(req.IPs[i]) {
			return false
		}
	}
	return true
}

// Mount serves the enrolment endpoint in front of h.
func (s *Security) Mount(h http.Handler) http.Handler { return Mount(h, s.handler) }

// HTTPListener wraps ln in TLS when http.tls is configured.
func (s *Security) HTTPListener(ln net.Listener) net.Listener {
	if s.httpTLS == nil {
		return ln
	}
	return tls.NewListener(ln, s.httpTLS)
}

// HTTPScheme is "https" with http.tls, else "http".
func (s *Security) HTTPScheme() string {
	if s.httpTLS == nil {
		return "http"
	}
	return "https"
}

// Run applies revocations written by `hub revoke` (in this or another
// process) until ctx is done: b's clients whose certificates were revoked
// are disconnected within RevocationCheck, and those whose certificates
// expired while connected within a minute. b may be nil (external broker).
func (s *Security) Run(ctx context.Context, b *broker.Broker) error {
	sweep := func() {
		if b == nil {
			return
		}
		if n := b.Sweep(); n > 0 {
			s.log.Warn("gateways with revoked or expired certificates disconnected", "clients", n)
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.ca.WatchRevocations(ctx, s.cfg.RevocationCheck, sweep, func(err error) {
			s.log.Error("revocation list not reloaded; the last one read stays in force", "err", err)
		})
	}()
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			<-done
			return nil
		case <-t.C:
			sweep()
		}
	}
}
