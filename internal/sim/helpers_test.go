package sim

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/event"
)

// stream is the output of one Run.
type stream struct {
	sim    *Simulator
	events []*event.Event
	labels []Label
	ndjson []byte // only with keepJSON
}

// simulate runs c to the end and keeps everything it produced.
func simulate(t testing.TB, c Config) *stream { return run(t, c, false) }

// run is simulate that can also keep the stream as NDJSON.
func run(t testing.TB, c Config, keepJSON bool) *stream {
	t.Helper()
	s, err := New(c)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	out := &stream{sim: s}
	err = s.Run(context.Background(), func(e *event.Event) error {
		out.events = append(out.events, e)
		if keepJSON {
			out.ndjson = append(event.AppendJSON(out.ndjson, e), '\n')
		}
		return nil
	}, func(l Label) error {
		out.labels = append(out.labels, l)
		return nil
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return out
}

// small is a fleet that shows every behaviour in well under a second.
func small(seed int64, attacks ...alert.Category) Config {
	return Config{Seed: seed, Vehicles: 400, Duration: 24 * time.Hour, Attacks: attacks}
}

// fixes returns each vehicle's telemetry in event-time order.
func (st *stream) fixes() map[string][]*event.Event {
	out := map[string][]*event.Event{}
	for _, e := range st.events {
		if e.Type == event.TypeTelemetry {
			out[e.Subject] = append(out[e.Subject], e)
		}
	}
	for _, fs := range out {
		sortByTime(fs)
	}
	return out
}

func sortByTime(es []*event.Event) {
	for i := 1; i < len(es); i++ { // nearly sorted already: insertion sort is linear
		for j := i; j > 0 && es[j].Time < es[j-1].Time; j-- {
			es[j], es[j-1] = es[j-1], es[j]
		}
	}
}

// impliedSpeed is the speed in km/h needed to get from fix a to fix b, and
// the distance in metres.
func impliedSpeed(a, b *event.Event) (kmh, dist float64) {
	pa, pb := a.Telemetry.Position, b.Telemetry.Position
	dist = Distance(pa.Lat, pa.Lon, pb.Lat, pb.Lon)
	dt := float64(b.Time-a.Time) / float64(time.Second)
	if dt <= 0 {
		dt = 0.001
	}
	return dist / dt * 3.6, dist
}

// within selects the events of a label's span.
func (st *stream) within(l Label, keep func(*event.Event) bool) []*event.Event {
	var out []*event.Event
	lo, hi := l.Start.UnixNano(), l.End.UnixNano()
	for _, e := range st.events {
		if e.Time >= lo && e.Time <= hi && keep(e) {
			out = append(out, e)
		}
	}
	return out
}

func encode(e *event.Event) []byte { return event.AppendJSON(nil, e) }

func sameBytes(a, b []byte) bool { return bytes.Equal(a, b) }
