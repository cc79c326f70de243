package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"testing"

	"github.com/vigil-project/vigil/internal/store/internal/sqlstore"
	"github.com/vigil-project/vigil/internal/store/storetest"
)

// TestAlertSeqUpgrade: alerts stored before the delivery sequence existed
// are numbered in creation order, and new ones follow.
func TestAlertSeqUpgrade(t *testing.T) {
	dir := t.TempDir()
	storetest.UpgradeAlertSeq(t, backend(t, dir), func(t *testing.T) {
		ms, err := sqlstore.LoadMigrations(migrationFS, "migrations")
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(ms, func(m sqlstore.Migration) bool { return m.Name == "alert_seq" })
		if i < 0 {
			t.Fatal("no alert_seq migration")
		}
		db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, FileName))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := sqlstore.Migrate(context.Background(), dialect{}, db, ms[:i]); err != nil {
			t.Fatal(err)
		}
	})
}
