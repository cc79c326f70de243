package mass

import (
	"fmt"
	"os"
	"testing"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/detect/detecttest"
	"github.com/vigil-project/vigil/internal/directory"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/twin"
)

func TestCases(t *testing.T) {
	f, err := os.Open("testdata/directory.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dir, err := directory.Load(f)
	if err != nil {
		t.Fatal(err)
	}
	detecttest.Cases(t, func() []detect.Detector { return []detect.Detector{mustNew(t, dir)} })
}

func mustNew(t testing.TB, dir *directory.Directory) *Mass {
	t.Helper()
	m, err := New(dir, detect.PerTenant[Config]{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		roles map[string]int
		ok    bool
	}{{nil, true}, {map[string]int{"fleet_manager": 500}, true}, {map[string]int{"king": 5}, false}, {map[string]int{"owner": 0}, false}} {
		_, err := New(nil, detect.PerTenant[Config]{Default: Config{RoleVehicles: c.roles}})
		if (err == nil) != c.ok {
			t.Errorf("New with role_vehicles %v: %v", c.roles, err)
		}
	}
}

// TestSimulatedFleet runs a simulated day of 2000 vehicles with mass
// commands through the detector, with the fleet's entitlements as the
// directory (and without any: fleet managers are then judged by role).
func TestSimulatedFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates a day")
	}
	runs := []struct {
		seed    int64
		withDir bool
	}{{detecttest.Seeds[0], true}, {detecttest.Seeds[1], true}, {detecttest.Seeds[1], false}}
	for _, r := range runs {
		seed, withDir := r.seed, r.withDir
		{
			t.Run(fmt.Sprintf("seed=%d,directory=%v", seed, withDir), func(t *testing.T) {
				s := detecttest.NewSim(t, seed, alert.MassCommand)
				var dir *directory.Directory
				if withDir {
					dir = detecttest.DirectoryOf(s)
				}
				labels, alerts := detecttest.RunSim(t, s, []detect.Detector{mustNew(t, dir)})
				recall, precision, report := detecttest.Score(labels, alerts, alert.MassCommand)
				t.Logf("%d labels, %d alerts: recall %.3f, precision %.3f%s", len(labels), len(alerts), recall, precision, report)
				if recall < 0.95 || precision < 0.95 {
					t.Errorf("recall %.3f, precision %.3f; want both ≥ 0.95", recall, precision)
				}
			})
		}
	}
}

// BenchmarkCommand is the hot path: an owner commanding its own car, every
// stage of each command, with the directory asked each time.
func BenchmarkCommand(b *testing.B) {
	dir := directory.New()
	for i := range 100_000 {
		dir.Link("t", directory.Account, fmt.Sprint("acc-", i), fmt.Sprint("V", i), event.RoleOwner)
	}
	m := mustNew(b, dir)
	p := &twin.Principal{}
	c := detecttest.Context(m, detect.KindAccount, "acc-7")
	ev := &event.Event{ID: "c", Source: "api", Type: event.TypeCommand, Subject: "V7",
		Command: &event.Command{CommandID: "cmd-1", Command: event.CmdLock, Actor: event.Actor{Account: "acc-7", Role: event.RoleOwner}}}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ev.Time, ev.Command.Stage = int64(i)*1e9, event.Stage(1+i%4)
		m.OnEvent(c, detect.State{Principal: p}, ev)
	}
}

// BenchmarkSpread is an account commanding vehicles it is not entitled to,
// a new one every second: the window fills and is searched each time.
func BenchmarkSpread(b *testing.B) {
	m := mustNew(b, nil)
	p := &twin.Principal{}
	c := detecttest.Context(m, detect.KindAccount, "fm-1")
	vins := make([]string, 1000)
	for i := range vins {
		vins[i] = fmt.Sprint("V", i)
	}
	ev := &event.Event{ID: "c", Source: "api", Type: event.TypeCommand,
		Command: &event.Command{CommandID: "cmd-1", Command: event.CmdLock, Stage: event.StageRequested, Actor: event.Actor{Account: "fm-1", Role: event.RoleFleetManager}}}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ev.Time, ev.Subject = int64(i)*1e9, vins[i%len(vins)]
		m.OnEvent(c, detect.State{Principal: p}, ev)
	}
}
