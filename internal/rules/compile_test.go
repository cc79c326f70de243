package rules

import (
	"strings"
	"testing"
)

// A rule header that raises alerts, for the cases below.
const head = "rules:\n  - id: u.r\n    title: t\n    category: data-exfiltration\n    severity: low\n    mappings: {r155: [\"7.2\"]}\n"

func TestCompileErrors(t *testing.T) {
	cases := []struct {
		name string
		text string
		want string // a substring of one problem, with its position
	}{
		{"unknown rule key", head + "    conditon: type == \"api.access\"\n",
			`r/rules.yaml:7:5: rule u.r: unknown field "conditon" in a rule (did you mean "condition"?)`},
		{"unknown field in condition", head + "    events: [api.access]\n    condition: data.rout == \"/x\"\n",
			`r/rules.yaml:8:21: rule u.r: condition: type rules.Data has no field rout`},
		{"syntax error", head + "    events: [api.access]\n    condition: data.route == \n",
			`r/rules.yaml:8:`},
		{"not a bool", head + "    events: [api.access]\n    condition: data.status\n",
			`rule u.r: condition: expected bool, but got int`},
		{"always true", head + "    events: [api.access]\n    condition: 1 == 1\n",
			`r/rules.yaml:8:16: rule u.r: condition is always true`},
		{"enum typo", head + "    events: [vehicle.command]\n    condition: data.stage == \"requestd\"\n",
			`rule u.r: data.stage is never "requestd": it is one of requested, sent, delivered, executed, failed, rejected`},
		{"type typo", head + "    condition: type == \"auth.logins\"\n",
			`rule u.r: type is never "auth.logins"`},
		{"type contradicts events", head + "    events: [api.access]\n    condition: type == \"auth.login\"\n",
			`condition is always false: it asks for type auth.login but the rule looks at events api.access`},
		{"unknown event type", head + "    events: [api.acces]\n    condition: data.status > 0\n",
			`r/rules.yaml:7:14: rule u.r: unknown event type "api.acces" (did you mean "api.access"?)`},
		{"unknown category", "rules:\n  - id: u.r\n    title: t\n    category: exfil\n    severity: low\n    condition: type == \"api.access\"\n",
			`r/rules.yaml:4:15: rule u.r: unknown category "exfil"`},
		{"missing severity", "rules:\n  - id: u.r\n    title: t\n    category: data-exfiltration\n    condition: type == \"api.access\"\n",
			`rule u.r: severity is required for a rule that raises alerts`},
		{"bad mapping id", "rules:\n  - id: u.r\n    title: t\n    category: data-exfiltration\n    severity: low\n    mappings: {attack: [T11]}\n    condition: type == \"api.access\"\n",
			`"T11" is not a MITRE ATT&CK technique id`},
		{"duplicate id", head + "    condition: type == \"api.access\"\n  - id: u.r\n    title: t\n    category: data-exfiltration\n    severity: low\n    condition: type == \"api.access\"\n",
			`r/rules.yaml:8:9: rule u.r: duplicate rule id (also at r/rules.yaml:2)`},
		{"group_by not routable", head + "    correlation: {type: event_count, rules: [u.b], group_by: [data.actor.account], timespan: 5m, condition: {gte: 2}}\n  - id: u.b\n    condition: type == \"auth.login\"\n",
			`group_by must start with a key the engine routes on, so the correlation's state lives on one shard: vehicle, account, ip, client, device, subnet, artifact, not "data.actor.account" (write account: the engine's account key)`},
		{"group_by key the type lacks", head + "    correlation: {type: event_count, rules: [u.b], group_by: [account], timespan: 5m, condition: {gte: 2}}\n  - id: u.b\n    condition: type == \"vehicle.telemetry\" && data.speed > 250\n",
			`group_by account: vehicle.telemetry events (rule u.b) never carry that key`},
		{"unknown correlated rule", head + "    correlation: {type: temporal, rules: [u.x, u.y], group_by: [vehicle], timespan: 5m}\n",
			`correlation names unknown rule "u.x"`},
		{"cycle", head + "    correlation: {type: event_count, rules: [u.c], group_by: [vehicle], timespan: 5m, condition: {gte: 2}}\n  - id: u.c\n    correlation: {type: event_count, rules: [u.r], group_by: [vehicle], timespan: 5m, condition: {gte: 2}}\n",
			`correlations name each other in a cycle`},
		{"timespan too long", head + "    correlation: {type: event_count, rules: [u.b], group_by: [vehicle], timespan: 400d, condition: {gte: 2}}\n  - id: u.b\n    condition: type == \"ids.report\"\n",
			`timespan 9600h0m0s is outside 1s to 744h0m0s`},
		{"exception on unknown field", head + "    events: [api.access]\n    condition: data.status == 200\n    exceptions:\n      - {name: x, fields: [data.actor.clientid], values: [[a]]}\n",
			`r/rules.yaml:10:28: rule u.r: exception x: unknown field "data.actor.clientid" (did you mean "data.actor.client_id"?)`},
		{"exception comp on wrong kind", head + "    events: [api.access]\n    condition: data.status == 200\n    exceptions:\n      - {name: x, fields: [data.status], comps: [startswith], values: [[\"2\"]]}\n",
			`data.status (int) cannot be compared with "startswith"`},
		{"macro cycle", "macros:\n  a: b\n  b: a\n" + head + "    condition: a\n", `uses itself`},
		{"alias", "lists:\n  a: &x [1]\n  b: *x\n", `YAML anchors and aliases`},
		{"second document", head + "    condition: type == \"api.access\"\n---\nrules: []\n", `a rule file holds one YAML document`},
		{"now is disabled", head + "    condition: type == \"api.access\" && time < now()\n", `unknown name now`},
		{"dynamic regexp", head + "    condition: type == \"api.access\" && data.route matches data.actor.account\n", `the pattern after matches must be a constant string`},
		{"explanation placeholder", head + "    condition: type == \"api.access\"\n    explanation: \"{{data.rout}}\"\n", `explanation: unknown placeholder {{data.rout}} (did you mean "data.route"?)`},
		{"count var in single rule", head + "    condition: type == \"api.access\"\n    explanation: \"{{count}}\"\n", `{{count}} is only known in a correlation`},
		{"test file in rules dir", "tests: []\n", `this is a rule test file`},
		{"not yaml", "rules: [\n", `not valid YAML`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ps := problemsOf(tc.text, Limits{})
			if !containsAny(ps, tc.want) {
				t.Errorf("no problem contains %q; got:\n%s", tc.want, strings.Join(ps, "\n"))
			}
		})
	}
}

func TestHostileRulesAreRefused(t *testing.T) {
	deep := strings.Repeat("(data.status > 0 && ", 60) + "true" + strings.Repeat(")", 60)
	long := "type == \"api.access\"" + strings.Repeat(" && data.status > 0", 300)
	var macros strings.Builder
	macros.WriteString("macros:\n  m0: data.status > 0\n")
	for i := 1; i < 8; i++ {
		// Each macro uses the previous one ten times: 10^7 nodes if expanded.
		macros.WriteString("  m" + string(rune('0'+i)) + ": " + strings.TrimSuffix(strings.Repeat("m"+string(rune('0'+i-1))+" && ", 10), " && ") + "\n")
	}
	bigList := "lists:\n  big: [" + strings.Repeat("a, ", 20000) + "a]\n"
	cases := []struct {
		name, text, want string
		lim              Limits
	}{
		{"deep nesting", head + "    condition: 'type == \"api.access\" && " + deep + "'\n", "nests", Limits{}},
		{"long expression", head + "    condition: '" + long + "'\n", "longer than the limit of 4096 bytes", Limits{}},
		{"macro explosion", macros.String() + head + "    events: [api.access]\n    condition: m7\n", "more than the limit of 2000", Limits{}},
		{"huge list", bigList, "more than the limit of 10000", Limits{}},
		{"large list scanned", "lists:\n  l: [" + strings.Repeat("a, ", 100) + "a]\n" + head + "    events: [api.access]\n    condition: 'any(l, data.route startsWith #)'\n", "use it only as `x in l`", Limits{}},
		{"too many rules", head + "    condition: type == \"api.access\"\n  - id: u.s\n    title: t\n    category: data-exfiltration\n    severity: low\n    condition: type == \"api.access\"\n", "2 rules is more than the limit of 1", Limits{Rules: 1}},
		{"file too large", head + "    condition: type == \"api.access\"\n", "larger than the limit of 64 bytes", Limits{FileBytes: 64}},
		{"count too large", head + "    correlation: {type: event_count, rules: [u.b], group_by: [vehicle], timespan: 5m, condition: {gte: 5000}}\n  - id: u.b\n    condition: type == \"ids.report\"\n", "a count of 5000 is more than the limit of 1000", Limits{}},
		{"range allocation", head + "    condition: 'type == \"api.access\" && len(1..100000000) > 0'\n", "constant bounds at most 1000 apart", Limits{}},
		{"range walked per event", head + "    condition: 'type == \"api.access\" && all(0..900000, {# >= 0})'\n", "constant bounds at most 1000 apart", Limits{}},
		{"range with a variable bound", head + "    condition: 'type == \"api.access\" && any(0..data.status, {# == 7})'\n", "constant bounds at most 1000 apart", Limits{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ps := problemsOf(tc.text, tc.lim)
			if tc.want == "" {
				return // it must only not crash or hang
			}
			if !containsAny(ps, tc.want) {
				t.Errorf("no problem contains %q; got:\n%s", tc.want, strings.Join(ps, "\n"))
			}
		})
	}
}

func TestOverride(t *testing.T) {
	base := memSource("pack", map[string]string{"a.yaml": "lists:\n  l: [x]\n" + head + "    events: [api.access]\n    condition: data.route in l\n"})
	user := memSource("user", map[string]string{"b.yaml": "lists:\n  l: [y]\n" + strings.Replace(head, "severity: low", "severity: high", 1) + "    events: [api.access]\n    condition: data.route in l\n"})
	set, err := Compile(Limits{}, base, user)
	if err != nil {
		t.Fatal(err)
	}
	if set.Len() != 1 || set.rules[0].Severity.String() != "high" || set.rules[0].File != "user/b.yaml" {
		t.Fatalf("user rule should replace the pack's: %+v", set.Rules())
	}
	if !strings.Contains(set.rules[0].prog.Node().String(), `"y"`) {
		t.Errorf("user list should replace the pack's: %s", set.rules[0].prog.Node())
	}
}

func TestInferTypes(t *testing.T) {
	cases := map[string]string{
		`type == "auth.login" && data.result == "failure"`:            "auth.login",
		`type in ["auth.login", "api.access"] && data.actor.ip != ""`: "auth.login, api.access",
		`(type == "auth.login" || type == "api.access") && true`:      "auth.login, api.access",
		`data.actor.ip == "1.2.3.4"`:                                  "vehicle.telemetry, vehicle.event, vehicle.command, auth.login, account.change, api.access, sms.message, firmware.install, ids.report",
	}
	for cond, want := range cases {
		set := mustCompile(t, head+"    condition: '"+cond+"'\n")
		if got := typesText(set.rules[0].types); got != want {
			t.Errorf("%s: types %s, want %s", cond, got, want)
		}
	}
}
