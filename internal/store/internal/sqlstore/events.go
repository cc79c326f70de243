package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/osprio"
	"github.com/vigil-project/vigil/internal/store"
	"github.com/vigil-project/vigil/internal/store/rawpack"
)

// insertReq is one call waiting for the writer: a batch of events
// (InsertEvents) or of detections (StoreDetections, det set).
type insertReq struct {
	evs   []store.ArchivedEvent
	out   []store.Inserted
	det   *detections
	done  chan error
	state atomic.Int32 // queued, then claimed by the writer or abandoned by the caller
}

const (
	reqQueued int32 = iota
	reqClaimed
	reqAbandoned
)

// claim takes r for a group, unless its caller gave up on it.
func (r *insertReq) claim() bool { return r.state.CompareAndSwap(reqQueued, reqClaimed) }

// answer tells the caller how its request ended, given how its
// transaction ended.
func (r *insertReq) answer(err error) {
	if err == nil && r.det != nil {
		err = r.det.err
	}
	r.done <- err
}

// submit hands r to the writer (detections on their own queue, which the
// writer takes first) and waits for its answer. A caller whose context
// ends before the writer claimed r abandons it: it is not written, so an
// error always means "not stored" unless the writer had begun.
func (db *DB) submit(ctx context.Context, r *insertReq) error {
	q := db.reqs
	if r.det != nil {
		q = db.dets
	}
	db.mu.RLock()
	if db.closed {
		db.mu.RUnlock()
		return store.ErrClosed
	}
	select {
	case q <- r:
		db.mu.RUnlock()
	case <-ctx.Done():
		db.mu.RUnlock()
		return ctx.Err()
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		if r.state.CompareAndSwap(reqQueued, reqAbandoned) {
			return ctx.Err()
		}
		// Claimed: its group is being written, so wait for how it ended
		// rather than report a failure that may be a success.
		return <-r.done
	}
}

// InsertEvents validates the batch and hands it to the single writer, which
// commits it together with the batches of other callers waiting at the same
// time (group commit) and answers each caller once the transaction is
// durable.
func (db *DB) InsertEvents(ctx context.Context, scope store.Scope, evs []store.ArchivedEvent) ([]store.Inserted, error) {
	if len(evs) == 0 {
		return nil, nil
	}
	if len(evs) > store.MaxInsertBatch {
		return nil, store.Errorf(store.ErrInvalid, "insert events: %d events, more than %d in one batch", len(evs), store.MaxInsertBatch)
	}
	for i := range evs {
		if err := evs[i].Validate(); err != nil {
			return nil, err
		}
		if err := scope.Check(evs[i].Tenant); err != nil {
			return nil, err
		}
	}
	req := &insertReq{evs: packRaw(evs), out: make([]store.Inserted, len(evs)), done: make(chan error, 1)}
	if err := db.submit(ctx, req); err != nil {
		return nil, err
	}
	return req.out, nil
}

// packRaw returns a copy of evs with their JSON packed (store/rawpack),
// packed here on the caller's goroutine rather than by the single writer.
// The caller's events are left as they are. The packed bytes share one
// buffer of their exact size, which waits in the writer's queue.
func packRaw(evs []store.ArchivedEvent) []store.ArchivedEvent {
	scratch := packScratch.Get().(*[]byte)
	defer packScratch.Put(scratch)
	ends := make([]int, len(evs))
	buf := (*scratch)[:0]
	for i := range evs {
		buf = rawpack.Pack(buf, evs[i].Raw)
		ends[i] = len(buf)
	}
	*scratch = buf
	packed := bytes.Clone(buf)
	out := slices.Clone(evs)
	start := 0
	for i := range out {
		out[i].Raw = packed[start:ends[i]:ends[i]]
		start = ends[i]
	}
	return out
}

// packScratch holds the buffers packRaw packs into.
var packScratch = sync.Pool{New: func() any { return new([]byte) }}

// rawColumn scans the raw column into an event's JSON, unpacking it. A
// value that does not unpack sets the event's RawErr rather than failing
// the scan: one damaged row must not stop detection reading the archive.
type rawColumn struct {
	raw *[]byte
	err *error
}

func (c rawColumn) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case []byte:
		b = v
	case string: // a row written with a text literal (SQLite keeps it as TEXT)
		b = []byte(v)
	case nil: // evidence whose event is not archived
		*c.raw, *c.err = nil, nil
		return nil
	default:
		return fmt.Errorf("raw: a %T, not bytes", src)
	}
	raw, err := rawpack.Unpack(b, store.MaxEventBytes)
	*c.raw, *c.err = raw, err
	return nil
}

// maxGroupDetections bounds the StoreDetections calls in one group (each
// up to store.MaxUpsertBatch alerts): a storm of callers makes several
// transactions, not one holding the alert sequence row for all of them.
// The alert writer, the usual caller, has one call in flight.
const maxGroupDetections = 16

// commitLoop is the single writer of events and detections. It takes the
// first waiting request, gathers the waiting detections (up to
// maxGroupDetections calls) and as many waiting events as fit (up to
// MaxGroupEvents) and commits them in one transaction: under load, one
// fsync covers many callers' batches, and alerts add none of their own.
// Detections go first, so a critical alert (which the command gate acts on
// once stored) waits for the group in progress, and in a storm for the
// detections ahead of it, never for the events queued before it. It hands
// the events it committed to the timeline indexer.
func (db *DB) commitLoop() {
	defer close(db.stopped)
	osprio.Background()
	reqs, dets := db.reqs, db.dets
	var group []*insertReq
	n, nd := 0, 0
	add := func(r *insertReq) {
		if r.claim() {
			group = append(group, r)
			n += len(r.evs)
			if r.det != nil {
				nd++
			}
		}
	}
	// takeWaiting adds what waits on *q, without waiting, while more fits;
	// *q becomes nil once closed and drained.
	takeWaiting := func(q *chan *insertReq, fits func() bool) {
		for fits() {
			select {
			case r, ok := <-*q:
				if !ok {
					*q = nil
					return
				}
				add(r)
			default:
				return
			}
		}
	}
	for reqs != nil || dets != nil {
		group, n, nd = group[:0], 0, 0
		// The first request, of either kind; every detection waiting
		// joins its group.
		select {
		case r, ok := <-dets:
			if !ok {
				dets = nil
				continue
			}
			add(r)
		case r, ok := <-reqs:
			if !ok {
				reqs = nil
				continue
			}
			add(r)
		}
		takeWaiting(&dets, func() bool { return nd < maxGroupDetections })
		takeWaiting(&reqs, func() bool { return n < db.opts.MaxGroupEvents })
		if len(group) == 0 {
			continue // every one abandoned
		}
		db.hold(len(group))
		err := db.insertGroup(context.Background(), group, n)
		if err != nil && len(group) > 1 {
			// Do not let one batch fail the others: commit each alone.
			for _, r := range group {
				db.hold(1)
				r.answer(db.insertGroup(context.Background(), []*insertReq{r}, len(r.evs)))
			}
			continue
		}
		for _, r := range group {
			r.answer(err)
		}
	}
}

// hold calls the HoldWriter hook (tests) before a commit of requests.
func (db *DB) hold(requests int) {
	if db.opts.HoldWriter != nil {
		db.opts.HoldWriter(requests, func() int { return len(db.reqs) + len(db.dets) })
	}
}

// insertGroup commits the detections and the n events of a group in one
// transaction. A request of detections that would conflict with another
// tenant's ids writes nothing and fails alone (a refusal, kept in its
// det.err by storeDetectionsAlone), so a bad alert never fails events; any
// other failure fails the transaction.
// Detections are written before the events' counter is taken: on
// PostgreSQL, a wait for an alert's or incident's row lock (an analyst's
// change) then holds up the groups that carry detections (they take the
// alert sequence row first), not every node's events.
func (db *DB) insertGroup(ctx context.Context, group []*insertReq, n int) error {
	var newTenants []string
	var end int64
	err := inConnTx(ctx, db.w, db.ws, func(tx *Tx) error {
		now := db.nowNS()
		locked := false
		for _, r := range group {
			if r.det == nil {
				continue
			}
			if !locked {
				if err := db.lockAlertSeq(ctx, tx); err != nil {
					return err
				}
				locked = true
			}
			r.det.err = nil // from a failed group, when retried alone
			if len(group) == 1 {
				return db.storeDetections(ctx, tx, r.det, now)
			}
			if err := db.storeDetectionsAlone(ctx, tx, r.det, now); err != nil {
				return err
			}
		}
		if n > 0 {
			// The counter row serialises event writers (PostgreSQL holds
			// its row lock until commit), so sequence numbers follow
			// commit order.
			if err := tx.QueryRow(ctx, "UPDATE counters SET value = value + ? WHERE name = 'event_seq' RETURNING value", n).Scan(&end); err != nil {
				return dbErr("insert events: reserve sequence numbers", err)
			}
		}
		base := end - int64(n) + 1
		newTenants = db.unregistered(group, newTenants[:0])
		for _, t := range newTenants {
			if _, err := tx.Exec(ctx, "INSERT INTO tenants (name, created) VALUES (?, ?) ON CONFLICT (name) DO NOTHING", t, db.nowNS()); err != nil {
				return dbErr("insert events: register tenant", err)
			}
		}
		for _, r := range group {
			if r.det != nil {
				continue
			}
			if err := db.d.InsertEvents(ctx, tx, base, r.evs, r.out); err != nil {
				return dbErr("insert events", err)
			}
			base += int64(len(r.evs))
		}
		return nil
	})
	if err == nil && n > 0 {
		db.ix.committed(end-int64(n)+1, group)
		db.written.Store(max(db.written.Load(), end))
		db.ix.poke()
	}
	if err == nil && len(newTenants) > 0 {
		db.tenantMu.Lock()
		for _, t := range newTenants {
			db.tenants[t] = true
		}
		db.tenantMu.Unlock()
	}
	return err
}

// unregistered appends the group's tenants not yet known to be registered.
func (db *DB) unregistered(group []*insertReq, out []string) []string {
	db.tenantMu.Lock()
	defer db.tenantMu.Unlock()
	for _, r := range group {
		for i := range r.evs {
			t := r.evs[i].Tenant
			if !db.tenants[t] {
				seen := false
				for _, o := range out {
					seen = seen || o == t
				}
				if !seen {
					out = append(out, t)
				}
			}
		}
	}
	return out
}

// eventColumns are the columns scanEvent reads, of events with no alias.
var eventColumns = eventColumnsOf("")

// eventColumnsOf returns eventColumns for the events table aliased a.
func eventColumnsOf(a string) string {
	if a != "" {
		a += "."
	}
	return a + "seq, " + a + "tenant, " + a + "source, " + a + "id, " + a + "type, " + a + "time, COALESCE(" + a + "subject, ''), COALESCE(" +
		a + "account, ''), COALESCE(" + a + "device, ''), COALESCE(" + a + "ip, ''), COALESCE(" + a + "client_id, ''), " + a + "arrived, " + a + "raw"
}

func scanEvent(s interface{ Scan(...any) error }, e *store.ArchivedEvent) error {
	return s.Scan(&e.Seq, &e.Tenant, &e.Source, &e.ID, &e.Type, &e.Time, &e.Subject, &e.Account,
		&e.Device, &e.IP, &e.ClientID, &e.Arrived, rawColumn{&e.Raw, &e.RawErr})
}

func scanEvents(rows *sql.Rows, err error, limit int) ([]store.ArchivedEvent, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]store.ArchivedEvent, 0, min(limit, 256))
	for rows.Next() {
		out = append(out, store.ArchivedEvent{})
		if err := scanEvent(rows, &out[len(out)-1]); err != nil {
			return nil, err
		}
	}
	return out, rows.Err()
}

// ReadEvents returns events after afterSeq in sequence order.
func (db *DB) ReadEvents(ctx context.Context, scope store.Scope, afterSeq int64, limit int) ([]store.ArchivedEvent, error) {
	if db.isClosed() {
		return nil, store.ErrClosed
	}
	limit = store.ReadLimit(limit)
	q := &query{}
	// Walk the primary key: an index on tenant would mean sorting the
	// tenant's whole archive.
	q.sql("SELECT "+eventColumns+" FROM events"+db.d.IndexedBy("")+" WHERE ").arg("seq > ?", afterSeq)
	q.scope("tenant", scope)
	q.arg(" ORDER BY seq LIMIT ?", limit)
	rows, err := db.rs.query(ctx, q.String(), q.args...)
	evs, err := scanEvents(rows, err, limit)
	return evs, dbErr("read events", err)
}

// SearchEvents returns one page of a timeline, keyset-paginated on
// (time, seq).
func (db *DB) SearchEvents(ctx context.Context, scope store.Scope, eq store.EventQuery) (store.EventPage, error) {
	if db.isClosed() {
		return store.EventPage{}, store.ErrClosed
	}
	if err := eq.Normalize(); err != nil {
		return store.EventPage{}, err
	}
	scope, err := scope.Narrow(eq.Tenant)
	if err != nil {
		return store.EventPage{}, err
	}
	fp := newFingerprint().str(eq.Tenant).str(string(eq.Kind)).str(eq.Value).num(eq.From).num(eq.To)
	for _, t := range eq.Types {
		fp.str(t)
	}
	var cur *searchCursor
	if eq.Cursor != "" {
		c, err := decodeCursor(eq.Cursor, cursorEvents, eq.Order, fp.sum())
		if err != nil {
			return store.EventPage{}, err
		}
		cur = &searchCursor{time: c.a, seq: c.b}
	}
	m := &eventMatch{timeMin: eq.From, timeMax: eq.To}
	col := entityColumn(eq.Kind)
	if col != "" {
		m.keys = []int64{db.entityKey(string(eq.Kind), eq.Value)}
	} else {
		// No entity: the tenants' own timelines. The all-tenants scope
		// becomes the list of registered tenants.
		if scope.All() {
			ts, err := db.tenantList(ctx)
			if err != nil {
				return store.EventPage{}, err
			}
			scope = store.TenantScope(ts...)
		}
		if scope.Empty() {
			return store.EventPage{Events: []store.ArchivedEvent{}}, nil
		}
		for _, t := range scope.Tenants() {
			m.tenants = append(m.tenants, db.entityKey(kindTenant, t))
		}
	}
	m.filter = func(q *query) {
		if col != "" {
			q.arg(" AND e."+col+" = ?", eq.Value)
		}
		q.scope("e.tenant", scope)
		if len(eq.Types) > 0 {
			q.in("e.type", eq.Types)
		}
	}
	evs, err := db.searchHalves(ctx, m, cur, eq.Order == store.NewestFirst, eq.Limit+1)
	if err != nil {
		return store.EventPage{}, dbErr("search events", err)
	}
	page := store.EventPage{Events: evs}
	if len(evs) > eq.Limit {
		page.Events = evs[:eq.Limit]
		last := page.Events[eq.Limit-1]
		page.Next = cursor{kind: cursorEvents, order: eq.Order, fp: fp.sum(), a: last.Time, b: last.Seq}.encode()
	}
	return page, nil
}

// tenantList returns every tenant that ever had an event archived.
func (db *DB) tenantList(ctx context.Context) ([]string, error) {
	ts, err := scanColumn[string](db.rs.query(ctx, "SELECT name FROM tenants ORDER BY name"))
	return ts, dbErr("list tenants", err)
}

// eventByKey finds an event by its idempotency key.
var eventByKey = "SELECT " + eventColumns + " FROM events WHERE tenant = ? AND source = ? AND id = ?"

// KeyLookups returns the queries that find events by their idempotency
// key: a dialect's tests check that each searches the key's index.
func KeyLookups() []string { return []string{eventByKey, evidenceOfAlert} }

// GetEvent returns one event by its idempotency key.
func (db *DB) GetEvent(ctx context.Context, scope store.Scope, tenant string, ref event.Ref) (store.ArchivedEvent, error) {
	var e store.ArchivedEvent
	if db.isClosed() {
		return e, store.ErrClosed
	}
	if err := scope.Check(tenant); err != nil {
		return e, err
	}
	err := db.rs.queryRow(ctx, eventByKey, tenant, ref.Source, ref.ID).Scan(scanTargets(&e)...)
	if errors.Is(err, sql.ErrNoRows) {
		return e, store.Errorf(store.ErrNotFound, "event (%s, %s) of tenant %q not found", ref.Source, ref.ID, tenant)
	}
	return e, dbErr("get event", err)
}

func scanTargets(e *store.ArchivedEvent) []any {
	return []any{&e.Seq, &e.Tenant, &e.Source, &e.ID, &e.Type, &e.Time, &e.Subject, &e.Account,
		&e.Device, &e.IP, &e.ClientID, &e.Arrived, rawColumn{&e.Raw, &e.RawErr}}
}

// Checkpoint replaces the named checkpoint.
func (db *DB) Checkpoint(ctx context.Context, c store.Checkpoint) error {
	if err := c.Validate(); err != nil {
		return err
	}
	if c.Snapshot == nil {
		c.Snapshot = []byte{}
	}
	return db.inWrite(ctx, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO checkpoints (name, seq, snapshot, saved) VALUES (?, ?, ?, ?)
ON CONFLICT (name) DO UPDATE SET seq = excluded.seq, snapshot = excluded.snapshot, saved = excluded.saved`,
			c.Name, c.Seq, c.Snapshot, db.nowNS())
		return dbErr("save checkpoint", err)
	})
}

// LoadCheckpoint returns the named checkpoint.
func (db *DB) LoadCheckpoint(ctx context.Context, name string) (store.Checkpoint, error) {
	c := store.Checkpoint{Name: name}
	if db.isClosed() {
		return c, store.ErrClosed
	}
	err := db.rs.queryRow(ctx, "SELECT seq, snapshot, saved FROM checkpoints WHERE name = ?", name).Scan(&c.Seq, &c.Snapshot, &c.Saved)
	if errors.Is(err, sql.ErrNoRows) {
		return c, store.Errorf(store.ErrNotFound, "checkpoint %q not found", name)
	}
	return c, dbErr("load checkpoint", err)
}
