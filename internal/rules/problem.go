package rules

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Level says whether a problem stops a rule set from loading.
type Level uint8

const (
	LevelError   Level = iota // the rule set does not load
	LevelWarning              // the rule set loads; vigil rules lint reports it
)

func (l Level) String() string {
	if l == LevelWarning {
		return "warning"
	}
	return "error"
}

// Problem is one thing wrong with a rule file, with where it is.
type Problem struct {
	File   string // as named by its source, e.g. rules/auth.yaml or pack:auth.yaml
	Line   int    // 1-based; 0 when the problem concerns the whole file
	Column int
	Rule   string // the rule id, when the problem is in a rule
	Level  Level
	Msg    string
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
		if p.Column > 0 {
			fmt.Fprintf(&b, ":%d", p.Column)
		}
	}
	b.WriteString(": ")
	if p.Level == LevelWarning {
		b.WriteString("warning: ")
	}
	if p.Rule != "" {
		fmt.Fprintf(&b, "rule %s: ", p.Rule)
	}
	b.WriteString(p.Msg)
	return b.String()
}

// LoadError is what makes a rule set fail to load: every error found, in
// file and line order. A rule set that fails to load never replaces the
// one in force.
type LoadError struct {
	Problems []Problem
}

func (e *LoadError) Error() string {
	var b strings.Builder
	n := 0
	for _, p := range e.Problems {
		if p.Level == LevelError {
			n++
		}
	}
	fmt.Fprintf(&b, "rules: %d error(s)", n)
	shown := 0
	for _, p := range e.Problems {
		if p.Level != LevelError {
			continue
		}
		if shown == 20 {
			fmt.Fprintf(&b, "\n  ... and %d more", n-shown)
			break
		}
		b.WriteString("\n  ")
		b.WriteString(p.String())
		shown++
	}
	return b.String()
}

// problems collects problems while a rule set compiles.
type problems struct {
	list []Problem
}

func (ps *problems) add(p Problem) { ps.list = append(ps.list, p) }

func (ps *problems) errors() int {
	n := 0
	for _, p := range ps.list {
		if p.Level == LevelError {
			n++
		}
	}
	return n
}

func (ps *problems) sorted() []Problem {
	out := slices.Clone(ps.list)
	slices.SortStableFunc(out, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
	return out
}
