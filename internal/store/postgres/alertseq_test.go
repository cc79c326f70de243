package postgres

import (
	"context"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/vigil-project/vigil/internal/store"
	"github.com/vigil-project/vigil/internal/store/internal/sqlstore"
	"github.com/vigil-project/vigil/internal/store/storetest"
)

// TestFollowAlertsTwoNodes: two nodes upsert alerts into one database
// while a reader follows the delivery sequence: numbers must become
// visible in order, without a gap, across nodes.
func TestFollowAlertsTwoNodes(t *testing.T) {
	schema := freshSchema(t)
	var stores []store.Store
	for range 2 {
		s, err := Open(context.Background(), testDSN(), Options{Schema: schema, MaxConns: 4})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		stores = append(stores, s)
	}
	storetest.FollowAlerts(t, stores)
}

// TestAlertSeqUpgrade: alerts stored before the delivery sequence existed
// are numbered in creation order, and new ones follow.
func TestAlertSeqUpgrade(t *testing.T) {
	schema := freshSchema(t)
	storetest.UpgradeAlertSeq(t, backendIn(schema), func(t *testing.T) {
		ms, err := sqlstore.LoadMigrations(migrationFS, "migrations")
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(ms, func(m sqlstore.Migration) bool { return m.Name == "alert_seq" })
		if i < 0 {
			t.Fatal("no alert_seq migration")
		}
		cfg, err := pgx.ParseConfig(testDSN())
		if err != nil {
			t.Fatal(err)
		}
		cfg.RuntimeParams["search_path"] = schema
		db := stdlib.OpenDB(*cfg)
		defer db.Close()
		if err := sqlstore.Migrate(context.Background(), &dialect{}, db, ms[:i]); err != nil {
			t.Fatal(err)
		}
	})
}
