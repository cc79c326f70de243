package rules

import (
	"cmp"
	"crypto/sha256"
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/snapshot"
)

// Snapshots of a shard's rule state: the correlation groups in their
// least-recently-used order, which absence groups wait on which key (in
// the order their windows fire), each tenant's first event time and the
// rules' counters. Groups name their rule by id and fingerprint; a group
// whose rule is gone or changed is dropped on load, as a reload drops it.

var (
	_ detect.Snapshotter   = (*shardState)(nil)
	_ detect.AfterRestorer = (*shardState)(nil)
	_ detect.Fingerprinter = (*Detector)(nil)
)

// Fingerprint hashes what the rule set's state and alerts depend on, so a
// snapshot taken under other rules is not restored.
func (d *Detector) Fingerprint() []byte {
	set := d.cur.Load()
	h := sha256.New()
	fmt.Fprintf(h, "%+v\x00%d\x00", set.lim, d.opts.MaxEvidence)
	for _, r := range set.rules {
		fmt.Fprintf(h, "%s\x00%x\x00%s\x00%d\x00%d\x00%t\x00%t\x00%v\x00", r.ID, r.fp, r.Title, r.Category, r.Severity, r.Shadow, r.alerts, r.Mappings)
	}
	return h.Sum(nil)
}

// AppendSnapshot writes the shard's rule state.
func (st *shardState) AppendSnapshot(w *snapshot.Writer) error {
	tenants := make([]string, 0, len(st.since))
	for t := range st.since {
		tenants = append(tenants, t)
	}
	slices.Sort(tenants)
	w.Uvarint(uint64(len(tenants)))
	for _, t := range tenants {
		w.Sym(t)
		w.Varint(st.since[t])
	}
	if set := st.set; set != nil {
		w.Uvarint(uint64(len(set.rules)))
		for _, r := range set.rules {
			w.Sym(r.ID)
			w.Raw(r.fp[:])
			x := &st.stats[r.idx]
			for _, c := range x.counters() {
				w.Varint(c.Load())
			}
		}
	} else {
		w.Uvarint(0)
	}
	index := map[*group]int{}
	w.Uvarint(uint64(len(st.groups)))
	for g := st.head; g != nil; g = g.next {
		index[g] = len(index)
		putGroup(w, g)
	}
	keys := make([]timerKey, 0, len(st.timers))
	for k := range st.timers {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b timerKey) int {
		return cmp.Or(cmp.Compare(a.tenant, b.tenant), cmp.Compare(a.kind, b.kind), cmp.Compare(a.key, b.key))
	})
	w.Uvarint(uint64(len(keys)))
	for _, k := range keys {
		w.Sym(k.tenant)
		w.Uint8(uint8(k.kind))
		w.Str(k.key)
		list := st.timers[k]
		w.Uvarint(uint64(len(list)))
		for _, g := range list {
			i, ok := index[g]
			if !ok {
				return fmt.Errorf("rules: an absence group of rule %s waits on %s %q but is not among the groups", g.k.r.ID, k.kind, k.key)
			}
			w.Uvarint(uint64(i))
		}
	}
	return nil
}

func (x *ruleStats) counters() []*atomic.Int64 {
	return []*atomic.Int64{&x.evals, &x.matches, &x.alerts, &x.shadow, &x.errors, &x.timed, &x.timedNs, &x.evictions}
}

// LoadSnapshot reads what AppendSnapshot wrote into a new shard state,
// binding the groups to the rule set in force.
func (st *shardState) LoadSnapshot(r *snapshot.Reader) error {
	set := st.d.cur.Load()
	for range r.Count(2) {
		t := r.Sym()
		st.since[t] = r.Varint()
	}
	stats := make([]ruleStats, len(set.rules))
	for range r.Count(36) {
		id := r.Sym()
		fp := r.Part()
		var vals [8]int64
		for i := range vals {
			vals[i] = r.Varint()
		}
		if rl := set.byID[id]; rl != nil && string(rl.fp[:]) == string(fp) {
			for i, c := range stats[rl.idx].counters() {
				c.Store(vals[i])
			}
		}
	}
	n := r.Count(8)
	groups := make([]*group, n)
	for i := range groups {
		groups[i] = getGroup(r, set)
		if r.Failed() {
			return r.Err()
		}
	}
	lists := map[timerKey][]*group{}
	for range r.Count(4) {
		k := timerKey{tenant: r.Sym(), kind: detect.Kind(r.Uint8()), key: r.Str()}
		if k.kind >= detect.NumKinds && !r.Failed() {
			r.Fail("absence timers on key kind %d", k.kind)
		}
		var list []*group
		for range r.Count(1) {
			i := r.Uvarint()
			if i >= uint64(n) {
				r.Fail("absence group %d of %d", i, n)
				return r.Err()
			}
			g := groups[i]
			if g != nil && g.k.r.corr.typ == corrAbsent && g.k.tenant == k.tenant && g.k.r.corr.kind == k.kind && g.route == k.key {
				list = append(list, g)
			} else if g != nil {
				r.Fail("group %d of rule %s does not wait on %s %q", i, g.k.r.ID, k.kind, k.key)
			}
		}
		if r.Failed() {
			return r.Err()
		}
		if len(list) > 0 {
			lists[k] = list
		}
	}
	for _, g := range groups {
		if g == nil {
			continue // its rule is gone or changed
		}
		if st.groups[g.k] != nil {
			r.Fail("group of rule %s for %q twice", g.k.r.ID, g.k.key)
			return r.Err()
		}
		st.groups[g.k] = g
		st.link(g)
	}
	st.timers = lists
	// Bound to set, counters not yet published: AfterRestore does that once
	// every shard restored.
	st.set, st.stats = set, stats
	return r.Err()
}

// AfterRestore publishes the restored counters in the rule set's metrics.
func (st *shardState) AfterRestore() {
	if st.set != nil {
		st.stats = st.set.statsFor(st.set, st.stats)
	}
}

func putOcc(w *snapshot.Writer, o *occurrence) {
	w.Varint(o.at)
	w.Varint(o.at - o.first)
	putRefs(w, o.refs)
	putEntities(w, &o.ent)
	w.Sym(o.value)
	putSyms(w, o.values)
}

func getOcc(r *snapshot.Reader) occurrence {
	o := occurrence{at: r.Varint()}
	o.first = o.at - r.Varint()
	o.refs = getRefs(r)
	o.ent = getEntities(r)
	o.value = r.Sym()
	o.values = getSyms(r)
	return o
}

func putRefs(w *snapshot.Writer, refs []event.Ref) {
	w.Uvarint(uint64(len(refs)))
	for _, ref := range refs {
		w.Sym(ref.Source)
		w.Str(ref.ID)
	}
}

func getRefs(r *snapshot.Reader) []event.Ref {
	n := r.Count(2)
	if n == 0 {
		return nil
	}
	out := make([]event.Ref, n)
	for i := range out {
		out[i] = event.Ref{Source: r.Sym(), ID: r.Str()}
	}
	return out
}

func putSyms(w *snapshot.Writer, s []string) {
	w.Bool(s != nil)
	if s != nil {
		w.Uvarint(uint64(len(s)))
		for _, v := range s {
			w.Sym(v)
		}
	}
}

func getSyms(r *snapshot.Reader) []string {
	if !r.Bool() {
		return nil
	}
	out := make([]string, r.Count(1))
	for i := range out {
		out[i] = r.Sym()
	}
	return out
}

func putEntities(w *snapshot.Writer, e *alert.Entities) {
	for _, s := range []string{e.Vehicle, e.Account, e.Device, e.IP, e.ClientID, e.MSISDN} {
		w.Sym(s)
	}
	putSyms(w, e.Vehicles)
}

func getEntities(r *snapshot.Reader) alert.Entities {
	var e alert.Entities
	for _, s := range []*string{&e.Vehicle, &e.Account, &e.Device, &e.IP, &e.ClientID, &e.MSISDN} {
		*s = r.Sym()
	}
	e.Vehicles = getSyms(r)
	return e
}

func putGroup(w *snapshot.Writer, g *group) {
	w.Sym(g.k.r.ID)
	w.Raw(g.k.r.fp[:])
	w.Sym(g.k.tenant)
	w.Str(g.k.key)
	w.Str(g.route)
	putSyms(w, g.values)
	w.Varint(g.last)
	w.Uvarint(uint64(len(g.occ)))
	for i := range g.occ {
		putOcc(w, &g.occ[i])
	}
	w.Uvarint(uint64(len(g.distinct)))
	for _, d := range g.distinct {
		w.Sym(d.v)
		w.Varint(d.at)
		w.Sym(d.ref.Source)
		w.Str(d.ref.ID)
	}
	w.Uvarint(uint64(len(g.steps)))
	for i := range g.steps {
		s := &g.steps[i]
		w.Bool(s.ok)
		putOcc(w, &s.occurrence)
		w.Varint(s.start)
	}
	w.Uvarint(uint64(len(g.pending)))
	for _, p := range g.pending {
		w.Varint(p.at)
		w.Varint(p.deadline - p.at)
		putRefs(w, p.refs)
		putEntities(w, &p.ent)
		w.Str(p.expl)
	}
	w.Varint(g.seen)
	w.Bool(g.hasSeen)
}

// getGroup reads one group, bound to its rule in set; nil (and nothing
// failed) when the rule is no longer there as it was.
func getGroup(r *snapshot.Reader, set *RuleSet) *group {
	id, fp := r.Sym(), r.Part()
	g := &group{k: groupKey{tenant: r.Sym(), key: r.Str()}, route: r.Str()}
	g.values = getSyms(r)
	g.last = r.Varint()
	if n := r.Count(4); n > 0 {
		g.occ = make([]occurrence, n)
		for i := range g.occ {
			g.occ[i] = getOcc(r)
		}
	}
	if n := r.Count(4); n > 0 {
		g.distinct = make([]distinctValue, n)
		for i := range g.distinct {
			g.distinct[i] = distinctValue{v: r.Sym(), at: r.Varint(), ref: event.Ref{Source: r.Sym(), ID: r.Str()}}
		}
	}
	if n := r.Count(4); n > 0 {
		g.steps = make([]step, n)
		for i := range g.steps {
			ok := r.Bool()
			g.steps[i] = step{ok: ok, occurrence: getOcc(r), start: r.Varint()}
		}
	}
	if n := r.Count(6); n > 0 {
		g.pending = make([]pending, n)
		for i := range g.pending {
			p := &g.pending[i]
			p.at = r.Varint()
			p.deadline = p.at + r.Varint()
			p.refs = getRefs(r)
			p.ent = getEntities(r)
			p.expl = r.Str()
		}
	}
	g.seen, g.hasSeen = r.Varint(), r.Bool()
	rl := set.byID[id]
	if r.Failed() || rl == nil || rl.corr == nil || string(rl.fp[:]) != string(fp) {
		return nil
	}
	k := rl.corr
	want := 0
	if k.typ == corrTemporal || k.typ == corrOrdered {
		want = len(k.refs)
	}
	switch {
	case len(g.steps) != want:
		r.Fail("group of rule %s with %d steps, the rule has %d", id, len(g.steps), want)
	case len(g.values) != len(k.groupBy):
		r.Fail("group of rule %s with %d group_by values, the rule has %d", id, len(g.values), len(k.groupBy))
	case len(g.pending) > maxPending:
		r.Fail("group of rule %s with %d open windows", id, len(g.pending))
	}
	g.k.r = rl
	return g
}
