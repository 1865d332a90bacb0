package plant

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// publisher sends messages to a broker.
type publisher interface {
	// Publish sends payload to topic at QoS 0 and returns once the payload
	// is no longer referenced, so the caller may reuse it. A message lost
	// while disconnected is not an error: QoS 0 promises nothing.
	Publish(ctx context.Context, topic string, payload []byte) error
	// Close disconnects, waiting briefly for queued messages.
	Close()
}

// dialer connects a publisher; it blocks until connected or ctx ends.
type dialer func(ctx context.Context, broker, clientID string, log *slog.Logger) (publisher, error)

type pahoPublisher struct{ c mqtt.Client }

func dialPaho(ctx context.Context, broker, clientID string, log *slog.Logger) (publisher, error) {
	o := mqtt.NewClientOptions().
		AddBroker(broker).
		SetClientID(clientID).
		SetCleanSession(true).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(10 * time.Second).
		SetKeepAlive(30 * time.Second).
		SetWriteTimeout(10 * time.Second).
		SetOrderMatters(false).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			log.Warn("broker connection lost; reconnecting", "broker", broker, "err", err)
		}).
		SetOnConnectHandler(func(mqtt.Client) { log.Info("connected to broker", "broker", broker) })
	c := mqtt.NewClient(o)
	tok := c.Connect()
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return nil, fmt.Errorf("mqtt connect: %w", err)
		}
	case <-ctx.Done():
		c.Disconnect(0)
		return nil, ctx.Err()
	}
	return &pahoPublisher{c: c}, nil
}

func (p *pahoPublisher) Publish(ctx context.Context, topic string, payload []byte) error {
	tok := p.c.Publish(topic, 0, false, payload)
	select {
	case <-tok.Done():
		err := tok.Error()
		if errors.Is(err, mqtt.ErrNotConnected) {
			return fmt.Errorf("publish %s: %w", topic, err)
		}
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *pahoPublisher) Close() { p.c.Disconnect(250) }
