package rules

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/engine"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/sim"
)

// simEvents returns a simulated stream with attacks of every category.
func simEvents(t testing.TB, vehicles int, span time.Duration) []*event.Event {
	t.Helper()
	s, err := sim.New(sim.Config{Seed: 7, Vehicles: vehicles, Duration: span, Attacks: alert.Categories(), AttacksPerCategory: 2})
	if err != nil {
		t.Fatal(err)
	}
	var evs []*event.Event
	err = s.Run(context.Background(), func(e *event.Event) error {
		evs = append(evs, e)
		return nil
	}, func(sim.Label) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// runEngine pushes evs through an engine with a rules detector and returns
// the alerts as sorted JSON lines.
func runEngine(t testing.TB, set *RuleSet, evs []*event.Event, shards int) []string {
	t.Helper()
	var mu sync.Mutex
	var out []string
	eng, err := engine.New(engine.Options{Shards: shards, BatchSize: 64, Detectors: []detect.Detector{NewDetector(set, Options{})},
		Alerts: func(a *alert.Alert) {
			mu.Lock()
			out = append(out, string(alert.AppendJSON(nil, a)))
			mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		eng.Push(ev)
	}
	eng.Close()
	slices.Sort(out)
	return out
}

func TestDeterministicAcrossShards(t *testing.T) {
	set, err := Compile(Limits{}, Source{Name: "testdata/rules", FS: os.DirFS("testdata/rules")}, Source{Name: "bench", FS: os.DirFS("testdata/bench")})
	if err != nil {
		t.Fatal(err)
	}
	evs := simEvents(t, 150, 6*time.Hour)
	one := runEngine(t, set, evs, 1)
	four := runEngine(t, set, evs, 4)
	if len(one) == 0 {
		t.Fatal("the simulated attacks raised no rule alert")
	}
	if !slices.Equal(one, four) {
		t.Fatalf("1 shard: %d alerts, 4 shards: %d alerts; they differ", len(one), len(four))
	}
}

const countRule = `
rules:
  - id: u.base
    events: [auth.login]
    condition: data.result == "failure"
  - id: u.count
    title: failures
    category: credential-attack
    severity: low
    mappings: {r155: ["1.2"]}
    correlation: {type: event_count, rules: [u.base], group_by: [account], timespan: 10m, condition: {gte: 2}}
`

func login(id, account string, at time.Duration) *event.Event {
	base := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC).UnixNano()
	return &event.Event{ID: id, Source: "test", Type: event.TypeLogin, Tenant: "default", Time: base + int64(at),
		Login: &event.Login{Actor: event.Actor{Account: account}, Result: event.ResultFailure, Method: event.MethodPassword}}
}

func TestGroupsAreBounded(t *testing.T) {
	set, err := Compile(Limits{Groups: 3}, memSource("r", map[string]string{"r.yaml": countRule}))
	if err != nil {
		t.Fatal(err)
	}
	var evs []*event.Event
	for i := range 10 { // ten accounts fail once each: ten groups for a bound of three
		evs = append(evs, login("a"+string(rune('0'+i)), "acc-"+string(rune('0'+i)), time.Duration(i)*time.Second))
	}
	evs = append(evs, login("b0", "acc-0", 20*time.Second)) // acc-0's group was evicted: no alert
	evs = append(evs, login("b9", "acc-9", 21*time.Second)) // acc-9's is still there
	got := runEngine(t, set, evs, 1)
	if len(got) != 1 || !strings.Contains(got[0], `"account":"acc-9"`) {
		t.Fatalf("want one alert for acc-9, got %q", got)
	}
	m := set.Metrics()
	var ev int64
	for _, x := range m {
		ev += x.Evictions
	}
	if ev != 8 {
		t.Errorf("evictions = %d, want 8", ev)
	}
}

func TestMetricsAndSlowest(t *testing.T) {
	set := mustCompile(t, countRule)
	var evs []*event.Event
	for i := range 200 {
		evs = append(evs, login("x"+time.Duration(i).String(), "acc", time.Duration(i)*time.Minute))
	}
	runEngine(t, set, evs, 2)
	m := set.Metrics()
	if m[0].ID != "u.base" || m[0].Evaluations != 200 || m[0].Matches != 200 || m[0].MeanNs <= 0 {
		t.Errorf("base metrics: %+v", m[0])
	}
	if m[1].ID != "u.count" || m[1].Alerts != 100 || m[1].Matches != 200 {
		t.Errorf("count metrics: %+v", m[1])
	}
	if s := set.Slowest(5); len(s) != 1 || s[0].ID != "u.base" {
		t.Errorf("slowest: %+v", s)
	}
}

func TestSwapRefusesUnroutedCorrelation(t *testing.T) {
	first := mustCompile(t, countRule)
	d := NewDetector(first, Options{})
	byDevice := strings.Replace(countRule, "group_by: [account]", "group_by: [device]", 1)
	next := mustCompile(t, byDevice)
	err := d.Swap(next)
	if err == nil || !strings.Contains(err.Error(), "needs the engine to route auth.login events by device") {
		t.Fatalf("err = %v", err)
	}
	if d.Rules() != first {
		t.Error("the refused set must not be in force")
	}
	d2 := NewDetector(first, Options{Routes: []detect.Subscription{{Kind: detect.KindDevice, Types: []event.Type{event.TypeLogin}}}})
	if err := d2.Swap(next); err != nil {
		t.Errorf("a declared route should allow it: %v", err)
	}
}

// TestReload changes the files under a running engine: an unchanged
// correlation keeps its count, a broken file leaves the rules in force,
// a changed correlation starts afresh.
func TestReload(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		// Make the change visible to a stamp of size and mtime even within one clock tick.
		now := time.Now().Add(time.Duration(len(text)) * time.Millisecond)
		os.Chtimes(p, now, now)
	}
	write("a.yaml", countRule)
	src := Source{Name: dir, FS: os.DirFS(dir)}
	set, err := Compile(Limits{}, src)
	if err != nil {
		t.Fatal(err)
	}
	det := NewDetector(set, Options{})
	rl := &Reloader{Detector: det, Sources: []Source{src}}
	if err := rl.Prime(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var alerts []*alert.Alert
	eng, err := engine.New(engine.Options{Shards: 2, Detectors: []detect.Detector{det}, Alerts: func(a *alert.Alert) {
		mu.Lock()
		alerts = append(alerts, a)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	count := func() int {
		eng.Flush()
		eng.Query(func(engine.ShardView) {}) // wait until the shards handled what was pushed
		mu.Lock()
		defer mu.Unlock()
		return len(alerts)
	}
	eng.Push(login("1", "acc", 0))
	count()

	// A new rule file: u.count is unchanged and keeps its open count of one.
	write("b.yaml", "rules:\n  - id: u.other\n    title: o\n    category: credential-attack\n    severity: low\n    mappings: {r155: [\"1.2\"]}\n    condition: type == \"auth.login\" && data.method == \"pin\"\n")
	if ok, err := rl.Check(); !ok || err != nil {
		t.Fatalf("reload: %v %v", ok, err)
	}
	eng.Push(login("2", "acc", time.Minute))
	if n := count(); n != 1 {
		t.Fatalf("after reload: %d alerts, want 1 (state of u.count kept)", n)
	}

	// A broken file: reported with file and line, the rules stay.
	write("c.yaml", "rules:\n  - id: u.bad\n    condition: data.nope\n")
	ok, err := rl.Check()
	if ok || err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "c.yaml")+":3:") {
		t.Fatalf("broken reload: %v %v", ok, err)
	}
	if det.Rules().byID["u.other"] == nil {
		t.Fatal("the previous set should stay in force")
	}
	if ok, _ := rl.Check(); ok {
		t.Fatal("an unchanged broken directory is not reloaded again")
	}
	os.Remove(filepath.Join(dir, "c.yaml"))

	// Changing the threshold changes u.count: its state starts afresh.
	eng.Push(login("3", "acc", 2*time.Minute))
	count()
	write("a.yaml", strings.Replace(countRule, "gte: 2", "gte: 3", 1))
	if ok, err := rl.Check(); !ok || err != nil {
		t.Fatalf("reload: %v %v", ok, err)
	}
	eng.Push(login("4", "acc", 3*time.Minute))
	eng.Push(login("5", "acc", 4*time.Minute))
	if n := count(); n != 1 {
		t.Fatalf("%d alerts, want still 1: the changed rule counts from zero", n)
	}
	eng.Push(login("6", "acc", 5*time.Minute))
	if n := count(); n != 2 {
		t.Fatalf("%d alerts, want 2", n)
	}
	eng.Close()
}
