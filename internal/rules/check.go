package rules

import (
	"slices"
	"strings"

	"github.com/expr-lang/expr/ast"

	"github.com/vigil-project/vigil/internal/event"
)

// checkProgram looks at a compiled condition for mistakes: constant
// results, values an enumeration never takes, unbounded patterns, fields
// the rule's event types do not carry. It also infers the types.
func (c *compiler) checkProgram(r *rule, cond text) {
	root := r.prog.Node()
	if d := depth(root); d > c.lim.ExprDepth {
		c.errAt(cond.pos, r.ID, "condition nests %d deep with its macros expanded, more than the limit of %d", d, c.lim.ExprDepth)
		r.prog = nil
		return
	}
	if b, ok := constBool(root); ok {
		c.errAt(cond.pos, r.ID, "condition is always %v", b)
		r.prog = nil
		return
	}
	inferred, constrained := inferTypes(root)
	switch {
	case len(r.types) > 0 && constrained:
		var both []event.Type
		for _, t := range r.types {
			if inferred[t] {
				both = append(both, t)
			}
		}
		if len(both) == 0 {
			c.errAt(cond.pos, r.ID, "condition is always false: it asks for type %s but the rule looks at events %s", typeList(inferred), typesText(r.types))
			r.prog = nil
			return
		}
	case len(r.types) == 0 && constrained:
		for _, t := range event.Types() {
			if inferred[t] {
				r.types = append(r.types, t)
				r.typeSet[t] = true
			}
		}
	case len(r.types) == 0:
		r.types = event.Types()
		for _, t := range r.types {
			r.typeSet[t] = true
		}
		c.warnAt(cond.pos, r.ID, "no events: and no type == ... in the condition: it is evaluated on every event, telemetry included")
	}
	var bad bool
	visit(root, func(n ast.Node) {
		switch n := n.(type) {
		case *ast.BinaryNode:
			if n.Operator == "matches" {
				if _, ok := n.Right.(*ast.StringNode); !ok {
					if _, ok := n.Right.(*ast.ConstantNode); !ok {
						c.errAt(cond.pos, r.ID, "the pattern after matches must be a constant string (a pattern built per event is compiled per event)")
						bad = true
					}
				}
			}
			c.checkEnum(r, cond, n)
		case *ast.MemberNode, *ast.IdentifierNode:
			p := pathOf(n)
			if f := fieldByPath[p]; f != nil && f.On != nil {
				var not []event.Type
				for _, t := range r.types {
					if !f.setBy(t) {
						not = append(not, t)
					}
				}
				if len(not) == len(r.types) {
					c.warnAt(cond.pos, r.ID, "%s is not set by %s events: it always reads as its zero value", p, typesText(not))
				}
			}
		}
	})
	if bad {
		r.prog = nil
	}
}

func typesText(ts []event.Type) string {
	var s []string
	for _, t := range ts {
		s = append(s, t.String())
	}
	return strings.Join(s, ", ")
}

func typeList(set [event.NumTypes]bool) string {
	var ts []event.Type
	for _, t := range event.Types() {
		if set[t] {
			ts = append(ts, t)
		}
	}
	return typesText(ts)
}

// checkEnum reports comparisons with values a field never takes.
func (c *compiler) checkEnum(r *rule, cond text, n *ast.BinaryNode) {
	var f *field
	var vals []string
	switch n.Operator {
	case "==", "!=":
		l, rr := n.Left, n.Right
		if _, ok := l.(*ast.StringNode); ok {
			l, rr = rr, l
		}
		s, ok := rr.(*ast.StringNode)
		if !ok {
			return
		}
		f, vals = fieldByPath[pathOf(l)], []string{s.Value}
	case "in", "not in":
		if s, ok := n.Left.(*ast.StringNode); ok { // "payment" in data.fields
			f, vals = fieldByPath[pathOf(n.Right)], []string{s.Value}
			break
		}
		f = fieldByPath[pathOf(n.Left)]
		switch rr := n.Right.(type) {
		case *ast.ArrayNode:
			for _, it := range rr.Nodes {
				if s, ok := it.(*ast.StringNode); ok {
					vals = append(vals, s.Value)
				}
			}
		case *ast.ConstantNode:
			if m, ok := rr.Value.(map[string]struct{}); ok {
				for k := range m {
					vals = append(vals, k)
				}
				slices.Sort(vals)
			}
		}
	default:
		return
	}
	if f == nil || f.Enum == nil {
		return
	}
	for _, v := range vals {
		if v == "" || slices.Contains(f.Enum, v) { // "" is a field not sent
			continue
		}
		if f.Open {
			c.warnAt(c.posOfCond(r), r.ID, "%s is never %q among the values vigil knows (%s); it matches only producers that send that exact text", f.Path, v, strings.Join(f.Enum, ", "))
			continue
		}
		c.errAt(c.posOfCond(r), r.ID, "%s is never %q: it is one of %s", f.Path, v, strings.Join(f.Enum, ", "))
	}
}

func (c *compiler) posOfCond(r *rule) pos {
	if r.raw.condition != nil {
		return r.raw.condition.pos
	}
	return r.raw.pos
}

// pathOf returns the field path of an identifier or member chain, or "".
func pathOf(n ast.Node) string {
	switch n := n.(type) {
	case *ast.IdentifierNode:
		return n.Value
	case *ast.MemberNode:
		s, ok := n.Property.(*ast.StringNode)
		if !ok {
			return ""
		}
		p := pathOf(n.Node)
		if p == "" {
			return ""
		}
		return p + "." + s.Value
	case *ast.ChainNode:
		return pathOf(n.Node)
	}
	return ""
}

func visit(n ast.Node, fn func(ast.Node)) {
	if n == nil {
		return
	}
	fn(n)
	for _, ch := range children(n) {
		visit(ch, fn)
	}
}

func depth(n ast.Node) int {
	d := 0
	for _, ch := range children(n) {
		d = max(d, depth(ch))
	}
	return d + 1
}

func constBool(n ast.Node) (bool, bool) {
	switch n := n.(type) {
	case *ast.BoolNode:
		return n.Value, true
	case *ast.ConstantNode:
		b, ok := n.Value.(bool)
		return b, ok
	}
	return false, false
}

// inferTypes finds the event types a condition can match from its type ==
// and type in tests; constrained is false when it does not say.
func inferTypes(n ast.Node) (set [event.NumTypes]bool, constrained bool) {
	switch n := n.(type) {
	case *ast.BinaryNode:
		switch n.Operator {
		case "&&", "and":
			l, lc := inferTypes(n.Left)
			r, rc := inferTypes(n.Right)
			switch {
			case lc && rc:
				for t := range set {
					set[t] = l[t] && r[t]
				}
				return set, true
			case lc:
				return l, true
			case rc:
				return r, true
			}
			return set, false
		case "||", "or":
			l, lc := inferTypes(n.Left)
			r, rc := inferTypes(n.Right)
			if lc && rc {
				for t := range set {
					set[t] = l[t] || r[t]
				}
				return set, true
			}
			return set, false
		case "==":
			l, r := n.Left, n.Right
			if _, ok := l.(*ast.StringNode); ok {
				l, r = r, l
			}
			if pathOf(l) == "type" {
				if s, ok := r.(*ast.StringNode); ok {
					if t, ok := typeByName[s.Value]; ok {
						set[t] = true
					}
					return set, true
				}
			}
		case "in":
			if pathOf(n.Left) != "type" {
				break
			}
			switch r := n.Right.(type) {
			case *ast.ArrayNode:
				for _, it := range r.Nodes {
					s, ok := it.(*ast.StringNode)
					if !ok {
						return set, false
					}
					if t, ok := typeByName[s.Value]; ok {
						set[t] = true
					}
				}
				return set, true
			case *ast.ConstantNode:
				if m, ok := r.Value.(map[string]struct{}); ok {
					for k := range m {
						if t, ok := typeByName[k]; ok {
							set[t] = true
						}
					}
					return set, true
				}
			}
		}
	}
	return set, false
}
