package rules

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/event"
)

// Correlations keep their state per shard, in groups: one per correlation
// rule, tenant and group_by values. The first group_by value is always the
// key the delivery came on (c.Key), so every event that can advance a
// group reaches the shard that holds it. Groups are bounded per shard
// (Limits.Groups): the least recently used make way and are counted as
// evictions. Windows are measured on event time; a group forgets what
// falls out of its timespan behind the newest event it has seen.

type groupKey struct {
	r      *rule
	tenant string
	key    string // c.Key, then the other group_by values, separated by \x1f
}

type timerKey struct {
	tenant string
	kind   detect.Kind
	key    string
}

// occurrence is one match a correlation step sees: an event matching a
// rule, or a correlation that fired.
type occurrence struct {
	at, first int64 // event time; first is the earliest evidence
	refs      []event.Ref
	ent       alert.Entities
	value     string   // value_count: the value of condition.field
	values    []string // value_count over a list field
}

type step struct {
	occurrence
	start int64 // temporal_ordered: where the partial sequence started
	ok    bool
}

type pending struct {
	at, deadline int64
	refs         []event.Ref
	ent          alert.Entities
	expl         string
}

type distinctValue struct {
	v   string
	at  int64
	ref event.Ref
}

type group struct {
	k          groupKey
	route      string   // c.Key
	values     []string // the group_by values after the key
	prev, next *group   // least recently used first
	last       int64    // newest event time seen
	occ        []occurrence
	distinct   []distinctValue
	steps      []step
	pending    []pending
	seen       int64 // first: newest match
	hasSeen    bool
}

type correlations struct {
	groups     map[groupKey]*group
	timers     map[timerKey][]*group
	head, tail *group
	since      map[string]int64 // per tenant: the earliest event time this shard saw
}

// observe notes the tenant's first event time, for first's learn period.
func (st *shardState) observe(ev *event.Event) {
	if t, ok := st.since[ev.Tenant]; !ok || ev.Time < t {
		if len(st.since) < 100_000 || ok {
			st.since[ev.Tenant] = ev.Time
		}
	}
}

// feed hands the match of the current event to a correlation.
func (st *shardState) feed(c *detect.Context, u use, ev *event.Event) {
	k := u.r.corr
	values := make([]string, len(k.groupBy))
	for i, f := range k.groupBy {
		values[i] = f.value(&st.env)
	}
	o := occurrence{at: ev.Time, first: ev.Time, refs: []event.Ref{ev.Ref()}, ent: entitiesOf(ev)}
	if k.field != nil {
		if k.field.Kind == kindList {
			o.values = st.listValue(k.field)
		} else {
			o.value = k.field.value(&st.env)
		}
	}
	g := st.group(c, u.r, values, opens(u))
	if g != nil {
		st.stepsOf(c, g, u.steps, o)
	}
}

// opens reports whether a match at these steps can start a group: a
// sequence or an absence only starts with its first rule.
func opens(u use) bool {
	switch u.r.corr.typ {
	case corrOrdered, corrAbsent:
		return slices.Contains(u.steps, 0)
	}
	return true
}

func (st *shardState) listValue(f *field) []string {
	if f.Path == "data.fields" {
		return st.env.Data.Fields
	}
	return st.env.Data.Vehicles
}

// group finds the group of rule r for the current key and values, and
// makes it when create is set (else it returns nil).
func (st *shardState) group(c *detect.Context, r *rule, values []string, create bool) *group {
	key := c.Key
	if len(values) > 0 {
		key = c.Key + "\x1f" + strings.Join(values, "\x1f")
	}
	gk := groupKey{r: r, tenant: c.Tenant, key: key}
	if g := st.groups[gk]; g != nil {
		st.touch(g)
		return g
	}
	if !create {
		return nil
	}
	for len(st.groups) >= st.set.lim.Groups && st.head != nil {
		old := st.head
		st.stats[old.k.r.idx].evictions.Add(1)
		st.drop(old)
	}
	g := &group{k: gk, route: c.Key, values: values}
	if n := len(r.corr.refs); r.corr.typ == corrTemporal || r.corr.typ == corrOrdered {
		g.steps = make([]step, n)
	}
	st.groups[gk] = g
	st.link(g)
	if r.corr.typ == corrAbsent {
		tk := timerKey{tenant: c.Tenant, kind: c.Kind, key: c.Key}
		st.timers[tk] = append(st.timers[tk], g)
	}
	return g
}

func (st *shardState) link(g *group) {
	g.prev, g.next = st.tail, nil
	if st.tail != nil {
		st.tail.next = g
	} else {
		st.head = g
	}
	st.tail = g
}

func (st *shardState) unlink(g *group) {
	if g.prev != nil {
		g.prev.next = g.next
	} else {
		st.head = g.next
	}
	if g.next != nil {
		g.next.prev = g.prev
	} else {
		st.tail = g.prev
	}
	g.prev, g.next = nil, nil
}

func (st *shardState) touch(g *group) {
	if st.tail != g {
		st.unlink(g)
		st.link(g)
	}
}

// drop forgets a group.
func (st *shardState) drop(g *group) {
	st.unlink(g)
	delete(st.groups, g.k)
	if g.k.r.corr.typ == corrAbsent {
		tk := timerKey{tenant: g.k.tenant, kind: g.k.r.corr.kind, key: g.route}
		list := slices.DeleteFunc(st.timers[tk], func(x *group) bool { return x == g })
		if len(list) == 0 {
			delete(st.timers, tk)
		} else {
			st.timers[tk] = list
		}
	}
}

// rebind moves the groups of rules that did not change to the new set and
// drops the others.
func (st *shardState) rebind(set *RuleSet) {
	if len(st.groups) == 0 {
		return
	}
	var keep []*group
	for g := st.head; g != nil; g = g.next {
		keep = append(keep, g)
	}
	for _, g := range keep {
		nr := set.byID[g.k.r.ID]
		st.drop(g)
		if nr == nil || nr.fp != g.k.r.fp || nr.corr == nil {
			continue
		}
		g.k.r = nr
		st.groups[g.k] = g
		st.link(g)
		if nr.corr.typ == corrAbsent {
			tk := timerKey{tenant: g.k.tenant, kind: nr.corr.kind, key: g.route}
			st.timers[tk] = append(st.timers[tk], g)
		}
	}
}

// sweep forgets the oldest groups of the current tenant once their window
// is behind the frontier; a cheap, amortised bound on idle state.
func (st *shardState) sweep(c *detect.Context) {
	if c.Frontier == math.MinInt64 {
		return
	}
	for i := 0; i < 4; i++ {
		g := st.head
		if g == nil || g.k.tenant != c.Tenant || len(g.pending) > 0 {
			return
		}
		if c.Frontier-g.k.r.corr.span <= g.last {
			return
		}
		st.drop(g)
	}
}

// stepsOf advances group g with an occurrence for the given steps of its
// rule (several when one rule is named at several steps), last step first
// so one event never advances a sequence twice.
func (st *shardState) stepsOf(c *detect.Context, g *group, steps []int, o occurrence) {
	r := g.k.r
	k := r.corr
	st.stats[r.idx].matches.Add(1)
	if o.at > g.last {
		g.last = o.at
	}
	horizon := g.last - k.span
	switch k.typ {
	case corrEventCount:
		g.occ = append(g.occ, o)
		g.occ = slices.DeleteFunc(g.occ, func(x occurrence) bool { return x.at < horizon })
		if len(g.occ) > k.threshold {
			g.occ = slices.Delete(g.occ, 0, len(g.occ)-k.threshold)
		}
		if len(g.occ) >= k.threshold {
			st.fire(c, g, g.occ, len(g.occ))
			g.occ = nil
		}
	case corrValueCount:
		vals := o.values
		if vals == nil && o.value != "" {
			vals = []string{o.value}
		}
		var ref event.Ref
		if len(o.refs) > 0 {
			ref = o.refs[0]
		}
		for _, v := range vals {
			if v == "" {
				continue
			}
			i := slices.IndexFunc(g.distinct, func(d distinctValue) bool { return d.v == v })
			if i >= 0 {
				g.distinct = slices.Delete(g.distinct, i, i+1)
			}
			g.distinct = append(g.distinct, distinctValue{v: v, at: o.at, ref: ref})
		}
		g.distinct = slices.DeleteFunc(g.distinct, func(d distinctValue) bool { return d.at < horizon })
		if len(g.distinct) > k.threshold {
			g.distinct = slices.Delete(g.distinct, 0, len(g.distinct)-k.threshold)
		}
		if len(g.distinct) >= k.threshold {
			occ := make([]occurrence, 0, len(g.distinct))
			for _, d := range g.distinct {
				occ = append(occ, occurrence{at: d.at, first: d.at, refs: []event.Ref{d.ref}, value: d.v})
			}
			occ[len(occ)-1].ent = o.ent
			st.fire(c, g, occ, len(occ))
			g.distinct = nil
		}
	case corrTemporal:
		for _, i := range steps {
			g.steps[i] = step{occurrence: o, ok: true}
		}
		all := true
		for i := range g.steps {
			if g.steps[i].ok && g.steps[i].first < horizon {
				g.steps[i] = step{}
			}
			all = all && g.steps[i].ok
		}
		if all {
			occ := make([]occurrence, 0, len(g.steps))
			for _, s := range g.steps {
				occ = append(occ, s.occurrence)
			}
			slices.SortStableFunc(occ, func(a, b occurrence) int { return cmp.Compare(a.at, b.at) })
			clear(g.steps)
			st.fire(c, g, occ, len(occ))
		}
	case corrOrdered:
		last := len(g.steps) - 1
		for j := len(steps) - 1; j >= 0; j-- {
			i := steps[j]
			if i == 0 {
				g.steps[0] = step{occurrence: occurrence{at: o.at, first: o.first, refs: o.refs, ent: o.ent}, start: o.first, ok: true}
				continue
			}
			p := g.steps[i-1]
			if !p.ok || p.at > o.at || o.at-p.start > k.span {
				continue
			}
			cand := step{occurrence: occurrence{at: o.at, first: p.start, ent: o.ent,
				refs: append(slices.Clip(p.refs), o.refs...)}, start: p.start, ok: true}
			if i == last {
				clear(g.steps)
				st.fire(c, g, []occurrence{cand.occurrence}, len(k.refs))
				return
			}
			if !g.steps[i].ok || cand.start >= g.steps[i].start {
				g.steps[i] = cand
			}
		}
		for i := range g.steps {
			if g.steps[i].ok && g.steps[i].start < horizon {
				g.steps[i] = step{}
			}
		}
	case corrAbsent:
		for j := len(steps) - 1; j >= 0; j-- {
			if steps[j] == 1 { // the awaited rule: close the windows it falls in
				g.pending = slices.DeleteFunc(g.pending, func(p pending) bool { return p.at <= o.at && o.at <= p.deadline })
				if len(g.pending) == 0 && j == 0 {
					st.drop(g)
				}
				continue
			}
			if len(g.pending) == maxPending {
				st.stats[r.idx].evictions.Add(1)
				g.pending = slices.Delete(g.pending, 0, 1)
			}
			p := pending{at: o.at, deadline: o.at + k.span, refs: o.refs, ent: o.ent}
			p.expl = st.explain(c, g, []occurrence{o}, 1, &st.env)
			g.pending = append(g.pending, p)
			c.After(p.deadline)
		}
	case corrFirst:
		known := g.hasSeen && o.at-g.seen <= k.span && g.seen-o.at <= k.span
		since := c.TenantSince
		if since == 0 {
			since = st.since[c.Tenant] // a context without it (tests driving the detector directly)
		}
		learnt := o.at >= since+k.learn
		if o.at > g.seen || !g.hasSeen {
			g.seen = o.at
		}
		g.hasSeen = true
		if !known && learnt {
			st.fire(c, g, []occurrence{o}, 1)
		}
	}
}

// maxPending bounds the open absence windows of one group.
const maxPending = 16

// timer closes the absence windows of the key that ended by deadline.
func (st *shardState) timer(c *detect.Context, deadline int64) {
	tk := timerKey{tenant: c.Tenant, kind: c.Kind, key: c.Key}
	for _, g := range slices.Clone(st.timers[tk]) {
		var due []pending
		g.pending = slices.DeleteFunc(g.pending, func(p pending) bool {
			if p.deadline <= deadline {
				due = append(due, p)
				return true
			}
			return false
		})
		for _, p := range due {
			st.fireAbsent(c, g, p)
		}
		if len(g.pending) == 0 && st.groups[g.k] == g {
			st.drop(g)
		}
	}
}

// fire raises a correlation's alert (unless it only feeds others) and
// hands it on to the correlations that name it.
func (st *shardState) fire(c *detect.Context, g *group, occ []occurrence, count int) {
	r := g.k.r
	var refs []event.Ref
	first, last := occ[0].first, occ[0].at
	for _, o := range occ {
		first, last = min(first, o.first), max(last, o.at)
		if len(refs) < st.d.opts.MaxEvidence {
			refs = append(refs, o.refs[:min(len(o.refs), st.d.opts.MaxEvidence-len(refs))]...)
		}
	}
	ent := st.entities(g, occ[len(occ)-1].ent, occ)
	if r.alerts {
		a := &alert.Alert{Time: last, FirstSeen: first, LastSeen: last, Entities: ent, Evidence: refs,
			Explanation: st.explain(c, g, occ, count, &st.env)}
		st.emit(c, r, a)
	}
	st.cascade(c, g, occurrence{at: last, first: first, refs: refs, ent: ent})
}

func (st *shardState) fireAbsent(c *detect.Context, g *group, p pending) {
	r := g.k.r
	ent := st.entities(g, p.ent, nil)
	if r.alerts {
		a := &alert.Alert{Time: p.deadline, FirstSeen: p.at, LastSeen: p.at, Entities: ent, Evidence: p.refs, Explanation: p.expl}
		st.emit(c, r, a)
	}
	st.cascade(c, g, occurrence{at: p.deadline, first: p.at, refs: p.refs, ent: ent})
}

// cascade feeds a fired correlation to the correlations naming it, which
// share its group_by (checked at load).
func (st *shardState) cascade(c *detect.Context, g *group, o occurrence) {
	r := g.k.r
	for _, u := range r.users[r.corr.kind] {
		if !u.r.forTenant(c.Tenant) {
			continue
		}
		if ng := st.group(c, u.r, g.values, opens(u)); ng != nil {
			st.stepsOf(c, ng, u.steps, o)
		}
	}
}

// entities of a correlation alert: those of the last event, the group's
// key, and for a distinct count of vehicles the vehicles.
func (st *shardState) entities(g *group, last alert.Entities, occ []occurrence) alert.Entities {
	e := last
	k := g.k.r.corr
	switch k.kind {
	case detect.KindVehicle:
		e.Vehicle = g.route
	case detect.KindAccount:
		e.Account = g.route
	case detect.KindIP:
		e.IP = g.route
	case detect.KindClient:
		e.ClientID = g.route
	case detect.KindDevice:
		e.Device = g.route
	}
	if k.typ == corrValueCount && k.field != nil && (k.field.Path == "subject" || k.field.Path == "data.vehicles" || k.field.Path == "data.vehicle") {
		e.Vehicles = nil
		for _, o := range occ {
			e.Vehicles = append(e.Vehicles, o.value)
		}
		if e.Vehicle != "" && k.kind != detect.KindVehicle {
			e.Vehicle = ""
		}
	}
	return e
}

// explain renders a correlation's explanation.
func (st *shardState) explain(c *detect.Context, g *group, occ []occurrence, count int, env *Env) string {
	r := g.k.r
	k := r.corr
	first, last := occ[0].first, occ[0].at
	for _, o := range occ {
		first, last = min(first, o.first), max(last, o.at)
	}
	groupText := g.route
	if len(g.values) > 0 {
		groupText += ", " + strings.Join(g.values, ", ")
	}
	vars := func(v string) string {
		switch v {
		case "count":
			return strconv.Itoa(count)
		case "distinct":
			return strconv.Itoa(len(occ))
		case "values":
			var vs []string
			for _, o := range occ[:min(len(occ), 10)] {
				vs = append(vs, o.value)
			}
			return strings.Join(vs, ", ")
		case "threshold":
			return strconv.Itoa(k.threshold)
		case "timespan":
			return fmtSpan(k.span)
		case "group":
			return groupText
		case "first_seen":
			return fmtTime(first)
		case "last_seen":
			return fmtTime(last)
		}
		return ruleVar(r, c, v)
	}
	if r.expl != nil {
		return r.expl.render(env, vars)
	}
	who := fmt.Sprintf("%s %s", k.kind, groupText)
	names := make([]string, len(k.refs))
	for i, ref := range k.refs {
		names[i] = ref.ID
	}
	switch k.typ {
	case corrEventCount:
		return fmt.Sprintf("%d events matching %s for %s between %s and %s (threshold %d within %s).",
			count, names[0], who, fmtTime(first), fmtTime(last), k.threshold, fmtSpan(k.span))
	case corrValueCount:
		return fmt.Sprintf("%d distinct values of %s in events matching %s for %s between %s and %s (threshold %d within %s): %s.",
			len(occ), k.field.Path, names[0], who, fmtTime(first), fmtTime(last), k.threshold, fmtSpan(k.span), vars("values"))
	case corrTemporal:
		return fmt.Sprintf("All of %s occurred for %s between %s and %s (within %s).",
			strings.Join(names, ", "), who, fmtTime(first), fmtTime(last), fmtSpan(k.span))
	case corrOrdered:
		return fmt.Sprintf("%s occurred in this order for %s between %s and %s (within %s).",
			strings.Join(names, " then "), who, fmtTime(first), fmtTime(last), fmtSpan(k.span))
	case corrAbsent:
		return fmt.Sprintf("%s at %s for %s was not followed by %s within %s (window closed on event time).",
			names[0], fmtTime(first), who, names[1], fmtSpan(k.span))
	case corrFirst:
		return fmt.Sprintf("First event matching %s for %s in %s, at %s.", names[0], who, fmtSpan(k.span), fmtTime(last))
	}
	return ""
}

func fmtSpan(ns int64) string {
	d := time.Duration(ns)
	if d%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
