package store_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/store"
)

func TestScope(t *testing.T) {
	s := store.TenantScope("fleet-b", "fleet-a", "fleet-a", "bad name", "")
	if got := s.Tenants(); len(got) != 2 || got[0] != "fleet-a" || got[1] != "fleet-b" {
		t.Fatalf("tenants %v", got)
	}
	for _, c := range []struct {
		scope  store.Scope
		tenant string
		want   bool
	}{
		{s, "fleet-a", true},
		{s, "fleet-c", false},
		{s, "", false}, // the platform's own data needs AllTenants
		{store.AllTenants(), "", true},
		{store.AllTenants(), "anything", true},
		{store.Scope{}, "fleet-a", false},
	} {
		if got := c.scope.Allows(c.tenant); got != c.want {
			t.Errorf("%v allows %q: %v, want %v", c.scope, c.tenant, got, c.want)
		}
	}
	if _, err := s.Narrow("fleet-c"); !errors.Is(err, store.ErrForbidden) {
		t.Errorf("narrow to a tenant outside: %v", err)
	}
	if n, err := store.AllTenants().Narrow("fleet-c"); err != nil || n.All() || !n.Allows("fleet-c") || n.Allows("fleet-a") {
		t.Errorf("narrow all to one: %v %v", n, err)
	}
	if _, err := s.Narrow("bad name"); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("narrow to an invalid name: %v", err)
	}
}

func TestAuditHash(t *testing.T) {
	e := store.AuditEntry{Seq: 1, Time: 2, Actor: "ana", Action: "incident.update", Tenant: "fleet-a", Target: "inc-1", Detail: []byte(`{"a":1}`)}
	h := store.AuditHash(store.GenesisHash(), &e)
	if len(h) != store.HashSize || !bytes.Equal(h, store.AuditHash(store.GenesisHash(), &e)) {
		t.Fatal("hash not deterministic or wrong size")
	}
	// Every field, and the previous hash, changes the hash; moving bytes
	// between fields does too (length prefixes).
	for name, edit := range map[string]func(*store.AuditEntry){
		"seq":    func(e *store.AuditEntry) { e.Seq++ },
		"time":   func(e *store.AuditEntry) { e.Time++ },
		"actor":  func(e *store.AuditEntry) { e.Actor = "anb" },
		"action": func(e *store.AuditEntry) { e.Action += "x" },
		"tenant": func(e *store.AuditEntry) { e.Tenant = "" },
		"target": func(e *store.AuditEntry) { e.Target = "inc-2" },
		"detail": func(e *store.AuditEntry) { e.Detail = []byte(`{"a":2}`) },
		"shift":  func(e *store.AuditEntry) { e.Actor, e.Action = "anai", "ncident.update" },
	} {
		x := e
		edit(&x)
		if bytes.Equal(store.AuditHash(store.GenesisHash(), &x), h) {
			t.Errorf("changing %s keeps the hash", name)
		}
	}
	if bytes.Equal(store.AuditHash(h, &e), h) {
		t.Error("the previous hash is not covered")
	}
}

func TestArchiveEvent(t *testing.T) {
	dec := event.NewDecoder(event.Limits{})
	e, err := dec.Decode([]byte(`{"specversion":"1.0","id":"a-1","source":"tsp/mobile-api","type":"account.change",` +
		`"time":"2026-03-02T07:14:05.120Z","data":{"actor":{"ip":"203.0.113.7"},"account":"acc-9","change":"email"}}`))
	if err != nil {
		t.Fatal(err)
	}
	a := store.ArchiveEvent(e, nil, 5)
	if a.Tenant != event.DefaultTenant || a.Account != "acc-9" || a.IP != "203.0.113.7" || a.Type != "account.change" || a.Arrived != 5 {
		t.Fatalf("archived %+v", a)
	}
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(a.Raw), `"acc-9"`) {
		t.Fatalf("raw %s", a.Raw)
	}
}

func TestIncidentUpsert(t *testing.T) {
	var got store.Incident
	m := alert.NewManager(alert.ManagerOptions{Out: func(a *alert.Alert, inc *alert.Incident) { got = store.IncidentUpsert(inc, a) }})
	m.Add(&alert.Alert{ID: "al-1", Tenant: "t", Category: alert.MassCommand, Severity: event.SeverityHigh, Detector: "d",
		Time: 10, FirstSeen: 5, LastSeen: 10, Entities: alert.Entities{Vehicle: "V", Vehicles: []string{"V", "W"}}})
	if got.ID == "" || got.AlertIDs[0] != "al-1" || len(got.Entities) != 2 || got.Categories[0] != alert.MassCommand {
		t.Fatalf("upsert %+v", got)
	}
	if err := got.Validate(); err != nil {
		t.Fatal(err)
	}
	if m := store.CategoryMask(got.Categories); len(store.CategoriesOf(m)) != 1 {
		t.Fatalf("mask %b", m)
	}
}
