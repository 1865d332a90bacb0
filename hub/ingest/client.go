package ingest

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// mqttClient is the slice of an MQTT client ingest needs.
type mqttClient interface {
	// Connect connects and keeps reconnecting until Disconnect. After every
	// (re)connect it subscribes to the configured filter; messages go to the
	// configured handler. It returns once first connected, or ctx's error.
	Connect(ctx context.Context) error
	// Publish hands payload (which the client may keep until it is sent)
	// to the client without waiting for the broker's acknowledgement: an
	// error means it could not even be queued. Waiting here could deadlock
	// with a message callback blocked on a full ingest queue, and a lost
	// ack costs only a resend that is acked as a duplicate.
	Publish(ctx context.Context, topic string, qos byte, retained bool, payload []byte) error
	// IsConnected reports whether the connection is up and subscribed now.
	IsConnected() bool
	// Disconnect closes the connection and stops reconnecting.
	Disconnect()
}

// clientConfig is what a clientFactory needs.
type clientConfig struct {
	BrokerURL string
	ClientID  string
	Filter    string
	QoS       byte
	Handler   func(topic string, payload []byte)
	Log       *slog.Logger
	// TLS, when set, is the client's TLS configuration (its certificate
	// and the CAs it trusts) for an mqtts:// broker.
	TLS *tls.Config
}

// clientFactory builds an mqttClient; tests may swap it.
type clientFactory func(clientConfig) mqttClient

// pahoClient adapts paho.
type pahoClient struct {
	c          paho.Client
	cfg        clientConfig
	subscribed atomic.Bool
}

func newPahoClient(cfg clientConfig) mqttClient {
	p := &pahoClient{cfg: cfg}
	o := paho.NewClientOptions().
		AddBroker(cfg.BrokerURL).
		SetClientID(cfg.ClientID).
		SetCleanSession(true).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(10 * time.Second).
		SetKeepAlive(30 * time.Second).
		SetOrderMatters(true).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			p.subscribed.Store(false)
			cfg.Log.Warn("mqtt connection lost", "broker", cfg.BrokerURL, "err", err)
		}).
		SetOnConnectHandler(func(c paho.Client) {
			// A clean session forgets subscriptions: renew them on every connect.
			tok := c.Subscribe(cfg.Filter, cfg.QoS, func(_ paho.Client, m paho.Message) {
				cfg.Handler(m.Topic(), m.Payload())
			})
			go func() {
				if tok.WaitTimeout(30*time.Second) && tok.Error() == nil {
					// A broker that refuses the filter (its ACL) still
					// answers: with a failure code, not an error.
					if st, ok := tok.(*paho.SubscribeToken); ok && st.Result()[cfg.Filter] >= 0x80 {
						cfg.Log.Error("mqtt subscription refused by the broker", "filter", cfg.Filter, "code", st.Result()[cfg.Filter])
						return
					}
					p.subscribed.Store(true)
					cfg.Log.Info("mqtt subscribed", "broker", cfg.BrokerURL, "filter", cfg.Filter)
					return
				}
				cfg.Log.Error("mqtt subscribe failed", "filter", cfg.Filter, "err", tok.Error())
			}()
		})
	if cfg.TLS != nil {
		o.SetTLSConfig(cfg.TLS)
	}
	p.c = paho.NewClient(o)
	return p
}

func (p *pahoClient) Connect(ctx context.Context) error {
	tok := p.c.Connect()
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return fmt.Errorf("mqtt connect %s: %w", p.cfg.BrokerURL, err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *pahoClient) Publish(ctx context.Context, topic string, qos byte, retained bool, payload []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	tok := p.c.Publish(topic, qos, retained, payload)
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return fmt.Errorf("mqtt publish %s: %w", topic, err)
		}
	default: // in flight; see the interface contract
	}
	return nil
}

func (p *pahoClient) IsConnected() bool { return p.c.IsConnectionOpen() && p.subscribed.Load() }

func (p *pahoClient) Disconnect() { p.c.Disconnect(250) }
