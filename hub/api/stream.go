package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"millwright/hub/store"
	"millwright/wire"
)

// StreamOptions configure NewStream; the zero value works.
type StreamOptions struct {
	// Buffer is how many events wait for one slow client before further
	// events to it are dropped (and it is told to resync); default 512,
	// enough for a fleet page to take a burst of whole gateways' metrics
	// (an event is a few dozen bytes here plus its shared JSON).
	Buffer int
	// MaxClients bounds open streams; more are answered 503. Default 256.
	MaxClients int
	// Heartbeat is how often an idle stream sends a comment (keeping
	// proxies from closing it) and re-checks the login; default 15s.
	Heartbeat time.Duration
	// Registerer receives the stream's metrics when set.
	Registerer prometheus.Registerer
}

// Stream fans the hub's ingest events (metrics, alerts, drift) out to the
// clients of GET /api/v1/stream. Publishing never blocks: each client has
// a bounded queue, and an event that does not fit is dropped for that
// client, counted, and the client is sent a "resync" event so it reloads
// what it shows. Close ends every stream (call it on server shutdown:
// http.Server.Shutdown does not end long-lived requests).
type Stream struct {
	opts    StreamOptions
	mu      sync.RWMutex
	subs    map[*subscriber]struct{}
	n       atomic.Int32
	closed  chan struct{}
	closing sync.Once

	sent, dropped atomic.Uint64
	clients       prometheus.GaugeFunc
}

type subscriber struct {
	gateway, machine string    // filter; empty matches all
	kinds            eventKind // filter; zero matches all
	ch               chan streamEvent
	lagged           atomic.Bool
}

// eventKind is a bit per data event, so a client may ask for some only
// (an alerts inbox needs no metrics of 5,000 machines).
type eventKind uint8

const (
	kindMetrics eventKind = 1 << iota
	kindAlert
	kindDrift
)

var kindNames = map[string]eventKind{"metrics": kindMetrics, "alert": kindAlert, "drift": kindDrift}

// parseKinds reads the events parameter: a comma-separated list of
// "metrics", "alert" and "drift"; empty means all of them.
func parseKinds(v string) (eventKind, error) {
	var k eventKind
	for n := range strings.SplitSeq(v, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		bit, ok := kindNames[n]
		if !ok {
			return 0, fmt.Errorf("unknown event %q in events= (want metrics, alert or drift)", n)
		}
		k |= bit
	}
	return k, nil
}

type streamEvent struct {
	name string
	data []byte
}

// NewStream returns an open Stream.
func NewStream(opts StreamOptions) *Stream {
	if opts.Buffer <= 0 {
		opts.Buffer = 512
	}
	if opts.MaxClients <= 0 {
		opts.MaxClients = 256
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = 15 * time.Second
	}
	s := &Stream{opts: opts, subs: map[*subscriber]struct{}{}, closed: make(chan struct{})}
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "millwright_hub_stream_clients", Help: "Open event streams (GET /api/v1/stream)."},
				func() float64 { return float64(s.n.Load()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "millwright_hub_stream_events_sent_total", Help: "Events queued to stream clients."},
				func() float64 { return float64(s.sent.Load()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "millwright_hub_stream_events_dropped_total",
				Help: "Events dropped because a stream client was too slow (it is told to resync)."},
				func() float64 { return float64(s.dropped.Load()) }))
	}
	return s
}

// StreamStats are the stream's running totals.
type StreamStats struct {
	Clients       int
	Sent, Dropped uint64
}

// Stats returns the running totals.
func (s *Stream) Stats() StreamStats {
	return StreamStats{Clients: int(s.n.Load()), Sent: s.sent.Load(), Dropped: s.dropped.Load()}
}

// Close ends every open stream and refuses new ones. It is idempotent.
func (s *Stream) Close() { s.closing.Do(func() { close(s.closed) }) }

var errTooMany = errors.New("too many open event streams")

func (s *Stream) subscribe(gw, machine string, kinds eventKind) (*subscriber, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.subs) >= s.opts.MaxClients {
		return nil, errTooMany
	}
	sub := &subscriber{gateway: gw, machine: machine, kinds: kinds, ch: make(chan streamEvent, s.opts.Buffer)}
	s.subs[sub] = struct{}{}
	s.n.Store(int32(len(s.subs)))
	return sub, nil
}

func (s *Stream) unsubscribe(sub *subscriber) {
	s.mu.Lock()
	delete(s.subs, sub)
	s.n.Store(int32(len(s.subs)))
	s.mu.Unlock()
}

func (sub *subscriber) wants(kind eventKind, gw, machine string) bool {
	return (sub.kinds == 0 || sub.kinds&kind != 0) && (sub.gateway == "" || sub.gateway == gw) && (sub.machine == "" || sub.machine == machine)
}

// publish offers an event about gw/machine to every matching client
// without waiting; encode runs at most once, only if a client wants it.
func (s *Stream) publish(kind eventKind, name, gw, machine string, encode func() []byte) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var data []byte
	for sub := range s.subs {
		if !sub.wants(kind, gw, machine) {
			continue
		}
		if data == nil {
			if data = encode(); data == nil {
				return
			}
		}
		select {
		case sub.ch <- streamEvent{name: name, data: data}:
			s.sent.Add(1)
		default:
			s.dropped.Add(1)
			sub.lagged.Store(true)
		}
	}
}

// StreamMetrics is the data of a "metrics" event: one machine's new
// points, shaped as in GET /api/v1/machines/{gw}/{id}/metrics.
type StreamMetrics struct {
	Gateway string              `json:"gateway"`
	Machine string              `json:"machine"`
	Points  []store.MetricPoint `json:"points"`
}

// PublishMetrics offers an ingested metrics message (one event per
// machine in it). It copies what it needs before returning, and costs
// nothing while no client listens.
func (s *Stream) PublishMetrics(gw string, m *wire.Metrics) {
	if s.n.Load() == 0 {
		return
	}
	at := time.Unix(0, m.Env.Time).UTC()
	done := map[string]bool{}
	for i := range m.Series {
		machine := m.Series[i].Machine
		if done[machine] {
			continue
		}
		done[machine] = true
		s.publish(kindMetrics, "metrics", gw, machine, func() []byte {
			ev := StreamMetrics{Gateway: gw, Machine: machine}
			for _, p := range m.Series {
				if p.Machine != machine {
					continue
				}
				ev.Points = append(ev.Points, store.MetricPoint{Time: at, Model: p.Model, Role: p.Role, Interval: m.IntervalNs,
					Count: int64(p.Count), ScoreMean: p.ScoreMean, ScoreMax: p.ScoreMax, ScoreLast: p.ScoreLast, Alerts: int64(p.Alerts),
					Samples: int64(p.Samples), LatencyNs: p.LatencyNs, Threshold: p.Threshold, Kind: p.Kind, Snapshot: p.Snapshot,
					Both: int64(p.Both), OnlyModel: int64(p.OnlyModel), OnlyChampion: int64(p.OnlyChampion)})
			}
			return marshalEvent(ev)
		})
	}
}

// PublishAlert offers a newly stored alert (an "alert" event, shaped as
// in GET /api/v1/alerts/{id}).
func (s *Stream) PublishAlert(a store.Alert) {
	if s.n.Load() == 0 {
		return
	}
	s.publish(kindAlert, "alert", a.Gateway, a.Machine, func() []byte { return marshalEvent(a) })
}

// PublishDrift offers a drift event (a "drift" event, shaped as in GET
// /api/v1/drift).
func (s *Stream) PublishDrift(gw string, d *wire.Drift) {
	if s.n.Load() == 0 {
		return
	}
	s.publish(kindDrift, "drift", gw, d.Machine, func() []byte {
		return marshalEvent(store.Drift{Gateway: gw, Machine: d.Machine, Model: d.Model, Role: d.Role, Detector: d.Detector,
			Signal: d.Signal, Before: d.Before, After: d.After, Samples: d.Samples, Time: time.Unix(0, d.Env.Time).UTC()})
	})
}

func marshalEvent(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		return nil // NaN scores: the client resyncs on its next reconnect
	}
	return b
}

// writeDeadline bounds one write to a stream client: a client that does
// not read for this long is disconnected instead of holding a goroutine.
const writeDeadline = 10 * time.Second

// stream serves GET /api/v1/stream?gateway=&machine=&events= as
// server-sent events: "hello" on connect, then "metrics", "alert" and
// "drift" events of the matching machines (only those named in events,
// e.g. events=alert, when given), and "resync" when events were dropped.
func (h *handler) stream(w http.ResponseWriter, r *http.Request) {
	s := h.opts.Stream
	if s == nil {
		writeError(w, http.StatusServiceUnavailable, "event stream not configured on this hub")
		return
	}
	q := r.URL.Query()
	kinds, err := parseKinds(q.Get("events"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	sub, err := s.subscribe(q.Get("gateway"), q.Get("machine"), kinds)
	if err != nil {
		w.Header().Set("Retry-After", "10")
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	defer s.unsubscribe(sub)
	select {
	case <-s.closed:
		writeError(w, http.StatusServiceUnavailable, "hub shutting down")
		return
	default:
	}
	rc := http.NewResponseController(w)
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	buf := make([]byte, 0, 4096)
	// write queues one event; send writes and flushes it.
	write := func(name string, data []byte) bool {
		buf = buf[:0]
		if name != "" {
			buf = append(buf, "event: "...)
			buf = append(buf, name...)
			buf = append(buf, '\n')
		}
		if data != nil {
			buf = append(buf, "data: "...)
			buf = append(buf, data...) // JSON: no newlines
			buf = append(buf, '\n')
		} else {
			buf = append(buf, ": ping\n"...)
		}
		buf = append(buf, '\n')
		_ = rc.SetWriteDeadline(time.Now().Add(writeDeadline))
		_, err := w.Write(buf)
		return err == nil
	}
	send := func(name string, data []byte) bool { return write(name, data) && rc.Flush() == nil }
	// event writes a queued event, after a "resync" when some were lost.
	event := func(ev streamEvent) bool {
		if sub.lagged.Swap(false) && !write("resync", []byte(`{}`)) {
			return false
		}
		return write(ev.name, ev.data)
	}
	// Reconnect after 3s (EventSource does it by itself); then say hello
	// so the client knows the stream is live before any data.
	if _, err := w.Write([]byte("retry: 3000\n\n")); err != nil {
		return
	}
	if !send("hello", marshalEvent(map[string]any{"time": h.opts.Now().UTC(), "gateway": sub.gateway, "machine": sub.machine})) {
		return
	}
	beat := time.NewTicker(s.opts.Heartbeat)
	defer beat.Stop()
	ctx := r.Context()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.closed:
			return
		case ev := <-sub.ch:
			// Whatever else is queued goes out in the same flush: a burst
			// (one gateway's 50 machines) costs one syscall, not 50, so
			// the client keeps up instead of lagging into a resync.
			ok := event(ev)
		drain:
			for n := 1; ok && n < s.opts.Buffer; n++ {
				select {
				case ev = <-sub.ch:
					ok = event(ev)
				default:
					break drain
				}
			}
			if !ok || rc.Flush() != nil {
				return
			}
		case <-beat.C:
			if sub.lagged.Swap(false) && !send("resync", []byte(`{}`)) {
				return
			}
			if h.opts.Auth != nil {
				// A stream outlives its login otherwise: end it once the
				// session is gone (logout, expiry, role change).
				if _, err := h.opts.Auth.Authenticate(r); err != nil {
					send("logout", []byte(`{}`))
					return
				}
			}
			if !send("", nil) {
				return
			}
		}
	}
}
