package processor

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/engine"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/twin"
)

// Erasure of data subjects (docs/privacy.md). The store erases the archive;
// the processor erases what detection derived: the engine's state, the
// alert manager's memory and the events it holds in memory, in order with
// the events pushed before. Then it writes a checkpoint at once, so the
// subject's state does not survive in the last one.
//
// An erasure is first written down (Erasures, the store's configuration
// table), after the store has erased the archive and before the engine is
// reached; the processor removes the record once a checkpoint saved after
// applying it no longer holds the subject. A server that stops in between
// (a crash, a checkpoint that cannot be saved) applies the record again
// when it starts: after restoring the checkpoint, and again once it has
// read the archive after it (an event the archive keeps that names the
// subject only inside its JSON, which the store's erasure cannot find,
// would otherwise bring it back). An erasure made while the server runs
// but not through it (vigil privacy erase) is found by polling.

// Erasure is one erasure's subjects in one tenant.
type Erasure struct {
	ID       string // the record's id; "" when there is none
	Tenant   string
	Subjects []twin.Subject
}

// Erasures is where erasures wait for detection. Pending returns those
// not yet done (and, with an error, those it can read when some cannot);
// Done removes them.
type Erasures interface {
	Pending(ctx context.Context) ([]Erasure, error)
	Done(ctx context.Context, ids []string) error
}

// ForgetResult is what an erasure removed from detection.
type ForgetResult struct {
	engine.ForgetStats
	Manager int // the alert manager's fingerprints and incident keys
	Cached  int // events waiting in memory, dropped (the archive decides)
	// Checkpoint: a checkpoint without the subjects was saved. False when
	// checkpoints are off: a restart then reads the archive, which no
	// longer holds them.
	Checkpoint bool
	// Records is what Options.ForgetRecords removed (the gate's decision
	// log lines naming the subjects).
	Records int
}

// erasurePoll is how often the follower looks for erasures made outside
// this server.
const erasurePoll = 10 * time.Second

// cacheFilterFor is how long, after an erasure, events of its subjects
// are not taken from the cache of just-stored events but read from the
// archive: an Accept whose insert committed just before the store erased
// the subject may cache its events after the erasure dropped the others.
const cacheFilterFor = time.Minute

type erasures struct {
	mu      sync.Mutex
	gen     int64            // erasures applied (follower writes, savers read)
	applied map[string]int64 // record id → gen it was applied at; MaxInt64: wait for the catch-up
	saved   int64            // the highest gen a saved checkpoint covers
	waiters []erasureWaiter

	// Follower only.
	startup  []Erasure // pending at start: applied again once caught up
	filters  []cacheFilter
	lastPoll time.Time
}

type erasureWaiter struct {
	gen  int64
	res  ForgetResult
	done chan<- forgetDone
}

type forgetDone struct {
	res ForgetResult
	err error
}

type cacheFilter struct {
	er    Erasure
	until time.Time
}

type forgetReq struct {
	er      Erasure
	done    chan forgetDone
	records chan recordsResult // ForgetRecords' first outcome for er
}

// recordsJob is an erasure waiting for ForgetRecords; done, when set,
// receives its first outcome (Forget waits for it).
type recordsJob struct {
	er   Erasure
	done chan recordsResult
}

type recordsResult struct {
	n   int
	err error
}

// Forget erases data subjects of a tenant from detection and returns once
// a checkpoint without them is saved (at once when checkpoints are off).
// Call it after the store has erased them; er.ID names the erasure's
// record (Erasures), if any, so it is not applied twice.
func (p *Processor) Forget(ctx context.Context, er Erasure) (ForgetResult, error) {
	req := forgetReq{er: er, done: make(chan forgetDone, 1), records: make(chan recordsResult, 1)}
	select {
	case p.forgets <- req:
	case <-p.stopped:
		return ForgetResult{}, errors.New("detection has stopped: the erasure is applied when the server starts again")
	case <-ctx.Done():
		return ForgetResult{}, ctx.Err()
	}
	var d forgetDone
	select {
	case d = <-req.done:
	case <-ctx.Done():
		return ForgetResult{}, fmt.Errorf("waiting for the checkpoint after the erasure: %w (the erasure is applied; its record stays until a checkpoint is saved)", ctx.Err())
	}
	if d.err != nil || p.o.ForgetRecords == nil {
		return d.res, d.err
	}
	select {
	case r := <-req.records:
		if r.err != nil {
			return d.res, fmt.Errorf("the erasure reached detection, but the gate's decision log could not be rewritten "+
				"(retried in the background; the record stays until it is): %w", r.err)
		}
		d.res.Records = r.n
		return d.res, nil
	case <-ctx.Done():
		return d.res, fmt.Errorf("waiting for the gate's decision log to be rewritten: %w (it goes on; the record stays until it is done)", ctx.Err())
	}
}

// apply erases er on the follower (the engine's router goroutine).
func (p *Processor) apply(er Erasure, records chan recordsResult) ForgetResult {
	var res ForgetResult
	res.ForgetStats = p.eng.Forget(er.Tenant, er.Subjects...)
	for _, s := range er.Subjects {
		// One call per subject: Entities holds one value per kind.
		var ent alert.Entities
		switch s.Kind {
		case twin.SubjectVehicle:
			ent.Vehicle = s.Value
		case twin.SubjectAccount:
			ent.Account = s.Value
		case twin.SubjectDevice:
			ent.Device = s.Value
		case twin.SubjectIP:
			ent.IP = s.Value
		case twin.SubjectClient:
			ent.ClientID = s.Value
		case twin.SubjectPhone:
			ent.MSISDN = s.Value
		}
		res.Manager += p.mgr.Forget(er.Tenant, ent)
	}
	res.Cached = p.dropCached(er)
	p.queueRecords(er, records)
	e := &p.erasures
	e.filters = append(e.filters, cacheFilter{er: er, until: time.Now().Add(cacheFilterFor)})
	e.mu.Lock()
	e.gen++
	if er.ID != "" {
		e.applied[er.ID] = e.gen
	}
	e.mu.Unlock()
	p.ckpt.force.Store(true)
	p.o.Logger.Info("erasure applied to detection", "tenant", er.Tenant, "subjects", len(er.Subjects), "keys", res.Keys,
		"references", res.References, "timers", res.Timers, "cached_events", res.Cached)
	return res
}

// answer replies to an erasure request once a checkpoint covers it, or at
// once when none will be written.
func (p *Processor) answer(req forgetReq, res ForgetResult) {
	c := &p.ckpt
	switch {
	case c.interval <= 0:
		// A saved checkpoint is never used: a restart reads the archive.
		p.erasureDone(req.er.ID)
		req.done <- forgetDone{res: res}
	case c.off:
		req.done <- forgetDone{res: res, err: errors.New("the erasure reached detection, but engine checkpoints cannot be written (see the log): " +
			"the last one saved may still hold the subject; the erasure is applied again when the server starts")}
	default:
		e := &p.erasures
		e.mu.Lock()
		e.waiters = append(e.waiters, erasureWaiter{gen: e.gen, res: res, done: req.done})
		e.mu.Unlock()
	}
}

// erasureDone removes a record now, for servers without checkpoints.
func (p *Processor) erasureDone(id string) {
	if id == "" || p.o.Erasures == nil || p.recordsPending(id) {
		return // recordsDone removes it
	}
	e := &p.erasures
	e.mu.Lock()
	delete(e.applied, id)
	e.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.o.Erasures.Done(ctx, []string{id}); err != nil {
		p.o.Logger.Warn("removing an applied erasure's record failed; it is applied again later (harmless)", "err", err)
	}
}

// covered is called when a checkpoint taken at erasure generation gen was
// saved (err nil) or could not be: it answers the waiters it covers and,
// once saved, removes the records it covers.
func (p *Processor) covered(gen int64, err error) {
	e := &p.erasures
	e.mu.Lock()
	var ids []string
	if err == nil {
		e.saved = max(e.saved, gen)
		for id, g := range e.applied {
			// A record stays while its erasure has not reached the
			// records outside detection: a restart applies it again.
			if g <= gen && !p.recordsPending(id) {
				ids = append(ids, id)
				delete(e.applied, id)
			}
		}
	}
	var ready []erasureWaiter
	e.waiters = slices.DeleteFunc(e.waiters, func(w erasureWaiter) bool {
		if w.gen <= gen {
			ready = append(ready, w)
			return true
		}
		return false
	})
	e.mu.Unlock()
	// The records first: an erasure answered is one whose record is gone.
	if len(ids) > 0 && p.o.Erasures != nil {
		slices.Sort(ids)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := p.o.Erasures.Done(ctx, ids); err != nil {
			p.o.Logger.Warn("removing applied erasures' records failed; they are applied again later (harmless)", "records", len(ids), "err", err)
		}
	}
	for _, w := range ready {
		if err != nil {
			w.done <- forgetDone{res: w.res, err: fmt.Errorf("the erasure reached detection, but the checkpoint after it could not be saved "+
				"(the erasure is applied again when the server starts): %w", err)}
			continue
		}
		w.res.Checkpoint = true
		w.done <- forgetDone{res: w.res}
	}
}

// applyPending applies the recorded erasures not applied yet. At start
// (startup set) it keeps them to apply again once caught up.
func (p *Processor) applyPending(ctx context.Context, startup bool) {
	if p.o.Erasures == nil {
		return
	}
	e := &p.erasures
	e.lastPoll = time.Now()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// What reads is applied even when some records do not.
	list, err := p.o.Erasures.Pending(ctx)
	if err != nil && ctx.Err() == nil {
		p.o.Logger.Error("reading recorded erasures failed; retrying later", "err", err)
	}
	for _, er := range list {
		e.mu.Lock()
		_, done := e.applied[er.ID]
		e.mu.Unlock()
		if done {
			continue
		}
		p.apply(er, nil)
		if startup {
			e.startup = append(e.startup, er)
			e.mu.Lock()
			e.applied[er.ID] = math.MaxInt64 // not done before the catch-up applies it again
			e.mu.Unlock()
		}
	}
	if p.ckpt.interval <= 0 && !startup {
		// No checkpoint will cover them: a restart reads the archive.
		for _, er := range list {
			p.erasureDone(er.ID)
		}
	}
}

// caughtUpErasures applies the erasures found at start again, once the
// archive after the checkpoint has been read.
func (p *Processor) caughtUpErasures() {
	e := &p.erasures
	for _, er := range e.startup {
		p.apply(er, nil)
		if p.ckpt.interval <= 0 {
			p.erasureDone(er.ID)
		}
	}
	e.startup = nil
}

// dropCached drops the cached events that name er's subjects: the archive
// no longer holds them (or, if one arrived after the erasure, still does,
// and the follower reads it there).
func (p *Processor) dropCached(er Erasure) int {
	p.recent.Lock()
	defer p.recent.Unlock()
	n := 0
	for seq, ev := range p.recent.evs {
		if names(ev, er) {
			delete(p.recent.evs, seq)
			n++
		}
	}
	return n
}

// filtered reports whether a cached event names the subject of a recent
// erasure: the follower then reads it from the archive instead.
func (p *Processor) filtered(ev *event.Event) bool {
	e := &p.erasures
	if len(e.filters) == 0 {
		return false
	}
	now := time.Now()
	e.filters = slices.DeleteFunc(e.filters, func(f cacheFilter) bool { return now.After(f.until) })
	for _, f := range e.filters {
		if names(ev, f.er) {
			return true
		}
	}
	return false
}

// names reports whether ev, of er's tenant, names one of its subjects.
func names(ev *event.Event, er Erasure) bool {
	if ev.Tenant != er.Tenant {
		return false
	}
	for _, s := range er.Subjects {
		if s.Value != "" && eventNames(ev, s) {
			return true
		}
	}
	return false
}

func eventNames(ev *event.Event, s twin.Subject) bool {
	v := s.Value
	a := ev.Actor()
	switch s.Kind {
	case twin.SubjectVehicle:
		if ev.Subject == v {
			return true
		}
		switch {
		case ev.AccountChange != nil:
			return ev.AccountChange.Vehicle == v
		case ev.APIAccess != nil:
			return slices.Contains(ev.APIAccess.Vehicles, v)
		case ev.Telemetry != nil:
			return ev.Telemetry.Signals.VIN == v
		}
	case twin.SubjectAccount:
		if a != nil && a.Account == v {
			return true
		}
		switch {
		case ev.AccountChange != nil:
			return ev.AccountChange.Account == v
		case ev.Login != nil:
			return ev.Login.UsernameHash == v
		}
	case twin.SubjectDevice:
		return a != nil && a.Device == v
	case twin.SubjectIP:
		if a != nil && a.IP == v {
			return true
		}
		return ev.Telemetry != nil && ev.Telemetry.Device != nil && ev.Telemetry.Device.IP == v
	case twin.SubjectClient:
		return a != nil && a.ClientID == v
	case twin.SubjectPhone:
		return ev.SMS != nil && (ev.SMS.Originator == v || ev.SMS.Recipient == v)
	}
	return false
}

// recordsRetry is how long a failed ForgetRecords waits before the next try.
var recordsRetry = 30 * time.Second

// queueRecords hands an applied erasure to forgetRecords, once per record
// in this process; the record is kept until it has succeeded.
func (p *Processor) queueRecords(er Erasure, done chan recordsResult) {
	if p.o.ForgetRecords == nil {
		return
	}
	q := &p.records
	q.mu.Lock()
	defer q.mu.Unlock()
	if er.ID != "" {
		if _, seen := q.pending[er.ID]; seen {
			if done != nil {
				done <- recordsResult{} // already queued or done
			}
			return
		}
		q.pending[er.ID] = true
	}
	q.queue = append(q.queue, recordsJob{er: er, done: done})
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// forgetRecords runs ForgetRecords for the queued erasures until ctx ends,
// off the follower (a rewrite of the gate's decision log reads every file),
// retrying each failure until it succeeds.
func (p *Processor) forgetRecords(ctx context.Context) {
	q := &p.records
	for {
		q.mu.Lock()
		var job recordsJob
		ok := len(q.queue) > 0
		if ok {
			job = q.queue[0]
			q.queue = q.queue[1:]
		}
		q.mu.Unlock()
		er := job.er
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-q.wake:
			}
			continue
		}
		n, err := p.o.ForgetRecords(ctx, er.Tenant, er.Subjects)
		if job.done != nil {
			job.done <- recordsResult{n: n, err: err} // buffered; the first outcome only
			job.done = nil
		}
		if err == nil {
			p.recordsDone(ctx, er.ID)
			p.o.Logger.Info("erasure applied to the records kept outside detection", "tenant", er.Tenant, "subjects", len(er.Subjects), "records", n)
			continue
		}
		if ctx.Err() != nil {
			// Stopping: their records stay, and the next start applies
			// them again.
			q.mu.Lock()
			left := len(q.queue) + 1
			q.mu.Unlock()
			p.o.Logger.Warn("stopping before erasures reached the gate's decision log; the next start applies them again",
				"erasures", left, "err", err)
			return
		}
		p.recordsErr.Add(1)
		p.o.Logger.Error("an erasure could not remove the subjects' records outside detection (the gate's decision log); retrying",
			"tenant", er.Tenant, "subjects", len(er.Subjects), "in", recordsRetry, "err", err)
		q.mu.Lock()
		q.queue = append(q.queue, job)
		q.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-time.After(recordsRetry):
		}
	}
}

// recordsDone notes that an erasure reached the records outside detection
// and removes its record if detection no longer needs it either (a saved
// checkpoint covers it, or none is ever used); otherwise the next
// checkpoint does.
func (p *Processor) recordsDone(ctx context.Context, id string) {
	if id == "" {
		return
	}
	q := &p.records
	q.mu.Lock()
	q.pending[id] = false
	q.mu.Unlock()
	e := &p.erasures
	e.mu.Lock()
	g, applied := e.applied[id]
	ready := applied && (p.ckpt.interval <= 0 || g <= e.saved)
	if ready {
		delete(e.applied, id)
	}
	e.mu.Unlock()
	if ready && p.o.Erasures != nil {
		if err := p.o.Erasures.Done(ctx, []string{id}); err != nil {
			p.o.Logger.Warn("removing an applied erasure's record failed; it is applied again later (harmless)", "err", err)
		}
	}
}

// recordsPending reports whether the erasure of record id has yet to reach
// the records outside detection.
func (p *Processor) recordsPending(id string) bool {
	q := &p.records
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.pending[id]
}
