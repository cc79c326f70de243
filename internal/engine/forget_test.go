package engine_test

import (
	"bytes"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/detect/command"
	"github.com/vigil-project/vigil/internal/detect/credential"
	"github.com/vigil-project/vigil/internal/detect/ids"
	"github.com/vigil-project/vigil/internal/engine"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/rules"
	"github.com/vigil-project/vigil/internal/twin"
)

const forgetRules = `
rules:
  - id: f.base
    events: [auth.login]
    condition: data.result == "failure"
  - id: f.accounts-per-ip
    title: accounts per address
    category: credential-attack
    severity: low
    mappings: {r155: ["1.2"]}
    correlation: {type: value_count, rules: [f.base], group_by: [ip], timespan: 1h, condition: {gte: 50, field: data.actor.account}}
  - id: f.per-account
    title: failures per account
    category: credential-attack
    severity: low
    mappings: {r155: ["1.2"]}
    correlation: {type: event_count, rules: [f.base], group_by: [account], timespan: 1h, condition: {gte: 50}}
`

func forgetDetectors(t *testing.T) []detect.Detector {
	t.Helper()
	set, err := rules.Compile(rules.Limits{}, rules.Source{Name: "r", FS: fstest.MapFS{"r.yaml": &fstest.MapFile{Data: []byte(forgetRules)}}})
	if err != nil {
		t.Fatal(err)
	}
	return []detect.Detector{command.NewOrphan(command.OrphanConfig{Window: 2 * time.Minute}), credential.New(credential.Config{}),
		ids.NewCampaign(ids.CampaignConfig{MinVehicles: 3}), rules.NewDetector(set, rules.Options{})}
}

// forgetStream: a subject (vehicle, account, address) and a bystander, who
// share state: the subject's failed logins come from the bystander's
// address and the bystander's from the subject's, the subject is linked
// to the bystander's vehicle, both vehicles report the same IDS event,
// and the subject's vehicle has an unlock waiting for its command.
func forgetStream() []*event.Event {
	const (
		veh, acct, ip             = "VINERASED0000001", "acct-erased", "203.0.113.99"
		keepVeh, keepAcct, keepIP = "VINKEPT000000001", "acct-kept", "198.51.100.7"
	)
	login := func(id string, sec float64, account, addr string) *event.Event {
		return &event.Event{ID: id, Source: "api", Type: event.TypeLogin, Time: at(sec), Tenant: "t",
			Login: &event.Login{Actor: event.Actor{Account: account, IP: addr}, Result: event.ResultFailure, Method: event.MethodPassword}}
	}
	report := func(id string, sec float64, vin string) *event.Event {
		return &event.Event{ID: id, Source: "ids", Type: event.TypeIDS, Time: at(sec), Subject: vin, Tenant: "t",
			IDS: &event.IDSReport{ECU: "gw", EventID: "E-7", Severity: event.SeverityHigh}}
	}
	link := &event.Event{ID: "ac1", Source: "api", Type: event.TypeAccountChange, Time: at(3), Tenant: "t",
		AccountChange: &event.AccountChange{Actor: event.Actor{Account: acct}, Account: acct, Change: event.ChangeVehicleLinked, Vehicle: keepVeh}}
	ev := []*event.Event{
		fix("f1", 1, veh, "t"), fix("f2", 1, keepVeh, "t"), link,
		login("l1", 4, acct, keepIP), login("l2", 5, keepAcct, ip), login("l3", 6, acct, ip), login("l4", 7, keepAcct, keepIP),
		report("i1", 8, veh), report("i2", 9, keepVeh),
		unlocked("u1", 10, veh), unlocked("u2", 10, keepVeh),
		fix("f3", 20, veh, "t"), fix("f4", 20, keepVeh, "t"),
	}
	return ev
}

var (
	erasedValues   = []string{"VINERASED0000001", "acct-erased", "203.0.113.99"}
	keptValues     = []string{"VINKEPT000000001", "acct-kept", "198.51.100.7"}
	erasedSubjects = []twin.Subject{{Kind: twin.SubjectVehicle, Value: "VINERASED0000001"},
		{Kind: twin.SubjectAccount, Value: "acct-erased"}, {Kind: twin.SubjectIP, Value: "203.0.113.99"}}
)

func snapshotBytes(t *testing.T, e *engine.Engine) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := e.Snapshot(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestForget: after Forget, a snapshot holds nothing of the subjects —
// their keys, their timers, what other keys and the detectors' shard
// state remember of them — and everything of the bystander; a restored
// engine neither brings them back nor fires their timers.
func TestForget(t *testing.T) {
	for _, shards := range []int{1, 3} {
		var out collector
		e, err := engine.New(engine.Options{Shards: shards, Detectors: forgetDetectors(t), Alerts: out.add})
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range forgetStream() {
			e.Push(ev)
		}
		before := snapshotBytes(t, e)
		for _, v := range append(erasedValues, keptValues...) {
			if !bytes.Contains(before, []byte(v)) {
				t.Fatalf("%d shards: %s is not in the state before the erasure: the stream does not exercise Forget", shards, v)
			}
		}
		st := e.Forget("t", erasedSubjects...)
		if st.Keys < 3 || st.Timers < 1 || st.References < 2 {
			t.Errorf("%d shards: forgot %+v: want the 3 keys, the unlock's timer and the references of the bystander's state", shards, st)
		}
		// Another tenant's values are not touched, even if equal.
		if other := e.Forget("u", erasedSubjects...); other != (engine.ForgetStats{}) {
			t.Errorf("tenant u: %+v", other)
		}
		after := snapshotBytes(t, e)
		check := func(when string, b []byte) {
			for _, v := range erasedValues {
				if bytes.Contains(b, []byte(v)) {
					t.Errorf("%d shards, %s: %s is still in the state", shards, when, v)
				}
			}
			for _, v := range keptValues {
				if !bytes.Contains(b, []byte(v)) {
					t.Errorf("%d shards, %s: %s, not erased, is gone", shards, when, v)
				}
			}
		}
		check("after Forget", after)
		e.Stop()

		var out2 collector
		r, err := engine.New(engine.Options{Shards: shards, Detectors: forgetDetectors(t), Alerts: out2.add})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Restore(bytes.NewReader(after)); err != nil {
			t.Fatal(err)
		}
		check("restored", snapshotBytes(t, r))
		var found atomic.Bool // Query runs on every shard at once
		r.Query(func(v engine.ShardView) {
			if v.Vehicle("t", erasedValues[0]) != nil {
				found.Store(true)
			}
		})
		if found.Load() {
			t.Errorf("%d shards: the erased vehicle's twin is back after the restore", shards)
		}
		r.Close() // every window closes: the bystander's unlock alerts, the subject's is gone
		var vehicles []string
		for _, a := range append(out.alerts, out2.alerts...) {
			if a.Detector == "cmd.orphan-state-change" {
				vehicles = append(vehicles, a.Entities.Vehicle)
			}
		}
		if len(vehicles) != 1 || vehicles[0] != keptValues[0] {
			t.Errorf("%d shards: orphan unlock alerts on %v, want one on %s", shards, vehicles, keptValues[0])
		}
		for _, a := range append(out.alerts, out2.alerts...) {
			if b := alert.AppendJSON(nil, a); bytes.Contains(b, []byte(erasedValues[0])) {
				t.Errorf("%d shards: an alert after the erasure names it: %s", shards, b)
			}
		}
	}
}
