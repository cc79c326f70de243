// Package processor runs detection for `vigil serve`. Ingest stores events
// durably first (store.Events); the processor follows the archive in
// sequence order, decodes each event, pushes it through the engine and
// stores the alerts and incidents the engine and the alert manager produce.
//
// Exactly once: the archive is the only input, read in sequence order. After
// a restart the processor restores the engine and the alert manager from
// their last checkpoint and reads the archive after the sequence number it
// covers (without a usable checkpoint, from the start), so the twin and
// every window are exactly as they were; the alerts it derives again have
// the same ids and are upserted, never duplicated. Nothing acknowledged to
// a producer can be lost, and nothing is processed twice in effect (see
// checkpoint.go).
package processor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/engine"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/ingest/httpingest"
	"github.com/vigil-project/vigil/internal/osprio"
	"github.com/vigil-project/vigil/internal/store"
	"github.com/vigil-project/vigil/internal/twin"
)

// Store is what the processor needs from the store.
type Store interface {
	store.Events
	store.Alerts
	store.Incidents
	store.Checkpoints
}

// Options configure a Processor.
type Options struct {
	Store   Store
	Engine  engine.Options // Alerts is set by the processor
	Manager alert.ManagerOptions
	// MaxLag is how many stored events may wait for detection before
	// ingest answers 429. Default 200,000.
	MaxLag int64
	// ReadBatch is how many events one archive read returns. Default 2,000.
	ReadBatch int
	// SnapshotInterval is how often (wall time) the engine's state is
	// checkpointed, and it is at a graceful stop too: a restart resumes
	// from there instead of reading the whole archive. 0: every 5 minutes;
	// negative: never, and a saved checkpoint is not used.
	SnapshotInterval time.Duration
	Logger           *slog.Logger
	// OnAlert is called (from the alert writer) for every alert stored for
	// the first time, shadow ones included (Alert.Shadow): sinks and live
	// updates hang here. May be nil.
	OnAlert func(store.Alert)
	// Erasures holds the erasures of data subjects waiting for detection
	// (erasure.go); nil: only those handed to Forget.
	Erasures Erasures
	// ForgetRecords, when set, removes an erased tenant's subjects from
	// records kept outside detection (the command gate's decision log) and
	// returns how many it removed. It is called, off the follower and
	// retried until it succeeds, for the erasures detection applies from
	// their records (Erasures): those made through Forget are the
	// caller's to pass on.
	ForgetRecords func(ctx context.Context, tenant string, subjects []twin.Subject) (int, error)
}

// Processor follows the archive and runs detection. It implements
// httpingest.Sink.
type Processor struct {
	o       Options
	eng     *engine.Engine
	mgr     *alert.Manager
	wake    chan struct{}
	queries chan query
	alerts  chan pending
	forgets chan forgetReq
	stopped chan struct{} // closed when the follower has returned

	// recent holds the events Accept just stored, decoded, by sequence
	// number: the follower takes them from here instead of reading and
	// decoding them again. It is only a cache: anything missing is read
	// from the archive, which stays the one source of truth.
	recent struct {
		sync.Mutex
		evs map[int64]*event.Event
	}
	sweeps int // follower goroutine only

	stored     atomic.Int64 // highest sequence number stored
	processed  atomic.Int64 // highest sequence number pushed through the engine
	caughtUp   atomic.Bool  // the first read of the archive has finished
	failed     atomic.Int64 // alert writes that failed and were retried
	refused    atomic.Int64 // alerts the store refused as invalid (counted, logged)
	stopping   atomic.Bool  // Run is draining: give up retries sooner
	decodeErr  atomic.Int64 // archived events that no longer decode (should never happen)
	handedOver atomic.Int64 // events the follower took from Accept's cache
	readBack   atomic.Int64 // events the follower read from the archive
	recordsErr atomic.Int64 // ForgetRecords calls that failed
	records    struct {
		mu      sync.Mutex
		queue   []recordsJob
		pending map[string]bool // record id → its records step still to do (false: done)
		wake    chan struct{}
	}
	lost     atomic.Int64 // alerts given up at shutdown: no checkpoint may cover them
	wg       sync.WaitGroup
	ckpt     checkpointer
	erasures erasures
}

// pending is an alert for the writer, or a fence: a checkpoint waiting for
// every alert before it to be stored (fence gets true) or lost (false).
type pending struct {
	a     *alert.Alert
	inc   *alert.Incident
	fence chan<- bool
}

type query struct {
	fn   func(engine.ShardView)
	done chan struct{}
}

var _ httpingest.Sink = (*Processor)(nil)

// New builds a processor; Run starts it.
func New(o Options) (*Processor, error) {
	if o.Store == nil {
		return nil, errors.New("processor: no store")
	}
	if o.MaxLag <= 0 {
		o.MaxLag = 200_000
	}
	if o.ReadBatch <= 0 {
		o.ReadBatch = 2_000
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.SnapshotInterval == 0 {
		o.SnapshotInterval = DefaultSnapshotInterval
	}
	p := &Processor{o: o, wake: make(chan struct{}, 1), queries: make(chan query), alerts: make(chan pending, 4096),
		forgets: make(chan forgetReq), stopped: make(chan struct{})}
	p.records.pending, p.records.wake = map[string]bool{}, make(chan struct{}, 1)
	p.erasures.applied = map[string]int64{}
	p.ckpt.interval = o.SnapshotInterval
	p.recent.evs = map[int64]*event.Event{}
	out := o.Manager.Out
	o.Manager.Out = func(a *alert.Alert, inc *alert.Incident) {
		if out != nil {
			out(a, inc)
		}
		// The manager calls Out with its lock held; the writer copies what
		// it needs from inc before the next alert can change it.
		p.alerts <- pending{a: a, inc: snapshotIncident(inc)}
	}
	mo := o.Manager
	var clock engine.LateClock
	mo.Clock = &clock
	p.mgr = alert.NewManager(mo)
	eo := o.Engine
	eo.Alerts = func(a *alert.Alert) { p.mgr.Add(a) }
	eo.NoDedup = true // the archive refused duplicates already (its idempotency key)
	eng, err := engine.New(eo)
	if err != nil {
		return nil, err
	}
	p.eng = eng
	clock.Set(eng)
	return p, nil
}

func snapshotIncident(inc *alert.Incident) *alert.Incident {
	if inc == nil {
		return nil // a shadow alert joins no incident
	}
	c := *inc
	c.Categories = append([]alert.Category(nil), inc.Categories...)
	return &c
}

// Engine returns the engine (for its detector list and counters).
func (p *Processor) Engine() *engine.Engine { return p.eng }

// Manager returns the alert manager (for its counters).
func (p *Processor) Manager() *alert.Manager { return p.mgr }

// raiseStored raises the count of stored events to seq, never lowers it:
// Accepts and the follower raise it concurrently, and a lag read as 0 must
// mean every stored event was pushed.
func (p *Processor) raiseStored(seq int64) {
	for cur := p.stored.Load(); seq > cur && !p.stored.CompareAndSwap(cur, seq); cur = p.stored.Load() {
	}
}

// Lag is how many stored events wait for detection.
func (p *Processor) Lag() int64 { return max(0, p.stored.Load()-p.processed.Load()) }

// Ready reports whether the processor has caught up with the archive once.
func (p *Processor) Ready() bool { return p.caughtUp.Load() }

// Accept stores a batch durably and wakes the processor. It refuses the
// batch (ErrOverloaded) before storing anything when detection is too far
// behind, so memory and lag stay bounded.
func (p *Processor) Accept(ctx context.Context, batch []httpingest.Accepted) ([]bool, error) {
	if p.Lag() > p.o.MaxLag {
		return nil, httpingest.ErrOverloaded
	}
	evs := make([]store.ArchivedEvent, len(batch))
	now := time.Now().UnixNano()
	for i, b := range batch {
		e := b.Event
		ae := store.ArchivedEvent{Tenant: e.Tenant, Source: e.Source, ID: e.ID, Type: e.Type.String(), Time: e.Time,
			Subject: e.Subject, Raw: b.Raw, Arrived: now}
		if a := e.Actor(); a != nil {
			ae.Account, ae.Device, ae.IP, ae.ClientID = a.Account, a.Device, a.IP, a.ClientID
		}
		if e.Type == event.TypeAccountChange && ae.Subject == "" {
			ae.Subject = e.AccountChange.Vehicle
		}
		evs[i] = ae
	}
	ins, err := p.o.Store.InsertEvents(ctx, store.AllTenants(), evs)
	if err != nil {
		return nil, err
	}
	dups := make([]bool, len(ins))
	var top int64
	p.recent.Lock()
	for i, r := range ins {
		dups[i] = r.Duplicate
		top = max(top, r.Seq)
		if !r.Duplicate && r.Seq > p.processed.Load() && len(p.recent.evs) < maxRecent {
			ev := batch[i].Event
			ev.Arrived = now
			p.recent.evs[r.Seq] = ev
		}
	}
	p.recent.Unlock()
	p.raiseStored(top)
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return dups, nil
}

// Query runs f on every engine shard, in order with the events pushed so
// far, and waits. It is how the API reads the twin. When ctx ends first it
// returns ctx's error while f may still run: the caller must then leave
// alone whatever f writes.
func (p *Processor) Query(ctx context.Context, f func(engine.ShardView)) error {
	q := query{fn: f, done: make(chan struct{})}
	select {
	case p.queries <- q:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-q.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Run follows the archive until ctx ends, then drains: every event read is
// processed, every alert derived is stored. Run returns ctx's error after
// the drain, or the first unrecoverable error.
func (p *Processor) Run(ctx context.Context) error {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		osprio.Background()
		p.writeAlerts()
	}()
	recordsCtx, stopRecords := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRecords()
	if p.o.ForgetRecords != nil {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.forgetRecords(recordsCtx)
		}()
	}
	// The follower on a goroutine of its own: Background wires it to a
	// lowered thread, which must not outlive it in the caller's goroutine.
	var after int64
	var err error
	followed := make(chan struct{})
	go func() {
		defer close(followed)
		osprio.Background()
		start := time.Now()
		after = p.resume(ctx)
		p.applyPending(ctx, true)
		after, err = p.follow(ctx, after, start)
	}()
	<-followed
	close(p.stopped)
	stopRecords()
	final, gen := p.finalCheckpoint(after)
	// Stop, not Close: open windows stay open; a restart restores them (or
	// reads the archive again) and closes them when their time comes.
	p.eng.Stop()
	p.stopping.Store(true)
	close(p.alerts)
	p.wg.Wait()
	p.ckpt.wg.Wait()
	if final != nil {
		p.covered(gen, p.save(after, final))
	}
	// Erasures no checkpoint covers: their records stay, and the next
	// start applies them again.
	p.covered(math.MaxInt64, errors.New("the server stopped before a checkpoint was saved"))
	return err
}

// follow is the engine's router goroutine. It returns the sequence number
// of the last event it pushed.
func (p *Processor) follow(ctx context.Context, after int64, start time.Time) (int64, error) {
	dec := event.NewDecoder(event.Limits{})
	from := after
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	// Once caught up, this process's events come through Accept's cache:
	// the archive is read for a gap in it (a duplicate, a full cache) and,
	// on the tick, for what other nodes stored. Reading on every wake would
	// decode again the events of concurrent Accepts that have stored them
	// but not yet cached them.
	poll := true
	// A gap in the hand-over is usually another Accept of the same group
	// commit that has not cached its events yet: wait for it a moment
	// before reading the archive. Duplicates leave gaps nobody fills.
	gapAt, gapSince := int64(-1), time.Time{}
	gapTimer := time.NewTimer(time.Hour)
	gapTimer.Stop()
	defer gapTimer.Stop()
	for {
		var gapC <-chan time.Time
		p.maybeCheckpoint(after)
		// The fast path: events Accept has just stored, in sequence order.
		if n := p.takeRecent(&after); n > 0 {
			p.handedOver.Add(int64(n))
			p.processed.Store(after)
			if n == p.o.ReadBatch {
				continue
			}
		}
		var evs []store.ArchivedEvent
		var err error
		read := poll || !p.caughtUp.Load()
		if !read && after < p.stored.Load() {
			if gapAt != after {
				gapAt, gapSince = after, time.Now()
			}
			if wait := gapWait - time.Since(gapSince); wait > 0 {
				gapTimer.Reset(wait)
				gapC = gapTimer.C
			} else {
				read = true
			}
		}
		if read {
			evs, err = p.o.Store.ReadEvents(ctx, store.AllTenants(), after, p.o.ReadBatch)
			poll = err != nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return after, ctx.Err()
			}
			p.o.Logger.Error("reading the event archive failed; retrying", "after", after, "err", err)
			select {
			case <-ctx.Done():
				return after, ctx.Err()
			case <-time.After(time.Second):
			}
			continue
		}
		for i := range evs {
			ae := &evs[i]
			if ae.RawErr != nil {
				// A damaged row: detection goes on with the next one.
				p.decodeErr.Add(1)
				p.o.Logger.Error("an archived event cannot be read back; skipped", "seq", ae.Seq, "tenant", ae.Tenant,
					"source", ae.Source, "id", ae.ID, "err", ae.RawErr)
				after = ae.Seq
				continue
			}
			ev, err := dec.Decode(ae.Raw)
			if err != nil {
				// Ingest validated it; a decoder change could reject it now.
				p.decodeErr.Add(1)
				p.o.Logger.Error("an archived event no longer decodes; skipped", "seq", ae.Seq, "tenant", ae.Tenant,
					"source", ae.Source, "id", ae.ID, "err", err)
			} else {
				ev.Arrived = ae.Arrived
				p.eng.Push(ev)
			}
			after = ae.Seq
		}
		if len(evs) > 0 {
			p.readBack.Add(int64(len(evs)))
			p.forget(evs[0].Seq, after)
		}
		if len(evs) > 0 {
			p.processed.Store(after)
			p.raiseStored(after) // events stored before this process started
		}
		if len(evs) == p.o.ReadBatch {
			continue // more to read now
		}
		p.eng.Flush()
		if !p.caughtUp.Load() {
			p.o.Logger.Info("detection caught up with the event archive", "from_seq", from, "events_read", after-from,
				"seq", after, "took", time.Since(start).Round(time.Millisecond))
			p.caughtUpErasures()
			// A tick (quiet tenants' windows close with wall time, as
			// they did before the restart), then every shard past it (a
			// barrier): the alerts raised again have met the manager.
			p.eng.Tick(time.Now().UnixNano())
			p.eng.Query(func(engine.ShardView) {})
			p.mgr.Resume(nil)
			p.ckpt.resumeSeq.Store(math.MaxInt64)
			p.caughtUp.Store(true)
		}
		select {
		case <-ctx.Done():
			return after, ctx.Err()
		case <-p.wake:
		case <-gapC:
		case now := <-tick.C:
			poll = true
			p.eng.Tick(now.UnixNano())
			if now.Sub(p.erasures.lastPoll) >= erasurePoll {
				p.applyPending(ctx, false)
			}
		case q := <-p.queries:
			p.eng.Query(q.fn)
			close(q.done)
		case f := <-p.forgets:
			p.answer(f, p.apply(f.er, f.records))
		}
	}
}

// pollEvery is how often the caught-up follower reads the archive for what
// other nodes stored (a variable for tests).
var pollEvery = 200 * time.Millisecond

// gapWait is how long the follower waits for a gap in Accept's hand-over
// to fill before it reads the archive instead (a variable for tests).
var gapWait = 20 * time.Millisecond

// maxRecent bounds the cache of just-stored events.
const maxRecent = 200_000

// takeRecent pushes the cached events that follow *after, in sequence
// order, up to a batch, and returns how many.
func (p *Processor) takeRecent(after *int64) int {
	n := 0
	p.recent.Lock()
	defer p.recent.Unlock()
	for n < p.o.ReadBatch {
		ev, ok := p.recent.evs[*after+1]
		if !ok {
			break
		}
		if p.filtered(ev) {
			// Of a subject just erased: the archive says whether it is
			// still there (it arrived after the erasure) or not.
			delete(p.recent.evs, *after+1)
			break
		}
		delete(p.recent.evs, *after+1)
		*after++
		p.eng.Push(ev)
		n++
	}
	return n
}

// forget drops cached events the archive read has already delivered.
// Now and then it also sweeps entries Accept cached after the archive had
// delivered them (a race that leaves an entry nobody will take).
func (p *Processor) forget(from, upTo int64) {
	p.recent.Lock()
	defer p.recent.Unlock()
	for seq := from; seq <= upTo; seq++ {
		delete(p.recent.evs, seq)
	}
	if p.sweeps++; p.sweeps%256 == 0 {
		for seq := range p.recent.evs {
			if seq <= upTo {
				delete(p.recent.evs, seq)
			}
		}
	}
}

// writeAlerts stores alerts and their incidents in batches, retrying on
// failure: an alert is never dropped while the process lives, and one lost
// in a crash is derived again on restart.
func (p *Processor) writeAlerts() {
	linger := time.NewTimer(AlertLinger)
	linger.Stop()
	for first := range p.alerts {
		if first.fence != nil {
			first.fence <- p.lost.Load() == 0
			continue
		}
		batch := []pending{first}
		linger.Reset(AlertLinger)
	more:
		for len(batch) < 500 {
			select {
			case x, ok := <-p.alerts:
				if !ok {
					break more
				}
				if x.fence != nil {
					// A checkpoint waits for what came before it.
					p.store(batch)
					batch = nil
					x.fence <- p.lost.Load() == 0
					break more
				}
				batch = append(batch, x)
			case <-linger.C:
				break more
			}
		}
		linger.Stop()
		if len(batch) > 0 {
			p.store(batch)
		}
	}
}

// AlertLinger is how long the alert writer gathers alerts after the first
// before storing them in one call. Alerts come a few at a time; a call
// each cost the writer that ingest shares a commit per alert (calls now
// ride the events' group commits, but each still costs the writer a
// round of statements).
// At 50,000 events/s it cut storing alerts from 6.3 % of the server's CPU
// to 5.0 % (docs/performance.md). The console, the sinks and the command
// gate (which denies a critical alert's vehicles and account once it is
// stored) see an alert this much later at most: little beside ingest's own
// batching, and with the fleet's configuration, where critical alerts are
// frequent, storing them at once cost ingest about 5 % of its rate.
const AlertLinger = 20 * time.Millisecond

func (p *Processor) store(batch []pending) {
	alerts := make([]*alert.Alert, len(batch))
	incs := make([]store.Incident, 0, len(batch))
	for i, x := range batch {
		alerts[i] = x.a
		if !x.a.Shadow {
			incs = append(incs, incidentOf(x.a, x.inc))
		}
	}
	for attempt := 0; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		// One call: written in the next group commit of the writer that
		// ingest shares.
		created, err := p.o.Store.StoreDetections(ctx, store.AllTenants(), alerts, incs)
		cancel()
		if err == nil {
			p.published(alerts, created)
			return
		}
		if errors.Is(err, store.ErrInvalid) || errors.Is(err, store.ErrConflict) {
			// Retrying cannot help: store one by one, so one bad alert
			// or incident does not hold back the others.
			p.storeEach(batch)
			return
		}
		p.failed.Add(1)
		if p.stopping.Load() && attempt >= 5 {
			// Shutting down with the store unreachable: the alerts are
			// derived again from the archive on the next start.
			p.o.Logger.Error("storing alerts failed at shutdown; they will be derived again on the next start", "alerts", len(alerts), "err", err)
			p.lost.Add(int64(len(alerts)))
			return
		}
		wait := min(time.Duration(attempt+1)*time.Second, 30*time.Second)
		p.o.Logger.Error("storing alerts failed; retrying", "alerts", len(alerts), "attempt", attempt+1, "in", wait, "err", err)
		time.Sleep(wait)
	}
}

// storeEach stores a batch alert by alert, counting and logging those the
// store refuses (a bug in a detector: never a reason to stop the others).
func (p *Processor) storeEach(batch []pending) {
	for _, x := range batch {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		created, err := p.o.Store.UpsertAlerts(ctx, store.AllTenants(), []*alert.Alert{x.a})
		if err == nil {
			p.published([]*alert.Alert{x.a}, created)
			// As StoreDetections: an alert stored before keeps its incident.
			if !x.a.Shadow && created[0] {
				_, err = p.o.Store.UpsertIncidents(ctx, store.AllTenants(), []store.Incident{incidentOf(x.a, x.inc)})
			}
		}
		cancel()
		if err != nil {
			p.refused.Add(1)
			p.o.Logger.Error("the store refused an alert or its incident; it is not stored", "alert", x.a.ID,
				"detector", x.a.Detector, "incident", x.a.Incident, "err", err)
		}
	}
}

func (p *Processor) published(alerts []*alert.Alert, created []bool) {
	if p.o.OnAlert == nil {
		return
	}
	for i, c := range created {
		if c {
			p.o.OnAlert(store.Alert{Alert: *alerts[i]})
		}
	}
}

// incidentOf is the store's view of the incident an alert joined.
func incidentOf(a *alert.Alert, inc *alert.Incident) store.Incident {
	si := store.Incident{ID: a.Incident, Tenant: a.Tenant, FirstSeen: a.FirstSeen, LastSeen: a.LastSeen,
		Severity: a.Severity, Categories: []alert.Category{a.Category}, AlertIDs: []string{a.ID}}
	if inc != nil {
		si.FirstSeen, si.LastSeen, si.Severity = min(si.FirstSeen, inc.FirstSeen), max(si.LastSeen, inc.LastSeen), max(si.Severity, inc.Severity)
		si.Categories = inc.Categories
	}
	e := &a.Entities
	add := func(k store.EntityKind, v string) {
		if v != "" {
			si.Entities = append(si.Entities, store.Entity{Kind: k, Value: v})
		}
	}
	add(store.EntityVehicle, e.Vehicle)
	for _, v := range e.Vehicles[:min(len(e.Vehicles), alert.MaxIncidentVehicles)] {
		add(store.EntityVehicle, v)
	}
	add(store.EntityAccount, e.Account)
	add(store.EntityDevice, e.Device)
	add(store.EntityIP, e.IP)
	add(store.EntityClient, e.ClientID)
	add(store.EntityMSISDN, e.MSISDN)
	return si
}

// Stats are the processor's counters for metrics.
type Stats struct {
	Stored, Processed, Lag int64
	AlertWriteRetries      int64
	AlertsRefused          int64
	UndecodableArchived    int64
	ErasureRecordFailures  int64 // erasures whose records outside detection could not be removed
	HandedOver, ReadBack   int64 // events taken from Accept's cache, and read from the archive
}

// Stats returns the processor's counters.
func (p *Processor) Stats() Stats {
	return Stats{Stored: p.stored.Load(), Processed: p.processed.Load(), Lag: p.Lag(),
		AlertWriteRetries: p.failed.Load(), AlertsRefused: p.refused.Load(), UndecodableArchived: p.decodeErr.Load(),
		ErasureRecordFailures: p.recordsErr.Load(), HandedOver: p.handedOver.Load(), ReadBack: p.readBack.Load()}
}

// String describes the processor's position for logs.
func (p *Processor) String() string {
	return fmt.Sprintf("processed %d of %d stored events", p.processed.Load(), p.stored.Load())
}
