package api

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/engine"
	"github.com/vigil-project/vigil/internal/ingest/httpingest"
	"github.com/vigil-project/vigil/internal/processor"
)

// MetricsSources are the counters the metrics read at scrape time.
type MetricsSources struct {
	Ingest    *httpingest.Handler
	Engine    *engine.Engine
	Processor *processor.Processor
	Manager   *alert.Manager
}

// Metrics returns the /metrics handler with its own registry (no global
// state): ingest received and rejected by reason, late events, processing
// lag, alerts by category, store latency, and the Go runtime.
func Metrics(src MetricsSources, storeLatency *prometheus.HistogramVec, more ...prometheus.Collector) http.Handler {
	reg := prometheus.NewRegistry()
	for _, c := range more {
		reg.MustRegister(c)
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(&collector{src: src})
	if storeLatency != nil {
		reg.MustRegister(storeLatency)
	}
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}

// RequestLatency is the histogram of HTTP requests by route (the pattern
// of the route table, e.g. "POST /v1/gate") and status class, from the
// handler's start to its return: the server's own part of a request's
// latency (a live stream's is its whole life). Its buckets include the
// command gate's goal, 2 ms.
func RequestLatency() *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "vigil_http_request_seconds",
		Help:    "HTTP requests by route and status class: time from the handler's start to its return.",
		Buckets: []float64{.0001, .00025, .0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}},
		[]string{"route", "status"})
}

// StoreLatency is the histogram of store calls by operation.
func StoreLatency() *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "vigil_store_seconds",
		Help:    "Latency of store operations.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}, []string{"op"})
}

type collector struct{ src MetricsSources }

var (
	mIngestRequests = prometheus.NewDesc("vigil_ingest_requests_total", "Ingest HTTP requests.", nil, nil)
	mIngestEvents   = prometheus.NewDesc("vigil_ingest_events_total", "Events received over HTTP by result.", []string{"result"}, nil)
	mIngestRejected = prometheus.NewDesc("vigil_ingest_rejected_total", "Rejected events by reason (code and field).", []string{"reason"}, nil)
	mIngestRefused  = prometheus.NewDesc("vigil_ingest_refused_total", "Ingest requests refused whole, by status and the bound that refused them: "+
		"requests_in_flight, bytes_in_flight or detection_behind (429), body_too_large (413).", []string{"status", "reason"}, nil)
	mEngineEvents    = prometheus.NewDesc("vigil_engine_events_total", "Events through the engine by outcome.", []string{"outcome"}, nil)
	mDetectionSource = prometheus.NewDesc("vigil_detection_events_total", "Events the detection follower took, by where from: "+
		"handed_over (by ingest, already decoded) or archive (read back and decoded again: other nodes' events, catching up, or a gap in the hand-over).", []string{"from"}, nil)
	mLag                   = prometheus.NewDesc("vigil_processing_lag_events", "Stored events waiting for detection.", nil, nil)
	mAlerts                = prometheus.NewDesc("vigil_alerts_total", "Alerts raised by detectors, by category (before deduplication).", []string{"category"}, nil)
	mManager               = prometheus.NewDesc("vigil_alert_manager_total", "Alert manager outcomes.", []string{"outcome"}, nil)
	mAlertRetries          = prometheus.NewDesc("vigil_alert_store_retries_total", "Failed alert writes that were retried.", nil, nil)
	mAlertsRefused         = prometheus.NewDesc("vigil_alerts_refused_total", "Alerts the store refused as invalid (logged, not stored).", nil, nil)
	mErasureRecordFailures = prometheus.NewDesc("vigil_erasure_record_failures_total",
		"Erasures applied to detection whose subjects could not be removed from the gate's decision log (logged; erase again to retry).", nil, nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{mIngestRequests, mIngestEvents, mIngestRejected, mIngestRefused, mEngineEvents, mDetectionSource, mLag, mAlerts, mManager, mAlertRetries, mAlertsRefused, mErasureRecordFailures} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	if h := c.src.Ingest; h != nil {
		st := h.Stats()
		counter(mIngestRequests, st.Requests.Load())
		counter(mIngestEvents, st.Accepted.Load(), "accepted")
		counter(mIngestEvents, st.Duplicates.Load(), "duplicate")
		counter(mIngestEvents, st.Rejected.Load(), "rejected")
		for reason, n := range st.RejectedByReason() {
			counter(mIngestRejected, n, reason)
		}
		counter(mIngestRefused, st.OverRequests.Load(), "429", "requests_in_flight")
		counter(mIngestRefused, st.OverBytes.Load(), "429", "bytes_in_flight")
		counter(mIngestRefused, st.OverDetection.Load(), "429", "detection_behind")
		counter(mIngestRefused, st.TooLarge.Load(), "413", "body_too_large")
	}
	// The processor before the engine: a lag of 0 then means the engine's
	// count of events received, read after it, includes every stored one
	// (the processor pushes events before it counts them processed).
	if p := c.src.Processor; p != nil {
		st := p.Stats()
		ch <- prometheus.MustNewConstMetric(mLag, prometheus.GaugeValue, float64(st.Lag))
		counter(mAlertRetries, st.AlertWriteRetries)
		counter(mAlertsRefused, st.AlertsRefused)
		counter(mErasureRecordFailures, st.ErasureRecordFailures)
		counter(mDetectionSource, st.HandedOver, "handed_over")
		counter(mDetectionSource, st.ReadBack, "archive")
	}
	if e := c.src.Engine; e != nil {
		st := e.Stats()
		counter(mEngineEvents, st.Received, "received")
		counter(mEngineEvents, st.Duplicates, "duplicate")
		counter(mEngineEvents, st.Late, "late")
		for _, cat := range alert.Categories() {
			counter(mAlerts, st.Alerts[cat.String()], cat.String())
		}
	}
	if m := c.src.Manager; m != nil {
		st := m.Stats()
		counter(mManager, int64(st.Alerts), "passed")
		counter(mManager, int64(st.Duplicates), "duplicate")
		counter(mManager, int64(st.Incidents), "incident_opened")
		counter(mManager, int64(st.Shadow), "shadow")
	}
}
