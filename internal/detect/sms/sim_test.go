package sms_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/detect/sms"
	"github.com/vigil-project/vigil/internal/engine"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/sim"
	"github.com/vigil-project/vigil/internal/sim/eval"
)

// simGateways are the numbers the simulator's SMS gateway sends from
// (internal/sim/ident.go gatewayMSISDNs).
var simGateways = []string{"+4915550001000", "+4915550001001", "+4915550001002"}

// TestSimulatedFleet runs the SMS detector over a simulated day with gateway
// wake-ups and command SMS, and spoofed SMS, on seeds not used while tuning
// (tuned on seeds 1 to 9, 7 and 19).
func TestSimulatedFleet(t *testing.T) {
	cats := []alert.Category{alert.SMSSpoofing}
	for _, seed := range []int64{31, 47} {
		s, err := sim.New(sim.Config{Seed: seed, Vehicles: 2000, Duration: 24 * time.Hour, Attacks: cats, AttacksPerCategory: 10})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range runSim(t, s, []detect.Detector{sms.New(sms.Config{Gateways: simGateways})}, cats) {
			t.Logf("seed %d %s: %d attacks, recall %.3f, %d alerts, precision %.3f", seed, r.cat, r.attacks, r.recall(), r.alerts, r.precision())
			for _, m := range r.missed {
				t.Logf("  missed %s at %s on %+v", m.Scenario, m.Start.Format(time.RFC3339), m.Entities)
			}
			for _, f := range r.false {
				t.Logf("  false: %s: %s", f.Detector, f.Explanation)
			}
			if r.recall() < 0.95 || r.precision() < 0.95 {
				t.Errorf("seed %d %s: recall %.3f precision %.3f, want ≥ 0.95 each", seed, r.cat, r.recall(), r.precision())
			}
		}
	}
}

// score is one category's result on one simulated run.
type score struct {
	cat            alert.Category
	attacks, found int
	alerts, falseN int
	missed         []sim.Label
	false          []*alert.Alert
}

func (s *score) recall() float64 {
	if s.attacks == 0 {
		return 1
	}
	return float64(s.found) / float64(s.attacks)
}

func (s *score) precision() float64 {
	if s.alerts == 0 {
		return 1
	}
	return 1 - float64(s.falseN)/float64(s.alerts)
}

// runSim feeds the simulator's stream through an engine with dets and an
// alert manager, and scores the alerts of cats against the labels: an
// attack is found when an alert of its category names one of its entities
// within [Start, End+10m]; an alert of cats that matches no label of any
// category is false.
func runSim(t *testing.T, s *sim.Simulator, dets []detect.Detector, cats []alert.Category) []*score {
	t.Helper()
	var mu sync.Mutex
	var alerts []*alert.Alert
	mgr := alert.NewManager(alert.ManagerOptions{Out: func(a *alert.Alert, _ *alert.Incident) { alerts = append(alerts, a) }})
	eng, err := engine.New(engine.Options{Detectors: dets, Alerts: func(a *alert.Alert) {
		mu.Lock()
		defer mu.Unlock()
		mgr.Add(a)
	}})
	if err != nil {
		t.Fatal(err)
	}
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
	var out []*score
	for _, c := range cats {
		r := &score{cat: c}
		for _, l := range labels {
			if l.Category != c.String() {
				continue
			}
			r.attacks++
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
				r.missed = append(r.missed, l)
			}
		}
		for _, a := range alerts {
			if a.Category != c {
				continue
			}
			r.alerts++
			ok := false
			for _, l := range labels {
				if match(a, l) {
					ok = true
					break
				}
			}
			if !ok {
				r.falseN++
				r.false = append(r.false, a)
			}
		}
		out = append(out, r)
	}
	return out
}
