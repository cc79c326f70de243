package engine_test

import (
	"fmt"
	"testing"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/detect/command"
	"github.com/vigil-project/vigil/internal/detect/credential"
	"github.com/vigil-project/vigil/internal/detect/telemetry"
	"github.com/vigil-project/vigil/internal/engine"
	"github.com/vigil-project/vigil/internal/event"
)

// benchEvents is a mix of fixes over 10,000 vehicles and logins over 1,000
// accounts, in event-time order.
func benchEvents(n int) []*event.Event {
	evs := make([]*event.Event, n)
	for i := range evs {
		if i%10 == 9 {
			evs[i] = failure(fmt.Sprint("l", i), float64(i)/100, fmt.Sprint("acc-", i%1000), "t")
			evs[i].Login.Result = event.ResultSuccess
			continue
		}
		evs[i] = fix(fmt.Sprint("f", i), float64(i)/100, fmt.Sprint("V", i%10000), "t")
	}
	return evs
}

// BenchmarkRoute measures the router and shards with the twin but no
// detectors: dedup, watermark, key hashing, hand-off, state lookup.
func BenchmarkRoute(b *testing.B) { benchEngine(b, nil) }

// BenchmarkEngine adds every detector of the engine issue.
func BenchmarkEngine(b *testing.B) {
	benchEngine(b, []detect.Detector{command.NewOrphan(command.OrphanConfig{}),
		telemetry.NewMovement(telemetry.MovementConfig{}), credential.New(credential.Config{})})
}

func benchEngine(b *testing.B, dets []detect.Detector) {
	for _, shards := range []int{1, 2} {
		b.Run(fmt.Sprint("shards=", shards), func(b *testing.B) {
			evs := benchEvents(1 << 16)
			e, err := engine.New(engine.Options{Shards: shards, Detectors: dets, Alerts: func(*alert.Alert) {}, DedupWindow: 1})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			i := 0
			var base int64
			for b.Loop() {
				ev := evs[i&(len(evs)-1)]
				if i&(len(evs)-1) == 0 && i > 0 {
					base += 1e12 // later laps are later in event time
				}
				c := *ev
				c.Time += base
				e.Push(&c)
				i++
			}
			e.Close()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
