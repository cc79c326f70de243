package rules

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/expr-lang/expr"
)

// exception renders one Falco-style exception as an expression: any of its
// value tuples matching all its fields excepts the event.
func (c *compiler) exception(r *rule, e *rawException) (string, bool) {
	name := e.name
	if name == "" {
		c.errAt(e.pos, r.ID, "an exception needs a name")
		return "", false
	}
	if len(e.fields) == 0 {
		c.errAt(e.pos, r.ID, "exception %s: fields is required", name)
		return "", false
	}
	if len(e.comps) > 0 && len(e.comps) != len(e.fields) {
		c.errAt(e.comps[0].pos, r.ID, "exception %s: %d comps for %d fields", name, len(e.comps), len(e.fields))
		return "", false
	}
	if len(e.values) > c.lim.ExceptionItems {
		c.errAt(e.pos, r.ID, "exception %s: %d values, more than the limit of %d", name, len(e.values), c.lim.ExceptionItems)
		return "", false
	}
	fs := make([]*field, len(e.fields))
	ok := true
	for i, s := range e.fields {
		f := fieldByPath[s.value]
		if f == nil {
			c.errAt(s.pos, r.ID, "exception %s: unknown field %q%s", name, s.value, suggest(s.value, fieldPaths()))
			ok = false
			continue
		}
		fs[i] = f
	}
	if !ok {
		return "", false
	}
	if len(e.values) == 0 {
		c.errAt(e.pos, r.ID, "exception %s has no values", name)
		return "", false
	}
	var tuples []string
	for _, tup := range e.values {
		if len(tup) != len(fs) {
			c.errAt(posOf(e.pos.file, tup[0]), r.ID, "exception %s: a value tuple needs %d values, one per field", name, len(fs))
			return "", false
		}
		var terms []string
		for i, v := range tup {
			comp := ""
			if len(e.comps) > 0 {
				comp = e.comps[i].value
			}
			t, err := c.exceptionTerm(fs[i], comp, v)
			if err != nil {
				c.errAt(posOf(e.pos.file, v), r.ID, "exception %s: %v", name, err)
				return "", false
			}
			terms = append(terms, t)
		}
		tuples = append(tuples, "("+strings.Join(terms, " && ")+")")
	}
	src := strings.Join(tuples, " || ")
	if _, err := expr.Compile(src, c.options(expr.AsBool())...); err != nil {
		c.errAt(e.pos, r.ID, "exception %s: %v", name, err)
		return "", false
	}
	return src, true
}

func fieldPaths() []string {
	var out []string
	for _, f := range catalog {
		out = append(out, f.Path)
	}
	return out
}

var exceptionComps = map[fieldKind][]string{
	kindString: {"=", "!=", "in", "startswith", "endswith", "contains"},
	kindInt:    {"=", "!=", "<", "<=", ">", ">=", "in"},
	kindFloat:  {"=", "!=", "<", "<=", ">", ">="},
	kindTri:    {"="},
	kindList:   {"contains"},
}

// exceptionTerm renders field comp value.
func (c *compiler) exceptionTerm(f *field, comp string, v *yamlNode) (string, error) {
	if comp == "" {
		comp = "="
		if v.Kind == yamlSequence || (v.Kind == yamlScalar && c.lists[v.Value] != nil && v.Style == 0) {
			comp = "in"
		}
		if f.Kind == kindList {
			comp = "contains"
		}
	}
	if !slices.Contains(exceptionComps[f.Kind], comp) {
		return "", fmt.Errorf("%s (%s) cannot be compared with %q; use one of %s", f.Path, f.Kind, comp, strings.Join(exceptionComps[f.Kind], ", "))
	}
	lit := func(n *yamlNode) (string, error) {
		if n.Kind != yamlScalar {
			return "", fmt.Errorf("%s: expected a single value", f.Path)
		}
		switch f.Kind {
		case kindInt:
			i, err := strconv.Atoi(n.Value)
			if err != nil {
				return "", fmt.Errorf("%s is a whole number, not %q", f.Path, n.Value)
			}
			return strconv.Itoa(i), nil
		case kindFloat:
			x, err := strconv.ParseFloat(n.Value, 64)
			if err != nil {
				return "", fmt.Errorf("%s is a number, not %q", f.Path, n.Value)
			}
			return strconv.FormatFloat(x, 'g', -1, 64), nil
		case kindTri:
			b, err := strconv.ParseBool(n.Value)
			if err != nil {
				return "", fmt.Errorf("%s is true or false, not %q", f.Path, n.Value)
			}
			return strconv.FormatBool(b), nil
		}
		return strconv.Quote(n.Value), nil
	}
	p := f.Path
	switch comp {
	case "in":
		if v.Kind == yamlScalar {
			if l := c.lists[v.Value]; l != nil {
				return p + " in " + v.Value, nil
			}
			return "", fmt.Errorf("%q is not a list: give [values] or the name of a list", v.Value)
		}
		if v.Kind != yamlSequence {
			return "", fmt.Errorf("in needs a list of values")
		}
		var items []string
		for _, it := range v.Content {
			s, err := lit(it)
			if err != nil {
				return "", err
			}
			items = append(items, s)
		}
		return p + " in [" + strings.Join(items, ", ") + "]", nil
	case "contains":
		s, err := lit(v)
		if err != nil {
			return "", err
		}
		if f.Kind == kindList {
			return s + " in " + p, nil
		}
		return p + " contains " + s, nil
	}
	s, err := lit(v)
	if err != nil {
		return "", err
	}
	switch comp {
	case "=":
		return p + " == " + s, nil
	case "startswith":
		return p + " startsWith " + s, nil
	case "endswith":
		return p + " endsWith " + s, nil
	}
	return p + " " + comp + " " + s, nil
}
