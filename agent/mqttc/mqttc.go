// Package mqttc is the agent's MQTT session: a paho client with a persistent
// session (CleanSession false), automatic reconnect, connect retry and a last
// will, that subscribes again and tells its owner on every (re)connect.
//
// paho sits behind a small private interface and a factory so that tests can
// replace it; the agent's tests mostly use a real in-process broker instead.
package mqttc

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

// ErrNotConnected is returned by Publish while there is no connection.
var ErrNotConnected = errors.New("mqtt: not connected")

// Message is a will to publish.
type Message struct {
	Topic    string
	Payload  []byte
	QoS      byte
	Retained bool
}

// Subscription is a topic filter and its QoS.
type Subscription struct {
	Topic string
	QoS   byte
}

// pahoClient is the part of paho.Client this package uses.
type pahoClient interface {
	Connect() paho.Token
	Disconnect(quiesce uint)
	Publish(topic string, qos byte, retained bool, payload any) paho.Token
	SubscribeMultiple(filters map[string]byte, cb paho.MessageHandler) paho.Token
	Unsubscribe(topics ...string) paho.Token
	IsConnectionOpen() bool
}

// Options tune New. BrokerURL and ClientID are required.
type Options struct {
	// BrokerURL is tcp://host:1883, or mqtts://host:8883 for TLS; a TLS
	// URL may carry the client certificate as ?ca=…&cert=…&key=… (TLSURL).
	BrokerURL string
	ClientID  string
	// TLS, when set, is the client's TLS configuration (a client
	// certificate and the broker's CA) for an mqtts:// BrokerURL.
	TLS *tls.Config
	// Will is published by the broker if the connection drops uncleanly.
	Will *Message
	// Subscriptions are made on every (re)connect.
	Subscriptions []Subscription
	// OnMessage gets every message of the subscriptions, in order, on the
	// client's delivery goroutine: the next message waits until it returns.
	OnMessage func(topic string, payload []byte)
	// OnConnect runs after every (re)connect once the subscriptions are
	// made, on a goroutine of its own; ctx ends at Close.
	OnConnect func(ctx context.Context)
	Logger    *slog.Logger

	ConnectTimeout       time.Duration // default 10s
	MaxReconnectInterval time.Duration // default 30s
	KeepAlive            time.Duration // default 30s

	// newClient is the paho factory, for tests.
	newClient func(*paho.ClientOptions) pahoClient
}

// Client is a session with the broker. Its methods are safe for concurrent use.
type Client struct {
	opts   Options
	log    *slog.Logger
	c      pahoClient
	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	failLogged atomic.Bool

	mu      sync.Mutex
	started bool
	closed  bool
}

// New prepares a client; Start connects it.
func New(opts Options) (*Client, error) {
	if opts.BrokerURL == "" || opts.ClientID == "" {
		return nil, errors.New("new mqtt client: broker URL and client id are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.TLS == nil {
		url, cfg, err := tlsFromURL(opts.BrokerURL)
		if err != nil {
			return nil, fmt.Errorf("new mqtt client: %w", err)
		}
		opts.BrokerURL, opts.TLS = url, cfg
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 10 * time.Second
	}
	if opts.MaxReconnectInterval <= 0 {
		opts.MaxReconnectInterval = 30 * time.Second
	}
	if opts.KeepAlive <= 0 {
		opts.KeepAlive = 30 * time.Second
	}
	if opts.newClient == nil {
		opts.newClient = func(o *paho.ClientOptions) pahoClient { return paho.NewClient(o) }
	}
	cl := &Client{opts: opts, log: opts.Logger}
	cl.ctx, cl.cancel = context.WithCancel(context.Background())

	po := paho.NewClientOptions().
		AddBroker(opts.BrokerURL).
		SetClientID(opts.ClientID).
		SetCleanSession(false).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(opts.MaxReconnectInterval).
		SetConnectTimeout(opts.ConnectTimeout).
		SetKeepAlive(opts.KeepAlive).
		SetWriteTimeout(opts.ConnectTimeout).
		SetOrderMatters(true).
		SetResumeSubs(false).
		SetStore(inboundOnlyStore{paho.NewMemoryStore()}).
		SetCustomOpenConnectionFn(openConnection).
		SetOnConnectHandler(func(paho.Client) { cl.onConnect() }).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			cl.log.Warn("mqtt connection lost", "broker", opts.BrokerURL, "err", err)
		}).
		SetReconnectingHandler(func(paho.Client, *paho.ClientOptions) {
			cl.log.Debug("mqtt reconnecting", "broker", opts.BrokerURL)
		}).
		SetConnectionNotificationHandler(func(_ paho.Client, n paho.ConnectionNotification) {
			// Say once per outage that the broker cannot be reached, not
			// on every retry.
			if f, ok := n.(paho.ConnectionNotificationBrokerFailed); ok && !cl.failLogged.Swap(true) {
				cl.log.Warn("mqtt broker unreachable; retrying", "broker", opts.BrokerURL, "err", f.Reason)
			}
		})
	if opts.OnMessage != nil {
		// With a persistent session, messages may arrive before the
		// subscriptions are made again: the default handler takes them.
		po.SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { opts.OnMessage(m.Topic(), m.Payload()) })
	}
	if opts.TLS != nil {
		po.SetTLSConfig(opts.TLS)
	}
	if w := opts.Will; w != nil {
		po.SetBinaryWill(w.Topic, w.Payload, w.QoS, w.Retained)
	}
	cl.c = opts.newClient(po)
	return cl, nil
}

// Start begins connecting; it returns at once. The client retries until it
// connects, then reconnects whenever the connection drops, until Close.
func (c *Client) Start() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started {
		return
	}
	c.started = true
	c.c.Connect() // completes on the first connection; onConnect does the rest
}

func (c *Client) onConnect() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.wg.Add(1)
	c.mu.Unlock()
	defer c.wg.Done()
	c.failLogged.Store(false)
	c.log.Info("mqtt connected", "broker", c.opts.BrokerURL, "client_id", c.opts.ClientID)
	if len(c.opts.Subscriptions) > 0 {
		filters := make(map[string]byte, len(c.opts.Subscriptions))
		for _, s := range c.opts.Subscriptions {
			filters[s.Topic] = s.QoS
		}
		if err := c.wait(c.ctx, c.c.SubscribeMultiple(filters, nil)); err != nil {
			// The connection is likely gone; the next connect tries again.
			c.log.Error("mqtt subscribe failed", "err", err)
			return
		}
	}
	if c.opts.OnConnect != nil {
		c.opts.OnConnect(c.ctx)
	}
}

// wait waits for a token, ctx, or the connect timeout.
func (c *Client) wait(ctx context.Context, t paho.Token) error {
	timer := time.NewTimer(c.opts.ConnectTimeout)
	defer timer.Stop()
	select {
	case <-t.Done():
		return t.Error()
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-timer.C:
		return errors.New("mqtt: timed out waiting for the broker")
	}
}

// Connected reports whether the connection is up.
func (c *Client) Connected() bool { return c.c.IsConnectionOpen() }

// Publish sends payload and, for QoS 1, returns when the broker has it.
func (c *Client) Publish(ctx context.Context, topic string, qos byte, retained bool, payload []byte) error {
	if !c.c.IsConnectionOpen() {
		return ErrNotConnected
	}
	if err := c.wait(ctx, c.c.Publish(topic, qos, retained, payload)); err != nil {
		return fmt.Errorf("publish %s: %w", topic, err)
	}
	return nil
}

// Unsubscribe drops subscriptions, for example to stop input at shutdown.
func (c *Client) Unsubscribe(ctx context.Context, topics ...string) error {
	if !c.c.IsConnectionOpen() {
		return ErrNotConnected
	}
	if err := c.wait(ctx, c.c.Unsubscribe(topics...)); err != nil {
		return fmt.Errorf("unsubscribe: %w", err)
	}
	return nil
}

// Close disconnects cleanly (the will is not published), waiting up to
// quiesce for work in flight, and waits for OnConnect calls to return.
func (c *Client) Close(quiesce time.Duration) {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	c.c.Disconnect(uint(quiesce.Milliseconds()))
	c.wg.Wait()
}

// inboundOnlyStore is paho's memory store without outbound packets. With a
// persistent session paho resends the outbound packets of its store on
// every (re)connect, and marks them DUP while its writer may be sending one
// of them: a data race in paho (eclipse-paho/paho.mqtt.golang#703, seen
// under -race in this repository's end-to-end test). The agent does not
// need that resend: its outbox keeps what it owes the hub until the hub
// acknowledges it and resends on every connect, and the subscriptions are
// made again in onConnect. Inbound packets (QoS 2 state) are kept.
type inboundOnlyStore struct{ paho.Store }

func (s inboundOnlyStore) Put(key string, m packets.ControlPacket) {
	if strings.HasPrefix(key, "o.") {
		return
	}
	s.Store.Put(key, m)
}
