package rules

import (
	"strings"
	"testing"
)

func TestLint(t *testing.T) {
	text := `lists:
  unused_list: [a]
macros:
  unused_macro: data.status > 0
rules:
  - id: u.no-mappings
    title: t
    category: data-exfiltration
    severity: low
    events: [api.access]
    condition: data.route != "/health"
  - id: u.all-types
    title: t
    category: data-exfiltration
    severity: low
    mappings: {r155: ["7.2"]}
    condition: data.actor.ip == "192.0.2.1"
  - id: u.wrong-type-field
    title: t
    category: data-exfiltration
    severity: low
    mappings: {r155: ["7.2"]}
    events: [auth.login]
    condition: data.result == "failure" && data.speed > 100
  - id: u.open-name
    title: t
    category: unauthorized-command
    severity: low
    mappings: {r155: ["16.1"]}
    events: [vehicle.event]
    condition: data.name == "window_opened"
`
	ps := Lint(Limits{}, memSource("r", map[string]string{"rules.yaml": text}))
	var got []string
	for _, p := range ps {
		got = append(got, p.String())
	}
	want := []string{
		`r/rules.yaml:2: warning: list unused_list is defined but no rule uses it`,
		`r/rules.yaml:4: warning: macro unused_macro is defined but no rule uses it`,
		`r/rules.yaml:6:5: warning: rule u.no-mappings: no mappings: the alert is filed under the defaults of data-exfiltration`,
		`r/rules.yaml:6: warning: rule u.no-mappings: the condition matches an empty api.access event`,
		`r/rules.yaml:17:16: warning: rule u.all-types: no events: and no type == ... in the condition`,
		`r/rules.yaml:24:16: warning: rule u.wrong-type-field: data.speed is not set by auth.login events`,
		`r/rules.yaml:31:16: warning: rule u.open-name: data.name is never "window_opened" among the values vigil knows`,
	}
	for _, w := range want {
		if !containsAny(got, w) {
			t.Errorf("lint lacks %q; got:\n%s", w, strings.Join(got, "\n"))
		}
	}
	for _, p := range ps {
		if p.Level == LevelError {
			t.Errorf("unexpected error: %s", p)
		}
	}
}
