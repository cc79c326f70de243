package sqlstore

import (
	"cmp"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-project/vigil/internal/osprio"
	"github.com/vigil-project/vigil/internal/store"
)

// Timelines are built after ingest, not during it. InsertEvents writes the
// row and its idempotency key; an indexer goroutine later writes the
// events' entries, sorted, to the narrow timeline table in large batches and
// moves the high-water mark (timeline_mark 'seq') in the same transaction.
// The table may live in another database file (store/sqlite does that, so
// that indexing runs beside ingest instead of queueing for its one writer).
//
// A search reads the entries up to the mark and scans the archive after it
// in one read transaction, so it is complete whatever the indexer's delay.
// Deleting events never writes the timeline: the deletion records the
// entries to remove in timeline_deleted, in its own transaction, and the
// indexer removes them once the mark covers them. Until then searches skip
// them, as they join the entries with the events that still exist.
//
// A tenant's own timeline (searches without an entity, retention) has no
// entry per event: that would be an entry for every event, as many as all
// the entities' together. The indexer keeps one row per tenant and block of
// sequence numbers instead (timeline_blocks: the earliest and latest event
// time of the tenant's events in the block), and such searches read the
// blocks whose times can hold what they look for, newest or oldest first,
// until no further block can. Sequence numbers only grow, so a block that
// the mark has passed never gains events; deletions may empty it, and the
// indexer removes the row of a block left without events of its tenant
// when it applies them.

// kindTenant keys a tenant's blocks (timeline_blocks.tkey).
const kindTenant = "tenant"

// EntityKey is the timeline key of an entity: the first eight bytes of the
// SHA-256 of its kind and value. A cryptographic hash, so that producers
// cannot choose values that pile onto another entity's key; searches compare
// the real columns, so a collision could only cost time.
func EntityKey(kind, value string) int64 {
	h := sha256.New()
	h.Write([]byte(kind))
	h.Write([]byte{0})
	h.Write([]byte(value))
	var sum [sha256.Size]byte
	return int64(binary.BigEndian.Uint64(h.Sum(sum[:0])))
}

// entityColumn maps an entity kind to its events column.
func entityColumn(k store.EntityKind) string {
	switch k {
	case store.EntityVehicle:
		return "subject"
	case store.EntityAccount:
		return "account"
	case store.EntityDevice:
		return "device"
	case store.EntityIP:
		return "ip"
	case store.EntityClient:
		return "client_id"
	}
	return ""
}

// entryColumns are the columns of events an event's entries come from, in
// the order of entrySource.
const entryColumns = `e.seq, e.time, e.tenant, COALESCE(e.subject, ''), COALESCE(e.account, ''), COALESCE(e.device, ''),
COALESCE(e.ip, ''), COALESCE(e.client_id, '')`

// entrySource is one event as its timeline entries see it.
type entrySource struct {
	seq, time int64
	values    [6]string // tenant, then the entity columns in entryKinds' order
}

var entryKinds = [6]string{kindTenant, string(store.EntityVehicle), string(store.EntityAccount),
	string(store.EntityDevice), string(store.EntityIP), string(store.EntityClient)}

func (s *entrySource) scanTargets() []any {
	return []any{&s.seq, &s.time, &s.values[0], &s.values[1], &s.values[2], &s.values[3], &s.values[4], &s.values[5]}
}

type entry struct{ key, time, seq int64 }

// keyCache remembers the keys of one batch: vehicles and tenants repeat.
type keyCache struct {
	fn func(kind, value string) int64
	m  [len(entryKinds)]map[string]int64
}

func (c *keyCache) key(kindIdx int, value string) int64 {
	m := c.m[kindIdx]
	if m == nil {
		m = map[string]int64{}
		c.m[kindIdx] = m
	}
	if v, ok := m[value]; ok {
		return v
	}
	v := c.fn(entryKinds[kindIdx], value)
	m[value] = v
	return v
}

// appendEntries appends the event's entries, one per entity it names, and
// with tenant, one keyed by its tenant: timeline_deleted records that too,
// for the indexer to check the event's block (see timeline_blocks).
func (c *keyCache) appendEntries(out []entry, s *entrySource, tenant bool) []entry {
	for i, v := range s.values {
		if v != "" && (tenant || i > 0) {
			out = append(out, entry{key: c.key(i, v), time: s.time, seq: s.seq})
		}
	}
	return out
}

// blockKey is a row of timeline_blocks: a tenant's key and a block number
// (the sequence number divided by Options.TimelineBlock).
type blockKey struct{ tkey, block int64 }

// blockSpans returns the blocks of srcs with the span of their events'
// times, sorted.
func (c *keyCache) blockSpans(srcs []entrySource, size int64) []blockSpan {
	spans := map[blockKey]blockSpan{}
	for i := range srcs {
		s := &srcs[i]
		k := blockKey{c.key(0, s.values[0]), s.seq / size}
		b, ok := spans[k]
		if !ok {
			b = blockSpan{blockKey: k, tmin: s.time, tmax: s.time}
		}
		b.tmin, b.tmax = min(b.tmin, s.time), max(b.tmax, s.time)
		spans[k] = b
	}
	out := make([]blockSpan, 0, len(spans))
	for _, b := range spans {
		out = append(out, b)
	}
	slices.SortFunc(out, func(a, b blockSpan) int { return cmp.Or(cmp.Compare(a.tkey, b.tkey), cmp.Compare(a.block, b.block)) })
	return out
}

// blockSpan is a block and the earliest and latest time of its tenant's
// events.
type blockSpan struct {
	blockKey
	tmin, tmax int64
}

// upsertBlocks widens the blocks' rows to the spans, creating the missing.
func upsertBlocks(ctx context.Context, tx *Tx, spans []blockSpan) error {
	for _, b := range spans {
		if _, err := tx.Exec(ctx, `INSERT INTO timeline_blocks (tkey, block, tmin, tmax) VALUES (?, ?, ?, ?)
ON CONFLICT (tkey, block) DO UPDATE SET
tmin = CASE WHEN excluded.tmin < timeline_blocks.tmin THEN excluded.tmin ELSE timeline_blocks.tmin END,
tmax = CASE WHEN excluded.tmax > timeline_blocks.tmax THEN excluded.tmax ELSE timeline_blocks.tmax END`,
			b.tkey, b.block, b.tmin, b.tmax); err != nil {
			return err
		}
	}
	return nil
}

// dropEmptyBlocks removes the rows of the blocks deletions touched whose
// tenant has no event left in them up to the mark. Later events of the
// block (after the mark) bring its row back when they are indexed.
func (db *DB) dropEmptyBlocks(ctx context.Context, tx *Tx, applied []entry, mark int64) error {
	size := db.opts.TimelineBlock
	touched := map[blockKey]bool{}
	for _, e := range applied {
		touched[blockKey{e.key, e.seq / size}] = true
	}
	keys := keyCache{fn: db.entityKey}
	for k := range touched {
		var one int
		err := tx.QueryRow(ctx, "SELECT 1 FROM timeline_blocks WHERE tkey = ? AND block = ?", k.tkey, k.block).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			continue // an entity's entry, or a block already gone
		}
		if err != nil {
			return err
		}
		lo := k.block * size
		tenants, err := db.blockTenants(ctx, lo, min(lo+size-1, mark))
		if err != nil {
			return err
		}
		if slices.ContainsFunc(tenants, func(t string) bool { return keys.key(0, t) == k.tkey }) {
			continue
		}
		if _, err := tx.Exec(ctx, "DELETE FROM timeline_blocks WHERE tkey = ? AND block = ?", k.tkey, k.block); err != nil {
			return err
		}
	}
	return nil
}

// blockTenants returns the tenants with events in [lo, hi].
func (db *DB) blockTenants(ctx context.Context, lo, hi int64) ([]string, error) {
	return scanColumn[string](db.rs.query(ctx, "SELECT DISTINCT e.tenant FROM events e"+db.d.IndexedBy("")+" WHERE e.seq >= ? AND e.seq <= ?", lo, hi))
}

func sortEntries(es []entry) []entry {
	slices.SortFunc(es, func(a, b entry) int {
		return cmp.Or(cmp.Compare(a.key, b.key), cmp.Compare(a.time, b.time), cmp.Compare(a.seq, b.seq))
	})
	// Equal entries (two kinds of one event whose keys collide) once.
	return slices.Compact(es)
}

// markQuery reads the high-water mark.
const markQuery = "SELECT value FROM timeline_mark WHERE name = 'seq'"

// IndexTimeline writes the timeline entries of up to limit events after the
// high-water mark in one transaction, removes the entries of deleted events
// the mark covers, and returns how many events it indexed. The store
// indexes on its own; tests call this to control the mark.
func (db *DB) IndexTimeline(ctx context.Context, limit int) (int, error) {
	n, _, err := db.indexTimeline(ctx, limit, false)
	return n, err
}

// indexTimeline is IndexTimeline; with useKept (the indexer's), it takes the
// events the commit loop handed over when they follow the mark, and reads
// the archive otherwise. It also reports whether the mark moved (it may
// cover only gaps).
func (db *DB) indexTimeline(ctx context.Context, limit int, useKept bool) (int, bool, error) {
	if db.isClosed() {
		return 0, false, store.ErrClosed
	}
	if limit <= 0 {
		limit = db.opts.TimelineBatch
	}
	var n int
	var hwm, mark int64
	var applied []entry
	var done []entrySource // this step's events, whose array the commit loop reuses after it
	defer func() { db.ix.recycle(done, 2*db.opts.TimelineBatch) }()
	err := inTx(ctx, db.tw, db.tws, nil, func(tx *Tx) error {
		if err := tx.QueryRow(ctx, markQuery+db.d.ForUpdate()).Scan(&hwm); err != nil {
			return dbErr("index timeline: read the mark", err)
		}
		mark = hwm
		var srcs []entrySource
		before := int64(0) // read the archive below this sequence number (0: no bound)
		if useKept {
			srcs, mark, before = db.ix.take(hwm, limit)
		}
		if srcs == nil {
			var err error
			if srcs, err = db.readSources(ctx, hwm, before, limit); err != nil {
				return dbErr("index timeline: read events", err)
			}
			switch {
			case before != 0 && len(srcs) < limit:
				mark = before - 1 // up to the handed-over events, gaps included
			case len(srcs) > 0:
				mark = srcs[len(srcs)-1].seq
			}
		}
		n, done = len(srcs), srcs
		keys := keyCache{fn: db.entityKey}
		entries := make([]entry, 0, 2*len(srcs))
		for i := range srcs {
			entries = keys.appendEntries(entries, &srcs[i], false)
		}
		if err := insertEntries(ctx, tx, sortEntries(entries)); err != nil {
			return dbErr("index timeline: insert", err)
		}
		if err := upsertBlocks(ctx, tx, keys.blockSpans(srcs, db.opts.TimelineBlock)); err != nil {
			return dbErr("index timeline: tenant blocks", err)
		}
		// Deletions the mark now covers: their entries exist if they
		// ever will.
		var err error
		if applied, err = db.deletedUpTo(ctx, mark); err != nil {
			return dbErr("index timeline: read deletions", err)
		}
		for _, e := range applied {
			if _, err := tx.Exec(ctx, "DELETE FROM timeline WHERE ekey = ? AND time = ? AND seq = ?", e.key, e.time, e.seq); err != nil {
				return dbErr("index timeline: remove deleted", err)
			}
		}
		if err := db.dropEmptyBlocks(ctx, tx, applied, mark); err != nil {
			return dbErr("index timeline: remove emptied blocks", err)
		}
		if mark == hwm {
			return nil
		}
		_, err = tx.Exec(ctx, "UPDATE timeline_mark SET value = ? WHERE name = 'seq'", mark)
		return dbErr("index timeline: move the mark", err)
	})
	if err != nil {
		return 0, false, err
	}
	db.noteIndexed(mark)
	if len(applied) == maxApplied {
		db.ix.cleanup.Store(true) // more may wait
	}
	if len(applied) > 0 {
		// Forget exactly the deletions applied: others may have come since.
		err = db.inWrite(ctx, func(tx *Tx) error {
			for _, e := range applied {
				if _, err := tx.Exec(ctx, "DELETE FROM timeline_deleted WHERE seq = ? AND ekey = ? AND time = ?", e.seq, e.key, e.time); err != nil {
					return dbErr("index timeline: forget applied deletions", err)
				}
			}
			return nil
		})
	}
	return n, mark != hwm, err
}

// maxApplied bounds the deletions one indexing step applies.
const maxApplied = 10 * store.DeleteBatch

// deletedUpTo returns recorded deletions of entries up to seq.
func (db *DB) deletedUpTo(ctx context.Context, seq int64) ([]entry, error) {
	rows, err := db.rs.query(ctx, "SELECT ekey, time, seq FROM timeline_deleted WHERE seq <= ? LIMIT ?", seq, maxApplied)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []entry
	for rows.Next() {
		var e entry
		if err := rows.Scan(&e.key, &e.time, &e.seq); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// noteIndexed records a high-water mark this process has seen.
func (db *DB) noteIndexed(mark int64) {
	for {
		cur := db.indexed.Load()
		if mark <= cur || db.indexed.CompareAndSwap(cur, mark) {
			return
		}
	}
}

// TimelineLag is how many events this store committed that have no
// timeline entries yet (an upper bound: duplicates leave gaps). Searches
// are complete regardless; benchmarks wait for 0 to count the indexing.
func (db *DB) TimelineLag() int64 { return max(0, db.written.Load()-db.indexed.Load()) }

// readSources reads up to limit events after seq (and below before, unless
// 0) from the archive.
func (db *DB) readSources(ctx context.Context, after, before int64, limit int) ([]entrySource, error) {
	if before == 0 {
		before = math.MaxInt64
	}
	rows, err := db.rs.query(ctx, "SELECT "+entryColumns+" FROM events e"+db.d.IndexedBy("")+" WHERE e.seq > ? AND e.seq < ? ORDER BY e.seq LIMIT ?",
		after, before, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	srcs := []entrySource{}
	for rows.Next() {
		srcs = append(srcs, entrySource{})
		if err := rows.Scan(srcs[len(srcs)-1].scanTargets()...); err != nil {
			return nil, err
		}
	}
	return srcs, rows.Err()
}

// entryChunk is the most entries one INSERT carries (three arguments each).
const entryChunk = 128

// insertEntries inserts entries with multi-row INSERTs of entryChunk rows,
// then of the powers of two below it, so few statement shapes are prepared.
func insertEntries(ctx context.Context, tx *Tx, entries []entry) error {
	args := make([]any, 0, 3*entryChunk)
	for size := entryChunk; size >= 1; size /= 2 {
		if len(entries) < size {
			continue
		}
		q := "INSERT INTO timeline (ekey, time, seq) VALUES (?, ?, ?)" + strings.Repeat(", (?, ?, ?)", size-1)
		for len(entries) >= size {
			args = args[:0]
			for _, e := range entries[:size] {
				args = append(args, e.key, e.time, e.seq)
			}
			if _, err := tx.Exec(ctx, q, args...); err != nil {
				return err
			}
			entries = entries[size:]
		}
	}
	return nil
}

// indexer is the state the commit loop shares with the indexing goroutine.
type indexer struct {
	mu   sync.Mutex
	kept keptEvents
	on   bool // the store indexes on its own (TimelineDelay > 0)

	wake    chan struct{} // the commit loop committed, or a deletion was recorded
	cleanup atomic.Bool   // a deletion was recorded: apply it soon
	stop    chan struct{}
	done    chan struct{}
}

// committed keeps the new events of a group committed with sequence
// numbers from base on.
func (ix *indexer) committed(base int64, group []*insertReq) {
	if !ix.on {
		return
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for _, r := range group {
		if len(r.evs) == 0 {
			continue // detections
		}
		ix.kept.add(base, base+int64(len(r.evs))-1, r.evs, r.out)
		base += int64(len(r.evs))
	}
}

func (ix *indexer) poke() {
	select {
	case ix.wake <- struct{}{}:
	default:
	}
}

// take hands kept events to an indexing step (see keptEvents.take).
func (ix *indexer) take(hwm int64, limit int) ([]entrySource, int64, int64) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return ix.kept.take(hwm, limit)
}

// recycle gives the array of an indexing step's events, which the step no
// longer uses, to the kept events to fill again: without it the commit loop
// grew a new one of up to TimelineBatch entries for every step, about a
// seventh of the server's allocation under ingest. An array larger than
// limit entries (left by a stall) is let go rather than held for good. The
// entries are cleared first, so that no tenant's identifiers outlive their
// step in it.
func (ix *indexer) recycle(srcs []entrySource, limit int) {
	if !ix.on || cap(srcs) == 0 || cap(srcs) > limit {
		return
	}
	clear(srcs[:cap(srcs)])
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if cap(srcs) > cap(ix.kept.spare) {
		ix.kept.spare = srcs[:0]
	}
}

// maxKept bounds the events kept in memory; beyond it the indexer reads
// the archive.
const maxKept = 500_000

// keptEvents are the events the commit loop committed since the mark, as
// their entries see them: indexing them needs no read of the archive. They
// are used only when they run without a gap from the mark (no other
// writer's events between). Events deleted since are taken care of by
// timeline_deleted.
type keptEvents struct {
	srcs       []entrySource
	from, next int64         // the sequence numbers [from, next) srcs cover (duplicates leave gaps)
	spare      []entrySource // an emptied array for srcs to start in (indexer.recycle)
}

// add keeps the new events of a committed request [base, end]. It starts
// again when they do not follow the kept ones, or when too many are kept
// (the indexer reads the archive up to them then).
func (k *keptEvents) add(base, end int64, evs []store.ArchivedEvent, out []store.Inserted) {
	if base != k.next || len(k.srcs)+len(evs) > maxKept {
		k.srcs, k.from = nil, base
	}
	if k.srcs == nil && k.spare != nil {
		k.srcs, k.spare = k.spare, nil
	}
	for i := range evs {
		if out[i].Duplicate {
			continue
		}
		e := &evs[i]
		k.srcs = append(k.srcs, entrySource{seq: out[i].Seq, time: e.Time,
			values: [6]string{e.Tenant, e.Subject, e.Account, e.Device, e.IP, e.ClientID}})
	}
	k.next = end + 1
}

// take removes and returns up to limit kept events after hwm and the mark
// that covers them; or nil, hwm and the bound below which the archive must
// be read first (0: read it, nothing kept follows the mark).
func (k *keptEvents) take(hwm int64, limit int) ([]entrySource, int64, int64) {
	k.drop(hwm)
	switch {
	case k.next <= k.from:
		return nil, hwm, 0
	case k.from > hwm+1:
		return nil, hwm, k.from
	case len(k.srcs) <= limit:
		srcs, mark := k.srcs, k.next-1
		if srcs == nil {
			srcs = []entrySource{} // only gaps: the mark still moves
		}
		k.srcs, k.from = nil, k.next
		return srcs, mark, 0
	}
	srcs := slices.Clone(k.srcs[:limit])
	k.srcs = slices.Delete(k.srcs, 0, limit)
	k.from = srcs[limit-1].seq + 1
	return srcs, k.from - 1, 0
}

// drop forgets what the mark covers.
func (k *keptEvents) drop(mark int64) {
	if k.next == 0 || mark < k.from {
		return
	}
	if mark >= k.next-1 {
		k.srcs, k.from = nil, k.next
		return
	}
	i, _ := slices.BinarySearchFunc(k.srcs, mark+1, func(s entrySource, seq int64) int { return cmp.Compare(s.seq, seq) })
	k.srcs, k.from = slices.Delete(k.srcs, 0, i), mark+1
}

// indexLoop builds timeline entries beside ingest: as soon as a batch of
// events waits for them, or when the oldest has waited TimelineDelay.
func (db *DB) indexLoop() {
	defer close(db.ix.done)
	osprio.Background()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var waiting bool // the timer runs for the events waiting now
	failing := false
	for {
		select {
		case <-db.ix.stop:
			return
		case <-db.ix.wake:
			pending := db.TimelineLag()
			if pending < int64(db.opts.TimelineBatch) && !db.ix.cleanup.Swap(false) {
				if pending > 0 && !waiting {
					timer.Reset(db.opts.TimelineDelay)
					waiting = true
				}
				continue
			}
		case <-timer.C:
		}
		timer.Stop()
		waiting = false
		written := db.written.Load() // committed before the step reads
		_, moved, err := db.indexTimeline(context.Background(), db.opts.TimelineBatch, true)
		switch {
		case errors.Is(err, store.ErrClosed):
			return
		case err != nil:
			// Searches stay complete (they scan the tail); retry later.
			if !failing {
				db.log.Warn("store: building timeline entries failed; retrying", "err", err)
			}
			failing = true
			timer.Reset(time.Second)
			waiting = true
			continue
		case !moved:
			// Nothing after the mark: what was committed before the step
			// began were gaps or deleted.
			db.noteIndexed(written)
		}
		failing = false
		if db.TimelineLag() > 0 || db.ix.cleanup.Load() {
			db.ix.poke() // decide again at once
		}
	}
}

// eventMatch is what selects events for a search or a deletion, as SQL
// over the events alias e, for both halves: the entries (or the tenants'
// blocks) up to the mark and the archive after it.
type eventMatch struct {
	keys    []int64        // entity keys whose entries to walk; or
	tenants []int64        // the tenant keys whose blocks to read
	filter  func(q *query) // conditions on e, the same in both halves; they name the tenants
	timeMin int64          // time bounds [timeMin, timeMax), 0 none
	timeMax int64

	fromBlock int64 // selectForDelete: the blocks before it have nothing left
}

func (m *eventMatch) keyCondition(q *query) { keyIn(q, "t.ekey", m.keys) }

// keyIn appends col's condition to be one of keys.
func keyIn(q *query, col string, keys []int64) {
	if len(keys) == 1 {
		q.arg(col+" = ?", keys[0])
		return
	}
	vals := make([]any, len(keys))
	for i, k := range keys {
		vals[i] = k
	}
	q.sql(col).inAny(vals)
}

// blockPage is how many block rows one query of a block walk reads.
const blockPage = 64

// blockRange returns the sequence numbers of block b up to hwm, or false
// when it has none up to hwm.
func (db *DB) blockRange(b, hwm int64) (lo, hi int64, ok bool) {
	lo = b * db.opts.TimelineBlock
	hi = min(lo+db.opts.TimelineBlock-1, hwm)
	return lo, hi, lo <= hi
}

// deleteEvents deletes the events m selects, DeleteBatch per transaction,
// records their entries in timeline_deleted, and returns how many it
// deleted.
func (db *DB) deleteEvents(ctx context.Context, what string, m *eventMatch) (int64, error) {
	var total int64
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		var srcs []entrySource
		err := db.inRead(ctx, func(tx *Tx) error {
			var err error
			srcs, err = db.selectForDelete(ctx, tx, m)
			return err
		})
		if err != nil {
			return total, dbErr(what, err)
		}
		if len(srcs) == 0 {
			return total, nil
		}
		keys := keyCache{fn: db.entityKey}
		var entries []entry
		seqs := make([]any, 0, len(srcs))
		for i := range srcs {
			seqs = append(seqs, srcs[i].seq)
			entries = keys.appendEntries(entries, &srcs[i], true)
		}
		var n int64
		err = db.inWrite(ctx, func(tx *Tx) error {
			n = 0
			for rest := seqs; len(rest) > 0; {
				k := min(len(rest), 256)
				q := (&query{}).sql("DELETE FROM events WHERE seq").inAny(rest[:k])
				res, err := tx.Exec(ctx, q.String(), q.args...)
				if err != nil {
					return dbErr(what, err)
				}
				d, err := res.RowsAffected()
				if err != nil {
					return dbErr(what, err)
				}
				n += d
				rest = rest[k:]
			}
			// An event another deletion got first is recorded twice:
			// applying a deletion twice changes nothing.
			for _, e := range sortEntries(entries) {
				if _, err := tx.Exec(ctx, "INSERT INTO timeline_deleted (seq, ekey, time) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
					e.seq, e.key, e.time); err != nil {
					return dbErr(what, err)
				}
			}
			return nil
		})
		total += n
		if err != nil {
			return total, err
		}
		db.ix.cleanup.Store(true)
		db.ix.poke()
		if len(srcs) < store.DeleteBatch {
			return total, nil
		}
	}
}

// selectForDelete returns up to DeleteBatch events m selects: first through
// the entries or blocks, then from the tail.
func (db *DB) selectForDelete(ctx context.Context, tx *Tx, m *eventMatch) ([]entrySource, error) {
	var hwm int64
	if err := tx.QueryRow(ctx, markQuery).Scan(&hwm); err != nil {
		return nil, err
	}
	var out []entrySource
	read := func(q *query) error {
		rows, err := tx.Query(ctx, q.String(), q.args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var s entrySource
			if err := rows.Scan(s.scanTargets()...); err != nil {
				return err
			}
			out = append(out, s)
		}
		return rows.Err()
	}
	if m.tenants != nil {
		full, err := db.selectBlocksForDelete(ctx, tx, m, hwm, read, func() int { return store.DeleteBatch - len(out) })
		if err != nil || full {
			return out, err
		}
	} else {
		q := &query{}
		q.sql("SELECT " + entryColumns + " FROM timeline t CROSS JOIN events e WHERE ")
		m.keyCondition(q)
		q.sql(" AND e.seq = t.seq")
		if m.timeMax != 0 {
			q.arg(" AND t.time < ?", m.timeMax)
		}
		m.filter(q)
		q.arg(" LIMIT ?", store.DeleteBatch)
		if err := read(q); err != nil {
			return nil, err
		}
		if len(out) >= store.DeleteBatch {
			return out, nil
		}
	}
	q := &query{}
	q.sql("SELECT "+entryColumns+" FROM events e"+db.d.IndexedBy("")).arg(" WHERE e.seq > ?", hwm)
	m.filter(q)
	q.arg(" LIMIT ?", store.DeleteBatch-len(out))
	return out, read(q)
}

// selectBlocksForDelete appends (through read) up to room() events m
// selects in the tenants' blocks up to hwm, from m.fromBlock on, and reports
// whether it filled the room. It moves m.fromBlock past the blocks it has
// emptied, but never past hwm's block, which later events may still join
// (the next call reads it again; this one does not).
func (db *DB) selectBlocksForDelete(ctx context.Context, tx *Tx, m *eventMatch, hwm int64, read func(*query) error, room func() int) (bool, error) {
	next := m.fromBlock // this call's walk
	for {
		q := &query{}
		q.sql("SELECT DISTINCT block FROM timeline_blocks WHERE ")
		keyIn(q, "tkey", m.tenants)
		if m.timeMax != 0 {
			q.arg(" AND tmin < ?", m.timeMax)
		}
		// Rows past hwm's block cannot be in this snapshot; the bound keeps
		// the walk finite whatever the table holds.
		q.arg(" AND block >= ?", next).arg(" AND block <= ?", hwm/db.opts.TimelineBlock).arg(" ORDER BY block LIMIT ?", blockPage)
		blocks, err := scanColumn[int64](tx.Query(ctx, q.String(), q.args...))
		if err != nil {
			return false, err
		}
		for _, b := range blocks {
			next = b + 1
			lo, hi, ok := db.blockRange(b, hwm)
			if !ok {
				continue
			}
			q := &query{}
			q.sql("SELECT "+entryColumns+" FROM events e"+db.d.IndexedBy("")).arg(" WHERE e.seq >= ?", lo).arg(" AND e.seq <= ?", hi)
			m.filter(q)
			q.arg(" LIMIT ?", room())
			if err := read(q); err != nil {
				return false, err
			}
			if room() <= 0 {
				m.fromBlock = b // a full batch: the block may hold more
				return true, nil
			}
			m.fromBlock = min(b+1, hwm/db.opts.TimelineBlock)
		}
		if len(blocks) < blockPage {
			return false, nil
		}
	}
}

// scanRange returns the first limit events m selects among the sequence
// numbers [lo, hi], in the search's order. The inner query orders only
// (time, seq): SQLite keeps the best rows seen so far in a temporary
// B-tree, which whole rows would make several times dearer to maintain.
func (db *DB) scanRange(ctx context.Context, tx *Tx, m *eventMatch, c *searchCursor, desc bool, limit int, lo, hi int64) ([]store.ArchivedEvent, error) {
	q := &query{}
	q.sql("SELECT "+eventColumnsOf("o")+" FROM events o WHERE o.seq IN (SELECT e.seq FROM events e"+db.d.IndexedBy("")).
		arg(" WHERE e.seq >= ?", lo).arg(" AND e.seq <= ?", hi)
	m.filter(q)
	timeRange(q, "e", m, c, desc)
	q.sql(orderBy("e", desc)).arg(" LIMIT ?)", limit)
	q.sql(orderBy("o", desc))
	return queryEvents(ctx, tx, q, limit)
}

// queryEvents runs q, which selects eventColumns, in tx.
func queryEvents(ctx context.Context, tx *Tx, q *query, limit int) ([]store.ArchivedEvent, error) {
	rows, err := tx.Query(ctx, q.String(), q.args...)
	return scanEvents(rows, err, limit)
}

// scanColumn reads rows of one column.
func scanColumn[T any](rows *sql.Rows, err error) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		var v T
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// searchHalves runs a timeline search in one snapshot: the entries (or the
// tenants' blocks) up to the mark and the archive after it, each ordered and
// limited, and merges them.
func (db *DB) searchHalves(ctx context.Context, m *eventMatch, c *searchCursor, desc bool, limit int) ([]store.ArchivedEvent, error) {
	var out []store.ArchivedEvent
	err := db.inRead(ctx, func(tx *Tx) error {
		// The mark first: every event it covers was committed before it
		// moved, so the events read next include them.
		var hwm int64
		if err := tx.QueryRow(ctx, markQuery).Scan(&hwm); err != nil {
			return err
		}
		var indexed []store.ArchivedEvent
		var err error
		if m.tenants != nil {
			indexed, err = db.searchBlocks(ctx, tx, m, c, desc, limit, hwm)
		} else {
			indexed, err = db.searchIndexed(ctx, tx, m, c, desc, limit)
		}
		if err != nil {
			return err
		}
		tail, err := db.scanRange(ctx, tx, m, c, desc, limit, hwm+1, math.MaxInt64)
		if err != nil {
			return err
		}
		out = mergeEvents(indexed, tail, desc, limit)
		return nil
	})
	return out, err
}

// searchIndexed returns up to limit events found through the entries.
func (db *DB) searchIndexed(ctx context.Context, tx *Tx, m *eventMatch, c *searchCursor, desc bool, limit int) ([]store.ArchivedEvent, error) {
	q := &query{}
	q.sql("SELECT " + eventColumnsOf("e") + " FROM timeline t CROSS JOIN events e WHERE ")
	m.keyCondition(q)
	q.sql(" AND e.seq = t.seq")
	m.filter(q)
	timeRange(q, "t", m, c, desc)
	q.sql(orderBy("t", desc)).arg(" LIMIT ?", limit)
	return queryEvents(ctx, tx, q, limit)
}

// searchBlocks returns up to limit events of the tenants' blocks up to hwm.
// It reads the blocks latest first (newest first; earliest first for the
// oldest first), each block's best events ordered by SQL, and stops at the
// first block whose span cannot beat the limit-th event it has.
func (db *DB) searchBlocks(ctx context.Context, tx *Tx, m *eventMatch, c *searchCursor, desc bool, limit int, hwm int64) ([]store.ArchivedEvent, error) {
	edge, dir, cmpOp := "tmin", "", ">"
	if desc {
		edge, dir, cmpOp = "tmax", " DESC", "<"
	}
	var best []store.ArchivedEvent
	scanned := map[int64]bool{} // several tenants' rows name one block
	var after *[2]int64         // the (edge, block) of the last row read
	for {
		q := &query{}
		q.sql("SELECT block, " + edge + " FROM timeline_blocks WHERE ")
		keyIn(q, "tkey", m.tenants)
		if m.timeMin != 0 {
			q.arg(" AND tmax >= ?", m.timeMin)
		}
		if m.timeMax != 0 {
			q.arg(" AND tmin < ?", m.timeMax)
		}
		if c != nil {
			if desc {
				q.arg(" AND tmin <= ?", c.time)
			} else {
				q.arg(" AND tmax >= ?", c.time)
			}
		}
		if after != nil {
			q.arg(" AND ("+edge+" "+cmpOp+" ?", after[0]).arg(" OR "+edge+" = ?", after[0]).arg(" AND block "+cmpOp+" ?)", after[1])
		}
		q.sql(" ORDER BY "+edge+dir+", block"+dir).arg(" LIMIT ?", blockPage)
		rows, err := tx.Query(ctx, q.String(), q.args...)
		if err != nil {
			return nil, err
		}
		var page [][2]int64
		for rows.Next() {
			var r [2]int64
			if err := rows.Scan(&r[0], &r[1]); err != nil {
				rows.Close()
				return nil, err
			}
			page = append(page, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		for _, r := range page {
			b, t := r[0], r[1]
			if len(best) >= limit {
				worst := best[limit-1].Time
				if desc && t < worst || !desc && t > worst {
					return best, nil
				}
			}
			lo, hi, ok := db.blockRange(b, hwm)
			if !ok || scanned[b] {
				continue
			}
			scanned[b] = true
			evs, err := db.scanRange(ctx, tx, m, c, desc, limit, lo, hi)
			if err != nil {
				return nil, err
			}
			best = mergeEvents(best, evs, desc, limit)
		}
		if len(page) < blockPage {
			return best, nil
		}
		after = &[2]int64{page[len(page)-1][1], page[len(page)-1][0]}
	}
}

// searchCursor is the (time, seq) a page continues after.
type searchCursor struct{ time, seq int64 }

// timeRange appends the time bounds and the cursor on alias a's columns.
func timeRange(q *query, a string, m *eventMatch, c *searchCursor, desc bool) {
	if m.timeMin != 0 {
		q.arg(" AND "+a+".time >= ?", m.timeMin)
	}
	if m.timeMax != 0 {
		q.arg(" AND "+a+".time < ?", m.timeMax)
	}
	if c == nil {
		return
	}
	// The redundant bound on time alone lets the index seek to the cursor
	// instead of filtering the pages already read.
	if desc {
		q.arg(" AND "+a+".time <= ?", c.time).arg(" AND ("+a+".time < ?", c.time).arg(" OR "+a+".seq < ?)", c.seq)
	} else {
		q.arg(" AND "+a+".time >= ?", c.time).arg(" AND ("+a+".time > ?", c.time).arg(" OR "+a+".seq > ?)", c.seq)
	}
}

func orderBy(a string, desc bool) string {
	if desc {
		return " ORDER BY " + a + ".time DESC, " + a + ".seq DESC"
	}
	return " ORDER BY " + a + ".time, " + a + ".seq"
}

// mergeEvents merges two lists sorted on (time, seq) into the first limit.
func mergeEvents(a, b []store.ArchivedEvent, desc bool, limit int) []store.ArchivedEvent {
	out := make([]store.ArchivedEvent, 0, min(limit, len(a)+len(b)))
	before := func(x, y *store.ArchivedEvent) bool {
		c := cmp.Or(cmp.Compare(x.Time, y.Time), cmp.Compare(x.Seq, y.Seq))
		return c < 0 != desc
	}
	for len(out) < limit && (len(a) > 0 || len(b) > 0) {
		if len(b) == 0 || len(a) > 0 && before(&a[0], &b[0]) {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	return out
}
