package broker_test

import (
	"context"
	"crypto/tls"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"millwright/hub/broker"
)

// BenchmarkPublish measures a gateway's QoS 1 telemetry through the broker
// to the hub, in flights of 64, over the plain listener and over mTLS with
// the topic ACL checked on publish and on delivery.
func BenchmarkPublish(b *testing.B) {
	for _, mode := range []string{"plain", "mtls"} {
		b.Run(mode, func(b *testing.B) {
			var (
				url            = ""
				pubTLS, subTLS *tls.Config
			)
			if mode == "plain" {
				br, err := broker.New(broker.Options{Addr: "127.0.0.1:0"})
				if err != nil {
					b.Fatal(err)
				}
				runBroker(b, br)
				url = br.URL()
			} else {
				f := startTLSBroker(b, true)
				url = "ssl://" + f.b.TLSAddr()
				pubTLS = clientTLS(b, f.ca, f.ca, "gw1")
				subTLS = clientTLS(b, f.ca, f.ca, "hub")
			}
			got := make(chan struct{}, 1024)
			sub := benchClient(b, url, "hub", subTLS)
			if tok := sub.Subscribe("mw/v1/telemetry/+/+", 0, func(paho.Client, paho.Message) { got <- struct{}{} }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
				b.Fatal(tok.Error())
			}
			pub := benchClient(b, url, "mw-agent-gw1", pubTLS)
			payload := make([]byte, 200)
			b.ReportAllocs()
			b.ResetTimer()
			sent, recv := 0, 0
			for sent < b.N {
				n := min(64, b.N-sent)
				toks := make([]paho.Token, n)
				for i := range toks {
					toks[i] = pub.Publish("mw/v1/telemetry/gw1/pump-1", 1, false, payload)
				}
				for _, tok := range toks {
					if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
						b.Fatal("publish", tok.Error())
					}
				}
				sent += n
				for ; recv < sent; recv++ {
					select {
					case <-got:
					case <-time.After(10 * time.Second):
						b.Fatalf("received %d of %d", recv, sent)
					}
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

func runBroker(tb testing.TB, br *broker.Broker) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- br.Run(ctx) }()
	tb.Cleanup(func() { cancel(); <-done })
}

func benchClient(tb testing.TB, url, id string, cfg *tls.Config) paho.Client {
	o := paho.NewClientOptions().AddBroker(url).SetClientID(id).SetAutoReconnect(false).
		SetConnectRetry(true).SetConnectRetryInterval(10 * time.Millisecond).SetMaxResumePubInFlight(64)
	if cfg != nil {
		o.SetTLSConfig(cfg)
	}
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		tb.Fatalf("connect %s: %v", id, tok.Error())
	}
	tb.Cleanup(func() { c.Disconnect(0) })
	return c
}
