package alert

import (
	"bytes"
	"encoding/json"
	"maps"
	"math"
	"testing"
	"time"

	"github.com/vigil-project/vigil/internal/event"
)

var t0 = time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC).UnixNano()

func mk(id, detector string, sec int, e Entities) *Alert {
	t := t0 + int64(sec)*int64(time.Second)
	return &Alert{ID: id, Time: t, FirstSeen: t, LastSeen: t, Tenant: "fleet-a", Category: CredentialAttack,
		Severity: event.SeverityHigh, Detector: detector, Title: "x", Explanation: "y", Entities: e,
		Evidence: []event.Ref{{Source: "s", ID: id}}, Mappings: DefaultMappings(CredentialAttack)}
}

func TestEveryCategoryHasMappings(t *testing.T) {
	for _, c := range Categories() {
		m := DefaultMappings(c)
		if len(m.R155) == 0 || m.ATM == nil || m.ATTACK == nil {
			t.Errorf("%s: incomplete mappings %+v", c, m)
		}
		if got, ok := ParseCategory(c.String()); !ok || got != c {
			t.Errorf("%s does not parse back", c)
		}
	}
	if len(Categories()) != 12 {
		t.Errorf("%d categories, the contract has 12", len(Categories()))
	}
}

func TestJSONHasEveryContractField(t *testing.T) {
	a := mk("al-1", "cred.x", 0, Entities{Vehicle: "V\"1", Vehicles: []string{"V2"}, Account: "a", IP: "192.0.2.1"})
	a.Incident = "inc-1"
	var got map[string]any
	if err := json.Unmarshal(AppendJSON(nil, a), &got); err != nil {
		t.Fatalf("invalid JSON: %v\n%s", err, AppendJSON(nil, a))
	}
	for _, f := range []string{"id", "time", "first_seen", "last_seen", "tenant", "category", "severity", "detector",
		"title", "explanation", "entities", "evidence", "mappings", "incident"} {
		if _, ok := got[f]; !ok {
			t.Errorf("field %s missing", f)
		}
	}
	if got["entities"].(map[string]any)["vehicle"] != "V\"1" || got["time"] != "2026-03-02T07:00:00Z" {
		t.Errorf("decoded %v", got)
	}
	m := got["mappings"].(map[string]any)
	if len(m["r155"].([]any)) == 0 || m["attack"].([]any)[0] != "T1110" {
		t.Errorf("mappings %v", m)
	}
}

func TestMakeIDIsStable(t *testing.T) {
	r := event.Ref{Source: "s", ID: "e1"}
	if MakeID("d", "t", "k", r) != MakeID("d", "t", "k", r) {
		t.Error("same inputs, different ids")
	}
	// Length-prefixing keeps ("ab","c") and ("a","bc") apart.
	if MakeID("ab", "c", "k", r) == MakeID("a", "bc", "k", r) {
		t.Error("ambiguous id")
	}
}

func TestManager(t *testing.T) {
	var out []*Alert
	var incs []*Incident
	m := NewManager(ManagerOptions{DedupWindow: 15 * time.Minute, IncidentWindow: time.Hour,
		Out: func(a *Alert, inc *Incident) { out = append(out, a); incs = append(incs, inc) }})
	steps := []struct {
		a      *Alert
		passed bool
	}{
		{mk("al-1", "d1", 0, Entities{Account: "acc-1"}), true},
		{mk("al-1", "d1", 0, Entities{Account: "acc-1"}), false},  // re-delivered
		{mk("al-2", "d1", 60, Entities{Account: "acc-1"}), false}, // same detector and entities within 15 m
		{mk("al-3", "d2", 120, Entities{Account: "acc-1", IP: "192.0.2.9"}), true},
		{mk("al-4", "d1", 30*60, Entities{Account: "acc-1"}), true}, // after the dedup window
		{mk("al-5", "d3", 0, Entities{IP: "198.51.100.1"}), true},   // unrelated: its own incident
		{mk("al-6", "d4", 600, Entities{IP: "192.0.2.9", Vehicle: "V1"}), true},
		{mk("al-7", "d1", 5*3600, Entities{Account: "acc-1"}), true}, // incident closed: a new one
	}
	for i, s := range steps {
		if got := m.Add(s.a); got != s.passed {
			t.Errorf("step %d (%s): passed %v, want %v", i, s.a.ID, got, s.passed)
		}
	}
	ids := map[string]string{}
	for i, a := range out {
		ids[a.ID] = incs[i].ID
	}
	if ids["al-1"] != ids["al-3"] || ids["al-3"] != ids["al-4"] || ids["al-6"] != ids["al-1"] {
		t.Errorf("alerts sharing entities within the window are in different incidents: %v", ids)
	}
	if ids["al-5"] == ids["al-1"] || ids["al-7"] == ids["al-1"] {
		t.Errorf("unrelated or later alerts joined the incident: %v", ids)
	}
	st := m.Stats()
	if st.Alerts != 6 || st.Duplicates != 2 || st.Incidents != 3 {
		t.Errorf("stats %+v, want 6 alerts, 2 duplicates, 3 incidents", st)
	}
	if inc := incs[0].root(); inc.Alerts != 4 || inc.Duplicates != 1 || len(inc.Categories) != 1 {
		t.Errorf("incident %+v", inc)
	}
}

func TestManagerMergesIncidents(t *testing.T) {
	var incs []*Incident
	m := NewManager(ManagerOptions{Out: func(_ *Alert, inc *Incident) { incs = append(incs, inc) }})
	m.Add(mk("al-1", "d1", 0, Entities{Vehicle: "V1"}))
	m.Add(mk("al-2", "d2", 10, Entities{Account: "acc-9"}))
	// This alert names both: the two incidents become one.
	m.Add(mk("al-3", "d3", 20, Entities{Vehicle: "V1", Account: "acc-9"}))
	if incs[0].root() != incs[1].root() || incs[0].root().Alerts != 3 {
		t.Errorf("incidents not merged: %+v %+v", incs[0].root(), incs[1].root())
	}
}

// TestManagerForgetsOnlyWhatEveryShardPassed: alerts come from shards
// that run at their own pace. A fast shard's alert hours ahead must not
// make the manager forget the fingerprint a slow shard's next alert
// repeats; the Clock (the time every shard reached) decides what is old.
func TestManagerForgetsOnlyWhatEveryShardPassed(t *testing.T) {
	for _, tc := range []struct {
		name   string
		clock  Clock
		passed bool // the slow shard's repeat
	}{
		{"no clock: the newest alert decides", nil, true},
		{"clock behind", &testClock{all: t0 + int64(2*time.Minute)}, false},
		{"clock unknown", &testClock{all: math.MinInt64}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := NewManager(ManagerOptions{Clock: tc.clock})
			m.Add(mk("slow-1", "d1", 0, Entities{Vehicle: "V1"}))
			m.Add(mk("fast-1", "d2", 5*3600, Entities{Vehicle: "V2"})) // a shard 5 h ahead: tidies
			if got := m.Add(mk("slow-2", "d1", 120, Entities{Vehicle: "V1"})); got != tc.passed {
				t.Errorf("the slow shard's repeat 2 min later passed %v, want %v", got, tc.passed)
			}
		})
	}
	// An alert stamped far in the future (an event whose clock is broken)
	// neither makes the manager forget nor stops it forgetting later.
	clk := &testClock{all: t0}
	m := NewManager(ManagerOptions{Clock: clk})
	m.Add(mk("b-1", "d1", 0, Entities{Vehicle: "V1"}))
	m.Add(mk("b-2", "d2", 30*24*3600, Entities{Vehicle: "V2"})) // a month ahead
	if got := m.Add(mk("b-3", "d1", 120, Entities{Vehicle: "V1"})); got {
		t.Error("a repeat 2 min later passed after an alert a month ahead")
	}
	clk.all = t0 + int64(5*time.Hour)
	m.Add(mk("b-4", "d3", 5*3600, Entities{Vehicle: "V3"}))
	if _, ok := m.prints[fingerprint(mk("b-1", "d1", 0, Entities{Vehicle: "V1"}))]; ok {
		t.Error("after an alert a month ahead, nothing is forgotten any more")
	}

	// Once the clock passes, the fingerprint is forgotten: memory stays bounded.
	clk = &testClock{all: t0}
	m = NewManager(ManagerOptions{Clock: clk})
	m.Add(mk("a-1", "d1", 0, Entities{Vehicle: "V1"}))
	clk.all = t0 + int64(5*time.Hour)
	m.Add(mk("a-2", "d2", 5*3600, Entities{Vehicle: "V2"}))
	if _, ok := m.prints[fingerprint(mk("a-1", "d1", 0, Entities{Vehicle: "V1"}))]; ok {
		t.Error("a fingerprint every shard has passed by hours was kept")
	}
}

// testClock is a Clock at one time for every tenant but those of tenants.
type testClock struct {
	all     int64
	tenants map[string]int64
}

func (c *testClock) Watermark() int64 { return c.all }

func (c *testClock) TenantWatermark(tenant string) int64 {
	if t, ok := c.tenants[tenant]; ok {
		return t
	}
	return c.all
}

// TestManagerKeepsALaggingTenantsMemory: a tenant whose events come hours
// behind another's (a backlog being sent) keeps its fingerprints and
// incidents until its own clock passes them, while the tenant ahead's are
// forgotten; after a snapshot too.
func TestManagerKeepsALaggingTenantsMemory(t *testing.T) {
	in := func(tenant string, a *Alert) *Alert { a.Tenant = tenant; return a }
	clk := &testClock{all: t0 + int64(5*time.Hour), tenants: map[string]int64{"behind": t0 + int64(2*time.Minute)}}
	var incs []string
	m := NewManager(ManagerOptions{Clock: clk, Out: func(a *Alert, inc *Incident) {
		if inc != nil {
			incs = append(incs, inc.ID)
		}
	}})
	m.Add(in("behind", mk("l-1", "d1", 0, Entities{Vehicle: "V1"})))
	shadow := in("behind", mk("l-s", "d4", 0, Entities{Vehicle: "V9"}))
	shadow.Shadow = true
	m.Add(shadow)
	m.Add(in("ahead", mk("l-2", "d2", 0, Entities{Vehicle: "V2"})))
	var snap bytes.Buffer
	if err := m.Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	r := NewManager(ManagerOptions{Clock: clk, Out: func(a *Alert, inc *Incident) {
		if inc != nil {
			incs = append(incs, inc.ID)
		}
	}})
	if err := r.Restore(&snap); err != nil {
		t.Fatal(err)
	}
	for name, m := range map[string]*Manager{"live": m, "restored": r} {
		incs = nil
		m.Add(in("ahead", mk("l-3", "d3", 5*3600, Entities{Vehicle: "V3"}))) // tidies
		if _, ok := m.prints[fingerprint(in("ahead", mk("l-2", "d2", 0, Entities{Vehicle: "V2"})))]; ok {
			t.Errorf("%s: the tenant ahead's fingerprint, hours behind its clock, was kept", name)
		}
		if m.Add(in("behind", mk("l-4", "d1", 120, Entities{Vehicle: "V1"}))) {
			t.Errorf("%s: the lagging tenant's repeat 2 min later passed as new", name)
		}
		shadow2 := in("behind", mk("l-s2", "d4", 120, Entities{Vehicle: "V9"}))
		shadow2.Shadow = true
		if m.Add(shadow2) {
			t.Errorf("%s: the lagging tenant's shadow repeat passed as new", name)
		}
		if m.Add(in("behind", mk("l-5", "d5", 130, Entities{Vehicle: "V1"}))); len(incs) != 2 || incs[1] != "inc-l-1" {
			t.Errorf("%s: the lagging tenant's next alert on V1 joined %v, want its open incident inc-l-1", name, incs)
		}
	}
}

// TestManagerTidiesAfterRestoringATidyAhead: a snapshot taken by a
// manager without a clock, after an alert a month ahead, restores a last
// tidy a month ahead of the engine's clock; tidying must not wait a month.
func TestManagerTidiesAfterRestoringATidyAhead(t *testing.T) {
	old := NewManager(ManagerOptions{})
	old.Add(mk("c-1", "d1", 0, Entities{Vehicle: "V1"}))
	old.Add(mk("c-2", "d2", 30*24*3600, Entities{Vehicle: "V2"})) // tidies at a month ahead
	old.Add(mk("c-3", "d1", 60, Entities{Vehicle: "V1"}))         // a new fingerprint after that tidy
	var snap bytes.Buffer
	if err := old.Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	m := NewManager(ManagerOptions{Clock: &testClock{all: t0 + int64(5*time.Hour)}})
	if err := m.Restore(&snap); err != nil {
		t.Fatal(err)
	}
	print1 := fingerprint(mk("c-3", "d1", 60, Entities{Vehicle: "V1"}))
	if _, ok := m.prints[print1]; !ok {
		t.Fatal("the restored manager lacks the fingerprint the test looks for")
	}
	m.Add(mk("c-4", "d3", 5*3600, Entities{Vehicle: "V3"}))
	if _, ok := m.prints[print1]; ok {
		t.Error("a last tidy restored a month ahead of the clock stopped tidying")
	}
}

func TestSuppressions(t *testing.T) {
	until := time.Unix(0, t0).Add(time.Hour)
	sups := []Suppression{
		{Tenant: "fleet-a", Detector: "mass.*", Entity: "fm-7", Reason: "nightly lock-all"},
		{Tenant: "*", Category: "data-exfiltration", Entity: "partner-x", Until: until, Reason: "export agreed until 08:00"},
	}
	for _, s := range sups {
		if err := s.Validate(); err != nil {
			t.Fatal(err)
		}
	}
	var passed []string
	m := NewManager(ManagerOptions{Suppressions: sups, Out: func(a *Alert, _ *Incident) { passed = append(passed, a.ID) }})
	mass := mk("m1", "mass.command-spread", 0, Entities{Account: "fm-7"})
	other := mk("m2", "mass.command-spread", 0, Entities{Account: "acc-9"})
	exfil := mk("x1", "access.bulk-read", 0, Entities{ClientID: "partner-x"})
	exfil.Category = DataExfiltration
	late := mk("x2", "access.bulk-read", 7200, Entities{ClientID: "partner-x"})
	late.Category = DataExfiltration
	for _, a := range []*Alert{mass, other, exfil, late} {
		m.Add(a)
	}
	if len(passed) != 2 || passed[0] != "m2" || passed[1] != "x2" {
		t.Errorf("passed %v, want m2 and x2", passed)
	}
	if st := m.Stats(); st.Suppressed["nightly lock-all"] != 1 || st.Suppressed["export agreed until 08:00"] != 1 {
		t.Errorf("suppressed %v", st.Suppressed)
	}
	for _, bad := range []Suppression{{Reason: "r", Detector: "x"}, {Tenant: "t", Detector: "x"}, {Tenant: "t", Reason: "r"}, {Tenant: "t", Reason: "r", Category: "nope"}} {
		if bad.Validate() == nil {
			t.Errorf("%+v validated", bad)
		}
	}
}

// TestManagerResumesStoredIncidents: after a restart the alerts raised
// since the checkpoint come again, here in another order than they first
// did (al-2 first opened inc-2 live; al-1 came first). Each joins the
// incident it was stored with, and a new alert naming one of their
// entities joins that incident too, not one of its own.
func TestManagerResumesStoredIncidents(t *testing.T) {
	ids := map[string]string{}
	m := NewManager(ManagerOptions{Out: func(a *Alert, inc *Incident) { ids[a.ID] = inc.root().ID }})
	m.Resume(map[string]string{"al-1": "inc-7", "al-2": "inc-7", "al-3": "inc-3"})
	m.Add(mk("al-2", "d2", 10, Entities{Account: "acc-9"}))
	m.Add(mk("al-1", "d1", 0, Entities{Vehicle: "V1", Account: "acc-9"}))
	m.Add(mk("al-3", "d3", 20, Entities{Vehicle: "V3"}))
	m.Resume(nil) // caught up
	m.Add(mk("al-4", "d4", 30, Entities{Vehicle: "V1"}))
	m.Add(mk("al-5", "d5", 40, Entities{Vehicle: "V5"}))
	want := map[string]string{"al-1": "inc-7", "al-2": "inc-7", "al-3": "inc-3", "al-4": "inc-7", "al-5": "inc-5"}
	if !maps.Equal(ids, want) {
		t.Errorf("incidents %v, want %v", ids, want)
	}
	if got := m.Stats().Incidents; got != 3 {
		t.Errorf("%d incidents opened, want 3", got)
	}
}

// TestManagerResumesARestoredIncident: an incident restored from the
// checkpoint is the one its alerts raised again join, even when the first
// of them names none of the keys that lead there yet.
func TestManagerResumesARestoredIncident(t *testing.T) {
	ids := map[string]*Incident{}
	m := NewManager(ManagerOptions{Out: func(a *Alert, inc *Incident) { ids[a.ID] = inc }})
	m.Add(mk("al-1", "d1", 0, Entities{Vehicle: "V1"})) // before the checkpoint: opens inc-1
	// After it, al-2 (V1 and acc-9) joined inc-1, then al-3 (acc-9 alone).
	// Raised again, al-3 comes first.
	m.Resume(map[string]string{"al-2": "inc-1", "al-3": "inc-1"})
	m.Add(mk("al-3", "d3", 20, Entities{Account: "acc-9"}))
	m.Add(mk("al-2", "d2", 10, Entities{Vehicle: "V1", Account: "acc-9"}))
	m.Resume(nil)
	inc := ids["al-1"]
	if ids["al-2"] != inc || ids["al-3"] != inc || inc.Alerts != 3 || inc.LastSeen != t0+20*int64(time.Second) {
		t.Errorf("al-2 in %+v, al-3 in %+v, want both in %+v with 3 alerts", ids["al-2"], ids["al-3"], inc)
	}
	if got := m.Stats().Incidents; got != 1 {
		t.Errorf("%d incidents opened, want 1", got)
	}
}
