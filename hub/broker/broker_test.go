package broker_test

import (
	"context"
	"net"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"millwright/hub/broker"
)

func TestPublishSubscribeAndShutdown(t *testing.T) {
	b, err := broker.New(broker.Options{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if _, port, _ := net.SplitHostPort(b.Addr()); port == "0" || port == "" {
		t.Fatalf("Addr = %q, want the bound port", b.Addr())
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()

	c := paho.NewClient(paho.NewClientOptions().AddBroker(b.URL()).SetClientID("t").SetConnectRetry(true).SetConnectRetryInterval(10 * time.Millisecond))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	got := make(chan string, 1)
	if tok := c.Subscribe("a/+", 1, func(_ paho.Client, m paho.Message) { got <- string(m.Payload()) }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	if tok := c.Publish("a/b", 1, false, "hello"); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	select {
	case s := <-got:
		if s != "hello" {
			t.Fatalf("got %q", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no message")
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	// The port is released: it can be bound again.
	ln, err := net.Listen("tcp", b.Addr())
	if err != nil {
		t.Fatalf("port still held after Run returned: %v", err)
	}
	ln.Close()
	c.Disconnect(0)
}

func TestCloseWithoutRun(t *testing.T) {
	b, err := broker.New(broker.Options{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	ln, err := net.Listen("tcp", b.Addr())
	if err != nil {
		t.Fatalf("port still held after Close: %v", err)
	}
	ln.Close()
}

func TestListenError(t *testing.T) {
	if _, err := broker.New(broker.Options{Addr: "256.0.0.1:99999"}); err == nil {
		t.Fatal("New on a bad address: want error")
	}
}

func TestRefusesHugePackets(t *testing.T) {
	b, err := broker.New(broker.Options{Addr: "127.0.0.1:0", MaxPacketSize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	lost := make(chan struct{}, 1)
	c := paho.NewClient(paho.NewClientOptions().AddBroker(b.URL()).SetClientID("big").SetAutoReconnect(false).
		SetConnectRetry(true).SetConnectRetryInterval(10 * time.Millisecond).
		SetConnectionLostHandler(func(paho.Client, error) { lost <- struct{}{} }))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer c.Disconnect(0)
	c.Publish("a/b", 1, false, make([]byte, 2048))
	select {
	case <-lost:
	case <-time.After(10 * time.Second):
		t.Fatal("a packet over MaxPacketSize did not get its client disconnected")
	}
}
