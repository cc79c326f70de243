// Package eval scores vigil's detectors against the simulator's labelled
// attacks: recall, precision, detection delay and false alerts per million
// benign events, per category, over several seeds.
package eval

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/engine"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/sim"
)

// Options configure an evaluation.
type Options struct {
	Seeds              []int64
	Vehicles           int
	Duration           time.Duration
	AttacksPerCategory int
	Grace              time.Duration // an alert up to this long after an attack's end still counts
	Shards             int
	// Detectors builds the detectors for one simulated fleet, configured
	// with what the TSP would hand vigil about it (keys, manifest, links).
	Detectors func(*sim.Simulator) ([]detect.Detector, error)
	Progress  io.Writer // one line per seed; nil for none
}

// Goals of the detector library.
const (
	GoalRecall          = 0.95
	GoalPrecision       = 0.95
	GoalFalsePerMillion = 5.0
)

// CategoryResult is one category's score over every seed.
type CategoryResult struct {
	Category    string
	Attacks     int // labelled attack instances
	Detected    int
	Alerts      int // alerts of the category
	True        int // alerts matching an attack of the category
	Related     int // alerts matching an attack of another category (a side effect, not a false alarm)
	False       int // alerts matching no attack
	Delays      []time.Duration
	Undetected  []sim.Label
	FalseSample []string // explanations of the first false alerts
}

// Recall is the share of attacks detected (1 when there were none).
func (c *CategoryResult) Recall() float64 {
	if c.Attacks == 0 {
		return 1
	}
	return float64(c.Detected) / float64(c.Attacks)
}

// Precision is the share of the category's alerts that point at an attack
// of the category, related alerts aside (1 when there were none).
func (c *CategoryResult) Precision() float64 {
	if c.True+c.False == 0 {
		return 1
	}
	return float64(c.True) / float64(c.True+c.False)
}

// Delay returns the median and worst detection delay.
func (c *CategoryResult) Delay() (median, worst time.Duration) {
	if len(c.Delays) == 0 {
		return 0, 0
	}
	d := slices.Clone(c.Delays)
	slices.Sort(d)
	return d[len(d)/2], d[len(d)-1]
}

// Report is the result of an evaluation.
type Report struct {
	Options      Options
	Events       int64
	BenignEvents int64
	Categories   []*CategoryResult
	Elapsed      time.Duration
}

// FalseAlerts counts alerts that match no attack, over all categories.
func (r *Report) FalseAlerts() int {
	n := 0
	for _, c := range r.Categories {
		n += c.False
	}
	return n
}

// FalsePerMillion is false alerts per million benign events.
func (r *Report) FalsePerMillion() float64 {
	if r.BenignEvents == 0 {
		return 0
	}
	return float64(r.FalseAlerts()) / float64(r.BenignEvents) * 1e6
}

// Misses lists the goals the report does not meet, in words.
func (r *Report) Misses() []string {
	var out []string
	for _, c := range r.Categories {
		if c.Recall() < GoalRecall {
			out = append(out, fmt.Sprintf("%s: recall %.3f < %.2f", c.Category, c.Recall(), GoalRecall))
		}
		if c.Precision() < GoalPrecision {
			out = append(out, fmt.Sprintf("%s: precision %.3f < %.2f", c.Category, c.Precision(), GoalPrecision))
		}
	}
	if f := r.FalsePerMillion(); f > GoalFalsePerMillion {
		out = append(out, fmt.Sprintf("%.2f false alerts per million benign events > %.0f", f, GoalFalsePerMillion))
	}
	return out
}

type found struct {
	a    *alert.Alert
	seed int64
}

// Run simulates each seed, runs the detectors over the stream and scores
// the alerts against the labels.
func Run(ctx context.Context, o Options) (*Report, error) {
	if len(o.Seeds) == 0 || o.Detectors == nil {
		return nil, errors.New("eval: need at least one seed and a detector set")
	}
	if o.Grace <= 0 {
		o.Grace = 10 * time.Minute
	}
	start := time.Now()
	rep := &Report{Options: o}
	byCat := map[string]*CategoryResult{}
	for _, c := range alert.Categories() {
		r := &CategoryResult{Category: c.String()}
		byCat[r.Category] = r
		rep.Categories = append(rep.Categories, r)
	}
	for _, seed := range o.Seeds {
		t0 := time.Now()
		labels, alerts, st, err := runSeed(ctx, o, seed)
		if err != nil {
			return nil, fmt.Errorf("eval: seed %d: %w", seed, err)
		}
		rep.Events += st.Events
		rep.BenignEvents += st.Events - st.AttackEvents
		score(byCat, labels, alerts, o.Grace)
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, "eval: seed %d: %d events, %d attacks, %d alerts in %v\n",
				seed, st.Events, len(labels), len(alerts), time.Since(t0).Round(time.Millisecond))
		}
	}
	rep.Elapsed = time.Since(start)
	return rep, nil
}

func runSeed(ctx context.Context, o Options, seed int64) ([]sim.Label, []*alert.Alert, sim.Stats, error) {
	s, err := sim.New(sim.Config{Seed: seed, Vehicles: o.Vehicles, Duration: o.Duration,
		Attacks: alert.Categories(), AttacksPerCategory: o.AttacksPerCategory})
	if err != nil {
		return nil, nil, sim.Stats{}, err
	}
	dets, err := o.Detectors(s)
	if err != nil {
		return nil, nil, sim.Stats{}, err
	}
	var alerts []*alert.Alert
	var clock engine.LateClock
	mgr := alert.NewManager(alert.ManagerOptions{Clock: &clock, Out: func(a *alert.Alert, _ *alert.Incident) {
		alerts = append(alerts, a) // Out calls are serialised by the manager
	}})
	eng, err := engine.New(engine.Options{Shards: o.Shards, Detectors: dets, Alerts: func(a *alert.Alert) { mgr.Add(a) }})
	if err != nil {
		return nil, nil, sim.Stats{}, err
	}
	clock.Set(eng)
	var labels []sim.Label
	n := 0
	err = s.Run(ctx, func(ev *event.Event) error {
		eng.Push(ev)
		if n++; n%4096 == 0 {
			eng.Flush()
		}
		return nil
	}, func(l sim.Label) error {
		labels = append(labels, l)
		return nil
	})
	eng.Close() // every alert is out once Close returns
	return labels, alerts, s.Stats(), err
}

// score matches alerts and labels of one seed.
func score(byCat map[string]*CategoryResult, labels []sim.Label, alerts []*alert.Alert, grace time.Duration) {
	sort.Slice(alerts, func(i, j int) bool { return alerts[i].Time < alerts[j].Time })
	for _, l := range labels {
		c := byCat[l.Category]
		if c == nil {
			continue
		}
		c.Attacks++
		var first *alert.Alert
		for _, a := range alerts {
			if a.Category.String() == l.Category && matches(a, l, grace) {
				first = a
				break
			}
		}
		if first == nil {
			c.Undetected = append(c.Undetected, l)
			continue
		}
		c.Detected++
		c.Delays = append(c.Delays, max(0, time.Unix(0, first.Time).Sub(l.Start)))
	}
	for _, a := range alerts {
		c := byCat[a.Category.String()]
		c.Alerts++
		own, other := false, false
		for _, l := range labels {
			if !matches(a, l, grace) {
				continue
			}
			if l.Category == c.Category {
				own = true
				break
			}
			other = true
		}
		switch {
		case own:
			c.True++
		case other:
			c.Related++
		default:
			c.False++
			if len(c.FalseSample) < 3 {
				c.FalseSample = append(c.FalseSample, a.Detector+": "+a.Explanation)
			}
		}
	}
}

// matches reports whether alert a is about attack l: it names one of the
// attack's entities (for a tenant-wide anomaly, the tenant) and its time
// lies within the attack's span plus the grace period.
func matches(a *alert.Alert, l sim.Label, grace time.Duration) bool {
	t := time.Unix(0, a.Time)
	if t.Before(l.Start) || t.After(l.End.Add(grace)) {
		return false
	}
	if l.Category == alert.ServiceAnomaly.String() && a.Category == alert.ServiceAnomaly {
		return a.Tenant == l.Tenant
	}
	return ShareEntity(a.Entities, l.Entities)
}

// ShareEntity reports whether two entity sets name a common vehicle,
// account, device, IP, client or MSISDN.
func ShareEntity(a, b alert.Entities) bool {
	eq := func(x, y string) bool { return x != "" && x == y }
	if eq(a.Vehicle, b.Vehicle) || eq(a.Account, b.Account) || eq(a.IP, b.IP) || eq(a.ClientID, b.ClientID) ||
		eq(a.Device, b.Device) || eq(a.MSISDN, b.MSISDN) {
		return true
	}
	for _, v := range a.Vehicles {
		if v == b.Vehicle || slices.Contains(b.Vehicles, v) {
			return true
		}
	}
	return a.Vehicle != "" && slices.Contains(b.Vehicles, a.Vehicle)
}

// describe renders entities briefly: long vehicle lists are cut.
func describe(e alert.Entities) string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+" "+v)
		}
	}
	add("vehicle", e.Vehicle)
	if n := len(e.Vehicles); n > 0 {
		list := strings.Join(e.Vehicles[:min(n, 3)], ", ")
		if n > 3 {
			list += fmt.Sprintf(" and %d more", n-3)
		}
		parts = append(parts, "vehicles "+list)
	}
	add("account", e.Account)
	add("device", e.Device)
	add("ip", e.IP)
	add("client", e.ClientID)
	add("msisdn", e.MSISDN)
	return strings.Join(parts, ", ")
}

// Print writes the report as a table.
func (r *Report) Print(w io.Writer) {
	o := r.Options
	fmt.Fprintf(w, "vigil eval: seeds %v, %d vehicles, %v each, %d attacks per category per seed, grace %v\n",
		o.Seeds, o.Vehicles, o.Duration, o.AttacksPerCategory, o.Grace)
	fmt.Fprintf(w, "events: %d (%d benign) in %v\n\n", r.Events, r.BenignEvents, r.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(w, "%-22s %7s %8s %7s %9s %7s %7s %7s %12s %12s\n",
		"category", "attacks", "detected", "recall", "precision", "alerts", "related", "false", "delay p50", "delay worst")
	for _, c := range r.Categories {
		med, worst := c.Delay()
		fmt.Fprintf(w, "%-22s %7d %8d %7.3f %9.3f %7d %7d %7d %12v %12v\n",
			c.Category, c.Attacks, c.Detected, c.Recall(), c.Precision(), c.Alerts, c.Related, c.False,
			med.Round(time.Millisecond), worst.Round(time.Millisecond))
	}
	fmt.Fprintf(w, "\nfalse alerts: %d = %.2f per million benign events\n", r.FalseAlerts(), r.FalsePerMillion())
	for _, c := range r.Categories {
		for i, l := range c.Undetected {
			if i == 3 {
				fmt.Fprintf(w, "  … %d more undetected %s attacks\n", len(c.Undetected)-3, c.Category)
				break
			}
			fmt.Fprintf(w, "  undetected %s/%s at %s on %s\n", l.Category, l.Scenario, l.Start.Format(time.RFC3339), describe(l.Entities))
		}
		for _, s := range c.FalseSample {
			fmt.Fprintf(w, "  false %s: %s\n", c.Category, s)
		}
	}
	if m := r.Misses(); len(m) == 0 {
		fmt.Fprintf(w, "\ngoals (recall ≥ %.2f, precision ≥ %.2f per category, ≤ %.0f false alerts per million): met\n", GoalRecall, GoalPrecision, GoalFalsePerMillion)
	} else {
		fmt.Fprintf(w, "\ngoals not met:\n")
		for _, s := range m {
			fmt.Fprintf(w, "  %s\n", s)
		}
	}
}
