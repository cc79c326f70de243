package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/vigil-project/vigil/internal/store"
)

// Migration is one step of the schema, applied once, in version order.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

var migrationName = regexp.MustCompile(`^([0-9]{3,})_([a-z0-9_]+)\.sql$`)

// MigrationsBefore returns the migrations in dir that come before the one
// called name: the schema of an older vigil, which upgrade tests build.
func MigrationsBefore(fsys fs.FS, dir, name string) ([]Migration, error) {
	ms, err := LoadMigrations(fsys, dir)
	if err != nil {
		return nil, err
	}
	for i, m := range ms {
		if m.Name == name {
			return ms[:i], nil
		}
	}
	return nil, fmt.Errorf("store: migrations: none called %q", name)
}

// LoadMigrations reads dir/NNN_name.sql from fsys (the binary's embedded
// migrations). Versions must run 1, 2, 3, … without gaps.
func LoadMigrations(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("store: migrations: %w", err)
	}
	var out []Migration
	for _, e := range entries {
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("store: migrations: %s: want NNN_name.sql", e.Name())
		}
		v, _ := strconv.Atoi(m[1])
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("store: migrations: %w", err)
		}
		out = append(out, Migration{Version: v, Name: m[2], SQL: string(b)})
	}
	slices.SortFunc(out, func(a, b Migration) int { return a.Version - b.Version })
	for i, m := range out {
		if m.Version != i+1 {
			return nil, fmt.Errorf("store: migrations: version %d follows %d: versions must run 1, 2, 3, … without gaps", m.Version, i)
		}
	}
	return out, nil
}

const createVersionTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    BIGINT PRIMARY KEY,
	name       TEXT NOT NULL,
	applied_at BIGINT NOT NULL
)`

// Migrate applies ms as New does, without opening a store: tests build
// databases of an older schema version with it.
func Migrate(ctx context.Context, d Dialect, w *sql.DB, ms []Migration) error {
	return migrate(ctx, d, w, ms, time.Now, slog.New(slog.DiscardHandler))
}

// migrate brings the schema up to the newest migration in one transaction,
// under the dialect's migration lock, so concurrent starts apply each step
// once. A database migrated by a newer binary is refused.
func migrate(ctx context.Context, d Dialect, w *sql.DB, ms []Migration, now func() time.Time, log *slog.Logger) error {
	tx, err := w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: migrate: begin: %w", err)
	}
	defer tx.Rollback()
	if err := d.LockMigrations(ctx, tx); err != nil {
		return fmt.Errorf("store: migrate: lock: %w", err)
	}
	if _, err := tx.ExecContext(ctx, createVersionTable); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	var cur int
	if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&cur); err != nil {
		return fmt.Errorf("store: migrate: read version: %w", err)
	}
	latest := len(ms)
	if cur > latest {
		return store.Errorf(store.ErrSchemaTooNew,
			"the %s database has schema version %d, this vigil knows versions up to %d: run the vigil release that migrated it (or newer), or restore a backup taken before that upgrade",
			d.Name(), cur, latest)
	}
	if cur == latest {
		return nil
	}
	// An upgrade's steps may rebuild an index over the whole archive: say
	// what the start waits for, and how long it took. A new database's
	// steps are instant and said only at debug level.
	level := slog.LevelInfo
	if cur == 0 {
		level = slog.LevelDebug
	}
	begun := time.Now()
	for _, m := range ms[cur:] {
		step := fmt.Sprintf("%03d_%s", m.Version, m.Name)
		log.Log(ctx, level, "store: migrating the schema", "store", d.Name(), "step", step, "last", latest)
		start := time.Now()
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			return fmt.Errorf("store: migrate: %03d_%s: %w", m.Version, m.Name, err)
		}
		// Not applied yet: every step commits with the others, below.
		log.Log(ctx, level, "store: schema step ran", "store", d.Name(), "step", step, "took", time.Since(start).Round(time.Millisecond))
		if _, err := tx.ExecContext(ctx, d.Rebind("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)"),
			m.Version, m.Name, now().UnixNano()); err != nil {
			return fmt.Errorf("store: migrate: record %03d_%s: %w", m.Version, m.Name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: migrate: commit: %w", err)
	}
	log.Log(ctx, level, "store: schema migrated", "store", d.Name(), "from", cur, "to", latest, "took", time.Since(begun).Round(time.Millisecond))
	return nil
}
