package sink

import (
	"github.com/prometheus/client_golang/prometheus"
)

var (
	mDelivered = prometheus.NewDesc("vigil_sink_delivered_total", "Alerts delivered, by sink.", []string{"sink"}, nil)
	mFailed    = prometheus.NewDesc("vigil_sink_failures_total", "Failed delivery attempts (each retry counts), by sink.", []string{"sink"}, nil)
	mDropped   = prometheus.NewDesc("vigil_sink_dropped_total", "Alerts not delivered, by sink and reason (retries_exhausted, rejected).", []string{"sink", "reason"}, nil)
	mFiltered  = prometheus.NewDesc("vigil_sink_filtered_total", "Alerts the sink's filter did not admit, by sink.", []string{"sink"}, nil)
	mLag       = prometheus.NewDesc("vigil_sink_lag_alerts", "Alerts stored after the sink's cursor, not yet delivered, dropped or filtered (the newest alert number minus the cursor), by sink.", []string{"sink"}, nil)
	mLatency   = prometheus.NewDesc("vigil_sink_delivery_seconds", "Time of successful deliveries, by sink.", []string{"sink"}, nil)
)

// Describe implements prometheus.Collector.
func (s *Set) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{mDelivered, mFailed, mDropped, mFiltered, mLag, mLatency} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: the counters are read at scrape
// time from each sink's status.
func (s *Set) Collect(ch chan<- prometheus.Metric) {
	for _, st := range s.Status() {
		counter := func(d *prometheus.Desc, v int64, labels ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), append([]string{st.Name}, labels...)...)
		}
		counter(mDelivered, st.Delivered)
		counter(mFailed, st.Failed)
		counter(mFiltered, st.Filtered)
		for _, r := range []string{DropRetries, DropRejected} {
			counter(mDropped, st.Dropped[r], r)
		}
		ch <- prometheus.MustNewConstMetric(mLag, prometheus.GaugeValue, float64(st.Lag), st.Name)
		buckets := map[float64]uint64{}
		var cum uint64
		for i, le := range latencyBuckets {
			cum += st.Latency.counts[i]
			buckets[le] = cum
		}
		ch <- prometheus.MustNewConstHistogram(mLatency, st.Latency.n, st.Latency.sum, buckets, st.Name)
	}
}

var _ prometheus.Collector = (*Set)(nil)
