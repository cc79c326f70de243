package storetest

import (
	"errors"
	"testing"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/store"
)

var isolationTests = []test{
	{"Isolation/TenantScope", testIsolation},
	{"Isolation/EmptyScope", testEmptyScope},
}

// isolationFixture gives fleet-a and fleet-b one of everything, with the
// same vehicle, account and event keys in both.
func isolationFixture(t *testing.T, s store.Store) {
	insert(t, s, cmdEv("fleet-a", "c1", 1, "VIN1", "acc-1", "192.0.2.1"), cmdEv("fleet-b", "c1", 1, "VIN1", "acc-1", "192.0.2.1"),
		ev("fleet-b", "b-secret", 2, "VIN-B"))
	ba := mkAlert("fleet-b", "al-b", 3, alert.UnauthorizedCommand, event.SeverityHigh, "VIN1")
	ba.Evidence = []event.Ref{{Source: "tsp/test", ID: "c1"}}
	aa := mkAlert("fleet-a", "al-a", 3, alert.UnauthorizedCommand, event.SeverityHigh, "VIN1")
	aa.Evidence = []event.Ref{{Source: "tsp/test", ID: "c1"}, {Source: "tsp/test", ID: "b-secret"}}
	upsertAlerts(t, s, aa, ba)
	upsertIncidents(t, s,
		mkIncident("fleet-a", "inc-a", 3, 3, event.SeverityHigh, nil, []string{"al-a"}, vin1),
		mkIncident("fleet-b", "inc-b", 3, 3, event.SeverityHigh, nil, []string{"al-b"}, vin1))
	for _, tenant := range []string{"fleet-a", "fleet-b", ""} {
		if _, err := s.AppendAudit(ctx, all, store.AuditEntry{Actor: "ana", Action: "x", Tenant: tenant, Target: "t-" + tenant}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.PutConfig(ctx, all, store.ConfigChange{Tenant: tenant, Key: "k", Value: []byte(tenant)}); err != nil {
			t.Fatal(err)
		}
	}
}

// testIsolation proves that a caller scoped to fleet-a can neither read nor
// change anything of fleet-b, through any method, even knowing its ids.
func testIsolation(t *testing.T, b Backend) {
	s := open(t, b)
	isolationFixture(t, s)
	bRef := event.Ref{Source: "tsp/test", ID: "b-secret"}
	denied := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrForbidden) {
			t.Fatalf("%s: error %v, want not found or forbidden", what, err)
		}
	}
	// Reads.
	evs, err := s.ReadEvents(ctx, onlyA, 0, 100)
	wantErr(t, "ReadEvents", err, nil)
	for _, e := range evs {
		equal(t, "ReadEvents tenant", e.Tenant, "fleet-a")
	}
	equal(t, "ReadEvents", len(evs), 1)
	for _, q := range []store.EventQuery{
		{}, {Kind: store.EntityVehicle, Value: "VIN1"}, {Kind: store.EntityVehicle, Value: "VIN-B"},
		{Kind: store.EntityAccount, Value: "acc-1"}, {Kind: store.EntityIP, Value: "192.0.2.1"}, {Types: []string{"vehicle.telemetry"}},
	} {
		page, err := s.SearchEvents(ctx, onlyA, q)
		wantErr(t, "SearchEvents", err, nil)
		for _, e := range page.Events {
			if e.Tenant != "fleet-a" {
				t.Fatalf("SearchEvents %+v returned %s's event %s", q, e.Tenant, e.ID)
			}
		}
	}
	_, err = s.SearchEvents(ctx, onlyA, store.EventQuery{Tenant: "fleet-b"})
	wantErr(t, "SearchEvents naming fleet-b", err, store.ErrForbidden)
	_, err = s.GetEvent(ctx, onlyA, "fleet-b", bRef)
	denied("GetEvent", err)
	_, err = s.GetEvent(ctx, onlyA, "fleet-a", bRef)
	wantErr(t, "GetEvent of fleet-b's key in fleet-a", err, store.ErrNotFound)
	_, err = s.GetAlert(ctx, onlyA, "al-b")
	wantErr(t, "GetAlert of fleet-b's id", err, store.ErrNotFound)
	_, err = s.Evidence(ctx, onlyA, "al-b")
	wantErr(t, "Evidence of fleet-b's alert", err, store.ErrNotFound)
	items, err := s.Evidence(ctx, onlyA, "al-a")
	wantErr(t, "Evidence", err, nil)
	if items[0].Event == nil || items[0].Event.Tenant != "fleet-a" || items[1].Event != nil {
		t.Fatalf("evidence of fleet-a's alert resolved into fleet-b: %+v", items)
	}
	for _, q := range []store.AlertQuery{{}, {Entity: store.Entity{Value: "VIN1"}}, {Detector: "det.unauthorized-command"}} {
		page, err := s.ListAlerts(ctx, onlyA, q)
		wantErr(t, "ListAlerts", err, nil)
		equal(t, "ListAlerts", alertIDs(page.Alerts), []string{"al-a"})
	}
	_, err = s.ListAlerts(ctx, onlyA, store.AlertQuery{Tenant: "fleet-b"})
	wantErr(t, "ListAlerts naming fleet-b", err, store.ErrForbidden)
	_, err = s.GetIncident(ctx, onlyA, "inc-b")
	wantErr(t, "GetIncident of fleet-b's id", err, store.ErrNotFound)
	ipage, err := s.ListIncidents(ctx, onlyA, store.IncidentQuery{Entity: vin1})
	wantErr(t, "ListIncidents", err, nil)
	equal(t, "ListIncidents", incidentIDs(ipage.Incidents), []string{"inc-a"})
	_, err = s.ListIncidents(ctx, onlyA, store.IncidentQuery{Tenant: "fleet-b"})
	wantErr(t, "ListIncidents naming fleet-b", err, store.ErrForbidden)
	entries, err := s.ExportAudit(ctx, onlyA, store.AuditQuery{})
	wantErr(t, "ExportAudit", err, nil)
	if len(entries) != 1 || entries[0].Tenant != "fleet-a" {
		t.Fatalf("ExportAudit from fleet-a: %+v", entries)
	}
	_, err = s.ExportAudit(ctx, onlyA, store.AuditQuery{Tenant: "fleet-b"})
	wantErr(t, "ExportAudit naming fleet-b", err, store.ErrForbidden)
	_, err = s.VerifyAudit(ctx, onlyA)
	wantErr(t, "VerifyAudit", err, store.ErrForbidden)
	_, err = s.GetConfig(ctx, onlyA, "fleet-b", "k")
	wantErr(t, "GetConfig", err, store.ErrForbidden)
	_, err = s.ListConfig(ctx, onlyA, "fleet-b", "")
	wantErr(t, "ListConfig", err, store.ErrForbidden)

	// Changes.
	_, err = s.InsertEvents(ctx, onlyA, []store.ArchivedEvent{ev("fleet-a", "ok", 1, "V"), ev("fleet-b", "x", 1, "V")})
	wantErr(t, "InsertEvents into fleet-b", err, store.ErrForbidden)
	_, err = s.UpdateAlert(ctx, onlyA, store.AlertChange{ID: "al-b", Status: store.StatusFalsePositive})
	wantErr(t, "UpdateAlert of fleet-b's id", err, store.ErrNotFound)
	_, err = s.UpsertAlerts(ctx, onlyA, []*alert.Alert{mkAlert("fleet-b", "al-new", 1, alert.MassCommand, event.SeverityLow, "V")})
	wantErr(t, "UpsertAlerts into fleet-b", err, store.ErrForbidden)
	_, err = s.UpsertAlerts(ctx, onlyA, []*alert.Alert{mkAlert("fleet-a", "al-b", 1, alert.MassCommand, event.SeverityLow, "V")})
	wantErr(t, "UpsertAlerts over fleet-b's id", err, store.ErrConflict)
	_, err = s.UpdateIncident(ctx, onlyA, store.IncidentChange{ID: "inc-b", Actor: "mallory", Status: store.StatusResolved, Comment: "x"})
	wantErr(t, "UpdateIncident of fleet-b's id", err, store.ErrNotFound)
	_, err = s.UpsertIncidents(ctx, onlyA, []store.Incident{mkIncident("fleet-a", "inc-b", 1, 1, event.SeverityLow, nil, []string{"al-a"})})
	wantErr(t, "UpsertIncidents over fleet-b's id", err, store.ErrConflict)
	_, err = s.UpsertIncidents(ctx, onlyA, []store.Incident{mkIncident("fleet-b", "inc-new", 1, 1, event.SeverityLow, nil, nil)})
	wantErr(t, "UpsertIncidents into fleet-b", err, store.ErrForbidden)
	_, err = s.AppendAudit(ctx, onlyA, store.AuditEntry{Actor: "mallory", Action: "x", Tenant: "fleet-b"})
	wantErr(t, "AppendAudit to fleet-b", err, store.ErrForbidden)
	_, err = s.PutConfig(ctx, onlyA, store.ConfigChange{Tenant: "fleet-b", Key: "k", Value: []byte("x")})
	wantErr(t, "PutConfig", err, store.ErrForbidden)
	err = s.DeleteConfig(ctx, onlyA, store.ConfigChange{Tenant: "fleet-b", Key: "k"})
	wantErr(t, "DeleteConfig", err, store.ErrForbidden)
	_, err = s.PruneEvents(ctx, onlyA, "fleet-b", at(1000))
	wantErr(t, "PruneEvents", err, store.ErrForbidden)
	_, err = s.EraseSubject(ctx, onlyA, "fleet-b", vin1)
	wantErr(t, "EraseSubject", err, store.ErrForbidden)

	// fleet-b's data is as it was.
	bs := store.TenantScope("fleet-b")
	evs, _ = s.ReadEvents(ctx, bs, 0, 100)
	equal(t, "fleet-b's events", eventIDs(evs), []string{"c1", "b-secret"})
	ab, err := s.GetAlert(ctx, bs, "al-b")
	wantErr(t, "fleet-b's alert", err, nil)
	if ab.Status != store.StatusNew || ab.Category != alert.UnauthorizedCommand {
		t.Fatalf("fleet-b's alert changed: %+v", ab)
	}
	ib, err := s.GetIncident(ctx, bs, "inc-b")
	wantErr(t, "fleet-b's incident", err, nil)
	if ib.Status != store.StatusNew || len(ib.History) != 1 || ib.FirstSeen != at(3) {
		t.Fatalf("fleet-b's incident changed: %+v", ib)
	}
	cb, _ := s.GetConfig(ctx, bs, "fleet-b", "k")
	equal(t, "fleet-b's config", string(cb.Value), "fleet-b")
	rep, _ := s.VerifyAudit(ctx, all)
	equal(t, "audit entries", rep.Entries, int64(3))
	_, err = s.GetAlert(ctx, all, "al-new")
	wantErr(t, "no alert created in fleet-b", err, store.ErrNotFound)
}

func testEmptyScope(t *testing.T, b Backend) {
	s := open(t, b)
	isolationFixture(t, s)
	var none store.Scope
	evs, err := s.ReadEvents(ctx, none, 0, 100)
	wantErr(t, "ReadEvents", err, nil)
	equal(t, "ReadEvents", len(evs), 0)
	page, err := s.SearchEvents(ctx, none, store.EventQuery{Kind: store.EntityVehicle, Value: "VIN1"})
	wantErr(t, "SearchEvents", err, nil)
	equal(t, "SearchEvents", len(page.Events), 0)
	apage, err := s.ListAlerts(ctx, none, store.AlertQuery{})
	wantErr(t, "ListAlerts", err, nil)
	equal(t, "ListAlerts", len(apage.Alerts), 0)
	ipage, err := s.ListIncidents(ctx, none, store.IncidentQuery{})
	wantErr(t, "ListIncidents", err, nil)
	equal(t, "ListIncidents", len(ipage.Incidents), 0)
	entries, err := s.ExportAudit(ctx, none, store.AuditQuery{})
	wantErr(t, "ExportAudit", err, nil)
	equal(t, "ExportAudit", len(entries), 0)
	_, err = s.GetAlert(ctx, none, "al-a")
	wantErr(t, "GetAlert", err, store.ErrNotFound)
	// A scope of tenants with invalid names holds nothing either.
	if !store.TenantScope("", "a b", "x'--").Empty() {
		t.Fatal("invalid tenant names made it into a scope")
	}
	// Many tenants in one scope still work.
	many := make([]string, 300)
	for i := range many {
		many[i] = "t" + string(rune('a'+i%26)) + string(rune('a'+i/26))
	}
	page, err = s.SearchEvents(ctx, store.TenantScope(append(many, "fleet-a")...), store.EventQuery{})
	wantErr(t, "SearchEvents with a wide scope", err, nil)
	equal(t, "wide scope", eventIDs(page.Events), []string{"c1"})
}
