package storetest

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/store"
)

// benchEvent is a realistic archive row: mostly telemetry of 100,000
// vehicles, every tenth event a command with an actor, about 400 bytes of
// JSON. Its id counts up, as the simulator's do; with uuid it is random
// like a UUID's, which no index can append to.
func benchEvent(n int64, uuid bool) store.ArchivedEvent {
	id := fmt.Sprintf("ev-%d", n)
	if uuid {
		h := sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(n)))
		id = fmt.Sprintf("%x-%x-%x-%x-%x", h[:4], h[4:6], h[6:8], h[8:10], h[10:16])
	}
	// Vehicles report in no particular order: a multiplicative hash
	// scatters consecutive events over the fleet (n%100,000 would walk the
	// vehicles in index order, which no real stream does).
	vin := fmt.Sprintf("WVWZZZ1JZXW%06d", uint64(n)*2654435761%100_000)
	e := store.ArchivedEvent{Tenant: fmt.Sprintf("fleet-%d", n%4), Source: "tsp/telematics-gw-eu1", ID: id,
		Type: "vehicle.telemetry", Time: t0 + n*int64(time.Millisecond), Subject: vin, Arrived: time.Now().UnixNano()}
	if n%10 == 0 {
		e.Type, e.Account, e.Device, e.IP = "vehicle.command", fmt.Sprintf("acc-%d", n%20_000), "dev-1", "203.0.113.7"
	}
	// The numbers differ from event to event, as a fleet's do: the archive
	// packs the JSON (store/rawpack), and repeated numbers would pack
	// better than real ones.
	h := uint64(n) * 0x9e3779b97f4a7c15
	tm := time.Unix(0, e.Time).UTC()
	e.Raw = fmt.Appendf(nil, `{"specversion":"1.0","id":%q,"source":"tsp/telematics-gw-eu1","type":%q,"time":%q,`+
		`"subject":%q,"tenant":%q,"data":{"position":{"lat":%.6f,"lon":%.6f,"heading":%.1f,"accuracy":%.1f},"speed":%.1f,`+
		`"seq":%d,"signals":{"Vehicle.TraveledDistance":%d,"Vehicle.LowVoltageSystemState":"ON"},`+
		`"device":{"imei":"3569380%08d","iccid":"89490220000%08d","ip":"10.64.%d.%d","firmware":"4.2.1"}}}`,
		id, e.Type, tm.Format("2006-01-02T15:04:05.000Z"), vin, e.Tenant,
		35+float64(h%15_000_000)/1e6, -5+float64(h>>24%25_000_000)/1e6, float64(h>>8%3600)/10, 2+float64(h>>16%80)/10,
		float64(h>>40%1600)/10, n/100_000, 10_000_000+h>>20%90_000_000, uint64(n)*2654435761%100_000, uint64(n)*2654435761%100_000,
		h>>32%256, h>>48%256)
	return e
}

// timelineLag is a store that builds timelines after ingest.
type timelineLag interface{ TimelineLag() int64 }

// BenchInsertEvents measures InsertEvents with batches of 1,000 events, by
// one caller and by several at once (group commit). It reports events/s and
// CPU per event, both up to the moment the store has also built the
// timeline entries of every event (a store that cannot keep up with its
// own ingest is not sustaining it).
func BenchInsertEvents(b *testing.B, open func(b *testing.B) store.Store) {
	for _, c := range []struct {
		callers int
		uuid    bool
	}{{1, false}, {4, false}, {16, false}, {4, true}} {
		callers := c.callers
		name := fmt.Sprintf("batch=1000/callers=%d", callers)
		if c.uuid {
			name += ",ids=uuid"
		}
		b.Run(name, func(b *testing.B) {
			s := open(b)
			defer s.Close()
			const size = 1000
			var next atomic.Int64
			batches := make(chan []store.ArchivedEvent, 2*callers)
			stop := make(chan struct{})
			go func() { // build batches outside the measured writers
				for {
					batch := make([]store.ArchivedEvent, size)
					for i := range batch {
						batch[i] = benchEvent(next.Add(1), c.uuid)
					}
					select {
					case batches <- batch:
					case <-stop:
						return
					}
				}
			}()
			defer close(stop)
			b.ResetTimer()
			start, cpu0 := time.Now(), cpuTime()
			var n atomic.Int64
			var wg sync.WaitGroup
			for range callers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for n.Add(1) <= int64(b.N) {
						if _, err := s.InsertEvents(ctx, all, <-batches); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			if tl, ok := s.(timelineLag); ok {
				for tl.TimelineLag() > 0 {
					time.Sleep(time.Millisecond)
				}
			}
			b.ReportMetric(float64(b.N)*size/time.Since(start).Seconds(), "events/s")
			// CPU per event (the whole process, batch building included):
			// unlike events/s it does not depend on what else the machine runs.
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(time.Microsecond)/(float64(b.N)*size), "cpu-µs/event")
		})
	}
}

// BenchListAlerts measures ListAlerts over 100,000 alerts of 10 tenants.
// afterLoad, when not nil, runs once the alerts are stored (PostgreSQL
// gathers its planner statistics there, as autovacuum would have by then).
func BenchListAlerts(b *testing.B, open func(b *testing.B) store.Store, afterLoad func(b *testing.B)) {
	s := open(b)
	defer s.Close()
	const total, batch = 100_000, 1000
	cats := alert.Categories()
	for i := 0; i < total; i += batch {
		as := make([]*alert.Alert, batch)
		for j := range as {
			n := i + j
			a := mkAlert(fmt.Sprintf("fleet-%d", n%10), fmt.Sprintf("al-%06d", n), n, cats[n%len(cats)],
				event.Severity(1+(n/7)%4), fmt.Sprintf("VIN%05d", n%20_000))
			a.Evidence = append(a.Evidence, event.Ref{Source: "tsp/test", ID: fmt.Sprintf("x-%d", n)})
			as[j] = a
		}
		if _, err := s.UpsertAlerts(ctx, all, as); err != nil {
			b.Fatal(err)
		}
	}
	if afterLoad != nil {
		afterLoad(b)
	}
	for _, c := range []struct {
		name  string
		scope store.Scope
		q     store.AlertQuery
	}{
		{"newest", all, store.AlertQuery{Limit: 50}},
		{"tenant", store.TenantScope("fleet-3"), store.AlertQuery{Limit: 50}},
		{"filtered", all, store.AlertQuery{Category: alert.MassCommand, MinSeverity: event.SeverityHigh,
			Statuses: []store.Status{store.StatusNew, store.StatusAcknowledged}, Limit: 50}},
		{"entity", all, store.AlertQuery{Entity: store.Entity{Kind: store.EntityVehicle, Value: "VIN00042"}, Limit: 50}},
		{"time-range", all, store.AlertQuery{From: at(50_000), To: at(51_000), Limit: 50}},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				page, err := s.ListAlerts(ctx, c.scope, c.q)
				if err != nil || len(page.Alerts) == 0 {
					b.Fatalf("%d alerts, %v", len(page.Alerts), err)
				}
			}
		})
	}
	b.Run("page-20", func(b *testing.B) {
		q := store.AlertQuery{Limit: 50}
		for range 19 {
			page, err := s.ListAlerts(ctx, all, q)
			if err != nil {
				b.Fatal(err)
			}
			q.Cursor = page.Next
		}
		for b.Loop() {
			if _, err := s.ListAlerts(ctx, all, q); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchSearchEvents measures a vehicle's timeline, newest 50 first, and the
// tenant's (newest and oldest 50), over an archive of 200,000 events of one
// tenant (10,000 vehicles): with every event indexed, with the last 50,000
// not yet, and with none of them (a search scans those, as it does for the
// events an indexing step waits for: up to 200,000 at full speed). open(b,
// manual) opens an empty store; with manual it indexes only when
// IndexTimeline is called.
func BenchSearchEvents(b *testing.B, open func(b *testing.B, manual bool) store.Store) {
	for _, tail := range []int{0, 50_000, 200_000} {
		b.Run(fmt.Sprintf("unindexed=%d", tail), func(b *testing.B) {
			s := open(b, true)
			defer s.Close()
			const total, size = 200_000, 1000
			for n := 0; n < total; n += size {
				batch := make([]store.ArchivedEvent, size)
				for i := range batch {
					batch[i] = benchEvent(int64(n+i), false)
					batch[i].Subject = fmt.Sprintf("WVWZZZ1JZXW%06d", uint64(n+i)*2654435761%10_000)
				}
				if _, err := s.InsertEvents(ctx, all, batch); err != nil {
					b.Fatal(err)
				}
				if n+size == total-tail {
					for {
						k, err := s.(timelineIndexer).IndexTimeline(ctx, 0)
						if err != nil {
							b.Fatal(err)
						}
						if k == 0 {
							break
						}
					}
				}
			}
			for _, c := range []struct {
				name string
				q    store.EventQuery
			}{
				{"vehicle", store.EventQuery{Kind: store.EntityVehicle, Value: "WVWZZZ1JZXW000042", Limit: 50}},
				// The tenant's own timeline: its blocks (timeline_blocks).
				{"tenant", store.EventQuery{Limit: 50}},
				{"tenant/oldest", store.EventQuery{Limit: 50, Order: store.OldestFirst}},
			} {
				b.Run(c.name, func(b *testing.B) {
					for b.Loop() {
						page, err := s.SearchEvents(ctx, all, c.q)
						if err != nil || len(page.Events) == 0 {
							b.Fatalf("%d events, %v", len(page.Events), err)
						}
					}
				})
			}
		})
	}
}

// BenchStoreDetections measures what the alert writer does per alert: one
// alert and its incident in one StoreDetections call, the incidents
// growing as a mass-command incident does: each alert names 20 vehicles of
// the fleet. Of 200 vehicles, every one is soon listed; of 20,000 (a
// campaign across a large fleet), most alerts add vehicles to an incident
// that already names thousands.
func BenchStoreDetections(b *testing.B, open func(b *testing.B) store.Store) {
	for _, fleet := range []int{200, 20_000} {
		b.Run(fmt.Sprintf("fleet=%d", fleet), func(b *testing.B) {
			s := open(b)
			defer s.Close()
			const incidents = 10
			b.ResetTimer()
			cpu0 := cpuTime()
			for i := range b.N {
				id := fmt.Sprintf("al-%d", i)
				a := mkAlert("fleet-a", id, i%1000+1, alert.MassCommand, event.SeverityHigh, "")
				a.Incident = fmt.Sprintf("inc-%d", i%incidents)
				inc := store.Incident{ID: a.Incident, Tenant: "fleet-a", FirstSeen: a.FirstSeen, LastSeen: a.LastSeen,
					Severity: a.Severity, Categories: []alert.Category{a.Category}, AlertIDs: []string{id}}
				for v := range 20 {
					inc.Entities = append(inc.Entities, store.Entity{Kind: store.EntityVehicle, Value: fmt.Sprintf("VIN%05d", (i*7+v*13)%fleet)})
				}
				if _, err := s.StoreDetections(ctx, all, []*alert.Alert{a}, []store.Incident{inc}); err != nil {
					b.Fatal(err)
				}
			}
			// CPU, as fsync's wait would hide it in ns/op.
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(time.Microsecond)/float64(b.N), "cpu-µs/alert")
		})
	}
}
