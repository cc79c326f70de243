package rules

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/engine"
	"github.com/vigil-project/vigil/internal/event"
)

// Rule tests, in the spirit of promtool test rules: a YAML file of cases,
// each a list of input events and the alerts expected from given rules
// (and rules expected to stay quiet). Events go through a real engine with
// the rules detector, on event time; at the end of a case every window
// closes, so absences fire.
//
//	tests:
//	  - name: ten failures, a success, an unlock
//	    start: 2026-03-02T07:00:00Z      # events may give at: (offset) instead of time:
//	    events:
//	      - {type: auth.login, at: 0s, repeat: 10, every: 20s,
//	         data: {actor: {account: acc-1, ip: 203.0.113.9}, result: failure, method: password}}
//	    alerts:
//	      - rule: pack.ato.bruteforce-then-unlock
//	        severity: critical
//	        entities: {account: acc-1}
//	    no_alerts: [pack.cred.other-rule]

// TestResult is the outcome of one test case.
type TestResult struct {
	File     string
	Line     int
	Name     string
	Events   int
	Alerts   []*alert.Alert // every alert raised, shadow ones included, by time
	Failures []string       // empty when the case passed
}

// Passed reports whether the case passed.
func (r *TestResult) Passed() bool { return len(r.Failures) == 0 }

type testCase struct {
	line     int
	name     string
	lateness time.Duration
	events   []*event.Event
	expect   []expectAlert
	quiet    []scalar
}

type expectAlert struct {
	line        int
	rule        string
	count       int // 0: one per entry
	severity    string
	title       string
	explanation string
	contains    string
	entities    map[string]string
	evidence    []string
	time        string
}

// RunTests runs the cases of one test file against set. The error is for a
// test file that cannot be read; failed cases are in the results.
func RunTests(set *RuleSet, file string, data []byte) ([]TestResult, error) {
	cases, err := parseTests(file, data)
	if err != nil {
		return nil, err
	}
	var out []TestResult
	for _, tc := range cases {
		out = append(out, runCase(set, file, tc))
	}
	return out, nil
}

func parseTests(file string, data []byte) ([]*testCase, error) {
	ps := &problems{}
	d := &decoder{file: file, ps: ps}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s:%d: not valid YAML: %s", file, yamlErrorLine(err), yamlErrorText(err))
	}
	if len(doc.Content) == 0 || !d.plain(&doc) {
		if ps.errors() > 0 {
			return nil, &LoadError{Problems: ps.sorted()}
		}
		return nil, fmt.Errorf("%s: empty test file", file)
	}
	var cases []*testCase
	dec := event.NewDecoder(event.Limits{})
	d.mapping(doc.Content[0], "a test file", []string{"tests"}, func(_ string, _, v *yaml.Node) {
		if v.Kind != yaml.SequenceNode {
			d.errf(v, "tests must be a list of cases")
			return
		}
		for _, cn := range v.Content {
			if tc := d.testCase(cn, dec); tc != nil {
				cases = append(cases, tc)
			}
		}
	})
	if ps.errors() > 0 {
		return nil, &LoadError{Problems: ps.sorted()}
	}
	return cases, nil
}

func (d *decoder) testCase(n *yaml.Node, dec *event.Decoder) *testCase {
	tc := &testCase{line: n.Line}
	var start time.Time
	var evNodes []*yaml.Node
	d.mapping(n, "a test", []string{"name", "start", "lateness", "events", "alerts", "no_alerts"}, func(key string, k, v *yaml.Node) {
		switch key {
		case "name":
			tc.name, _ = d.str(v, "name")
		case "start":
			s, _ := d.scalar(v, "start")
			t, err := time.Parse(time.RFC3339Nano, s.value)
			if err != nil {
				d.errf(v, "start must be an RFC 3339 time, e.g. 2026-03-02T07:00:00Z")
			}
			start = t
		case "lateness":
			s, _ := d.scalar(v, "lateness")
			l, err := parseDuration(s.value)
			if err != nil {
				d.errf(v, "lateness: %v", err)
			}
			tc.lateness = l
		case "events":
			if v.Kind != yaml.SequenceNode {
				d.errf(v, "events must be a list")
				return
			}
			evNodes = v.Content
		case "alerts":
			if v.Kind != yaml.SequenceNode {
				d.errf(v, "alerts must be a list of expected alerts")
				return
			}
			for _, an := range v.Content {
				tc.expect = append(tc.expect, d.expectAlert(an))
			}
		case "no_alerts":
			tc.quiet = d.scalars(v, "no_alerts")
		}
	})
	if tc.name == "" {
		d.errf(n, "a test needs a name")
	}
	for _, en := range evNodes {
		tc.events = append(tc.events, d.testEvents(en, start, len(tc.events), dec)...)
	}
	if len(tc.events) == 0 {
		d.errf(n, "test %q has no events", tc.name)
	}
	return tc
}

func (d *decoder) expectAlert(n *yaml.Node) expectAlert {
	e := expectAlert{line: n.Line}
	d.mapping(n, "an expected alert", []string{"rule", "count", "severity", "title", "explanation", "explanation_contains",
		"entities", "evidence", "time"}, func(key string, k, v *yaml.Node) {
		switch key {
		case "rule":
			e.rule, _ = d.str(v, "rule")
		case "count":
			s, _ := d.scalar(v, "count")
			c, err := strconv.Atoi(s.value)
			if err != nil || c < 1 {
				d.errf(v, "count must be a whole number of at least 1 (use no_alerts for none)")
			}
			e.count = c
		case "severity":
			e.severity, _ = d.str(v, "severity")
		case "title":
			e.title, _ = d.str(v, "title")
		case "explanation":
			e.explanation, _ = d.str(v, "explanation")
		case "explanation_contains":
			e.contains, _ = d.str(v, "explanation_contains")
		case "time":
			e.time, _ = d.str(v, "time")
		case "evidence":
			e.evidence = d.strings(v, "evidence")
		case "entities":
			e.entities = map[string]string{}
			d.mapping(v, "entities", []string{"vehicle", "vehicles", "account", "device", "ip", "client_id", "msisdn"}, func(key string, k, v *yaml.Node) {
				if key == "vehicles" {
					e.entities[key] = strings.Join(d.strings(v, key), ",")
					return
				}
				e.entities[key], _ = d.str(v, key)
			})
		}
	})
	if e.rule == "" {
		d.errf(n, "an expected alert needs the rule that raises it")
	}
	return e
}

// testEvents turns one event entry into events: CloudEvents attributes with
// defaults (specversion 1.0, source test, an id), and at:, repeat:, every:.
func (d *decoder) testEvents(n *yaml.Node, start time.Time, index int, dec *event.Decoder) []*event.Event {
	var m map[string]any
	if n.Kind != yaml.MappingNode {
		d.errf(n, "an event must be a mapping with type, time (or at) and data")
		return nil
	}
	if err := n.Decode(&m); err != nil {
		d.errf(n, "event: %v", err)
		return nil
	}
	repeat, every := 1, time.Duration(0)
	var at *time.Duration
	if v, ok := m["repeat"]; ok {
		r, ok := v.(int)
		if !ok || r < 1 || r > 10000 {
			d.errf(n, "repeat must be a whole number from 1 to 10000")
			return nil
		}
		repeat = r
	}
	for _, key := range []string{"every", "at"} {
		v, ok := m[key]
		if !ok {
			continue
		}
		dur, err := parseDuration(fmt.Sprint(v))
		if err != nil {
			d.errf(n, "%s: %v", key, err)
			return nil
		}
		if key == "every" {
			every = dur
		} else {
			at = &dur
		}
	}
	delete(m, "repeat")
	delete(m, "every")
	delete(m, "at")
	if at != nil {
		if start.IsZero() {
			d.errf(n, "at: needs the test's start")
			return nil
		}
		if _, ok := m["time"]; ok {
			d.errf(n, "give time or at, not both")
			return nil
		}
	}
	var base time.Time
	if at != nil {
		base = start.Add(*at)
	} else if s, ok := m["time"].(string); ok {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			d.errf(n, "time must be an RFC 3339 time")
			return nil
		}
		base = t
	} else if t, ok := m["time"].(time.Time); ok {
		base = t
	} else {
		d.errf(n, "an event needs time or at")
		return nil
	}
	if _, ok := m["specversion"]; !ok {
		m["specversion"] = "1.0"
	}
	if _, ok := m["source"]; !ok {
		m["source"] = "test"
	}
	id, hasID := m["id"].(string)
	if !hasID {
		id = "e" + strconv.Itoa(index+1)
	}
	var out []*event.Event
	for i := range repeat {
		m["time"] = base.Add(time.Duration(i) * every).UTC().Format(time.RFC3339Nano)
		m["id"] = id
		if repeat > 1 {
			m["id"] = id + "-" + strconv.Itoa(i+1)
		}
		b, err := json.Marshal(m)
		if err != nil {
			d.errf(n, "event: %v", err)
			return nil
		}
		ev, err := dec.Decode(b)
		if err != nil {
			d.errf(n, "event rejected by the ingest contract: %v", err)
			return nil
		}
		out = append(out, ev)
	}
	return out
}

func runCase(set *RuleSet, file string, tc *testCase) TestResult {
	res := TestResult{File: file, Line: tc.line, Name: tc.name, Events: len(tc.events)}
	var mu sync.Mutex
	collect := func(a *alert.Alert) {
		mu.Lock()
		res.Alerts = append(res.Alerts, a)
		mu.Unlock()
	}
	det := NewDetector(set, Options{Shadow: collect})
	eng, err := engine.New(engine.Options{Shards: 2, Lateness: tc.lateness, Detectors: []detect.Detector{det}, Alerts: collect})
	if err != nil {
		res.Failures = append(res.Failures, err.Error())
		return res
	}
	for _, ev := range tc.events {
		eng.Push(ev)
	}
	eng.Close()
	slices.SortStableFunc(res.Alerts, func(a, b *alert.Alert) int {
		return cmp.Or(cmp.Compare(a.Time, b.Time), cmp.Compare(a.Detector, b.Detector), cmp.Compare(a.ID, b.ID))
	})
	byRule := map[string][]*alert.Alert{}
	for _, a := range res.Alerts {
		byRule[a.Detector] = append(byRule[a.Detector], a)
	}
	want := map[string][]expectAlert{}
	var order []string
	for _, e := range tc.expect {
		if set.byID[e.rule] == nil {
			res.Failures = append(res.Failures, fmt.Sprintf("line %d: rule %s is not in the rule set (or is disabled)", e.line, e.rule))
			continue
		}
		if want[e.rule] == nil {
			order = append(order, e.rule)
		}
		want[e.rule] = append(want[e.rule], e)
	}
	for _, id := range order {
		exps, got := want[id], byRule[id]
		n := 0
		for _, e := range exps {
			n += max(e.count, 1)
		}
		if len(got) != n {
			res.Failures = append(res.Failures, fmt.Sprintf("rule %s: want %d alert(s), got %d", id, n, len(got)))
			continue
		}
		i := 0
		for _, e := range exps {
			for range max(e.count, 1) {
				for _, diff := range e.diff(got[i]) {
					res.Failures = append(res.Failures, fmt.Sprintf("rule %s, alert %d (line %d): %s", id, i+1, e.line, diff))
				}
				i++
			}
		}
	}
	for _, q := range tc.quiet {
		if set.byID[q.value] == nil {
			res.Failures = append(res.Failures, fmt.Sprintf("no_alerts: rule %s is not in the rule set (or is disabled)", q.value))
			continue
		}
		if n := len(byRule[q.value]); n > 0 {
			res.Failures = append(res.Failures, fmt.Sprintf("rule %s: want no alert, got %d", q.value, n))
		}
	}
	return res
}

// diff lists how a raised alert differs from the expectation.
func (e *expectAlert) diff(a *alert.Alert) []string {
	var out []string
	check := func(what, want, got string) {
		if want != "" && want != got {
			out = append(out, fmt.Sprintf("%s: want %q, got %q", what, want, got))
		}
	}
	check("severity", e.severity, a.Severity.String())
	check("title", e.title, a.Title)
	check("explanation", e.explanation, a.Explanation)
	if e.contains != "" && !strings.Contains(a.Explanation, e.contains) {
		out = append(out, fmt.Sprintf("explanation: want it to contain %q, got %q", e.contains, a.Explanation))
	}
	if e.time != "" {
		check("time", e.time, fmtTime(a.Time))
	}
	ent := map[string]string{"vehicle": a.Entities.Vehicle, "vehicles": strings.Join(a.Entities.Vehicles, ","),
		"account": a.Entities.Account, "device": a.Entities.Device, "ip": a.Entities.IP,
		"client_id": a.Entities.ClientID, "msisdn": a.Entities.MSISDN}
	keys := make([]string, 0, len(e.entities))
	for k := range e.entities {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		check("entities."+k, e.entities[k], ent[k])
	}
	if e.evidence != nil {
		var ids []string
		for _, r := range a.Evidence {
			ids = append(ids, r.ID)
		}
		if !slices.Equal(ids, e.evidence) {
			out = append(out, fmt.Sprintf("evidence: want [%s], got [%s]", strings.Join(e.evidence, ", "), strings.Join(ids, ", ")))
		}
	}
	return out
}

// FormatAlert renders an alert for a test report, one line.
func FormatAlert(a *alert.Alert) string {
	var ent []string
	add := func(k, v string) {
		if v != "" {
			ent = append(ent, k+"="+v)
		}
	}
	add("vehicle", a.Entities.Vehicle)
	add("vehicles", strings.Join(a.Entities.Vehicles, ","))
	add("account", a.Entities.Account)
	add("device", a.Entities.Device)
	add("ip", a.Entities.IP)
	add("client_id", a.Entities.ClientID)
	add("msisdn", a.Entities.MSISDN)
	return fmt.Sprintf("%s %s %s [%s] %s", fmtTime(a.Time), a.Detector, a.Severity, strings.Join(ent, " "), a.Explanation)
}
