// Package daemon is the agent: the gateway daemon that joins the MQTT
// session, the scoring pipeline, the durable outbox, the model state on disk
// and the HTTP endpoints into one blocking Run.
//
// # Lifecycle
//
// New opens the state directory (outbox, saved models) and binds the HTTP
// listener; Run connects to the broker, serves until ctx is done, then shuts
// down in order: stop telemetry input, drain the pipeline (its reorder
// buffers and feature windows included), emit the last
// metrics, save and publish every model's snapshot, flush the outbox (bounded
// by FlushTimeout, even though ctx is done), publish a Death with reason
// "shutdown", disconnect, close the outbox.
//
// # Models and commands
//
// Every machine's champion, learning twin, challengers and the champion pair
// kept for rollback are saved to the state directory (package state) every
// StateInterval, at shutdown, and right after every hub command that
// changed them, so that a kill -9 loses neither a deploy nor a role. Hub
// commands (wire.Command on the hub's cmd topic) are decoded on the MQTT
// goroutine and handed to the pipeline goroutine, which applies them
// between two vectors; each is answered with a wire.CommandAck through the
// outbox. Drifts go through the outbox too. A saved file that cannot be
// used at start is refused with its reason in the log, set aside as
// .corrupt and counted (mw_agent_model_state_refused_total); its machine
// starts fresh.
//
// # Local outputs
//
// Alerts are also logged, published as JSON on LocalAlertTopic of the same
// broker connection (not through the outbox: a local HMI gets them with the
// hub down), and drive the optional AlarmOutput (a lamp), on while any
// machine is in an alert episode. They are handed to these outputs as soon
// as the outbox has given them their sequence number (their id), before
// its durable write, and also when the outbox drops them. The outbox's
// writes (fsyncs) run on its own writer goroutine, grouped: scoring never
// waits for the disk, except briefly for an alert when the write queue is
// full (see package outbox).
// mw_agent_alert_latency_seconds is the time from the receipt of the
// message whose vector raised the alert to that hand-over.
//
// # Ingest
//
// With Options.Ingest the agent also subscribes to the mappings' topics
// (package agent/stream/ingest): their messages, in any JSON layout, CBOR
// or plain text, become telemetry of the asset they name, scored like the
// rest. Messages that do not fit are counted per topic and logged at most
// once a minute per topic.
//
// # Reload
//
// Reload applies a new configuration's alert options, intervals and log
// level while running; other changes are logged as needing a restart.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"millwright/agent/mqttc"
	"millwright/agent/outbox"
	"millwright/agent/pipeline"
	"millwright/wire"
)

// inMsg is one telemetry message waiting for the pipeline.
type inMsg struct {
	topic   string
	payload []byte
	recv    int64
}

// Agent is one gateway daemon.
type Agent struct {
	opts Options
	log  *slog.Logger

	ob      *outbox.Outbox
	pl      *pipeline.Pipeline
	mq      *mqttc.Client
	rejects *wire.Rejects
	ln      net.Listener
	http    *http.Server
	latency latencyHistogram
	// alertLatency observes, for every alert, the time from the receipt
	// of the message whose vector raised it to its hand-over to the local
	// outputs; recv is the receipt time of the message being handled (the
	// pipeline goroutine's, 0 outside Handle).
	alertLatency interface{ Observe(float64) }
	recv         int64

	in       chan inMsg
	inStop   chan struct{} // closed when telemetry input stops
	stopOnce sync.Once

	birthMu   sync.Mutex
	birthKick chan struct{}
	ackBuf    wire.Ack // decode target of acks, used on the MQTT goroutine only
	// acks carries the hub's acks to ackLoop, which commits them (an
	// fsync) off the MQTT delivery goroutine: telemetry does not wait.
	acks chan []uint64

	cmds    chan *wire.Command // hub commands for the pipeline goroutine
	reloads chan reload
	local   *localOut
	buses   buses
	ingest  *ingestInput // nil without Options.Ingest
	sig     *signing     // checks hub commands, signs uploaded snapshots

	ran atomic.Bool
	// stateRefused counts the model state files refused at start.
	stateRefused uint64
}

// Run builds an agent from opts and runs it until ctx is done.
func Run(ctx context.Context, opts Options) error {
	a, err := New(opts)
	if err != nil {
		return err
	}
	return a.Run(ctx)
}

// New prepares an agent: it opens the outbox and restores saved models
// from the state directory and binds the HTTP listener. Run must follow; it
// releases everything when it returns.
func New(opts Options) (_ *Agent, err error) {
	opts, err = opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("agent options: %w", err)
	}
	log := opts.Logger.With("gateway", opts.Gateway)
	if err := os.MkdirAll(modelDir(opts.StateDir), 0o755); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	a := &Agent{
		opts:      opts,
		log:       log,
		rejects:   &wire.Rejects{Log: log},
		in:        make(chan inMsg, 256),
		inStop:    make(chan struct{}),
		birthKick: make(chan struct{}, 1),
		latency:   newLatencyHistogram(),

		alertLatency: newAlertLatencyHistogram(),
		cmds:         make(chan *wire.Command, 16),
		acks:         make(chan []uint64, 256),
		reloads:      make(chan reload),
	}
	a.local = newLocalOut(opts, log.With("component", "local"))
	defer func() {
		if err != nil {
			a.closeResources()
		}
	}()
	if a.sig, err = newSigning(opts, log.With("component", "signing")); err != nil {
		return nil, err
	}
	if err := a.openBuses(); err != nil {
		return nil, err
	}
	if a.ingest, err = newIngestInput(a); err != nil {
		return nil, err
	}
	a.ob, err = outbox.Open(filepath.Join(opts.StateDir, "outbox.db"), outbox.Options{
		MaxBytes:   opts.OutboxMaxBytes,
		AckTimeout: opts.AckTimeout,
		Logger:     log.With("component", "outbox"),
	})
	if err != nil {
		return nil, err
	}
	a.pl, err = pipeline.New(pipeline.Options{
		Gateway:        opts.Gateway,
		Model:          opts.Model,
		Alert:          opts.Alert,
		Learn:          opts.Learn,
		Sink:           sink{a},
		Rejects:        a.rejects,
		Latency:        a.latency,
		Logger:         log.With("component", "pipeline"),
		OnMachine:      a.kickBirth,
		NewDetector:    opts.newDetector,
		Restore:        opts.restore,
		WarmUp:         opts.WarmUp,
		MaxChallengers: opts.MaxChallengers,
		Champion:       opts.Champion,
		Drift:          pipeline.DriftOptions{MinGap: opts.DriftMinGap, Disabled: opts.DriftDisabled},
		Stream:         opts.Stream,
		OnAlarm:        a.local.alarm,
	})
	if err != nil {
		return nil, err
	}
	saved := countStateFiles(modelDir(opts.StateDir))
	a.restoreModels()
	// restoreModels sets every refused file aside, renamed away.
	a.stateRefused = uint64(max(0, saved-countStateFiles(modelDir(opts.StateDir))))

	will, err := wire.Marshal(&wire.Death{Env: wire.Envelope{Sender: opts.Gateway}, Reason: "connection lost"})
	if err != nil {
		return nil, fmt.Errorf("encode will: %w", err)
	}
	subs := []mqttc.Subscription{
		{Topic: wire.TelemetrySubscription(opts.Gateway), QoS: 0},
		{Topic: wire.HubSubscription(opts.Gateway), QoS: 1},
	}
	if a.ingest != nil {
		for _, f := range a.ingest.router.Subscriptions() {
			subs = append(subs, mqttc.Subscription{Topic: f, QoS: 0})
		}
	}
	a.mq, err = mqttc.New(mqttc.Options{
		BrokerURL:     opts.BrokerURL,
		ClientID:      "mw-agent-" + opts.Gateway,
		Will:          &mqttc.Message{Topic: wire.AgentTopic(opts.Gateway, wire.LeafDeath), Payload: will, QoS: 1},
		Subscriptions: subs,
		OnMessage:     a.onMessage,
		OnConnect:     a.onConnect,
		Logger:        log.With("component", "mqtt"),
	})
	if err != nil {
		return nil, err
	}
	a.ln, err = net.Listen("tcp", opts.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("http listen: %w", err)
	}
	a.http = &http.Server{Handler: a.handler(), ReadHeaderTimeout: 5 * time.Second}
	return a, nil
}

func modelDir(stateDir string) string { return filepath.Join(stateDir, "models") }

// countStateFiles counts the model state files in dir (package state's
// names: <machine>.<slot>.model).
func countStateFiles(dir string) int {
	es, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range es {
		if name := e.Name(); !e.IsDir() && strings.HasSuffix(name, ".model") && !strings.HasPrefix(name, ".") {
			n++
		}
	}
	return n
}

// HTTPAddr is the bound address of the HTTP endpoints.
func (a *Agent) HTTPAddr() string { return a.ln.Addr().String() }

// OutboxStats returns the outbox's books.
func (a *Agent) OutboxStats() outbox.Stats { return a.ob.Stats() }

// PipelineStats returns the pipeline's running totals.
func (a *Agent) PipelineStats() pipeline.Stats { return a.pl.Stats() }

// Machines returns what the agent knows of every machine, in discovery
// order.
func (a *Agent) Machines() []wire.MachineInfo { return a.pl.Machines() }

// Connected reports whether the agent is connected to the broker.
func (a *Agent) Connected() bool { return a.mq != nil && a.mq.Connected() }

func (a *Agent) closeResources() {
	if a.ln != nil {
		a.ln.Close()
	}
	if a.ob != nil {
		a.ob.Close()
	}
}

// Run serves until ctx is done, then shuts down in order (see the package
// comment). It returns nil after a clean shutdown.
func (a *Agent) Run(ctx context.Context) error {
	if !a.ran.CompareAndSwap(false, true) {
		return errors.New("agent: Run called twice")
	}
	// Shutdown work must finish after ctx is done: it runs under bg, which
	// outlives ctx and is cancelled last.
	bg, cancelBG := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBG()
	var wg sync.WaitGroup
	httpErr := make(chan error, 1)
	wg.Go(func() {
		if err := a.http.Serve(a.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			httpErr <- err
		}
	})
	senderCtx, stopSender := context.WithCancel(bg)
	wg.Go(func() { a.ob.Run(senderCtx, publisher{a.mq}) })
	wg.Go(func() { a.ackLoop(senderCtx) })
	birthCtx, stopBirth := context.WithCancel(bg)
	wg.Go(func() { a.birthLoop(birthCtx) })
	localCtx, stopLocal := context.WithCancel(bg)
	wg.Go(func() { a.local.run(localCtx, a.mq) })

	a.log.Info("agent starting", "broker", a.opts.BrokerURL, "http", a.HTTPAddr(), "state", a.opts.StateDir, "model", a.opts.Model)
	a.mq.Start()
	busCtx, stopBuses := context.WithCancel(bg)
	var busWG sync.WaitGroup
	busWG.Go(func() { a.runBuses(busCtx) })
	runErr := a.loop(ctx, httpErr)

	// 1. Stop telemetry input (local buses, then MQTT) and drain what was
	// already received.
	stopBuses()
	busWG.Wait()
	a.stopInput(bg)
	a.drain()
	a.pl.Drain() // what the reorder buffers and windows still hold
	// 2. Last metrics and every model's state, on disk and to the hub.
	now := time.Now()
	a.pl.EmitMetrics(now)
	a.saveState(now)
	a.publishSnapshots(now)
	// 3. Flush the outbox while the hub can still ack.
	if a.mq.Connected() {
		fctx, cancel := context.WithTimeout(bg, a.opts.FlushTimeout)
		if err := a.ob.Flush(fctx); err != nil {
			a.log.Warn("shutdown before the hub acknowledged everything; the rest is sent on the next start", "err", err)
		}
		cancel()
	}
	stopSender()
	stopBirth()
	stopLocal()
	// 4. Say goodbye and leave.
	a.goodbye(bg)
	a.mq.Close(250 * time.Millisecond)
	sctx, cancel := context.WithTimeout(bg, 2*time.Second)
	a.http.Shutdown(sctx)
	cancel()
	wg.Wait()
	st := a.ob.Stats()
	if err := a.ob.Close(); err != nil && runErr == nil {
		runErr = err
	}
	a.log.Info("agent stopped", "outbox_queued", st.Queued, "outbox_delivered", st.Delivered, "outbox_dropped", st.Dropped)
	return runErr
}

// loop feeds the pipeline and runs the periodic duties until ctx is done.
func (a *Agent) loop(ctx context.Context, httpErr <-chan error) error {
	metrics := time.NewTicker(a.opts.MetricsInterval)
	defer metrics.Stop()
	saves := time.NewTicker(a.opts.StateInterval)
	defer saves.Stop()
	snaps := time.NewTicker(a.opts.SnapshotInterval)
	defer snaps.Stop()
	// Quiet sensors' buffered readings are released between Idle and Idle
	// plus this period after their last reading.
	flush := time.NewTicker(max(10*time.Millisecond, min(time.Second, a.opts.Stream.Idle/4)))
	defer flush.Stop()
	for {
		select { // commands first: they apply between two vectors
		case c := <-a.cmds:
			a.command(c)
			continue
		default:
		}
		select {
		case <-ctx.Done():
			return nil
		case err := <-httpErr:
			return fmt.Errorf("http server: %w", err)
		case m := <-a.in:
			a.handle(m)
		case now := <-metrics.C:
			a.pl.EmitMetrics(now)
		case now := <-flush.C:
			a.pl.Flush(now)
		case now := <-saves.C:
			a.saveState(now)
		case now := <-snaps.C:
			a.publishSnapshots(now)
		case c := <-a.cmds:
			a.command(c)
		case r := <-a.reloads:
			r.done <- a.applyReload(r.opts, metrics, saves, snaps)
		}
	}
}

// onMessage runs on the MQTT delivery goroutine for every message.
func (a *Agent) onMessage(topic string, payload []byte) {
	t, err := wire.ParseTopic(topic)
	if err != nil && a.ingest != nil {
		a.fromIngest(topic, payload)
		return
	}
	if err != nil {
		a.rejects.Reject(topic, &wire.DecodeError{Kind: wire.KindInvalid, What: "message", Err: err})
		return
	}
	switch {
	case t.Dir == "telemetry":
		select {
		case a.in <- inMsg{topic: topic, payload: payload, recv: time.Now().UnixNano()}:
		case <-a.inStop:
		}
	case t.Dir == "hub" && t.Leaf == wire.LeafAck:
		a.ackBuf = wire.Ack{Seqs: a.ackBuf.Seqs[:0]}
		if err := wire.Unmarshal(payload, &a.ackBuf); err != nil {
			a.rejects.Reject(topic, err)
			return
		}
		seqs := slices.Clone(a.ackBuf.Seqs) // one per entry owed, not per reading
		select {
		case a.acks <- seqs:
		default: // ackLoop is behind or gone: commit here
			a.applyAcks(seqs)
		}
	case t.Dir == "hub" && t.Leaf == wire.LeafCmd:
		c := new(wire.Command) // commands are rare and handed over: a fresh one each
		if err := wire.Unmarshal(payload, c); err != nil {
			a.rejects.Reject(topic, err)
			return
		}
		if !a.admitCommand(payload, c) {
			return
		}
		select {
		case a.cmds <- c:
		case <-a.inStop:
			a.ack(c, errors.New("agent shutting down"))
		}
	default:
		a.rejects.Reject(topic, &wire.DecodeError{Kind: wire.KindInvalid, What: "message", Err: errors.New("unexpected topic")})
	}
}

// ackLoop commits the hub's acks until ctx is done, those that queued up
// meanwhile in one transaction; then it commits what is left.
func (a *Agent) ackLoop(ctx context.Context) {
	var batch []uint64
	for {
		select {
		case <-ctx.Done():
			for {
				select {
				case s := <-a.acks:
					a.applyAcks(s)
				default:
					return
				}
			}
		case s := <-a.acks:
			batch = append(batch[:0], s...)
		more:
			for len(batch) < 4096 {
				select {
				case s := <-a.acks:
					batch = append(batch, s...)
				default:
					break more
				}
			}
			a.applyAcks(batch)
		}
	}
}

func (a *Agent) applyAcks(seqs []uint64) {
	if _, err := a.ob.Ack(seqs); err != nil && !errors.Is(err, outbox.ErrClosed) {
		a.log.Error("outbox ack", "err", err)
	}
}

// handle scores one telemetry message on the pipeline goroutine.
func (a *Agent) handle(m inMsg) {
	a.recv = m.recv
	a.pl.Handle(m.topic, m.payload, m.recv)
	a.recv = 0
}

func (a *Agent) stopInput(ctx context.Context) {
	a.stopOnce.Do(func() { close(a.inStop) })
	uctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := a.mq.Unsubscribe(uctx, wire.TelemetrySubscription(a.opts.Gateway)); err != nil && !errors.Is(err, mqttc.ErrNotConnected) {
		a.log.Warn("unsubscribe telemetry", "err", err)
	}
}

func (a *Agent) drain() {
	for {
		select {
		case c := <-a.cmds:
			a.command(c)
		case m := <-a.in:
			a.handle(m)
		default:
			return
		}
	}
}

// onConnect runs after every (re)connect: announce ourselves and send
// everything not yet acknowledged again.
func (a *Agent) onConnect(ctx context.Context) {
	a.publishBirth(ctx)
	a.ob.Resend()
}

func (a *Agent) kickBirth() {
	select {
	case a.birthKick <- struct{}{}:
	default:
	}
}

func (a *Agent) birthLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.birthKick:
			if a.mq.Connected() {
				a.publishBirth(ctx)
			}
		}
	}
}

func (a *Agent) publishBirth(ctx context.Context) {
	a.birthMu.Lock()
	defer a.birthMu.Unlock()
	b := &wire.Birth{
		Env:          wire.Envelope{Sender: a.opts.Gateway, Time: time.Now().UnixNano()},
		AgentVersion: a.opts.AgentVersion,
		Machines:     a.pl.Machines(),
		SigningKey:   a.sig.self.Public(), // the hub pins it and verifies our snapshots with it
	}
	payload, err := wire.Marshal(b)
	if err != nil {
		a.log.Error("encode birth", "err", err)
		return
	}
	if err := a.mq.Publish(ctx, wire.AgentTopic(a.opts.Gateway, wire.LeafBirth), 1, true, payload); err != nil {
		a.log.Warn("publish birth", "err", err)
	}
}

func (a *Agent) goodbye(ctx context.Context) {
	payload, err := wire.Marshal(&wire.Death{Env: wire.Envelope{Sender: a.opts.Gateway, Time: time.Now().UnixNano()}, Reason: "shutdown"})
	if err != nil {
		a.log.Error("encode death", "err", err)
		return
	}
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := a.mq.Publish(pctx, wire.AgentTopic(a.opts.Gateway, wire.LeafDeath), 1, false, payload); err != nil {
		a.log.Warn("publish death", "err", err)
	}
}

// sink puts what the pipeline produces into the outbox. The outbox's
// sequence number becomes the envelope's Seq and names the alert.
type sink struct{ a *Agent }

func (s sink) Alert(al *wire.Alert) error {
	gw := s.a.opts.Gateway
	local := false
	_, err := s.a.ob.Put(outbox.Alert, wire.AgentTopic(gw, wire.LeafAlerts), func(seq uint64) ([]byte, error) {
		al.Env.Seq = seq
		al.ID = gw + "-" + al.Machine + "-" + strconv.FormatUint(seq, 10)
		b, err := wire.Marshal(al)
		if err == nil {
			// The local outputs get the alert with its id before the
			// outbox's writer commits it (an fsync or two, milliseconds
			// on a gateway's flash), not after it.
			s.local(al)
			local = true
		}
		return b, err
	})
	// Local outputs do not depend on the hub nor on the outbox: an alert
	// the outbox could not take is raised locally all the same.
	if !local {
		s.local(al)
	}
	return err
}

func (s sink) local(al *wire.Alert) {
	if r := s.a.recv; r != 0 {
		s.a.alertLatency.Observe(float64(time.Now().UnixNano()-r) / 1e9)
	}
	s.a.local.alert(al)
}

func (s sink) Drift(d *wire.Drift) error {
	_, err := s.a.ob.Put(outbox.Alert, wire.AgentTopic(s.a.opts.Gateway, wire.LeafDrift), func(seq uint64) ([]byte, error) {
		d.Env.Seq = seq
		return wire.Marshal(d)
	})
	return err
}

func (s sink) Metrics(m *wire.Metrics) error {
	_, err := s.a.ob.Put(outbox.Metrics, wire.AgentTopic(s.a.opts.Gateway, wire.LeafMetrics), func(seq uint64) ([]byte, error) {
		m.Env.Seq = seq
		return wire.Marshal(m)
	})
	return err
}

// publisher adapts the MQTT client to the outbox.
type publisher struct{ c *mqttc.Client }

func (p publisher) Publish(ctx context.Context, topic string, payload []byte) error {
	return p.c.Publish(ctx, topic, 1, false, payload)
}
