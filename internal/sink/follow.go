package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/store"
)

// Store is what sinks need from the store: the alerts in delivery order and
// a place for their cursors (platform configuration).
type Store interface {
	AlertsAfter(ctx context.Context, scope store.Scope, afterSeq int64, limit int) ([]store.Alert, error)
	LatestAlertSeq(ctx context.Context, scope store.Scope) (int64, error)
	GetConfig(ctx context.Context, scope store.Scope, tenant, key string) (store.ConfigEntry, error)
	PutConfig(ctx context.Context, scope store.Scope, c store.ConfigChange) (store.ConfigEntry, error)
}

// CursorKey is the key of a sink's cursor in the store's configuration
// (platform tenant ""): the decimal sequence number of the last alert it
// handled. Deleting it makes the sink start after the newest alert.
func CursorKey(name string) string { return "sink-cursor/" + name }

// SetOptions configure a Set.
type SetOptions struct {
	Store  Store // nil only for a set that never runs (check-config)
	Logger *slog.Logger
	// Drain bounds the delivery of what is stored once Run's context has
	// ended. Default 10s.
	Drain time.Duration
	// Poll is how often an idle worker reads the store without being woken
	// (alerts stored by another node) and the lag is refreshed. Default 1s.
	Poll time.Duration
	// CursorEvery saves a cursor after this many alerts even within the
	// second: it bounds what a crash delivers again. Default 1,000.
	CursorEvery int
	Sinks       []*Sink
}

// Set is every configured sink. The processor's OnAlert calls Wake; Run
// runs the workers.
type Set struct {
	o      SetOptions
	sinks  []*Sink
	latest atomic.Int64 // the newest alert number seen
}

// cursorInterval is the most a moved cursor waits to be saved.
const cursorInterval = time.Second

// readBatch is how many alerts a worker reads from the store at a time.
const readBatch = 256

// NewSet gathers sinks.
func NewSet(o SetOptions) *Set {
	if o.Drain <= 0 {
		o.Drain = 10 * time.Second
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	if o.CursorEvery <= 0 {
		o.CursorEvery = 1000
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Set{o: o, sinks: o.Sinks}
	for _, k := range s.sinks {
		k.latest = &s.latest
	}
	return s
}

// Len is the number of sinks.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.sinks)
}

// Wake tells every sink that an alert was stored: each reads the store now
// rather than at its next poll. It never blocks.
func (s *Set) Wake() {
	if s == nil {
		return
	}
	for _, k := range s.sinks {
		select {
		case k.wake <- struct{}{}:
		default:
		}
	}
}

// seen raises the newest alert number known.
func (s *Set) seen(seq int64) {
	for {
		cur := s.latest.Load()
		if seq <= cur || s.latest.CompareAndSwap(cur, seq) {
			return
		}
	}
}

// Run follows the store until ctx ends, then lets every sink deliver what
// is stored for at most the drain time, saves the cursors, closes the
// targets and returns. What is not delivered by then stays in the store.
func (s *Set) Run(ctx context.Context) error {
	if s.Len() == 0 {
		<-ctx.Done()
		return nil
	}
	if s.o.Store == nil {
		return errors.New("sinks: no store to follow")
	}
	drain, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	go func() {
		select {
		case <-ctx.Done():
		case <-drain.Done():
			return
		}
		t := time.NewTimer(s.o.Drain)
		defer t.Stop()
		select {
		case <-t.C:
			cancel()
		case <-drain.Done():
		}
	}()
	var workers sync.WaitGroup
	for _, k := range s.sinks {
		workers.Add(1)
		go func() {
			defer workers.Done()
			k.follow(ctx, drain, s)
		}()
	}
	done := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		s.watch(drain, done)
	}()
	workers.Wait()
	close(done)
	<-watched
	var errs []error
	for _, k := range s.sinks {
		if err := k.target.Close(); err != nil {
			errs = append(errs, fmt.Errorf("sink %s: close: %w", k.cfg.Name, err))
		}
		st := k.Status()
		s.o.Logger.Info("sink stopped", "sink", k.cfg.Name, "delivered", st.Delivered, "dropped", st.Dropped,
			"cursor", st.Cursor, "left_in_store", st.Lag)
	}
	if len(errs) > 0 {
		s.o.Logger.Warn("closing sinks", "err", errors.Join(errs...))
	}
	return nil
}

// watch refreshes the newest alert number every poll until done, so the
// lag shows while a worker is held up by a destination that is down.
func (s *Set) watch(ctx context.Context, done <-chan struct{}) {
	t := time.NewTicker(s.o.Poll)
	defer t.Stop()
	for {
		// A failure shows in the workers' own reads; the lag waits.
		if n, err := s.o.Store.LatestAlertSeq(ctx, store.AllTenants()); err == nil {
			s.seen(n)
		}
		select {
		case <-done:
			return
		case <-t.C:
		}
	}
}

// Close closes every target of a set that never ran.
func (s *Set) Close() error {
	var errs []error
	for _, k := range s.sinks {
		errs = append(errs, k.Close())
	}
	return errors.Join(errs...)
}

// Status returns every sink's status, in configuration order.
func (s *Set) Status() []Status {
	if s == nil {
		return nil
	}
	out := make([]Status, len(s.sinks))
	for i, k := range s.sinks {
		out[i] = k.Status()
	}
	return out
}

// follow is a sink's worker: it reads the alerts after its cursor, delivers
// those its filter admits and moves the cursor, until ctx ends and it has
// handled everything stored, or drain ends.
func (k *Sink) follow(ctx, drain context.Context, set *Set) {
	st := set.o.Store
	cur, ok := k.start(drain, set)
	if !ok {
		return
	}
	saved, savedAt := cur, time.Now()
	var retryAt time.Time // after a failed save: not before (one try, one log line a second)
	save := func(c context.Context) {
		if err := k.saveCursor(c, st, cur, 0); err != nil {
			retryAt = time.Now().Add(cursorInterval)
			k.storeError(err)
			k.log.Error("saving the sink's cursor failed; after a crash, the alerts since the last save are delivered again",
				"cursor", cur, "saved", saved, "err", err)
			return
		}
		saved, savedAt = cur, time.Now()
	}
	due := func() bool {
		now := time.Now()
		return cur != saved && !now.Before(retryAt) && (cur-saved >= int64(set.o.CursorEvery) || now.Sub(savedAt) >= cursorInterval)
	}
	cut := false // drain ended with alerts not handled
	for !cut {
		batch, err := st.AlertsAfter(drain, store.AllTenants(), cur, readBatch)
		if err != nil {
			if drain.Err() != nil {
				cut = true
				break
			}
			err = fmt.Errorf("reading the alerts after %d from the store: %w", cur, err)
			k.storeError(err)
			k.log.Error("following the store failed; retrying", "err", err, "in", set.o.Poll)
			if sleep(drain, set.o.Poll) != nil {
				cut = true
			}
			continue
		}
		for i := range batch {
			a := &batch[i]
			set.seen(a.Seq)
			if k.cfg.Filter.Admits(&a.Alert) {
				m := &Message{Alert: &a.Alert, JSON: alert.AppendJSON(make([]byte, 0, 1024), &a.Alert)}
				if !k.deliver(drain, m) {
					cut = true
					break
				}
			} else {
				k.mu.Lock()
				k.st.filtered++
				k.mu.Unlock()
			}
			cur = a.Seq
			k.mu.Lock()
			k.st.cursor = cur
			k.mu.Unlock()
			if due() {
				save(drain)
			}
		}
		if cut || len(batch) == readBatch {
			continue
		}
		if ctx.Err() != nil {
			break // shutting down, and everything stored is handled
		}
		if due() {
			save(drain)
		}
		t := time.NewTimer(set.o.Poll)
		select {
		case <-k.wake:
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	if cur != saved {
		// The drain may have ended: the last save gets its own few seconds.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		save(sctx)
		cancel()
	}
	if cut {
		if n := set.latest.Load() - cur; n > 0 {
			k.log.Warn("the shutdown deadline passed: the alerts not yet delivered stay in the store and go out after the restart",
				"cursor", cur, "left", n)
		}
	}
}

// Prime reads every sink's cursor now; a new sink's is set to the newest
// alert and saved. The server calls it before detection starts, so a new
// sink gets every alert stored from this start on. Run does the same for
// a sink not primed.
func (s *Set) Prime(ctx context.Context) error {
	for _, k := range s.sinks {
		if s.o.Store == nil {
			return errors.New("sinks: no store to follow")
		}
		cur, err := k.loadCursor(ctx, s.o.Store)
		if err != nil {
			return fmt.Errorf("sink %s: %w", k.cfg.Name, err)
		}
		k.started(s, cur)
	}
	return nil
}

func (k *Sink) started(set *Set, cur int64) {
	set.seen(cur)
	k.mu.Lock()
	k.st.started, k.st.cursor = true, cur
	k.mu.Unlock()
}

// start returns the sink's cursor, retrying while the store fails, and
// false when drain ends first.
func (k *Sink) start(drain context.Context, set *Set) (int64, bool) {
	k.mu.Lock()
	primed, cur := k.st.started, k.st.cursor
	k.mu.Unlock()
	if primed {
		return cur, true
	}
	for {
		cur, err := k.loadCursor(drain, set.o.Store)
		if err == nil {
			k.started(set, cur)
			return cur, true
		}
		if drain.Err() != nil {
			return 0, false
		}
		k.storeError(err)
		k.log.Error("reading the sink's cursor failed; retrying", "err", err, "in", set.o.Poll)
		if sleep(drain, set.o.Poll) != nil {
			return 0, false
		}
	}
}

// loadCursor reads the saved cursor. A sink without one starts after the
// newest alert, and saves that at once: a crash before its first delivery
// must not move its start on.
func (k *Sink) loadCursor(ctx context.Context, st Store) (int64, error) {
	latest, err := st.LatestAlertSeq(ctx, store.AllTenants())
	if err != nil {
		return 0, fmt.Errorf("reading the newest alert's number: %w", err)
	}
	key := CursorKey(k.cfg.Name)
	e, err := st.GetConfig(ctx, store.AllTenants(), "", key)
	if errors.Is(err, store.ErrNotFound) {
		err = k.saveCursor(ctx, st, latest, store.MustNotExist)
		if err == nil {
			k.log.Info("no saved cursor: a new sink starts after the newest alert; earlier alerts are not sent to it",
				"cursor", latest, "key", key)
			return latest, nil
		}
		if errors.Is(err, store.ErrConflict) { // another node saved one first: take it
			e, err = st.GetConfig(ctx, store.AllTenants(), "", key)
		}
	}
	if err != nil {
		return 0, fmt.Errorf("reading the cursor %s: %w", key, err)
	}
	cur, err := strconv.ParseInt(string(e.Value), 10, 64)
	if err != nil || cur < 0 {
		v := string(e.Value)
		if len(v) > 40 {
			v = v[:40] + "…"
		}
		return 0, fmt.Errorf("the saved cursor %s is %q, not a sequence number: set it to the number of the last alert delivered, or delete it to start after the newest alert", key, v)
	}
	if cur > latest {
		// Only a replaced store, or a hand edit, gets here: waiting for
		// numbers to pass it would skip every alert until then.
		k.log.Error("the saved cursor is past the newest alert (was the store replaced?): starting after the newest alert",
			"cursor", cur, "latest", latest)
		if err := k.saveCursor(ctx, st, latest, 0); err != nil {
			return 0, err
		}
		return latest, nil
	}
	k.log.Info("following the store", "cursor", cur, "lag", latest-cur)
	return cur, nil
}

func (k *Sink) saveCursor(ctx context.Context, st Store, cur, ifVersion int64) error {
	_, err := st.PutConfig(ctx, store.AllTenants(), store.ConfigChange{Key: CursorKey(k.cfg.Name),
		Value: strconv.AppendInt(nil, cur, 10), IfVersion: ifVersion})
	if err != nil {
		return fmt.Errorf("saving the cursor %s = %d: %w", CursorKey(k.cfg.Name), cur, err)
	}
	return nil
}
