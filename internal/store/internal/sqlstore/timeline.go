package sqlstore

import (
	"cmp"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"math"
	"slices"
	"strings"

	"github.com/vigil-project/vigil/internal/store"
)

// Timelines are built after ingest, not during it. InsertEvents writes the
// row and its idempotency key; the commit loop later reads the events after
// the high-water mark (counters.timeline_seq) in large batches and writes
// their entries, sorted, to the narrow timeline table, moving the mark in the
// same transaction. A search reads the entries up to the mark and scans the
// archive after it (at most a few batches) in one snapshot, so its answer is
// complete whatever the indexer's delay; retention and erasure take the mark's
// lock, so they never race the indexer into leaving entries behind.

// kindTenant keys a tenant's own timeline: searches without an entity and
// retention walk it.
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
	m  map[string]int64
}

func (c *keyCache) key(kindIdx int, value string) int64 {
	if c.m == nil {
		c.m = map[string]int64{}
	}
	// The kind's index and a NUL make the map key unique per kind.
	k := string(rune('0'+kindIdx)) + "\x00" + value
	if v, ok := c.m[k]; ok {
		return v
	}
	v := c.fn(entryKinds[kindIdx], value)
	c.m[k] = v
	return v
}

// appendEntries appends the event's entries: its tenant's and one per entity
// it names.
func (c *keyCache) appendEntries(out []entry, s *entrySource) []entry {
	for i, v := range s.values {
		if v != "" {
			out = append(out, entry{key: c.key(i, v), time: s.time, seq: s.seq})
		}
	}
	return out
}

// lockTimeline returns the high-water mark, locking it until tx ends where
// the dialect needs a lock (SQLite's single writer already excludes others).
func (db *DB) lockTimeline(ctx context.Context, tx *Tx) (int64, error) {
	var hwm int64
	err := tx.QueryRow(ctx, "SELECT value FROM counters WHERE name = 'timeline_seq'"+db.d.ForUpdate()).Scan(&hwm)
	return hwm, err
}

// IndexTimeline writes the timeline entries of up to limit events after the
// high-water mark in one transaction and returns how many events it covered.
// The commit loop indexes on its own; tests call this to control the mark.
func (db *DB) IndexTimeline(ctx context.Context, limit int) (int, error) {
	n, _, err := db.indexTimeline(ctx, limit, nil)
	return n, err
}

// indexTimeline is IndexTimeline; with kept (the commit loop's), it takes
// the events from the ones the loop kept in memory when they follow the
// mark and nothing was deleted since, and reads the archive otherwise. It
// also reports whether the mark moved (it may cover only gaps).
func (db *DB) indexTimeline(ctx context.Context, limit int, kept *keptEvents) (int, bool, error) {
	if limit <= 0 {
		limit = db.opts.TimelineBatch
	}
	var n int
	var mark, hwm int64
	err := db.inWrite(ctx, func(tx *Tx) error {
		var err error
		hwm, err = db.lockTimeline(ctx, tx)
		if err != nil {
			return dbErr("index timeline: read the mark", err)
		}
		mark = hwm
		var srcs []entrySource
		before := int64(0) // read the archive below this sequence number (0: no bound)
		if kept != nil {
			var gen int64
			if err := tx.QueryRow(ctx, "SELECT value FROM counters WHERE name = 'timeline_gen'").Scan(&gen); err != nil {
				return dbErr("index timeline: read the generation", err)
			}
			srcs, mark, before = kept.take(hwm, gen, limit)
		}
		if srcs == nil {
			if srcs, err = readSources(ctx, tx, db.d, hwm, before, limit); err != nil {
				return dbErr("index timeline: read events", err)
			}
			switch {
			case before != 0 && len(srcs) < limit:
				mark = before - 1 // up to the kept events, gaps included
			case len(srcs) > 0:
				mark = srcs[len(srcs)-1].seq
			}
		}
		n = len(srcs)
		if mark == hwm {
			return nil
		}
		keys := keyCache{fn: db.entityKey}
		entries := make([]entry, 0, 2*len(srcs))
		for i := range srcs {
			entries = keys.appendEntries(entries, &srcs[i])
		}
		// In key order the inserts walk the B-tree once; equal entries (two
		// kinds of one event whose keys collide) are written once.
		slices.SortFunc(entries, func(a, b entry) int {
			return cmp.Or(cmp.Compare(a.key, b.key), cmp.Compare(a.time, b.time), cmp.Compare(a.seq, b.seq))
		})
		entries = slices.Compact(entries)
		if err := insertEntries(ctx, tx, entries); err != nil {
			return dbErr("index timeline: insert", err)
		}
		_, err = tx.Exec(ctx, "UPDATE counters SET value = ? WHERE name = 'timeline_seq'", mark)
		return dbErr("index timeline: move the mark", err)
	})
	if err != nil {
		return 0, false, err
	}
	db.noteIndexed(mark)
	if kept != nil {
		kept.drop(mark)
	}
	return n, mark != hwm, nil
}

// readSources reads up to limit events after seq (and below before, unless
// 0) from the archive.
func readSources(ctx context.Context, tx *Tx, d Dialect, after, before int64, limit int) ([]entrySource, error) {
	if before == 0 {
		before = math.MaxInt64
	}
	// Read everything first: PostgreSQL cannot run the inserts while the
	// rows are open on the same connection.
	rows, err := tx.Query(ctx, "SELECT "+entryColumns+" FROM events e"+d.IndexedBy("")+" WHERE e.seq > ? AND e.seq < ? ORDER BY e.seq LIMIT ?",
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

// keptEvents are the events the commit loop committed since the mark, as
// their entries see them: indexing them needs no read of the archive. They
// are trusted only while they run without a gap from the mark (no other
// writer's events between) and timeline_gen has not moved (no deletion,
// from any process, since the last indexing step).
type keptEvents struct {
	srcs       []entrySource
	from, next int64 // the sequence numbers [from, next) srcs cover (duplicates leave gaps)
	gen        int64 // timeline_gen at the last indexing step; -1 unknown
}

// add keeps the new events of a committed group [base, end]. It starts
// again when they do not follow the kept ones, or when more than limit would
// be kept (the archive is read up to them then).
func (k *keptEvents) add(base, end int64, evs []store.ArchivedEvent, out []store.Inserted, limit int) {
	if base != k.next || len(k.srcs)+len(evs) > limit {
		k.srcs, k.from = k.srcs[:0], base
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

// take returns up to limit kept events after hwm and the mark that covers
// them; or nil, hwm and the bound below which the archive must be read
// first (0: read it all, nothing kept can be trusted).
func (k *keptEvents) take(hwm, gen int64, limit int) ([]entrySource, int64, int64) {
	if k.gen != gen {
		// Something was deleted since the last step: maybe kept events.
		k.gen = gen
		k.srcs, k.from, k.next = k.srcs[:0], 0, 0
		return nil, hwm, 0
	}
	k.drop(hwm)
	switch {
	case k.next <= k.from:
		return nil, hwm, 0
	case k.from > hwm+1:
		return nil, hwm, k.from
	case len(k.srcs) <= limit:
		return k.srcs, k.next - 1, 0
	}
	return k.srcs[:limit], k.srcs[limit-1].seq, 0
}

// drop forgets what the mark now covers.
func (k *keptEvents) drop(mark int64) {
	if k.next == 0 || mark < k.from {
		return
	}
	if mark >= k.next-1 {
		k.srcs, k.from = k.srcs[:0], k.next
		return
	}
	i, _ := slices.BinarySearchFunc(k.srcs, mark+1, func(s entrySource, seq int64) int { return cmp.Compare(s.seq, seq) })
	k.srcs, k.from = slices.Delete(k.srcs, 0, i), mark+1
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
		st, err := tx.Stmt(ctx, q)
		if err != nil && tx.prepare {
			return err
		}
		for len(entries) >= size {
			args = args[:0]
			for _, e := range entries[:size] {
				args = append(args, e.key, e.time, e.seq)
			}
			if st != nil {
				_, err = st.ExecContext(ctx, args...)
			} else {
				_, err = tx.Exec(ctx, q, args...)
			}
			if err != nil {
				return err
			}
			entries = entries[size:]
		}
	}
	return nil
}

// timelineHit is an event a search found, with the entry key that found it
// (0 for the archive's tail).
type timelineHit struct {
	e   store.ArchivedEvent
	key int64
}

// eventMatch is what selects events for a search or a deletion, as SQL
// over the events alias e, for both halves: the entries up to the mark and
// the archive after it.
type eventMatch struct {
	keys    []int64 // entry keys to walk
	verify  func(e *store.ArchivedEvent, key int64) bool
	filter  func(q *query) // conditions on e, the same in both halves
	timeMin int64          // entry time bounds [timeMin, timeMax), 0 none
	timeMax int64
}

func (m *eventMatch) keyCondition(q *query) {
	if len(m.keys) == 1 {
		q.arg("t.ekey = ?", m.keys[0])
		return
	}
	vals := make([]any, len(m.keys))
	for i, k := range m.keys {
		vals[i] = k
	}
	q.sql("t.ekey").inAny(vals)
}

// deleteEvents deletes the events m selects, DeleteBatch per transaction,
// with their timeline entries, and returns how many it deleted.
func (db *DB) deleteEvents(ctx context.Context, what string, m *eventMatch) (int64, error) {
	var total int64
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		var n int
		err := db.inWrite(ctx, func(tx *Tx) error {
			hwm, err := db.lockTimeline(ctx, tx)
			if err != nil {
				return dbErr(what, err)
			}
			srcs, err := db.selectForDelete(ctx, tx, m, hwm)
			if err != nil {
				return dbErr(what, err)
			}
			n = len(srcs)
			if n == 0 {
				return nil
			}
			// Tell the indexer that events it may hold in memory are gone.
			if _, err := tx.Exec(ctx, "UPDATE counters SET value = value + 1 WHERE name = 'timeline_gen'"); err != nil {
				return dbErr(what, err)
			}
			keys := keyCache{fn: db.entityKey}
			var entries []entry
			seqs := make([]any, 0, len(srcs))
			for i := range srcs {
				seqs = append(seqs, srcs[i].seq)
				if srcs[i].seq <= hwm {
					entries = keys.appendEntries(entries, &srcs[i])
				}
			}
			for _, e := range entries {
				if _, err := tx.Exec(ctx, "DELETE FROM timeline WHERE ekey = ? AND time = ? AND seq = ?", e.key, e.time, e.seq); err != nil {
					return dbErr(what, err)
				}
			}
			for len(seqs) > 0 {
				k := min(len(seqs), 256)
				q := (&query{}).sql("DELETE FROM events WHERE seq").inAny(seqs[:k])
				if _, err := tx.Exec(ctx, q.String(), q.args...); err != nil {
					return dbErr(what, err)
				}
				seqs = seqs[k:]
			}
			return nil
		})
		total += int64(n)
		if err != nil {
			return total, err
		}
		if n < store.DeleteBatch {
			return total, nil
		}
	}
}

// selectForDelete returns up to DeleteBatch events m selects: first through
// the entries, then from the tail.
func (db *DB) selectForDelete(ctx context.Context, tx *Tx, m *eventMatch, hwm int64) ([]entrySource, error) {
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
	q = &query{}
	q.sql("SELECT "+entryColumns+" FROM events e"+db.d.IndexedBy("")).arg(" WHERE e.seq > ?", hwm)
	m.filter(q)
	q.arg(" LIMIT ?", store.DeleteBatch-len(out))
	return out, read(q)
}

// searchHalves runs a timeline search in one snapshot: the entries up to the
// mark and the archive after it, each ordered and limited, and merges them.
func (db *DB) searchHalves(ctx context.Context, m *eventMatch, c *searchCursor, desc bool, limit int) ([]store.ArchivedEvent, error) {
	var out []store.ArchivedEvent
	err := db.inRead(ctx, func(tx *Tx) error {
		var hwm int64
		if err := tx.QueryRow(ctx, "SELECT value FROM counters WHERE name = 'timeline_seq'").Scan(&hwm); err != nil {
			return err
		}
		indexed, err := db.searchIndexed(ctx, tx, m, c, desc, limit)
		if err != nil {
			return err
		}
		q := &query{}
		q.sql("SELECT "+eventColumnsOf("e")+", 0 FROM events e"+db.d.IndexedBy("")).arg(" WHERE e.seq > ?", hwm)
		m.filter(q)
		timeRange(q, "e", m, c, desc)
		q.sql(orderBy("e", desc)).arg(" LIMIT ?", limit)
		tail, err := scanHits(tx.Query(ctx, q.String(), q.args...))
		if err != nil {
			return err
		}
		out = mergeHits(indexed, tail, desc, limit)
		return nil
	})
	return out, err
}

// searchIndexed returns up to limit events found through the entries,
// dropping hits m.verify refuses (an entry whose key collided with the
// searched one) and reading on past them.
func (db *DB) searchIndexed(ctx context.Context, tx *Tx, m *eventMatch, c *searchCursor, desc bool, limit int) ([]timelineHit, error) {
	var out []timelineHit
	cur := c
	for {
		q := &query{}
		q.sql("SELECT " + eventColumnsOf("e") + ", t.ekey FROM timeline t CROSS JOIN events e WHERE ")
		m.keyCondition(q)
		q.sql(" AND e.seq = t.seq")
		m.filter(q)
		timeRange(q, "t", m, cur, desc)
		q.sql(orderBy("t", desc)).arg(" LIMIT ?", limit-len(out))
		hits, err := scanHits(tx.Query(ctx, q.String(), q.args...))
		if err != nil {
			return nil, err
		}
		want := limit - len(out)
		for _, h := range hits {
			if m.verify == nil || m.verify(&h.e, h.key) {
				out = append(out, h)
			}
		}
		if len(hits) < want || len(out) >= limit {
			return out, nil
		}
		last := hits[len(hits)-1].e
		cur = &searchCursor{time: last.Time, seq: last.Seq}
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

func scanHits(rows *sql.Rows, err error) ([]timelineHit, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []timelineHit
	for rows.Next() {
		out = append(out, timelineHit{})
		h := &out[len(out)-1]
		if err := rows.Scan(append(scanTargets(&h.e), &h.key)...); err != nil {
			return nil, err
		}
	}
	return out, rows.Err()
}

// mergeHits merges two lists sorted on (time, seq) into the first limit.
func mergeHits(a, b []timelineHit, desc bool, limit int) []store.ArchivedEvent {
	out := make([]store.ArchivedEvent, 0, min(limit, len(a)+len(b)))
	before := func(x, y *store.ArchivedEvent) bool {
		c := cmp.Or(cmp.Compare(x.Time, y.Time), cmp.Compare(x.Seq, y.Seq))
		return c < 0 != desc
	}
	for len(out) < limit && (len(a) > 0 || len(b) > 0) {
		if len(b) == 0 || len(a) > 0 && before(&a[0].e, &b[0].e) {
			out, a = append(out, a[0].e), a[1:]
		} else {
			out, b = append(out, b[0].e), b[1:]
		}
	}
	return out
}
