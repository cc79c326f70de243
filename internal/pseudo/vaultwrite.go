package pseudo

import (
	"context"
	"errors"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/vigil-project/vigil/internal/store"
)

// The vault's writes. A new value's entry must be durable before an event
// naming it is stored, and each durable commit costs a sync of the disk
// (about 2 ms on SQLite with synchronous: full): one commit per value held
// a new fleet to a few hundred new values a second. So Record queues its
// mappings, and one writer at a time takes everything queued by concurrent
// requests and writes it in one transaction (group commit). Each caller
// still returns only once its own entries are durable: the guarantee that
// an archived pseudonym has its vault entry is kept.

type vaultWriter struct {
	mu    sync.Mutex
	queue []*vaultReq
	busy  bool // a drain goroutine runs

	// mark orders "this value's entry is written" (the cache's vaulted
	// flag) against erasures: epoch counts the marks erasures take away,
	// and a write marks its values only when no erasure ran meanwhile,
	// else the cache could claim an entry an erasure just deleted.
	mark  sync.Mutex
	epoch uint64
}

type vaultReq struct {
	maps []Mapping
	done chan error // buffered: the writer never waits for a caller that gave up
}

// vaultTimeout bounds one batch's store calls: the callers' contexts
// differ, and one gone must not cancel the others' writes.
const vaultTimeout = 30 * time.Second

// vaultReaders bounds the reads of entries that may exist already.
const vaultReaders = 8

// submit queues maps and waits until they are durable. A caller that gives
// up (ctx) leaves its mappings queued: written anyway, which is harmless.
func (w *vaultWriter) submit(ctx context.Context, p *Pseudonymiser, maps []Mapping) error {
	r := &vaultReq{maps: maps, done: make(chan error, 1)}
	w.mu.Lock()
	w.queue = append(w.queue, r)
	start := !w.busy
	w.busy = true
	w.mu.Unlock()
	if start {
		go w.drain(p)
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// drain writes what is queued, a batch of requests at a time, until the
// queue is empty.
func (w *vaultWriter) drain(p *Pseudonymiser) {
	for {
		w.mu.Lock()
		n, total := 0, 0
		for n < len(w.queue) && (n == 0 || total+len(w.queue[n].maps) <= store.MaxConfigBatch) {
			total += len(w.queue[n].maps)
			n++
		}
		if n == 0 {
			w.busy = false
			w.mu.Unlock()
			return
		}
		reqs := make([]*vaultReq, n)
		copy(reqs, w.queue)
		w.queue = append(w.queue[:0], w.queue[n:]...)
		w.mu.Unlock()
		p.writeRequests(reqs)
	}
}

// writeRequests writes the requests' mappings together; when that fails,
// each request on its own, so one request's fault is not the others'.
func (p *Pseudonymiser) writeRequests(reqs []*vaultReq) {
	ctx, cancel := context.WithTimeout(context.Background(), vaultTimeout)
	defer cancel()
	var all []Mapping
	for _, r := range reqs {
		all = append(all, r.maps...)
	}
	err := p.writeMappings(ctx, all)
	if err != nil && len(reqs) > 1 {
		for _, r := range reqs {
			r.done <- p.writeMappings(ctx, r.maps)
		}
		return
	}
	for _, r := range reqs {
		r.done <- err
	}
}

// writeMappings makes the entries of maps durable, in transactions of up
// to store.MaxConfigBatch entries, and marks them written in the cache.
func (p *Pseudonymiser) writeMappings(ctx context.Context, maps []Mapping) error {
	w := &p.vw
	w.mark.Lock()
	epoch := w.epoch
	w.mark.Unlock()
	// One entry per pseudonym: two originals with one pseudonym (a
	// collision) keep the first.
	type pkey struct {
		tenant    string
		kind      Kind
		pseudonym string
	}
	first := make(map[pkey]string, len(maps))
	uniq := make([]Mapping, 0, len(maps))
	var later []Mapping
	for _, m := range maps {
		k := pkey{m.Tenant, m.Kind, m.Pseudonym}
		if o, ok := first[k]; ok {
			if o != m.Original {
				later = append(later, m)
			}
			continue
		}
		first[k] = m.Original
		uniq = append(uniq, m)
	}
	for len(uniq) > 0 {
		n := min(len(uniq), store.MaxConfigBatch)
		if err := p.writeChunk(ctx, uniq[:n]); err != nil {
			return err
		}
		uniq = uniq[n:]
	}
	// The colliding ones now find their pseudonym's entry, and are counted.
	for _, m := range later {
		if err := p.record(ctx, p.o.Vault, m); err != nil {
			return err
		}
	}
	w.mark.Lock()
	defer w.mark.Unlock()
	if w.epoch == epoch {
		for _, m := range maps {
			p.cache.setVaulted(cacheKey{tenant: m.Tenant, kind: m.Kind, value: m.Original}, true)
		}
	}
	return nil
}

// writeChunk writes entries for distinct pseudonyms in one transaction.
// When some exist already (written before a restart, by another node, or
// a collision) it reads them all, checks those found and writes the rest.
func (p *Pseudonymiser) writeChunk(ctx context.Context, maps []Mapping) error {
	v := p.o.Vault
	put := func(maps []Mapping) error {
		changes := make([]store.ConfigChange, len(maps))
		for i, m := range maps {
			t, err := p.tenant(m.Tenant)
			if err != nil {
				return err
			}
			sealed, err := t.seal(m.Tenant, m.Kind, m.Pseudonym, m.Original)
			if err != nil {
				return err
			}
			changes[i] = store.ConfigChange{Tenant: m.Tenant, Key: VaultKey(m.Kind, m.Pseudonym), Value: sealed, IfVersion: store.MustNotExist}
		}
		_, err := v.PutConfigs(ctx, store.AllTenants(), changes)
		if err == nil {
			p.m.vaultPut.Add(int64(len(maps)))
		}
		return err
	}
	err := put(maps)
	if !errors.Is(err, store.ErrConflict) {
		return err
	}
	missing := make([]bool, len(maps))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(vaultReaders)
	for i, m := range maps {
		g.Go(func() error {
			e, err := v.GetConfig(gctx, store.AllTenants(), m.Tenant, VaultKey(m.Kind, m.Pseudonym))
			switch {
			case errors.Is(err, store.ErrNotFound):
				missing[i] = true
				return nil
			case err != nil:
				return err
			}
			p.m.vaultFound.Add(1)
			return p.check(m, e.Value)
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	var rest []Mapping
	for i, m := range maps {
		if missing[i] {
			rest = append(rest, m)
		}
	}
	if len(rest) == 0 {
		return nil
	}
	err = put(rest)
	if !errors.Is(err, store.ErrConflict) {
		return err
	}
	// Written meanwhile by another writer: one by one.
	for _, m := range rest {
		if err := p.record(ctx, v, m); err != nil {
			return err
		}
	}
	return nil
}

// unmark forgets that the value ck's entry is written (an erasure deletes
// it), and makes writes in flight not mark it again.
func (w *vaultWriter) unmark(c *cache, ck cacheKey) {
	w.mark.Lock()
	defer w.mark.Unlock()
	w.epoch++
	c.setVaulted(ck, false)
}
