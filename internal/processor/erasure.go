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
	er   Erasure
	done chan forgetDone
}

// Forget erases data subjects of a tenant from detection and returns once
// a checkpoint without them is saved (at once when checkpoints are off).
// Call it after the store has erased them; er.ID names the erasure's
// record (Erasures), if any, so it is not applied twice.
func (p *Processor) Forget(ctx context.Context, er Erasure) (ForgetResult, error) {
	req := forgetReq{er: er, done: make(chan forgetDone, 1)}
	select {
	case p.forgets <- req:
	case <-p.stopped:
		return ForgetResult{}, errors.New("detection has stopped: the erasure is applied when the server starts again")
	case <-ctx.Done():
		return ForgetResult{}, ctx.Err()
	}
	select {
	case d := <-req.done:
		return d.res, d.err
	case <-ctx.Done():
		return ForgetResult{}, fmt.Errorf("waiting for the checkpoint after the erasure: %w (the erasure is applied; its record stays until a checkpoint is saved)", ctx.Err())
	}
}

// apply erases er on the follower (the engine's router goroutine).
func (p *Processor) apply(er Erasure) ForgetResult {
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
	if id == "" || p.o.Erasures == nil {
		return
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
		for id, g := range e.applied {
			if g <= gen {
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
		p.apply(er)
		p.queueRecords(er)
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
		p.apply(er)
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

// queueRecords hands an erasure applied from its record to forgetRecords,
// once per record in this process.
func (p *Processor) queueRecords(er Erasure) {
	if p.o.ForgetRecords == nil {
		return
	}
	q := &p.records
	q.mu.Lock()
	defer q.mu.Unlock()
	if er.ID != "" {
		if q.seen[er.ID] {
			return
		}
		q.seen[er.ID] = true
	}
	q.queue = append(q.queue, er)
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
		var er Erasure
		ok := len(q.queue) > 0
		if ok {
			er = q.queue[0]
			q.queue = q.queue[1:]
		}
		q.mu.Unlock()
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-q.wake:
			}
			continue
		}
		n, err := p.o.ForgetRecords(ctx, er.Tenant, er.Subjects)
		if err == nil {
			p.o.Logger.Info("erasure applied to the records kept outside detection", "tenant", er.Tenant, "subjects", len(er.Subjects), "records", n)
			continue
		}
		if ctx.Err() != nil {
			// Stopping: the record was covered by detection's checkpoint,
			// so a restart will not apply it again; say so.
			p.recordsErr.Add(1)
			p.o.Logger.Error("the server stopped before an erasure reached the gate's decision log: erase the subjects again",
				"tenant", er.Tenant, "subjects", len(er.Subjects), "err", err)
			return
		}
		p.recordsErr.Add(1)
		p.o.Logger.Error("an erasure could not remove the subjects' records outside detection (the gate's decision log); retrying",
			"tenant", er.Tenant, "subjects", len(er.Subjects), "in", recordsRetry, "err", err)
		q.mu.Lock()
		q.queue = append(q.queue, er)
		q.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-time.After(recordsRetry):
		}
	}
}
