// Package sinktest runs sinks as the server does, on a real store: alerts
// stored in SQLite in a temporary directory, sink sets started, stopped or
// killed on it. The tests of each sink type use it with their real
// destination; CrashRestart is the crash test every type passes.
package sinktest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/sink"
	"github.com/vigil-project/vigil/internal/store"
	"github.com/vigil-project/vigil/internal/store/sqlite"
)

// OpenStore opens a SQLite store in a temporary directory, closed when the
// test ends.
func OpenStore(t testing.TB) store.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), t.TempDir(), sqlite.Options{Synchronous: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// Alert builds an alert of tenant fleet-a.
func Alert(id string) *alert.Alert {
	tm := time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC).UnixNano()
	return &alert.Alert{ID: id, Time: tm, FirstSeen: tm, LastSeen: tm, Tenant: "fleet-a", Category: alert.MassCommand,
		Severity: event.SeverityHigh, Detector: "mass.command-spread", Title: "t", Explanation: "e",
		Entities: alert.Entities{Account: "acc-1"}, Mappings: alert.DefaultMappings(alert.MassCommand)}
}

// IDs returns prefix0000, prefix0001, … prefix(n-1).
func IDs(prefix string, from, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%04d", prefix, from+i)
	}
	return out
}

// Put stores alerts as the processor's alert writer does.
func Put(t testing.TB, st store.Store, as ...*alert.Alert) {
	t.Helper()
	for len(as) > 0 {
		n := min(len(as), store.MaxUpsertBatch)
		if _, err := st.UpsertAlerts(context.Background(), store.AllTenants(), as[:n]); err != nil {
			t.Fatalf("storing alerts: %v", err)
		}
		as = as[n:]
	}
}

// PutIDs stores an alert (Alert) for each id.
func PutIDs(t testing.TB, st store.Store, ids ...string) {
	t.Helper()
	as := make([]*alert.Alert, len(ids))
	for i, id := range ids {
		as[i] = Alert(id)
	}
	Put(t, st, as...)
}

// SetCursor saves a sink's cursor, as if it had handled every alert up to
// seq.
func SetCursor(t testing.TB, st sink.Store, name string, seq int64) {
	t.Helper()
	_, err := st.PutConfig(context.Background(), store.AllTenants(), store.ConfigChange{Key: sink.CursorKey(name),
		Value: []byte(strconv.FormatInt(seq, 10))})
	if err != nil {
		t.Fatal(err)
	}
}

// Cursor returns a sink's saved cursor, -1 when it has none.
func Cursor(t testing.TB, st sink.Store, name string) int64 {
	t.Helper()
	e, err := st.GetConfig(context.Background(), store.AllTenants(), "", sink.CursorKey(name))
	if errors.Is(err, store.ErrNotFound) {
		return -1
	}
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseInt(string(e.Value), 10, 64)
	if err != nil {
		t.Fatalf("cursor %q: %v", e.Value, err)
	}
	return n
}

// Running is a sink set running in the background.
type Running struct {
	*sink.Set
	cancel context.CancelFunc
	done   chan struct{}
}

// Start runs a set until Stop or the end of the test.
func Start(t testing.TB, o sink.SetOptions) *Running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &Running{Set: sink.NewSet(o), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		if err := r.Run(ctx); err != nil {
			t.Errorf("sink set: %v", err)
		}
	}()
	t.Cleanup(r.Stop)
	return r
}

// Stop ends Run's context and waits for Run to return (within the set's
// drain time).
func (r *Running) Stop() {
	r.cancel()
	<-r.done
}

// WaitFor polls cond until it holds. The bound only turns a hang into a
// failure; nothing is asserted about time.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// Crashable is a store that dies as the process holding it would: once
// crashed, every call fails. CrashAt, when set, crashes it right after a
// sink's cursor is saved at or beyond that number.
type Crashable struct {
	sink.Store
	CrashAt int64
	dead    atomic.Bool
	once    sync.Once
	Crashed chan struct{} // closed at the crash
}

// NewCrashable wraps st.
func NewCrashable(st sink.Store, crashAt int64) *Crashable {
	return &Crashable{Store: st, CrashAt: crashAt, Crashed: make(chan struct{})}
}

// Crash kills the store.
func (c *Crashable) Crash() {
	c.once.Do(func() {
		c.dead.Store(true)
		close(c.Crashed)
	})
}

var errDead = errors.New("the process died")

func (c *Crashable) AlertsAfter(ctx context.Context, sc store.Scope, after int64, limit int) ([]store.Alert, error) {
	if c.dead.Load() {
		return nil, errDead
	}
	return c.Store.AlertsAfter(ctx, sc, after, limit)
}

func (c *Crashable) LatestAlertSeq(ctx context.Context, sc store.Scope) (int64, error) {
	if c.dead.Load() {
		return 0, errDead
	}
	return c.Store.LatestAlertSeq(ctx, sc)
}

func (c *Crashable) GetConfig(ctx context.Context, sc store.Scope, tenant, key string) (store.ConfigEntry, error) {
	if c.dead.Load() {
		return store.ConfigEntry{}, errDead
	}
	return c.Store.GetConfig(ctx, sc, tenant, key)
}

func (c *Crashable) PutConfig(ctx context.Context, sc store.Scope, ch store.ConfigChange) (store.ConfigEntry, error) {
	if c.dead.Load() {
		return store.ConfigEntry{}, errDead
	}
	e, err := c.Store.PutConfig(ctx, sc, ch)
	if n, perr := strconv.ParseInt(string(ch.Value), 10, 64); err == nil && perr == nil && c.CrashAt > 0 && n >= c.CrashAt {
		c.Crash()
	}
	return e, err
}

// Destination is a sink type under CrashRestart.
type Destination struct {
	Config sink.Config // validated
	// Target makes a new target: each sink set has its own, as each
	// process would.
	Target func(t testing.TB) sink.Target
	// Received returns how many times the destination got each alert id
	// so far.
	Received func() map[string]int
}

func total(m map[string]int) int {
	n := 0
	for _, c := range m {
		n += c
	}
	return n
}

// CrashRestart checks that a sink loses nothing in a crash: a sink set
// delivers n/2 stored alerts; mid-stream, right after it saved a cursor,
// its store dies, and once it has delivered some more the set is cancelled
// with no drain, as when the process is killed between two saves. More
// alerts are stored, and a new set on the same store delivers the rest:
// every alert reaches the destination at least once, none is skipped, and
// the saved cursor spared re-sending what came before it. n must be at
// least 200.
func CrashRestart(t *testing.T, d Destination, n int) {
	st := OpenStore(t)
	name := d.Config.Name
	half := n / 2
	crashAt := int64(half / 5)
	dying := NewCrashable(st, crashAt)
	SetCursor(t, st, name, 0)
	PutIDs(t, st, IDs("al-", 0, half)...)
	first := Start(t, sink.SetOptions{Store: dying, Drain: time.Nanosecond, Poll: 5 * time.Millisecond, CursorEvery: 10,
		Sinks: []*sink.Sink{sink.New(sink.Options{Config: d.Config, Target: d.Target(t)})}})
	select {
	case <-dying.Crashed:
	case <-time.After(60 * time.Second):
		t.Fatalf("the first set never saved a cursor of %d or more: %+v", crashAt, first.Status())
	}
	// The worker delivers on from the batch it holds, its saves failing:
	// the destination gets alerts past the last saved cursor, as when the
	// process dies between two saves.
	WaitFor(t, "deliveries past the saved cursor", func() bool { return first.Status()[0].Delivered >= crashAt+15 })
	first.Stop()
	saved := Cursor(t, st, name)
	if saved < crashAt || saved >= int64(half) {
		t.Fatalf("cursor %d saved before the crash, want one from %d, below the %d alerts stored: the crash was not mid-stream", saved, crashAt, half)
	}
	beforeCrash := first.Status()[0].Delivered
	t.Logf("killed after %d deliveries, cursor %d saved", beforeCrash, saved)

	PutIDs(t, st, IDs("al-", half, n-half)...) // stored while no sink runs
	second := Start(t, sink.SetOptions{Store: st, Poll: 5 * time.Millisecond,
		Sinks: []*sink.Sink{sink.New(sink.Options{Config: d.Config, Target: d.Target(t)})}})
	WaitFor(t, "the second set to catch up", func() bool { s := second.Status()[0]; return s.Cursor == int64(n) && s.Lag == 0 })
	second.Stop()
	// Every delivery was acknowledged; a subscriber may still be reading.
	var got map[string]int
	var missing []string
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		got, missing = d.Received(), nil
		for _, id := range IDs("al-", 0, n) {
			if got[id] == 0 {
				missing = append(missing, id)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(missing) > 0 {
		t.Fatalf("%d of %d alerts never reached the destination, the first %s", len(missing), n, missing[:min(5, len(missing))])
	}
	again := int64(total(got) - n)
	t.Logf("%d alerts delivered twice", again)
	if again >= beforeCrash {
		t.Errorf("%d alerts delivered again after the restart, as many as before the crash (%d): the saved cursor %d was not used", again, beforeCrash, saved)
	}
	if st := second.Status()[0]; st.Delivered != int64(n)-saved || len(st.Dropped) != 0 {
		t.Errorf("second set: %+v, want %d delivered from cursor %d, none dropped", st, int64(n)-saved, saved)
	}
}
