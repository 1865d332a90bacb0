// Package routing sends the hub's alerts to the people who act on them.
//
// Rules match alerts by site, line, machine and severity and name channels:
// the technician inbox (the store's alerts, which the UI lists), webhooks
// (JSON with a "text" field, as chat tools' incoming webhooks expect) and
// MQTT topics for shop-floor displays. An alert reaches each channel at
// most once, however often it is routed. A rule may escalate: when the
// alert is still open (not acknowledged) some time after the hub received
// it, it is sent to further channels.
//
// Route never blocks ingest: it hands the alert to a bounded queue. Run
// matches rules, keeps the escalation timers, and runs one delivery worker
// per channel that retries failures with exponential backoff and jitter.
package routing

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"millwright/hub/store"
)

// Defaults for Options.
const (
	DefaultQueueSize   = 1024
	DefaultMaxAttempts = 6
	DefaultRetryMin    = time.Second
	DefaultRetryMax    = time.Minute
	DefaultSendTimeout = 10 * time.Second
	DefaultDedupTTL    = 7 * 24 * time.Hour
	// statusRetry is how long an escalation waits after a failed status check.
	statusRetry = 30 * time.Second
)

// StatusSource tells whether an alert is still open. The hub store
// satisfies it once it has AlertStatus; StoreStatus adapts it meanwhile.
type StatusSource interface {
	// AlertStatus returns the alert's status (store.StatusOpen,
	// StatusAcknowledged or StatusResolved), or an error wrapping
	// store.ErrNotFound for an unknown id.
	AlertStatus(ctx context.Context, id string) (string, error)
}

// Locator finds the site and line of a machine, for rules that match on
// them. MachineLocator reads them from the store.
type Locator interface {
	// Locate returns the machine's site and line ("" when unknown).
	Locate(ctx context.Context, gateway, machine string) (site, line string, err error)
}

// Options configure New. The zero value routes nothing.
type Options struct {
	Config Config
	// Status is required when a rule escalates.
	Status StatusSource
	// Locator, when set, supplies site and line; without it rules that
	// list sites or lines match nothing.
	Locator Locator
	// Publisher is required when an mqtt channel is configured.
	Publisher Publisher
	// HTTPClient posts to webhooks; default one with SendTimeout.
	HTTPClient *http.Client

	QueueSize   int           // alerts waiting to be routed, and deliveries per channel; default DefaultQueueSize
	MaxAttempts int           // tries per delivery; default DefaultMaxAttempts
	RetryMin    time.Duration // first retry delay; default DefaultRetryMin
	RetryMax    time.Duration // longest retry delay; default DefaultRetryMax
	SendTimeout time.Duration // one webhook request; default DefaultSendTimeout
	// DedupTTL is how long a routed alert id is remembered per channel;
	// default DefaultDedupTTL.
	DedupTTL time.Duration

	Logger *slog.Logger
	// Registerer, when set, receives the routing metrics.
	Registerer prometheus.Registerer
}

// Router routes alerts. Route is safe for concurrent use; Run must be
// called once.
type Router struct {
	opts     Options
	log      *slog.Logger
	in       chan store.Alert
	channels map[string]*channel
	order    []*channel // config order, for Run

	// owned by Run
	seen map[dedupKey]time.Time
	due  dueHeap

	dropped atomic.Uint64
	m       *metrics
}

type dedupKey struct{ channel, id string }

// channel is one destination with its delivery queue.
type channel struct {
	name string
	s    sender
	q    chan delivery

	sent, failed, dropped, deduped atomic.Uint64
}

type delivery struct {
	n Notice
	t target
}

// New checks opts and builds a Router; Run routes.
func New(opts Options) (*Router, error) {
	if err := opts.Config.Validate(); err != nil {
		return nil, fmt.Errorf("routing: %w", err)
	}
	if opts.Config.escalates() && opts.Status == nil {
		return nil, errors.New("routing: a rule escalates but no alert status source is given")
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = DefaultQueueSize
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = DefaultMaxAttempts
	}
	if opts.RetryMin <= 0 {
		opts.RetryMin = DefaultRetryMin
	}
	if opts.RetryMax <= 0 {
		opts.RetryMax = DefaultRetryMax
	}
	if opts.SendTimeout <= 0 {
		opts.SendTimeout = DefaultSendTimeout
	}
	if opts.DedupTTL <= 0 {
		opts.DedupTTL = DefaultDedupTTL
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: opts.SendTimeout}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Router{opts: opts, log: opts.Logger, in: make(chan store.Alert, opts.QueueSize),
		channels: map[string]*channel{}, seen: map[dedupKey]time.Time{}}
	for _, c := range opts.Config.Channels {
		ch := &channel{name: c.Name, q: make(chan delivery, opts.QueueSize)}
		switch c.Kind {
		case KindInbox:
			ch.s = inboxSender{}
		case KindWebhook:
			ch.s = webhookSender{url: c.URL, hc: opts.HTTPClient}
		case KindMQTT:
			if opts.Publisher == nil {
				return nil, fmt.Errorf("routing: channel %q publishes to MQTT but no publisher is given", c.Name)
			}
			ch.s = mqttSender{pub: opts.Publisher, topic: c.Topic, qos: c.QoS, retained: c.Retained}
		}
		r.channels[c.Name] = ch
		r.order = append(r.order, ch)
	}
	r.m = newMetrics(r)
	if opts.Registerer != nil {
		if err := r.m.register(opts.Registerer); err != nil {
			return nil, fmt.Errorf("routing: register metrics: %w", err)
		}
	}
	return r, nil
}

// Route queues an alert for routing and returns at once; when the queue
// is full the alert is dropped from routing (counted; it stays in the
// inbox). Its signature fits ingest.Options.OnAlert.
func (r *Router) Route(a store.Alert) {
	select {
	case r.in <- a:
	default:
		if n := r.dropped.Add(1); n&(n-1) == 0 {
			r.log.Warn("routing queue full, alert not routed (it is in the inbox)", "alert", a.ID, "dropped_total", n)
		}
	}
}

// ChannelStats are one channel's running totals.
type ChannelStats struct {
	Sent, Failed, Dropped, Deduplicated uint64
}

// Stats returns the totals of every channel by name, and the alerts
// dropped from a full routing queue.
func (r *Router) Stats() (map[string]ChannelStats, uint64) {
	out := make(map[string]ChannelStats, len(r.channels))
	for name, c := range r.channels {
		out[name] = ChannelStats{Sent: c.sent.Load(), Failed: c.failed.Load(), Dropped: c.dropped.Load(), Deduplicated: c.deduped.Load()}
	}
	return out, r.dropped.Load()
}

// Run routes until ctx is done. Deliveries still queued or being retried
// then are abandoned (the alerts stay in the inbox).
func (r *Router) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, ch := range r.order {
		wg.Add(1)
		go func() { defer wg.Done(); r.deliver(ctx, ch) }()
	}
	defer wg.Wait()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	prune := time.NewTicker(max(r.opts.DedupTTL/8, time.Minute))
	defer prune.Stop()
	for {
		r.resetTimer(timer)
		select {
		case <-ctx.Done():
			return nil
		case a := <-r.in:
			r.route(ctx, &a)
		case <-timer.C:
			r.escalateDue(ctx)
		case now := <-prune.C:
			for k, t := range r.seen {
				if now.Sub(t) > r.opts.DedupTTL {
					delete(r.seen, k)
				}
			}
		}
	}
}

func (r *Router) resetTimer(t *time.Timer) {
	d := time.Hour
	if len(r.due) > 0 {
		d = max(time.Until(r.due[0].at), 0)
	}
	t.Reset(d)
}

// route matches rules, sends to their channels and schedules escalations.
func (r *Router) route(ctx context.Context, a *store.Alert) {
	t := target{gateway: a.Gateway, machine: a.Machine, severity: a.Severity}
	if r.opts.Locator != nil {
		var err error
		t.site, t.line, err = r.opts.Locator.Locate(ctx, a.Gateway, a.Machine)
		if err != nil {
			r.log.Warn("routing: machine site and line unknown", "gateway", a.Gateway, "machine", a.Machine, "err", err)
		}
	}
	received := a.Received
	if received.IsZero() {
		received = time.Now()
	}
	for i := range r.opts.Config.Rules {
		rule := &r.opts.Config.Rules[i]
		if !rule.Match.matches(&t) {
			continue
		}
		n := newNotice(a, &t, 0, rule.Name)
		for _, name := range rule.Channels {
			r.send(name, &n, &t)
		}
		for j, e := range rule.Escalate {
			heap.Push(&r.due, &escalation{at: received.Add(e.After.D()), alert: *a, t: t, rule: rule, step: j})
		}
	}
}

// send hands a notice to a channel unless that channel already had the alert.
func (r *Router) send(name string, n *Notice, t *target) {
	ch := r.channels[name]
	k := dedupKey{name, n.Alert.ID}
	if _, dup := r.seen[k]; dup {
		ch.deduped.Add(1)
		return
	}
	r.seen[k] = time.Now()
	select {
	case ch.q <- delivery{n: *n, t: *t}:
	default:
		delete(r.seen, k) // not sent: a later routing may try again
		ch.dropped.Add(1)
		r.log.Warn("routing: channel queue full, notice dropped", "channel", name, "alert", n.Alert.ID)
	}
}

// escalateDue sends the escalations whose time has come for alerts still open.
func (r *Router) escalateDue(ctx context.Context) {
	now := time.Now()
	for len(r.due) > 0 && !r.due[0].at.After(now) {
		e := heap.Pop(&r.due).(*escalation)
		status, err := r.opts.Status.AlertStatus(ctx, e.alert.ID)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) || ctx.Err() != nil {
				continue
			}
			r.log.Warn("routing: alert status unknown; escalation postponed", "alert", e.alert.ID, "err", err)
			e.at = now.Add(statusRetry)
			heap.Push(&r.due, e)
			return
		}
		if status != store.StatusOpen {
			continue
		}
		r.m.escalations.Inc()
		n := newNotice(&e.alert, &e.t, e.step+1, e.rule.Name)
		for _, name := range e.rule.Escalate[e.step].Channels {
			r.send(name, &n, &e.t)
		}
	}
}

// deliver is a channel's worker: it sends each notice, retrying failures.
func (r *Router) deliver(ctx context.Context, ch *channel) {
	for {
		select {
		case <-ctx.Done():
			return
		case d := <-ch.q:
			if r.sendWithRetry(ctx, ch, &d) {
				ch.sent.Add(1)
				r.m.sent.WithLabelValues(ch.name).Inc()
			} else if ctx.Err() == nil {
				ch.failed.Add(1)
				r.m.failed.WithLabelValues(ch.name).Inc()
			}
		}
	}
}

func (r *Router) sendWithRetry(ctx context.Context, ch *channel, d *delivery) bool {
	for attempt := 0; ; attempt++ {
		sctx, cancel := context.WithTimeout(ctx, r.opts.SendTimeout)
		err := ch.s.send(sctx, &d.n, &d.t)
		cancel()
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		if errors.Is(err, errPermanent) || attempt+1 >= r.opts.MaxAttempts {
			r.log.Error("routing: notice not delivered", "channel", ch.name, "alert", d.n.Alert.ID, "attempts", attempt+1, "err", err)
			return false
		}
		r.m.retries.WithLabelValues(ch.name).Inc()
		t := time.NewTimer(backoff(r.opts.RetryMin, r.opts.RetryMax, attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
	}
}

// escalation is a pending escalation step of one alert.
type escalation struct {
	at    time.Time
	alert store.Alert
	t     target
	rule  *Rule
	step  int
}

type dueHeap []*escalation

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h dueHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *dueHeap) Push(x any)        { *h = append(*h, x.(*escalation)) }
func (h *dueHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}
