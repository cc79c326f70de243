package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/store"
	"github.com/vigil-project/vigil/internal/store/internal/sqlstore"
)

// TestEventKeyUpgrade: an archive written with the idempotency key of
// before migration 006 keeps refusing its duplicates after the upgrade, and
// its events are found by their key. The start says which step it waits for.
func TestEventKeyUpgrade(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	migrateBefore(t, dir, "event_key_order")
	b := backend(t, dir)
	b.Exec(t, `INSERT INTO events (seq, tenant, source, id, type, time, subject, arrived, raw)
VALUES (1, 'fleet-a', 'tsp/gw', 'e-1', 'vehicle.telemetry', 1000, 'VIN1', 1, x'7b7d');
UPDATE counters SET value = 1 WHERE name = 'event_seq'`)
	var logged bytes.Buffer
	s, err := Open(ctx, dir, Options{Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ev := func(tenant, id string) store.ArchivedEvent {
		return store.ArchivedEvent{Tenant: tenant, Source: "tsp/gw", ID: id, Type: "vehicle.telemetry", Time: 2000,
			Subject: "VIN1", Raw: []byte(`{}`), Arrived: 2}
	}
	res, err := s.InsertEvents(ctx, store.AllTenants(), []store.ArchivedEvent{ev("fleet-a", "e-1"), ev("fleet-b", "e-1"), ev("fleet-a", "e-2")})
	if err != nil {
		t.Fatal(err)
	}
	if !res[0].Duplicate || res[1].Duplicate || res[2].Duplicate {
		t.Fatalf("outcomes %+v: want the old event's key refused, another tenant's same key and a new id taken", res)
	}
	got, err := s.GetEvent(ctx, store.AllTenants(), "fleet-a", event.Ref{Source: "tsp/gw", ID: "e-1"})
	if err != nil || got.Time != 1000 {
		t.Fatalf("the old event by its key: %+v, %v", got, err)
	}
	var cols []string
	raw(t, dir, func(c *sql.Conn) error {
		rows, err := c.QueryContext(ctx, "SELECT name FROM pragma_index_info('events_key')")
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				return err
			}
			cols = append(cols, n)
		}
		return rows.Err()
	})
	if strings.Join(cols, ",") != "id,source,tenant" {
		t.Fatalf("events_key is on %v, want id, source, tenant", cols)
	}
	// Read once the store is closed: its goroutines log too.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	all, err := sqlstore.LoadMigrations(migrationFS, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		fmt.Sprintf(`msg="store: migrating the schema" store=sqlite step=006_event_key_order last=%d`, len(all)),
		`msg="store: schema step ran" store=sqlite step=006_event_key_order took=`,
		fmt.Sprintf(`msg="store: schema migrated" store=sqlite from=5 to=%d took=`, len(all)),
	} {
		if !strings.Contains(logged.String(), want) {
			t.Errorf("log of the upgrade:\n%s\nwant a line with %s", logged.String(), want)
		}
	}
}

// TestEventKeyLookupsUseTheIndex: the queries that look an event up by its
// key (GetEvent, an alert's evidence) search events_key whatever the order
// of its columns, never scan the archive.
func TestEventKeyLookupsUseTheIndex(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	qs := sqlstore.KeyLookups()
	if len(qs) == 0 {
		t.Fatal("no key lookups to check")
	}
	for _, q := range qs {
		var plan []string
		args := make([]any, strings.Count(q, "?"))
		for i := range args {
			args[i] = "x"
		}
		raw(t, dir, func(c *sql.Conn) error {
			rows, err := c.QueryContext(ctx, "EXPLAIN QUERY PLAN "+q, args...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var id, parent, notused int
				var detail string
				if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
					return err
				}
				plan = append(plan, detail)
			}
			return rows.Err()
		})
		all := strings.Join(plan, "; ")
		if !strings.Contains(all, "USING INDEX events_key (id=? AND source=? AND tenant=?)") || strings.Contains(all, "SCAN e") || strings.Contains(all, "SCAN events") {
			t.Errorf("%s\nplan: %s\nwant a search of events_key on all three columns", q, all)
		}
	}
}
