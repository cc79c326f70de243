package sink

import (
	"fmt"
	"strings"

	"github.com/vigil-project/vigil/internal/alert"
)

// Template is a subject or topic with placeholders {tenant}, {category},
// {severity} and {detector}. Values are made safe for any broker: every
// character but A-Z a-z 0-9 _ - becomes _, so a tenant or detector name
// cannot add a subject token, a topic level or a wildcard.
type Template struct {
	parts []tplPart
}

type tplPart struct {
	lit string
	ph  string // placeholder name, "" for a literal
}

var placeholders = []string{"tenant", "category", "severity", "detector"}

// ParseTemplate parses a template.
func ParseTemplate(s string) (Template, error) {
	var t Template
	for s != "" {
		i := strings.IndexAny(s, "{}")
		if i < 0 {
			t.parts = append(t.parts, tplPart{lit: s})
			break
		}
		if s[i] == '}' {
			return t, fmt.Errorf("a } without its {")
		}
		if i > 0 {
			t.parts = append(t.parts, tplPart{lit: s[:i]})
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return t, fmt.Errorf("a { without its }")
		}
		name := s[i+1 : i+j]
		known := false
		for _, p := range placeholders {
			known = known || p == name
		}
		if !known {
			return t, fmt.Errorf("{%s} is not one of {tenant}, {category}, {severity}, {detector}", name)
		}
		t.parts = append(t.parts, tplPart{ph: name})
		s = s[i+j+1:]
	}
	return t, nil
}

// checkTemplate parses a template and checks its literal text with static.
func checkTemplate(key, s string, static func(string) error) error {
	t, err := ParseTemplate(s)
	if err != nil {
		return fmt.Errorf("%s %q: %w", key, s, err)
	}
	// Placeholders expand to at least one safe character: check the
	// literal text with an x in their place.
	var b strings.Builder
	for _, p := range t.parts {
		if p.ph != "" {
			b.WriteByte('x')
		}
		b.WriteString(p.lit)
	}
	if err := static(b.String()); err != nil {
		return fmt.Errorf("%s %q: %w", key, s, err)
	}
	return nil
}

// Expand fills the template in for a.
func (t Template) Expand(a *alert.Alert) string {
	var b strings.Builder
	for _, p := range t.parts {
		switch p.ph {
		case "":
			b.WriteString(p.lit)
		case "tenant":
			safe(&b, a.Tenant)
		case "category":
			safe(&b, a.Category.String())
		case "severity":
			safe(&b, a.Severity.String())
		case "detector":
			safe(&b, a.Detector)
		}
	}
	return b.String()
}

func safe(b *strings.Builder, v string) {
	if v == "" {
		b.WriteByte('_')
		return
	}
	for i := range len(v) {
		c := v[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' {
			b.WriteByte(c)
		} else {
			b.WriteByte('_')
		}
	}
}
