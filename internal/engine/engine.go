// Package engine runs detectors over a stream of events on event time. One
// router goroutine (the caller of Push) drops duplicates, keeps each tenant's
// watermark and routes every event to the shards that own its keys (the
// vehicle, the account, the IP, ...). Each shard goroutine owns the keyed
// state of its keys and the event-time timers of its detectors, so no state
// is ever shared or locked.
//
// Determinism: per key, the shard sees the key's events in input order, each
// stamped with the tenant's frontier (watermark) at its arrival; timers fire
// before the first event whose stamp passes their deadline. The alerts
// produced therefore depend only on the input order, never on the number of
// shards, the batch size or the speed of the input.
package engine

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/osprio"
)

// Options configure an Engine.
type Options struct {
	Shards      int           // shard goroutines; default GOMAXPROCS
	Lateness    time.Duration // how far behind the newest event time an event may arrive and still be on time; default 30s
	DedupWindow time.Duration // event-time span over which (tenant, source, id) duplicates are recognised; default 1h
	BatchSize   int           // events per hand-off to a shard; default 256
	// MaxJump: an event more than this ahead of its tenant's newest time
	// moves the tenant's clock only when a second event confirms it.
	// Default 1h.
	MaxJump time.Duration
	// WallClock says events' Arrived stamps are wall-clock Unix ns (a live
	// server): then no event moves the clock past its arrival plus
	// MaxFuture (default 5m).
	WallClock bool
	MaxFuture time.Duration
	// PrincipalTTL and VehicleTTL: keyed state idle this long in event time
	// is dropped at the next hourly sweep, so keys an attacker invents (IPs,
	// accounts, subjects) cannot grow memory without end. Defaults 8 days
	// (longer than any detector's learning period) and 30 days.
	PrincipalTTL time.Duration
	VehicleTTL   time.Duration
	// NoDedup skips the (tenant, source, id) dedup set: the input has no
	// duplicates (the processor reads an archive that refused them), so
	// the set would cost memory, time and snapshot bytes for nothing.
	NoDedup   bool
	Detectors []detect.Detector
	// Alerts receives every alert. It is called from shard goroutines, so it
	// must be safe for concurrent use.
	Alerts func(*alert.Alert)
	// Filter, when set, sees each alert first (from shard goroutines): it
	// may mark it shadow; false discards it (a detector off for the
	// alert's tenant). Both are counted per detector.
	Filter func(*alert.Alert) bool
	Logger *slog.Logger
}

// Engine is the event-time detection engine. Push, Flush and Close must be
// called from one goroutine (the router); Stats and Query from any.
type Engine struct {
	opts     Options
	lateness int64
	shards   []*shard
	dispatch [detect.NumKinds][]([]uint8) // kind → type → detector indexes
	routes   [][detect.NumKinds]bool      // type → kinds to route to
	infos    []detect.Info
	wg       sync.WaitGroup
	closed   bool
	restored bool // Restore succeeded: a second one would mix two states
	// tenantStats: some detector watches whole tenants, so the router
	// counts each tenant's minutes (see event.TenantStats).
	tenantStats bool
	stats       counters
	router      router
	// reached: per shard, the newest frontier it has handled (see
	// Watermark).
	reached []atomic.Int64
	// marks: per tenant, each shard's frontier as handled (a
	// *tenantMark; see TenantWatermark).
	marks sync.Map
}

// tenantMark is one tenant's frontier as each shard has handled it.
type tenantMark struct {
	reached []atomic.Int64 // by shard; math.MinInt64 before any
}

// mark returns the tenant's mark, made on first use.
func (e *Engine) mark(tenant string) *tenantMark {
	if m, ok := e.marks.Load(tenant); ok {
		return m.(*tenantMark)
	}
	m := &tenantMark{reached: make([]atomic.Int64, len(e.reached))}
	for i := range m.reached {
		m.reached[i].Store(math.MinInt64)
	}
	actual, _ := e.marks.LoadOrStore(tenant, m)
	return actual.(*tenantMark)
}

type counters struct {
	received   atomic.Int64
	duplicates atomic.Int64
	late       atomic.Int64
	future     atomic.Int64
	routed     atomic.Int64
	alerts     [16]atomic.Int64 // by alert.Category
	timers     atomic.Int64
	evicted    atomic.Int64
}

// Stats is a snapshot of the engine's counters.
type Stats struct {
	Received   int64 // events pushed
	Duplicates int64 // dropped as (tenant, source, id) duplicates
	Late       int64 // later than the allowed lateness (still processed, counted)
	Future     int64 // stamped too far ahead to move the clock (still processed, counted)
	Routed     int64 // deliveries to keyed state (an event may have several keys)
	Timers     int64 // event-time timers fired
	Evicted    int64 // idle keys dropped by the TTL sweeps
	// DedupShortened counts the times the dedup memory reached its bound
	// and the dedup window was cut short (at extreme event rates).
	DedupShortened int64
	Alerts         map[string]int64 // by category
}

// New builds an engine and starts its shards.
func New(opts Options) (*Engine, error) {
	if opts.Shards <= 0 {
		opts.Shards = runtime.GOMAXPROCS(0)
	}
	if opts.Shards > 1024 {
		return nil, fmt.Errorf("engine: %d shards is more than the limit of 1024", opts.Shards)
	}
	if opts.Lateness == 0 {
		opts.Lateness = 30 * time.Second
	}
	if opts.Lateness < 0 {
		return nil, errors.New("engine: lateness must not be negative")
	}
	if opts.DedupWindow <= 0 {
		opts.DedupWindow = time.Hour
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 256
	}
	if opts.MaxJump <= 0 {
		opts.MaxJump = time.Hour
	}
	if opts.MaxFuture <= 0 {
		opts.MaxFuture = 5 * time.Minute
	}
	if opts.PrincipalTTL <= 0 {
		opts.PrincipalTTL = 8 * 24 * time.Hour
	}
	if opts.VehicleTTL <= 0 {
		opts.VehicleTTL = 30 * 24 * time.Hour
	}
	if opts.Alerts == nil {
		opts.Alerts = func(*alert.Alert) {}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if len(opts.Detectors) > math.MaxUint8 {
		return nil, fmt.Errorf("engine: %d detectors is more than the limit of 255", len(opts.Detectors))
	}
	e := &Engine{opts: opts, lateness: int64(opts.Lateness)}
	e.routes = make([][detect.NumKinds]bool, event.NumTypes)
	for k := range e.dispatch {
		e.dispatch[k] = make([][]uint8, event.NumTypes)
	}
	for _, t := range event.Types() {
		e.routes[t][detect.KindVehicle] = true // the twin follows every event with a subject
	}
	seen := map[string]bool{}
	for i, d := range opts.Detectors {
		info := d.Info()
		if info.ID == "" || seen[info.ID] {
			return nil, fmt.Errorf("engine: detector %d has an empty or repeated id %q", i, info.ID)
		}
		seen[info.ID] = true
		e.infos = append(e.infos, info)
		for _, sub := range info.Subscribe {
			if sub.Kind >= detect.NumKinds {
				return nil, fmt.Errorf("engine: detector %s subscribes to unknown key kind %d", info.ID, sub.Kind)
			}
			for _, t := range sub.Types {
				if t >= event.NumTypes || (t == event.TypeTenantStats) != (sub.Kind == detect.KindTenant) {
					return nil, fmt.Errorf("engine: detector %s: %v events cannot be keyed by %v", info.ID, t, sub.Kind)
				}
				e.routes[t][sub.Kind] = true
				e.dispatch[sub.Kind][t] = append(e.dispatch[sub.Kind][t], uint8(i))
			}
		}
	}
	e.tenantStats = e.routes[event.TypeTenantStats][detect.KindTenant]
	e.router = newRouter(e)
	e.shards = make([]*shard, opts.Shards)
	e.reached = make([]atomic.Int64, opts.Shards)
	for i := range e.reached {
		e.reached[i].Store(math.MinInt64)
	}
	for i := range e.shards {
		e.shards[i] = newShard(e, i)
	}
	for _, s := range e.shards {
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			osprio.Background()
			s.run()
		}()
	}
	return e, nil
}

// Shards returns the number of shards.
func (e *Engine) Shards() int { return len(e.shards) }

// Detectors returns the descriptions of the engine's detectors.
func (e *Engine) Detectors() []detect.Info { return e.infos }

// Push routes one event. Events must come from one goroutine.
func (e *Engine) Push(ev *event.Event) { e.router.push(ev) }

// Flush hands every pending batch to the shards, with the tenants' current
// frontiers so due timers fire even on shards that got no events.
func (e *Engine) Flush() { e.router.flush() }

// Close ends the input: every remaining timer fires (no more events can
// come), the shards drain and stop. It returns when all alerts are out.
func (e *Engine) Close() {
	if e.closed {
		return
	}
	e.closed = true
	e.router.finish()
	for _, s := range e.shards {
		close(s.in)
	}
	e.wg.Wait()
}

// Stop ends the engine without ending the input: what was pushed is
// handled, but no window is closed early. A server that stops and will
// resume from its archive uses Stop; the end of a file uses Close.
func (e *Engine) Stop() {
	if e.closed {
		return
	}
	e.closed = true
	e.router.handOff()
	for _, s := range e.shards {
		close(s.in)
	}
	e.wg.Wait()
}

// Tick advances, on a live stream, the frontier of every tenant that has
// been quiet: by the wall time elapsed since its last event arrived (now
// and the events' Arrived stamps are Unix ns), so windows that wait for an
// absence still close when nothing more comes. Replays never call it.
func (e *Engine) Tick(now int64) { e.router.tick(now) }

// Watermark returns the event time every shard has reached: the least,
// over the shards, of the newest frontier each has handled, whatever its
// tenant (math.MinInt64 until every shard has handled one; the end of
// input, which moves frontiers past all time, does not count). Shards run
// at their own pace, so an alert from a slow shard may come after alerts
// from a fast one hours ahead in event time; the watermark waits for the
// slowest. It is per shard, not per tenant: a tenant whose events lag
// another's on the same shard may be behind it (TenantWatermark is not).
// Safe for concurrent use.
func (e *Engine) Watermark() int64 {
	w := int64(math.MaxInt64)
	for i := range e.reached {
		w = min(w, e.reached[i].Load())
	}
	return w
}

// TenantWatermark is Watermark for one tenant: the least, over the shards,
// of the tenant's frontier each has handled (math.MinInt64 until every
// shard has handled one of the tenant's events or frontier markers, which
// every flush hands to every shard). Tenants' clocks are their own: one
// tenant's backlog, hours behind the others, holds back its own
// watermark only. Safe for concurrent use.
func (e *Engine) TenantWatermark(tenant string) int64 {
	m, ok := e.marks.Load(tenant)
	if !ok {
		return math.MinInt64
	}
	w := int64(math.MaxInt64)
	for i := range m.(*tenantMark).reached {
		w = min(w, m.(*tenantMark).reached[i].Load())
	}
	return w
}

// The engine tells an alert manager how far it has got.
var (
	_ alert.Clock = (*Engine)(nil)
	_ alert.Clock = (*LateClock)(nil)
)

// LateClock is the alert.Clock of an engine made after its alert manager,
// as the engine's alerts go to the manager: unknown (math.MinInt64) until
// Set. Safe for concurrent use.
type LateClock struct{ e atomic.Pointer[Engine] }

// Set makes the clock e's.
func (c *LateClock) Set(e *Engine) { c.e.Store(e) }

// Watermark is e.Watermark, once set.
func (c *LateClock) Watermark() int64 {
	if e := c.e.Load(); e != nil {
		return e.Watermark()
	}
	return math.MinInt64
}

// TenantWatermark is e.TenantWatermark, once set.
func (c *LateClock) TenantWatermark(tenant string) int64 {
	if e := c.e.Load(); e != nil {
		return e.TenantWatermark(tenant)
	}
	return math.MinInt64
}

// Stats returns the engine's counters.
func (e *Engine) Stats() Stats {
	st := Stats{
		Received:       e.stats.received.Load(),
		Duplicates:     e.stats.duplicates.Load(),
		Late:           e.stats.late.Load(),
		Future:         e.stats.future.Load(),
		Routed:         e.stats.routed.Load(),
		Timers:         e.stats.timers.Load(),
		Evicted:        e.stats.evicted.Load(),
		DedupShortened: e.router.dedup.early.Load(),
		Alerts:         map[string]int64{},
	}
	for _, c := range alert.Categories() {
		if n := e.stats.alerts[c].Load(); n > 0 {
			st.Alerts[c.String()] = n
		}
	}
	return st
}

// StateSize counts the keyed state held by all shards, by kind.
func (e *Engine) StateSize() [detect.NumKinds]int {
	var out [detect.NumKinds]int
	var mu sync.Mutex
	e.Query(func(v ShardView) {
		mu.Lock()
		defer mu.Unlock()
		for k, n := range v.Len() {
			out[k] += n
		}
	})
	return out
}

// SumDetectorStats adds per-shard detector counters into one per detector.
func SumDetectorStats(per [][]DetectorStats) []DetectorStats {
	var out []DetectorStats
	for _, shard := range per {
		if out == nil {
			out = make([]DetectorStats, len(shard))
		}
		for i, d := range shard {
			o := &out[i]
			o.ID = d.ID
			o.Calls += d.Calls
			o.Alerts += d.Alerts
			o.Shadow += d.Shadow
			o.Off += d.Off
			o.LastAlert = max(o.LastAlert, d.LastAlert)
			o.Sampled += d.Sampled
			o.SampledNs += d.SampledNs
		}
	}
	return out
}

// Query runs f on every shard's goroutine, after what was pushed before it,
// and waits for all of them. It must be called from the router goroutine.
// After Stop or Close there are no shards: f is not called.
func (e *Engine) Query(f func(ShardView)) {
	if e.closed {
		return
	}
	var wg sync.WaitGroup
	wg.Add(len(e.shards))
	e.router.broadcast(func(s *shard) {
		defer wg.Done()
		f(ShardView{s})
	})
	wg.Wait()
}

func (e *Engine) emit(a *alert.Alert) {
	if int(a.Category) < len(e.stats.alerts) && !a.Shadow {
		e.stats.alerts[a.Category].Add(1)
	}
	e.opts.Alerts(a)
}
