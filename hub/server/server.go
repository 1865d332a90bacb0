// Package server assembles the hub: embedded MQTT broker (or an external
// one), ingest, store, HTTP API and UI, retention and the status line, and
// runs them together until the context ends. cmd-style callers and tests in
// other packages start a whole hub in-process with New and Run.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"millwright/hub/api"
	"millwright/hub/auth"
	"millwright/hub/broker"
	"millwright/hub/config"
	"millwright/hub/enroll"
	"millwright/hub/influx"
	"millwright/hub/ingest"
	"millwright/hub/rollout"
	"millwright/hub/routing"
	"millwright/hub/store"
	"millwright/hub/ui"
	"millwright/internal/sign"
	"millwright/wire"
)

// Options configure New. The zero value runs the demo setup: data in
// ./data/hub, HTTP on 127.0.0.1:8080, embedded broker on 127.0.0.1:1883,
// no status line. Use "127.0.0.1:0" addresses in tests.
type Options struct {
	DataDir  string // default "./data/hub"
	HTTPAddr string // default "127.0.0.1:8080"
	MQTTAddr string // embedded broker listen address; default "127.0.0.1:1883"
	// BrokerURL is an external broker (tcp://host:1883); when set no
	// broker is embedded and MQTTAddr is ignored.
	BrokerURL string
	ClientID  string // hub's MQTT client id; default ingest.DefaultClientID
	// ClientTLS is the hub's certificate at an external mqtts:// broker;
	// its CommonName replaces ClientID, and all of the hub's MQTT traffic
	// shares one connection (hub/config/external.go).
	ClientTLS config.ClientTLS

	Retention      time.Duration // metric points kept; default 7 days
	RetentionEvery time.Duration // default 1h
	IngestQueue    int           // default ingest.DefaultQueueSize

	// StatusOut, when set, receives a status line every StatusEvery
	// (default 5s).
	StatusOut   io.Writer
	StatusEvery time.Duration

	// UIDir serves the UI from disk instead of the embedded copy (dev mode).
	UIDir  string
	Logger *slog.Logger

	// Rollout tunes challengers, promotions and rollouts; the zero value
	// takes config.Default().Rollout.
	Rollout config.Rollout
	// Now is the clock of rollouts and command dispatch; default time.Now.
	Now func() time.Time

	// SharedGroup, when set, subscribes through $share/<group>/ so that
	// several hubs on one broker split the traffic.
	SharedGroup string
	// Influx, when its URL is set, also receives metrics, alerts and drift.
	Influx influx.Config
	// Routing sends alerts to webhooks and MQTT displays, with escalation.
	Routing routing.Config
	// Security is the CA that enrols gateways, the broker's mTLS listener
	// and HTTPS (hub/enroll); the zero value opens the CA only.
	Security enroll.Config
	// Signing: commands are signed with a key generated at first start in
	// <DataDir>/keys unless Disabled (signing.go).
	Signing config.Signing
	// Auth is the login to the API and UI; the zero value (mode "") leaves
	// the API open, for in-process tests. config.Default() is the demo.
	Auth config.Auth
	// AuthParams are the password hash costs; zero is auth.DefaultParams().
	AuthParams auth.Params
}

// FromConfig maps a loaded configuration onto Options.
func FromConfig(c config.Config) Options {
	return Options{
		DataDir:        c.DataDir,
		HTTPAddr:       c.HTTP.Listen,
		MQTTAddr:       c.MQTT.Listen,
		BrokerURL:      c.MQTT.Broker,
		ClientID:       c.MQTT.ReplicaClientID(),
		ClientTLS:      c.MQTT.ClientTLS,
		Retention:      c.Store.Retention.D(),
		RetentionEvery: c.Store.RetentionEvery.D(),
		IngestQueue:    c.Ingest.Queue,
		StatusEvery:    c.StatusEvery.D(),
		Rollout:        c.Rollout,
		SharedGroup:    c.MQTT.SharedGroupName(),
		Influx:         c.Influx,
		Routing:        c.Routing,
		Security:       enroll.FromConfig(c),
		Signing:        c.Signing,
		Auth:           c.Auth,
	}
}

func (o *Options) defaults() {
	d := config.Default()
	if o.DataDir == "" {
		o.DataDir = d.DataDir
	}
	if o.HTTPAddr == "" {
		o.HTTPAddr = d.HTTP.Listen
	}
	if o.MQTTAddr == "" {
		o.MQTTAddr = d.MQTT.Listen
	}
	if o.Retention <= 0 {
		o.Retention = d.Store.Retention.D()
	}
	if o.RetentionEvery <= 0 {
		o.RetentionEvery = d.Store.RetentionEvery.D()
	}
	if o.StatusEvery <= 0 {
		o.StatusEvery = d.StatusEvery.D()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Rollout == (config.Rollout{}) {
		o.Rollout = d.Rollout
	}
	if o.ClientID == "" {
		o.ClientID = ingest.DefaultClientID
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Server is an assembled hub. Run must be called once; it releases
// everything New acquired when it returns.
type Server struct {
	opts     Options
	log      *slog.Logger
	store    *store.Store
	broker   *broker.Broker // nil with an external broker
	ingest   *ingest.Ingest
	pub      rollout.PublisherConn
	dispatch *rollout.Dispatcher
	rollouts *rollout.Manager
	influx   *influx.Writer  // nil unless configured
	router   *routing.Router // routes nothing without rules
	httpLn   net.Listener
	http     *http.Server
	handler  http.Handler
	url      string
	sec      *enroll.Security
	auth     *auth.Manager // nil when authentication is off
	stream   *api.Stream
	demo     []auth.Credential

	signer    *sign.Signer // nil when signing is disabled
	keyDir    string
	agentKeys *ingest.AgentKeys
	seq       *sign.Sequence // command sequences (anti-replay), with the signer
}

// New opens the store and binds the HTTP and (embedded) MQTT listeners, so
// the addresses are known before Run.
func New(ctx context.Context, opts Options) (_ *Server, err error) {
	opts.defaults()
	var clientTLS *tls.Config // external broker with the hub's certificate
	if opts.ClientTLS.Enabled() {
		if clientTLS, opts.ClientID, err = opts.ClientTLS.Load(); err != nil {
			return nil, err
		}
		if opts.SharedGroup == ingest.DefaultSharedGroup {
			opts.Logger.Warn("mqtt.shared_group is the default: a broker that does not check SUBSCRIBE (Mosquitto's acl_file) lets any client join it and swallow a share of the fleet's messages; use a name nobody can guess (configs/hub-external.yaml)")
		}
	}
	s := &Server{opts: opts, log: opts.Logger}
	defer func() {
		if err != nil {
			s.release()
		}
	}()
	s.store, err = store.Open(ctx, opts.DataDir, store.Options{Logger: opts.Logger.With("component", "store")})
	if err != nil {
		return nil, err
	}
	if s.sec, err = enroll.Open(opts.Security, opts.DataDir, opts.Logger); err != nil {
		return nil, err
	}
	s.url = opts.BrokerURL
	if s.url == "" {
		bo, err := s.sec.BrokerOptions(broker.Options{Addr: opts.MQTTAddr, Logger: opts.Logger.With("component", "broker")})
		if err != nil {
			return nil, err
		}
		s.broker, err = broker.New(bo)
		if err != nil {
			return nil, err
		}
		s.url = s.broker.InternalURL() // the plain listener's, or a unix socket with TLS
	}
	if err := s.setupSigning(); err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if s.broker != nil {
		reg.MustRegister(s.broker.Collectors()...)
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "millwright_hub_gateways_online",
		Help: "Gateways whose last birth/death said online.",
	}, s.gatewaysOnline))
	if opts.Influx.Enabled() {
		io := opts.Influx.Options()
		io.Source = influx.StoreSource{Store: s.store}
		io.Logger = opts.Logger.With("component", "influx")
		io.Registerer = reg
		if s.influx, err = influx.New(io); err != nil {
			return nil, fmt.Errorf("influx: %w", err)
		}
	}
	s.ingest, err = ingest.New(ingest.Options{
		BrokerURL:   s.url,
		ClientID:    opts.ClientID,
		Store:       s.store,
		Logger:      opts.Logger.With("component", "ingest"),
		QueueSize:   opts.IngestQueue,
		Registerer:  reg,
		SharedGroup: opts.SharedGroup,
		TLS:         clientTLS,
		OnMetrics:   s.onMetrics,
		OnAlert:     s.onAlert,
		OnDrift:     s.onDrift,

		AgentKeys:              s.agentKeys,
		RequireAgentSignatures: opts.Signing.RequireAgentSignatures,
	})
	if err != nil {
		return nil, err
	}
	s.router, err = routing.New(routing.Options{
		Config:     opts.Routing,
		Status:     routing.StoreStatus{Store: s.store},
		Locator:    routing.MachineLocator{Store: s.store},
		Publisher:  s.ingest,
		Logger:     opts.Logger.With("component", "routing"),
		Registerer: reg,
	})
	if err != nil {
		return nil, fmt.Errorf("routing: %w", err)
	}
	ro := opts.Rollout
	if clientTLS != nil { // one identity, one connection: commands ride on ingest's
		s.pub = rollout.SharedPublisher{Send: s.ingest.Publish}
	} else {
		s.pub = rollout.NewMQTTPublisher(s.url, opts.ClientID+"-cmd", opts.Logger.With("component", "commands"))
	}
	s.dispatch, err = rollout.NewDispatcher(rollout.DispatcherOptions{Store: s.store, Publisher: s.pub,
		Logger: opts.Logger.With("component", "commands"), ResendAfter: ro.ResendAfter.D(), MaxAttempts: ro.MaxAttempts, Now: opts.Now, Sender: opts.ClientID,
		Signer: s.signer, Sequence: s.seq})
	if err != nil {
		return nil, err
	}
	s.rollouts, err = rollout.New(rollout.Options{Store: s.store, Kick: s.dispatch.Kick, Logger: opts.Logger.With("component", "rollout"),
		Now: opts.Now, Every: ro.Every.D(), Soak: ro.Soak.D(), CanaryPercent: ro.CanaryPercent, Baseline: ro.Baseline.D(),
		Gates: rollout.Gates{AlertRateFactor: ro.Gates.AlertRateFactor, AlertRateMinJump: ro.Gates.AlertRateMinJump,
			MinVectors: ro.Gates.MinVectors, Silence: ro.Gates.Silence.D(), IdleIntervals: ro.Gates.IdleIntervals},
		AutoPromote: rollout.AutoPromote{Enabled: ro.AutoPromote.Enabled, Period: ro.AutoPromote.Period.D()}})
	if err != nil {
		return nil, err
	}
	if err := s.setupAuth(ctx, reg); err != nil {
		return nil, err
	}
	s.handler = api.New(api.Options{
		Store:    s.store,
		Ingest:   s.ingest,
		Ready:    s.Ready,
		Gatherer: reg,
		UI:       ui.Handler(opts.UIDir),
		Logger:   opts.Logger.With("component", "api"),
		Rollouts: s.rollouts,
		Auth:     s.auth,
		Stream:   s.stream,
	})
	s.handler = s.sec.Mount(s.handler) // POST /api/v1/enroll: token-authenticated, outside the login
	s.httpLn, err = net.Listen("tcp", opts.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("http listen: %w", err)
	}
	s.httpLn = s.sec.HTTPListener(s.httpLn)
	s.http = &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, ErrorLog: slog.NewLogLogger(opts.Logger.Handler(), slog.LevelWarn)}
	s.http.RegisterOnShutdown(s.stream.Close) // Shutdown does not end event streams by itself
	return s, nil
}

func (s *Server) gatewaysOnline() float64 {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, err := s.store.Counts(ctx)
	if err != nil {
		return 0
	}
	return float64(c.GatewaysOnline)
}

// release closes what New opened, for a failed New or a finished Run.
func (s *Server) release() {
	if s.broker != nil {
		if err := s.broker.Close(); err != nil {
			s.log.Warn("close broker", "err", err)
		}
	}
	if s.httpLn != nil {
		s.httpLn.Close()
	}
	if s.store != nil {
		if err := s.store.Close(); err != nil {
			s.log.Warn("close store", "err", err)
		}
	}
}

// HTTPAddr is the bound HTTP address, e.g. "127.0.0.1:8080".
func (s *Server) HTTPAddr() string { return s.httpLn.Addr().String() }

// MQTTAddr is the embedded broker's bound address, or "" with an external broker.
func (s *Server) MQTTAddr() string {
	if s.broker == nil {
		return ""
	}
	return s.broker.Addr()
}

// BrokerURL is the broker the hub ingests from, e.g. "tcp://127.0.0.1:1883".
func (s *Server) BrokerURL() string { return s.url }

// Store is the hub's store (valid until Run returns).
func (s *Server) Store() *store.Store { return s.store }

// Ingest is the hub's ingest pipeline.
func (s *Server) Ingest() *ingest.Ingest { return s.ingest }

// Rollouts is the hub's challenger, promotion and rollout manager.
func (s *Server) Rollouts() *rollout.Manager { return s.rollouts }

// Handler is the hub's HTTP handler (API, probes, metrics, UI).
func (s *Server) Handler() http.Handler { return s.handler }

// Ready returns nil once ingest is connected and subscribed to the broker.
func (s *Server) Ready() error {
	if !s.ingest.Connected() {
		return errors.New("ingest not connected to broker " + s.url)
	}
	return nil
}

// Run serves until ctx is done, then shuts everything down: HTTP, ingest
// and the other clients of the broker, then the broker, and last the store.
func (s *Server) Run(ctx context.Context) error {
	defer s.release()
	g, gctx := errgroup.WithContext(ctx)
	if s.broker != nil {
		// The broker outlives its clients: closing it while the hub's own
		// clients still reconnect races inside the broker library. It stops
		// after g's members have returned, or fails the group if it fails.
		brokerCtx, stopBroker := context.WithCancel(context.WithoutCancel(ctx))
		brokerDone := make(chan error, 1)
		go func() { brokerDone <- s.broker.Run(brokerCtx) }()
		defer func() {
			stopBroker()
			<-brokerDone
		}()
		g.Go(func() error {
			select {
			case err := <-brokerDone:
				brokerDone <- err // for the deferred wait
				return err
			case <-gctx.Done():
				return nil
			}
		})
	}
	g.Go(func() error { return s.ingest.Run(gctx) })
	g.Go(func() error { return s.sec.Run(gctx, s.broker) }) // revocations reach the broker at once
	g.Go(func() error { return s.router.Run(gctx) })
	if s.influx != nil {
		g.Go(func() error { return s.influx.Run(gctx) })
	}
	g.Go(func() error { return s.store.RunRetention(gctx, s.opts.Retention, s.opts.RetentionEvery) })
	g.Go(func() error {
		defer s.pub.Disconnect()
		if err := s.pub.Connect(gctx); err != nil {
			if gctx.Err() != nil {
				return nil
			}
			return err
		}
		return s.dispatch.Run(gctx)
	})
	g.Go(func() error { return s.rollouts.Run(gctx) })
	if s.auth != nil {
		g.Go(func() error { return s.auth.Run(gctx) })
	}
	g.Go(func() error {
		err := s.http.Serve(s.httpLn)
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("http serve: %w", err)
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(gctx), 5*time.Second)
		defer cancel()
		if err := s.http.Shutdown(sctx); err != nil {
			return fmt.Errorf("http shutdown: %w", err)
		}
		return nil
	})
	if s.opts.StatusOut != nil {
		g.Go(func() error { return s.runStatus(gctx) })
	}
	s.log.Info("hub running", "http", "http://"+s.HTTPAddr(), "broker", s.url, "data", s.opts.DataDir)
	return g.Wait()
}

// onMetrics, onAlert and onDrift run after ingest's durable write: they feed
// InfluxDB and the alert router, neither of which blocks ingest.
func (s *Server) onMetrics(gw string, m *wire.Metrics) {
	if s.influx != nil {
		s.influx.AddMetrics(gw, m)
	}
	s.stream.PublishMetrics(gw, m)
}

func (s *Server) onAlert(a store.Alert) {
	if s.influx != nil {
		s.influx.AddAlert(a)
	}
	s.router.Route(a)
	s.stream.PublishAlert(a)
}

func (s *Server) onDrift(gw string, d *wire.Drift) {
	if s.influx != nil {
		s.influx.AddDrift(gw, d)
	}
	s.stream.PublishDrift(gw, d)
}
