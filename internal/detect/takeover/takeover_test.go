package takeover

import (
	"fmt"
	"testing"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/detect/detecttest"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/twin"
)

func detectors() []detect.Detector {
	// fleet-strict counts changes confirmed through the previous contact too.
	return []detect.Detector{New(detect.PerTenant[Config]{Tenants: map[string]*Config{"fleet-strict": {IncludeConfirmed: true}}})}
}

func TestCases(t *testing.T) { detecttest.Cases(t, detectors) }

// TestSimulatedFleet runs a simulated day of 2000 vehicles with takeovers
// through the detector: every takeover is found, and nearly every alert is
// about an attack.
func TestSimulatedFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates a day")
	}
	for _, seed := range detecttest.Seeds {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			labels, alerts := detecttest.Simulate(t, seed, alert.AccountTakeover, detectors())
			recall, precision, report := detecttest.Score(labels, alerts, alert.AccountTakeover)
			t.Logf("%d labels, %d alerts: recall %.3f, precision %.3f%s", len(labels), len(alerts), recall, precision, report)
			if recall < 0.95 || precision < 0.95 {
				t.Errorf("recall %.3f, precision %.3f; want both ≥ 0.95", recall, precision)
			}
		})
	}
}

// BenchmarkCommand is the hot path: an account that changed nothing sends
// a command (every stage), logs in from its usual device.
func BenchmarkCommand(b *testing.B) {
	d := New(detect.PerTenant[Config]{})
	p := &twin.Principal{}
	c := detecttest.Context(d, detect.KindAccount, "acc-1")
	actor := event.Actor{Account: "acc-1", Device: "dev-1", IP: "192.0.2.1"}
	cmd := &event.Event{ID: "c", Source: "api", Type: event.TypeCommand, Subject: "V1",
		Command: &event.Command{CommandID: "cmd-1", Command: event.CmdClimate, Actor: actor}}
	login := &event.Event{ID: "l", Source: "api", Type: event.TypeLogin,
		Login: &event.Login{Actor: actor, Result: event.ResultSuccess, Method: event.MethodToken}}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		t := int64(i) * 1e10
		if i%5 == 0 {
			login.Time = t
			d.OnEvent(c, detect.State{Principal: p}, login)
			continue
		}
		cmd.Time, cmd.Command.Stage = t, event.Stage(1+i%5)
		d.OnEvent(c, detect.State{Principal: p}, cmd)
	}
}
