package processor

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/ingest/httpingest"
	"github.com/vigil-project/vigil/internal/store"
	"github.com/vigil-project/vigil/internal/store/sqlite"
)

// TestRefusedAlertDoesNotHoldBackOthers: an alert the store refuses as
// invalid is counted and logged; the rest of its batch is stored, and the
// writer does not retry it for ever.
func TestRefusedAlertDoesNotHoldBackOthers(t *testing.T) {
	st, err := sqlite.Open(context.Background(), t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p, err := New(Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC).UnixNano()
	mk := func(id string, first, last int64) pending {
		a := &alert.Alert{ID: id, Time: last, FirstSeen: first, LastSeen: last, Tenant: "fleet-a", Category: alert.CredentialAttack,
			Severity: event.SeverityHigh, Detector: "d", Title: "t", Explanation: "e", Entities: alert.Entities{Account: "acc-" + id},
			Evidence: []event.Ref{{Source: "s", ID: id}}, Mappings: alert.DefaultMappings(alert.CredentialAttack), Incident: "inc-" + id}
		return pending{a: a, inc: &alert.Incident{ID: a.Incident, FirstSeen: first, LastSeen: last, Severity: a.Severity}}
	}
	good := mk("good", t0, t0+1e9)
	bad := mk("bad", t0+2e9, t0) // last before first: the store refuses it
	done := make(chan struct{})
	go func() {
		p.store([]pending{bad, good})
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the writer is stuck retrying an alert the store refuses")
	}
	if _, err := st.GetAlert(context.Background(), store.AllTenants(), "good"); err != nil {
		t.Errorf("the valid alert was not stored: %v", err)
	}
	if n := p.Stats().AlertsRefused; n != 1 {
		t.Errorf("refused %d, want 1", n)
	}
}

// TestHandOverWaitsForAGap: of two batches committed together, the one with
// the later sequence numbers may reach Accept's cache first. The follower
// waits for the other instead of reading both from the archive; a gap that
// never fills (a duplicate's number) is read from the archive after a while.
func TestHandOverWaitsForAGap(t *testing.T) {
	defer func(w, p time.Duration) { gapWait, pollEvery = w, p }(gapWait, pollEvery)
	gapWait = time.Second // longer than the test takes to cache the other batch
	// No poll of the archive between the test's insert and its hand-over:
	// on a busy machine one would read the batches back.
	pollEvery = time.Hour
	st := openStore(t)
	s := startProcessor(t, st, 0, testDetectors())
	defer s.shutdown(t)
	s.feed(t, nil) // caught up with the empty archive
	p := s.p
	batches := simBatches(t)
	first, second := batches[0], batches[1]
	all := append(append([]httpingest.Accepted{}, first...), second...)
	evs := make([]store.ArchivedEvent, len(all))
	for i, a := range all {
		e := a.Event
		evs[i] = store.ArchivedEvent{Tenant: e.Tenant, Source: e.Source, ID: e.ID, Type: e.Type.String(), Time: e.Time,
			Subject: e.Subject, Raw: a.Raw, Arrived: time.Now().UnixNano()}
	}
	ins, err := st.InsertEvents(context.Background(), store.AllTenants(), evs)
	if err != nil {
		t.Fatal(err)
	}
	cache := func(from, to int) {
		p.recent.Lock()
		for i := from; i < to; i++ {
			p.recent.evs[ins[i].Seq] = all[i].Event
		}
		p.recent.Unlock()
		p.stored.Store(max(p.stored.Load(), ins[to-1].Seq))
		p.wake <- struct{}{}
	}
	cache(len(first), len(all))       // the second batch's Accept caches first
	time.Sleep(20 * time.Millisecond) // the follower meets the gap
	cache(0, len(first))
	s.feed(t, nil)
	st1 := p.Stats()
	if st1.ReadBack != 0 || st1.HandedOver != int64(len(all)) {
		t.Errorf("handed over %d and read back %d events, want %d and 0", st1.HandedOver, st1.ReadBack, len(all))
	}

	// A number nothing will cache: the archive is read once the wait is over.
	third := batches[2]
	evs = evs[:len(third)]
	for i, a := range third {
		e := a.Event
		evs[i] = store.ArchivedEvent{Tenant: e.Tenant, Source: e.Source, ID: e.ID, Type: e.Type.String(), Time: e.Time,
			Subject: e.Subject, Raw: a.Raw, Arrived: time.Now().UnixNano()}
	}
	if ins, err = st.InsertEvents(context.Background(), store.AllTenants(), evs); err != nil {
		t.Fatal(err)
	}
	all = third
	cache(1, len(third)) // the first is missing
	s.feed(t, nil)
	st2 := p.Stats()
	if st2.Processed != ins[len(ins)-1].Seq || st2.ReadBack == 0 {
		t.Errorf("processed up to %d (want %d), read back %d events (want some)", st2.Processed, ins[len(ins)-1].Seq, st2.ReadBack)
	}
	if got := p.eng.Stats().Received; got != int64(len(first)+len(second)+len(third)) {
		t.Errorf("the engine received %d events, want %d", got, len(first)+len(second)+len(third))
	}
}

// TestDamagedArchivedEventIsSkipped: an archived event whose JSON no longer
// reads back (a damaged row) is counted and logged, and detection goes on
// with the events after it instead of retrying the same read for ever.
func TestDamagedArchivedEventIsSkipped(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, dir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	batch := simBatches(t)[0]
	evs := make([]store.ArchivedEvent, len(batch))
	for i, a := range batch {
		e := a.Event
		evs[i] = store.ArchivedEvent{Tenant: e.Tenant, Source: e.Source, ID: e.ID, Type: e.Type.String(), Time: e.Time,
			Subject: e.Subject, Raw: a.Raw, Arrived: time.Now().UnixNano()}
	}
	ins, err := st.InsertEvents(ctx, store.AllTenants(), evs)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, sqlite.FileName)+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	damaged := ins[len(ins)/2].Seq
	if _, err := db.Exec("UPDATE events SET raw = substr(raw, 1, 12) WHERE seq = ?", damaged); err != nil {
		t.Fatal(err)
	}

	s := startProcessor(t, st, 0, testDetectors())
	defer s.shutdown(t)
	s.feed(t, nil)
	if n := s.p.Stats().UndecodableArchived; n != 1 {
		t.Errorf("%d archived events counted as unreadable, want 1 (seq %d)", n, damaged)
	}
	if got := s.p.eng.Stats().Received; got != int64(len(evs)-1) {
		t.Errorf("the engine received %d events, want all %d but the damaged one", got, len(evs)-1)
	}
}
