package rollout_test

import (
	"context"
	"errors"
	"testing"

	"millwright/hub/rollout"
)

func TestSharedPublisher(t *testing.T) {
	type sent struct {
		topic    string
		qos      byte
		retained bool
		payload  string
	}
	var got []sent
	fail := errors.New("not connected")
	var sendErr error
	p := rollout.SharedPublisher{Send: func(topic string, qos byte, retained bool, payload []byte) error {
		got = append(got, sent{topic, qos, retained, string(payload)})
		return sendErr
	}}
	var _ rollout.PublisherConn = p
	if err := p.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := p.Publish(t.Context(), "mw/v1/hub/gw1/cmd", 1, []byte("c1")); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != (sent{"mw/v1/hub/gw1/cmd", 1, false, "c1"}) {
		t.Fatalf("sent %+v", got)
	}
	sendErr = fail
	if err := p.Publish(t.Context(), "mw/v1/hub/gw1/cmd", 1, []byte("c2")); !errors.Is(err, fail) {
		t.Fatalf("err = %v, want %v wrapped", err, fail)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := p.Publish(ctx, "mw/v1/hub/gw1/cmd", 1, []byte("c3")); !errors.Is(err, context.Canceled) || len(got) != 2 {
		t.Fatalf("after cancel: err = %v, %d sent", err, len(got))
	}
	p.Disconnect()
}
