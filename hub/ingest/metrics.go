package ingest

import (
	"github.com/prometheus/client_golang/prometheus"

	"millwright/wire"
)

// metrics are the Prometheus view of the pipeline. Per-kind children are
// resolved once so the per-message path does no label lookups.
type metrics struct {
	ingested     [len(leaves)]prometheus.Counter // by leafIndex
	ingestedVec  *prometheus.CounterVec
	duplicates   prometheus.Counter
	dropped      prometheus.Counter
	writeSeconds prometheus.Histogram
	rejected     prometheus.Collector
	originVec    *prometheus.CounterVec
	origin       [2]prometheus.Counter // by originVerified, originUnverified
}

const (
	originVerified = iota
	originUnverified
)

var leaves = [...]string{wire.LeafBirth, wire.LeafDeath, wire.LeafMetrics, wire.LeafAlerts, wire.LeafSnapshots, wire.LeafCmdAck, wire.LeafDrift}

// leafIndex numbers the agent topic leaves.
var leafIndex = map[string]int{
	wire.LeafBirth: 0, wire.LeafDeath: 1, wire.LeafMetrics: 2, wire.LeafAlerts: 3, wire.LeafSnapshots: 4, wire.LeafCmdAck: 5, wire.LeafDrift: 6,
}

func newMetrics(in *Ingest) *metrics {
	m := &metrics{
		ingestedVec: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "millwright_hub_messages_ingested_total",
			Help: "Agent messages durably stored, by kind (topic leaf); duplicates excluded.",
		}, []string{"kind"}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "millwright_hub_messages_duplicate_total",
			Help: "Agent messages whose (sender, seq) was already stored; acked again, not stored.",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "millwright_hub_messages_dropped_total",
			Help: "Agent messages dropped because the ingest queue stayed full (not acked, so resent).",
		}),
		writeSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "millwright_hub_store_write_seconds",
			Help:    "Time to durably store one batch of agent messages (one commit).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		rejected: rejectsCollector{r: in.rejects, desc: prometheus.NewDesc(
			"millwright_hub_messages_rejected_total",
			"Agent messages refused, by kind (malformed, unknown_version, oversized, invalid).",
			[]string{"kind"}, nil)},
	}
	m.originVec = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "millwright_hub_snapshot_origin_total",
		Help: "Agent snapshots accepted, by origin: verified (signed by the gateway's pinned key) or unverified.",
	}, []string{"origin"})
	m.origin[originVerified] = m.originVec.WithLabelValues("verified")
	m.origin[originUnverified] = m.originVec.WithLabelValues("unverified")
	for i, l := range leaves {
		m.ingested[i] = m.ingestedVec.WithLabelValues(l)
	}
	return m
}

func (m *metrics) register(r prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.ingestedVec, m.duplicates, m.dropped, m.writeSeconds, m.rejected, m.originVec} {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// rejectsCollector exports wire.Rejects counts.
type rejectsCollector struct {
	r    *wire.Rejects
	desc *prometheus.Desc
}

func (c rejectsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c rejectsCollector) Collect(ch chan<- prometheus.Metric) {
	for _, k := range []string{wire.KindMalformed, wire.KindUnknownVersion, wire.KindOversized, wire.KindInvalid} {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(c.r.Count(k)), k)
	}
}
