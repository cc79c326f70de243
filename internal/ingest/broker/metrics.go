package broker

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Collector exposes the counters of every broker source on /metrics.
type Collector struct {
	pipes                                          []*Pipeline
	messages, events, rejected, retries, ackErrors *prometheus.Desc
}

// NewCollector returns a collector over pipes.
func NewCollector(pipes ...*Pipeline) *Collector {
	l := []string{"source"}
	return &Collector{pipes: pipes,
		messages:  prometheus.NewDesc("vigil_source_messages_total", "Messages read from a broker source.", l, nil),
		events:    prometheus.NewDesc("vigil_source_events_total", "Events of a broker source by outcome: accepted, duplicate or rejected.", []string{"source", "outcome"}, nil),
		rejected:  prometheus.NewDesc("vigil_source_rejected_total", "Events of a broker source rejected, by code and field.", []string{"source", "reason"}, nil),
		retries:   prometheus.NewDesc("vigil_source_store_retries_total", "Batches of a broker source written again after the store refused them or detection was behind.", l, nil),
		ackErrors: prometheus.NewDesc("vigil_source_ack_errors_total", "Acknowledgements a broker did not take (the message comes again; duplicates are dropped by id).", l, nil),
	}
}

func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.messages, c.events, c.rejected, c.retries, c.ackErrors} {
		ch <- d
	}
}

func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	for _, p := range c.pipes {
		s, n := p.Stats(), p.Name()
		counter(c.messages, s.Messages.Load(), n)
		counter(c.events, s.Accepted.Load(), n, "accepted")
		counter(c.events, s.Duplicates.Load(), n, "duplicate")
		counter(c.events, s.Rejected.Load(), n, "rejected")
		counter(c.retries, s.Retries.Load(), n)
		counter(c.ackErrors, s.AckErrors.Load(), n)
		for reason, v := range s.RejectedByReason() {
			counter(c.rejected, v, n, reason)
		}
	}
}
