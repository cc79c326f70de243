package rules

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/engine"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/snapshot"
)

type ruleRun struct {
	set *RuleSet
	eng *engine.Engine
	mu  sync.Mutex
	out []string
}

func newRuleRun(t *testing.T, lim Limits, text string) *ruleRun {
	t.Helper()
	set, err := Compile(lim, memSource("r", map[string]string{"r.yaml": text}))
	if err != nil {
		t.Fatal(err)
	}
	r := &ruleRun{set: set}
	r.eng, err = engine.New(engine.Options{Shards: 1, Detectors: []detect.Detector{NewDetector(set, Options{})}, Alerts: func(a *alert.Alert) {
		r.mu.Lock()
		r.out = append(r.out, a.Entities.Account)
		r.mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *ruleRun) restart(t *testing.T, lim Limits, text string) *ruleRun {
	t.Helper()
	var buf bytes.Buffer
	if err := r.eng.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	r.eng.Stop()
	next := newRuleRun(t, lim, text)
	if err := next.eng.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	return next
}

func counts(set *RuleSet) string {
	var b strings.Builder
	for _, m := range set.Metrics() {
		fmt.Fprintf(&b, "%s evals=%d matches=%d alerts=%d evictions=%d; ", m.ID, m.Evaluations, m.Matches, m.Alerts, m.Evictions)
	}
	return b.String()
}

// TestSnapshotKeepsGroupsInOrder: a restart keeps the correlation groups in
// their least-recently-used order (which one a full shard evicts next) and
// the rules' counters, visible at once.
func TestSnapshotKeepsGroupsInOrder(t *testing.T) {
	lim := Limits{Groups: 3}
	r := newRuleRun(t, lim, countRule)
	for i := range 10 { // the groups of acc-7, acc-8, acc-9 remain, in that order
		r.eng.Push(login(fmt.Sprint("a", i), fmt.Sprint("acc-", i), time.Duration(i)*time.Second))
	}
	// Second failures alert and empty the groups, in a new order: 7, 8, 9;
	// then acc-7 fails once more: 8, 9, 7 (acc-7's group holds one).
	for i, acc := range []string{"acc-7", "acc-8", "acc-9", "acc-7"} {
		r.eng.Push(login(fmt.Sprint("t", i), acc, time.Duration(11+i)*time.Second))
	}
	r.eng.Query(func(engine.ShardView) {})
	before := counts(r.set)
	r = r.restart(t, lim, countRule)
	if got := counts(r.set); got != before {
		t.Fatalf("counters after the restore:\n%s\nwant:\n%s", got, before)
	}
	// A new account evicts the least recently used group (acc-8's); acc-7's
	// survives, so its next failure alerts. Restored in another order (by
	// key, say), acc-7's would go and nothing would alert.
	r.eng.Push(login("w", "acc-new", 15*time.Second))
	r.eng.Push(login("x7", "acc-7", 16*time.Second))
	r.eng.Close()
	if !slices.Equal(r.out, []string{"acc-7"}) {
		t.Fatalf("alerts after the restart for %q, want one for acc-7", r.out)
	}
}

// TestSnapshotRefusesOtherRules: a snapshot taken under other rules is
// refused, naming the rules detector, so the state is rebuilt instead.
func TestSnapshotRefusesOtherRules(t *testing.T) {
	r := newRuleRun(t, Limits{}, countRule)
	r.eng.Push(login("a", "acc-1", 0))
	var buf bytes.Buffer
	if err := r.eng.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	r.eng.Stop()
	other := newRuleRun(t, Limits{}, strings.Replace(countRule, "gte: 2", "gte: 3", 1))
	defer other.eng.Close()
	err := other.eng.Restore(&buf)
	if !errors.Is(err, snapshot.ErrIncompatible) || !strings.Contains(err.Error(), "detector rules") {
		t.Fatalf("restore under a changed rule: %v", err)
	}
	other.eng.Push(login("b", "acc-1", time.Second))
	if other.eng.Close(); len(other.out) != 0 {
		t.Errorf("the refused snapshot's group was used: %q", other.out)
	}
}

// TestSnapshotResumesAbsence: absence windows open at the snapshot close
// after the restore, with or without what they wait for.
func TestSnapshotResumesAbsence(t *testing.T) {
	const absent = `
rules:
  - id: u.req
    events: [vehicle.command]
    condition: data.stage == "requested"
  - id: u.done
    events: [vehicle.command]
    condition: data.stage == "executed"
  - id: u.missing
    title: not executed
    category: unauthorized-command
    severity: low
    correlation: {type: absent, rules: [u.req, u.done], group_by: [vehicle], timespan: 5m}
`
	base := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC).UnixNano()
	cmd := func(id, vin string, stage event.Stage, sec int64) *event.Event {
		return &event.Event{ID: id, Source: "test", Type: event.TypeCommand, Tenant: "default", Subject: vin, Time: base + sec*1e9,
			Command: &event.Command{CommandID: "c-" + vin, Command: event.CmdUnlock, Stage: stage, Actor: event.Actor{Account: "acc-" + vin}}}
	}
	r := newRuleRun(t, Limits{}, absent)
	r.eng.Push(cmd("r1", "V1", event.StageRequested, 0))
	r.eng.Push(cmd("r2", "V2", event.StageRequested, 10))
	r = r.restart(t, Limits{}, absent) // both windows open, timers pending
	r.eng.Push(cmd("e1", "V1", event.StageExecuted, 60))
	r.eng.Push(cmd("later", "V3", event.StageDelivered, 400)) // the frontier passes both deadlines
	r.eng.Close()
	if !slices.Equal(r.out, []string{"acc-V2"}) {
		t.Fatalf("alerts %q, want the one of V2, whose command never executed", r.out)
	}
}
