package processor

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-project/vigil/internal/engine"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/ingest/httpingest"
	"github.com/vigil-project/vigil/internal/store"
	"github.com/vigil-project/vigil/internal/twin"
)

// memErasures is an Erasures in memory.
type memErasures struct {
	mu   sync.Mutex
	list []Erasure
	done []string
}

func (m *memErasures) Pending(context.Context) ([]Erasure, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.list), nil
}

func (m *memErasures) Done(_ context.Context, ids []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.done = append(m.done, ids...)
	m.list = slices.DeleteFunc(m.list, func(e Erasure) bool { return slices.Contains(ids, e.ID) })
	return nil
}

func (m *memErasures) pending() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.list)
}

func startWithErasures(t *testing.T, st store.Store, er Erasures) *serving {
	t.Helper()
	p, err := New(Options{Store: st, Engine: engine.Options{Shards: 2, Detectors: testDetectors()}, SnapshotInterval: time.Hour, Erasures: er})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &serving{p: p, stop: cancel, done: make(chan error, 1)}
	go func() { s.done <- p.Run(ctx) }()
	return s
}

// subjectOf picks a vehicle commanded by an account in the batches.
func subjectOf(t *testing.T, batches [][]httpingest.Accepted) (tenant, vehicle, account string) {
	for _, b := range batches {
		for _, a := range b {
			if c := a.Event.Command; c != nil && c.Actor.Account != "" && a.Event.Subject != "" {
				return a.Event.Tenant, a.Event.Subject, c.Actor.Account
			}
		}
	}
	t.Fatal("no command with an account in the simulated fleet")
	return "", "", ""
}

func (s *serving) holds(t *testing.T, tenant, vehicle string) bool {
	t.Helper()
	found := false
	var mu sync.Mutex
	if err := s.p.Query(context.Background(), func(v engine.ShardView) {
		mu.Lock()
		found = found || v.Vehicle(tenant, vehicle) != nil
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	return found
}

func checkpointBytes(t *testing.T, st store.Store) []byte {
	t.Helper()
	cp, err := st.LoadCheckpoint(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	return cp.Snapshot
}

// TestForgetErasesDetection: Forget removes the subject from the engine
// and from the checkpoint it saves at once; a restart from that checkpoint
// does not bring it back; the erasure's record is removed once covered.
func TestForgetErasesDetection(t *testing.T) {
	ctx := context.Background()
	batches := simBatches(t)
	tenant, vehicle, account := subjectOf(t, batches)
	st := openStore(t)
	recs := &memErasures{}
	s := startWithErasures(t, st, recs)
	s.feed(t, batches)
	s.shutdown(t)
	before := checkpointBytes(t, st)
	for _, v := range []string{vehicle, account} {
		if !bytes.Contains(before, []byte(v)) {
			t.Fatalf("%s is not in the checkpoint before the erasure", v)
		}
	}

	s = startWithErasures(t, st, recs)
	s.feed(t, nil)
	if !s.holds(t, tenant, vehicle) {
		t.Fatalf("vehicle %s is not in the restored engine", vehicle)
	}
	// The store erases the archive first, then detection is told.
	for _, e := range []store.Entity{{Kind: store.EntityVehicle, Value: vehicle}, {Kind: store.EntityAccount, Value: account}} {
		if _, err := st.EraseSubject(ctx, store.AllTenants(), tenant, e); err != nil {
			t.Fatal(err)
		}
	}
	er := Erasure{ID: "e-1", Tenant: tenant, Subjects: []twin.Subject{{Kind: twin.SubjectVehicle, Value: vehicle}, {Kind: twin.SubjectAccount, Value: account}}}
	recs.mu.Lock()
	recs.list = append(recs.list, er)
	recs.mu.Unlock()
	res, err := s.p.Forget(ctx, er)
	if err != nil {
		t.Fatal(err)
	}
	if res.Keys < 1 || !res.Checkpoint {
		t.Errorf("forget: %+v", res)
	}
	if s.holds(t, tenant, vehicle) {
		t.Error("the vehicle's twin is still in the engine")
	}
	after := checkpointBytes(t, st)
	for _, v := range []string{vehicle, account} {
		if bytes.Contains(after, []byte(v)) {
			t.Errorf("%s is still in the checkpoint saved after the erasure", v)
		}
	}
	if recs.pending() != 0 {
		t.Errorf("the erasure's record is still pending after a checkpoint covered it")
	}
	// New events of others go on; the subject's do not come back.
	s.shutdown(t)
	s = startWithErasures(t, st, recs)
	s.feed(t, nil)
	if s.holds(t, tenant, vehicle) {
		t.Error("a restart from the checkpoint brought the vehicle back")
	}
	s.shutdown(t)
}

// TestErasureRecordSurvivesACrash: an erasure recorded but never applied
// (the server died before, or it was made with vigil privacy erase while
// the server ran elsewhere) is applied when the server starts, after the
// checkpoint is restored, and its record goes once a checkpoint covers it.
func TestErasureRecordSurvivesACrash(t *testing.T) {
	ctx := context.Background()
	batches := simBatches(t)
	tenant, vehicle, account := subjectOf(t, batches)
	st := openStore(t)
	recs := &memErasures{}
	s := startWithErasures(t, st, recs)
	s.feed(t, batches)
	s.shutdown(t)
	for _, e := range []store.Entity{{Kind: store.EntityVehicle, Value: vehicle}, {Kind: store.EntityAccount, Value: account}} {
		if _, err := st.EraseSubject(ctx, store.AllTenants(), tenant, e); err != nil {
			t.Fatal(err)
		}
	}
	recs.list = []Erasure{{ID: "e-2", Tenant: tenant, Subjects: []twin.Subject{{Kind: twin.SubjectVehicle, Value: vehicle}, {Kind: twin.SubjectAccount, Value: account}}}}

	s = startWithErasures(t, st, recs)
	s.feed(t, nil)
	if s.holds(t, tenant, vehicle) {
		t.Error("the recorded erasure was not applied after the restore")
	}
	deadline := time.Now().Add(30 * time.Second)
	for recs.pending() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the record was never removed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	b := checkpointBytes(t, st)
	for _, v := range []string{vehicle, account} {
		if bytes.Contains(b, []byte(v)) {
			t.Errorf("%s is still in the checkpoint", v)
		}
	}
	s.shutdown(t)
}

// TestForgetDropsCachedEvents: events of the subject stored but not yet
// processed are not processed from memory after the erasure: the archive,
// which no longer holds them, decides.
func TestForgetDropsCachedEvents(t *testing.T) {
	p, err := New(Options{Store: openStore(t), Engine: engine.Options{Shards: 1, Detectors: testDetectors()}})
	if err != nil {
		t.Fatal(err)
	}
	mk := func(id, subject, account string) *event.Event {
		return &event.Event{ID: id, Source: "s", Type: event.TypeCommand, Tenant: "t", Subject: subject,
			Command: &event.Command{CommandID: id, Actor: event.Actor{Account: account}}}
	}
	p.recent.evs[1] = mk("1", "V1", "acc-1")
	p.recent.evs[2] = mk("2", "V2", "acc-2")
	p.recent.evs[3] = mk("3", "V3", "acc-1")
	other := mk("4", "V1", "acc-1")
	other.Tenant = "u"
	p.recent.evs[4] = other
	er := Erasure{Tenant: "t", Subjects: []twin.Subject{{Kind: twin.SubjectAccount, Value: "acc-1"}}}
	if n := p.dropCached(er); n != 2 {
		t.Errorf("dropped %d cached events, want 2", n)
	}
	if _, ok := p.recent.evs[2]; !ok || len(p.recent.evs) != 2 {
		t.Errorf("left %v", p.recent.evs)
	}
	// One cached after the erasure is read from the archive instead.
	p.erasures.filters = []cacheFilter{{er: er, until: time.Now().Add(time.Minute)}}
	p.recent.evs[5] = mk("5", "V5", "acc-1")
	after := int64(4)
	if n := p.takeRecent(&after); n != 0 || after != 4 {
		t.Errorf("took %d events from the cache, up to %d", n, after)
	}
	if _, ok := p.recent.evs[5]; ok {
		t.Error("the filtered event stays in the cache")
	}
}

// TestErasureRecordReachesRecords: every erasure detection applies is
// passed to ForgetRecords, once per record (not again when the catch-up
// applies it a second time), off the follower, and retried until it
// succeeds; the record stays until then, whatever checkpoints are saved.
func TestErasureRecordReachesRecords(t *testing.T) {
	defer func(d time.Duration) { recordsRetry = d }(recordsRetry)
	recordsRetry = 10 * time.Millisecond
	st := openStore(t)
	batches := simBatches(t)
	tenant, vehicle, account := subjectOf(t, batches)
	recs := &memErasures{list: []Erasure{{ID: "e-3", Tenant: tenant, Subjects: []twin.Subject{{Kind: twin.SubjectVehicle, Value: vehicle}}}}}
	var mu sync.Mutex
	var calls []string
	failing := true
	p, err := New(Options{Store: st, Engine: engine.Options{Shards: 2, Detectors: testDetectors()}, SnapshotInterval: time.Hour, Erasures: recs,
		ForgetRecords: func(_ context.Context, tn string, subjects []twin.Subject) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			calls = append(calls, tn+"/"+subjects[0].Value)
			if failing {
				return 0, errors.New("disk full")
			}
			return 3, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &serving{p: p, stop: cancel, done: make(chan error, 1)}
	go func() { s.done <- p.Run(ctx) }()
	s.feed(t, batches)
	waitCalls := func(n int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			mu.Lock()
			got := len(calls)
			mu.Unlock()
			if got >= n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("ForgetRecords called %d times, want %d", got, n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	// Failing: retried, and the record stays though a checkpoint (the one
	// Forget waits for) is saved meanwhile.
	waitCalls(3)
	// Forget answers ForgetRecords' first outcome, here the failure.
	if _, err := p.Forget(context.Background(), Erasure{Tenant: tenant, Subjects: []twin.Subject{{Kind: twin.SubjectAccount, Value: account}}}); err == nil ||
		!strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Forget while the records fail: %v", err)
	}
	if recs.pending() != 1 {
		t.Fatal("the record went while its erasure had not reached the records")
	}
	mu.Lock()
	failing = false
	mu.Unlock()
	// Succeeding: a checkpoint already covers the erasure, so the
	// record goes at once.
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		both := slices.Contains(calls, tenant+"/"+account)
		mu.Unlock()
		if both && recs.pending() == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the erasures never reached the records, or the record stayed (%d records)", recs.pending())
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Once they succeed, Forget answers what was removed.
	if res, err := p.Forget(context.Background(), Erasure{ID: "e-4", Tenant: tenant, Subjects: []twin.Subject{{Kind: twin.SubjectDevice, Value: "dev-x"}}}); err != nil || res.Records != 3 {
		t.Fatalf("Forget: %+v %v, want 3 records", res, err)
	}
	s.shutdown(t)
	mu.Lock()
	defer mu.Unlock()
	vehicleCalls := 0
	for _, c := range calls {
		if c == tenant+"/"+vehicle {
			vehicleCalls++
		}
	}
	// Every call while failing was counted: all but the last of the
	// vehicle's and the account's.
	accountCalls := 0
	for _, c := range calls {
		if c == tenant+"/"+account {
			accountCalls++
		}
	}
	if n := p.Stats().ErasureRecordFailures; n < 2 || n != int64(vehicleCalls-1+accountCalls-1) {
		t.Errorf("%d failures counted for %d calls about the vehicle and %d about the account", n, vehicleCalls, accountCalls)
	}
}
