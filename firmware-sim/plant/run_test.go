package plant

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"millwright/internal/conf"
	"millwright/internal/mqtttest"
	"millwright/wire"
)

type sent struct {
	topic   string
	payload []byte
}

// recorder is a publisher that keeps what it is given.
type recorder struct {
	mu     sync.Mutex
	msgs   []sent
	closed bool
}

func (r *recorder) Publish(_ context.Context, topic string, payload []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, sent{topic, append([]byte(nil), payload...)})
	return nil
}

func (r *recorder) Close() { r.mu.Lock(); r.closed = true; r.mu.Unlock() }

func (r *recorder) dial(context.Context, string, string, *slog.Logger) (publisher, error) {
	return r, nil
}

var start0 = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

func TestRunPublishesEveryMachineEveryTick(t *testing.T) {
	for _, f := range []Format{FormatCBOR, FormatJSON} {
		t.Run(string(f), func(t *testing.T) {
			rec := &recorder{}
			labels := filepath.Join(t.TempDir(), "labels.json")
			sc := Demo()
			sc.Speed = 1000
			st, err := Run(t.Context(), Options{Scenario: sc, Format: f, Start: start0, Duration: 10 * time.Second, LabelsOut: labels, dial: rec.dial})
			if err != nil {
				t.Fatal(err)
			}
			if !rec.closed {
				t.Error("publisher not closed")
			}
			if st.Ticks != 20 || st.Sent != 120 || len(rec.msgs) != 120 {
				t.Fatalf("stats %+v, %d messages; want 20 ticks, 120 messages", st, len(rec.msgs))
			}
			seqs := map[string]uint64{}
			for _, m := range rec.msgs {
				tp, err := wire.ParseTopic(m.topic)
				if err != nil {
					t.Fatal(err)
				}
				var tm wire.Telemetry
				if err := wire.DecodeTelemetry(m.payload, tp.Machine, 0, &tm); err != nil {
					t.Fatalf("%s: %v", m.topic, err)
				}
				if tm.Machine != tp.Machine || tm.Env.Sender != tp.Machine {
					t.Fatalf("topic %s carries machine %q sender %q", m.topic, tm.Machine, tm.Env.Sender)
				}
				if tm.Env.Seq != seqs[tm.Machine]+1 {
					t.Fatalf("%s: seq %d after %d", tm.Machine, tm.Env.Seq, seqs[tm.Machine])
				}
				seqs[tm.Machine] = tm.Env.Seq
				if tm.Env.Time < start0.UnixNano() || tm.Env.Time >= start0.Add(10*time.Second).UnixNano() {
					t.Fatalf("event time %v outside the run", time.Unix(0, tm.Env.Time))
				}
			}
			if len(seqs) != 6 {
				t.Fatalf("%d machines published, want 6", len(seqs))
			}
			for _, p := range []string{labels, filepath.Join(filepath.Dir(labels), "labels.csv")} {
				if fi, err := os.Stat(p); err != nil || fi.Size() == 0 {
					t.Fatalf("labels file %s: %v", p, err)
				}
			}
		})
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	rec := &recorder{}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := Run(ctx, Options{Start: start0, dial: rec.dial})
		done <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		rec.mu.Lock()
		n := len(rec.msgs)
		rec.mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("nothing published within 5s")
		}
		time.Sleep(5 * time.Millisecond) // polling a condition, not waiting for one
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after cancel: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop within 5s of cancel")
	}
}

func TestRunNetworkMisbehaves(t *testing.T) {
	rec := &recorder{}
	sc := Demo()
	sc.Speed = 1e5
	sc.Network = Network{Jitter: conf.Duration(50 * time.Millisecond), Reorder: 0.15, Duplicate: 0.05,
		Outages: []Outage{
			{Machine: "pump-2", At: conf.Duration(time.Minute), Duration: conf.Duration(30 * time.Second)},
			{Gateway: "gw1", Machine: "comp-1", At: conf.Duration(2 * time.Minute), Duration: conf.Duration(10 * time.Second), Lose: true},
		}}
	st, err := Run(t.Context(), Options{Scenario: sc, Start: start0, Duration: 10 * time.Minute, dial: rec.dial})
	if err != nil {
		t.Fatal(err)
	}
	const ticks = 1200
	const lost = 20 // comp-1's 10 s outage at 2 Hz
	if st.Ticks != ticks || st.Lost != lost || st.Sent != 6*ticks-lost+st.Duplicates {
		t.Fatalf("stats %+v: want %d ticks, %d lost, every other message sent once plus duplicates", st, ticks, lost)
	}
	if dup := float64(st.Duplicates) / (6 * ticks); dup < 0.03 || dup > 0.07 {
		t.Errorf("duplicate fraction %.3f, want about 0.05", dup)
	}
	// A message is out of order when a later one of its machine came first.
	maxSeq := map[string]uint64{}
	seen := map[[2]any]bool{}
	var late, unique int
	var othersLatest int64 // latest event time delivered from other machines
	from, to := start0.Add(time.Minute).UnixNano(), start0.Add(90*time.Second).UnixNano()
	var held int
	for _, m := range rec.msgs {
		var tm wire.Telemetry
		if err := wire.Unmarshal(m.payload, &tm); err != nil {
			t.Fatal(err)
		}
		k := [2]any{tm.Machine, tm.Env.Seq}
		if seen[k] {
			continue
		}
		seen[k] = true
		unique++
		if tm.Env.Seq < maxSeq[tm.Machine] {
			late++
		}
		maxSeq[tm.Machine] = max(maxSeq[tm.Machine], tm.Env.Seq)
		if tm.Machine != "pump-2" {
			othersLatest = max(othersLatest, tm.Env.Time)
		} else if tm.Env.Time >= from && tm.Env.Time < to {
			// Held by the device while offline: delivered only once the
			// rest of the plant had reached the outage's end.
			held++
			if othersLatest < to-int64(time.Second) {
				t.Fatalf("pump-2's reading of %v delivered during its outage (plant at %v)",
					time.Unix(0, tm.Env.Time).Sub(start0), time.Unix(0, othersLatest).Sub(start0))
			}
		}
	}
	if unique != 6*ticks-lost {
		t.Fatalf("%d distinct messages, want %d", unique, 6*ticks-lost)
	}
	if maxSeq["comp-1"] != ticks {
		t.Fatalf("comp-1's last seq %d, want %d: a lost message still uses its sequence number", maxSeq["comp-1"], ticks)
	}
	if f := float64(late) / float64(unique); f < 0.10 || f > 0.20 {
		t.Errorf("out-of-order fraction %.3f, want about 0.15", f)
	}
	if held != 60 {
		t.Errorf("%d of pump-2's readings fell in its outage, want 60", held)
	}
}

// TestRunDeliveryIsDeterministic: delivery order depends on the seed only,
// not on how the wall clock happened to pace the run, and Deliver gives
// exactly what Run publishes.
func TestRunDeliveryIsDeterministic(t *testing.T) {
	sc := Demo()
	sc.Network = Network{Jitter: conf.Duration(300 * time.Millisecond), Reorder: 0.15, Duplicate: 0.05, Skew: conf.Duration(time.Second),
		Outages: []Outage{{Gateway: "gw2", At: conf.Duration(20 * time.Second), Duration: conf.Duration(10 * time.Second)}}}
	var runs [2][]sent
	for i, speed := range []float64{2e4, 3e5} {
		rec := &recorder{}
		sc.Speed = speed
		if _, err := Run(t.Context(), Options{Scenario: sc, Start: start0, Duration: time.Minute, dial: rec.dial}); err != nil {
			t.Fatal(err)
		}
		runs[i] = rec.msgs
	}
	var delivered []sent
	last := time.Time{}
	err := Deliver(sc, start0, time.Minute, FormatCBOR, func(at time.Time, topic string, payload []byte) error {
		if at.Before(last) {
			t.Fatalf("delivery at %v after one at %v", at, last)
		}
		last = at
		delivered = append(delivered, sent{topic, append([]byte(nil), payload...)})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, other := range [][]sent{runs[1], delivered} {
		if len(runs[0]) != len(other) {
			t.Fatalf("%d vs %d messages", len(runs[0]), len(other))
		}
		for i := range runs[0] {
			if runs[0][i].topic != other[i].topic || string(runs[0][i].payload) != string(other[i].payload) {
				t.Fatalf("message %d differs between runs", i)
			}
		}
	}
}

func TestRunAgainstMosquitto(t *testing.T) {
	b := mqtttest.StartMosquitto(t, mqtttest.MosquittoOptions{})
	var mu sync.Mutex
	got := map[string]int{}
	sub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL).SetClientID("sub"))
	if tok := sub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber connect: %v", tok.Error())
	}
	t.Cleanup(func() { sub.Disconnect(100) })
	tok := sub.Subscribe(wire.Root+"/telemetry/#", 0, func(_ mqtt.Client, m mqtt.Message) {
		var tm wire.Telemetry
		if wire.DecodeTelemetry(m.Payload(), "", 0, &tm) == nil {
			mu.Lock()
			got[m.Topic()]++
			mu.Unlock()
		}
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	sc := Demo()
	sc.Speed = 50
	st, err := Run(t.Context(), Options{Broker: b.URL, Scenario: sc, Duration: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if st.Sent != 60 || st.Errors != 0 {
		t.Fatalf("stats %+v, want 60 sent", st)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n, topics := 0, len(got)
		for _, c := range got {
			n += c
		}
		mu.Unlock()
		if n == 60 && topics == 6 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("received %d messages on %d topics, want 60 on 6", n, topics)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition
	}
}

// TestRunSurvivesBrokerRestart: the simulator reconnects by itself and goes
// on publishing after the broker comes back.
func TestRunSurvivesBrokerRestart(t *testing.T) {
	b := mqtttest.StartMosquitto(t, mqtttest.MosquittoOptions{})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	sc := Demo()
	sc.Speed = 10
	go func() {
		_, err := Run(ctx, Options{Broker: b.URL, Scenario: sc})
		done <- err
	}()
	t.Cleanup(func() { cancel(); <-done })
	waitMessages := func(what string) {
		t.Helper()
		var mu sync.Mutex
		n := 0
		c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL).SetClientID("sub-" + what))
		if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("%s: subscriber connect: %v", what, tok.Error())
		}
		defer c.Disconnect(50)
		tok := c.Subscribe(wire.Root+"/telemetry/#", 0, func(mqtt.Client, mqtt.Message) { mu.Lock(); n++; mu.Unlock() })
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("%s: subscribe: %v", what, tok.Error())
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			mu.Lock()
			got := n
			mu.Unlock()
			if got >= 12 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d messages within 20s", what, got)
			}
			time.Sleep(20 * time.Millisecond) // polling a condition
		}
	}
	waitMessages("before")
	b.Restart(t)
	waitMessages("after")
}
