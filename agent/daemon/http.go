package daemon

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"millwright/agent/outbox"
)

type latencyHistogram struct{ prometheus.Histogram }

func newLatencyHistogram() latencyHistogram {
	return latencyHistogram{prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "mw_agent_scoring_latency_seconds",
		Help:    "Time one model takes to score and learn one vector.",
		Buckets: prometheus.ExponentialBuckets(1e-6, 2, 16),
	})}
}

func newAlertLatencyHistogram() prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "mw_agent_alert_latency_seconds",
		Help:    "Time from the receipt of the message whose vector raised an alert to the alert's hand-over to the local outputs (log, local topic, alarm).",
		Buckets: prometheus.ExponentialBuckets(50e-6, 2, 16),
	})
}

// handler serves /healthz, /readyz and /metrics.
func (a *Agent) handler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(a.latency, collector{a})
	if c, ok := a.alertLatency.(prometheus.Collector); ok {
		reg.MustRegister(c)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !a.Connected() {
			http.Error(w, "not connected to the broker", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return mux
}

// collector reads the agent's counters at scrape time.
type collector struct{ a *Agent }

var (
	descMessages  = prometheus.NewDesc("mw_agent_telemetry_messages_total", "Telemetry messages accepted.", nil, nil)
	descReadings  = prometheus.NewDesc("mw_agent_readings_ingested_total", "Sensor readings ingested.", nil, nil)
	descIgnored   = prometheus.NewDesc("mw_agent_readings_ignored_total", "Readings of sensors outside a machine's learned set.", nil, nil)
	descRejected  = prometheus.NewDesc("mw_agent_rejected_total", "Messages refused, by kind.", []string{"kind"}, nil)
	descVectors   = prometheus.NewDesc("mw_agent_vectors_scored_total", "Feature vectors scored (each by every model of its machine).", nil, nil)
	descAlerts    = prometheus.NewDesc("mw_agent_alerts_total", "Alerts raised.", nil, nil)
	descNotRun    = prometheus.NewDesc("mw_agent_vectors_not_running_total", "Feature vectors neither scored nor learned because the running gate said the machine was stopped or settling after a start.", nil, nil)
	descDrifts    = prometheus.NewDesc("mw_agent_drifts_total", "Drifts reported, and those not reported because of the per-machine rate limit.", []string{"outcome"}, nil)
	descEventTime = prometheus.NewDesc("mw_agent_event_time_readings_total", "Readings not put in event-time order: late and scored only (late_scored), late and dropped (late_dropped), duplicates dropped (duplicate), released early by a full reorder buffer (overflow).", []string{"outcome"}, nil)
	descRefused   = prometheus.NewDesc("mw_agent_model_state_refused_total", "Model state files refused at start (unreadable or unusable; set aside as .corrupt, their machines start fresh).", nil, nil)
	descIngest    = prometheus.NewDesc("mw_agent_ingest_refused_total", "Messages of ingest topics that did not fit their mapping, by topic (at most 1024 topics, the rest as \"(other)\").", []string{"topic"}, nil)
	descConnected = prometheus.NewDesc("mw_agent_broker_connected", "1 while connected to the broker.", nil, nil)
	descProduced  = prometheus.NewDesc("mw_agent_outbox_produced_total", "Entries put in the outbox.", nil, nil)
	descDelivered = prometheus.NewDesc("mw_agent_outbox_delivered_total", "Entries acknowledged by the hub.", nil, nil)
	descDropped   = prometheus.NewDesc("mw_agent_outbox_dropped_total", "Entries dropped, by class: to stay within the byte bound, because the write queue was full, or because their write failed.", []string{"class"}, nil)
	descFailed    = prometheus.NewDesc("mw_agent_outbox_write_failed_total", "Entries lost because the outbox's write failed (disk full, I/O error), by class; also counted in mw_agent_outbox_dropped_total.", []string{"class"}, nil)
	descSent      = prometheus.NewDesc("mw_agent_outbox_sent_total", "Publishes of outbox entries, resends included.", nil, nil)
	descDepth     = prometheus.NewDesc("mw_agent_outbox_depth", "Entries waiting for the hub's ack.", nil, nil)
	descBytes     = prometheus.NewDesc("mw_agent_outbox_bytes", "Bytes of the entries waiting for the hub's ack.", nil, nil)
	descUnwritten = prometheus.NewDesc("mw_agent_outbox_unwritten", "Entries queued but not yet committed to disk: what a crash now would lose.", nil, nil)
	descQueueFull = prometheus.NewDesc("mw_agent_outbox_queue_full_total", "Entries dropped because the outbox's write queue was full, by class; also counted in mw_agent_outbox_dropped_total.", []string{"class"}, nil)
	descCommits   = prometheus.NewDesc("mw_agent_outbox_commits_total", "Transactions (one fsync each) of the outbox's writer.", nil, nil)
)

func (collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descMessages, descReadings, descIgnored, descRejected, descVectors, descAlerts, descNotRun,
		descDrifts, descEventTime, descRefused, descIngest, descConnected, descProduced, descDelivered, descDropped, descFailed, descSent, descDepth, descBytes,
		descUnwritten, descQueueFull, descCommits} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	ps := c.a.pl.Stats()
	counter(descMessages, ps.Messages)
	counter(descReadings, ps.Readings)
	counter(descIgnored, ps.Ignored)
	counter(descVectors, ps.Vectors)
	counter(descNotRun, ps.NotRunning)
	counter(descAlerts, ps.Alerts)
	counter(descDrifts, ps.Drifts, "reported")
	counter(descDrifts, ps.DriftsDropped, "rate_limited")
	counter(descEventTime, ps.Late, "late_scored")
	counter(descEventTime, ps.LateDropped, "late_dropped")
	counter(descEventTime, ps.Duplicates, "duplicate")
	counter(descEventTime, ps.Overflow, "overflow")
	counter(descRefused, c.a.stateRefused)
	if in := c.a.ingest; in != nil {
		for _, tc := range in.errs.Snapshot() {
			counter(descIngest, tc.Count, tc.Topic)
		}
	}
	for _, k := range c.a.rejects.Snapshot() {
		counter(descRejected, k.Count, k.Kind)
	}
	connected := 0.0
	if c.a.Connected() {
		connected = 1
	}
	gauge(descConnected, connected)
	os := c.a.ob.Stats()
	counter(descProduced, os.Produced)
	counter(descDelivered, os.Delivered)
	counter(descSent, os.Sent)
	for cl := outbox.Metrics; cl <= outbox.Alert; cl++ {
		counter(descDropped, os.DroppedBy[cl], cl.String())
		counter(descFailed, os.FailedBy[cl], cl.String())
		counter(descQueueFull, os.QueueFullBy[cl], cl.String())
	}
	gauge(descDepth, float64(os.Queued))
	gauge(descBytes, float64(os.Bytes))
	gauge(descUnwritten, float64(os.Unwritten))
	counter(descCommits, os.Commits)
}
