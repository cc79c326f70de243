package rules

import (
	"strings"
)

// template is an explanation with {{name}} placeholders: a field path of
// the event (data.actor.account) or, in a correlation, one of corrVars. It
// is parsed at load and rendered only when the rule fires.
type template struct {
	parts []tpart
}

type tpart struct {
	lit string
	f   *field
	v   string // a correlation variable
}

// corrVars are the placeholders a correlation's explanation may use besides
// the fields of the event that completed it.
var corrVars = map[string]string{
	"count":      "how many matching events the correlation counted",
	"distinct":   "value_count: how many distinct values",
	"values":     "value_count: the distinct values (the first 10)",
	"threshold":  "the count it waited for",
	"timespan":   "the correlation's timespan",
	"group":      "the group_by values, comma separated",
	"first_seen": "event time of the first evidence",
	"last_seen":  "event time of the last evidence",
}

// ruleVars are placeholders every rule may use.
var ruleVars = map[string]string{
	"rule":  "the rule id",
	"title": "the rule title",
	"key":   "the value of the key the rule ran on (vehicle, account, ...)",
}

func (c *compiler) template(r *rule, t text) *template {
	out := &template{}
	s := t.value
	for s != "" {
		i := strings.Index(s, "{{")
		if i < 0 {
			out.parts = append(out.parts, tpart{lit: s})
			break
		}
		if i > 0 {
			out.parts = append(out.parts, tpart{lit: s[:i]})
		}
		j := strings.Index(s[i:], "}}")
		if j < 0 {
			c.errAt(t.pos, r.ID, "explanation: {{ without }}")
			return nil
		}
		name := strings.TrimSpace(s[i+2 : i+j])
		s = s[i+j+2:]
		if f := fieldByPath[name]; f != nil {
			out.parts = append(out.parts, tpart{f: f})
			continue
		}
		if _, ok := ruleVars[name]; ok {
			out.parts = append(out.parts, tpart{v: name})
			continue
		}
		if _, ok := corrVars[name]; ok {
			if r.raw.correlation == nil {
				c.errAt(t.pos, r.ID, "explanation: {{%s}} is only known in a correlation", name)
				return nil
			}
			out.parts = append(out.parts, tpart{v: name})
			continue
		}
		known := fieldPaths()
		for k := range ruleVars {
			known = append(known, k)
		}
		for k := range corrVars {
			known = append(known, k)
		}
		c.errAt(t.pos, r.ID, "explanation: unknown placeholder {{%s}}%s", name, suggest(name, known))
		return nil
	}
	return out
}

// render fills the template; env may be nil (a timer fired), then event
// fields read as "".
func (t *template) render(env *Env, vars func(string) string) string {
	var b strings.Builder
	for _, p := range t.parts {
		switch {
		case p.f != nil:
			if env != nil {
				b.WriteString(p.f.value(env))
			}
		case p.v != "":
			b.WriteString(vars(p.v))
		default:
			b.WriteString(p.lit)
		}
	}
	return b.String()
}
