package engine_test

import (
	"bytes"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/detect/command"
	"github.com/vigil-project/vigil/internal/detect/credential"
	"github.com/vigil-project/vigil/internal/engine"
	"github.com/vigil-project/vigil/internal/event"
)

var t0 = time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC).UnixNano()

func at(sec float64) int64 { return t0 + int64(sec*1e9) }

func unlocked(id string, sec float64, vin string) *event.Event {
	return &event.Event{ID: id, Source: "gw", Type: event.TypeVehicleEvent, Time: at(sec), Subject: vin, Tenant: "t",
		VehicleEvent: &event.VehicleEvent{Name: event.NameUnlocked, Origin: event.OriginRemote}}
}

func fix(id string, sec float64, vin, tenant string) *event.Event {
	return &event.Event{ID: id, Source: "gw", Type: event.TypeTelemetry, Time: at(sec), Subject: vin, Tenant: tenant,
		Telemetry: &event.Telemetry{Position: event.Position{Lat: 48, Lon: 11}}}
}

func failure(id string, sec float64, account, tenant string) *event.Event {
	return &event.Event{ID: id, Source: "api", Type: event.TypeLogin, Time: at(sec), Tenant: tenant,
		Login: &event.Login{Actor: event.Actor{Account: account, IP: "192.0.2.1"}, Result: event.ResultFailure, Method: event.MethodPassword}}
}

type collector struct {
	mu     sync.Mutex
	alerts []*alert.Alert
}

func (c *collector) add(a *alert.Alert) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.alerts = append(c.alerts, a)
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.alerts)
}

func newEngine(t *testing.T, c *collector, shards int, dets ...detect.Detector) *engine.Engine {
	t.Helper()
	e, err := engine.New(engine.Options{Shards: shards, Lateness: 30 * time.Second, Detectors: dets, Alerts: c.add})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// Query waits for the shards to handle everything pushed before it.
func sync_(e *engine.Engine) { e.Query(func(engine.ShardView) {}) }

func TestAbsenceFiresOnlyWhenWindowCloses(t *testing.T) {
	c := &collector{}
	e := newEngine(t, c, 2, command.NewOrphan(command.OrphanConfig{Window: 2 * time.Minute}))
	defer e.Close()
	e.Push(unlocked("u1", 0, "V1"))
	// Frontier = 140 - 30 = 110 s: the window (to 120 s) is still open.
	e.Push(fix("f1", 140, "V2", "t"))
	sync_(e)
	if n := c.count(); n != 0 {
		t.Fatalf("alert before the window closed: %d", n)
	}
	// Frontier = 151 - 30 = 121 s > 120 s: closed, no command came.
	e.Push(fix("f2", 151, "V2", "t"))
	sync_(e)
	if n := c.count(); n != 1 {
		t.Fatalf("got %d alerts after the window closed, want 1", n)
	}
}

func TestWatermarkIsPerTenant(t *testing.T) {
	c := &collector{}
	e := newEngine(t, c, 2, command.NewOrphan(command.OrphanConfig{Window: 2 * time.Minute}))
	defer e.Close()
	e.Push(unlocked("u1", 0, "V1"))
	// Another tenant's clock runs far ahead; tenant t's window stays open.
	e.Push(fix("f1", 10_000, "V9", "other"))
	sync_(e)
	if n := c.count(); n != 0 {
		t.Fatalf("another tenant's time closed the window: %d alerts", n)
	}
	if late := e.Stats().Late; late != 0 {
		t.Fatalf("late = %d, want 0", late)
	}
}

// blocker holds its shard inside OnEvent for the event with ID "block"
// until released: a shard that lags the others.
type blocker struct {
	entered chan struct{}
	release chan struct{}
}

func (b *blocker) Info() detect.Info {
	return detect.Info{ID: "test.blocker", Subscribe: []detect.Subscription{{Kind: detect.KindVehicle, Types: []event.Type{event.TypeTelemetry}}}}
}
func (b *blocker) OnEvent(_ *detect.Context, _ detect.State, ev *event.Event) {
	if ev.ID == "block" {
		close(b.entered)
		<-b.release
	}
}
func (b *blocker) OnTimer(*detect.Context, detect.State, int64) {}

// TestWatermarkIsWhatEveryShardReached: the alert manager forgets by it,
// so it must never pass a shard that has not handled that frontier yet,
// however far the others are, and the end of input (frontiers at the end
// of time) is not a time.
func TestWatermarkIsWhatEveryShardReached(t *testing.T) {
	b := &blocker{entered: make(chan struct{}), release: make(chan struct{})}
	e, err := engine.New(engine.Options{Shards: 3, Lateness: 30 * time.Second, Detectors: []detect.Detector{b}, Alerts: func(*alert.Alert) {}})
	if err != nil {
		t.Fatal(err)
	}
	sync_(e) // a query carries no time
	if w := e.Watermark(); w != math.MinInt64 {
		t.Fatalf("watermark %d before any event, want unknown (MinInt64)", w)
	}
	e.Push(fix("f1", 100, "V1", "t"))
	sync_(e) // marks the frontier (100 s - 30 s) to every shard
	if w := e.Watermark(); w != at(70) {
		t.Fatalf("watermark %v, want the frontier %v", time.Duration(w-t0), 70*time.Second)
	}
	// One shard stops inside an event at 200 s; the others go on to 5 h.
	e.Push(fix("block", 200, "V1", "t"))
	e.Flush()
	select {
	case <-b.entered:
	case <-time.After(time.Minute):
		t.Fatal("the event to hold a shard with never reached the detector")
	}
	for i := range 50 {
		e.Push(fix(fmt.Sprint("g", i), 5*3600, fmt.Sprint("V", 100+i), "t"))
	}
	e.Flush()
	// Time for the free shards to handle theirs, so that a watermark taken
	// from the fastest shard instead of the slowest would show here.
	time.Sleep(50 * time.Millisecond)
	if w := e.Watermark(); w != at(70) {
		t.Fatalf("watermark %v with one shard held inside its batch and the others handed 5 h: it must wait for the slowest", time.Duration(w-t0))
	}
	close(b.release)
	sync_(e)
	if w := e.Watermark(); w != at(5*3600-30) {
		t.Fatalf("watermark %v once released, want %v", time.Duration(w-t0), 5*time.Hour-30*time.Second)
	}
	e.Close()
	if w := e.Watermark(); w != at(5*3600-30) {
		t.Fatalf("watermark %v after the end of input, want %v still", time.Duration(w-t0), 5*time.Hour-30*time.Second)
	}
}

// TestTenantWatermarkIsEachTenantsOwn: one tenant hours behind another
// (a backlog being sent) has a watermark of its own, where the shards'
// watermark follows the tenant ahead; the end of input is not a time, and
// a snapshot restores what its shards had handled.
func TestTenantWatermarkIsEachTenantsOwn(t *testing.T) {
	e, err := engine.New(engine.Options{Shards: 3, Lateness: 30 * time.Second, Alerts: func(*alert.Alert) {}})
	if err != nil {
		t.Fatal(err)
	}
	if w := e.TenantWatermark("ahead"); w != math.MinInt64 {
		t.Fatalf("a tenant never seen: %d, want unknown (MinInt64)", w)
	}
	for i := range 20 {
		e.Push(fix(fmt.Sprint("a", i), 5*3600, fmt.Sprint("VA", i), "ahead"))
		e.Push(fix(fmt.Sprint("b", i), 100, fmt.Sprint("VB", i), "behind"))
	}
	sync_(e) // marks both frontiers to every shard
	if w := e.Watermark(); w != at(5*3600-30) {
		t.Fatalf("the shards' watermark %v, want the tenant ahead's %v", time.Duration(w-t0), 5*time.Hour-30*time.Second)
	}
	if w := e.TenantWatermark("behind"); w != at(70) {
		t.Fatalf("the tenant behind: %v, want its own frontier %v", time.Duration(w-t0), 70*time.Second)
	}
	if w := e.TenantWatermark("ahead"); w != at(5*3600-30) {
		t.Fatalf("the tenant ahead: %v, want %v", time.Duration(w-t0), 5*time.Hour-30*time.Second)
	}
	var snap bytes.Buffer
	if err := e.Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	e.Close()
	if w := e.TenantWatermark("behind"); w != at(70) {
		t.Fatalf("after the end of input: %v, want %v still", time.Duration(w-t0), 70*time.Second)
	}
	r, err := engine.New(engine.Options{Shards: 3, Lateness: 30 * time.Second, Alerts: func(*alert.Alert) {}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Restore(&snap); err != nil {
		t.Fatal(err)
	}
	if w := r.TenantWatermark("behind"); w != at(70) {
		t.Fatalf("restored: %v, want %v", time.Duration(w-t0), 70*time.Second)
	}
}

func TestDuplicatesAndLateAreCounted(t *testing.T) {
	c := &collector{}
	e := newEngine(t, c, 1, credential.New(credential.Config{}))
	for i := range 9 {
		e.Push(failure(fmt.Sprint("l", i), float64(i), "acc-1", "t"))
	}
	// Resent: same tenant, source and id, processed once. The same id in
	// another tenant is another event.
	e.Push(failure("l3", 3, "acc-1", "t"))
	e.Push(failure("l3", 3, "acc-1", "u"))
	e.Push(fix("f", 1000, "V1", "t"))
	// 100 s is behind the frontier (1000 - 30): late, counted, still used.
	e.Push(failure("l9", 100, "acc-1", "t"))
	e.Close()
	st := e.Stats()
	if st.Duplicates != 1 || st.Received != 13 || st.Late != 1 {
		t.Errorf("stats %+v, want 13 received, 1 duplicate, 1 late", st)
	}
	// The late failure still counts: ten failures within ten minutes.
	if n := c.count(); n != 1 {
		t.Errorf("got %d alerts, want 1: a late event must still be processed", n)
	}
}

func TestStateSize(t *testing.T) {
	c := &collector{}
	e := newEngine(t, c, 3, credential.New(credential.Config{}))
	for i := range 100 {
		e.Push(fix(fmt.Sprint("f", i), float64(i), fmt.Sprint("V", i%40), "t"))
		e.Push(failure(fmt.Sprint("l", i), float64(i), fmt.Sprint("acc-", i%7), "t"))
	}
	size := e.StateSize()
	e.Close()
	if size[detect.KindVehicle] != 40 || size[detect.KindAccount] != 7 || size[detect.KindIP] != 1 {
		t.Errorf("state size %v, want 40 vehicles, 7 accounts, 1 IP", size)
	}
}

// statsWatcher records the tenant minutes it is handed.
type statsWatcher struct {
	mu   sync.Mutex
	mins []event.TenantStats
}

func (w *statsWatcher) Info() detect.Info {
	return detect.Info{ID: "test.stats", Subscribe: []detect.Subscription{{Kind: detect.KindTenant, Types: []event.Type{event.TypeTenantStats}}}}
}
func (w *statsWatcher) OnEvent(c *detect.Context, _ detect.State, ev *event.Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if c.Key != ev.Tenant {
		panic("tenant stats keyed by " + c.Key)
	}
	w.mins = append(w.mins, *ev.Stats)
}
func (w *statsWatcher) OnTimer(*detect.Context, detect.State, int64) {}

func TestTenantMinutes(t *testing.T) {
	w := &statsWatcher{}
	e, err := engine.New(engine.Options{Shards: 3, Lateness: 30 * time.Second, Detectors: []detect.Detector{w}})
	if err != nil {
		t.Fatal(err)
	}
	// Minute 0: 3 fixes and a failed login; minutes 1-3 silent; minute 4: 1 fix.
	e.Push(fix("a", 1, "V1", "t"))
	e.Push(fix("b", 20, "V2", "t"))
	e.Push(failure("c", 30, "acc", "t"))
	e.Push(fix("d", 59, "V1", "t"))
	e.Push(fix("e", 250, "V1", "t"))
	e.Close()
	if len(w.mins) != 5 {
		t.Fatalf("got %d minutes, want 5: %+v", len(w.mins), w.mins)
	}
	if got := w.mins[0].ByType[event.TypeTelemetry]; got != 3 || w.mins[0].ByType[event.TypeLogin] != 1 || w.mins[0].Start != at(0) {
		t.Errorf("minute 0: %+v", w.mins[0])
	}
	for i := 1; i <= 3; i++ {
		if w.mins[i].ByType != ([event.NumTypes]int{}) || w.mins[i].Start != at(float64(60*i)) {
			t.Errorf("minute %d should be empty: %+v", i, w.mins[i])
		}
	}
	if w.mins[4].ByType[event.TypeTelemetry] != 1 {
		t.Errorf("minute 4: %+v", w.mins[4])
	}
}

func TestTickClosesWindowsOfAQuietStream(t *testing.T) {
	c := &collector{}
	e := newEngine(t, c, 2, command.NewOrphan(command.OrphanConfig{Window: 2 * time.Minute}))
	defer e.Close()
	wall := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC).UnixNano()
	u := unlocked("u1", 0, "V1")
	u.Arrived = wall
	e.Push(u)
	// 100 s of wall time later nothing came: the frontier is at 100-30 = 70 s.
	e.Tick(wall + 100e9)
	sync_(e)
	if n := c.count(); n != 0 {
		t.Fatalf("alert before the window closed: %d", n)
	}
	// 151 s later: 121 s > 120 s, the window has closed on a quiet stream.
	e.Tick(wall + 151e9)
	sync_(e)
	if n := c.count(); n != 1 {
		t.Fatalf("got %d alerts, want 1", n)
	}
}

func TestStopClosesNoWindow(t *testing.T) {
	c := &collector{}
	e := newEngine(t, c, 2, command.NewOrphan(command.OrphanConfig{Window: 2 * time.Minute}))
	e.Push(unlocked("u1", 0, "V1"))
	e.Stop()
	if n := c.count(); n != 0 {
		t.Fatalf("Stop closed an open window: %d alerts", n)
	}
}
