package influx

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the Prometheus view of the Writer, read from its counters
// at scrape time.
type metrics struct {
	writeSeconds prometheus.Histogram
	collectors   []prometheus.Collector
}

func newMetrics(w *Writer) *metrics {
	m := &metrics{writeSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "millwright_hub_influx_write_seconds",
		Help:    "Time of one InfluxDB write request, failed ones included.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
	})}
	counter := func(name, help string, f func() uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(f()) })
	}
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	m.collectors = []prometheus.Collector{
		m.writeSeconds,
		gauge("millwright_hub_influx_queue_points", "Points waiting to be written to InfluxDB, the batch in flight included.",
			func() float64 { return float64(w.Stats().QueuedPoints) }),
		gauge("millwright_hub_influx_queue_bytes", "Bytes of line protocol waiting to be written to InfluxDB.",
			func() float64 { return float64(w.Stats().QueuedBytes) }),
		counter("millwright_hub_influx_points_written_total", "Points InfluxDB accepted.", w.written.Load),
		counter("millwright_hub_influx_write_retries_total", "Failed InfluxDB writes that were retried.", w.retries.Load),
		counter("millwright_hub_influx_points_dropped_total", "Points dropped from the full queue (re-read from the store once InfluxDB is back).", w.dropped.Load),
		counter("millwright_hub_influx_points_refused_total", "Points InfluxDB refused or that could not be encoded; not retried.", w.refused.Load),
		counter("millwright_hub_influx_values_rejected_total", "NaN and ±Inf field values left out of points.", w.rejectedValues.Load),
		counter("millwright_hub_influx_points_backfilled_total", "Points re-read from the store after drops.", w.backfilled.Load),
		gauge("millwright_hub_influx_last_error_timestamp_seconds", "When the last write failed; 0 after a successful write.",
			func() float64 {
				if e := w.lastErr.Load(); e != nil {
					return float64(e.at.UnixNano()) / 1e9
				}
				return 0
			}),
	}
	return m
}

func (m *metrics) register(r prometheus.Registerer) error {
	for _, c := range m.collectors {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}
