package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/store"
)

// The delivery sequence of alerts (AlertsAfter, LatestAlertSeq): sinks
// follow it and rely on it neither skipping nor reusing a number.

func latestSeq(t *testing.T, s store.Store) int64 {
	t.Helper()
	n, err := s.LatestAlertSeq(ctx, all)
	wantErr(t, "LatestAlertSeq", err, nil)
	return n
}

func alertsAfter(t *testing.T, s store.Store, after int64, limit int) []store.Alert {
	t.Helper()
	as, err := s.AlertsAfter(ctx, all, after, limit)
	wantErr(t, "AlertsAfter", err, nil)
	return as
}

// seqOf lists "id:seq" for compact comparisons.
func seqOf(as []store.Alert) []string {
	out := []string{}
	for _, a := range as {
		out = append(out, fmt.Sprintf("%s:%d", a.ID, a.Seq))
	}
	return out
}

// testAlertSeq: new alerts are numbered 1, 2, 3… in the caller's order;
// an upsert of a stored alert keeps its number; a failed call uses none.
func testAlertSeq(t *testing.T, b Backend) {
	s := open(t, b)
	equal(t, "latest of an empty store", latestSeq(t, s), int64(0))
	equal(t, "after 0 in an empty store", seqOf(alertsAfter(t, s, 0, 0)), []string{})

	// Ids out of order: numbers follow the call, not the ids.
	c := mkAlert("fleet-a", "c", 3, alert.MassCommand, event.SeverityHigh, "VIN1")
	a := mkAlert("fleet-b", "a", 1, alert.CredentialAttack, event.SeverityLow, "VIN2")
	bb := mkAlert("fleet-a", "b", 2, alert.UnsafeCommand, event.SeverityCritical, "VIN3")
	bb.Shadow = true
	equal(t, "first upsert", upsertAlerts(t, s, c, a, bb), []bool{true, true, true})
	equal(t, "numbered in the caller's order", seqOf(alertsAfter(t, s, 0, 0)), []string{"c:1", "a:2", "b:3"})
	equal(t, "latest", latestSeq(t, s), int64(3))
	got, err := s.GetAlert(ctx, all, "a")
	wantErr(t, "GetAlert", err, nil)
	equal(t, "GetAlert's number", got.Seq, int64(2))
	follow := alertsAfter(t, s, 1, 1)
	equal(t, "one after 1", seqOf(follow), []string{"a:2"})
	equal(t, "AlertsAfter returns the alert as stored", follow[0], got)

	// A changed alert, a new one, an unchanged one, and a new id twice.
	a2 := *a
	a2.Title, a2.LastSeen = "changed", at(9)
	d := mkAlert("fleet-a", "d", 4, alert.MassCommand, event.SeverityHigh, "VIN4")
	e := mkAlert("fleet-a", "e", 5, alert.MassCommand, event.SeverityHigh, "VIN5")
	equal(t, "mixed upsert", upsertAlerts(t, s, &a2, e, d, c, e), []bool{false, true, true, false, false})
	equal(t, "only the new are numbered, in the caller's order", seqOf(alertsAfter(t, s, 3, 0)), []string{"e:4", "d:5"})
	equal(t, "latest after the mixed upsert", latestSeq(t, s), int64(5))
	got, _ = s.GetAlert(ctx, all, "a")
	if got.Seq != 2 || got.Title != "changed" {
		t.Fatalf("after a change: seq %d title %q, want 2 and the new title", got.Seq, got.Title)
	}
	// Pages.
	equal(t, "page 1", seqOf(alertsAfter(t, s, 0, 2)), []string{"c:1", "a:2"})
	equal(t, "page 2", seqOf(alertsAfter(t, s, 2, 2)), []string{"b:3", "e:4"})
	equal(t, "page 3", seqOf(alertsAfter(t, s, 4, 2)), []string{"d:5"})
	equal(t, "past the end", seqOf(alertsAfter(t, s, 5, 2)), []string{})

	// A call that fails stores nothing and uses no number.
	taken := mkAlert("fleet-b", "c", 3, alert.MassCommand, event.SeverityHigh, "VIN1") // c is fleet-a's
	_, err = s.UpsertAlerts(ctx, all, []*alert.Alert{mkAlert("fleet-a", "f", 6, alert.MassCommand, event.SeverityHigh, "VIN6"), taken})
	wantErr(t, "an id of another tenant", err, store.ErrConflict)
	bad := mkAlert("fleet-a", "g", 6, alert.MassCommand, event.SeverityHigh, "VIN6")
	bad.Detector = ""
	_, err = s.UpsertAlerts(ctx, all, []*alert.Alert{mkAlert("fleet-a", "f", 6, alert.MassCommand, event.SeverityHigh, "VIN6"), bad})
	wantErr(t, "an invalid alert", err, store.ErrInvalid)
	equal(t, "latest after failed calls", latestSeq(t, s), int64(5))
	upsertAlerts(t, s, mkAlert("fleet-a", "f", 6, alert.MassCommand, event.SeverityHigh, "VIN6"))
	equal(t, "the next number", seqOf(alertsAfter(t, s, 5, 0)), []string{"f:6"})
}

// testAlertSeqNoReuse: erasing or deleting the newest alerts, and
// reopening the store, never hands their numbers out again.
func testAlertSeqNoReuse(t *testing.T, b Backend) {
	s := open(t, b)
	for i := 1; i <= 5; i++ {
		upsertAlerts(t, s, mkAlert("fleet-a", fmt.Sprintf("a%d", i), i, alert.MassCommand, event.SeverityHigh, fmt.Sprintf("VIN%d", i%3)))
	}
	// VIN2 is named by a2 and a5, the newest.
	er, err := s.EraseSubject(ctx, all, "fleet-a", store.Entity{Kind: store.EntityVehicle, Value: "VIN2"})
	wantErr(t, "EraseSubject", err, nil)
	equal(t, "erased", er.Alerts, int64(2))
	equal(t, "left", seqOf(alertsAfter(t, s, 0, 0)), []string{"a1:1", "a3:3", "a4:4"})
	equal(t, "latest counts the erased", latestSeq(t, s), int64(5))
	upsertAlerts(t, s, mkAlert("fleet-a", "a6", 6, alert.MassCommand, event.SeverityHigh, "VIN9"))
	equal(t, "after erasure", seqOf(alertsAfter(t, s, 4, 0)), []string{"a6:6"})

	// Deleted behind the store's back, then the store reopened.
	s.Close()
	b.Exec(t, "DELETE FROM alert_entities WHERE alert_pk = (SELECT pk FROM alerts WHERE id = 'a6')")
	b.Exec(t, "DELETE FROM alert_evidence WHERE alert_pk = (SELECT pk FROM alerts WHERE id = 'a6')")
	b.Exec(t, "DELETE FROM alerts WHERE id = 'a6'")
	s = open(t, b)
	equal(t, "latest after reopening", latestSeq(t, s), int64(6))
	upsertAlerts(t, s, mkAlert("fleet-a", "a7", 7, alert.MassCommand, event.SeverityHigh, "VIN9"))
	equal(t, "after a delete and a reopen", seqOf(alertsAfter(t, s, 4, 0)), []string{"a7:7"})
	// A re-derived alert that was erased is new again: a new number.
	upsertAlerts(t, s, mkAlert("fleet-a", "a5", 5, alert.MassCommand, event.SeverityHigh, "VIN2"))
	equal(t, "an erased id stored again", seqOf(alertsAfter(t, s, 7, 0)), []string{"a5:8"})
}

// testAlertSeqScope: the sequence spans tenants: a tenant scope may not
// follow it.
func testAlertSeqScope(t *testing.T, b Backend) {
	s := open(t, b)
	upsertAlerts(t, s, mkAlert("fleet-a", "a1", 1, alert.MassCommand, event.SeverityHigh, "VIN1"))
	for _, sc := range []store.Scope{onlyA, store.TenantScope("fleet-a", "fleet-b"), store.TenantScope()} {
		_, err := s.AlertsAfter(ctx, sc, 0, 10)
		wantErr(t, "AlertsAfter with "+sc.String(), err, store.ErrForbidden)
		_, err = s.LatestAlertSeq(ctx, sc)
		wantErr(t, "LatestAlertSeq with "+sc.String(), err, store.ErrForbidden)
	}
}

// testAlertSeqLimit: the page size is bounded.
func testAlertSeqLimit(t *testing.T, b Backend) {
	s := open(t, b)
	for start := 0; start < store.MaxPageSize+5; start += store.MaxUpsertBatch {
		var batch []*alert.Alert
		for i := start; i < min(start+store.MaxUpsertBatch, store.MaxPageSize+5); i++ {
			batch = append(batch, mkAlert("fleet-a", fmt.Sprintf("a%05d", i), 1, alert.MassCommand, event.SeverityHigh, "VIN1"))
		}
		upsertAlerts(t, s, batch...)
	}
	equal(t, "default page", len(alertsAfter(t, s, 0, 0)), store.DefaultPageSize)
	equal(t, "bounded page", len(alertsAfter(t, s, 0, store.MaxPageSize*10)), store.MaxPageSize)
	equal(t, "the rest", len(alertsAfter(t, s, store.MaxPageSize, store.MaxPageSize)), 5)
}

func testFollowAlerts(t *testing.T, b Backend) { FollowAlerts(t, []store.Store{open(t, b)}) }

// FollowAlerts checks what a sink relies on: a reader that keeps calling
// AlertsAfter after the last number it saw, while writers upsert through
// every store in stores (one store, or several nodes sharing a database),
// sees every alert exactly once, numbered 1, 2, 3… without a gap. It would
// miss alerts if numbers could become visible out of order, and see gaps
// if a number could be skipped.
func FollowAlerts(t *testing.T, stores []store.Store) {
	t.Helper()
	const writersPerStore, batches, size = 3, 12, 25
	seen, last := followWhileWriting(t, stores, writersPerStore, batches,
		func(s store.Store, si, w, bi int) error {
			batch := make([]*alert.Alert, size)
			for i := range batch {
				batch[i] = mkAlert("fleet-a", fmt.Sprintf("s%d-w%d-b%02d-%02d", si, w, bi, i), i, alert.MassCommand, event.SeverityHigh, "V")
			}
			// Every other batch repeats the previous one: stored alerts
			// keep their numbers and take no new ones.
			if bi%2 == 1 {
				for i := range batch[:size/2] {
					batch[i].ID = fmt.Sprintf("s%d-w%d-b%02d-%02d", si, w, bi-1, i)
				}
			}
			_, err := s.UpsertAlerts(ctx, all, batch)
			return err
		},
		func(last int64) ([]followed, error) {
			as, err := stores[0].AlertsAfter(ctx, all, last, 64)
			out := make([]followed, len(as))
			for i, a := range as {
				out[i] = followed{a.ID, a.Seq}
			}
			return out, err
		}, true)
	want := len(stores) * writersPerStore * (batches*size - batches/2*(size/2))
	if len(seen) != want {
		t.Fatalf("the follower saw %d of %d alerts", len(seen), want)
	}
	equal(t, "latest after following", latestSeq(t, stores[0]), last)
}

// UpgradeAlertSeq checks the migration that numbers alerts: makeOld must
// leave b's database at the schema before it (the alert_seq migration not
// applied). Alerts stored then are numbered in the order they were
// created, and new ones follow.
func UpgradeAlertSeq(t *testing.T, b Backend, makeOld func(t *testing.T)) {
	makeOld(t)
	lit := func(v any) string {
		switch v := v.(type) {
		case string:
			return "'" + strings.ReplaceAll(v, "'", "''") + "'"
		case int64:
			return fmt.Sprint(v)
		}
		j, _ := json.Marshal(v)
		return "'" + strings.ReplaceAll(string(j), "'", "''") + "'"
	}
	// Inserted (pk order) x, y, z; created y, z, x.
	for _, r := range []struct {
		id      string
		created int64
	}{{"x", 30}, {"y", 10}, {"z", 20}} {
		a := mkAlert("fleet-a", r.id, 1, alert.MassCommand, event.SeverityHigh, "VIN1")
		// The digest matches no alert: storing one again takes the update
		// path, as for any stored alert.
		b.Exec(t, fmt.Sprintf(`INSERT INTO alerts (id, tenant, time, first_seen, last_seen, category, severity, detector, title,
explanation, entities, evidence, mappings, incident, digest, status, assignee, created, updated, shadow)
VALUES (%s, %s, %d, %d, %d, %s, %d, %s, %s, %s, %s, %s, %s, '', '\x00', 'new', '', %d, %d, 0)`,
			lit(a.ID), lit(a.Tenant), a.Time, a.FirstSeen, a.LastSeen, lit(a.Category.String()), int(a.Severity), lit(a.Detector),
			lit(a.Title), lit(a.Explanation), lit(a.Entities), lit(a.Evidence), lit(a.Mappings), r.created, r.created))
	}
	s := open(t, b)
	equal(t, "numbered in creation order", seqOf(alertsAfter(t, s, 0, 0)), []string{"y:1", "z:2", "x:3"})
	equal(t, "latest", latestSeq(t, s), int64(3))
	created := upsertAlerts(t, s, mkAlert("fleet-a", "x", 1, alert.MassCommand, event.SeverityHigh, "VIN1"),
		mkAlert("fleet-a", "w", 2, alert.MassCommand, event.SeverityHigh, "VIN1"))
	equal(t, "an old alert again, a new one", created, []bool{false, true})
	equal(t, "after the upgrade", seqOf(alertsAfter(t, s, 0, 0)), []string{"y:1", "z:2", "x:3", "w:4"})
}

// testDetectionsInAGroup: detections are written in the events' group
// commit. One call of detections that fails there fails alone, leaving
// nothing of its own and no sequence number used, while the events and
// the other detections of the group are stored.
func testDetectionsInAGroup(t *testing.T, b Backend) {
	h := newWriterHold()
	var released atomic.Bool
	var mu sync.Mutex
	var after []int // the requests of each commit after the held one
	hook := func(requests int, waiting func() int) {
		if released.Load() {
			mu.Lock()
			after = append(after, requests)
			mu.Unlock()
		}
		if h.hold(waiting) {
			released.Store(true)
		}
	}
	s, err := b.OpenWith(ctx, Hooks{HoldWriter: hook})
	wantErr(t, "open", err, nil)
	defer s.Close()
	defer h.free()
	upsertAlerts(t, s, mkAlert("fleet-a", "x", 2, alert.MassCommand, event.SeverityHigh, "VIN1"))
	vin1 := store.Entity{Kind: store.EntityVehicle, Value: "VIN1"}
	_, err = s.UpsertIncidents(ctx, all, []store.Incident{mkIncident("fleet-a", "inc-x", 2, 2, event.SeverityHigh,
		[]alert.Category{alert.MassCommand}, []string{"x"}, vin1)})
	wantErr(t, "UpsertIncidents", err, nil)

	// The writer holds a group of one while the next four gather.
	h.start(t, s)
	// fleet-b's "x" conflicts with fleet-a's: "w", new, is not written either.
	bad := []*alert.Alert{mkAlert("fleet-b", "w", 3, alert.MassCommand, event.SeverityHigh, "VIN2"),
		mkAlert("fleet-b", "x", 3, alert.MassCommand, event.SeverityHigh, "VIN2")}
	good := []*alert.Alert{mkAlert("fleet-a", "y", 4, alert.MassCommand, event.SeverityHigh, "VIN3")}
	vin3 := store.Entity{Kind: store.EntityVehicle, Value: "VIN3"}
	goodInc := mkIncident("fleet-a", "inc-y", 4, 4, event.SeverityHigh, []alert.Category{alert.MassCommand}, []string{"y"}, vin3)
	// "v" is new, its incident fleet-a's.
	badInc := mkIncident("fleet-b", "inc-x", 3, 3, event.SeverityHigh, []alert.Category{alert.MassCommand}, []string{"v"}, vin1)
	var wg sync.WaitGroup
	var evErr, badErr, badIncErr, goodErr error
	var goodCreated []bool
	wg.Go(func() {
		_, evErr = s.InsertEvents(ctx, all, []store.ArchivedEvent{ev("fleet-a", "e2", 2, "VIN1"), ev("fleet-b", "e3", 2, "VIN2")})
	})
	wg.Go(func() { _, badErr = s.StoreDetections(ctx, all, bad, nil) })
	wg.Go(func() {
		_, badIncErr = s.StoreDetections(ctx, all, []*alert.Alert{mkAlert("fleet-b", "v", 3, alert.MassCommand, event.SeverityHigh, "VIN1")},
			[]store.Incident{badInc})
	})
	wg.Go(func() { goodCreated, goodErr = s.StoreDetections(ctx, all, good, []store.Incident{goodInc}) })
	h.waitFor(t, 4)
	h.free()
	wg.Wait()
	wantErr(t, "the held events", <-h.first, nil)
	mu.Lock()
	equal(t, "commits after the held one: one group of four, none retried alone", after, []int{4})
	mu.Unlock()
	wantErr(t, "events in the group", evErr, nil)
	wantErr(t, "the conflicting detections", badErr, store.ErrConflict)
	wantErr(t, "the detections with a conflicting incident", badIncErr, store.ErrConflict)
	_, err = s.GetAlert(ctx, all, "v")
	wantErr(t, "the alert of the conflicting incident", err, store.ErrNotFound)
	wantErr(t, "the good detections", goodErr, nil)
	equal(t, "the good alert created", goodCreated, []bool{true})
	evs, err := s.ReadEvents(ctx, all, 0, 0)
	wantErr(t, "ReadEvents", err, nil)
	equal(t, "events stored", len(evs), 3)
	_, err = s.GetAlert(ctx, all, "w")
	wantErr(t, "the failed call's other alert", err, store.ErrNotFound)
	equal(t, "numbered without a gap", seqOf(alertsAfter(t, s, 0, 0)), []string{"x:1", "y:2"})
	got, err := s.GetIncident(ctx, all, "inc-y")
	wantErr(t, "the good incident", err, nil)
	equal(t, "the good incident's alerts", got.Incident.AlertCount, 1)
}

// writerHold holds the writer, once, on the first commit after its
// first events are inserted, until free: the calls made meanwhile queue.
type writerHold struct {
	armed   atomic.Bool
	held    chan func() int
	release chan struct{}
	once    sync.Once
	waiting func() int // requests waiting behind the held commit
	first   chan error // the first events' insert
}

func newWriterHold() *writerHold {
	return &writerHold{held: make(chan func() int, 1), release: make(chan struct{}), first: make(chan error, 1)}
}

// hold is the HoldWriter hook's part: it holds the armed commit and
// reports whether this was it.
func (h *writerHold) hold(waiting func() int) bool {
	if !h.armed.CompareAndSwap(true, false) {
		return false
	}
	h.held <- waiting
	<-h.release
	return true
}

// start inserts one event with the hold armed and returns once the writer
// holds it. Defer free before s.Close, should the test stop while held.
func (h *writerHold) start(t *testing.T, s store.Store) {
	t.Helper()
	h.armed.Store(true)
	go func() {
		_, err := s.InsertEvents(ctx, all, []store.ArchivedEvent{ev("fleet-a", "e1", 1, "VIN1")})
		h.first <- err
	}()
	select {
	case h.waiting = <-h.held:
	case <-time.After(20 * time.Second):
		t.Fatal("the writer never took the first events (is HoldWriter wired?)")
	}
}

// waitFor waits until n requests queue behind the held commit.
func (h *writerHold) waitFor(t *testing.T, n int) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); h.waiting() < n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests waiting behind the writer after 20s, want %d", h.waiting(), n)
		}
	}
}

func (h *writerHold) free() { h.once.Do(func() { close(h.release) }) }

// testDetectionGroupsBounded: many calls of detections waiting at once
// are written in several groups of at most 16, not in one transaction.
func testDetectionGroupsBounded(t *testing.T, b Backend) {
	h := newWriterHold()
	var mu sync.Mutex
	var commits []int
	hook := func(requests int, waiting func() int) {
		if h.hold(waiting) {
			return
		}
		mu.Lock()
		commits = append(commits, requests)
		mu.Unlock()
	}
	s, err := b.OpenWith(ctx, Hooks{HoldWriter: hook})
	wantErr(t, "open", err, nil)
	defer s.Close()
	defer h.free()
	h.start(t, s)
	const calls = 20
	var wg sync.WaitGroup
	errs := make([]error, calls)
	for i := range calls {
		wg.Go(func() {
			_, errs[i] = s.StoreDetections(ctx, all, []*alert.Alert{mkAlert("fleet-a", fmt.Sprintf("g%d", i), 2, alert.MassCommand, event.SeverityHigh, "VIN1")}, nil)
		})
	}
	h.waitFor(t, calls)
	h.free()
	wg.Wait()
	wantErr(t, "the held events", <-h.first, nil)
	for i, err := range errs {
		wantErr(t, fmt.Sprintf("call %d", i), err, nil)
	}
	mu.Lock()
	equal(t, "calls per commit", commits, []int{16, 4})
	mu.Unlock()
	equal(t, "alerts stored", len(alertsAfter(t, s, 0, 0)), calls)
}

// testAbandonedDetections: a call whose context ends while it waits for
// the writer is not written later: its error means "not stored", so the
// caller's retry finds the alert new (and tells the live feed and the
// gate of it) rather than already there.
func testAbandonedDetections(t *testing.T, b Backend) {
	h := newWriterHold()
	s, err := b.OpenWith(ctx, Hooks{HoldWriter: func(_ int, waiting func() int) { h.hold(waiting) }})
	wantErr(t, "open", err, nil)
	defer s.Close()
	defer h.free()
	h.start(t, s)
	a := mkAlert("fleet-a", "z", 4, alert.MassCommand, event.SeverityCritical, "VIN3")
	cctx, cancel := context.WithCancel(ctx)
	gave := make(chan error, 1)
	go func() {
		_, err := s.StoreDetections(cctx, all, []*alert.Alert{a}, nil)
		gave <- err
	}()
	h.waitFor(t, 1)
	cancel()
	select {
	case err := <-gave:
		wantErr(t, "the abandoned call", err, context.Canceled)
	case <-time.After(20 * time.Second):
		t.Fatal("a call whose context ended still waits for the held writer")
	}
	h.free()
	wantErr(t, "the held events", <-h.first, nil)
	// Anything the writer took after the release is written by now.
	_, err = s.InsertEvents(ctx, all, []store.ArchivedEvent{ev("fleet-a", "e2", 2, "VIN1")})
	wantErr(t, "events after the release", err, nil)
	_, err = s.GetAlert(ctx, all, "z")
	wantErr(t, "the abandoned alert", err, store.ErrNotFound)
	equal(t, "the retry", upsertAlerts(t, s, a), []bool{true})
}

// testDetectionsOvertakeEvents: detections join the writer's next group
// ahead of the events queued before them, which may take several groups:
// the command gate acts on a critical alert once it is stored.
func testDetectionsOvertakeEvents(t *testing.T, b Backend) {
	var calls atomic.Int32
	held := make(chan func() int, 1)
	release1, release3 := make(chan struct{}), make(chan struct{})
	hold := func(requests int, waiting func() int) {
		switch calls.Add(1) {
		case 1: // the first events, while the rest queue
			held <- waiting
			<-release1
		case 3: // the group after the detections'
			<-release3
		}
	}
	s, err := b.OpenWith(ctx, Hooks{HoldWriter: hold})
	wantErr(t, "open", err, nil)
	defer s.Close()
	var once1, once3 sync.Once
	free1 := func() { once1.Do(func() { close(release1) }) }
	free3 := func() { once3.Do(func() { close(release3) }) }
	defer free3()
	defer free1()
	errs := make(chan error, 4)
	insert := func(name string, n int) {
		evs := make([]store.ArchivedEvent, n)
		for i := range evs {
			evs[i] = ev("fleet-a", fmt.Sprintf("%s-%d", name, i), 1, "VIN1")
		}
		go func() {
			_, err := s.InsertEvents(ctx, all, evs)
			errs <- err
		}()
	}
	insert("e1", 1)
	var waiting func() int
	select {
	case waiting = <-held:
	case <-time.After(20 * time.Second):
		t.Fatal("the writer never took the first events (is HoldWriter wired?)")
	}
	queued := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); waiting() < n; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d requests queued, want %d", waiting(), n)
			}
		}
	}
	// More events than one group takes (20,000 by default), queued first.
	for i := range 3 {
		insert(fmt.Sprint("big", i), store.MaxInsertBatch)
		queued(i + 1)
	}
	stored := make(chan error, 1)
	go func() {
		_, err := s.StoreDetections(ctx, all, []*alert.Alert{mkAlert("fleet-a", "urgent", 1, alert.MassCommand, event.SeverityCritical, "VIN1")}, nil)
		stored <- err
	}()
	queued(4)
	free1()
	select {
	case err := <-stored:
		wantErr(t, "the detections", err, nil)
	case <-time.After(20 * time.Second):
		t.Fatal("the detections wait behind events queued before them")
	}
	free3()
	for range 4 {
		wantErr(t, "events", <-errs, nil)
	}
}
