package storetest

import (
	"fmt"
	"testing"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/store"
)

var alertTests = []test{
	{"Alerts/Upsert", testAlertUpsert},
	{"Alerts/List", testAlertList},
	{"Alerts/Pagination", testAlertPagination},
	{"Alerts/Update", testAlertUpdate},
	{"Alerts/Evidence", testEvidence},
	{"Alerts/Invalid", testAlertInvalid},
	{"Alerts/Shadow", testAlertShadow},
	{"Alerts/Seq", testAlertSeq},
	{"Alerts/SeqNoReuse", testAlertSeqNoReuse},
	{"Alerts/SeqScope", testAlertSeqScope},
	{"Alerts/SeqLimit", testAlertSeqLimit},
	{"Alerts/SeqFollow", testFollowAlerts},
	{"Alerts/InAGroup", testDetectionsInAGroup},
	{"Alerts/GroupsOfBoundedSize", testDetectionGroupsBounded},
	{"Alerts/Abandoned", testAbandonedDetections},
	{"Alerts/Overtake", testDetectionsOvertakeEvents},
}

// testAlertShadow: shadow alerts are stored with their mark and kept out of
// the queue's default view only when asked.
func testAlertShadow(t *testing.T, b Backend) {
	s := open(t, b)
	raised := mkAlert("fleet-a", "r1", 1, alert.MassCommand, event.SeverityHigh, "VIN1")
	shadow := mkAlert("fleet-a", "s1", 2, alert.MassCommand, event.SeverityHigh, "VIN1")
	shadow.Shadow = true
	equal(t, "upsert", upsertAlerts(t, s, raised, shadow), []bool{true, true})
	got, err := s.GetAlert(ctx, onlyA, "s1")
	wantErr(t, "GetAlert", err, nil)
	equal(t, "shadow alert as stored", got.Alert, *shadow)
	list := func(f store.ShadowFilter) []string {
		t.Helper()
		page, err := s.ListAlerts(ctx, all, store.AlertQuery{Shadow: f, Order: store.OldestFirst})
		wantErr(t, "ListAlerts", err, nil)
		return alertIDs(page.Alerts)
	}
	equal(t, "any", list(store.ShadowAny), []string{"r1", "s1"})
	equal(t, "exclude", list(store.ShadowExclude), []string{"r1"})
	equal(t, "only", list(store.ShadowOnly), []string{"s1"})
	// A detector taken live re-derives the alert raised: the mark follows.
	live := *shadow
	live.Shadow = false
	equal(t, "re-delivered raised", upsertAlerts(t, s, &live), []bool{false})
	equal(t, "exclude after going live", list(store.ShadowExclude), []string{"r1", "s1"})
	_, err = s.ListAlerts(ctx, all, store.AlertQuery{Shadow: store.ShadowOnly + 1})
	wantErr(t, "unknown shadow filter", err, store.ErrInvalid)
}

func testAlertUpsert(t *testing.T, b Backend) {
	s := open(t, b)
	a := mkAlert("fleet-a", "al-1", 10, alert.UnauthorizedCommand, event.SeverityHigh, "VIN1")
	a.Entities.Vehicles = []string{"VIN7", "VIN8"}
	a.Entities.MSISDN = "+4915100000"
	a.Incident = "inc-1"
	equal(t, "first upsert", upsertAlerts(t, s, a), []bool{true})
	got, err := s.GetAlert(ctx, onlyA, "al-1")
	wantErr(t, "GetAlert", err, nil)
	equal(t, "alert as stored", got.Alert, *a)
	equal(t, "status of a new alert", got.Status, store.StatusNew)
	if got.Created == 0 || got.Updated != got.Created {
		t.Fatalf("created %d updated %d: want both set and equal", got.Created, got.Updated)
	}
	// An analyst works on it; then the engine re-delivers it after a crash.
	_, err = s.UpdateAlert(ctx, onlyA, store.AlertChange{ID: "al-1", Status: store.StatusAcknowledged, Assignee: ptr("ana")})
	wantErr(t, "UpdateAlert", err, nil)
	equal(t, "re-delivery", upsertAlerts(t, s, a, a), []bool{false, false})
	page, err := s.ListAlerts(ctx, all, store.AlertQuery{})
	wantErr(t, "ListAlerts", err, nil)
	equal(t, "no duplicate", alertIDs(page.Alerts), []string{"al-1"})
	got, _ = s.GetAlert(ctx, onlyA, "al-1")
	if got.Status != store.StatusAcknowledged || got.Assignee != "ana" {
		t.Fatalf("re-delivery reset the analysts' fields: %v %q", got.Status, got.Assignee)
	}
	// New evidence for the same alert replaces the detection fields.
	b2 := *a
	b2.LastSeen, b2.Time = at(20), at(20)
	b2.Evidence = append([]event.Ref{}, a.Evidence...)
	b2.Evidence = append(b2.Evidence, event.Ref{Source: "tsp/test", ID: "more"})
	b2.Entities.Vehicles = nil
	equal(t, "changed alert", upsertAlerts(t, s, &b2), []bool{false})
	got, _ = s.GetAlert(ctx, onlyA, "al-1")
	equal(t, "updated alert", got.Alert, b2)
	equal(t, "status kept", got.Status, store.StatusAcknowledged)
	page, err = s.ListAlerts(ctx, all, store.AlertQuery{Entity: store.Entity{Kind: store.EntityVehicle, Value: "VIN7"}})
	wantErr(t, "ListAlerts by a dropped entity", err, nil)
	equal(t, "entities follow the update", len(page.Alerts), 0)
	// The id is taken in fleet-a: fleet-b cannot have (or overwrite) it.
	other := mkAlert("fleet-b", "al-1", 10, alert.MassCommand, event.SeverityLow, "VIN9")
	_, err = s.UpsertAlerts(ctx, all, []*alert.Alert{other})
	wantErr(t, "same id in another tenant", err, store.ErrConflict)
	got, _ = s.GetAlert(ctx, all, "al-1")
	equal(t, "tenant kept", got.Tenant, "fleet-a")
}

// alertFixture stores alerts of two tenants with varied fields.
func alertFixture(t *testing.T, s store.Store) {
	as := []*alert.Alert{
		mkAlert("fleet-a", "a01", 1, alert.CredentialAttack, event.SeverityLow, "VIN1"),
		mkAlert("fleet-a", "a02", 2, alert.MassCommand, event.SeverityHigh, "VIN2"),
		mkAlert("fleet-a", "a03", 3, alert.CredentialAttack, event.SeverityCritical, "VIN1"),
		mkAlert("fleet-a", "a04", 4, alert.UnsafeCommand, event.SeverityMedium, "VIN3"),
		mkAlert("fleet-b", "b05", 5, alert.CredentialAttack, event.SeverityHigh, "VIN1"),
	}
	as[1].Entities.Vehicles = []string{"VIN5", "VIN6"}
	as[3].Entities.IP = "192.0.2.9"
	upsertAlerts(t, s, as...)
	_, err := s.UpdateAlert(ctx, all, store.AlertChange{ID: "a03", Status: store.StatusResolved})
	wantErr(t, "UpdateAlert", err, nil)
	_, err = s.UpdateAlert(ctx, all, store.AlertChange{ID: "a04", Status: store.StatusFalsePositive})
	wantErr(t, "UpdateAlert", err, nil)
}

func testAlertList(t *testing.T, b Backend) {
	s := open(t, b)
	alertFixture(t, s)
	cases := []struct {
		name  string
		scope store.Scope
		q     store.AlertQuery
		want  []string
	}{
		{"all", all, store.AlertQuery{}, []string{"b05", "a04", "a03", "a02", "a01"}},
		{"oldest first", all, store.AlertQuery{Order: store.OldestFirst}, []string{"a01", "a02", "a03", "a04", "b05"}},
		{"scope", onlyA, store.AlertQuery{}, []string{"a04", "a03", "a02", "a01"}},
		{"tenant", all, store.AlertQuery{Tenant: "fleet-b"}, []string{"b05"}},
		{"category", all, store.AlertQuery{Category: alert.CredentialAttack}, []string{"b05", "a03", "a01"}},
		{"min severity", all, store.AlertQuery{MinSeverity: event.SeverityHigh}, []string{"b05", "a03", "a02"}},
		{"status", all, store.AlertQuery{Statuses: []store.Status{store.StatusNew}}, []string{"b05", "a02", "a01"}},
		{"statuses", all, store.AlertQuery{Statuses: []store.Status{store.StatusResolved, store.StatusFalsePositive}}, []string{"a04", "a03"}},
		{"detector", all, store.AlertQuery{Detector: "det.unsafe-command"}, []string{"a04"}},
		{"entity any kind", all, store.AlertQuery{Entity: store.Entity{Value: "VIN1"}}, []string{"b05", "a03", "a01"}},
		{"entity vehicle list", all, store.AlertQuery{Entity: store.Entity{Kind: store.EntityVehicle, Value: "VIN6"}}, []string{"a02"}},
		{"entity wrong kind", all, store.AlertQuery{Entity: store.Entity{Kind: store.EntityAccount, Value: "VIN1"}}, []string{}},
		{"entity ip", all, store.AlertQuery{Entity: store.Entity{Kind: store.EntityIP, Value: "192.0.2.9"}}, []string{"a04"}},
		{"time range", all, store.AlertQuery{From: at(2), To: at(4)}, []string{"a03", "a02"}},
		{"combined", onlyA, store.AlertQuery{Category: alert.CredentialAttack, Statuses: []store.Status{store.StatusNew}, Entity: store.Entity{Value: "VIN1"}}, []string{"a01"}},
	}
	for _, c := range cases {
		page, err := s.ListAlerts(ctx, c.scope, c.q)
		wantErr(t, c.name, err, nil)
		equal(t, c.name, alertIDs(page.Alerts), c.want)
	}
	for _, q := range []store.AlertQuery{
		{Category: 99}, {MinSeverity: 9}, {Statuses: []store.Status{0}}, {Entity: store.Entity{Kind: "planet", Value: "x"}},
		{From: 5, To: 1},
	} {
		_, err := s.ListAlerts(ctx, all, q)
		wantErr(t, fmt.Sprintf("query %+v", q), err, store.ErrInvalid)
	}
}

func testAlertPagination(t *testing.T, b Backend) {
	s := open(t, b)
	var as []*alert.Alert
	for i := 1; i <= 23; i++ {
		as = append(as, mkAlert("fleet-a", fmt.Sprintf("a%02d", i), i/4, alert.MassCommand, event.SeverityHigh, "VIN1"))
	}
	upsertAlerts(t, s, as...)
	for _, order := range []store.Order{store.NewestFirst, store.OldestFirst} {
		q := store.AlertQuery{Order: order, Limit: 5, Entity: store.Entity{Value: "VIN1"}}
		var got []string
		for {
			page, err := s.ListAlerts(ctx, onlyA, q)
			wantErr(t, "ListAlerts", err, nil)
			got = append(got, alertIDs(page.Alerts)...)
			if page.Next == "" {
				break
			}
			q.Cursor = page.Next
			// A new alert arriving between pages does not disturb them.
			upsertAlerts(t, s, mkAlert("fleet-a", fmt.Sprintf("late-%d-%d", order, len(got)), 1000, alert.MassCommand, event.SeverityHigh, "VIN2"))
		}
		want := ids("a", 23, 1)
		if order == store.OldestFirst {
			want = ids("a", 1, 23)
		}
		equal(t, fmt.Sprintf("order %d", order), got, want)
	}
}

func testAlertUpdate(t *testing.T, b Backend) {
	s := open(t, b)
	upsertAlerts(t, s, mkAlert("fleet-a", "al-1", 1, alert.MassCommand, event.SeverityHigh, "VIN1"))
	got, err := s.UpdateAlert(ctx, onlyA, store.AlertChange{ID: "al-1", Assignee: ptr("bo"),
		Audit: &store.AuditEntry{Actor: "ana", Action: "alert.assign", Tenant: "fleet-a", Target: "al-1", Detail: []byte(`{"assignee":"bo"}`)}})
	wantErr(t, "assign", err, nil)
	if got.Assignee != "bo" || got.Status != store.StatusNew {
		t.Fatalf("after assign: %q %v", got.Assignee, got.Status)
	}
	got, err = s.UpdateAlert(ctx, onlyA, store.AlertChange{ID: "al-1", Status: store.StatusResolved, Assignee: ptr("")})
	wantErr(t, "resolve", err, nil)
	if got.Assignee != "" || got.Status != store.StatusResolved || got.Updated < got.Created {
		t.Fatalf("after resolve: %q %v", got.Assignee, got.Status)
	}
	stored, _ := s.GetAlert(ctx, onlyA, "al-1")
	equal(t, "stored", stored, got)
	_, err = s.UpdateAlert(ctx, onlyA, store.AlertChange{ID: "al-404", Status: store.StatusResolved})
	wantErr(t, "missing alert", err, store.ErrNotFound)
	if !contains(err.Error(), "al-404") {
		t.Fatalf("error %q does not name the alert", err)
	}
	_, err = s.UpdateAlert(ctx, onlyA, store.AlertChange{ID: "al-1"})
	wantErr(t, "empty change", err, store.ErrInvalid)
	entries, err := s.ExportAudit(ctx, all, store.AuditQuery{})
	wantErr(t, "ExportAudit", err, nil)
	if len(entries) != 1 || entries[0].Action != "alert.assign" || entries[0].Target != "al-1" {
		t.Fatalf("audit after the change: %+v", entries)
	}
	// A change whose audit entry is rejected is not made either.
	_, err = s.UpdateAlert(ctx, onlyA, store.AlertChange{ID: "al-1", Status: store.StatusNew,
		Audit: &store.AuditEntry{Actor: "ana", Action: "alert.status", Tenant: "fleet-b"}})
	wantErr(t, "audit entry of another tenant", err, store.ErrForbidden)
	stored, _ = s.GetAlert(ctx, onlyA, "al-1")
	equal(t, "unchanged", stored.Status, store.StatusResolved)
}

func testEvidence(t *testing.T, b Backend) {
	s := open(t, b)
	res := insert(t, s, cmdEv("fleet-a", "c1", 1, "VIN1", "acc-1", "192.0.2.1"), ev("fleet-a", "t2", 2, "VIN1"),
		ev("fleet-b", "b-only", 2, "VIN1"))
	a := mkAlert("fleet-a", "al-1", 3, alert.UnauthorizedCommand, event.SeverityHigh, "VIN1")
	a.Evidence = []event.Ref{{Source: "tsp/test", ID: "t2"}, {Source: "tsp/test", ID: "missing"},
		{Source: "tsp/test", ID: "c1"}, {Source: "tsp/test", ID: "b-only"}}
	upsertAlerts(t, s, a)
	items, err := s.Evidence(ctx, onlyA, "al-1")
	wantErr(t, "Evidence", err, nil)
	if len(items) != 4 {
		t.Fatalf("%d evidence items, want 4", len(items))
	}
	for i, want := range []int64{res[1].Seq, 0, res[0].Seq, 0} {
		equal(t, fmt.Sprintf("item %d ref", i), items[i].Ref, a.Evidence[i])
		switch {
		case want == 0 && items[i].Event != nil:
			t.Fatalf("item %d resolved to %+v, want nothing (missing, or another tenant's)", i, items[i].Event)
		case want != 0 && (items[i].Event == nil || items[i].Event.Seq != want):
			t.Fatalf("item %d resolved to %+v, want seq %d", i, items[i].Event, want)
		}
	}
	if items[2].Event.Account != "acc-1" || string(items[2].Event.Raw) == "" {
		t.Fatalf("evidence event incomplete: %+v", items[2].Event)
	}
	_, err = s.Evidence(ctx, onlyA, "al-404")
	wantErr(t, "missing alert", err, store.ErrNotFound)
}

func testAlertInvalid(t *testing.T, b Backend) {
	s := open(t, b)
	for name, edit := range map[string]func(*alert.Alert){
		"no id":          func(a *alert.Alert) { a.ID = "" },
		"bad tenant":     func(a *alert.Alert) { a.Tenant = "" },
		"no category":    func(a *alert.Alert) { a.Category = alert.CategoryUnset },
		"no severity":    func(a *alert.Alert) { a.Severity = event.SeverityUnset },
		"no detector":    func(a *alert.Alert) { a.Detector = "" },
		"evidence limit": func(a *alert.Alert) { a.Evidence = make([]event.Ref, store.MaxEvidence+1) },
	} {
		a := mkAlert("fleet-a", "al-1", 1, alert.MassCommand, event.SeverityHigh, "V")
		edit(a)
		_, err := s.UpsertAlerts(ctx, all, []*alert.Alert{mkAlert("fleet-a", "ok", 1, alert.MassCommand, event.SeverityHigh, "V"), a})
		wantErr(t, name, err, store.ErrInvalid)
	}
	_, err := s.GetAlert(ctx, all, "ok")
	wantErr(t, "nothing of a rejected call is stored", err, store.ErrNotFound)
}
