// Package postgres is vigil's shared store for more than one node:
// PostgreSQL through github.com/jackc/pgx/v5 (its database/sql driver, which
// prepares and caches every statement per connection).
//
// # Durability and ordering
//
// InsertEvents returns after COMMIT returns; with PostgreSQL's default
// synchronous_commit=on that means the commit record is flushed to the WAL
// on disk (and, with synchronous replication configured, to the standbys).
// Sequence numbers come from a counter row that every event transaction
// updates first and holds locked until it commits, so they follow commit
// order across all nodes: a reader never sees seq n+1 before seq n.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/vigil-project/vigil/internal/store"
	"github.com/vigil-project/vigil/internal/store/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Options configure the PostgreSQL store. Zero fields take the defaults.
type Options struct {
	// Schema holds vigil's tables; created when missing. Default: the
	// connection's search_path (usually public).
	Schema string
	// MaxConns bounds the connections. Default 10.
	MaxConns int
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

// DB is the PostgreSQL store.
type DB struct {
	*sqlstore.DB
}

var _ store.Store = (*DB)(nil)

var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// Open connects to the database at dsn (a postgres:// URL or key=value
// string), applies the migrations this binary knows and refuses a schema
// migrated by a newer vigil (store.ErrSchemaTooNew).
func Open(ctx context.Context, dsn string, opts Options) (*DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, store.Errorf(store.ErrInvalid, "postgres: connection string: %v", err)
	}
	if opts.Schema != "" {
		if !schemaName.MatchString(opts.Schema) {
			return nil, store.Errorf(store.ErrInvalid, "postgres: schema %q: want lower-case letters, digits and _", opts.Schema)
		}
		cfg.RuntimeParams["search_path"] = opts.Schema
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = 10
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(opts.MaxConns)
	db.SetMaxIdleConns(opts.MaxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: postgres: connect to %s:%d/%s: %w", cfg.Host, cfg.Port, cfg.Database, err)
	}
	if opts.Schema != "" {
		// An identifier cannot be a bound argument; the name was checked
		// against a strict pattern above.
		if _, err := db.ExecContext(ctx, `CREATE SCHEMA IF NOT EXISTS "`+opts.Schema+`"`); err != nil {
			db.Close()
			return nil, fmt.Errorf("store: postgres: create schema %s: %w", opts.Schema, err)
		}
	}
	ms, err := sqlstore.LoadMigrations(migrationFS, "migrations")
	if err != nil {
		db.Close()
		return nil, err
	}
	s, err := sqlstore.New(ctx, &dialect{}, db, db, db.Close, ms, sqlstore.Options{
		Now: opts.Now, Logger: opts.Logger, MaxGroupEvents: opts.MaxGroupEvents, QueueDepth: opts.QueueDepth,
		TimelineBatch: opts.TimelineBatch, TimelineDelay: opts.TimelineDelay, EntityKey: opts.EntityKey,
		TimelineBlock: opts.TimelineBlock, HoldWriter: opts.HoldWriter,
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return &DB{DB: s}, nil
}

// dialect is PostgreSQL's side of sqlstore.
type dialect struct {
	rebound sync.Map // query → query with $n placeholders
}

func (*dialect) Name() string                  { return "postgres" }
func (*dialect) PrepareStatements() bool       { return false } // pgx caches prepared statements per connection
func (*dialect) ForUpdate() string             { return " FOR UPDATE" }
func (*dialect) IndexedBy(index string) string { return "" }

func (*dialect) SnapshotTx() *sql.TxOptions {
	return &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}
}

// Rebind numbers the ? placeholders. The store's SQL has no ? anywhere
// else (no string literals holding one, no jsonb ? operator).
func (d *dialect) Rebind(q string) string {
	if r, ok := d.rebound.Load(q); ok {
		return r.(string)
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	r := b.String()
	d.rebound.Store(q, r)
	return r
}

// migrationLockKey is the first half of the advisory lock key that
// serialises migrations; the second is the schema's hash.
const migrationLockKey = 0x76696769 // "vigi"

func (*dialect) LockMigrations(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))", migrationLockKey)
	return err
}

// insertEvents inserts a whole batch in one statement: the columns travel
// as arrays and unnest turns them back into rows, in order. The sequence
// number of row i is base+i, so RETURNING seq says which rows were new.
const insertEvents = `INSERT INTO events (seq, tenant, source, id, type, time, subject, account, device, ip, client_id, arrived, raw)
SELECT $1::bigint + u.ord - 1, u.tenant, u.source, u.id, u.type, u.time, NULLIF(u.subject, ''), NULLIF(u.account, ''),
	NULLIF(u.device, ''), NULLIF(u.ip, ''), NULLIF(u.client_id, ''), u.arrived, u.raw
FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[], $8::text[], $9::text[], $10::text[],
	$11::text[], $12::bigint[], $13::bytea[])
	WITH ORDINALITY AS u(tenant, source, id, type, time, subject, account, device, ip, client_id, arrived, raw, ord)
ORDER BY u.ord
ON CONFLICT (tenant, source, id) DO NOTHING
RETURNING seq`

func (*dialect) InsertEvents(ctx context.Context, tx *sqlstore.Tx, base int64, evs []store.ArchivedEvent, out []store.Inserted) error {
	n := len(evs)
	tenant, source, id, typ := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	subject, account, device, ip, client := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	tm, arrived, raw := make([]int64, n), make([]int64, n), make([][]byte, n)
	for i := range evs {
		e := &evs[i]
		tenant[i], source[i], id[i], typ[i] = e.Tenant, e.Source, e.ID, e.Type
		subject[i], account[i], device[i], ip[i], client[i] = e.Subject, e.Account, e.Device, e.IP, e.ClientID
		tm[i], arrived[i], raw[i] = e.Time, e.Arrived, e.Raw
		out[i] = store.Inserted{Duplicate: true}
	}
	rows, err := tx.Query(ctx, insertEvents, base, tenant, source, id, typ, tm, subject, account, device, ip, client, arrived, raw)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var seq int64
		if err := rows.Scan(&seq); err != nil {
			return err
		}
		i := seq - base
		if i < 0 || i >= int64(n) {
			return fmt.Errorf("insert events: sequence %d outside the batch's %d…%d", seq, base, base+int64(n)-1)
		}
		out[i] = store.Inserted{Seq: seq}
	}
	return rows.Err()
}
