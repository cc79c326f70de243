package storetest

import (
	"errors"
	"testing"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/store"
)

var lifecycleTests = []test{
	{"Migrations/Idempotent", testMigrationsIdempotent},
	{"Migrations/RefuseNewerSchema", testRefuseNewer},
	{"Closed", testClosed},
	{"Ping", testPing},
}

func testMigrationsIdempotent(t *testing.T, b Backend) {
	s := open(t, b)
	versions := b.QueryInt(t, "SELECT COUNT(*) FROM schema_migrations")
	latest := b.QueryInt(t, "SELECT MAX(version) FROM schema_migrations")
	if versions < 1 || versions != latest {
		t.Fatalf("%d migrations recorded, latest %d: want 1…latest, each once", versions, latest)
	}
	insert(t, s, ev("fleet-a", "e1", 1, "V"))
	upsertAlerts(t, s, mkAlert("fleet-a", "al-1", 1, alert.MassCommand, event.SeverityHigh, "V"))
	wantErr(t, "Close", s.Close(), nil)
	for range 2 {
		s = open(t, b)
		wantErr(t, "Close", s.Close(), nil)
	}
	equal(t, "migrations after reopening", b.QueryInt(t, "SELECT COUNT(*) FROM schema_migrations"), versions)
	s = open(t, b)
	got, err := s.ReadEvents(ctx, all, 0, 10)
	wantErr(t, "ReadEvents", err, nil)
	equal(t, "data kept", eventIDs(got), []string{"e1"})
	_, err = s.GetAlert(ctx, all, "al-1")
	wantErr(t, "GetAlert", err, nil)
}

func testRefuseNewer(t *testing.T, b Backend) {
	s := open(t, b)
	wantErr(t, "Close", s.Close(), nil)
	b.Exec(t, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'from_the_future', 0)")
	_, err := b.Open(ctx)
	wantErr(t, "open a newer schema", err, store.ErrSchemaTooNew)
	if !contains(err.Error(), "9999") {
		t.Fatalf("error %q does not say which version", err)
	}
	b.Exec(t, "DELETE FROM schema_migrations WHERE version = 9999")
	open(t, b)
}

func testClosed(t *testing.T, b Backend) {
	s := open(t, b)
	wantErr(t, "Close", s.Close(), nil)
	wantErr(t, "Close twice", s.Close(), store.ErrClosed)
	_, err := s.InsertEvents(ctx, all, []store.ArchivedEvent{ev("fleet-a", "e1", 1, "V")})
	wantErr(t, "InsertEvents", err, store.ErrClosed)
	_, err = s.GetAlert(ctx, all, "x")
	wantErr(t, "GetAlert", err, store.ErrClosed)
	_, err = s.ReadEvents(ctx, all, 0, 1)
	wantErr(t, "ReadEvents", err, store.ErrClosed)
	err = s.Ping(ctx)
	wantErr(t, "Ping", err, store.ErrClosed)
	_, err = s.AppendAudit(ctx, all, store.AuditEntry{Actor: "a", Action: "b"})
	if !errors.Is(err, store.ErrClosed) {
		t.Fatalf("AppendAudit after Close: %v", err)
	}
}

func testPing(t *testing.T, b Backend) {
	s := open(t, b)
	wantErr(t, "Ping", s.Ping(ctx), nil)
}
