package daemon

import (
	"fmt"
	"strings"
	"time"

	"millwright/agent/stream/ingest"
	"millwright/wire"
)

// ingestInput reads telemetry from topics outside the wire contract
// (Options.Ingest): each message's readings become one wire.Telemetry per
// asset, the asset being the machine, on the same input channel as the
// rest. It runs on the MQTT delivery goroutine only.
type ingestInput struct {
	router   *ingest.Router
	errs     ingest.TopicErrors
	readings []ingest.Reading
	msg      wire.Telemetry
}

func newIngestInput(a *Agent) (*ingestInput, error) {
	if len(a.opts.Ingest) == 0 {
		return nil, nil
	}
	r, err := ingest.NewRouter(a.opts.Ingest)
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	return &ingestInput{router: r, errs: ingest.TopicErrors{Log: a.log.With("component", "ingest")}}, nil
}

// fromIngest decodes a message of a mapped topic and hands its readings to
// the pipeline, encoded as wire telemetry (one encoding per message and
// asset, as for local buses).
func (a *Agent) fromIngest(topic string, payload []byte) {
	in := a.ingest
	recv := time.Now().UnixNano()
	var err error
	in.readings, err = in.router.Decode(topic, payload, recv, in.readings[:0])
	if err != nil {
		in.errs.Record(time.Now(), topic, err)
		return
	}
	rs := in.readings
	for len(rs) > 0 {
		asset := rs[0].Asset
		in.msg = wire.Telemetry{Env: wire.Envelope{Sender: asset, Time: recv}, Machine: asset, Readings: in.msg.Readings[:0]}
		rest := rs[:0]
		for _, r := range rs {
			if r.Asset != asset {
				rest = append(rest, r)
				continue
			}
			in.msg.Readings = append(in.msg.Readings, wire.Reading{Sensor: r.Sensor, Time: r.Time, Value: r.Value})
		}
		rs = rest
		if !wire.ValidID(asset) {
			in.errs.Record(time.Now(), topic, fmt.Errorf("asset %q is not a valid machine id", asset))
			continue
		}
		b, err := wire.Marshal(&in.msg)
		if err != nil {
			in.errs.Record(time.Now(), topic, fmt.Errorf("encode: %w", err))
			continue
		}
		select {
		case a.in <- inMsg{topic: wire.TelemetryTopic(a.opts.Gateway, strings.Clone(asset)), payload: b, recv: recv}:
		case <-a.inStop:
			return
		}
	}
}
