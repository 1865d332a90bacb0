// Package ingest moves agent messages from MQTT into the hub store.
//
// It subscribes to every agent → hub topic, decodes each message with the
// wire contract, writes it durably and only then acknowledges its sequence
// number to the agent on the hub → agent ack topic. Duplicates are
// acknowledged too, so an agent that missed an ack stops resending. Refused
// messages (malformed, unknown version, oversized, invalid) are counted,
// logged once per kind and topic, and dropped; they are never acked.
//
// The MQTT callback only hands the message to a bounded queue; one ingest
// goroutine decodes, stores and acks, batching acks per gateway while the
// queue has more to give. After each commit, hooks (Options.OnMetrics,
// OnAlert, OnDrift) see what was newly stored, for InfluxDB and alert
// routing.
//
// Several hub replicas can share an external broker's traffic through a
// shared subscription (Options.SharedGroup): the broker hands each message
// to one replica of the group.
package ingest

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"millwright/hub/store"
	"millwright/wire"
)

// Defaults for Options.
const (
	DefaultClientID = "millwright-hub"
	// DefaultSharedGroup is the shared subscription group hub replicas
	// use with an external broker.
	DefaultSharedGroup = "millwright-hub"
	DefaultQueueSize   = 1024
	// DefaultQueueWait is how long the MQTT callback waits for room in a
	// full queue before dropping a message (the agent will resend it).
	DefaultQueueWait = 2 * time.Second
	maxBatch         = 256
)

// Options configure New. BrokerURL and Store are required.
type Options struct {
	BrokerURL string // e.g. tcp://127.0.0.1:1883
	// ClientID is the hub's client id at the broker; default
	// DefaultClientID. Replicas sharing a broker need distinct ids.
	ClientID string
	// SharedGroup, when set, subscribes through the shared subscription
	// $share/<SharedGroup>/mw/v1/agent/+/+ so that the broker hands each
	// message to one of the hub replicas subscribed in the group (MQTT 5,
	// and MQTT 3.1.1 on Mosquitto and mochi-mqtt). Empty: every message
	// reaches this hub.
	SharedGroup string
	// TLS, when set, connects with this client configuration (the hub's
	// certificate at an external mqtts:// broker).
	TLS    *tls.Config
	Store  *store.Store
	Logger *slog.Logger
	// Rejects counts refused messages; nil makes a private one.
	Rejects   *wire.Rejects
	QueueSize int           // default DefaultQueueSize
	QueueWait time.Duration // default DefaultQueueWait
	// Registerer, when set, receives the ingest metrics.
	Registerer prometheus.Registerer

	// Hooks observe messages after their durable commit (never before, and
	// never for a duplicate (sender, seq) or a refused message). They run
	// on the ingest goroutine: they must return quickly and must not block
	// (hand off to a bounded queue, as influx.Writer.Add and
	// routing.Router.Route do). Their arguments are valid only during the
	// call; copy what you keep.
	//
	// OnMetrics receives every stored metrics message of gateway gw.
	OnMetrics func(gw string, m *wire.Metrics)
	// OnAlert receives every stored alert as the store now holds it
	// (status open). An alert redelivered under a new seq is passed again:
	// consumers de-duplicate on Alert.ID.
	OnAlert func(a store.Alert)
	// OnDrift receives every stored drift event (only when the store can
	// store drift events; until then they are refused as invalid).
	OnDrift func(gw string, d *wire.Drift)

	// AgentKeys, when set, pins each gateway's snapshot-signing key from
	// its birth and verifies its snapshots with it (origin.go).
	AgentKeys *AgentKeys
	// RequireAgentSignatures refuses snapshots whose origin cannot be
	// verified; otherwise they are stored as unverified.
	RequireAgentSignatures bool

	newClient clientFactory // tests only; default paho
}

// Filter returns the subscription filter for a shared group (empty: none).
func Filter(sharedGroup string) string {
	if sharedGroup == "" {
		return wire.AgentSubscription
	}
	return "$share/" + sharedGroup + "/" + wire.AgentSubscription
}

// Stats are running totals since start.
type Stats struct {
	Ingested   uint64 // messages stored (duplicates excluded)
	Duplicates uint64
	Rejected   uint64
	Dropped    uint64 // queue overflow; not acked, so agents resend
	AckErrors  uint64
	// Agent snapshots stored by origin (see Options.AgentKeys).
	SnapshotsVerified, SnapshotsUnverified uint64
}

type inbound struct {
	topic   string
	payload []byte
	recv    time.Time
}

// Ingest is the MQTT → store pipeline.
type Ingest struct {
	opts    Options
	log     *slog.Logger
	st      *store.Store
	rejects *wire.Rejects
	client  mqttClient
	queue   chan inbound
	m       *metrics

	ingested, duplicates, dropped, ackErrors atomic.Uint64
	verified, unverified                     atomic.Uint64

	// owned by the run loop
	batch  []inbound
	acks   map[string][]uint64
	ackSeq uint64
	ackBuf []byte
	msgs   decoded
	// stored since the batch began, for the hooks after the commit
	hooked hooked
	// gateways whose unverified snapshots were logged once
	loggedUnverified map[string]bool
}

// hooked keeps a batch's newly stored messages until its commit. Decoding
// allocates fresh slices for every message, so the copies share nothing
// with the next decode.
type hooked struct {
	metrics []wire.Metrics
	alerts  []store.Alert
	drifts  []wire.Drift
}

func (h *hooked) reset() {
	clear(h.metrics)
	clear(h.alerts)
	clear(h.drifts)
	h.metrics, h.alerts, h.drifts = h.metrics[:0], h.alerts[:0], h.drifts[:0]
}

// decoded holds one reusable value of every message type.
type decoded struct {
	birth    wire.Birth
	death    wire.Death
	metrics  wire.Metrics
	alert    wire.Alert
	snapshot wire.Snapshot
	cmdAck   wire.CommandAck
	drift    wire.Drift
}

// New checks opts and builds the pipeline; Run connects and serves.
func New(opts Options) (*Ingest, error) {
	if opts.BrokerURL == "" {
		return nil, errors.New("ingest: broker URL is required")
	}
	if opts.Store == nil {
		return nil, errors.New("ingest: store is required")
	}
	if opts.ClientID == "" {
		opts.ClientID = DefaultClientID
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Rejects == nil {
		opts.Rejects = &wire.Rejects{Log: opts.Logger}
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = DefaultQueueSize
	}
	if opts.QueueWait <= 0 {
		opts.QueueWait = DefaultQueueWait
	}
	if strings.ContainsAny(opts.SharedGroup, "/+#") {
		return nil, fmt.Errorf("ingest: shared group %q must not contain '/', '+' or '#'", opts.SharedGroup)
	}
	if opts.newClient == nil {
		opts.newClient = newPahoClient
	}
	in := &Ingest{
		opts:    opts,
		log:     opts.Logger,
		st:      opts.Store,
		rejects: opts.Rejects,
		queue:   make(chan inbound, opts.QueueSize),
		acks:    make(map[string][]uint64),

		loggedUnverified: make(map[string]bool),
	}
	in.m = newMetrics(in)
	if opts.Registerer != nil {
		if err := in.m.register(opts.Registerer); err != nil {
			return nil, fmt.Errorf("ingest: register metrics: %w", err)
		}
	}
	in.client = opts.newClient(clientConfig{
		BrokerURL: opts.BrokerURL,
		ClientID:  opts.ClientID,
		Filter:    Filter(opts.SharedGroup),
		QoS:       1,
		Handler:   in.enqueue,
		Log:       opts.Logger,
		TLS:       opts.TLS,
	})
	return in, nil
}

// Rejects returns the refused-message counter.
func (in *Ingest) Rejects() *wire.Rejects { return in.rejects }

// Connected reports whether ingest is connected and subscribed.
func (in *Ingest) Connected() bool { return in.client.IsConnected() }

// Publish sends payload to topic on ingest's MQTT connection, for other
// hub components (it satisfies routing.Publisher). It hands the message to
// the client and does not wait for the broker's acknowledgement; an error
// means it could not be queued (e.g. not connected). payload must not be
// modified afterwards.
func (in *Ingest) Publish(topic string, qos byte, retained bool, payload []byte) error {
	return in.client.Publish(context.Background(), topic, qos, retained, payload)
}

// Stats returns the running totals.
func (in *Ingest) Stats() Stats {
	return Stats{
		Ingested:   in.ingested.Load(),
		Duplicates: in.duplicates.Load(),
		Rejected:   in.rejects.Total(),
		Dropped:    in.dropped.Load(),
		AckErrors:  in.ackErrors.Load(),

		SnapshotsVerified:   in.verified.Load(),
		SnapshotsUnverified: in.unverified.Load(),
	}
}

// enqueue is the MQTT callback: it must return quickly.
func (in *Ingest) enqueue(topic string, payload []byte) {
	msg := inbound{topic: topic, payload: payload, recv: time.Now()}
	select {
	case in.queue <- msg:
		return
	default:
	}
	t := time.NewTimer(in.opts.QueueWait)
	defer t.Stop()
	select {
	case in.queue <- msg:
	case <-t.C:
		in.m.dropped.Inc()
		// Log the 1st, 2nd, 4th, 8th… drop: an overload must not also flood the log.
		if n := in.dropped.Add(1); n&(n-1) == 0 {
			in.log.Warn("ingest queue full, message dropped; its agent will resend", "topic", topic, "dropped_total", n)
		}
	}
}

// Run connects to the broker and ingests until ctx is done. Messages still
// queued at shutdown are not acked; their agents resend them.
func (in *Ingest) Run(ctx context.Context) error {
	if err := in.client.Connect(ctx); err != nil {
		in.client.Disconnect()
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("ingest: %w", err)
	}
	defer in.client.Disconnect()
	in.log.Info("ingest connected", "broker", in.opts.BrokerURL, "filter", Filter(in.opts.SharedGroup))
	for {
		select {
		case <-ctx.Done():
			return nil
		case msg := <-in.queue:
			// Take what is already waiting too: one commit and one ack per
			// gateway for the whole batch.
			in.batch = append(in.batch[:0], msg)
		fill:
			for len(in.batch) < maxBatch {
				select {
				case msg := <-in.queue:
					in.batch = append(in.batch, msg)
				default:
					break fill
				}
			}
			in.process(ctx, in.batch)
			clear(in.batch) // drop payload references
		}
	}
}

// process stores a batch in one transaction and, after the commit, acks it.
func (in *Ingest) process(ctx context.Context, batch []inbound) {
	start := time.Now()
	tx, err := in.st.Begin(ctx)
	if err != nil {
		if ctx.Err() == nil {
			in.log.Error("store unavailable; batch not acked", "messages", len(batch), "err", err)
		}
		return
	}
	defer tx.Rollback()
	in.hooked.reset()
	var stored [len(leaves)]uint64
	var dups uint64
	for i := range batch {
		leaf, dup, ok := in.handle(ctx, tx, batch[i])
		switch {
		case !ok:
		case dup:
			dups++
		default:
			stored[leaf]++
		}
	}
	if err := tx.Commit(); err != nil {
		// Nothing is acked: the agents resend, and the store may be back by then.
		for gw, seqs := range in.acks {
			in.acks[gw] = seqs[:0]
		}
		if ctx.Err() == nil {
			in.log.Error("store commit failed; batch not acked", "messages", len(batch), "err", err)
		}
		return
	}
	in.m.writeSeconds.Observe(time.Since(start).Seconds())
	for leaf, n := range stored {
		if n > 0 {
			in.ingested.Add(n)
			in.m.ingested[leaf].Add(float64(n))
		}
	}
	if dups > 0 {
		in.duplicates.Add(dups)
		in.m.duplicates.Add(float64(dups))
	}
	in.flushAcks(ctx)
	in.callHooks()
}

// callHooks hands the batch's newly stored messages to the hooks.
func (in *Ingest) callHooks() {
	h := &in.hooked
	for i := range h.metrics {
		in.opts.OnMetrics(h.metrics[i].Env.Sender, &h.metrics[i])
	}
	for i := range h.alerts {
		in.opts.OnAlert(h.alerts[i])
	}
	for i := range h.drifts {
		in.opts.OnDrift(h.drifts[i].Env.Sender, &h.drifts[i])
	}
	h.reset()
}

// keep records a newly stored message for the hooks.
func (in *Ingest) keep(m wire.Message, recv time.Time) {
	switch v := m.(type) {
	case *wire.Metrics:
		if in.opts.OnMetrics != nil {
			in.hooked.metrics = append(in.hooked.metrics, *v)
		}
	case *wire.Alert:
		if in.opts.OnAlert != nil {
			in.hooked.alerts = append(in.hooked.alerts, storedAlert(v, recv))
		}
	case *wire.Drift:
		if in.opts.OnDrift != nil {
			in.hooked.drifts = append(in.hooked.drifts, *v)
		}
	}
}

// storedAlert is a as the store holds it right after ingest.
func storedAlert(a *wire.Alert, recv time.Time) store.Alert {
	contrib := a.Contributors
	if contrib == nil {
		contrib = []wire.Contribution{}
	}
	recv = recv.UTC()
	return store.Alert{
		ID: a.ID, Gateway: a.Env.Sender, Machine: a.Machine, Model: a.Model, Severity: a.Severity,
		Score: a.Score, Threshold: a.Threshold, Start: time.Unix(0, a.Env.Time).UTC(), Received: recv,
		Status: store.StatusOpen, StatusTime: recv, Contributors: contrib, Message: a.Message,
	}
}

// driftIngester is the store ability to keep drift events; ingest refuses
// them until the store has it.
type driftIngester interface {
	IngestDrift(ctx context.Context, d *wire.Drift, recv time.Time) (dup bool, err error)
}

// invalid builds the DecodeError for a well-formed message that breaks the contract.
func invalid(what, format string, args ...any) error {
	return &wire.DecodeError{Kind: wire.KindInvalid, What: what, Err: fmt.Errorf(format, args...)}
}

// handle decodes one message, writes it in tx and queues its ack for after
// the commit. ok is false when it was refused or its write failed.
func (in *Ingest) handle(ctx context.Context, tx *store.Tx, msg inbound) (leaf int, dup, ok bool) {
	t, err := wire.ParseTopic(msg.topic)
	if err != nil || t.Dir != "agent" {
		in.rejects.Reject(msg.topic, invalid("message", "not an agent topic"))
		return 0, false, false
	}
	var (
		m     wire.Message
		write func() (bool, error)
		d     = &in.msgs
	)
	switch t.Leaf {
	case wire.LeafBirth:
		d.birth = wire.Birth{}
		m, write = &d.birth, func() (bool, error) { return tx.IngestBirth(ctx, &d.birth, msg.recv) }
	case wire.LeafDeath:
		d.death = wire.Death{}
		m, write = &d.death, func() (bool, error) { return tx.IngestDeath(ctx, &d.death, msg.recv) }
	case wire.LeafMetrics:
		d.metrics = wire.Metrics{}
		m, write = &d.metrics, func() (bool, error) { return tx.IngestMetrics(ctx, &d.metrics, msg.recv) }
	case wire.LeafAlerts:
		d.alert = wire.Alert{}
		m, write = &d.alert, func() (bool, error) { return tx.IngestAlert(ctx, &d.alert, msg.recv) }
	case wire.LeafSnapshots:
		d.snapshot = wire.Snapshot{}
		m, write = &d.snapshot, func() (bool, error) { return tx.IngestSnapshot(ctx, &d.snapshot, msg.recv) }
	case wire.LeafCmdAck:
		d.cmdAck = wire.CommandAck{}
		m, write = &d.cmdAck, func() (bool, error) { return tx.IngestCommandAck(ctx, &d.cmdAck, msg.recv) }
	case wire.LeafDrift:
		di, ok := any(tx).(driftIngester)
		if !ok {
			in.rejects.Reject(msg.topic, invalid(t.Leaf, "this hub's store does not keep drift events"))
			return 0, false, false
		}
		d.drift = wire.Drift{}
		m, write = &d.drift, func() (bool, error) { return di.IngestDrift(ctx, &d.drift, msg.recv) }
	default:
		in.rejects.Reject(msg.topic, invalid(t.Leaf, "unknown agent topic leaf %q", t.Leaf))
		return 0, false, false
	}
	if err := wire.Unmarshal(msg.payload, m); err != nil {
		in.rejects.Reject(msg.topic, err)
		return 0, false, false
	}
	if err := check(t, m); err != nil {
		in.rejects.Reject(msg.topic, err)
		return 0, false, false
	}
	if sn, ok := m.(*wire.Snapshot); ok {
		signedBy, err := in.snapshotOrigin(t.Gateway, msg.payload, sn)
		if err != nil {
			in.rejects.Reject(msg.topic, err)
			return 0, false, false
		}
		if oi, ok := any(tx).(originIngester); ok {
			write = func() (bool, error) { return oi.IngestSnapshotOrigin(ctx, sn, msg.recv, signedBy) }
		}
	}
	dup, err = write()
	if err != nil {
		// Not acked: the agent resends, and the store may be back by then.
		in.log.Error("store write failed", "topic", msg.topic, "err", err)
		return 0, false, false
	}
	if seq := envelopeOf(m).Seq; seq != 0 {
		in.acks[t.Gateway] = append(in.acks[t.Gateway], seq)
	}
	if !dup {
		in.keep(m, msg.recv)
	}
	if b, ok := m.(*wire.Birth); ok {
		in.pinBirth(b)
	}
	return leafIndex[t.Leaf], dup, true
}

// check enforces what decoding cannot: the sender is the topic's gateway
// and every id is usable.
func check(t wire.Topic, m wire.Message) error {
	env := envelopeOf(m)
	if env.Sender != t.Gateway {
		return invalid(t.Leaf, "sender %q on the topic of gateway %q", env.Sender, t.Gateway)
	}
	machine := func(id string) error {
		if !wire.ValidID(id) {
			return invalid(t.Leaf, "bad machine id %q", id)
		}
		return nil
	}
	switch v := m.(type) {
	case *wire.Birth:
		if n := len(v.SigningKey); n != 0 && n != ed25519.PublicKeySize {
			return invalid(t.Leaf, "signing key of %d bytes, want %d", n, ed25519.PublicKeySize)
		}
		for i := range v.Machines {
			if err := machine(v.Machines[i].ID); err != nil {
				return err
			}
		}
	case *wire.Metrics:
		for i := range v.Series {
			if err := machine(v.Series[i].Machine); err != nil {
				return err
			}
		}
	case *wire.Alert:
		if v.ID == "" {
			return invalid(t.Leaf, "alert without id")
		}
		return machine(v.Machine)
	case *wire.Snapshot:
		return machine(v.Machine)
	case *wire.Drift:
		return machine(v.Machine)
	}
	return nil
}

func envelopeOf(m wire.Message) *wire.Envelope {
	switch v := m.(type) {
	case *wire.Birth:
		return &v.Env
	case *wire.Death:
		return &v.Env
	case *wire.Metrics:
		return &v.Env
	case *wire.Alert:
		return &v.Env
	case *wire.Snapshot:
		return &v.Env
	case *wire.CommandAck:
		return &v.Env
	case *wire.Drift:
		return &v.Env
	}
	panic(fmt.Sprintf("ingest: unexpected message %T", m))
}

// flushAcks publishes one Ack per gateway for the seqs stored since the last flush.
func (in *Ingest) flushAcks(ctx context.Context) {
	for gw, seqs := range in.acks {
		if len(seqs) == 0 {
			continue
		}
		in.ackSeq++
		ack := wire.Ack{Env: wire.Envelope{Sender: in.opts.ClientID, Seq: in.ackSeq, Time: time.Now().UnixNano()}, Seqs: seqs}
		var err error
		in.ackBuf, err = wire.AppendMarshal(in.ackBuf[:0], &ack)
		if err == nil {
			// The client may hold the payload until it is sent: give it its own copy.
			err = in.client.Publish(ctx, wire.HubTopic(gw, wire.LeafAck), 1, false, append([]byte(nil), in.ackBuf...))
		}
		if err != nil {
			in.ackErrors.Add(1)
			in.log.Warn("ack not sent; the agent will resend", "gateway", gw, "seqs", len(seqs), "err", err)
		}
		in.acks[gw] = seqs[:0]
	}
}
