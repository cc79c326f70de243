package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/store"
)

var incidentTests = []test{
	{"Incidents/UpsertMerges", testIncidentMerge},
	{"Incidents/FromManager", testIncidentFromManager},
	{"Incidents/UpdateAndHistory", testIncidentUpdate},
	{"Incidents/NewAlertReopens", testIncidentReopen},
	{"Incidents/List", testIncidentList},
	{"Incidents/StoreDetectionsWhole", testStoreDetections},
}

// StoreDetections stores the alerts and their incidents together, or
// neither: an incident the store refuses takes its batch's alerts with it.
func testStoreDetections(t *testing.T, b Backend) {
	s := open(t, b)
	a1 := inIncident(mkAlert("fleet-a", "al-1", 10, alert.AccountTakeover, event.SeverityHigh, "VIN1"), "inc-1")
	a2 := inIncident(mkAlert("fleet-a", "al-2", 11, alert.AccountTakeover, event.SeverityHigh, "VIN1"), "inc-1")
	inc := mkIncident("fleet-a", "inc-1", 10, 11, event.SeverityHigh, []alert.Category{alert.AccountTakeover}, []string{"al-1", "al-2"}, vin1)
	created, err := s.StoreDetections(ctx, all, []*alert.Alert{a1, a2}, []store.Incident{inc})
	wantErr(t, "StoreDetections", err, nil)
	equal(t, "created", created, []bool{true, true})
	d, err := s.GetIncident(ctx, onlyA, "inc-1")
	wantErr(t, "GetIncident", err, nil)
	if d.Incident.AlertCount != 2 || len(d.Alerts) != 2 {
		t.Fatalf("incident %+v with %d alerts: want 2", d.Incident, len(d.Alerts))
	}
	// Again: nothing new, nothing doubled.
	created, err = s.StoreDetections(ctx, all, []*alert.Alert{a1, a2}, []store.Incident{inc})
	wantErr(t, "StoreDetections again", err, nil)
	equal(t, "created again", created, []bool{false, false})
	// Raised again under another incident id (a restart replays the
	// archive, and the shards' alerts may meet the alert manager in another
	// order): an alert keeps the incident it was stored with, and an
	// incident naming only such alerts is not written. A new alert in the
	// same call is linked as usual.
	a7 := inIncident(mkAlert("fleet-a", "al-7", 12, alert.AccountTakeover, event.SeverityHigh, "VIN1"), "inc-7")
	again := func(a *alert.Alert, incident string) *alert.Alert { c := *a; c.Incident = incident; return &c }
	created, err = s.StoreDetections(ctx, all, []*alert.Alert{again(a2, "inc-2"), again(a1, "inc-2"), a7}, []store.Incident{
		mkIncident("fleet-a", "inc-2", 11, 11, event.SeverityHigh, []alert.Category{alert.AccountTakeover}, []string{"al-2"}, vin1),
		mkIncident("fleet-a", "inc-2", 10, 11, event.SeverityHigh, []alert.Category{alert.AccountTakeover}, []string{"al-1"}, vin1),
		mkIncident("fleet-a", "inc-7", 11, 12, event.SeverityHigh, []alert.Category{alert.AccountTakeover}, []string{"al-2", "al-7"}, vin1),
	})
	wantErr(t, "StoreDetections raised again", err, nil)
	equal(t, "created, raised again", created, []bool{false, false, true})
	_, err = s.GetIncident(ctx, onlyA, "inc-2")
	wantErr(t, "an incident of alerts stored before", err, store.ErrNotFound)
	for _, id := range []string{"al-1", "al-2"} {
		if got, err := s.GetAlert(ctx, onlyA, id); err != nil || got.Incident != "inc-1" {
			t.Errorf("%s raised again under inc-2 names incident %q (%v), want inc-1, which counts it", id, got.Incident, err)
		}
	}
	d7, err := s.GetIncident(ctx, onlyA, "inc-7")
	wantErr(t, "GetIncident", err, nil)
	if d7.Incident.AlertCount != 1 || len(d7.Alerts) != 1 || d7.Alerts[0].ID != "al-7" {
		t.Fatalf("an incident of an alert stored before and a new one: %+v with %d alerts, want al-7 alone", d7.Incident, len(d7.Alerts))
	}
	if d, err = s.GetIncident(ctx, onlyA, "inc-1"); err != nil || d.Incident.AlertCount != 2 || len(d.Alerts) != 2 {
		t.Fatalf("the first incident after its alerts were raised again: %+v, %v", d.Incident, err)
	}
	// An old alert's entry is dropped before the entries of one id are
	// folded: its span, severity and entities do not reach the new incident.
	a8 := inIncident(mkAlert("fleet-a", "al-8", 49, alert.AccountTakeover, event.SeverityLow, "VIN2"), "inc-8")
	_, err = s.StoreDetections(ctx, all, []*alert.Alert{a1, a8}, []store.Incident{
		mkIncident("fleet-a", "inc-8", 1, 10, event.SeverityCritical, []alert.Category{alert.UnsafeCommand}, []string{"al-1"}, vin1),
		mkIncident("fleet-a", "inc-8", 49, 49, event.SeverityLow, []alert.Category{alert.AccountTakeover}, []string{"al-8"}, vin2),
	})
	wantErr(t, "StoreDetections, an old alert and a new one in one incident", err, nil)
	d8, err := s.GetIncident(ctx, onlyA, "inc-8")
	wantErr(t, "GetIncident", err, nil)
	if in := d8.Incident; in.FirstSeen != at(49) || in.Severity != event.SeverityLow || in.AlertCount != 1 {
		t.Fatalf("the new alert's incident took the old alert's entry: %+v", in)
	}
	equal(t, "its entities", d8.Incident.Entities, []store.Entity{vin2})
	equal(t, "its categories", d8.Incident.Categories, []alert.Category{alert.AccountTakeover})
	// An entry dropped so is not a conflict either: another tenant's
	// incident id named only for an old alert writes nothing and fails nothing.
	upsertAlerts(t, s, mkAlert("fleet-b", "al-b1", 5, alert.AccountTakeover, event.SeverityHigh, "VIN2"))
	upsertIncidents(t, s, mkIncident("fleet-b", "inc-b", 5, 5, event.SeverityHigh, []alert.Category{alert.AccountTakeover}, []string{"al-b1"}, vin2))
	_, err = s.StoreDetections(ctx, all, []*alert.Alert{a1}, []store.Incident{
		mkIncident("fleet-b", "inc-b", 10, 10, event.SeverityHigh, []alert.Category{alert.AccountTakeover}, []string{"al-1"}, vin1)})
	wantErr(t, "an old alert's entry naming another tenant's incident", err, nil)
	// An alert stored before under the same incident still widens it (an
	// updated alert).
	a2up := inIncident(mkAlert("fleet-a", "al-2", 11, alert.AccountTakeover, event.SeverityCritical, "VIN1"), "inc-1")
	_, err = s.StoreDetections(ctx, all, []*alert.Alert{a2up}, []store.Incident{
		mkIncident("fleet-a", "inc-1", 11, 13, event.SeverityCritical, []alert.Category{alert.AccountTakeover}, []string{"al-2"}, vin1)})
	wantErr(t, "StoreDetections, an updated alert", err, nil)
	if d, err = s.GetIncident(ctx, onlyA, "inc-1"); err != nil || d.Incident.Severity != event.SeverityCritical || d.Incident.LastSeen != at(13) || d.Incident.AlertCount != 2 {
		t.Fatalf("an updated alert's own incident: %+v, %v", d.Incident, err)
	}
	// A later alert naming entities the incident lists: the span widens,
	// the entity list stays as it is.
	a4 := inIncident(mkAlert("fleet-a", "al-4", 20, alert.AccountTakeover, event.SeverityCritical, "VIN1"), "inc-1")
	later := mkIncident("fleet-a", "inc-1", 19, 20, event.SeverityCritical, []alert.Category{alert.AccountTakeover}, []string{"al-4"}, vin1)
	_, err = s.StoreDetections(ctx, all, []*alert.Alert{a4}, []store.Incident{later})
	wantErr(t, "StoreDetections later", err, nil)
	d2, err := s.GetIncident(ctx, onlyA, "inc-1")
	wantErr(t, "GetIncident", err, nil)
	if in := d2.Incident; in.LastSeen != at(20) || in.FirstSeen != at(10) || in.Severity != event.SeverityCritical || in.AlertCount != 3 {
		t.Fatalf("after a later alert: %+v", in)
	}
	equal(t, "entities", d2.Incident.Entities, d.Incident.Entities)

	// One call naming an incident once per alert (a campaign's alerts
	// gathered together): merged as if stored one after the other.
	a5 := inIncident(mkAlert("fleet-a", "al-5", 30, alert.MassCommand, event.SeverityHigh, "VIN5"), "inc-5")
	a6 := inIncident(mkAlert("fleet-a", "al-6", 31, alert.MassCommand, event.SeverityCritical, "VIN6"), "inc-5")
	vin5, vin6 := store.Entity{Kind: store.EntityVehicle, Value: "VIN5"}, store.Entity{Kind: store.EntityVehicle, Value: "VIN6"}
	_, err = s.StoreDetections(ctx, all, []*alert.Alert{a5, a6}, []store.Incident{
		mkIncident("fleet-a", "inc-5", 30, 30, event.SeverityHigh, []alert.Category{alert.MassCommand}, []string{"al-5"}, vin5),
		mkIncident("fleet-a", "inc-5", 29, 31, event.SeverityCritical, []alert.Category{alert.UnsafeCommand}, []string{"al-6", "al-5"}, vin6, vin5),
	})
	wantErr(t, "StoreDetections naming one incident twice", err, nil)
	d5, err := s.GetIncident(ctx, onlyA, "inc-5")
	wantErr(t, "GetIncident", err, nil)
	if in := d5.Incident; in.FirstSeen != at(29) || in.LastSeen != at(31) || in.Severity != event.SeverityCritical || in.AlertCount != 2 {
		t.Fatalf("an incident named twice in one call: %+v", in)
	}
	equal(t, "its entities", d5.Incident.Entities, []store.Entity{vin5, vin6})
	equal(t, "its categories", d5.Incident.Categories, []alert.Category{alert.UnsafeCommand, alert.MassCommand}) // contract order
	equal(t, "its history", len(d5.History), 1)

	// inc-1 exists in fleet-a: an incident of that id in fleet-b is a
	// conflict, found inside the transaction; its alert is not stored.
	b3 := mkAlert("fleet-b", "al-3", 12, alert.AccountTakeover, event.SeverityHigh, "VIN2")
	clash := mkIncident("fleet-b", "inc-1", 12, 12, event.SeverityHigh, []alert.Category{alert.AccountTakeover}, []string{"al-3"}, vin2)
	_, err = s.StoreDetections(ctx, all, []*alert.Alert{b3}, []store.Incident{clash})
	wantErr(t, "StoreDetections with a conflicting incident", err, store.ErrConflict)
	_, err = s.GetAlert(ctx, all, "al-3")
	wantErr(t, "the conflicting batch's alert", err, store.ErrNotFound)
	// Scopes hold for both halves.
	_, err = s.StoreDetections(ctx, onlyA, []*alert.Alert{b3}, nil)
	wantErr(t, "an alert outside the scope", err, store.ErrForbidden)
	_, err = s.StoreDetections(ctx, onlyA, nil, []store.Incident{clash})
	wantErr(t, "an incident outside the scope", err, store.ErrForbidden)
}

// inIncident sets the incident the alert manager gave a.
func inIncident(a *alert.Alert, id string) *alert.Alert {
	a.Incident = id
	return a
}

func mkIncident(tenant, id string, first, last int, sev event.Severity, cats []alert.Category, alertIDs []string, ents ...store.Entity) store.Incident {
	return store.Incident{ID: id, Tenant: tenant, FirstSeen: at(first), LastSeen: at(last), Severity: sev,
		Categories: cats, AlertIDs: alertIDs, Entities: ents}
}

func upsertIncidents(t *testing.T, s store.Store, incs ...store.Incident) []bool {
	t.Helper()
	created, err := s.UpsertIncidents(ctx, all, incs)
	if err != nil {
		t.Fatalf("UpsertIncidents: %v", err)
	}
	return created
}

var (
	vin1 = store.Entity{Kind: store.EntityVehicle, Value: "VIN1"}
	vin2 = store.Entity{Kind: store.EntityVehicle, Value: "VIN2"}
	acc1 = store.Entity{Kind: store.EntityAccount, Value: "acc-1"}
)

func testIncidentMerge(t *testing.T, b Backend) {
	s := open(t, b)
	upsertAlerts(t, s,
		mkAlert("fleet-a", "al-1", 10, alert.AccountTakeover, event.SeverityMedium, "VIN1"),
		mkAlert("fleet-a", "al-2", 5, alert.UnauthorizedCommand, event.SeverityCritical, "VIN1"),
		mkAlert("fleet-b", "al-b", 5, alert.UnauthorizedCommand, event.SeverityCritical, "VIN1"))
	first := mkIncident("fleet-a", "inc-1", 9, 10, event.SeverityMedium, []alert.Category{alert.AccountTakeover}, []string{"al-1"}, vin1, acc1)
	second := mkIncident("fleet-a", "inc-1", 4, 5, event.SeverityCritical, []alert.Category{alert.UnauthorizedCommand},
		[]string{"al-2", "al-1", "al-b"}, acc1, vin2)
	equal(t, "created", upsertIncidents(t, s, first), []bool{true})
	equal(t, "merged", upsertIncidents(t, s, second), []bool{false})
	before, err := s.GetIncident(ctx, onlyA, "inc-1")
	wantErr(t, "GetIncident", err, nil)
	// Re-delivering either is a no-op.
	upsertIncidents(t, s, first, second)
	d, err := s.GetIncident(ctx, onlyA, "inc-1")
	wantErr(t, "GetIncident", err, nil)
	equal(t, "idempotent merge", d, before)
	in := d.Incident
	if in.FirstSeen != at(4) || in.LastSeen != at(10) || in.Severity != event.SeverityCritical || in.AlertCount != 3 {
		t.Fatalf("merged incident %+v: want span 4–10 min, critical, 3 alerts", in)
	}
	equal(t, "categories in contract order", in.Categories, []alert.Category{alert.AccountTakeover, alert.UnauthorizedCommand})
	equal(t, "entities sorted", in.Entities, []store.Entity{acc1, vin1, vin2})
	equal(t, "status", in.Status, store.StatusNew)
	// Its alerts, oldest first, of its own tenant only.
	equal(t, "alerts", alertIDs(d.Alerts), []string{"al-2", "al-1"})
	if len(d.History) != 1 || d.History[0].Action != "created" || d.History[0].Actor != "vigil" {
		t.Fatalf("history %+v: want one created entry", d.History)
	}
	_, err = s.UpsertIncidents(ctx, all, []store.Incident{mkIncident("fleet-b", "inc-1", 1, 1, event.SeverityLow, nil, nil)})
	wantErr(t, "same id in another tenant", err, store.ErrConflict)
	_, err = s.UpsertIncidents(ctx, all, []store.Incident{mkIncident("fleet-a", "inc-2", 5, 1, event.SeverityLow, nil, nil)})
	wantErr(t, "last before first", err, store.ErrInvalid)
}

// testIncidentFromManager stores what the alert manager hands out.
func testIncidentFromManager(t *testing.T, b Backend) {
	s := open(t, b)
	var fail error
	m := alert.NewManager(alert.ManagerOptions{Out: func(a *alert.Alert, inc *alert.Incident) {
		if _, err := s.UpsertAlerts(ctx, all, []*alert.Alert{a}); err != nil && fail == nil {
			fail = err
		}
		if _, err := s.UpsertIncidents(ctx, all, []store.Incident{store.IncidentUpsert(inc, a)}); err != nil && fail == nil {
			fail = err
		}
	}})
	for i, a := range []*alert.Alert{
		mkAlert("fleet-a", "al-1", 1, alert.CredentialAttack, event.SeverityMedium, "VIN1"),
		mkAlert("fleet-a", "al-2", 2, alert.AccountTakeover, event.SeverityHigh, "VIN1"),
		mkAlert("fleet-a", "al-3", 3, alert.MassCommand, event.SeverityLow, "VIN9"),
	} {
		a.Detector = fmt.Sprintf("det-%d", i)
		m.Add(a)
	}
	if fail != nil {
		t.Fatal(fail)
	}
	page, err := s.ListIncidents(ctx, onlyA, store.IncidentQuery{Order: store.OldestFirst})
	wantErr(t, "ListIncidents", err, nil)
	if len(page.Incidents) != 2 || page.Incidents[0].AlertCount != 2 || page.Incidents[1].AlertCount != 1 {
		t.Fatalf("incidents %+v: want one of two alerts (VIN1) and one of one (VIN9)", page.Incidents)
	}
	a, err := s.GetAlert(ctx, onlyA, "al-2")
	wantErr(t, "GetAlert", err, nil)
	equal(t, "alert's incident", a.Incident, page.Incidents[0].ID)
}

func testIncidentUpdate(t *testing.T, b Backend) {
	s := open(t, b)
	upsertIncidents(t, s, mkIncident("fleet-a", "inc-1", 1, 2, event.SeverityHigh, nil, nil, vin1))
	steps := []struct {
		change store.IncidentChange
		want   []string // history actions added
	}{
		{store.IncidentChange{Actor: "ana", Status: store.StatusAcknowledged, Assignee: ptr("ana")}, []string{"status", "assignee"}},
		{store.IncidentChange{Actor: "ana", Comment: "owner confirms the phone was stolen"}, []string{"comment"}},
		{store.IncidentChange{Actor: "bo", Status: store.StatusAcknowledged}, nil}, // no change, no history
		{store.IncidentChange{Actor: "bo", Status: store.StatusResolved, Comment: "token revoked",
			Audit: &store.AuditEntry{Actor: "bo", Action: "incident.resolve", Tenant: "fleet-a", Target: "inc-1"}}, []string{"status", "comment"}},
	}
	var want []string
	var d store.IncidentDetail
	for i, st := range steps {
		st.change.ID = "inc-1"
		var err error
		d, err = s.UpdateIncident(ctx, onlyA, st.change)
		wantErr(t, fmt.Sprintf("step %d", i), err, nil)
		want = append(want, st.want...)
		var got []string
		for _, h := range d.History[1:] {
			got = append(got, h.Action)
		}
		equal(t, fmt.Sprintf("history after step %d", i), got, want)
	}
	equal(t, "status", d.Status, store.StatusResolved)
	equal(t, "assignee", d.Assignee, "ana")
	h := d.History
	equal(t, "status change", [3]string{h[1].Actor, h[1].Old, h[1].New}, [3]string{"ana", "new", "acknowledged"})
	equal(t, "assignee change", [3]string{h[2].Actor, h[2].Old, h[2].New}, [3]string{"ana", "", "ana"})
	equal(t, "comment", [2]string{h[3].Action, h[3].New}, [2]string{"comment", "owner confirms the phone was stolen"})
	equal(t, "resolution", [3]string{h[4].Actor, h[4].Old, h[4].New}, [3]string{"bo", "acknowledged", "resolved"})
	for _, e := range h {
		if e.Time == 0 {
			t.Fatalf("history entry without time: %+v", e)
		}
	}
	stored, _ := s.GetIncident(ctx, onlyA, "inc-1")
	equal(t, "stored", stored, d)
	entries, _ := s.ExportAudit(ctx, all, store.AuditQuery{})
	if len(entries) != 1 || entries[0].Action != "incident.resolve" {
		t.Fatalf("audit: %+v", entries)
	}
	_, err := s.UpdateIncident(ctx, onlyA, store.IncidentChange{ID: "inc-404", Actor: "ana", Comment: "x"})
	wantErr(t, "missing", err, store.ErrNotFound)
	_, err = s.UpdateIncident(ctx, onlyA, store.IncidentChange{ID: "inc-1", Comment: "who?"})
	wantErr(t, "no actor", err, store.ErrInvalid)
	_, err = s.UpdateIncident(ctx, onlyA, store.IncidentChange{ID: "inc-1", Actor: "ana"})
	wantErr(t, "nothing to change", err, store.ErrInvalid)
}

// testIncidentReopen: an alert joining a resolved or false-positive
// incident reopens it (status new, in the history as vigil's change) when
// it is new evidence: its last event after the incident was closed, and at
// least as severe as the incident. The same alerts delivered again, new
// entities alone, an old alert under a new id (an archive replayed) and a
// milder alert do not.
func testIncidentReopen(t *testing.T, b Backend) {
	s := open(t, b)
	later := func(a *alert.Alert) *alert.Alert { // after the analyst's close, which the store stamps now
		a.LastSeen = time.Now().Add(time.Hour).UnixNano()
		return a
	}
	for _, closed := range []store.Status{store.StatusResolved, store.StatusFalsePositive} {
		id, name := "inc-"+closed.String(), func(n string) string { return n + "-" + closed.String() }
		upsertAlerts(t, s, mkAlert("fleet-a", name("al-1"), 1, alert.UnauthorizedCommand, event.SeverityHigh, "VIN1"),
			mkAlert("fleet-a", name("al-old"), 2, alert.UnauthorizedCommand, event.SeverityHigh, "VIN1"),
			later(mkAlert("fleet-a", name("al-low"), 3, alert.UnauthorizedCommand, event.SeverityLow, "VIN1")),
			later(mkAlert("fleet-a", name("al-new"), 4, alert.UnauthorizedCommand, event.SeverityHigh, "VIN1")))
		upsertIncidents(t, s, mkIncident("fleet-a", id, 1, 1, event.SeverityHigh, []alert.Category{alert.UnauthorizedCommand}, []string{name("al-1")}, vin1))
		_, err := s.UpdateIncident(ctx, onlyA, store.IncidentChange{ID: id, Actor: "ana", Status: closed})
		wantErr(t, "close", err, nil)
		for _, c := range []struct {
			what   string
			alerts []string
			ents   []store.Entity
		}{
			{"the same alert again, and a new entity", []string{name("al-1")}, []store.Entity{vin1, acc1}},
			{"an alert from before the close under a new id", []string{name("al-old")}, []store.Entity{vin1}},
			{"a milder alert after the close", []string{name("al-low")}, []store.Entity{vin1}},
		} {
			upsertIncidents(t, s, mkIncident("fleet-a", id, 1, 3, event.SeverityHigh, nil, c.alerts, c.ents...))
			d, err := s.GetIncident(ctx, onlyA, id)
			wantErr(t, "GetIncident", err, nil)
			equal(t, closed.String()+": status after "+c.what, d.Status, closed)
		}
		// New evidence: open again, by vigil, after the analyst's change.
		upsertIncidents(t, s, mkIncident("fleet-a", id, 1, 4, event.SeverityHigh, nil, []string{name("al-new")}, vin1))
		d, err := s.GetIncident(ctx, onlyA, id)
		wantErr(t, "GetIncident", err, nil)
		equal(t, closed.String()+": status after a new alert", d.Status, store.StatusNew)
		equal(t, closed.String()+": alerts", d.AlertCount, 4)
		last := d.History[len(d.History)-1]
		equal(t, closed.String()+": reopening", [4]string{last.Actor, last.Action, last.Old, last.New}, [4]string{"vigil", "status", closed.String(), "new"})
		page, err := s.ListIncidents(ctx, onlyA, store.IncidentQuery{Statuses: []store.Status{store.StatusNew}})
		wantErr(t, "ListIncidents", err, nil)
		found := false
		for _, in := range page.Incidents {
			found = found || in.ID == id
		}
		if !found {
			t.Errorf("%s: the reopened incident is not among the new ones: %+v", closed, page.Incidents)
		}
	}
}

func testIncidentList(t *testing.T, b Backend) {
	s := open(t, b)
	upsertIncidents(t, s,
		mkIncident("fleet-a", "i01", 1, 5, event.SeverityLow, []alert.Category{alert.CredentialAttack}, nil, vin1),
		mkIncident("fleet-a", "i02", 3, 4, event.SeverityHigh, []alert.Category{alert.MassCommand, alert.CredentialAttack}, nil, vin2, acc1),
		mkIncident("fleet-b", "i03", 6, 9, event.SeverityCritical, []alert.Category{alert.MassCommand}, nil, vin1),
		mkIncident("fleet-a", "i04", 8, 9, event.SeverityMedium, []alert.Category{alert.FirmwareTampering}, nil, vin2),
	)
	_, err := s.UpdateIncident(ctx, all, store.IncidentChange{ID: "i02", Actor: "ana", Status: store.StatusResolved, Assignee: ptr("ana")})
	wantErr(t, "UpdateIncident", err, nil)
	cases := []struct {
		name  string
		scope store.Scope
		q     store.IncidentQuery
		want  []string
	}{
		{"all", all, store.IncidentQuery{}, []string{"i04", "i03", "i02", "i01"}},
		{"oldest first", all, store.IncidentQuery{Order: store.OldestFirst}, []string{"i01", "i02", "i03", "i04"}},
		{"scope", onlyA, store.IncidentQuery{}, []string{"i04", "i02", "i01"}},
		{"tenant", all, store.IncidentQuery{Tenant: "fleet-b"}, []string{"i03"}},
		{"category", all, store.IncidentQuery{Category: alert.CredentialAttack}, []string{"i02", "i01"}},
		{"min severity", all, store.IncidentQuery{MinSeverity: event.SeverityMedium}, []string{"i04", "i03", "i02"}},
		{"status", all, store.IncidentQuery{Statuses: []store.Status{store.StatusNew, store.StatusAcknowledged}}, []string{"i04", "i03", "i01"}},
		{"assigned", all, store.IncidentQuery{Assignee: ptr("ana")}, []string{"i02"}},
		{"unassigned", onlyA, store.IncidentQuery{Assignee: ptr("")}, []string{"i04", "i01"}},
		{"entity", all, store.IncidentQuery{Entity: vin1}, []string{"i03", "i01"}},
		{"entity value", all, store.IncidentQuery{Entity: store.Entity{Value: "acc-1"}}, []string{"i02"}},
		{"active in range", all, store.IncidentQuery{From: at(5), To: at(7)}, []string{"i03", "i01"}},
		{"ids", all, store.IncidentQuery{IDs: []string{"i01", "i03", "none"}}, []string{"i03", "i01"}},
		{"ids and more", all, store.IncidentQuery{IDs: []string{"i01", "i02", "i03"}, MinSeverity: event.SeverityHigh,
			Statuses: []store.Status{store.StatusNew}}, []string{"i03"}},
		{"ids in scope", onlyA, store.IncidentQuery{IDs: []string{"i01", "i03"}}, []string{"i01"}},
		{"no ids", all, store.IncidentQuery{IDs: []string{}}, []string{}},
	}
	for _, c := range cases {
		page, err := s.ListIncidents(ctx, c.scope, c.q)
		wantErr(t, c.name, err, nil)
		equal(t, c.name, incidentIDs(page.Incidents), c.want)
	}
	var got []string
	q := store.IncidentQuery{Limit: 3}
	for {
		page, err := s.ListIncidents(ctx, all, q)
		wantErr(t, "page", err, nil)
		got = append(got, incidentIDs(page.Incidents)...)
		if page.Next == "" {
			break
		}
		q.Cursor = page.Next
		upsertIncidents(t, s, mkIncident("fleet-a", "i99", 1, 2, event.SeverityLow, nil, nil))
	}
	equal(t, "pages", got, []string{"i04", "i03", "i02", "i01"})
	_, err = s.ListIncidents(ctx, all, store.IncidentQuery{IDs: ids("i", 0, store.MaxQueryIDs+1)})
	wantErr(t, "too many ids", err, store.ErrInvalid)
}

// UpgradeIncidentEntities: an incident stored while its entities were also
// kept as JSON in the incidents row keeps them after the column is gone;
// a later alert naming a new entity adds it and marks the incident updated,
// one naming only known entities changes neither. makeOld leaves the
// database at the migrations before incident_entities.
func UpgradeIncidentEntities(t *testing.T, b Backend, makeOld func(t *testing.T)) {
	makeOld(t)
	b.Exec(t, fmt.Sprintf(`INSERT INTO incidents (id, tenant, first_seen, last_seen, severity, categories, entities, alert_count,
status, assignee, created, updated) VALUES ('inc-old', 'fleet-a', %d, %d, %d, 0,
'[{"kind":"account","value":"acc-1"},{"kind":"vehicle","value":"VIN1"}]', 0, 'new', '', 100, 100)`, at(1), at(2), int(event.SeverityHigh)))
	b.Exec(t, `INSERT INTO incident_entities (incident_pk, kind, value)
SELECT pk, 'vehicle', 'VIN1' FROM incidents WHERE id = 'inc-old' UNION ALL SELECT pk, 'account', 'acc-1' FROM incidents WHERE id = 'inc-old'`)
	s := open(t, b)
	d, err := s.GetIncident(ctx, onlyA, "inc-old")
	wantErr(t, "GetIncident after the upgrade", err, nil)
	equal(t, "entities after the upgrade", d.Incident.Entities, []store.Entity{acc1, vin1})
	equal(t, "updated after the upgrade", d.Incident.Updated, int64(100))

	// Known entities only: the list and the update time stay.
	upsertIncidents(t, s, mkIncident("fleet-a", "inc-old", 1, 2, event.SeverityHigh, nil, nil, vin1))
	d, err = s.GetIncident(ctx, onlyA, "inc-old")
	wantErr(t, "GetIncident", err, nil)
	equal(t, "entities after known ones", d.Incident.Entities, []store.Entity{acc1, vin1})
	equal(t, "updated after known ones", d.Incident.Updated, int64(100))

	// A new entity: listed, in order, and the incident is updated.
	upsertIncidents(t, s, mkIncident("fleet-a", "inc-old", 1, 2, event.SeverityHigh, nil, nil, vin2, vin1))
	d, err = s.GetIncident(ctx, onlyA, "inc-old")
	wantErr(t, "GetIncident", err, nil)
	equal(t, "entities after a new one", d.Incident.Entities, []store.Entity{acc1, vin1, vin2})
	if d.Incident.Updated == 100 {
		t.Errorf("a new entity left the incident's update time at %d", d.Incident.Updated)
	}
	page, err := s.ListIncidents(ctx, onlyA, store.IncidentQuery{})
	wantErr(t, "ListIncidents", err, nil)
	if len(page.Incidents) != 1 {
		t.Fatalf("listed %d incidents, want 1", len(page.Incidents))
	}
	equal(t, "listed entities", page.Incidents[0].Entities, []store.Entity{acc1, vin1, vin2})

	// An incident naming nothing lists an empty list, as the contract
	// writes it ([]), not none.
	upsertIncidents(t, s, mkIncident("fleet-a", "inc-bare", 1, 2, event.SeverityLow, nil, nil))
	d, err = s.GetIncident(ctx, onlyA, "inc-bare")
	wantErr(t, "GetIncident", err, nil)
	equal(t, "no entities", d.Incident.Entities, []store.Entity{})
}
