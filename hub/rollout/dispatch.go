package rollout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"millwright/hub/store"
	"millwright/internal/sign"
	"millwright/wire"
)

// Publisher sends a payload to an MQTT topic. Publish returns once the
// message is handed over (QoS 1: the broker holds it); an error means it
// was not, and the dispatcher tries again later.
type Publisher interface {
	Publish(ctx context.Context, topic string, qos byte, payload []byte) error
}

// DispatcherOptions configure NewDispatcher. Store and Publisher are required.
type DispatcherOptions struct {
	Store     *store.Store
	Publisher Publisher
	Logger    *slog.Logger
	// Every is how often due commands are looked for (and so how soon a
	// returning gateway's birth releases its queue); default 1s.
	Every time.Duration
	// ResendAfter is how long a sent command waits for its answer before
	// it is sent again; default 1m. Agents answer a repeated id again
	// without running it twice.
	ResendAfter time.Duration
	// MaxAttempts fails a command still unanswered after this many sends
	// (an agent that cannot run it, or one that lost it for good); default 20.
	MaxAttempts int
	Now         func() time.Time
	Sender      string // envelope sender; default "millwright-hub"
	// Signer, when set, signs every command as it is sent (its envelope
	// included: Env.Seq is the sequence agents keep against replay).
	Signer *sign.Signer
	// Sequence, when set, numbers the commands (Env.Seq) so that they keep
	// growing across restarts even if the clock goes back; otherwise they
	// count up from the clock at start.
	Sequence *sign.Sequence
}

// Dispatcher delivers the commands queued in the store to their gateways:
// at once when the gateway is online, otherwise after its next birth, and
// again when unanswered for ResendAfter or when the gateway is reborn
// before answering.
type Dispatcher struct {
	o    DispatcherOptions
	log  *slog.Logger
	kick chan struct{}
	seq  uint64
}

// NewDispatcher checks opts and fills the defaults.
func NewDispatcher(o DispatcherOptions) (*Dispatcher, error) {
	if o.Store == nil || o.Publisher == nil {
		return nil, errors.New("rollout dispatcher: store and publisher are required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Every <= 0 {
		o.Every = time.Second
	}
	if o.ResendAfter <= 0 {
		o.ResendAfter = time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 20
	}
	if o.Sender == "" {
		o.Sender = "millwright-hub"
	}
	return &Dispatcher{o: o, log: o.Logger, kick: make(chan struct{}, 1), seq: uint64(o.Now().UnixNano())}, nil
}

// Kick asks for a pass now (e.g. after a command was queued).
func (d *Dispatcher) Kick() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// Run dispatches until ctx is done.
func (d *Dispatcher) Run(ctx context.Context) error {
	t := time.NewTicker(d.o.Every)
	defer t.Stop()
	for {
		if _, err := d.Flush(ctx); err != nil && ctx.Err() == nil {
			d.log.Warn("command dispatch", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-d.kick:
		}
	}
}

// Flush sends every due command once and returns how many were sent.
func (d *Dispatcher) Flush(ctx context.Context) (int, error) {
	now := d.o.Now()
	due, err := d.o.Store.DueCommands(ctx, now, d.o.ResendAfter)
	if err != nil {
		return 0, err
	}
	sent := 0
	for i := range due {
		c := &due[i]
		if c.Attempts >= d.o.MaxAttempts {
			reason := fmt.Sprintf("no answer after %d attempts", c.Attempts)
			if err := d.o.Store.GiveUp(ctx, c.ID, reason, now); err != nil {
				return sent, err
			}
			d.log.Warn("command given up", "id", c.ID, "gateway", c.Gateway, "kind", c.Kind, "reason", reason)
			continue
		}
		// The envelope is fresh on every attempt; the id stays, so the
		// agent recognises a repeat.
		if err := d.nextSeq(); err != nil {
			return sent, err
		}
		c.Body.Env = wire.Envelope{Version: wire.Version, Sender: d.o.Sender, Seq: d.seq, Time: now.UnixNano()}
		if d.o.Signer != nil {
			if err := d.o.Signer.SignCommand(&c.Body); err != nil {
				return sent, fmt.Errorf("sign command %s: %w", c.ID, err)
			}
		}
		payload, err := wire.Marshal(&c.Body)
		if err != nil {
			return sent, fmt.Errorf("encode command %s: %w", c.ID, err)
		}
		if err := d.o.Publisher.Publish(ctx, wire.HubTopic(c.Gateway, wire.LeafCmd), 1, payload); err != nil {
			return sent, fmt.Errorf("publish command %s: %w", c.ID, err)
		}
		if err := d.o.Store.MarkSent(ctx, c.ID, now); err != nil {
			return sent, err
		}
		d.log.Info("command sent", "id", c.ID, "gateway", c.Gateway, "kind", c.Kind, "machine", c.Machine, "attempt", c.Attempts+1)
		sent++
	}
	return sent, nil
}

func (d *Dispatcher) nextSeq() error {
	if d.o.Sequence == nil {
		d.seq++
		return nil
	}
	v, err := d.o.Sequence.Next()
	if err != nil {
		return err
	}
	d.seq = v
	return nil
}

// MQTTPublisher is a Publisher on its own paho client (the ingest's client
// is private to it). It reconnects by itself.
type MQTTPublisher struct {
	c   paho.Client
	url string
}

// NewMQTTPublisher builds a publisher for brokerURL; Connect starts it.
func NewMQTTPublisher(brokerURL, clientID string, log *slog.Logger) *MQTTPublisher {
	o := paho.NewClientOptions().AddBroker(brokerURL).SetClientID(clientID).SetCleanSession(true).
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(10 * time.Second).SetKeepAlive(30 * time.Second).
		SetConnectionLostHandler(func(_ paho.Client, err error) { log.Warn("command publisher lost broker", "err", err) })
	return &MQTTPublisher{c: paho.NewClient(o), url: brokerURL}
}

// Connect connects (and keeps reconnecting until Disconnect); it returns
// once connected or when ctx ends.
func (p *MQTTPublisher) Connect(ctx context.Context) error {
	tok := p.c.Connect()
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return fmt.Errorf("command publisher connect %s: %w", p.url, err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Publish sends payload and waits for the broker's PUBACK (QoS 1) or ctx.
func (p *MQTTPublisher) Publish(ctx context.Context, topic string, qos byte, payload []byte) error {
	if !p.c.IsConnectionOpen() {
		return errors.New("command publisher not connected")
	}
	tok := p.c.Publish(topic, qos, false, payload)
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return fmt.Errorf("publish %s: %w", topic, err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Disconnect closes the connection.
func (p *MQTTPublisher) Disconnect() { p.c.Disconnect(250) }

// PublisherConn is a Publisher with a connection of its own to start and
// stop: Connect returns once connected (or ctx's error), Disconnect ends it.
type PublisherConn interface {
	Publisher
	Connect(ctx context.Context) error
	Disconnect()
}

// SharedPublisher publishes over a connection someone else owns: the hub's
// ingest connection, when the broker binds a client id to the client's
// certificate (one identity, one connection; hub/config/external.go).
// Connect and Disconnect leave that connection alone.
//
// Send hands the message over without waiting for the broker's
// acknowledgement, so Publish returns before the broker holds the message;
// a command lost on the way is sent again after ResendAfter, like any
// unanswered one.
type SharedPublisher struct {
	Send func(topic string, qos byte, retained bool, payload []byte) error
}

// Publish hands payload to Send.
func (p SharedPublisher) Publish(ctx context.Context, topic string, qos byte, payload []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := p.Send(topic, qos, false, payload); err != nil {
		return fmt.Errorf("publish %s: %w", topic, err)
	}
	return nil
}

// Connect does nothing: the connection is its owner's.
func (SharedPublisher) Connect(context.Context) error { return nil }

// Disconnect does nothing: the connection is its owner's.
func (SharedPublisher) Disconnect() {}
