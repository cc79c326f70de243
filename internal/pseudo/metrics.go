package pseudo

import "github.com/prometheus/client_golang/prometheus"

var (
	mValues = prometheus.NewDesc("vigil_privacy_pseudonymised_values_total",
		"Personal values replaced by their pseudonym at ingest, by kind.", []string{"kind"}, nil)
	mKept = prometheus.NewDesc("vigil_privacy_kept_phones_total",
		"SMS gateway numbers left as they are (the TSP's own, on the spoofing detector's allow-list).", nil, nil)
	mEvents = prometheus.NewDesc("vigil_privacy_events_total",
		"Events pseudonymised and re-encoded before storage.", nil, nil)
	mCache = prometheus.NewDesc("vigil_privacy_cache_lookups_total",
		"Pseudonym cache lookups, by result.", []string{"result"}, nil)
	mCacheSize = prometheus.NewDesc("vigil_privacy_cache_entries",
		"Pseudonyms in the cache.", nil, nil)
	mVault = prometheus.NewDesc("vigil_privacy_vault_total",
		"Re-identification vault entries: written, found already written, collision (a pseudonym whose entry holds another value or does not open), "+
			"error (a batch refused: the vault could not be read or written; the producer is told to resend).", []string{"result"}, nil)
)

// Collector exposes the counters to Prometheus; a nil Pseudonymiser's
// exposes nothing.
func (p *Pseudonymiser) Collector() prometheus.Collector { return collector{p} }

type collector struct{ p *Pseudonymiser }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	if c.p == nil {
		return
	}
	for _, d := range []*prometheus.Desc{mValues, mKept, mEvents, mCache, mCacheSize, mVault} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	if c.p == nil {
		return
	}
	m := &c.p.m
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	for k := Kind(0); k < NumKinds; k++ {
		counter(mValues, m.values[k].Load(), k.String())
	}
	counter(mKept, m.kept.Load())
	counter(mEvents, m.events.Load())
	counter(mCache, m.hits.Load(), "hit")
	counter(mCache, m.misses.Load(), "miss")
	ch <- prometheus.MustNewConstMetric(mCacheSize, prometheus.GaugeValue, float64(c.p.cache.len()))
	counter(mVault, m.vaultPut.Load(), "written")
	counter(mVault, m.vaultFound.Load(), "found")
	counter(mVault, m.collisions.Load(), "collision")
	counter(mVault, m.vaultErr.Load(), "error")
}
