package app

import (
	"context"
	"testing"
	"time"

	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/sim"
	"github.com/vigil-project/vigil/internal/sim/eval"
)

// TestDetectorLibraryMeetsGoals runs a small evaluation (every category
// mixed into a day of 2,000 vehicles, two seeds not used while tuning) with
// every detector and the rule pack, and holds the library to the goals of
// its issue. `vigil eval` runs the full-size one (docs/evaluation.md).
func TestDetectorLibraryMeetsGoals(t *testing.T) {
	srcs, err := ruleSourcesFor(nil, "", false)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := eval.Run(context.Background(), eval.Options{
		Seeds: []int64{5151, 6262}, Vehicles: 2000, Duration: 24 * time.Hour, AttacksPerCategory: 5,
		Detectors: func(sm *sim.Simulator) ([]detect.Detector, error) {
			ds, err := newDetectorSet(nil, referenceFromSim(sm), srcs, nil)
			if err != nil {
				return nil, err
			}
			return ds.all, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rep.Categories {
		if c.Attacks == 0 {
			t.Errorf("%s: no attack was injected", c.Category)
		}
	}
	if m := rep.Misses(); len(m) > 0 {
		t.Errorf("goals missed: %v", m)
		for _, c := range rep.Categories {
			for _, l := range c.Undetected {
				t.Logf("undetected %s/%s on %+v", l.Category, l.Scenario, l.Entities)
			}
			for _, s := range c.FalseSample {
				t.Logf("false %s: %s", c.Category, s)
			}
		}
	}
}
