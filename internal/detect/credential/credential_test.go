package credential

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/detect/detecttest"
	"github.com/vigil-project/vigil/internal/engine"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/twin"
)

func detectors() []detect.Detector {
	return []detect.Detector{
		New(Config{}),
		NewStuffing(detect.PerTenant[StuffingConfig]{}),
		NewPIN(detect.PerTenant[PINConfig]{}),
	}
}

func TestCases(t *testing.T) { detecttest.Cases(t, detectors) }

// TestStuffingAlone runs the cases of testdata/stuffing with the stuffing
// detector only: a busy NAT's typos are many distinct failing accounts, which
// password spraying (rightly, by its own rule) reports, but stuffing must not.
func TestStuffingAlone(t *testing.T) {
	for _, name := range []string{"quiet-nat"} {
		t.Run(name, func(t *testing.T) {
			got := detecttest.Run(t, "testdata/stuffing/"+name+".ndjson",
				engine.Options{Detectors: []detect.Detector{NewStuffing(detect.PerTenant[StuffingConfig]{})}})
			detecttest.Golden(t, "testdata/stuffing/"+name+".golden", got)
		})
	}
}

// TestSimulatedFleet runs a simulated day of 2000 vehicles with credential
// attacks through the credential detectors: every attack is found, and
// nearly every alert is about one. The detecttest.Seeds were not used for tuning.
func TestSimulatedFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates a day")
	}
	for _, seed := range detecttest.Seeds {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			labels, alerts := detecttest.Simulate(t, seed, alert.CredentialAttack, detectors())
			recall, precision, report := detecttest.Score(labels, alerts, alert.CredentialAttack)
			t.Logf("%d labels, %d alerts: recall %.3f, precision %.3f%s", len(labels), len(alerts), recall, precision, report)
			if recall < 0.95 || precision < 0.95 {
				t.Errorf("recall %.3f, precision %.3f; want both ≥ 0.95", recall, precision)
			}
		})
	}
}

func BenchmarkFailures(b *testing.B) {
	f := New(Config{})
	p := &twin.Principal{}
	c := detecttest.Context(f, detect.KindAccount, "acc-1")
	ev := &event.Event{ID: "l", Source: "api", Type: event.TypeLogin,
		Login: &event.Login{Actor: event.Actor{Account: "acc-1", IP: "192.0.2.1"}, Result: event.ResultFailure, Method: event.MethodPassword}}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ev.Time = int64(i) * 1e11 // one a 100 s: a slow trickle, as most failures are
		f.OnEvent(c, detect.State{Principal: p}, ev)
	}
}

// BenchmarkStuffing is one busy IP: logins of many accounts, one in ten
// failing, one every second — the window stays full and is judged each time.
func BenchmarkStuffing(b *testing.B) {
	d := NewStuffing(detect.PerTenant[StuffingConfig]{})
	p := &twin.Principal{}
	c := detecttest.Context(d, detect.KindIP, "192.0.2.1")
	accounts := make([]string, 64)
	for i := range accounts {
		accounts[i] = "acc-" + strconv.Itoa(i)
	}
	ev := &event.Event{ID: "l", Source: "api", Type: event.TypeLogin,
		Login: &event.Login{Actor: event.Actor{IP: "192.0.2.1"}, Method: event.MethodPassword}}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ev.Time = int64(i) * 1e9
		ev.Login.Actor.Account = accounts[i%len(accounts)]
		ev.Login.Result = event.ResultSuccess
		if i%10 == 0 {
			ev.Login.Result = event.ResultFailure
		}
		d.OnEvent(c, detect.State{Principal: p}, ev)
	}
}

// BenchmarkPIN is a device failing its PIN once a minute.
func BenchmarkPIN(b *testing.B) {
	d := NewPIN(detect.PerTenant[PINConfig]{})
	p := &twin.Principal{}
	c := detecttest.Context(d, detect.KindDevice, "dev-1")
	ev := &event.Event{ID: "l", Source: "api", Type: event.TypeLogin,
		Login: &event.Login{Actor: event.Actor{Account: "acc-1", Device: "dev-1"}, Result: event.ResultFailure, Reason: event.ReasonBadPIN, Method: event.MethodPIN}}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ev.Time = int64(i) * 6e10
		d.OnEvent(c, detect.State{Principal: p}, ev)
	}
}
