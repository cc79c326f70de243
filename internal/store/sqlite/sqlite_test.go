package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-project/vigil/internal/store"
	"github.com/vigil-project/vigil/internal/store/internal/sqlstore"
	"github.com/vigil-project/vigil/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Backend { return backend(t, t.TempDir()) })
}

func backend(t *testing.T, dir string) storetest.Backend {
	return storetest.Backend{
		Open: func(ctx context.Context) (store.Store, error) {
			return Open(ctx, dir, Options{TimelineBlock: storetest.TimelineBlock})
		},
		OpenWith: func(ctx context.Context, h storetest.Hooks) (store.Store, error) {
			o := Options{EntityKey: h.EntityKey, TimelineBlock: storetest.TimelineBlock, HoldWriter: h.HoldWriter}
			if h.ManualTimeline {
				o.TimelineDelay = -1
			}
			return Open(ctx, dir, o)
		},
		Exec: func(t *testing.T, q string) {
			t.Helper()
			raw(t, dir, func(db *sql.Conn) error { return execUnguarded(db, q) })
		},
		QueryInt: func(t *testing.T, q string) int64 {
			t.Helper()
			var n int64
			raw(t, dir, func(db *sql.Conn) error { return db.QueryRowContext(context.Background(), q).Scan(&n) })
			return n
		},
	}
}

// raw opens the database file behind the store's back.
func raw(t *testing.T, dir string, fn func(*sql.Conn) error) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, FileName)+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// As the store's readers do: the timeline is in a file of its own.
	if _, err := conn.ExecContext(context.Background(), "ATTACH DATABASE ? AS tl", filepath.Join(dir, TimelineFileName)); err != nil {
		t.Fatal(err)
	}
	if err := fn(conn); err != nil {
		t.Fatalf("raw SQL: %v", err)
	}
}

// execUnguarded runs q with the audit log's append-only triggers lifted,
// as someone with write access to the file could.
func execUnguarded(c *sql.Conn, q string) error {
	ctx := context.Background()
	rows, err := c.QueryContext(ctx, "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_log'")
	if err != nil {
		return err
	}
	var names, defs []string
	for rows.Next() {
		var n, d string
		if err := rows.Scan(&n, &d); err != nil {
			return err
		}
		names, defs = append(names, n), append(defs, d)
	}
	rows.Close()
	for _, n := range names {
		if _, err := c.ExecContext(ctx, `DROP TRIGGER "`+n+`"`); err != nil {
			return err
		}
	}
	_, err = c.ExecContext(ctx, q)
	for _, d := range defs {
		if _, err2 := c.ExecContext(ctx, d); err2 != nil {
			return errors.Join(err, err2)
		}
	}
	return err
}

// TestAuditLogRefusesEdits: the database itself refuses to update or
// delete audit entries (the hash chain detects whoever gets past it).
func TestAuditLogRefusesEdits(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(context.Background(), dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.AppendAudit(context.Background(), store.AllTenants(), store.AuditEntry{Actor: "a", Action: "b"}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log"} {
		raw(t, dir, func(c *sql.Conn) error {
			_, err := c.ExecContext(context.Background(), q)
			if err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("%s: error %v, want the append-only guard", q, err)
			}
			return nil
		})
	}
}

// TestTimelineUpgrade: a data directory of the schema before the timeline
// table migrates forward and its archive is searched completely.
func TestTimelineUpgrade(t *testing.T) {
	dir := t.TempDir()
	storetest.UpgradeTimeline(t, backend(t, dir), func(t *testing.T) { migrateBefore(t, dir, "timeline") })
}

// migrateBefore brings the database in dir to the migrations that come
// before the one called name: a data directory of an older vigil.
func migrateBefore(t *testing.T, dir, name string) {
	t.Helper()
	ms, err := sqlstore.MigrationsBefore(migrationFS, "migrations", name)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := sqlstore.Migrate(context.Background(), dialect{}, db, ms); err != nil {
		t.Fatal(err)
	}
}

// TestTimelineRebuilt: timeline.db is derived from vigil.db. Lost, ahead
// of vigil.db (restored from an older backup) or of an older version, it is
// built again,
// and searches are complete meanwhile.
func TestTimelineRebuilt(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b := backend(t, dir)
	var want []string
	for round, damage := range []func(){
		func() {
			for _, suffix := range []string{"", "-wal", "-shm"} {
				if err := os.Remove(filepath.Join(dir, TimelineFileName+suffix)); err != nil && !errors.Is(err, os.ErrNotExist) {
					t.Fatal(err)
				}
			}
		},
		func() { b.Exec(t, "UPDATE timeline_mark SET value = 1000000 WHERE name = 'seq'") },
		// A file of version 1, before the tenants' blocks.
		func() { b.Exec(t, "DROP TABLE tl.timeline_blocks; PRAGMA tl.user_version = 1") },
	} {
		s, err := Open(ctx, dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		var evs []store.ArchivedEvent
		for i := range 20 {
			id := fmt.Sprintf("r%d-%02d", round, i)
			evs = append(evs, store.ArchivedEvent{Tenant: "fleet-a", Source: "tsp/test", ID: id, Type: "vehicle.telemetry",
				Time: int64(1e18) + int64(round*100+i), Subject: "VIN1", Raw: []byte(`{}`), Arrived: 1})
			want = append([]string{id}, want...)
		}
		if _, err := s.InsertEvents(ctx, store.AllTenants(), evs); err != nil {
			t.Fatal(err)
		}
		for s.TimelineLag() > 0 {
			time.Sleep(time.Millisecond)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		damage()
		s, err = Open(ctx, dir, Options{TimelineDelay: -1})
		if err != nil {
			t.Fatal(err)
		}
		if got := b.QueryInt(t, "SELECT value FROM timeline_mark WHERE name = 'seq'"); got != 0 {
			t.Fatalf("round %d: mark %d after the damage, want 0 (rebuilt)", round, got)
		}
		for step := 0; step < 2; step++ {
			for _, q := range []store.EventQuery{{Kind: store.EntityVehicle, Value: "VIN1", Limit: 100}, {Limit: 100}} {
				page, err := s.SearchEvents(ctx, store.AllTenants(), q)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, e := range page.Events {
					got = append(got, e.ID)
				}
				if !slices.Equal(got, want) {
					t.Fatalf("round %d, step %d: %+v gave %v, want %v", round, step, q, got, want)
				}
			}
			if _, err := s.IndexTimeline(ctx, 0); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOpenOptions(t *testing.T) {
	ctx := context.Background()
	if _, err := Open(ctx, t.TempDir(), Options{Synchronous: "off"}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("synchronous=off: %v, want ErrInvalid", err)
	}
	for _, sync := range []string{"normal", "FULL"} {
		dir := t.TempDir()
		s, err := Open(ctx, dir, Options{Synchronous: sync})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
}

func benchOpen(b *testing.B) store.Store {
	s, err := Open(context.Background(), b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func BenchmarkInsertEvents(b *testing.B) { storetest.BenchInsertEvents(b, benchOpen) }

func BenchmarkSearchEvents(b *testing.B) {
	storetest.BenchSearchEvents(b, func(b *testing.B, manual bool) store.Store {
		o := Options{}
		if manual {
			o.TimelineDelay = -1
		}
		s, err := Open(context.Background(), b.TempDir(), o)
		if err != nil {
			b.Fatal(err)
		}
		return s
	})
}
func BenchmarkListAlerts(b *testing.B) { storetest.BenchListAlerts(b, benchOpen, nil) }

func BenchmarkStoreDetections(b *testing.B) { storetest.BenchStoreDetections(b, benchOpen) }
