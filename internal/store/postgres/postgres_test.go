package postgres

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/vigil-project/vigil/internal/store"
	"github.com/vigil-project/vigil/internal/store/internal/sqlstore"
	"github.com/vigil-project/vigil/internal/store/storetest"
)

// testDSN is the PostgreSQL the tests use: the machine's own, unless
// VIGIL_TEST_POSTGRES names another.
func testDSN() string {
	if dsn := os.Getenv("VIGIL_TEST_POSTGRES"); dsn != "" {
		return dsn
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

var (
	reachOnce sync.Once
	reachErr  error
)

// admin connects to the test database, failing (never skipping) the test
// with what to do when PostgreSQL does not answer.
func admin(t testing.TB) *sql.DB {
	t.Helper()
	cfg, err := pgx.ParseConfig(testDSN())
	if err != nil {
		t.Fatalf("VIGIL_TEST_POSTGRES: %v", err)
	}
	db := stdlib.OpenDB(*cfg)
	reachOnce.Do(func() { reachErr = db.PingContext(context.Background()) })
	if reachErr != nil {
		db.Close()
		t.Fatalf("PostgreSQL is not reachable at %s: %v\n"+
			"Start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start\n"+
			"(or point VIGIL_TEST_POSTGRES at another server: the tests create and drop their own schemas)", testDSN(), reachErr)
	}
	return db
}

// freshSchema creates an empty schema vigil_test_<random> and drops it when
// the test ends.
func freshSchema(t testing.TB) string {
	t.Helper()
	db := admin(t)
	var b [6]byte
	rand.Read(b[:])
	schema := "vigil_test_" + hex.EncodeToString(b[:])
	if _, err := db.Exec(`CREATE SCHEMA ` + schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := db.Exec(`DROP SCHEMA ` + schema + ` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
		db.Close()
	})
	return schema
}

// schemaConn runs fn on one connection to the schema, behind the store's
// back.
func schemaConn(t *testing.T, schema string, fn func(*sql.Conn) error) {
	t.Helper()
	cfg, err := pgx.ParseConfig(testDSN())
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["search_path"] = schema
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	c, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := fn(c); err != nil {
		t.Fatalf("raw SQL: %v", err)
	}
}

func backend(t *testing.T) storetest.Backend { return backendIn(freshSchema(t)) }

func backendIn(schema string) storetest.Backend {
	return storetest.Backend{
		Open: func(ctx context.Context) (store.Store, error) {
			return Open(ctx, testDSN(), Options{Schema: schema, MaxConns: 4, TimelineBlock: storetest.TimelineBlock})
		},
		OpenWith: func(ctx context.Context, h storetest.Hooks) (store.Store, error) {
			o := Options{Schema: schema, MaxConns: 4, EntityKey: h.EntityKey, TimelineBlock: storetest.TimelineBlock, HoldWriter: h.HoldWriter}
			if h.ManualTimeline {
				o.TimelineDelay = -1
			}
			return Open(ctx, testDSN(), o)
		},
		Exec: func(t *testing.T, q string) {
			t.Helper()
			schemaConn(t, schema, func(c *sql.Conn) error {
				ctx := context.Background()
				// Triggers do not fire for a session replaying changes:
				// how someone with superuser rights gets past the guard.
				if _, err := c.ExecContext(ctx, "SET session_replication_role = replica"); err != nil {
					return err
				}
				_, err := c.ExecContext(ctx, q)
				return err
			})
		},
		QueryInt: func(t *testing.T, q string) int64 {
			t.Helper()
			var n int64
			schemaConn(t, schema, func(c *sql.Conn) error { return c.QueryRowContext(context.Background(), q).Scan(&n) })
			return n
		},
	}
}

func TestConformance(t *testing.T) {
	admin(t).Close()
	storetest.Run(t, backend)
}

// TestAuditLogRefusesEdits: the database refuses to update, delete or
// truncate audit entries.
func TestAuditLogRefusesEdits(t *testing.T) {
	schema := freshSchema(t)
	ctx := context.Background()
	s, err := Open(ctx, testDSN(), Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.AppendAudit(ctx, store.AllTenants(), store.AuditEntry{Actor: "a", Action: "b"}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log", "TRUNCATE audit_log"} {
		schemaConn(t, schema, func(c *sql.Conn) error {
			_, err := c.ExecContext(ctx, q)
			if err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("%s: error %v, want the append-only guard", q, err)
			}
			return nil
		})
	}
}

// TestConcurrentOpen: nodes starting together apply each migration once.
func TestConcurrentOpen(t *testing.T) {
	schema := freshSchema(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := Open(ctx, testDSN(), Options{Schema: schema, MaxConns: 2})
			if err == nil {
				err = s.Close()
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var n int
	schemaConn(t, schema, func(c *sql.Conn) error {
		return c.QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations").Scan(&n)
	})
	ms, err := sqlstore.LoadMigrations(migrationFS, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	if n != len(ms) {
		t.Fatalf("%d migration rows, want %d: each migration once", n, len(ms))
	}
}

// TestFollowTwoNodes: two nodes insert into one database while a reader
// follows; sequence numbers must become visible in order across nodes.
func TestFollowTwoNodes(t *testing.T) { storetest.Follow(t, twoNodes(t)) }

// twoNodes opens two stores on one fresh schema, as two vigil nodes would.
func twoNodes(t *testing.T) []store.Store {
	schema := freshSchema(t)
	var stores []store.Store
	for range 2 {
		s, err := Open(context.Background(), testDSN(), Options{Schema: schema, MaxConns: 4})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		stores = append(stores, s)
	}
	return stores
}

// TestTimelineUpgrade: a schema from before the timeline table migrates
// forward and its archive is searched completely.
func TestTimelineUpgrade(t *testing.T) {
	schema := freshSchema(t)
	storetest.UpgradeTimeline(t, backendIn(schema), func(t *testing.T) { migrateBefore(t, schema, "timeline") })
}

// TestTimelineBlocksUpgrade: a timeline with an entry per event for its
// tenant is built again with the tenants' blocks.
func TestTimelineBlocksUpgrade(t *testing.T) {
	schema := freshSchema(t)
	storetest.UpgradeTimelineBlocks(t, backendIn(schema), func(t *testing.T) { migrateBefore(t, schema, "timeline_blocks") })
}

// migrateBefore brings schema to the migrations that come before the one
// called name: a database of an older vigil.
func migrateBefore(t *testing.T, schema, name string) {
	t.Helper()
	ms, err := sqlstore.MigrationsBefore(migrationFS, "migrations", name)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := pgx.ParseConfig(testDSN())
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["search_path"] = schema
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	if err := sqlstore.Migrate(context.Background(), &dialect{}, db, ms); err != nil {
		t.Fatal(err)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := Open(ctx, testDSN(), Options{Schema: `x"; DROP TABLE y; --`}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("bad schema name: %v, want ErrInvalid", err)
	}
	if _, err := Open(ctx, "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=2", Options{}); err == nil {
		t.Fatal("open with nothing listening: no error")
	}
}

func benchOpen(b *testing.B) store.Store {
	s, err := Open(context.Background(), testDSN(), Options{Schema: freshSchema(b)})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func BenchmarkInsertEvents(b *testing.B) { storetest.BenchInsertEvents(b, benchOpen) }

func BenchmarkListAlerts(b *testing.B) {
	schema := freshSchema(b)
	open := func(b *testing.B) store.Store {
		s, err := Open(context.Background(), testDSN(), Options{Schema: schema})
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
	analyze := func(b *testing.B) {
		db := admin(b)
		defer db.Close()
		if _, err := db.Exec("ANALYZE " + schema + ".alerts, " + schema + ".alert_entities"); err != nil {
			b.Fatal(err)
		}
	}
	storetest.BenchListAlerts(b, open, analyze)
}
