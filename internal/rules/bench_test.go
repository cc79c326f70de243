package rules

import (
	"os"
	"testing"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/engine"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/rules/pack"
)

// delivery is one call the engine would make: an event on one of its keys.
type delivery struct {
	ev   *event.Event
	kind detect.Kind
	key  string
}

// deliveries routes evs the way the engine does for the detector.
func deliveries(d *Detector, evs []*event.Event) [][]delivery {
	var subs [detect.NumKinds][event.NumTypes]bool
	for _, s := range d.Info().Subscribe {
		for _, t := range s.Types {
			subs[s.Kind][t] = true
		}
	}
	out := make([][]delivery, len(evs))
	for i, ev := range evs {
		for k := range detect.NumKinds {
			if !subs[k][ev.Type] {
				continue
			}
			if key := engine.Key(ev, k); key != "" {
				out[i] = append(out[i], delivery{ev, k, key})
			}
		}
	}
	return out
}

// benchRules pushes a simulated event mix through the rules detector
// directly (no engine), one op per event.
func benchRules(b *testing.B, set *RuleSet) {
	evs := simEvents(b, 300, 3*time.Hour)
	d := NewDetector(set, Options{})
	ds := deliveries(d, evs)
	info := d.Info()
	c := &detect.Context{Info: &info, Local: d.NewShardState(),
		EmitFunc: func(*alert.Alert) {}, ScheduleFunc: func(int64) {}}
	var byType [event.NumTypes]int
	n := 0
	for i, ev := range evs {
		byType[ev.Type]++
		n += len(ds[i])
	}
	b.Logf("%d rules; %d events, %.0f%% telemetry, %.2f deliveries per event", set.Len(), len(evs),
		100*float64(byType[event.TypeTelemetry])/float64(len(evs)), float64(n)/float64(len(evs)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		for _, dl := range ds[i%len(ds)] {
			c.Tenant, c.Key, c.Kind, c.Frontier = dl.ev.Tenant, dl.key, dl.kind, dl.ev.Time-int64(30*time.Second)
			d.OnEvent(c, detect.State{}, dl.ev)
		}
	}
}

// BenchmarkRules50: the pack plus testdata/bench, 50 rules, on a simulated
// fleet's mix. The goal is at most 3 µs per event on average.
func BenchmarkRules50(b *testing.B) {
	set, err := Compile(Limits{}, Source{Name: pack.Name, FS: pack.FS()}, Source{Name: "bench", FS: os.DirFS("testdata/bench")})
	if err != nil {
		b.Fatal(err)
	}
	if set.Len() != 50 {
		b.Fatalf("%d rules, want 50", set.Len())
	}
	benchRules(b, set)
}

// BenchmarkRules0 is the detector with no rule: the cost of being there.
func BenchmarkRules0(b *testing.B) {
	set, err := Compile(Limits{}, memSource("empty", map[string]string{"empty.yaml": "rules: []\n"}))
	if err != nil {
		b.Fatal(err)
	}
	benchRules(b, set)
}

// BenchmarkCompile loads the pack and testdata/bench: the cost of a reload.
func BenchmarkCompile(b *testing.B) {
	srcs := []Source{{Name: pack.Name, FS: pack.FS()}, {Name: "bench", FS: os.DirFS("testdata/bench")}}
	for b.Loop() {
		if _, err := Compile(Limits{}, srcs...); err != nil {
			b.Fatal(err)
		}
	}
}
