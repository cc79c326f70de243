package service

import (
	"fmt"
	"testing"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/detect/detecttest"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/twin"
)

// detectors judges the cases' small tenant fleet-a with its own settings:
// a dozen events a minute is enough, after ten minutes.
func detectors() []detect.Detector {
	return []detect.Detector{New(detect.PerTenant[Config]{Tenants: map[string]*Config{"fleet-a": {MinRate: 5, Warmup: 10}}})}
}

func TestCases(t *testing.T) { detecttest.Cases(t, detectors) }

// TestSimulatedFleet runs a simulated day of 2000 vehicles with outages
// through the detector with its default settings. An outage's label names
// the vehicles that fell silent; a tenant-wide alert names the tenant, so
// an alert matches a label of its tenant and span.
func TestSimulatedFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates a day")
	}
	for _, seed := range detecttest.Seeds {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			labels, alerts := detecttest.Simulate(t, seed, alert.ServiceAnomaly, []detect.Detector{New(detect.PerTenant[Config]{})})
			for i := range labels { // a tenant-wide alert names no vehicle: match on the tenant
				labels[i].Entities = alert.Entities{Account: "tenant:" + labels[i].Tenant}
			}
			for _, a := range alerts {
				a.Entities.Account = "tenant:" + a.Tenant
			}
			recall, precision, report := detecttest.Score(labels, alerts, alert.ServiceAnomaly)
			t.Logf("%d labels, %d alerts: recall %.3f, precision %.3f%s", len(labels), len(alerts), recall, precision, report)
			if recall < 0.95 || precision < 0.95 {
				t.Errorf("recall %.3f, precision %.3f; want both ≥ 0.95", recall, precision)
			}
		})
	}
}

// BenchmarkMinute is one tenant minute: cheap, as there is one a minute per
// tenant.
func BenchmarkMinute(b *testing.B) {
	d := New(detect.PerTenant[Config]{})
	p := &twin.Principal{}
	c := detecttest.Context(d, detect.KindTenant, "t")
	st := &event.TenantStats{}
	ev := &event.Event{ID: "minute", Source: "vigil/engine", Type: event.TypeTenantStats, Stats: st}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		st.Start = int64(i+1) * int64(time.Minute)
		st.ByType[event.TypeTelemetry] = 1000 + i%100
		st.Commands[event.StageRequested], st.Commands[event.StageFailed] = 20, i%2
		ev.Time = st.Start + int64(time.Minute) - 1
		d.OnEvent(c, detect.State{Principal: p}, ev)
	}
}
