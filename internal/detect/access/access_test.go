package access

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/detect/detecttest"
	"github.com/vigil-project/vigil/internal/directory"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/twin"
)

func detectors(t testing.TB, dir *directory.Directory, loc *time.Location) []detect.Detector {
	t.Helper()
	x, err := NewExfiltration(dir, detect.PerTenant[ExfilConfig]{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPrivileged(dir, detect.PerTenant[PrivilegedConfig]{Default: PrivilegedConfig{Location: loc}})
	if err != nil {
		t.Fatal(err)
	}
	return []detect.Detector{x, p}
}

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
	detecttest.Cases(t, func() []detect.Detector { return detectors(t, dir, nil) })
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []ExfilConfig{{SkipRoles: []string{"king"}}, {FleetRoles: []string{"x"}}, {RolePriors: map[string]float64{"y": 1}}} {
		if _, err := NewExfiltration(nil, detect.PerTenant[ExfilConfig]{Default: c}); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	for _, c := range []PrivilegedConfig{{Timezone: "Mars/Olympus"}, {Workdays: []string{"caturday"}}, {OfficeStart: 20, OfficeEnd: 7}} {
		if _, err := NewPrivileged(nil, detect.PerTenant[PrivilegedConfig]{Default: c}); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	if _, err := NewPrivileged(nil, detect.PerTenant[PrivilegedConfig]{Default: PrivilegedConfig{Timezone: "UTC", Workdays: []string{"Mon", "tuesday"}}}); err != nil {
		t.Error(err)
	}
}

// cet is the simulated fleet's local time in March.
var cet = time.FixedZone("CET", 3600)

// TestSimulatedFleet runs a simulated day of 2000 vehicles with data
// exfiltration and privileged misuse through both detectors, with the
// fleet's entitlements as the directory.
func TestSimulatedFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates a day")
	}
	for _, cat := range []alert.Category{alert.DataExfiltration, alert.PrivilegedMisuse} {
		for _, seed := range detecttest.Seeds {
			t.Run(fmt.Sprintf("%s,seed=%d", cat, seed), func(t *testing.T) {
				s := detecttest.NewSim(t, seed, cat)
				labels, alerts := detecttest.RunSim(t, s, detectors(t, detecttest.DirectoryOf(s), cet))
				recall, precision, report := detecttest.Score(labels, alerts, cat)
				t.Logf("%d labels, %d alerts: recall %.3f, precision %.3f%s", len(labels), len(alerts), recall, precision, report)
				if recall < 0.95 || precision < 0.95 {
					t.Errorf("recall %.3f, precision %.3f; want both ≥ 0.95", recall, precision)
				}
				for _, a := range alerts {
					if a.Category != cat && a.Category != alert.DataExfiltration && a.Category != alert.PrivilegedMisuse {
						t.Errorf("alert of category %s", a.Category)
					}
				}
			})
		}
	}
}

func benchDirectory() *directory.Directory {
	dir := directory.New()
	for i := range 100_000 {
		dir.Link("t", directory.Account, fmt.Sprint("acc-", i), fmt.Sprint("V", i), event.RoleOwner)
	}
	for i := range 300 {
		dir.Link("t", directory.Account, "fm-1", fmt.Sprint("F", i), event.RoleFleetManager)
	}
	return dir
}

// BenchmarkOwnerRead is the hot path: an owner reading its own car's status
// and location, with the directory asked each time.
func BenchmarkOwnerRead(b *testing.B) {
	d := detectors(b, benchDirectory(), nil)[0]
	p := &twin.Principal{}
	c := detecttest.Context(d, detect.KindAccount, "acc-7")
	ev := &event.Event{ID: "r", Source: "api", Type: event.TypeAPIAccess, Subject: "V7",
		APIAccess: &event.APIAccess{Actor: event.Actor{Account: "acc-7", IP: "192.0.2.7", Role: event.RoleOwner},
			Route: "/v1/vehicles/{vin}/location", Vehicles: []string{"V7"}, Status: 200, Fields: event.FieldLocation}}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ev.Time = int64(i) * 6e10
		d.OnEvent(c, detect.State{Principal: p}, ev)
	}
}

// BenchmarkFleetList is a fleet manager's dashboard: a list call of its 300
// vehicles, each checked against the directory.
func BenchmarkFleetList(b *testing.B) {
	d := detectors(b, benchDirectory(), nil)[0]
	p := &twin.Principal{}
	c := detecttest.Context(d, detect.KindAccount, "fm-1")
	vs := make([]string, 300)
	for i := range vs {
		vs[i] = fmt.Sprint("F", i)
	}
	ev := &event.Event{ID: "r", Source: "api", Type: event.TypeAPIAccess,
		APIAccess: &event.APIAccess{Actor: event.Actor{Account: "fm-1", IP: "192.0.2.5", Role: event.RoleFleetManager},
			Route: "/v1/fleets/{fleet}/vehicles", Vehicles: vs, Status: 200, Fields: event.FieldLocation | event.FieldVIN}}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ev.Time = int64(i) * 12e11
		d.OnEvent(c, detect.State{Principal: p}, ev)
	}
}

// BenchmarkEnumeration is an address walking serial numbers, 404 after
// 404: the lookup window stays full and is searched each time.
func BenchmarkEnumeration(b *testing.B) {
	d := detectors(b, nil, nil)[0]
	p := &twin.Principal{}
	c := detecttest.Context(d, detect.KindAccount, "acc-x")
	vins := make([]string, 4096)
	for i := range vins {
		vins[i] = fmt.Sprintf("WVWZZZ1KZSA%06d", i)
	}
	ev := &event.Event{ID: "r", Source: "api", Type: event.TypeAPIAccess,
		APIAccess: &event.APIAccess{Actor: event.Actor{Account: "acc-x", IP: "192.0.2.9"}, Route: "/v1/vehicles/{vin}/status", Status: 404}}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ev.Time, ev.APIAccess.Vehicles = int64(i)*1e9, vins[i%len(vins):i%len(vins)+1]
		d.OnEvent(c, detect.State{Principal: p}, ev)
	}
}

// BenchmarkStaffRead is a staff member opening support cases in office hours.
func BenchmarkStaffRead(b *testing.B) {
	d := detectors(b, nil, nil)[1]
	p := &twin.Principal{}
	c := detecttest.Context(d, detect.KindAccount, "staff-1")
	vins := make([]string, 1024)
	for i := range vins {
		vins[i] = fmt.Sprint("V", i)
	}
	day := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC).UnixNano()
	ev := &event.Event{ID: "r", Source: "api", Type: event.TypeAPIAccess,
		APIAccess: &event.APIAccess{Actor: event.Actor{Account: "staff-1", Role: event.RoleStaff}, Route: "/v1/support/vehicles/{vin}",
			Status: 200, Fields: event.FieldName | event.FieldEmail}}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ev.Time, ev.APIAccess.Vehicles = day+int64(i%3600)*1e9, vins[i%len(vins):i%len(vins)+1]
		d.OnEvent(c, detect.State{Principal: p}, ev)
	}
}
