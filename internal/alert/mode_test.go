package alert

import (
	"encoding/json"
	"testing"
)

func TestModes(t *testing.T) {
	m := NewModes(map[string]Mode{"d-shadow": ModeShadow, "d-off": ModeOff, "d-off-but-a": ModeOff},
		map[string]map[string]Mode{"fleet-a": {"d-off-but-a": ModeEnabled, "d-plain": ModeShadow}, "fleet-b": {"d-shadow": ModeEnabled}})
	cases := []struct {
		det, tenant string
		mode        Mode
	}{
		{"d-shadow", "fleet-a", ModeShadow},
		{"d-shadow", "fleet-b", ModeEnabled}, // the tenant's override wins
		{"d-off", "fleet-a", ModeOff},
		{"d-off-but-a", "fleet-a", ModeEnabled},
		{"d-off-but-a", "fleet-c", ModeOff},
		{"d-plain", "fleet-a", ModeShadow},
		{"d-plain", "fleet-b", ModeEnabled},
		{"unknown", "fleet-a", ModeEnabled},
	}
	for _, c := range cases {
		if got := m.Of(c.det, c.tenant); got != c.mode {
			t.Errorf("%s for %s: %v, want %v", c.det, c.tenant, got, c.mode)
		}
	}
	for det, runs := range map[string]bool{"d-off": false, "d-off-but-a": true, "d-shadow": true, "unknown": true} {
		if m.Runs(det) != runs {
			t.Errorf("Runs(%s) = %v", det, !runs)
		}
	}
	if o := m.Overrides("d-off-but-a"); len(o) != 1 || o[0] != (TenantMode{"fleet-a", ModeEnabled}) {
		t.Errorf("overrides %v", o)
	}
	a := mk("al-1", "d-shadow", 0, Entities{Account: "x"})
	if !m.Apply(a) || !a.Shadow {
		t.Errorf("shadow detector: kept and marked, got shadow=%v", a.Shadow)
	}
	b := mk("al-2", "d-off", 0, Entities{Account: "x"})
	if m.Apply(b) {
		t.Error("an alert of a detector off for its tenant went on")
	}
	r := mk("al-3", "my-rule", 0, Entities{Account: "x"})
	r.Shadow = true // a shadow rule
	if !m.Apply(r) || !r.Shadow {
		t.Error("a shadow rule's alert lost its mark")
	}
	var nilModes *Modes
	if nilModes.Of("x", "y") != ModeEnabled || !nilModes.Runs("x") {
		t.Error("no table: everything enabled")
	}
	for _, s := range []string{"enabled", "shadow", "off"} {
		if md, err := ParseMode(s); err != nil || md.String() != s {
			t.Errorf("ParseMode(%s) = %v, %v", s, md, err)
		}
	}
	if _, err := ParseMode("on"); err == nil {
		t.Error("ParseMode accepted on")
	}
}

// TestManagerShadow: shadow alerts are deduplicated but join no incident,
// and a shadow repeat never hides a raised alert.
func TestManagerShadow(t *testing.T) {
	type got struct {
		id  string
		inc *Incident
	}
	var out []got
	m := NewManager(ManagerOptions{Out: func(a *Alert, inc *Incident) { out = append(out, got{a.ID, inc}) }})
	shadow := func(id string, sec int) *Alert {
		a := mk(id, "d1", sec, Entities{Account: "acc-1"})
		a.Shadow = true
		return a
	}
	steps := []struct {
		a      *Alert
		passed bool
	}{
		{shadow("s1", 0), true},
		{shadow("s1", 0), false},                               // re-delivered
		{shadow("s2", 60), false},                              // repeat within the dedup window
		{mk("r1", "d1", 90, Entities{Account: "acc-1"}), true}, // raised: not hidden by the shadow repeat
		{mk("r2", "d2", 100, Entities{Account: "acc-1"}), true},
	}
	for i, s := range steps {
		if p := m.Add(s.a); p != s.passed {
			t.Errorf("step %d (%s): passed %v, want %v", i, s.a.ID, p, s.passed)
		}
	}
	if len(out) != 3 || out[0].id != "s1" || out[0].inc != nil {
		t.Fatalf("out %+v: want s1 without an incident first", out)
	}
	if out[1].inc == nil || out[2].inc == nil || out[1].inc.root() != out[2].inc.root() || out[1].inc.root().Alerts != 2 {
		t.Errorf("raised alerts: one incident of two alerts, the shadow one not in it: %+v", out)
	}
	if st := m.Stats(); st.Shadow != 1 || st.Alerts != 2 || st.Duplicates != 2 || st.Incidents != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestJSONShadow(t *testing.T) {
	a := mk("al-1", "d", 0, Entities{Account: "a"})
	var m map[string]any
	json.Unmarshal(AppendJSON(nil, a), &m)
	if _, ok := m["shadow"]; ok {
		t.Error("a raised alert's JSON names shadow")
	}
	a.Shadow = true
	if err := json.Unmarshal(AppendJSON(nil, a), &m); err != nil || m["shadow"] != true {
		t.Errorf("shadow alert JSON: %v %v", m["shadow"], err)
	}
}
