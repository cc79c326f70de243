// Package sqlite is vigil's embedded store: one SQLite database in the data
// directory, through modernc.org/sqlite (pure Go, no cgo).
//
// # Durability
//
// The database runs in WAL mode. Every write goes through one writer
// connection; InsertEvents calls that wait at the same time share one
// transaction (group commit), so one WAL sync covers many batches.
// InsertEvents returns only after COMMIT has returned, and a COMMIT in WAL
// mode returns only after the transaction's frames have been written to the
// WAL file with write(2).
//
//   - synchronous=FULL (the default): COMMIT also fsyncs the WAL. An
//     acknowledged batch survives the process being killed (kill -9, a
//     panic, the OOM killer) and the machine losing power or crashing,
//     provided the disk honours fsync.
//   - synchronous=NORMAL: the WAL is fsynced only at checkpoints. An
//     acknowledged batch still survives kill -9 of the process, because
//     the frames are in the kernel's page cache, which outlives the
//     process, and SQLite recovers them from the WAL on the next open. A
//     power loss or kernel crash may lose the last transactions before a
//     checkpoint (the database stays consistent: it rolls back to an
//     earlier commit). Faster on disks with slow fsync.
//
// Each setting is applied to every connection at open.
//
// Timeline entries live in timeline.db beside vigil.db, written by their own
// indexer with the same setting. They are derived from the events: a lost
// or stale timeline.db is built again, and searches stay complete meanwhile.
package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	msqlite "modernc.org/sqlite" // also the "sqlite" database/sql driver

	"github.com/vigil-project/vigil/internal/osprio"
	"github.com/vigil-project/vigil/internal/store"
	"github.com/vigil-project/vigil/internal/store/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// FileName is the database file inside the data directory.
const FileName = "vigil.db"

// TimelineFileName holds the timeline entries (see sqlstore/timeline.go):
// a file of its own, so that the indexer writes it beside the events'
// writer instead of queueing for it. It is derived from vigil.db: when it
// is missing, or ahead of vigil.db (a restored backup), it is built again.
const TimelineFileName = "timeline.db"

// Options configure the embedded store. Zero fields take the defaults.
type Options struct {
	// Synchronous is "full" (default) or "normal"; see the package
	// documentation for what each guarantees.
	Synchronous string
	// Readers is the number of read connections. Default 4.
	Readers int
	// CacheMiB is the page cache of each writer (the events' and the
	// timeline's). Default 64.
	CacheMiB int
	// MaxGroupEvents bounds the events of one group commit. Default 20,000.
	MaxGroupEvents int
	// QueueDepth bounds the InsertEvents calls waiting for the writer,
	// and apart from them the StoreDetections calls. Default 256.
	QueueDepth int
	// TimelineBatch and TimelineDelay pace the timeline's indexing; see
	// sqlstore.Options.
	TimelineBatch int
	TimelineDelay time.Duration
	// TimelineBlock is the sequence numbers one tenant block of the
	// timeline spans; see sqlstore.Options. Tests make it small.
	TimelineBlock int64
	// EntityKey replaces the timeline's key hash: tests force collisions.
	EntityKey func(kind, value string) int64
	// HoldWriter: see sqlstore.Options (tests).
	HoldWriter func(requests int, waiting func() int)
	// Now is the wall clock for created/updated stamps. Default time.Now.
	Now func() time.Time
	// Logger. Default slog.Default().
	Logger *slog.Logger
}

// DB is the embedded store.
type DB struct {
	*sqlstore.DB
	path string
}

var _ store.Store = (*DB)(nil)

// Open opens (creating when missing) the store in dir, applies the
// migrations this binary knows and refuses a database migrated by a newer
// vigil (store.ErrSchemaTooNew).
func Open(ctx context.Context, dir string, opts Options) (*DB, error) {
	sync := strings.ToUpper(opts.Synchronous)
	switch sync {
	case "":
		sync = "FULL"
	case "FULL", "NORMAL":
	default:
		return nil, store.Errorf(store.ErrInvalid, "sqlite: synchronous %q: want full or normal", opts.Synchronous)
	}
	if opts.Readers <= 0 {
		opts.Readers = 4
	}
	if opts.CacheMiB <= 0 {
		opts.CacheMiB = 64
	}
	if strings.ContainsAny(dir, "?#") {
		return nil, store.Errorf(store.ErrInvalid, "sqlite: data directory %q: must not contain ? or #", dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: sqlite: data directory: %w", err)
	}
	path, tlPath := filepath.Join(dir, FileName), filepath.Join(dir, TimelineFileName)
	// Create the files ourselves so that they, and the -wal and -shm files
	// SQLite derives from them, are readable by the owner only.
	for _, p := range []string{path, tlPath} {
		f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("store: sqlite: %w", err)
		}
		f.Close()
	}

	common := url.Values{}
	common.Add("_pragma", "busy_timeout(10000)")
	common.Add("_pragma", "foreign_keys(0)")
	common.Add("_pragma", "temp_store(MEMORY)")
	params := func(extra ...string) url.Values {
		q := url.Values{}
		for k, v := range common {
			q[k] = append([]string(nil), v...)
		}
		for i := 0; i+1 < len(extra); i += 2 {
			q.Add(extra[i], extra[i+1])
		}
		return q
	}
	wq := params()
	// The driver runs the _pragma list first, then _journal_mode and
	// _synchronous: page_size must come before WAL mode to take effect on
	// a new database (an existing one keeps its size). 16 KiB pages: each
	// WAL frame is two write calls, and ingest appends more than it
	// rewrites (docs/performance.md).
	wq.Add("_pragma", "page_size(16384)")
	wq.Set("_journal_mode", "WAL")
	wq.Set("_synchronous", sync)
	wq.Add("_pragma", fmt.Sprintf("cache_size(%d)", -opts.CacheMiB*1024))
	// Checkpoints run in the background (checkpointer); the writer only
	// steps in when the WAL outgrows this many pages (64 MiB), so ingest
	// does not wait for them.
	wq.Add("_pragma", fmt.Sprintf("wal_autocheckpoint(%d)", autoCheckpointPages))
	// Keep the WAL from staying large after a burst.
	wq.Add("_pragma", "journal_size_limit(67108864)")
	wq.Set("_txlock", "immediate")
	w, err := sql.Open("sqlite", "file:"+path+"?"+wq.Encode())
	if err != nil {
		return nil, fmt.Errorf("store: sqlite: %w", err)
	}
	// The single writer: every write transaction queues for this one
	// connection, so SQLite never answers SQLITE_BUSY between our writers.
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)

	// The timeline's own writer (the indexer), with the durability of the
	// events: a mark that outlived its entries would hide events.
	tq := params()
	tq.Add("_pragma", "page_size(16384)")
	tq.Set("_journal_mode", "WAL")
	tq.Set("_synchronous", sync)
	// Its inserts land all over the table (a batch names thousands of
	// vehicles): the default 2 MiB cache would read most leaves again.
	tq.Add("_pragma", fmt.Sprintf("cache_size(%d)", -opts.CacheMiB*1024))
	tq.Add("_pragma", "journal_size_limit(67108864)")
	tq.Set("_txlock", "immediate")
	tw, err := sql.Open("sqlite", "file:"+tlPath+"?"+tq.Encode())
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("store: sqlite: %w", err)
	}
	tw.SetMaxOpenConns(1)
	tw.SetMaxIdleConns(1)
	tw.SetConnMaxLifetime(0)
	tw.SetConnMaxIdleTime(0)

	// Readers see the timeline as the attached schema tl: the store's SQL
	// names it timeline, which no table of vigil.db is called.
	rq := params("_synchronous", sync, "_pragma", "query_only(1)")
	rc, err := msqlite.NewConnector("file:" + path + "?" + rq.Encode())
	if err != nil {
		tw.Close()
		w.Close()
		return nil, fmt.Errorf("store: sqlite: %w", err)
	}
	r := sql.OpenDB(attachTimeline{Connector: rc, path: tlPath})
	r.SetMaxOpenConns(opts.Readers)
	r.SetMaxIdleConns(opts.Readers)
	r.SetConnMaxIdleTime(0)

	cq := params("_synchronous", sync)
	ck, err := sql.Open("sqlite", "file:"+path+"?"+cq.Encode())
	if err != nil {
		r.Close()
		tw.Close()
		w.Close()
		return nil, fmt.Errorf("store: sqlite: %w", err)
	}
	ck.SetMaxOpenConns(1)
	ckStop, ckDone := make(chan struct{}), make(chan struct{})
	started := false
	closeAll := func() error {
		if started {
			close(ckStop)
			<-ckDone
		}
		return errors.Join(ck.Close(), r.Close(), tw.Close(), w.Close())
	}
	// The writer's first connection switches the file to WAL mode; check
	// it did (a failed switch would silently keep a rollback journal), and
	// that synchronous is what the package documents.
	var mode string
	var syncLevel int
	err = w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode)
	if err == nil {
		err = w.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&syncLevel)
	}
	if err == nil && (!strings.EqualFold(mode, "wal") || syncLevel != map[string]int{"FULL": 2, "NORMAL": 1}[sync]) {
		err = fmt.Errorf("journal_mode=%s synchronous=%d, want wal and %s", mode, syncLevel, sync)
	}
	if err != nil {
		closeAll()
		return nil, fmt.Errorf("store: sqlite: %s: %w", path, err)
	}
	ms, err := sqlstore.LoadMigrations(migrationFS, "migrations")
	if err != nil {
		closeAll()
		return nil, err
	}
	if err := prepareTimeline(ctx, tw, w); err != nil {
		closeAll()
		return nil, fmt.Errorf("store: sqlite: %s: %w", tlPath, err)
	}
	// A migration may build an index over the whole archive: its sort
	// spills to temporary files, not to memory as the writer's own
	// temporary tables do (temp_store(MEMORY) above), or it would hold
	// every key of the archive in RAM.
	if _, err := w.ExecContext(ctx, "PRAGMA temp_store = FILE"); err != nil {
		closeAll()
		return nil, fmt.Errorf("store: sqlite: %s: %w", path, err)
	}
	db, err := sqlstore.New(ctx, dialect{}, w, r, closeAll, ms, sqlstore.Options{Timeline: tw,
		Now: opts.Now, Logger: opts.Logger, MaxGroupEvents: opts.MaxGroupEvents, QueueDepth: opts.QueueDepth,
		TimelineBatch: opts.TimelineBatch, TimelineDelay: opts.TimelineDelay, EntityKey: opts.EntityKey,
		TimelineBlock: opts.TimelineBlock, HoldWriter: opts.HoldWriter,
	})
	if err != nil {
		closeAll()
		return nil, err
	}
	if _, err := w.ExecContext(ctx, "PRAGMA temp_store = MEMORY"); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: sqlite: %s: %w", path, err)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	started = true
	go checkpointer(ck, logger, ckStop, ckDone)
	return &DB{DB: db, path: path}, nil
}

// timelineSchema is timeline.db's. Its version is the file's user_version;
// a file of another version is emptied and built again.
const timelineSchema = `CREATE TABLE IF NOT EXISTS timeline (
	ekey INTEGER NOT NULL, -- the entity: a 64-bit hash of its kind and value
	time INTEGER NOT NULL,
	seq  INTEGER NOT NULL,
	PRIMARY KEY (ekey, time, seq)
) WITHOUT ROWID;
-- A tenant's events in a block of sequence numbers span [tmin, tmax]
-- (sqlstore/timeline.go: a tenant's own timeline).
CREATE TABLE IF NOT EXISTS timeline_blocks (
	tkey  INTEGER NOT NULL, -- the tenant: a 64-bit hash, as ekey
	block INTEGER NOT NULL, -- seq / the block's size
	tmin  INTEGER NOT NULL,
	tmax  INTEGER NOT NULL,
	PRIMARY KEY (tkey, block)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS timeline_blocks_tmax ON timeline_blocks (tkey, tmax);
CREATE INDEX IF NOT EXISTS timeline_blocks_tmin ON timeline_blocks (tkey, tmin);
-- Every event of vigil.db up to 'seq' has its entries.
CREATE TABLE IF NOT EXISTS timeline_mark (
	name  TEXT PRIMARY KEY,
	value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO timeline_mark (name, value) VALUES ('seq', 0) ON CONFLICT DO NOTHING;`

// timelineVersion 2: tenants' blocks instead of an entry per event for the
// tenant; a file of version 1 is built again.
const timelineVersion = 2

// prepareTimeline creates timeline.db's tables, and empties them when they
// cannot describe vigil.db: another version, or a mark past the newest
// event (vigil.db was restored from a backup, or lost its last commits).
func prepareTimeline(ctx context.Context, tw, w *sql.DB) error {
	var version int
	if err := tw.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return err
	}
	tx, err := tw.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	reset := version != 0 && version != timelineVersion
	if reset {
		for _, q := range []string{"DROP TABLE IF EXISTS timeline", "DROP TABLE IF EXISTS timeline_mark", "DROP TABLE IF EXISTS timeline_blocks"} {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return err
			}
		}
	}
	if _, err := tx.ExecContext(ctx, timelineSchema); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", timelineVersion)); err != nil {
		return err
	}
	var mark, newest int64
	if err := tx.QueryRowContext(ctx, "SELECT value FROM timeline_mark WHERE name = 'seq'").Scan(&mark); err != nil {
		return err
	}
	// A database not migrated yet has no counters: no events either.
	_ = w.QueryRowContext(ctx, "SELECT value FROM counters WHERE name = 'event_seq'").Scan(&newest)
	if mark > newest {
		for _, q := range []string{"DELETE FROM timeline", "DELETE FROM timeline_blocks", "UPDATE timeline_mark SET value = 0"} {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return err
			}
		}
	}
	return tx.Commit()
}

// attachTimeline opens reader connections with timeline.db attached.
type attachTimeline struct {
	driver.Connector
	path string
}

func (a attachTimeline) Connect(ctx context.Context) (driver.Conn, error) {
	c, err := a.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	ex, ok := c.(driver.ExecerContext)
	if !ok {
		c.Close()
		return nil, errors.New("store: sqlite: the driver cannot run ATTACH")
	}
	if _, err := ex.ExecContext(ctx, "ATTACH DATABASE ? AS tl", []driver.NamedValue{{Ordinal: 1, Value: a.path}}); err != nil {
		c.Close()
		return nil, fmt.Errorf("store: sqlite: attach %s: %w", a.path, err)
	}
	return c, nil
}

// autoCheckpointPages is the WAL size (in pages: 64 MiB of 16 KiB pages,
// 32 MiB in a database made with 8 KiB ones) at which the writer
// checkpoints itself because the background checkpointer fell behind.
const autoCheckpointPages = 4096

// checkpointInterval is how often the background checkpointer runs.
const checkpointInterval = 100 * time.Millisecond

// checkpointer copies the WAL into the database file from its own
// connection, on the machine's other core, so that the writer does not.
// PASSIVE never blocks the writer or the readers; whatever it cannot copy
// yet it copies on the next round.
func checkpointer(c *sql.DB, log *slog.Logger, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	osprio.Background()
	t := time.NewTicker(checkpointInterval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		_, err := c.Exec("PRAGMA wal_checkpoint(PASSIVE)")
		if err != nil && !failing {
			log.Warn("store: sqlite: background checkpoint failed; the writer checkpoints instead", "err", err)
		}
		failing = err != nil
	}
}

// Path returns the database file.
func (db *DB) Path() string { return db.path }

// dialect is SQLite's side of sqlstore.
type dialect struct{}

func (dialect) Name() string               { return "sqlite" }
func (dialect) Rebind(q string) string     { return q }
func (dialect) PrepareStatements() bool    { return true }
func (dialect) SnapshotTx() *sql.TxOptions { return &sql.TxOptions{ReadOnly: true} }
func (dialect) ForUpdate() string          { return "" } // the single writer excludes other writers
func (dialect) IndexedBy(index string) string {
	if index == "" {
		return " NOT INDEXED"
	}
	return " INDEXED BY " + index
}

// LockMigrations: the writer's transactions begin IMMEDIATE, which already
// holds the database's write lock against other processes.
func (dialect) LockMigrations(context.Context, *sql.Tx) error { return nil }

func (dialect) InsertEvents(ctx context.Context, tx *sqlstore.Tx, base int64, evs []store.ArchivedEvent, out []store.Inserted) error {
	return tx.Raw(func(dc any) error { return insertRows(ctx, dc, base, evs, out) })
}
