package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/store"
	"github.com/vigil-project/vigil/internal/store/rawpack"
)

var eventTests = []test{
	{"Events/InsertAndRead", testInsertAndRead},
	{"Events/Duplicates", testDuplicates},
	{"Events/DuplicatesAcrossReopen", testDuplicatesAcrossReopen},
	{"Events/SeqNeverReused", testSeqNeverReused},
	{"Events/GroupCommit", testGroupCommit},
	{"Events/FollowWhileWriting", testFollow},
	{"Events/InvalidBatch", testInvalidBatch},
	{"Events/Timeline", testTimeline},
	{"Events/Pagination", testEventPagination},
	{"Events/CursorStableUnderInserts", testCursorStable},
	{"Events/BadCursor", testBadCursor},
	{"Events/Get", testGetEvent},
	{"Events/RawPacked", testRawPacked},
	{"Events/TimelineCatchesUp", testTimelineCatchesUp},
	{"Events/TimelineCollisions", testTimelineCollisions},
	{"Events/TimelineIndexesOnItsOwn", testTimelineOnItsOwn},
	{"Events/TenantTimeline", testTenantTimeline},
	{"Checkpoint", testCheckpoint},
}

func testInsertAndRead(t *testing.T, b Backend) {
	s := open(t, b)
	e1 := cmdEv("fleet-a", "c1", 1, "VIN1", "acc-1", "203.0.113.7")
	e1.Raw = []byte("{\"bytes\":\"\xff\x00 kept as sent\"}")
	e2 := ev("fleet-a", "t1", 2, "VIN1")
	e3 := ev("fleet-a", "t2", 0, "")
	res := insert(t, s, e1, e2, e3)
	for i, r := range res {
		if r.Duplicate || r.Seq <= 0 || i > 0 && r.Seq <= res[i-1].Seq {
			t.Fatalf("result %d = %+v: want new events with increasing sequence numbers (all: %+v)", i, r, res)
		}
	}
	got, err := s.ReadEvents(ctx, all, 0, 10)
	wantErr(t, "ReadEvents", err, nil)
	want := []store.ArchivedEvent{e1, e2, e3}
	for i := range want {
		want[i].Seq = res[i].Seq
	}
	equal(t, "ReadEvents", got, want)

	got, err = s.ReadEvents(ctx, all, res[0].Seq, 1)
	wantErr(t, "ReadEvents after", err, nil)
	equal(t, "ReadEvents after the first, limit 1", eventIDs(got), []string{"t1"})
	got, err = s.ReadEvents(ctx, all, res[2].Seq, 10)
	wantErr(t, "ReadEvents at the end", err, nil)
	equal(t, "ReadEvents at the end", len(got), 0)
}

func testDuplicates(t *testing.T, b Backend) {
	s := open(t, b)
	insert(t, s, ev("fleet-a", "e1", 1, "V"), ev("fleet-a", "e2", 1, "V"))
	// A resent batch, a duplicate inside one batch, and the same (source,
	// id) in another tenant (a different event).
	res := insert(t, s, ev("fleet-a", "e2", 1, "V"), ev("fleet-a", "e3", 1, "V"), ev("fleet-a", "e3", 2, "V"),
		ev("fleet-b", "e1", 1, "V"))
	dup := []bool{}
	for _, r := range res {
		dup = append(dup, r.Duplicate)
		if r.Duplicate != (r.Seq == 0) {
			t.Fatalf("result %+v: a duplicate has no sequence number, a new event has one", r)
		}
	}
	equal(t, "duplicates", dup, []bool{true, false, true, false})
	got, err := s.ReadEvents(ctx, all, 0, 100)
	wantErr(t, "ReadEvents", err, nil)
	equal(t, "archive", eventIDs(got), []string{"e1", "e2", "e3", "e1"})
	if got[2].Time != at(1) {
		t.Fatalf("the first of two duplicates in a batch is kept: time %d, want %d", got[2].Time, at(1))
	}
}

func testDuplicatesAcrossReopen(t *testing.T, b Backend) {
	s := open(t, b)
	first := insert(t, s, ev("fleet-a", "e1", 1, "V"), ev("fleet-a", "e2", 1, "V"))
	wantErr(t, "Close", s.Close(), nil)
	s = open(t, b)
	res := insert(t, s, ev("fleet-a", "e1", 1, "V"), ev("fleet-a", "e2", 1, "V"), ev("fleet-a", "e3", 1, "V"))
	equal(t, "after reopen", []bool{res[0].Duplicate, res[1].Duplicate, res[2].Duplicate}, []bool{true, true, false})
	if res[2].Seq <= first[1].Seq {
		t.Fatalf("sequence after reopen %d, want above %d", res[2].Seq, first[1].Seq)
	}
}

func testSeqNeverReused(t *testing.T, b Backend) {
	s := open(t, b)
	res := insert(t, s, ev("fleet-a", "old", 1, "V"), ev("fleet-a", "new", 100, "GONE"))
	if _, err := s.EraseSubject(ctx, all, "fleet-a", store.Entity{Kind: store.EntityVehicle, Value: "GONE"}); err != nil {
		t.Fatal(err)
	}
	next := insert(t, s, ev("fleet-a", "next", 2, "V"))
	if next[0].Seq <= res[1].Seq {
		t.Fatalf("sequence %d after deleting the newest event (seq %d) was reused: a processor that checkpointed it would skip the new event",
			next[0].Seq, res[1].Seq)
	}
}

func testGroupCommit(t *testing.T, b Backend) {
	s := open(t, b)
	const writers, batches, size = 8, 10, 50
	var wg sync.WaitGroup
	seqs := make([][]int64, writers)
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range batches {
				batch := make([]store.ArchivedEvent, size)
				for j := range batch {
					batch[j] = ev("fleet-a", fmt.Sprintf("w%d-b%d-%d", w, i, j), j, fmt.Sprintf("V%d", w))
				}
				res, err := s.InsertEvents(ctx, all, batch)
				if err != nil {
					errs <- err
					return
				}
				for _, r := range res {
					if r.Duplicate {
						errs <- fmt.Errorf("writer %d: a new event reported as duplicate", w)
						return
					}
					seqs[w] = append(seqs[w], r.Seq)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var allSeqs []int64
	for w := range writers {
		if !slices.IsSorted(seqs[w]) {
			t.Fatalf("writer %d: sequence numbers not increasing across its batches", w)
		}
		allSeqs = append(allSeqs, seqs[w]...)
	}
	slices.Sort(allSeqs)
	if len(slices.Compact(allSeqs)) != writers*batches*size {
		t.Fatal("sequence numbers not unique")
	}
	var read []int64
	for after := int64(0); ; {
		got, err := s.ReadEvents(ctx, all, after, 128)
		wantErr(t, "ReadEvents", err, nil)
		if len(got) == 0 {
			break
		}
		for _, e := range got {
			read = append(read, e.Seq)
		}
		after = got[len(got)-1].Seq
	}
	equal(t, "sequence numbers read back", read, allSeqs)
}

func testInvalidBatch(t *testing.T, b Backend) {
	s := open(t, b)
	good := ev("fleet-a", "ok", 1, "V")
	long := strings.Repeat("x", store.MaxAttrLen+1)
	cases := []struct {
		name  string
		edit  func(*store.ArchivedEvent)
		field string
	}{
		{"no id", func(e *store.ArchivedEvent) { e.ID = "" }, "id"},
		{"no source", func(e *store.ArchivedEvent) { e.Source = "" }, "source"},
		{"bad tenant", func(e *store.ArchivedEvent) { e.Tenant = "a b" }, "tenant"},
		{"long id", func(e *store.ArchivedEvent) { e.ID = long }, "id"},
		{"no raw", func(e *store.ArchivedEvent) { e.Raw = nil }, "raw"},
		{"huge raw", func(e *store.ArchivedEvent) { e.Raw = make([]byte, store.MaxEventBytes+1) }, "raw"},
		{"bad utf-8", func(e *store.ArchivedEvent) { e.Subject = "\xff" }, "subject"},
		{"NUL", func(e *store.ArchivedEvent) { e.Account = "a\x00b" }, "account"},
	}
	for _, c := range cases {
		bad := ev("fleet-a", "bad", 1, "V")
		c.edit(&bad)
		_, err := s.InsertEvents(ctx, all, []store.ArchivedEvent{good, bad})
		wantErr(t, c.name, err, store.ErrInvalid)
		if !contains(err.Error(), c.field) {
			t.Fatalf("%s: error %q does not name the field %q", c.name, err, c.field)
		}
	}
	_, err := s.InsertEvents(ctx, all, make([]store.ArchivedEvent, store.MaxInsertBatch+1))
	wantErr(t, "oversized batch", err, store.ErrInvalid)
	got, err := s.ReadEvents(ctx, all, 0, 10)
	wantErr(t, "ReadEvents", err, nil)
	equal(t, "nothing of a rejected batch is stored", len(got), 0)
	res, err := s.InsertEvents(ctx, all, nil)
	wantErr(t, "empty batch", err, nil)
	equal(t, "empty batch", len(res), 0)
}

// timelineFixture archives a small fleet's morning.
func timelineFixture(t *testing.T, s store.Store) {
	insert(t, s, fixtureEvents()...)
}

func fixtureEvents() []store.ArchivedEvent {
	return []store.ArchivedEvent{
		ev("fleet-a", "t01", 1, "VIN1"),
		cmdEv("fleet-a", "c02", 2, "VIN1", "acc-1", "198.51.100.1"),
		ev("fleet-a", "t03", 3, "VIN2"),
		cmdEv("fleet-a", "c04", 4, "VIN2", "acc-1", "198.51.100.1"),
		ev("fleet-a", "t05", 5, "VIN1"),
		cmdEv("fleet-a", "c06", 6, "VIN1", "acc-2", "198.51.100.2"),
		ev("fleet-b", "t07", 7, "VIN1"), // same VIN, another tenant
		cmdEv("fleet-b", "c08", 8, "VIN9", "acc-1", "198.51.100.1"),
	}
}

// timelineCases are searches over timelineFixture plus t05b (a second
// event of VIN1 at minute 5) and what each finds.
var timelineCases = []struct {
	name  string
	scope store.Scope
	q     store.EventQuery
	want  []string
}{
	{"vehicle newest first", onlyA, store.EventQuery{Kind: store.EntityVehicle, Value: "VIN1"}, []string{"c06", "t05b", "t05", "c02", "t01"}},
	{"vehicle oldest first", onlyA, store.EventQuery{Kind: store.EntityVehicle, Value: "VIN1", Order: store.OldestFirst}, []string{"t01", "c02", "t05", "t05b", "c06"}},
	{"vehicle across tenants", all, store.EventQuery{Kind: store.EntityVehicle, Value: "VIN1"}, []string{"t07", "c06", "t05b", "t05", "c02", "t01"}},
	{"vehicle in one tenant", all, store.EventQuery{Tenant: "fleet-b", Kind: store.EntityVehicle, Value: "VIN1"}, []string{"t07"}},
	{"account", onlyA, store.EventQuery{Kind: store.EntityAccount, Value: "acc-1"}, []string{"c04", "c02"}},
	{"ip", all, store.EventQuery{Kind: store.EntityIP, Value: "198.51.100.1"}, []string{"c08", "c04", "c02"}},
	{"device", onlyA, store.EventQuery{Kind: store.EntityDevice, Value: "dev-acc-2"}, []string{"c06"}},
	{"client", onlyA, store.EventQuery{Kind: store.EntityClient, Value: "app-1"}, []string{"c06", "c04", "c02"}},
	{"type filter", onlyA, store.EventQuery{Kind: store.EntityVehicle, Value: "VIN1", Types: []string{"vehicle.command"}}, []string{"c06", "c02"}},
	{"two types", onlyA, store.EventQuery{Types: []string{"vehicle.command", "vehicle.telemetry"}, Limit: 2}, []string{"c06", "t05b"}},
	{"time range", onlyA, store.EventQuery{Kind: store.EntityVehicle, Value: "VIN1", From: at(2), To: at(6)}, []string{"t05b", "t05", "c02"}},
	{"no entity", onlyA, store.EventQuery{From: at(3), To: at(5)}, []string{"c04", "t03"}},
	{"no entity, all tenants", all, store.EventQuery{From: at(6)}, []string{"c08", "t07", "c06"}},
	{"no entity, both tenants", store.TenantScope("fleet-a", "fleet-b"), store.EventQuery{From: at(5), Order: store.OldestFirst},
		[]string{"t05", "t05b", "c06", "t07", "c08"}},
	{"unknown vehicle", all, store.EventQuery{Kind: store.EntityVehicle, Value: "NOPE"}, []string{}},
}

// checkTimeline runs timelineCases, each also page by page (one event a
// page), on a store holding timelineFixture and t05b.
func checkTimeline(t *testing.T, s store.Store, state string) {
	t.Helper()
	for _, c := range timelineCases {
		name := c.name + state
		page, err := s.SearchEvents(ctx, c.scope, c.q)
		wantErr(t, name, err, nil)
		equal(t, name, eventIDs(page.Events), c.want)
		if c.q.Limit != 0 {
			continue
		}
		q, got := c.q, []string{}
		q.Limit = 1
		for n := 0; ; n++ {
			page, err := s.SearchEvents(ctx, c.scope, q)
			wantErr(t, name+", one a page", err, nil)
			got = append(got, eventIDs(page.Events)...)
			if page.Next == "" || n > len(c.want) {
				break
			}
			q.Cursor = page.Next
		}
		equal(t, name+", one a page", got, c.want)
	}
}

func testTimeline(t *testing.T, b Backend) {
	s := open(t, b)
	timelineFixture(t, s)
	// Two events in the same instant: the later insert comes later.
	insert(t, s, ev("fleet-a", "t05b", 5, "VIN1"))
	checkTimeline(t, s, "")
	for _, q := range []store.EventQuery{
		{Kind: "msisdn", Value: "x"},
		{Kind: store.EntityVehicle},
		{From: at(5), To: at(1)},
		{Tenant: "not a tenant"},
		{Types: make([]string, store.MaxQueryTypes+1)},
	} {
		_, err := s.SearchEvents(ctx, all, q)
		wantErr(t, fmt.Sprintf("query %+v", q), err, store.ErrInvalid)
	}
}

func testEventPagination(t *testing.T, b Backend) {
	s := open(t, b)
	var evs []store.ArchivedEvent
	for i := 1; i <= 25; i++ {
		evs = append(evs, ev("fleet-a", fmt.Sprintf("e%02d", i), i/3, "VIN1")) // ties in time
	}
	insert(t, s, evs...)
	for _, order := range []store.Order{store.NewestFirst, store.OldestFirst} {
		var got []string
		q := store.EventQuery{Kind: store.EntityVehicle, Value: "VIN1", Order: order, Limit: 7}
		pages := 0
		for {
			page, err := s.SearchEvents(ctx, onlyA, q)
			wantErr(t, "SearchEvents", err, nil)
			pages++
			got = append(got, eventIDs(page.Events)...)
			if page.Next == "" {
				break
			}
			q.Cursor = page.Next
		}
		want := ids("e", 25, 1)
		if order == store.OldestFirst {
			want = ids("e", 1, 25)
		}
		equal(t, fmt.Sprintf("order %d: all pages", order), got, want)
		equal(t, "pages", pages, 4)
	}
	// Page sizes are bounded: 0 is the default, above the maximum is cut.
	page, err := s.SearchEvents(ctx, onlyA, store.EventQuery{Limit: 0})
	wantErr(t, "default limit", err, nil)
	equal(t, "default limit", len(page.Events), 25)
	many := make([]store.ArchivedEvent, store.MaxPageSize+5)
	for i := range many {
		many[i] = ev("fleet-a", fmt.Sprintf("m%d", i), 100, "VIN2")
	}
	insert(t, s, many...)
	page, err = s.SearchEvents(ctx, onlyA, store.EventQuery{Kind: store.EntityVehicle, Value: "VIN2", Limit: store.MaxPageSize * 10})
	wantErr(t, "huge limit", err, nil)
	equal(t, "huge limit is cut to the maximum", len(page.Events), store.MaxPageSize)
	if page.Next == "" {
		t.Fatal("a cut page has a next cursor")
	}
}

func testCursorStable(t *testing.T, b Backend) {
	s := open(t, b)
	var evs []store.ArchivedEvent
	for i := 1; i <= 20; i++ {
		evs = append(evs, ev("fleet-a", fmt.Sprintf("e%02d", i), 10+i, "VIN1"))
	}
	insert(t, s, evs...)
	q := store.EventQuery{Kind: store.EntityVehicle, Value: "VIN1", Limit: 5}
	var got []string
	for n := 0; ; n++ {
		page, err := s.SearchEvents(ctx, onlyA, q)
		wantErr(t, "SearchEvents", err, nil)
		got = append(got, eventIDs(page.Events)...)
		if page.Next == "" {
			break
		}
		q.Cursor = page.Next
		// Between pages: newer events, events in the instant of the last
		// row read, and late (older) ones arrive.
		last := page.Events[len(page.Events)-1]
		insert(t, s, ev("fleet-a", fmt.Sprintf("new%d", n), 100+n, "VIN1"),
			store.ArchivedEvent{Tenant: "fleet-a", Source: "tsp/test", ID: fmt.Sprintf("tie%d", n), Type: "vehicle.telemetry",
				Time: last.Time, Subject: "VIN1", Raw: []byte("{}"), Arrived: 1})
	}
	// Everything there at the first page comes exactly once and in order;
	// rows added before the cursor's position never show up later.
	var orig []string
	for _, id := range got {
		if strings.HasPrefix(id, "e") {
			orig = append(orig, id)
		} else {
			t.Fatalf("event %s inserted before the cursor's position appeared on a later page: %v", id, got)
		}
	}
	equal(t, "original events", orig, ids("e", 20, 1))
}

func testBadCursor(t *testing.T, b Backend) {
	s := open(t, b)
	timelineFixture(t, s)
	q := store.EventQuery{Kind: store.EntityVehicle, Value: "VIN1", Limit: 1}
	page, err := s.SearchEvents(ctx, onlyA, q)
	wantErr(t, "SearchEvents", err, nil)
	for name, bad := range map[string]store.EventQuery{
		"other entity": {Kind: store.EntityVehicle, Value: "VIN2", Cursor: page.Next},
		"other order":  {Kind: store.EntityVehicle, Value: "VIN1", Order: store.OldestFirst, Cursor: page.Next},
		"garbage":      {Kind: store.EntityVehicle, Value: "VIN1", Cursor: "not-a-cursor!"},
		"truncated":    {Kind: store.EntityVehicle, Value: "VIN1", Cursor: page.Next[:len(page.Next)-2]},
	} {
		_, err := s.SearchEvents(ctx, onlyA, bad)
		wantErr(t, name, err, store.ErrInvalid)
	}
	_, err = s.ListAlerts(ctx, onlyA, store.AlertQuery{Cursor: page.Next})
	wantErr(t, "an event cursor for alerts", err, store.ErrInvalid)
}

func testGetEvent(t *testing.T, b Backend) {
	s := open(t, b)
	e := cmdEv("fleet-a", "c1", 1, "VIN1", "acc-1", "192.0.2.1")
	res := insert(t, s, e)
	e.Seq = res[0].Seq
	got, err := s.GetEvent(ctx, onlyA, "fleet-a", event.Ref{Source: "tsp/test", ID: "c1"})
	wantErr(t, "GetEvent", err, nil)
	equal(t, "GetEvent", got, e)
	_, err = s.GetEvent(ctx, onlyA, "fleet-a", event.Ref{Source: "tsp/test", ID: "nope"})
	wantErr(t, "GetEvent missing", err, store.ErrNotFound)
	if !contains(err.Error(), "nope") {
		t.Fatalf("error %q does not name the id", err)
	}
}

// testRawPacked: the archive keeps events' JSON packed (store/rawpack) and
// every way of reading an event gives it back as sent; rows an earlier
// version stored plain read back too.
func testRawPacked(t *testing.T, b Backend) {
	s := open(t, b)
	var evs []store.ArchivedEvent
	sent := 0
	for i := range 20 {
		e := cmdEv("fleet-a", fmt.Sprintf("c%d", i), i, fmt.Sprintf("VIN%d", i), "acc-1", "192.0.2.1")
		e.Raw = fmt.Appendf(nil, `{"specversion":"1.0","id":"c%d","source":"tsp/test","type":"vehicle.command","time":"2026-03-02T07:%02d:05.120Z",`+
			`"subject":"VIN%d","tenant":"fleet-a","data":{"command_id":"cmd-%d","command":"unlock","stage":"requested","channel":"app",`+
			`"actor":{"account":"acc-1","device":"dev-acc-1","ip":"192.0.2.1","role":"owner"}}}`, i, i, i, i)
		sent += len(e.Raw)
		evs = append(evs, e)
	}
	small := ev("fleet-a", "small", 30, "VIN1")
	small.Raw = []byte("{}") // packing cannot shrink it: stored plain
	evs = append(evs, small)
	sent += len(small.Raw)
	before := slices.Clone(evs)
	for i := range before {
		before[i].Raw = bytes.Clone(evs[i].Raw)
	}
	res := insert(t, s, evs...)
	equal(t, "the caller's events after InsertEvents", evs, before)
	for i := range evs {
		evs[i].Seq = res[i].Seq
	}
	stored := b.QueryInt(t, "SELECT SUM(LENGTH(raw)) FROM events")
	if stored*2 > int64(sent) {
		t.Fatalf("the archive holds %d bytes of raw JSON for %d sent: want it packed to less than half", stored, sent)
	}

	got, err := s.ReadEvents(ctx, all, 0, 100)
	wantErr(t, "ReadEvents", err, nil)
	equal(t, "ReadEvents", got, evs)
	one, err := s.GetEvent(ctx, onlyA, "fleet-a", event.Ref{Source: "tsp/test", ID: "c7"})
	wantErr(t, "GetEvent", err, nil)
	equal(t, "GetEvent", one, evs[7])
	a := mkAlert("fleet-a", "al-raw", 40, alert.UnauthorizedCommand, event.SeverityHigh, "VIN3")
	a.Evidence = []event.Ref{{Source: "tsp/test", ID: "c3"}, {Source: "tsp/test", ID: "small"}}
	upsertAlerts(t, s, a)
	items, err := s.Evidence(ctx, onlyA, "al-raw")
	wantErr(t, "Evidence", err, nil)
	if len(items) != 2 || items[0].Event == nil || items[1].Event == nil {
		t.Fatalf("evidence %+v: want both events", items)
	}
	equal(t, "evidence event", *items[0].Event, evs[3])
	equal(t, "evidence event stored plain", *items[1].Event, evs[len(evs)-1])

	// A row as an earlier version wrote it: plain JSON.
	b.Exec(t, `UPDATE events SET raw = '{"stored":"plain"}' WHERE id = 'c5'`)
	one, err = s.GetEvent(ctx, onlyA, "fleet-a", event.Ref{Source: "tsp/test", ID: "c5"})
	wantErr(t, "GetEvent of a plain row", err, nil)
	equal(t, "GetEvent of a plain row", string(one.Raw), `{"stored":"plain"}`)

	// A damaged row: its read says why and gives the rest of the row, and
	// the events around it read as before.
	b.Exec(t, `UPDATE events SET raw = substr(raw, 1, 12) WHERE id = 'c6'`)
	got, err = s.ReadEvents(ctx, all, 0, 100)
	wantErr(t, "ReadEvents past a damaged row", err, nil)
	if len(got) != len(evs) || got[6].Raw != nil || !errors.Is(got[6].RawErr, rawpack.ErrCorrupt) || got[6].ID != "c6" || got[6].Account != "acc-1" {
		t.Fatalf("the damaged row read as %+v (of %d events): want its columns, no JSON and ErrCorrupt", got[6], len(got))
	}
	equal(t, "the row after a damaged one", got[7], evs[7])
	one, err = s.GetEvent(ctx, onlyA, "fleet-a", event.Ref{Source: "tsp/test", ID: "c6"})
	wantErr(t, "GetEvent of a damaged row", err, nil)
	if !errors.Is(one.RawErr, rawpack.ErrCorrupt) {
		t.Fatalf("GetEvent of a damaged row: RawErr %v, want ErrCorrupt", one.RawErr)
	}
}

func testCheckpoint(t *testing.T, b Backend) {
	s := open(t, b)
	_, err := s.LoadCheckpoint(ctx, "")
	wantErr(t, "no checkpoint yet", err, store.ErrNotFound)
	snap := []byte("twin\x00snapshot")
	wantErr(t, "Checkpoint", s.Checkpoint(ctx, store.Checkpoint{Seq: 42, Snapshot: snap}), nil)
	wantErr(t, "Checkpoint p1", s.Checkpoint(ctx, store.Checkpoint{Name: "p1", Seq: 7, Snapshot: []byte("p")}), nil)
	wantErr(t, "Checkpoint again", s.Checkpoint(ctx, store.Checkpoint{Seq: 43, Snapshot: append(snap, '!')}), nil)
	wantErr(t, "Close", s.Close(), nil)
	s = open(t, b)
	c, err := s.LoadCheckpoint(ctx, "")
	wantErr(t, "LoadCheckpoint", err, nil)
	if c.Seq != 43 || string(c.Snapshot) != "twin\x00snapshot!" || c.Saved == 0 {
		t.Fatalf("checkpoint %+v, want the second one (seq 43) with a save time", c)
	}
	c, err = s.LoadCheckpoint(ctx, "p1")
	wantErr(t, "LoadCheckpoint p1", err, nil)
	equal(t, "p1 seq", c.Seq, int64(7))
	wantErr(t, "negative seq", s.Checkpoint(ctx, store.Checkpoint{Seq: -1}), store.ErrInvalid)
}
