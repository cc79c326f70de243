package storetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/store"
)

var retentionTests = []test{
	{"Retention/Prune", testPrune},
	{"Retention/EraseSubject", testErase},
}

func testPrune(t *testing.T, b Backend) {
	s := open(t, b)
	// More than one delete batch of old events.
	n := store.DeleteBatch + 7
	old := make([]store.ArchivedEvent, 0, n)
	for i := range n {
		old = append(old, ev("fleet-a", fmt.Sprintf("old-%d", i), -60-i%50, "VIN1"))
	}
	for len(old) > 0 {
		k := min(len(old), store.MaxInsertBatch)
		insert(t, s, old[:k]...)
		old = old[k:]
	}
	insert(t, s, ev("fleet-a", "keep", 0, "VIN1"), ev("fleet-b", "other", -100, "VIN1"))
	deleted, err := s.PruneEvents(ctx, all, "fleet-a", at(0))
	wantErr(t, "PruneEvents", err, nil)
	equal(t, "deleted", deleted, int64(n))
	got, err := s.ReadEvents(ctx, all, 0, 100)
	wantErr(t, "ReadEvents", err, nil)
	equal(t, "left", eventIDs(got), []string{"keep", "other"})
	deleted, err = s.PruneEvents(ctx, all, "fleet-a", at(0))
	wantErr(t, "PruneEvents again", err, nil)
	equal(t, "nothing left to delete", deleted, int64(0))
	// A duplicate of a pruned event is archived again: the key went with it.
	res := insert(t, s, ev("fleet-a", "old-1", -61, "VIN1"))
	equal(t, "re-archived", res[0].Duplicate, false)

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = s.PruneEvents(cancelled, all, "fleet-a", at(100))
	wantErr(t, "cancelled", err, context.Canceled)
}

func testErase(t *testing.T, b Backend) {
	s := open(t, b)
	insert(t, s,
		cmdEv("fleet-a", "c1", 1, "VIN1", "acc-x", "192.0.2.1"),
		cmdEv("fleet-a", "c2", 2, "VIN2", "acc-x", "192.0.2.2"),
		cmdEv("fleet-a", "c3", 3, "VIN3", "acc-y", "192.0.2.3"),
		cmdEv("fleet-b", "c4", 4, "VIN4", "acc-x", "192.0.2.4"), // same account id, another tenant
	)
	named := mkAlert("fleet-a", "al-1", 5, alert.AccountTakeover, event.SeverityHigh, "VIN1")
	named.Entities.Account = "acc-x"
	listed := mkAlert("fleet-a", "al-2", 6, alert.MassCommand, event.SeverityHigh, "VIN3")
	listed.Entities.Account = "acc-y"
	other := mkAlert("fleet-b", "al-3", 7, alert.AccountTakeover, event.SeverityHigh, "VIN4")
	other.Entities.Account = "acc-x"
	upsertAlerts(t, s, named, listed, other)
	upsertIncidents(t, s,
		mkIncident("fleet-a", "inc-x", 5, 5, event.SeverityHigh, nil, []string{"al-1"}, store.Entity{Kind: store.EntityAccount, Value: "acc-x"}),
		mkIncident("fleet-a", "inc-mixed", 5, 6, event.SeverityHigh, nil, []string{"al-1", "al-2"}, store.Entity{Kind: store.EntityAccount, Value: "acc-y"}),
		mkIncident("fleet-b", "inc-b", 7, 7, event.SeverityHigh, nil, []string{"al-3"}, store.Entity{Kind: store.EntityAccount, Value: "acc-x"}),
	)
	_, err := s.UpdateIncident(ctx, all, store.IncidentChange{ID: "inc-x", Actor: "ana", Comment: "acc-x called"})
	wantErr(t, "UpdateIncident", err, nil)

	got, err := s.EraseSubject(ctx, all, "fleet-a", store.Entity{Kind: store.EntityAccount, Value: "acc-x"})
	wantErr(t, "EraseSubject", err, nil)
	equal(t, "counts", got, store.Erasure{Events: 2, Alerts: 1, Incidents: 1})

	left, _ := s.ReadEvents(ctx, all, 0, 100)
	equal(t, "events left", eventIDs(left), []string{"c3", "c4"})
	page, _ := s.ListAlerts(ctx, all, store.AlertQuery{Order: store.OldestFirst})
	equal(t, "alerts left", alertIDs(page.Alerts), []string{"al-2", "al-3"})
	ipage, _ := s.ListIncidents(ctx, all, store.IncidentQuery{Order: store.OldestFirst})
	equal(t, "incidents left", incidentIDs(ipage.Incidents), []string{"inc-b", "inc-mixed"}) // one call: id order
	d, err := s.GetIncident(ctx, all, "inc-mixed")
	wantErr(t, "GetIncident", err, nil)
	if d.AlertCount != 1 || len(d.Alerts) != 1 || d.Alerts[0].ID != "al-2" {
		t.Fatalf("incident that kept another alert: count %d, alerts %v", d.AlertCount, alertIDs(d.Alerts))
	}
	_, err = s.EraseSubject(ctx, all, "fleet-a", store.Entity{Kind: "planet", Value: "x"})
	wantErr(t, "bad kind", err, store.ErrInvalid)
	got, err = s.EraseSubject(ctx, all, "fleet-a", store.Entity{Kind: store.EntityMSISDN, Value: "+49"})
	wantErr(t, "nothing named", err, nil)
	equal(t, "nothing erased", got, store.Erasure{})
}
