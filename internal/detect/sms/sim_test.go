package sms_test

import (
	"testing"
	"time"

	"github.com/vigil-project/vigil/internal/detect/detecttest"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/detect/sms"
	"github.com/vigil-project/vigil/internal/sim"
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
		for _, r := range detecttest.ScoreSim(t, s, []detect.Detector{sms.New(sms.Config{Gateways: simGateways})}, cats) {
			t.Logf("seed %d %s: %d attacks, recall %.3f, %d alerts, precision %.3f", seed, r.Cat, r.Attacks, r.Recall(), r.Alerts, r.Precision())
			for _, m := range r.Missed {
				t.Logf("  missed %s at %s on %+v", m.Scenario, m.Start.Format(time.RFC3339), m.Entities)
			}
			for _, f := range r.False {
				t.Logf("  false: %s: %s", f.Detector, f.Explanation)
			}
			if r.Recall() < 0.95 || r.Precision() < 0.95 {
				t.Errorf("seed %d %s: recall %.3f precision %.3f, want ≥ 0.95 each", seed, r.Cat, r.Recall(), r.Precision())
			}
		}
	}
}
