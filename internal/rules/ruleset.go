package rules

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/event"
)

// RuleSet is a compiled, immutable set of rules plus their metrics. The
// detector holds one at a time and swaps in a new one atomically on reload.
type RuleSet struct {
	rules    []*rule // the enabled rules, in file order
	byID     map[string]*rule
	dispatch [detect.NumKinds][event.NumTypes][]*rule // conditions to evaluate per delivery
	needs    routes                                   // deliveries the set needs from the engine
	lim      Limits
	warnings []Problem
	learns   bool // some first correlation has a learn period
	unused   []unusedName

	mu     sync.Mutex
	shards [][]ruleStats // per shard that used the set, per rule
}

// ruleStats are one rule's counters on one shard. Only that shard writes
// them; Metrics reads them from any goroutine.
type ruleStats struct {
	evals, matches, alerts, shadow, errors, timed, timedNs, evictions atomic.Int64
}

// Len returns the number of enabled rules.
func (s *RuleSet) Len() int { return len(s.rules) }

// Warnings returns what the set loaded with but vigil rules lint reports.
func (s *RuleSet) Warnings() []Problem { return s.warnings }

// RuleInfo describes one rule of the set.
type RuleInfo struct {
	ID, Title, Description string
	Category               string
	Severity               string
	Kind                   string // "condition" or the correlation type
	Shadow                 bool
	Alerts                 bool // raises alerts (false: only feeds correlations)
	Events                 []string
	File                   string
	Line                   int
}

// Rules describes the enabled rules in file order.
func (s *RuleSet) Rules() []RuleInfo {
	out := make([]RuleInfo, 0, len(s.rules))
	for _, r := range s.rules {
		ri := RuleInfo{ID: r.ID, Title: r.Title, Description: r.Description, Category: r.Category.String(),
			Severity: r.Severity.String(), Kind: "condition", Shadow: r.Shadow, Alerts: r.alerts, File: r.File, Line: r.Line}
		if r.corr != nil {
			ri.Kind = r.corr.typ.String()
		}
		for _, t := range r.types {
			ri.Events = append(ri.Events, t.String())
		}
		out = append(out, ri)
	}
	return out
}

// RuleMetrics are one rule's counters summed over the shards.
type RuleMetrics struct {
	ID          string
	Kind        string
	Evaluations int64   // conditions evaluated (0 for correlations)
	Matches     int64   // conditions true, or correlation steps advanced
	Alerts      int64   // alerts raised
	Shadow      int64   // alerts of a shadow rule: handed to Options.Shadow, not raised
	Errors      int64   // evaluations that failed at run time (counted as no match)
	Evictions   int64   // correlation groups dropped to keep within Limits.Groups
	MeanNs      float64 // mean time of one evaluation, from a 1-in-64 sample
	TotalNs     float64 // estimated time spent evaluating: MeanNs × Evaluations
}

// Metrics returns every rule's counters, in file order.
func (s *RuleSet) Metrics() []RuleMetrics {
	out := make([]RuleMetrics, len(s.rules))
	for i, r := range s.rules {
		out[i].ID, out[i].Kind = r.ID, "condition"
		if r.corr != nil {
			out[i].Kind = r.corr.typ.String()
		}
	}
	s.mu.Lock()
	shards := slices.Clone(s.shards)
	s.mu.Unlock()
	timed := make([]int64, len(s.rules))
	timedNs := make([]int64, len(s.rules))
	for _, st := range shards {
		for i := range st {
			m, x := &out[i], &st[i]
			m.Evaluations += x.evals.Load()
			m.Matches += x.matches.Load()
			m.Alerts += x.alerts.Load()
			m.Shadow += x.shadow.Load()
			m.Errors += x.errors.Load()
			m.Evictions += x.evictions.Load()
			timed[i] += x.timed.Load()
			timedNs[i] += x.timedNs.Load()
		}
	}
	for i := range out {
		if timed[i] > 0 {
			out[i].MeanNs = float64(timedNs[i]) / float64(timed[i])
			out[i].TotalNs = out[i].MeanNs * float64(out[i].Evaluations)
		}
	}
	return out
}

// Slowest returns the n rules with the highest mean time per evaluation
// (ties: the most evaluated first); rules not yet timed are left out.
func (s *RuleSet) Slowest(n int) []RuleMetrics {
	all := slices.DeleteFunc(s.Metrics(), func(m RuleMetrics) bool { return m.MeanNs == 0 })
	slices.SortStableFunc(all, func(a, b RuleMetrics) int {
		return cmp.Or(cmp.Compare(b.MeanNs, a.MeanNs), cmp.Compare(b.Evaluations, a.Evaluations))
	})
	return all[:min(n, len(all))]
}

// statsFor makes the counters one shard keeps for this set, carrying over
// the counts of rules that did not change from the set it used before.
func (s *RuleSet) statsFor(prev *RuleSet, prevStats []ruleStats) []ruleStats {
	st := make([]ruleStats, len(s.rules))
	if prev != nil {
		for i, r := range s.rules {
			if o := prev.byID[r.ID]; o != nil && o.fp == r.fp && o.idx < len(prevStats) {
				x, y := &st[i], &prevStats[o.idx]
				x.evals.Store(y.evals.Load())
				x.matches.Store(y.matches.Load())
				x.alerts.Store(y.alerts.Load())
				x.shadow.Store(y.shadow.Load())
				x.errors.Store(y.errors.Load())
				x.timed.Store(y.timed.Load())
				x.timedNs.Store(y.timedNs.Load())
				x.evictions.Store(y.evictions.Load())
			}
		}
	}
	s.mu.Lock()
	s.shards = append(s.shards, st)
	s.mu.Unlock()
	return st
}
