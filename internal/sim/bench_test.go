package sim

import (
	"context"
	"testing"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/event"
)

// BenchmarkSimulate generates a simulated day of 2000 vehicles under every
// attack, and reports events per second of generation alone (generate) and
// with NDJSON encoding (ndjson).
func BenchmarkSimulate(b *testing.B) {
	c := Config{Seed: 1, Vehicles: 2000, Duration: 24 * time.Hour, Attacks: alert.Categories()}
	for _, bc := range []struct {
		name   string
		encode bool
	}{{"generate", false}, {"ndjson", true}} {
		b.Run(bc.name, func(b *testing.B) {
			var events, bytes int64
			var buf []byte
			start := time.Now()
			for b.Loop() {
				s, err := New(c)
				if err != nil {
					b.Fatal(err)
				}
				err = s.Run(context.Background(), func(e *event.Event) error {
					if bc.encode {
						buf = event.AppendJSON(buf[:0], e)
						bytes += int64(len(buf)) + 1
					}
					return nil
				}, nil)
				if err != nil {
					b.Fatal(err)
				}
				events += s.Stats().Events
			}
			elapsed := time.Since(start).Seconds()
			b.ReportMetric(float64(events)/elapsed, "events/s")
			b.ReportMetric(float64(events)/float64(b.N), "events/op")
			if bc.encode {
				b.SetBytes(bytes / int64(b.N))
			}
		})
	}
}
