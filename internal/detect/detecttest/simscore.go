package detecttest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/engine"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/sim"
	"github.com/vigil-project/vigil/internal/sim/eval"
)

// SimScore is one category's result on one simulated run.
type SimScore struct {
	Cat            alert.Category
	Attacks, found int
	Alerts, falseN int
	Missed         []sim.Label
	False          []*alert.Alert
}

func (s *SimScore) Recall() float64 {
	if s.Attacks == 0 {
		return 1
	}
	return float64(s.found) / float64(s.Attacks)
}

func (s *SimScore) Precision() float64 {
	if s.Alerts == 0 {
		return 1
	}
	return 1 - float64(s.falseN)/float64(s.Alerts)
}

// ScoreSim feeds the simulator's stream through an engine with dets and an
// alert manager, and scores the alerts of cats against the labels: an
// attack is found when an alert of its category names one of its entities
// within [Start, End+10m]; an alert of cats that matches no label of any
// category is false.
func ScoreSim(t *testing.T, s *sim.Simulator, dets []detect.Detector, cats []alert.Category) []*SimScore {
	t.Helper()
	var mu sync.Mutex
	var alerts []*alert.Alert
	var clock engine.LateClock
	mgr := alert.NewManager(alert.ManagerOptions{Clock: &clock,
		Out: func(a *alert.Alert, _ *alert.Incident) { alerts = append(alerts, a) }})
	eng, err := engine.New(engine.Options{Detectors: dets, Alerts: func(a *alert.Alert) {
		mu.Lock()
		defer mu.Unlock()
		mgr.Add(a)
	}})
	if err != nil {
		t.Fatal(err)
	}
	clock.Set(eng)
	var labels []sim.Label
	n := 0
	err = s.Run(context.Background(), func(ev *event.Event) error {
		eng.Push(ev)
		if n++; n%4096 == 0 {
			eng.Flush()
		}
		return nil
	}, func(l sim.Label) error { labels = append(labels, l); return nil })
	eng.Close()
	if err != nil {
		t.Fatal(err)
	}
	const grace = 10 * time.Minute
	match := func(a *alert.Alert, l sim.Label) bool {
		at := time.Unix(0, a.Time)
		return a.Tenant == l.Tenant && !at.Before(l.Start) && !at.After(l.End.Add(grace)) && eval.ShareEntity(a.Entities, l.Entities)
	}
	var out []*SimScore
	for _, c := range cats {
		r := &SimScore{Cat: c}
		for _, l := range labels {
			if l.Category != c.String() {
				continue
			}
			r.Attacks++
			found := false
			for _, a := range alerts {
				if a.Category == c && match(a, l) {
					found = true
					break
				}
			}
			if found {
				r.found++
			} else {
				r.Missed = append(r.Missed, l)
			}
		}
		for _, a := range alerts {
			if a.Category != c {
				continue
			}
			r.Alerts++
			ok := false
			for _, l := range labels {
				if match(a, l) {
					ok = true
					break
				}
			}
			if !ok {
				r.falseN++
				r.False = append(r.False, a)
			}
		}
		out = append(out, r)
	}
	return out
}
