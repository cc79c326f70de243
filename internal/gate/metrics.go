package gate

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the gate's counters, kept as atomics so a decision pays a few
// nanoseconds; Collector turns them into Prometheus metrics at scrape time.
type metrics struct {
	decisions      [3]atomic.Int64 // by Verdict
	reasons        map[string]*atomic.Int64
	latency        prometheus.Histogram
	incidentErrors atomic.Int64
	rejected       atomic.Int64 // requests answered with an error, not a decision

	// Gauges set by the sweep.
	moving, linked, trails         atomic.Int64
	accountBuckets, vehicleBuckets atomic.Int64
}

func (m *metrics) init() {
	m.reasons = map[string]*atomic.Int64{}
	for code := range Codes() {
		m.reasons[code] = new(atomic.Int64)
	}
	m.latency = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "vigil_gate_decide_seconds",
		Help:    "Time the command gate takes to decide, request decoding and answer excluded.",
		Buckets: prometheus.ExponentialBuckets(1e-6, 2, 16)})
}

func (m *metrics) count(v Verdict, reasons []DecisionReason, took time.Duration) {
	m.decisions[v].Add(1)
	for _, r := range reasons {
		if c := m.reasons[r.Code]; c != nil {
			c.Add(1)
		}
	}
	m.latency.Observe(took.Seconds())
}

var (
	mDecisions = prometheus.NewDesc("vigil_gate_decisions_total", "Command gate decisions by outcome.", []string{"decision"}, nil)
	mReasons   = prometheus.NewDesc("vigil_gate_reasons_total", "Reasons given by the command gate, by code (a decision may give several).", []string{"code"}, nil)
	mRejected  = prometheus.NewDesc("vigil_gate_requests_rejected_total", "Gate requests answered with an error (bad input, forbidden tenant, not ready) instead of a decision.", nil, nil)
	mLog       = prometheus.NewDesc("vigil_gate_log_records_total", "Decision records by fate in the decision log file.", []string{"result"}, nil)
	mIncErr    = prometheus.NewDesc("vigil_gate_incident_reload_errors_total", "Failed reloads of the open critical incidents.", nil, nil)
	mIncOpen   = prometheus.NewDesc("vigil_gate_open_critical_incidents", "Open critical incidents the gate knows.", nil, nil)
	mIncAge    = prometheus.NewDesc("vigil_gate_incidents_age_seconds", "Age of the gate's copy of the open critical incidents.", nil, nil)
	mIncBlind  = prometheus.NewDesc("vigil_gate_incidents_overflow_tenants", "Tenants with more open critical incidents than gate.incidents.max_open (their commands are answered 503); -1 when the last load stopped at its bound for every tenant.", nil, nil)
	mState     = prometheus.NewDesc("vigil_gate_state_entries", "Entries of the gate's state by kind (at the last sweep).", []string{"kind"}, nil)
)

// Collector returns the gate's metrics for a Prometheus registry.
func (g *Gate) Collector() prometheus.Collector { return collector{g} }

type collector struct{ g *Gate }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{mDecisions, mReasons, mRejected, mLog, mIncErr, mIncOpen, mIncAge, mIncBlind, mState} {
		ch <- d
	}
	c.g.metrics.latency.Describe(ch)
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	m := &c.g.metrics
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for v := Allow; v <= Deny; v++ {
		counter(mDecisions, m.decisions[v].Load(), v.String())
	}
	for code, n := range m.reasons {
		counter(mReasons, n.Load(), code)
	}
	counter(mRejected, m.rejected.Load())
	if f := c.g.file; f != nil {
		counter(mLog, f.written.Load(), "written")
		counter(mLog, f.dropped.Load(), "dropped")
		counter(mLog, f.failed.Load(), "failed")
	}
	counter(mIncErr, m.incidentErrors.Load())
	if idx := c.g.incidents.Load(); idx != nil {
		gauge(mIncOpen, float64(idx.incidents))
		gauge(mIncAge, c.g.now().Sub(idx.loaded).Seconds())
		if idx.partial {
			gauge(mIncBlind, -1)
		} else {
			n := len(idx.overflow)
			for tenant := range idx.storedOverflow {
				if !idx.overflow[tenant] {
					n++
				}
			}
			gauge(mIncBlind, float64(n))
		}
	}
	gauge(mState, float64(m.moving.Load()), "moving_vehicles")
	gauge(mState, float64(m.linked.Load()), "vehicles_with_links")
	gauge(mState, float64(m.trails.Load()), "account_trails")
	gauge(mState, float64(m.accountBuckets.Load()), "account_buckets")
	gauge(mState, float64(m.vehicleBuckets.Load()), "vehicle_buckets")
	m.latency.Collect(ch)
}
