package routing

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	sent, failed, retries *prometheus.CounterVec
	escalations           prometheus.Counter
	collectors            []prometheus.Collector
}

func newMetrics(r *Router) *metrics {
	m := &metrics{
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "millwright_hub_alert_notices_sent_total", Help: "Alert notices delivered, by channel.",
		}, []string{"channel"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "millwright_hub_alert_notices_failed_total", Help: "Alert notices given up on after retries, by channel.",
		}, []string{"channel"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "millwright_hub_alert_notice_retries_total", Help: "Failed alert notice attempts that were retried, by channel.",
		}, []string{"channel"}),
		escalations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "millwright_hub_alert_escalations_total", Help: "Escalations of alerts not acknowledged in time.",
		}),
	}
	for _, ch := range r.order {
		m.sent.WithLabelValues(ch.name)
		m.failed.WithLabelValues(ch.name)
		m.retries.WithLabelValues(ch.name)
	}
	m.collectors = []prometheus.Collector{m.sent, m.failed, m.retries, m.escalations,
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "millwright_hub_alerts_unrouted_total", Help: "Alerts not routed because the routing queue was full (they stay in the inbox).",
		}, func() float64 { return float64(r.dropped.Load()) }),
	}
	return m
}

func (m *metrics) register(reg prometheus.Registerer) error {
	for _, c := range m.collectors {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
