package rules

import (
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/expr-lang/expr/vm"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/engine"
	"github.com/vigil-project/vigil/internal/event"
)

// Options configure a Detector.
type Options struct {
	Logger *slog.Logger
	// Routes are deliveries to subscribe to beyond what the first rule set
	// needs, so that a reload may add correlations keyed on them. A reload
	// whose rules need a delivery the detector did not subscribe to is
	// refused (the engine's routes are fixed when it starts).
	Routes []detect.Subscription
	// Shadow receives the alerts of shadow rules, complete but not raised.
	// When nil they go through Context.Emit marked Shadow, the path of a
	// built-in detector in shadow mode: stored, not raised.
	Shadow func(*alert.Alert)
	// MaxEvidence bounds the events an alert names as evidence; default 20.
	MaxEvidence int
}

// Detector runs a rule set as one detect.Detector. Its Info subscribes to
// every delivery the rules can need; per-shard state (the evaluation
// environment, the VM and the correlation groups) lives in
// detect.ShardLocal state. A Detector serves one engine.
type Detector struct {
	opts Options
	cur  atomic.Pointer[RuleSet]
	subs routes
	info detect.Info
}

var (
	_ detect.Detector   = (*Detector)(nil)
	_ detect.ShardLocal = (*Detector)(nil)
)

// DetectorID is the id the rules detector has among the engine's detectors;
// each alert carries its rule's id as its detector.
const DetectorID = "rules"

// NewDetector returns a detector running set.
func NewDetector(set *RuleSet, opts Options) *Detector {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxEvidence <= 0 {
		opts.MaxEvidence = 20
	}
	d := &Detector{opts: opts, subs: baseRoutes()}
	for k := range detect.NumKinds {
		for t := range event.NumTypes {
			d.subs[k][t] = d.subs[k][t] || set.needs[k][t]
		}
	}
	for _, s := range opts.Routes {
		for _, t := range s.Types {
			if s.Kind < detect.NumKinds && t < event.NumTypes && t != event.TypeTenantStats && kindCarries(s.Kind, t) {
				d.subs[s.Kind][t] = true
			}
		}
	}
	d.cur.Store(set)
	d.info = detect.Info{
		ID:          DetectorID,
		Title:       "User rule",
		Description: "User rules in YAML: conditions over one event and correlations (counts, distinct counts, sequences, absence) on event time.",
		Subscribe:   d.subs.subscriptions(),
	}
	return d
}

// Info describes the detector.
func (d *Detector) Info() detect.Info { return d.info }

// Rules returns the rule set in force.
func (d *Detector) Rules() *RuleSet { return d.cur.Load() }

// Swap puts set in force. It refuses a set that needs a delivery the
// detector did not subscribe to when the engine started.
func (d *Detector) Swap(set *RuleSet) error {
	var ps []Problem
	for _, r := range set.rules {
		if r.corr == nil {
			continue // single-event rules use the base routes, always subscribed
		}
		for _, t := range r.types {
			if k := r.corr.kind; !d.subs[k][t] {
				ps = append(ps, Problem{File: r.File, Line: r.Line, Rule: r.ID, Msg: fmt.Sprintf(
					"needs the engine to route %s events by %s, which the running engine does not: restart vigil to apply it (or list the route in the detector's Options.Routes)", t, k)})
			}
		}
	}
	if len(ps) > 0 {
		return &LoadError{Problems: ps}
	}
	d.cur.Store(set)
	return nil
}

// NewShardState makes one shard's evaluation state.
func (d *Detector) NewShardState() any {
	st := &shardState{d: d, correlations: correlations{groups: map[groupKey]*group{}, timers: map[timerKey][]*group{}, since: map[string]int64{}}}
	st.vm.MemoryBudget = 100_000
	return st
}

// shardState is what one shard needs to run the rules.
type shardState struct {
	d     *Detector
	set   *RuleSet
	stats []ruleStats
	env   Env
	loc   *time.Location // the timezone env.Hour is in; nil: UTC
	vm    vm.VM
	correlations
}

// use switches the shard to the set in force when it changed.
func (st *shardState) use() *RuleSet {
	set := st.d.cur.Load()
	if st.set != set {
		st.stats = set.statsFor(st.set, st.stats)
		st.rebind(set)
		st.set = set
	}
	return set
}

// primary reports whether the delivery on kind k is the one single-event
// rules are evaluated on (see singleChain).
func primary(k detect.Kind, ev *event.Event) bool {
	for _, ck := range singleChain[ev.Type] {
		if ck == k {
			return true
		}
		if engine.Key(ev, ck) != "" {
			return false
		}
	}
	return false
}

// OnEvent evaluates the conditions the delivery needs.
func (d *Detector) OnEvent(c *detect.Context, _ detect.State, ev *event.Event) {
	st := c.Local.(*shardState)
	set := st.use()
	if set.learns {
		st.observe(ev)
	}
	list := set.dispatch[c.Kind][ev.Type]
	if len(list) == 0 {
		return
	}
	isPrimary := primary(c.Kind, ev)
	filled := false
	for _, r := range list {
		single := r.alerts && isPrimary
		users := r.users[c.Kind]
		if (!single && len(users) == 0) || !r.forTenant(ev.Tenant) {
			continue
		}
		if !filled {
			st.env.fill(ev)
			st.loc = nil
			filled = true
		}
		if !st.eval(r) {
			continue
		}
		if single {
			st.single(c, r, ev)
		}
		for _, u := range users {
			st.feed(c, u, ev)
		}
	}
	st.sweep(c)
}

// OnTimer closes the absence windows that ended at deadline.
func (d *Detector) OnTimer(c *detect.Context, _ detect.State, deadline int64) {
	st := c.Local.(*shardState)
	st.use()
	st.timer(c, deadline)
}

// eval runs one rule's condition on the filled environment.
func (st *shardState) eval(r *rule) bool {
	rs := &st.stats[r.idx]
	n := rs.evals.Add(1)
	if r.loc != st.loc { // hour and weekday in the rule's timezone; they stay for its explanation
		st.env.setHour(r.loc)
		st.loc = r.loc
	}
	var start time.Time
	timed := n&63 == 1
	if timed {
		start = time.Now()
	}
	out, err := st.vm.Run(r.prog, &st.env)
	if timed {
		rs.timedNs.Add(int64(time.Since(start)))
		rs.timed.Add(1)
	}
	if err != nil {
		if rs.errors.Add(1) == 1 {
			st.d.opts.Logger.Warn("rule failed at run time; counted as no match", "rule", r.ID, "err", err)
		}
		return false
	}
	b, _ := out.(bool)
	if b {
		rs.matches.Add(1)
	}
	return b
}

// single raises the alert of a single-event rule.
func (st *shardState) single(c *detect.Context, r *rule, ev *event.Event) {
	a := &alert.Alert{Time: ev.Time, Entities: entitiesOf(ev), Evidence: []event.Ref{ev.Ref()}}
	if r.expl != nil {
		a.Explanation = r.expl.render(&st.env, func(v string) string { return ruleVar(r, c, v) })
	} else {
		a.Explanation = defaultSingle(r, ev)
	}
	st.emit(c, r, a)
}

func ruleVar(r *rule, c *detect.Context, v string) string {
	switch v {
	case "rule":
		return r.ID
	case "title":
		return r.Title
	case "key":
		return c.Key
	}
	return ""
}

func defaultSingle(r *rule, ev *event.Event) string {
	var who []string
	if ev.Subject != "" {
		who = append(who, "vehicle "+ev.Subject)
	}
	if a := ev.Actor(); a != nil {
		if a.Account != "" {
			who = append(who, "account "+a.Account)
		}
		if a.ClientID != "" {
			who = append(who, "client "+a.ClientID)
		}
		if a.IP != "" {
			who = append(who, "IP "+a.IP)
		}
	}
	s := fmt.Sprintf("%s event %s from %s matched rule %s", ev.Type, ev.ID, ev.Source, r.ID)
	if len(who) > 0 {
		s += " (" + strings.Join(who, ", ") + ")"
	}
	return s + "."
}

// emit completes and raises an alert; a shadow rule's alert is marked
// shadow (see Options.Shadow).
func (st *shardState) emit(c *detect.Context, r *rule, a *alert.Alert) {
	a.Detector, a.Category, a.Severity, a.Title, a.Mappings = r.ID, r.Category, r.Severity, r.Title, r.Mappings
	if len(a.Evidence) > st.d.opts.MaxEvidence {
		a.Evidence = a.Evidence[:st.d.opts.MaxEvidence]
	}
	rs := &st.stats[r.idx]
	if !r.Shadow {
		rs.alerts.Add(1)
		c.Emit(a)
		return
	}
	rs.shadow.Add(1)
	a.Shadow = true
	if st.d.opts.Shadow == nil {
		c.Emit(a)
		return
	}
	var first event.Ref
	if len(a.Evidence) > 0 {
		first = a.Evidence[0]
	}
	a.Tenant = c.Tenant
	a.ID = alert.MakeID(a.Detector, c.Tenant, c.Kind.String()+":"+c.Key, first)
	if a.FirstSeen == 0 {
		a.FirstSeen = a.Time
	}
	if a.LastSeen == 0 {
		a.LastSeen = a.Time
	}
	a.TriggerArrived = c.Arrived
	st.d.opts.Shadow(a)
}

// entitiesOf names who and what an event concerns.
func entitiesOf(ev *event.Event) alert.Entities {
	e := alert.Entities{Vehicle: ev.Subject}
	if a := ev.Actor(); a != nil {
		e.Account, e.Device, e.IP, e.ClientID = a.Account, a.Device, a.IP, a.ClientID
	}
	switch ev.Type {
	case event.TypeAccountChange:
		e.Account = ev.AccountChange.Account
		if e.Vehicle == "" {
			e.Vehicle = ev.AccountChange.Vehicle
		}
	case event.TypeAPIAccess:
		if v := ev.APIAccess.Vehicles; len(v) > 0 && len(v) <= 20 {
			e.Vehicles = v
		}
	case event.TypeSMS:
		e.MSISDN = ev.SMS.Originator
	}
	return e
}

func fmtTime(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339) }
