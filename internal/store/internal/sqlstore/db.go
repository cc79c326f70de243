// Package sqlstore is the store written once in SQL that SQLite and
// PostgreSQL both understand, over database/sql. store/sqlite and
// store/postgres supply a Dialect (connections, placeholders, the bulk event
// insert, locking) and their migrations; everything else lives here, so the
// two implementations cannot drift apart.
//
// SQL text is built only from constant fragments; every value, and
// especially every user input, is a bound argument. Statements are prepared
// once per connection and cached by their text.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-project/vigil/internal/store"
)

// Dialect is what differs between the databases.
type Dialect interface {
	// Name is "sqlite" or "postgres".
	Name() string
	// Rebind turns the ? placeholders of q into the driver's.
	Rebind(q string) string
	// PrepareStatements: whether the store should prepare and cache
	// statements itself, or the driver already does.
	PrepareStatements() bool
	// SnapshotTx are the options of a read-only transaction whose
	// statements all see one snapshot.
	SnapshotTx() *sql.TxOptions
	// ForUpdate is the clause that locks the rows a SELECT reads until the
	// transaction ends ("" where the write transaction already excludes
	// every other writer).
	ForUpdate() string
	// IndexedBy is the clause that makes the planner use the named index
	// on a table ("" where the planner can be trusted to find it); with
	// index "" it is the clause that keeps it to the primary key.
	IndexedBy(index string) string
	// LockMigrations serialises migrations across processes.
	LockMigrations(ctx context.Context, tx *sql.Tx) error
	// InsertEvents inserts evs in tx with sequence numbers base, base+1,
	// …, skipping those whose (tenant, source, id) exists, and sets out.
	InsertEvents(ctx context.Context, tx *Tx, base int64, evs []store.ArchivedEvent, out []store.Inserted) error
}

// Options configure a DB.
type Options struct {
	// Now is the wall clock for created/updated stamps. Default time.Now.
	Now func() time.Time
	// Logger. Default slog.Default().
	Logger *slog.Logger
	// MaxGroupEvents bounds the events of one group commit. Default 20,000.
	MaxGroupEvents int
	// QueueDepth bounds the InsertEvents calls waiting for the writer,
	// and apart from them the StoreDetections calls; callers beyond it
	// wait (backpressure). Default 256.
	QueueDepth int
	// TimelineBatch is how many events one timeline indexing step covers
	// at most, and how many waiting make it start at once: a step writes
	// a leaf per entity it touches, so larger steps write each leaf fewer
	// times: full-speed ingest slows less as the timeline grows
	// (docs/performance.md). Default 200,000.
	TimelineBatch int
	// TimelineDelay is how long fewer events than a batch wait for their
	// timeline entries. Searches are complete either way (they scan what
	// waits: the price of a longer wait). Default 2s; negative: only
	// IndexTimeline calls index (tests).
	TimelineDelay time.Duration
	// EntityKey replaces the timeline key function (EntityKey); tests use
	// it to force collisions.
	EntityKey func(kind, value string) int64
	// TimelineBlock is how many sequence numbers one tenant block of the
	// timeline spans (timeline_blocks, see timeline.go). Default 1,024;
	// tests make it small so that searches cross many blocks.
	TimelineBlock int64
	// HoldWriter, when set, is called by the writer before each group
	// commit (and each request retried alone after a group failed) with
	// the group's number of requests and a count of those waiting behind
	// it: tests hold the writer in it to gather a group of their making.
	HoldWriter func(requests int, waiting func() int)
	// Timeline is the pool timeline entries are written through, when they
	// live apart from the events (store/sqlite: their own file, so that
	// indexing does not queue for the events' one writer). Nil: w.
	Timeline *sql.DB
}

// DB implements store.Store over a Dialect.
type DB struct {
	d     Dialect
	w, r  *sql.DB // writer and reader pools (the same for PostgreSQL)
	ws    *stmtCache
	rs    *stmtCache
	now   func() time.Time
	log   *slog.Logger
	opts  Options
	close func() error // releases the pools

	mu      sync.RWMutex // held (read) while a request is handed to the committer
	closed  bool
	reqs    chan *insertReq // InsertEvents calls
	dets    chan *insertReq // StoreDetections calls, taken first
	stopped chan struct{}

	tenantMu sync.Mutex
	tenants  map[string]bool // tenants known to be registered

	entityKey func(kind, value string) int64
	tw        *sql.DB // the timeline's writer pool
	tws       *stmtCache
	ix        indexer
	indexed   atomic.Int64 // the timeline's high-water mark, as last seen
	written   atomic.Int64 // the highest sequence number the commit loop committed (or found at start)
}

var _ store.Store = (*DB)(nil)

// New runs the migrations and returns a DB. w is the pool writes go
// through, r the pool reads go through (they may be the same); closeFn
// releases them on Close.
func New(ctx context.Context, d Dialect, w, r *sql.DB, closeFn func() error, migrations []Migration, opts Options) (*DB, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxGroupEvents <= 0 {
		opts.MaxGroupEvents = 20_000
	}
	if opts.QueueDepth <= 0 {
		opts.QueueDepth = 256
	}
	if opts.TimelineBatch <= 0 {
		opts.TimelineBatch = 200_000
	}
	if opts.TimelineBlock <= 0 {
		opts.TimelineBlock = 1024
	}
	if opts.TimelineDelay == 0 {
		opts.TimelineDelay = 2 * time.Second
	}
	if opts.EntityKey == nil {
		opts.EntityKey = EntityKey
	}
	db := &DB{d: d, w: w, r: r, now: opts.Now, log: opts.Logger, opts: opts, close: closeFn,
		reqs: make(chan *insertReq, opts.QueueDepth), dets: make(chan *insertReq, opts.QueueDepth), stopped: make(chan struct{}), tenants: map[string]bool{}, entityKey: opts.EntityKey}
	db.ws = &stmtCache{db: w, rebind: d.Rebind, prepare: d.PrepareStatements(), m: map[string]*sql.Stmt{}}
	db.rs = db.ws
	if r != w {
		db.rs = &stmtCache{db: r, rebind: d.Rebind, prepare: d.PrepareStatements(), m: map[string]*sql.Stmt{}}
	}
	db.tw, db.tws = w, db.ws
	if opts.Timeline != nil && opts.Timeline != w {
		db.tw = opts.Timeline
		db.tws = &stmtCache{db: db.tw, rebind: d.Rebind, prepare: d.PrepareStatements(), m: map[string]*sql.Stmt{}}
	}
	db.ix = indexer{on: opts.TimelineDelay > 0, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	if err := migrate(ctx, d, w, migrations, db.now, db.log); err != nil {
		return nil, err
	}
	var written, indexed int64
	err := w.QueryRowContext(ctx, "SELECT value FROM counters WHERE name = 'event_seq'").Scan(&written)
	if err == nil {
		err = db.tw.QueryRowContext(ctx, markQuery).Scan(&indexed)
	}
	if err != nil {
		return nil, fmt.Errorf("store: read the event and timeline counters: %w", err)
	}
	db.written.Store(written)
	db.indexed.Store(indexed)
	go db.commitLoop()
	if db.ix.on {
		// Whatever waits from an earlier run, and recorded deletions.
		db.ix.cleanup.Store(true)
		db.ix.poke()
		go db.indexLoop()
	} else {
		close(db.ix.done)
	}
	return db, nil
}

// Ping reports whether both pools answer.
func (db *DB) Ping(ctx context.Context) error {
	if db.isClosed() {
		return store.ErrClosed
	}
	var one int
	if err := db.rs.queryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

// Close stops the writer after the pending inserts and closes the pools.
func (db *DB) Close() error {
	db.mu.Lock()
	if db.closed {
		db.mu.Unlock()
		return store.ErrClosed
	}
	db.closed = true
	close(db.reqs)
	close(db.dets)
	db.mu.Unlock()
	<-db.stopped
	close(db.ix.stop)
	<-db.ix.done
	db.ws.closeAll()
	if db.rs != db.ws {
		db.rs.closeAll()
	}
	if db.tws != db.ws {
		db.tws.closeAll()
	}
	return db.close()
}

func (db *DB) isClosed() bool {
	db.mu.RLock()
	defer db.mu.RUnlock()
	return db.closed
}

// Now returns the wall clock in Unix ns.
func (db *DB) nowNS() int64 { return db.now().UnixNano() }

// stmtCache runs the statements of one pool. With prepare set (SQLite,
// whose driver would otherwise compile every statement on every call) it
// prepares each text once per pool and reuses it; without (PostgreSQL,
// whose driver already caches prepared statements per connection) it
// passes the text through.
type stmtCache struct {
	db      *sql.DB
	rebind  func(string) string
	prepare bool
	mu      sync.Mutex
	m       map[string]*sql.Stmt
	warming map[string]bool // being prepared by warm
	closed  bool            // closeAll ran: warm starts nothing more
	warms   sync.WaitGroup  // warm's goroutines, which closeAll waits for
}

// maxCachedStmts bounds the cache; the SQL shapes are a finite set of
// constant fragments, far fewer than this.
const maxCachedStmts = 2000

func (c *stmtCache) get(ctx context.Context, q string) (*sql.Stmt, error) {
	c.mu.Lock()
	st := c.m[q]
	c.mu.Unlock()
	if st != nil {
		return st, nil
	}
	st, err := c.db.PrepareContext(ctx, c.rebind(q))
	if err != nil {
		return nil, fmt.Errorf("store: prepare: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.m[q]; old != nil {
		st.Close()
		return old, nil
	}
	if len(c.m) >= maxCachedStmts {
		for k, s := range c.m {
			s.Close()
			delete(c.m, k)
		}
	}
	c.m[q] = st
	return st, nil
}

// warm prepares qs on the pool in the background, once however many
// transactions missed them at the same time. The connection is free again;
// whoever takes it next waits for these prepares, once per statement.
func (c *stmtCache) warm(qs []string) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	if c.warming == nil {
		c.warming = map[string]bool{}
	}
	var todo []string
	for _, q := range qs {
		if c.m[q] == nil && !c.warming[q] {
			c.warming[q] = true
			todo = append(todo, q)
		}
	}
	if len(todo) > 0 {
		c.warms.Add(1) // under mu: closeAll cannot be waiting yet
	}
	c.mu.Unlock()
	if len(todo) == 0 {
		return
	}
	go func() {
		defer c.warms.Done()
		for _, q := range todo {
			// A failure (the pool closing) leaves it to a later
			// transaction's miss.
			c.get(context.Background(), q)
			c.mu.Lock()
			delete(c.warming, q)
			c.mu.Unlock()
		}
	}()
}

// cached returns the pool's prepared q, or nil.
func (c *stmtCache) cached(q string) *sql.Stmt {
	if !c.prepare {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[q]
}

// closeAll closes the statements, once no warm is preparing any more: a
// connection must not outlive the store's Close (SQLite shares its file
// locks within the process, by file).
func (c *stmtCache) closeAll() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.warms.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, s := range c.m {
		s.Close()
		delete(c.m, k)
	}
}

func (c *stmtCache) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if !c.prepare {
		return c.db.QueryContext(ctx, c.rebind(q), args...)
	}
	st, err := c.get(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// row is a *sql.Row that may carry a prepare error.
type row struct {
	r   *sql.Row
	err error
}

func (r row) Scan(dst ...any) error {
	if r.err != nil {
		return r.err
	}
	return r.r.Scan(dst...)
}

func (c *stmtCache) queryRow(ctx context.Context, q string, args ...any) row {
	if !c.prepare {
		return row{r: c.db.QueryRowContext(ctx, c.rebind(q), args...)}
	}
	st, err := c.get(ctx, q)
	if err != nil {
		return row{err: err}
	}
	return row{r: st.QueryRowContext(ctx, args...)}
}

// Tx is a transaction. A statement the pool has prepared runs on the
// transaction's connection as prepared there already; another is prepared
// on that connection (a pool-wide prepare could wait forever for the
// connection the transaction holds), and the pool prepares it after the
// transaction, for the next ones: a transaction of a few rows (an alert,
// an audit entry) would otherwise spend much of its time compiling SQL.
type Tx struct {
	tx      *sql.Tx
	conn    *sql.Conn // the connection tx runs on, when it has its own (see Raw)
	rebind  func(string) string
	prepare bool
	cache   *stmtCache
	stmts   map[string]*sql.Stmt
	missed  []string // prepared here, not yet by the pool
}

// Stmt returns q prepared in the transaction; it is closed with it.
func (t *Tx) Stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	if st := t.stmts[q]; st != nil {
		return st, nil
	}
	var st *sql.Stmt
	if pooled := t.cache.cached(q); pooled != nil {
		st = t.tx.StmtContext(ctx, pooled)
	} else {
		var err error
		if st, err = t.tx.PrepareContext(ctx, t.rebind(q)); err != nil {
			return nil, fmt.Errorf("store: prepare: %w", err)
		}
		t.missed = append(t.missed, q)
	}
	if t.stmts == nil {
		t.stmts = map[string]*sql.Stmt{}
	}
	t.stmts[q] = st
	return st, nil
}

// Exec runs q in the transaction.
func (t *Tx) Exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if !t.prepare {
		return t.tx.ExecContext(ctx, t.rebind(q), args...)
	}
	st, err := t.Stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// Query runs q in the transaction.
func (t *Tx) Query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if !t.prepare {
		return t.tx.QueryContext(ctx, t.rebind(q), args...)
	}
	st, err := t.Stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// QueryRow runs q in the transaction.
func (t *Tx) QueryRow(ctx context.Context, q string, args ...any) row {
	if !t.prepare {
		return row{r: t.tx.QueryRowContext(ctx, t.rebind(q), args...)}
	}
	st, err := t.Stmt(ctx, q)
	if err != nil {
		return row{err: err}
	}
	return row{r: st.QueryRowContext(ctx, args...)}
}

// Raw runs f with the driver's connection of a transaction begun by
// inConnTx: what f runs there is part of the transaction. The events' bulk
// insert goes this way, past database/sql's work on every call (converting
// and checking each argument, locks, a result object), a sixth of the
// insert's cost in SQLite.
func (t *Tx) Raw(f func(driverConn any) error) error {
	if t.conn == nil {
		return errors.New("store: Raw: the transaction has no connection of its own")
	}
	return t.conn.Raw(f)
}

// inWrite runs fn in a write transaction and commits it.
func (db *DB) inWrite(ctx context.Context, fn func(*Tx) error) error {
	if db.isClosed() {
		return store.ErrClosed
	}
	return inTx(ctx, db.w, db.ws, nil, fn)
}

// inRead runs fn in a read-only transaction that sees one snapshot.
func (db *DB) inRead(ctx context.Context, fn func(*Tx) error) error {
	if db.isClosed() {
		return store.ErrClosed
	}
	return inTx(ctx, db.r, db.rs, db.d.SnapshotTx(), fn)
}

func inTx(ctx context.Context, pool *sql.DB, c *stmtCache, opts *sql.TxOptions, fn func(*Tx) error) error {
	tx, err := pool.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	return runTx(&Tx{tx: tx, rebind: c.rebind, prepare: c.prepare, cache: c}, fn)
}

// inConnTx is inTx for a write transaction on a connection taken from the
// pool for it, so that fn may reach the driver's connection (Tx.Raw).
func inConnTx(ctx context.Context, pool *sql.DB, c *stmtCache, fn func(*Tx) error) error {
	conn, err := pool.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	defer conn.Close()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	return runTx(&Tx{tx: tx, conn: conn, rebind: c.rebind, prepare: c.prepare, cache: c}, fn)
}

// runTx runs fn in t and commits, or rolls back when fn fails.
func runTx(t *Tx, fn func(*Tx) error) error {
	c, tx := t.cache, t.tx
	if err := fn(t); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	if len(t.missed) > 0 && c.prepare {
		c.warm(t.missed)
	}
	return nil
}

// dbErr wraps a database error with what was being done, leaving store
// errors and context errors as they are.
func dbErr(what string, err error) error {
	if err == nil {
		return nil
	}
	var se *store.Error
	if errors.As(err, &se) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("store: %s: %w", what, err)
}

// Nullable maps "" to NULL for the columns an event or alert may leave empty.
func Nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}
