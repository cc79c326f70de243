package engine

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/snapshot"
	"github.com/vigil-project/vigil/internal/twin"
)

// Snapshots. Snapshot is taken between two pushes on the router goroutine:
// the router hands every pending batch (and the tenants' frontiers) to the
// shards, and each shard writes its state once it has handled everything
// before — so the router and every shard are at the same input position.
// The state is everything that decides future output: the router's clocks,
// dedup set and hash keys; per shard every tenant's twins and principals,
// event-time timers, TTL sweep position and tenant start, each detector's
// shard-local state (detect.Snapshotter) and counters. Restore loads it into
// a new engine with the same detectors, rules and settings (a fingerprint of
// them is recorded) and the same number of shards: keys stay on the shard
// that holds their state because the routing key is restored too.

// snapshotMagic and snapshotVersion: raise the version whenever the
// encoding of any part changes (twin, detectors, rules).
var snapshotMagic = snapshot.Magic{'V', 'G', 'E', 'N'}

// SnapshotVersion is the engine snapshot format this vigil writes and reads.
const SnapshotVersion = 1

// Snapshot writes the engine's state to w. It must be called from the
// goroutine that pushes (like Push), and fails (writing nothing) when a
// detector keeps shard-local state that does not implement
// detect.Snapshotter.
func (e *Engine) Snapshot(w io.Writer) error {
	if e.closed {
		return errors.New("engine: snapshot after Stop or Close: the shards are gone")
	}
	parts := make([][]byte, 2*len(e.shards)+1)
	errs := make([]error, len(e.shards))
	e.onShards(func(s *shard) { parts[2+2*s.id], errs[s.id] = s.snapshot() })
	if err := errors.Join(errs...); err != nil {
		return err
	}
	rw := snapshot.NewWriter(nil)
	e.appendMeta(rw)
	rw.Section(func(w *snapshot.Writer) error { e.router.appendSnapshot(w); return nil })
	rw.Section(func(w *snapshot.Writer) error { e.stats.appendSnapshot(w); return nil })
	rw.Uvarint(uint64(len(e.shards)))
	parts[0] = rw.Bytes()
	for i := range e.shards {
		parts[1+2*i] = binary.AppendUvarint(nil, uint64(len(parts[2+2*i])))
	}
	return snapshot.Write(w, snapshotMagic, SnapshotVersion, parts...)
}

// Restore loads a snapshot into e, which must be new: no event pushed, not
// restored before. On error e is left as new (a caller falls back to
// reading its input from the start) and the error wraps
// snapshot.ErrCorrupt, ErrVersion or ErrIncompatible. Call it from the
// goroutine that pushes.
func (e *Engine) Restore(r io.Reader) error {
	if e.closed || e.restored || e.stats.received.Load() != 0 || len(e.router.clocks) != 0 {
		return errors.New("engine: Restore needs a new engine: this one has handled events, was restored or is stopped")
	}
	_, body, err := snapshot.Read(r, snapshotMagic, SnapshotVersion)
	if err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	rd := snapshot.NewReader(body)
	var keys struct{ twin, route twin.HashKey }
	if err := rd.Section("meta", func(r *snapshot.Reader) error {
		var err error
		keys.twin, keys.route, err = e.checkMeta(r)
		return err
	}); err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	rt := router{clocks: map[string]*clock{}, dedup: newDedup(int64(e.opts.DedupWindow))}
	if err := rd.Section("router", rt.loadSnapshot); err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	var c counters
	if err := rd.Section("counters", c.loadSnapshot); err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	if n := rd.Count(1); n != len(e.shards) && !rd.Failed() {
		rd.Fail("%d shard parts for %d shards", n, len(e.shards))
	}
	parts := make([][]byte, len(e.shards))
	for i := range parts {
		parts[i] = rd.Part()
	}
	if err := rd.End(); err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	if err := twin.UseHashKey(keys.twin); err != nil {
		return fmt.Errorf("engine: %w: the snapshot's twin hashes need its key and %v", snapshot.ErrIncompatible, err)
	}
	errs := make([]error, len(e.shards))
	e.onShards(func(s *shard) {
		if err := s.restore(parts[s.id]); err != nil {
			errs[s.id] = fmt.Errorf("shard %d: %w", s.id, err)
			s.reset()
		}
	})
	if err := errors.Join(errs...); err != nil {
		e.onShards((*shard).reset)
		return fmt.Errorf("engine: %w", err)
	}
	e.router.route = keys.route
	e.router.clocks = rt.clocks
	e.router.dedup.set(rt.dedup) // in place: Stats reads its counter from any goroutine
	e.stats.set(&c)
	e.restored = true
	e.onShards((*shard).resume)
	return nil
}

// onShards runs f on every shard's goroutine and waits.
func (e *Engine) onShards(f func(*shard)) {
	var wg sync.WaitGroup
	wg.Add(len(e.shards))
	e.router.broadcast(func(s *shard) {
		defer wg.Done()
		f(s)
	})
	wg.Wait()
}

// settings is what of the options decides the state: a snapshot made under
// other settings is refused (the archive is read again instead).
func (e *Engine) settings() string {
	o := &e.opts
	return fmt.Sprintf("lateness=%v dedup_window=%v dedup=%t max_jump=%v wall_clock=%t max_future=%v principal_ttl=%v vehicle_ttl=%v",
		o.Lateness, o.DedupWindow, !o.NoDedup, o.MaxJump, o.WallClock, o.MaxFuture, o.PrincipalTTL, o.VehicleTTL)
}

// detectorPrint hashes what decides a detector's state: its description
// (with its settings), subscriptions and, for rules, the rule set.
func detectorPrint(d detect.Detector, info *detect.Info) []byte {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%d\x00%s\x00%s\x00%v", info.ID, info.Category, info.Title, info.Description, info.Subscribe)
	if f, ok := d.(detect.Fingerprinter); ok {
		h.Write([]byte{0})
		h.Write(f.Fingerprint())
	}
	return h.Sum(nil)[:16]
}

func (e *Engine) appendMeta(rw *snapshot.Writer) {
	rw.Section(func(w *snapshot.Writer) error {
		w.Uvarint(uint64(len(e.shards)))
		w.Str(e.settings())
		w.Uvarint(uint64(len(e.infos)))
		for i := range e.infos {
			w.Str(e.infos[i].ID)
			w.Raw(detectorPrint(e.opts.Detectors[i], &e.infos[i]))
		}
		for _, k := range []twin.HashKey{twin.ProcessHashKey(), e.router.route} {
			b := k.Bytes()
			w.Raw(b[:])
		}
		return nil
	})
}

// checkMeta reads the meta section and refuses a snapshot of another
// configuration, saying what differs.
func (e *Engine) checkMeta(r *snapshot.Reader) (twinKey, route twin.HashKey, err error) {
	shards := r.Uvarint()
	settings := r.Str()
	n := r.Count(2)
	type det struct {
		id    string
		print []byte
	}
	dets := make([]det, n)
	for i := range dets {
		dets[i] = det{r.Str(), r.Part()}
	}
	var ks [2]twin.HashKey
	for i := range ks {
		b := r.Part()
		if len(b) != 16 && !r.Failed() {
			r.Fail("a hash key of %d bytes", len(b))
		}
		if !r.Failed() {
			ks[i] = twin.HashKeyFrom([16]byte(b))
		}
	}
	if r.Failed() {
		return ks[0], ks[1], r.Err()
	}
	incompatible := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", snapshot.ErrIncompatible, fmt.Sprintf(format, args...))
	}
	if shards != uint64(len(e.shards)) {
		return ks[0], ks[1], incompatible("the snapshot was taken with %d shards, this engine has %d: restore with engine.shards: %d, or let the input be read again",
			shards, len(e.shards), shards)
	}
	if s := e.settings(); settings != s {
		return ks[0], ks[1], incompatible("engine settings changed: the snapshot has %q, this engine %q", settings, s)
	}
	for i := range max(len(dets), len(e.infos)) {
		switch {
		case i >= len(dets):
			return ks[0], ks[1], incompatible("detector %s is new since the snapshot", e.infos[i].ID)
		case i >= len(e.infos):
			return ks[0], ks[1], incompatible("detector %s of the snapshot is gone", dets[i].id)
		case dets[i].id != e.infos[i].ID:
			return ks[0], ks[1], incompatible("detector %d is %s, the snapshot has %s there", i, e.infos[i].ID, dets[i].id)
		case string(dets[i].print) != string(detectorPrint(e.opts.Detectors[i], &e.infos[i])):
			return ks[0], ks[1], incompatible("detector %s is configured differently (settings, rules or version) than when the snapshot was taken", dets[i].id)
		}
	}
	return ks[0], ks[1], nil
}

// list returns the counters a snapshot keeps, in their order there.
func (c *counters) list() []*atomic.Int64 {
	l := []*atomic.Int64{&c.received, &c.duplicates, &c.late, &c.future, &c.routed, &c.timers, &c.evicted}
	for i := range c.alerts {
		l = append(l, &c.alerts[i])
	}
	return l
}

func (c *counters) appendSnapshot(w *snapshot.Writer) {
	l := c.list()
	w.Uvarint(uint64(len(l)))
	for _, x := range l {
		w.Varint(x.Load())
	}
}

func (c *counters) loadSnapshot(r *snapshot.Reader) error {
	l := c.list()
	if n := r.Uvarint(); n != uint64(len(l)) && !r.Failed() {
		r.Fail("%d counters, %d known", n, len(l))
	}
	for _, x := range l {
		x.Store(r.Varint())
	}
	return r.Err()
}

// set copies o's values into c.
func (c *counters) set(o *counters) {
	from := o.list()
	for i, x := range c.list() {
		x.Store(from[i].Load())
	}
}

// appendSnapshot writes the router's clocks (by tenant) and dedup set.
func (r *router) appendSnapshot(w *snapshot.Writer) {
	tenants := make([]string, 0, len(r.clocks))
	for t := range r.clocks {
		tenants = append(tenants, t)
	}
	slices.Sort(tenants)
	w.Uvarint(uint64(len(tenants)))
	for _, t := range tenants {
		c := r.clocks[t]
		w.Str(t)
		for _, v := range []int64{c.maxSeen, c.frontier, c.marked, c.movedBy, c.jump, c.since, c.lastArr, c.nextStat} {
			w.Varint(v)
		}
		w.Uvarint(uint64(len(c.minutes)))
		for _, m := range c.minutes {
			w.Varint(m.Start)
			w.Varint(m.End)
			w.Uvarint(uint64(len(m.ByType)))
			for _, n := range m.ByType {
				w.Int(n)
			}
			w.Uvarint(uint64(len(m.Commands)))
			for _, n := range m.Commands {
				w.Int(n)
			}
			w.Int(m.Late)
		}
	}
	r.dedup.appendSnapshot(w)
}

func (r *router) loadSnapshot(rd *snapshot.Reader) error {
	n := rd.Count(10)
	for range n {
		t := rd.Str()
		if _, dup := r.clocks[t]; dup && !rd.Failed() {
			rd.Fail("tenant %q twice", t)
		}
		c := &clock{}
		for _, v := range []*int64{&c.maxSeen, &c.frontier, &c.marked, &c.movedBy, &c.jump, &c.since, &c.lastArr, &c.nextStat} {
			*v = rd.Varint()
		}
		for range rd.Count(4) {
			m := &event.TenantStats{Start: rd.Varint(), End: rd.Varint()}
			if k := rd.Uvarint(); k != uint64(len(m.ByType)) && !rd.Failed() {
				rd.Fail("tenant minute with %d event types, %d known", k, len(m.ByType))
			}
			for i := range m.ByType {
				m.ByType[i] = rd.Int()
			}
			if k := rd.Uvarint(); k != uint64(len(m.Commands)) && !rd.Failed() {
				rd.Fail("tenant minute with %d command stages, %d known", k, len(m.Commands))
			}
			for i := range m.Commands {
				m.Commands[i] = rd.Int()
			}
			m.Late = rd.Int()
			c.minutes = append(c.minutes, m)
		}
		if rd.Failed() {
			return rd.Err()
		}
		r.clocks[t] = c
	}
	r.dedup.loadSnapshot(rd)
	return rd.Err()
}

func (d *dedup) appendSnapshot(w *snapshot.Writer) {
	b := d.key.Bytes()
	w.Raw(b[:])
	w.Varint(d.start)
	w.Varint(d.maxTime)
	w.Varint(d.early.Load())
	d.cur.appendSnapshot(w)
	d.prev.appendSnapshot(w)
}

// set takes o's state.
func (d *dedup) set(o *dedup) {
	d.key, d.cur, d.prev, d.start, d.maxTime = o.key, o.cur, o.prev, o.start, o.maxTime
	d.early.Store(o.early.Load())
}

func (d *dedup) loadSnapshot(r *snapshot.Reader) {
	b := r.Part()
	if len(b) != 16 {
		r.Fail("a dedup key of %d bytes", len(b))
		return
	}
	d.key = twin.HashKeyFrom([16]byte(b))
	d.start, d.maxTime = r.Varint(), r.Varint()
	d.early.Store(r.Varint())
	d.cur.loadSnapshot(r)
	d.prev.loadSnapshot(r)
}

// appendSnapshot writes the set's size and its entries by slot, so it is
// restored slot for slot (and a second snapshot is the same bytes).
func (s *hashSet) appendSnapshot(w *snapshot.Writer) {
	w.Uvarint(uint64(len(s.keys)))
	w.Uvarint(uint64(s.n))
	next := 0
	for i, k := range s.keys {
		if k != 0 {
			w.Uvarint(uint64(i - next))
			w.Uint64(k)
			w.Uint64(s.check[i])
			next = i + 1
		}
	}
}

func (s *hashSet) loadSnapshot(r *snapshot.Reader) {
	size, n := r.Uvarint(), r.Count(17)
	if r.Failed() {
		return
	}
	// A set keeps its slots when its generation ends (reset), so an empty
	// one may have slots. The size is trusted up to a generation's bound:
	// what a busy engine holds anyway.
	if size > 2*maxDedupEntries+2048 || size&(size-1) != 0 || uint64(2*n) > size {
		r.Fail("a dedup table of %d slots holding %d", size, n)
		return
	}
	s.keys, s.check, s.n = make([]uint64, size), make([]uint64, size), n
	next := uint64(0)
	for range n {
		i := next + r.Uvarint()
		k, c := r.Uint64(), r.Uint64()
		if r.Failed() {
			return
		}
		if i >= size || k == 0 {
			r.Fail("dedup slot %d of %d (key %#x)", i, size, k)
			return
		}
		s.keys[i], s.check[i] = k, c
		next = i + 1
	}
}

// snapshot writes the shard's state with a Writer of its own (its own
// symbol table), so shards write and read their parts in parallel.
func (s *shard) snapshot() ([]byte, error) {
	w := snapshot.NewWriter(nil)
	w.Uvarint(s.seq)
	w.Uvarint(uint64(len(s.dstats)))
	for _, d := range s.dstats {
		for _, v := range []int64{d.Calls, d.Alerts, d.Shadow, d.Off, d.LastAlert, d.Sampled, d.SampledNs} {
			w.Varint(v)
		}
	}
	names := make([]string, 0, len(s.tenants))
	for t := range s.tenants {
		names = append(names, t)
	}
	slices.Sort(names)
	w.Uvarint(uint64(len(names)))
	for _, name := range names {
		ts := s.tenants[name]
		w.Sym(name)
		w.Varint(ts.frontier)
		w.Varint(ts.sweepAt)
		w.Varint(ts.since)
		twin.AppendTable(w, ts.vehicles, twin.AppendVehicle)
		for k := detect.KindAccount; k < detect.NumKinds; k++ {
			twin.AppendTable(w, ts.principals[k], twin.AppendPrincipal)
		}
		w.Uvarint(uint64(len(ts.timers)))
		for _, t := range ts.timers { // heap order: restored as it is
			w.Varint(t.deadline)
			w.Uvarint(t.seq)
			w.Str(t.key)
			w.Uvarint(uint64(t.slot))
			w.Uint8(uint8(t.kind))
			w.Uint8(t.det)
		}
	}
	for i, l := range s.local {
		if l == nil {
			w.Bool(false)
			continue
		}
		sn, ok := l.(detect.Snapshotter)
		if !ok {
			return nil, fmt.Errorf("engine: detector %s keeps shard-local state (%T) that does not implement detect.Snapshotter: the engine cannot be snapshotted",
				s.e.infos[i].ID, l)
		}
		w.Bool(true)
		if err := w.Section(sn.AppendSnapshot); err != nil {
			return nil, fmt.Errorf("engine: detector %s: %w", s.e.infos[i].ID, err)
		}
	}
	return w.Bytes(), nil
}

// restore reads the shard's part into the new shard s; on error s is left
// part-filled and the caller resets it.
func (s *shard) restore(b []byte) error {
	r := snapshot.NewReader(b)
	s.seq = r.Uvarint()
	if n := r.Uvarint(); n != uint64(len(s.dstats)) && !r.Failed() {
		r.Fail("counters of %d detectors, the engine has %d", n, len(s.dstats))
	}
	for i := range s.dstats {
		d := &s.dstats[i]
		for _, v := range []*int64{&d.Calls, &d.Alerts, &d.Shadow, &d.Off, &d.LastAlert, &d.Sampled, &d.SampledNs} {
			*v = r.Varint()
		}
	}
	nt := r.Count(8)
	for range nt {
		name := r.Sym()
		if _, dup := s.tenants[name]; dup && !r.Failed() {
			r.Fail("tenant %q twice", name)
		}
		ts := &tenantState{name: name, mark: s.e.mark(name), frontier: r.Varint(), sweepAt: r.Varint(), since: r.Varint()}
		ts.vehicles = twin.LoadTable(r, twin.LoadVehicle)
		for k := detect.KindAccount; k < detect.NumKinds; k++ {
			ts.principals[k] = twin.LoadTable(r, twin.LoadPrincipal)
		}
		for range r.Count(13) {
			t := timer{deadline: r.Varint(), seq: r.Uvarint(), key: r.Str()}
			slot := r.Uvarint()
			t.kind, t.det = detect.Kind(r.Uint8()), r.Uint8()
			if !r.Failed() && (slot > math.MaxUint32 || t.kind >= detect.NumKinds || int(t.det) >= len(s.e.infos) || t.seq > s.seq) {
				r.Fail("timer of detector %d on %v key %q slot %d seq %d (shard seq %d)", t.det, t.kind, t.key, slot, t.seq, s.seq)
			}
			t.slot = uint32(slot)
			ts.timers = append(ts.timers, t)
		}
		if r.Failed() {
			return r.Err()
		}
		if !ts.timers.valid() {
			r.Fail("tenant %q: timers out of heap order", name)
			return r.Err()
		}
		s.tenants[name] = ts
		if ts.frontier != math.MinInt64 && ts.frontier != math.MaxInt64 {
			ts.mark.reached[s.id].Store(ts.frontier) // what the shard has handled
		}
	}
	for i, d := range s.e.opts.Detectors {
		has := r.Bool()
		if r.Failed() {
			return r.Err()
		}
		l := s.local[i]
		if has != (l != nil) {
			return fmt.Errorf("%w: detector %s: shard-local state in the snapshot %t, in the detector %t", snapshot.ErrIncompatible, s.e.infos[i].ID, has, l != nil)
		}
		if !has {
			continue
		}
		sn, ok := l.(detect.Snapshotter)
		if !ok {
			return fmt.Errorf("%w: detector %s (%T) cannot load snapshots", snapshot.ErrIncompatible, s.e.infos[i].ID, d)
		}
		if err := r.Section("detector "+s.e.infos[i].ID, sn.LoadSnapshot); err != nil {
			return err
		}
	}
	return r.End()
}

// valid reports whether h is a heap (every parent before its children).
func (h timerHeap) valid() bool {
	for i := 1; i < len(h); i++ {
		if h.less(i, (i-1)/2) {
			return false
		}
	}
	return true
}

// reset makes s new again.
func (s *shard) reset() {
	s.tenants = map[string]*tenantState{}
	s.moved = nil
	s.e.marks.Range(func(_, m any) bool {
		m.(*tenantMark).reached[s.id].Store(math.MinInt64) // a failed restore's
		return true
	})
	s.seq = 0
	clear(s.dstats)
	for i, d := range s.e.opts.Detectors {
		if sl, ok := d.(detect.ShardLocal); ok {
			s.local[i] = sl.NewShardState()
		}
	}
}

// resume tells the shard-local states that the restore succeeded, and
// calls the detectors that mirror keyed state outside the engine with
// every key they subscribe to (see detect.AfterRestorer, detect.Resumer).
func (s *shard) resume() {
	for _, l := range s.local {
		if a, ok := l.(detect.AfterRestorer); ok {
			a.AfterRestore()
		}
	}
	for di, d := range s.e.opts.Detectors {
		rs, ok := d.(detect.Resumer)
		if !ok {
			continue
		}
		var kinds [detect.NumKinds]bool
		for _, sub := range s.e.infos[di].Subscribe {
			kinds[sub.Kind] = true
		}
		names := make([]string, 0, len(s.tenants))
		for t := range s.tenants {
			names = append(names, t)
		}
		slices.Sort(names)
		for _, name := range names {
			ts := s.tenants[name]
			c := &s.ctx
			c.Tenant, c.Frontier, c.Arrived, c.TenantSince = ts.name, ts.frontier, 0, ts.since
			c.Info, c.Local = &s.e.infos[di], s.local[di]
			s.cur.ts, s.cur.det = ts, uint8(di)
			for k := range detect.NumKinds {
				if !kinds[k] {
					continue
				}
				c.Kind, s.cur.kind = k, k
				if k == detect.KindVehicle {
					ts.vehicles.RangeSlots(func(key string, slot uint32, v *twin.Vehicle) bool {
						c.Key, s.cur.key, s.cur.slot, s.cur.vehicle, s.cur.principal = key, key, slot, v, nil
						rs.Resume(c, detect.State{Vehicle: v})
						return true
					})
					continue
				}
				ts.principals[k].RangeSlots(func(key string, slot uint32, p *twin.Principal) bool {
					c.Key, s.cur.key, s.cur.slot, s.cur.vehicle, s.cur.principal = key, key, slot, nil, p
					rs.Resume(c, detect.State{Principal: p})
					return true
				})
			}
		}
	}
}

// Timers counts the shard's pending event-time timers by detector id.
func (v ShardView) Timers() map[string]int {
	out := map[string]int{}
	for _, ts := range v.s.tenants {
		for _, t := range ts.timers {
			out[v.s.e.infos[t.det].ID]++
		}
	}
	return out
}
