package pipeline

import (
	"path/filepath"
	"testing"
	"time"

	"millwright/firmware-sim/plant"
	"millwright/models"
	"millwright/wire"
)

// The simulator's realistic network (15% of messages held back up to
// 1.5s, 2% duplicated, jitter) through the default event-time settings:
// every machine's vectors come in event-time order, nothing is late, and
// the duplicates are dropped.
func TestRealisticNetworkComesOutInEventTimeOrder(t *testing.T) {
	path := filepath.Join("..", "..", "configs", "firmware-sim-realistic.yaml")
	sc, err := plant.LoadScenario(path)
	if err != nil {
		t.Fatalf("load %s (the simulator's realistic scenario, from the module root): %v", path, err)
	}
	sc.Network.Outages = nil // bursts after an outage are another test
	pipes := map[string]*Pipeline{}
	messages := 0
	err = plant.Deliver(sc, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 2*time.Minute, plant.FormatCBOR, func(at time.Time, topic string, payload []byte) error {
		tp, err := wire.ParseTopic(topic)
		if err != nil {
			return err
		}
		p := pipes[tp.Gateway]
		if p == nil {
			p, err = New(Options{Gateway: tp.Gateway, Sink: new(sink), Model: "echo", Learn: 1,
				NewDetector: func(string, int, uint64) (models.Detector, error) { return new(echo), nil },
				Stream:      StreamOptions{Lateness: 2 * time.Second}})
			if err != nil {
				return err
			}
			pipes[tp.Gateway] = p
		}
		var last int64
		if m := p.machines[tp.Machine]; m != nil {
			last = m.lastEvt
		}
		p.Handle(topic, payload, at.UnixNano())
		messages++
		if m := p.machines[tp.Machine]; m != nil && m.lastEvt < last {
			t.Fatalf("%s: vector at %v after one at %v", topic, time.Unix(0, m.lastEvt).UTC(), time.Unix(0, last).UTC())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var st Stats
	for _, p := range pipes {
		s := p.Stats()
		st.Messages += s.Messages
		st.Vectors += s.Vectors
		st.Late += s.Late
		st.Duplicates += s.Duplicates
		st.LateDropped += s.LateDropped
	}
	t.Logf("%d messages delivered: %+v", messages, st)
	if st.Messages == 0 || st.Late != 0 || st.LateDropped != 0 || st.Duplicates == 0 {
		t.Errorf("stats %+v: want messages, no late readings, some duplicates", st)
	}
}
