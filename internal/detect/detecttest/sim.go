package detecttest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/directory"
	"github.com/vigil-project/vigil/internal/engine"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/sim"
)

// Simulated-fleet tests of detectors: Run the simulator through an engine
// and Score the alerts against the attack labels.

// Seeds are the Seeds of the simulated tests: none was used for tuning (1–5 were).
var Seeds = []int64{101, 202}

// NewSim builds the simulator of a day of 2000 vehicles with ten attacks of
// one category.
func NewSim(t *testing.T, seed int64, cat alert.Category) *sim.Simulator {
	t.Helper()
	s, err := sim.New(sim.Config{Seed: seed, Vehicles: 2000, Duration: 24 * time.Hour,
		Attacks: []alert.Category{cat}, AttacksPerCategory: 10})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// DirectoryOf is the simulated fleet's entitlements, as a TSP would hand
// them to vigil.
func DirectoryOf(s *sim.Simulator) *directory.Directory {
	d := directory.New()
	for l := range s.Links() {
		if l.ClientID != "" {
			d.Link(l.Tenant, directory.Client, l.ClientID, l.Vehicle, l.Role)
		} else {
			d.Link(l.Tenant, directory.Account, l.Account, l.Vehicle, l.Role)
		}
	}
	return d
}

// Simulate runs the simulator with attacks of one category and returns its
// labels and the alerts of the detectors.
func Simulate(t *testing.T, seed int64, cat alert.Category, dets []detect.Detector) ([]sim.Label, []*alert.Alert) {
	t.Helper()
	return RunSim(t, NewSim(t, seed, cat), dets)
}

// RunSim pushes the simulator's events through an engine with the detectors.
func RunSim(t *testing.T, s *sim.Simulator, dets []detect.Detector) ([]sim.Label, []*alert.Alert) {
	t.Helper()
	var mu sync.Mutex
	var alerts []*alert.Alert
	eng, err := engine.New(engine.Options{Detectors: dets, Alerts: func(a *alert.Alert) {
		mu.Lock()
		defer mu.Unlock()
		alerts = append(alerts, a)
	}})
	if err != nil {
		t.Fatal(err)
	}
	var labels []sim.Label
	err = s.Run(context.Background(), func(e *event.Event) error { eng.Push(e); return nil },
		func(l sim.Label) error { labels = append(labels, l); return nil })
	eng.Close()
	if err != nil {
		t.Fatal(err)
	}
	return labels, alerts
}

const Grace = 10 * time.Minute

// Matches says whether an alert names one of a label's entities within the
// label's span plus the Grace period.
func Matches(a *alert.Alert, l sim.Label) bool {
	if a.Time < l.Start.UnixNano() || a.Time > l.End.Add(Grace).UnixNano() {
		return false
	}
	e, f := a.Entities, l.Entities
	same := func(x, y string) bool { return x != "" && x == y }
	if same(e.Account, f.Account) || same(e.IP, f.IP) || same(e.ClientID, f.ClientID) || same(e.Device, f.Device) ||
		same(e.MSISDN, f.MSISDN) || same(e.Vehicle, f.Vehicle) {
		return true
	}
	for _, v := range f.Vehicles {
		if same(e.Vehicle, v) {
			return true
		}
	}
	return false
}

// Score returns the recall on the labels of cat and the precision of the
// alerts of cat (an alert matching a label of any category is not false),
// with a line per missed label and false alert.
func Score(labels []sim.Label, alerts []*alert.Alert, cat alert.Category) (recall, precision float64, report string) {
	found, total := 0, 0
	for _, l := range labels {
		if l.Category != cat.String() {
			continue
		}
		total++
		hit := false
		for _, a := range alerts {
			if a.Category == cat && Matches(a, l) {
				hit = true
				break
			}
		}
		if hit {
			found++
		} else {
			report += fmt.Sprintf("\n  missed %s %s %+v %s–%s", l.Scenario, l.Tenant, l.Entities, l.Start.Format(time.TimeOnly), l.End.Format(time.TimeOnly))
		}
	}
	good, mine := 0, 0
	for _, a := range alerts {
		if a.Category != cat {
			continue
		}
		mine++
		ok := false
		for _, l := range labels {
			if Matches(a, l) {
				ok = true
				break
			}
		}
		if ok {
			good++
		} else {
			report += fmt.Sprintf("\n  false %s %s %s: %s", a.Detector, a.Tenant, time.Unix(0, a.Time).UTC().Format(time.TimeOnly), a.Explanation)
		}
	}
	by := map[string]int{}
	for _, a := range alerts {
		by[a.Detector]++
	}
	report += fmt.Sprintf("\n  alerts by detector: %v", by)
	recall, precision = 1, 1
	if total > 0 {
		recall = float64(found) / float64(total)
	}
	if mine > 0 {
		precision = float64(good) / float64(mine)
	}
	return recall, precision, report
}
