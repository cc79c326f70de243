package storetest

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-project/vigil/internal/store"
	"github.com/vigil-project/vigil/internal/store/internal/sqlstore"
)

// The timeline tests check stores that build timeline entries after ingest
// (store/sqlite, store/postgres): searches, retention and erasure must give
// the same answers whatever part of the archive has its entries yet.

// timelineIndexer is a store whose timeline a test can advance by hand.
type timelineIndexer interface {
	IndexTimeline(ctx context.Context, limit int) (int, error)
}

// openHooked opens the backend with hooks and closes it when the test ends.
func openHooked(t *testing.T, b Backend, h Hooks) (store.Store, timelineIndexer) {
	t.Helper()
	if b.OpenWith == nil {
		t.Fatal("the backend has no OpenWith: the timeline tests need it")
	}
	s, err := b.OpenWith(ctx, h)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	ix, ok := s.(timelineIndexer)
	if !ok {
		t.Fatalf("%T has no IndexTimeline", s)
	}
	return s, ix
}

// timelineMark is the sequence number up to which events have entries.
func timelineMark(t *testing.T, b Backend) int64 {
	t.Helper()
	return b.QueryInt(t, "SELECT value FROM timeline_mark WHERE name = 'seq'")
}

// checkEntries: no entry outlives its event; every event the mark covers
// lies in a block of its tenant whose span holds its time; and, once
// everything is indexed and every deletion applied (full), every event has
// one entry per entity column it fills and no tenant's block is left without
// events of that tenant.
func checkEntries(t *testing.T, b Backend, full bool) {
	checkEntriesKeyed(t, b, full, sqlstore.EntityKey)
}

// fixtureTenants are every tenant the suite's timeline tests write.
var fixtureTenants = []string{"fleet-a", "fleet-b", "fleet-c", "fleet-d", "fleet-e"}

// checkEntriesKeyed is checkEntries for a store whose keys key computes.
func checkEntriesKeyed(t *testing.T, b Backend, full bool, key func(kind, value string) int64) {
	t.Helper()
	dangling := b.QueryInt(t, "SELECT COUNT(*) FROM timeline t WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.seq = t.seq)")
	equal(t, "timeline entries of deleted events", dangling, int64(0))
	quoted := func(names []string) string {
		return "'" + strings.Join(names, "', '") + "'"
	}
	equal(t, "tenants the check does not know", b.QueryInt(t, "SELECT COUNT(*) FROM tenants WHERE name NOT IN ("+quoted(fixtureTenants)+")"), int64(0))
	// Tenants whose keys collide share their blocks.
	byKey := map[int64][]string{}
	var keys []string
	for _, n := range fixtureTenants {
		k := key("tenant", n)
		if byKey[k] == nil {
			keys = append(keys, fmt.Sprint(k))
		}
		byKey[k] = append(byKey[k], n)
	}
	for k, names := range byKey {
		outside := b.QueryInt(t, fmt.Sprintf(`SELECT COUNT(*) FROM events e WHERE e.tenant IN (%s)
AND e.seq <= (SELECT value FROM timeline_mark WHERE name = 'seq')
AND NOT EXISTS (SELECT 1 FROM timeline_blocks b WHERE b.tkey = %d AND b.block = e.seq / %d AND b.tmin <= e.time AND b.tmax >= e.time)`,
			quoted(names), k, TimelineBlock))
		equal(t, fmt.Sprintf("indexed events of %v outside their blocks", names), outside, int64(0))
		if full {
			empty := b.QueryInt(t, fmt.Sprintf(`SELECT COUNT(*) FROM timeline_blocks b WHERE b.tkey = %d
AND NOT EXISTS (SELECT 1 FROM events e WHERE e.seq / %d = b.block AND e.tenant IN (%s))`, k, TimelineBlock, quoted(names)))
			equal(t, fmt.Sprintf("blocks of %v without their events", names), empty, int64(0))
		}
	}
	equal(t, "blocks of no tenant", b.QueryInt(t, "SELECT COUNT(*) FROM timeline_blocks WHERE tkey NOT IN ("+strings.Join(keys, ", ")+")"), int64(0))
	if !full {
		return
	}
	equal(t, "indexed up to the newest event", timelineMark(t, b) >= b.QueryInt(t, "SELECT COALESCE(MAX(seq), 0) FROM events"), true)
	want := b.QueryInt(t, `SELECT COALESCE(SUM(CASE WHEN subject IS NULL THEN 0 ELSE 1 END + CASE WHEN account IS NULL THEN 0 ELSE 1 END
	+ CASE WHEN device IS NULL THEN 0 ELSE 1 END + CASE WHEN ip IS NULL THEN 0 ELSE 1 END + CASE WHEN client_id IS NULL THEN 0 ELSE 1 END), 0) FROM events`)
	equal(t, "timeline entries", b.QueryInt(t, "SELECT COUNT(*) FROM timeline"), want)
}

func testTimelineCatchesUp(t *testing.T, b Backend) {
	s, ix := openHooked(t, b, Hooks{ManualTimeline: true})
	timelineFixture(t, s)
	insert(t, s, ev("fleet-a", "t05b", 5, "VIN1"))
	checkTimeline(t, s, " (nothing indexed)")
	for step := 1; ; step++ {
		n, err := ix.IndexTimeline(ctx, 2)
		wantErr(t, "IndexTimeline", err, nil)
		checkTimeline(t, s, fmt.Sprintf(" (after step %d)", step))
		if n == 0 {
			break
		}
	}
	checkEntries(t, b, true)

	// Pages that straddle the mark: ten events indexed, fifteen not.
	var evs []store.ArchivedEvent
	for i := 1; i <= 25; i++ {
		evs = append(evs, ev("fleet-a", fmt.Sprintf("e%02d", i), 100+i/3, "VIN3"))
	}
	insert(t, s, evs...)
	_, err := ix.IndexTimeline(ctx, 10)
	wantErr(t, "IndexTimeline", err, nil)
	for _, order := range []store.Order{store.NewestFirst, store.OldestFirst} {
		got := searchAll(t, s, onlyA, store.EventQuery{Kind: store.EntityVehicle, Value: "VIN3", Order: order, Limit: 7})
		want := ids("e", 25, 1)
		if order == store.OldestFirst {
			want = ids("e", 1, 25)
		}
		equal(t, fmt.Sprintf("order %d across the mark", order), got, want)
	}

	// Deletions reach both sides of the mark: VIN3's events are half
	// indexed, VIN2 gets an event the indexer has not seen.
	insert(t, s, ev("fleet-a", "t09", 9, "VIN2"))
	er, err := s.EraseSubject(ctx, onlyA, "fleet-a", store.Entity{Kind: store.EntityVehicle, Value: "VIN3"})
	wantErr(t, "EraseSubject", err, nil)
	equal(t, "erased", er.Events, int64(25))
	er, err = s.EraseSubject(ctx, onlyA, "fleet-a", store.Entity{Kind: store.EntityVehicle, Value: "VIN2"})
	wantErr(t, "EraseSubject", err, nil)
	equal(t, "erased", er.Events, int64(3))
	n, err := s.PruneEvents(ctx, all, "fleet-b", at(8))
	wantErr(t, "PruneEvents", err, nil)
	equal(t, "pruned", n, int64(1))
	// Searches leave the deleted events out before the indexer has removed
	// their entries, and after.
	for _, state := range []string{"before the indexer ran", "after"} {
		for _, c := range []struct {
			q    store.EventQuery
			want []string
		}{
			{store.EventQuery{Kind: store.EntityVehicle, Value: "VIN2"}, []string{}},
			{store.EventQuery{Kind: store.EntityVehicle, Value: "VIN3"}, []string{}},
			{store.EventQuery{Kind: store.EntityAccount, Value: "acc-1"}, []string{"c08", "c02"}},
			{store.EventQuery{}, []string{"c08", "c06", "t05b", "t05", "c02", "t01"}},
		} {
			page, err := s.SearchEvents(ctx, all, c.q)
			wantErr(t, "SearchEvents", err, nil)
			equal(t, fmt.Sprintf("after deletions, %s, %+v", state, c.q), eventIDs(page.Events), c.want)
		}
		indexAll(t, ix)
	}
	checkEntries(t, b, true)
}

// searchAll returns the ids of every page of q, following the cursors.
func searchAll(t *testing.T, s store.Store, scope store.Scope, q store.EventQuery) []string {
	t.Helper()
	got := []string{}
	for {
		page, err := s.SearchEvents(ctx, scope, q)
		wantErr(t, "SearchEvents", err, nil)
		got = append(got, eventIDs(page.Events)...)
		if page.Next == "" {
			return got
		}
		q.Cursor = page.Next
	}
}

// indexAll runs IndexTimeline until nothing is left to index.
func indexAll(t *testing.T, ix timelineIndexer) {
	t.Helper()
	for {
		n, err := ix.IndexTimeline(ctx, 0)
		wantErr(t, "IndexTimeline", err, nil)
		if n == 0 {
			return
		}
	}
}

func testTimelineCollisions(t *testing.T, b Backend) {
	// fleet-b and VIN1 share a key, so an event of VIN1 in fleet-a has two
	// entries a search of both tenants walks; every other value shares
	// another, whatever its kind.
	key := func(kind, value string) int64 {
		switch {
		case kind == "tenant" && value == "fleet-a":
			return 1
		case kind == "tenant", value == "VIN1":
			return 3
		}
		return 2
	}
	s, ix := openHooked(t, b, Hooks{ManualTimeline: true, EntityKey: key})
	timelineFixture(t, s)
	insert(t, s, ev("fleet-a", "t05b", 5, "VIN1"))
	checkTimeline(t, s, " (colliding, nothing indexed)")
	_, err := ix.IndexTimeline(ctx, 4)
	wantErr(t, "IndexTimeline", err, nil)
	checkTimeline(t, s, " (colliding, half indexed)")
	_, err = ix.IndexTimeline(ctx, 100)
	wantErr(t, "IndexTimeline", err, nil)
	checkTimeline(t, s, " (colliding, all indexed)")

	// Erasure and retention delete what they name, nothing that shares
	// its key.
	er, err := s.EraseSubject(ctx, all, "fleet-a", store.Entity{Kind: store.EntityVehicle, Value: "VIN1"})
	wantErr(t, "EraseSubject", err, nil)
	equal(t, "erased", er.Events, int64(5))
	n, err := s.PruneEvents(ctx, all, "fleet-a", at(4))
	wantErr(t, "PruneEvents", err, nil)
	equal(t, "pruned", n, int64(1))
	indexAll(t, ix)
	checkEntriesKeyed(t, b, false, key)
	for _, c := range []struct {
		scope store.Scope
		q     store.EventQuery
		want  []string
	}{
		{all, store.EventQuery{}, []string{"c08", "t07", "c04"}},
		{all, store.EventQuery{Kind: store.EntityVehicle, Value: "VIN1"}, []string{"t07"}},
		{onlyA, store.EventQuery{Kind: store.EntityAccount, Value: "acc-1"}, []string{"c04"}},
		{all, store.EventQuery{Kind: store.EntityIP, Value: "198.51.100.1", Order: store.OldestFirst, Limit: 1}, []string{"c04"}},
	} {
		page, err := s.SearchEvents(ctx, c.scope, c.q)
		wantErr(t, "SearchEvents", err, nil)
		equal(t, fmt.Sprintf("colliding, after deletions, %+v", c.q), eventIDs(page.Events), c.want)
	}
}

// testTimelineOnItsOwn lets the store index by itself while events arrive
// and are erased, some before and some after their entries exist.
func testTimelineOnItsOwn(t *testing.T, b Backend) {
	// Events stored by an earlier run that never indexed them: the store
	// must read them back, not only index what it inserts itself.
	s, _ := openHooked(t, b, Hooks{ManualTimeline: true})
	insert(t, s, ev("fleet-a", "old1", 0, "VA"), cmdEv("fleet-a", "old2", 0, "VB", "acc-VB", "192.0.2.1"))
	wantErr(t, "Close", s.Close(), nil)
	s = open(t, b)
	vehicles := []string{"VA", "VB", "VC", "VD"}
	want := map[string][]string{"VA": {"old1"}, "VB": {"old2"}} // vehicle → ids, oldest first
	minute := 0
	add := func(n int) {
		var evs []store.ArchivedEvent
		for range n {
			minute++
			v := vehicles[minute%len(vehicles)]
			id := fmt.Sprintf("m%04d", minute)
			e := ev("fleet-a", id, minute, v)
			if minute%5 == 0 {
				e = cmdEv("fleet-a", id, minute, v, "acc-"+v, "192.0.2.1")
			}
			evs = append(evs, e)
			want[v] = append(want[v], id)
		}
		insert(t, s, evs...)
	}
	for round := range 12 {
		add(30)
		if round%3 == 2 {
			// Wait for the entries, so that the erasure meets indexed
			// events as well as new ones.
			waitIndexed(t, b)
			add(5)
		}
		v := vehicles[round%len(vehicles)]
		if round%4 == 1 {
			v = vehicles[minute%len(vehicles)] // the newest events go
		}
		_, err := s.EraseSubject(ctx, all, "fleet-a", store.Entity{Kind: store.EntityVehicle, Value: v})
		wantErr(t, "EraseSubject", err, nil)
		want[v] = nil
		if round%4 == 1 {
			waitIndexed(t, b)
		}
		add(7)
	}
	waitIndexed(t, b)
	checkEntries(t, b, true)
	for _, v := range vehicles {
		page, err := s.SearchEvents(ctx, onlyA, store.EventQuery{Kind: store.EntityVehicle, Value: v, Order: store.OldestFirst, Limit: store.MaxPageSize})
		wantErr(t, "SearchEvents", err, nil)
		equal(t, "timeline of "+v, eventIDs(page.Events), append([]string{}, want[v]...))
	}
}

// waitIndexed waits (30s at most) until the store has indexed every event
// and removed the entries of every deleted one.
func waitIndexed(t *testing.T, b Backend) {
	t.Helper()
	top := b.QueryInt(t, "SELECT COALESCE(MAX(seq), 0) FROM events")
	for end := time.Now().Add(30 * time.Second); timelineMark(t, b) < top || b.QueryInt(t, "SELECT COUNT(*) FROM timeline_deleted") > 0; {
		if time.Now().After(end) {
			t.Fatalf("after 30s, the timeline's mark is %d (newest event %d) and %d deletions wait", timelineMark(t, b), top,
				b.QueryInt(t, "SELECT COUNT(*) FROM timeline_deleted"))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// UpgradeTimeline checks that an archive written before timelines were
// built after ingest is searched completely once the store has migrated it:
// at once (from the archive itself) and after the store built its entries.
// makeOld must leave b's database at the schema version before the
// timeline migration, with no events.
func UpgradeTimeline(t *testing.T, b Backend, makeOld func(t *testing.T)) {
	makeOld(t)
	evs := insertOld(t, b)

	s := open(t, b)
	checkTimeline(t, s, " (just upgraded)")
	waitIndexed(t, b)
	checkTimeline(t, s, " (upgraded and indexed)")
	checkEntries(t, b, true)
	res := insert(t, s, ev("fleet-a", "t01", 1, "VIN1"), ev("fleet-a", "t10", 10, "VIN1"))
	equal(t, "an old event sent again, a new one", []bool{res[0].Duplicate, res[1].Duplicate}, []bool{true, false})
	if res[1].Seq <= int64(len(evs)) {
		t.Fatalf("new event got sequence number %d, not after the old archive's %d", res[1].Seq, len(evs))
	}
	page, err := s.SearchEvents(ctx, onlyA, store.EventQuery{Kind: store.EntityVehicle, Value: "VIN1", Limit: 2})
	wantErr(t, "SearchEvents", err, nil)
	equal(t, "newest of VIN1 after the upgrade", eventIDs(page.Events), []string{"t10", "c06"})
}

// testTenantTimeline checks searches and retention without an entity, which
// read the tenants' blocks: two tenants interleave, events arrive out of
// time order (late ones land in later blocks, ties on time are common), and
// the mark stops inside a block. Every page is compared with the archive
// sorted by hand.
func testTenantTimeline(t *testing.T, b Backend) {
	s, ix := openHooked(t, b, Hooks{ManualTimeline: true})
	r := rand.New(rand.NewPCG(4, 2))
	type rec struct {
		id, tenant, typ string
		time, seq       int64
	}
	var recs []rec
	for batch := range 6 {
		var evs []store.ArchivedEvent
		for i := range 23 {
			n := batch*23 + i
			tenant := "fleet-a"
			if r.IntN(3) == 0 {
				tenant = "fleet-b"
			}
			minute := n/2 + r.IntN(5)
			if r.IntN(8) == 0 {
				minute = r.IntN(n/2 + 1) // late
			}
			e := ev(tenant, fmt.Sprintf("k%03d", n), minute, fmt.Sprintf("V%d", n%5))
			if n%7 == 0 {
				e = cmdEv(tenant, e.ID, minute, e.Subject, "acc-1", "192.0.2.7")
			}
			evs = append(evs, e)
		}
		for i, res := range insert(t, s, evs...) {
			recs = append(recs, rec{evs[i].ID, evs[i].Tenant, evs[i].Type, evs[i].Time, res.Seq})
		}
	}
	deleted := map[string]bool{}
	check := func(state string) {
		t.Helper()
		for _, c := range []struct {
			scope    store.Scope
			tenant   string
			from, to int64
			types    []string
		}{
			{all, "", 0, 0, nil},
			{onlyA, "", 0, 0, nil},
			{all, "fleet-b", 0, 0, nil},
			{all, "", at(10), at(40), nil},
			{onlyA, "", at(25), 0, []string{"vehicle.command"}},
		} {
			for _, order := range []store.Order{store.NewestFirst, store.OldestFirst} {
				var want []rec
				for _, e := range recs {
					if deleted[e.id] || !c.scope.Allows(e.tenant) || c.tenant != "" && e.tenant != c.tenant ||
						c.from != 0 && e.time < c.from || c.to != 0 && e.time >= c.to || c.types != nil && !slices.Contains(c.types, e.typ) {
						continue
					}
					want = append(want, e)
				}
				slices.SortFunc(want, func(x, y rec) int {
					o := cmp.Or(cmp.Compare(x.time, y.time), cmp.Compare(x.seq, y.seq))
					if order == store.NewestFirst {
						return -o
					}
					return o
				})
				wantIDs := []string{}
				for _, e := range want {
					wantIDs = append(wantIDs, e.id)
				}
				got := searchAll(t, s, c.scope, store.EventQuery{Tenant: c.tenant, From: c.from, To: c.to, Types: c.types, Order: order, Limit: 6})
				equal(t, fmt.Sprintf("%s: %+v, order %d", state, c, order), got, wantIDs)
			}
		}
	}
	check("nothing indexed")
	_, err := ix.IndexTimeline(ctx, 70)
	wantErr(t, "IndexTimeline", err, nil)
	if (timelineMark(t, b)+1)%TimelineBlock == 0 {
		t.Fatalf("the mark %d ends a block: the test wants it inside one", timelineMark(t, b))
	}
	check("the mark inside a block")

	n, err := s.PruneEvents(ctx, all, "fleet-a", at(20))
	wantErr(t, "PruneEvents", err, nil)
	var want int64
	for _, e := range recs {
		if e.tenant == "fleet-a" && e.time < at(20) {
			deleted[e.id] = true
			want++
		}
	}
	equal(t, "pruned", n, want)
	check("pruned, deletions not applied")
	indexAll(t, ix)
	check("pruned and indexed")
	checkEntries(t, b, true)

	// A block the walk reaches later, with a smaller latest time, can still
	// hold an event that ties on time with the last one found and comes
	// after it: d1, d2 and d3 share a block (latest time 300), d8 is in a
	// later one (latest time 200).
	for {
		res := insert(t, s, ev("fleet-e", fmt.Sprintf("f%03d", len(recs)), 0, "VE"))
		recs = append(recs, rec{fmt.Sprintf("f%03d", len(recs)), "fleet-e", "vehicle.telemetry", at(0), res[0].Seq})
		if (res[0].Seq+1)%TimelineBlock <= 1 {
			break
		}
	}
	insert(t, s, ev("fleet-d", "d1", 300, "VD"), ev("fleet-d", "d2", 200, "VD"), ev("fleet-d", "d3", 200, "VD"))
	insert(t, s, ev("fleet-d", "d4", 100, "VD"), ev("fleet-d", "d5", 100, "VD"), ev("fleet-d", "d6", 100, "VD"), ev("fleet-d", "d7", 100, "VD"))
	insert(t, s, ev("fleet-d", "d8", 200, "VD"))
	indexAll(t, ix)
	got := searchAll(t, s, all, store.EventQuery{Tenant: "fleet-d", Limit: 2})
	equal(t, "ties on time across blocks", got, []string{"d1", "d8", "d3", "d2", "d7", "d6", "d5", "d4"})

	// Retention across more blocks than one query reads, more events than
	// one transaction deletes, some of them after the mark.
	const many = store.DeleteBatch + 150
	for i := 0; i < many; i += 1000 {
		var evs []store.ArchivedEvent
		for j := i; j < min(i+1000, many); j++ {
			e := ev("fleet-c", fmt.Sprintf("c%05d", j), 1000+j/10, "VC")
			if j == 3 {
				e = cmdEv("fleet-c", e.ID, 1000, "VC", "acc-c", "192.0.2.9")
			}
			evs = append(evs, e)
		}
		insert(t, s, evs...)
	}
	_, err = ix.IndexTimeline(ctx, many-50)
	wantErr(t, "IndexTimeline", err, nil)
	// A type no other event of fleet-c has: both orders read every block,
	// many pages of block rows.
	for _, order := range []store.Order{store.NewestFirst, store.OldestFirst} {
		page, err := s.SearchEvents(ctx, all, store.EventQuery{Tenant: "fleet-c", Types: []string{"vehicle.command"}, Order: order})
		wantErr(t, "SearchEvents", err, nil)
		equal(t, fmt.Sprintf("fleet-c's one command, order %d", order), eventIDs(page.Events), []string{"c00003"})
	}
	// Events c00000 … c(cut-1) are older than minute 1000+cut/10.
	const cut = 10 * (many/10 - 2)
	n, err = s.PruneEvents(ctx, all, "fleet-c", at(1000+cut/10))
	wantErr(t, "PruneEvents", err, nil)
	equal(t, "pruned of fleet-c", n, int64(cut))
	indexAll(t, ix)
	checkEntries(t, b, true)
	page, err := s.SearchEvents(ctx, all, store.EventQuery{Tenant: "fleet-c", Order: store.OldestFirst, Limit: 3})
	wantErr(t, "SearchEvents", err, nil)
	equal(t, "oldest of fleet-c after retention", eventIDs(page.Events),
		[]string{fmt.Sprintf("c%05d", cut), fmt.Sprintf("c%05d", cut+1), fmt.Sprintf("c%05d", cut+2)})
}

// insertOld writes the timeline fixture into the archive of an older
// schema, with SQL, as sequence numbers 1, 2, ….
func insertOld(t *testing.T, b Backend) []store.ArchivedEvent {
	t.Helper()
	evs := append(fixtureEvents(), ev("fleet-a", "t05b", 5, "VIN1"))
	lit := func(s string) string {
		if s == "" {
			return "NULL"
		}
		return "'" + strings.ReplaceAll(s, "'", "''") + "'"
	}
	for i, e := range evs {
		b.Exec(t, fmt.Sprintf(`INSERT INTO events (seq, tenant, source, id, type, time, subject, account, device, ip, client_id, arrived, raw)
VALUES (%d, %s, %s, %s, %s, %d, %s, %s, %s, %s, %s, %d, %s)`, i+1, lit(e.Tenant), lit(e.Source), lit(e.ID), lit(e.Type), e.Time,
			lit(e.Subject), lit(e.Account), lit(e.Device), lit(e.IP), lit(e.ClientID), e.Arrived, lit(string(e.Raw))))
	}
	b.Exec(t, fmt.Sprintf("UPDATE counters SET value = %d WHERE name = 'event_seq'", len(evs)))
	b.Exec(t, "INSERT INTO tenants (name, created) VALUES ('fleet-a', 1), ('fleet-b', 1)")
	return evs
}

// UpgradeTimelineBlocks checks a database whose timeline was built with an
// entry per event for its tenant, before the tenants' blocks: the upgrade
// builds the timeline again, without those entries, and searches are
// complete meanwhile. makeOld must leave b's database at the schema version
// before the blocks' migration, with no events.
func UpgradeTimelineBlocks(t *testing.T, b Backend, makeOld func(t *testing.T)) {
	makeOld(t)
	evs := insertOld(t, b)
	// The entries the indexer of that version wrote, all indexed.
	for i, e := range evs {
		for _, kv := range [][2]string{{"tenant", e.Tenant}, {string(store.EntityVehicle), e.Subject}, {string(store.EntityAccount), e.Account},
			{string(store.EntityDevice), e.Device}, {string(store.EntityIP), e.IP}, {string(store.EntityClient), e.ClientID}} {
			if kv[1] != "" {
				b.Exec(t, fmt.Sprintf("INSERT INTO timeline (ekey, time, seq) VALUES (%d, %d, %d)", sqlstore.EntityKey(kv[0], kv[1]), e.Time, i+1))
			}
		}
	}
	b.Exec(t, fmt.Sprintf("UPDATE timeline_mark SET value = %d WHERE name = 'seq'", len(evs)))

	s := open(t, b)
	checkTimeline(t, s, " (just upgraded to blocks)")
	waitIndexed(t, b)
	checkTimeline(t, s, " (upgraded to blocks and indexed)")
	checkEntries(t, b, true)
}
