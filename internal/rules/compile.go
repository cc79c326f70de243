package rules

import (
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // rule timezones work on machines without a zoneinfo database

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/event"
)

// Source is a directory of rule files: every *.yaml and *.yml file directly
// in FS (subdirectories are not read; keep rule tests there).
type Source struct {
	Name string // how its files are named in problems, e.g. /etc/vigil/rules or pack
	FS   fs.FS
}

type corrType uint8

const (
	corrNone corrType = iota
	corrEventCount
	corrValueCount
	corrTemporal
	corrOrdered
	corrAbsent
	corrFirst
)

var corrNames = [...]string{"", "event_count", "value_count", "temporal", "temporal_ordered", "absent", "first"}

func (t corrType) String() string { return corrNames[t] }

// rule is one compiled rule.
type rule struct {
	ID, Title, Description string
	Category               alert.Category
	Severity               event.Severity
	Mappings               alert.Mappings
	Shadow                 bool
	File                   string
	Line                   int

	idx     int
	tenants []string // nil: every tenant
	types   []event.Type
	typeSet [event.NumTypes]bool
	loc     *time.Location
	prog    *vm.Program // the condition (with exceptions); nil for correlations
	expl    *template
	alerts  bool // raises alerts itself, not only feeding correlations
	corr    *correlation
	users   [detect.NumKinds][]use // correlations fed by this rule, by their key kind
	fp      [32]byte               // what its matching and state depend on
	raw     *rawRule
}

// use is a correlation fed by a rule, and at which of its steps.
type use struct {
	r     *rule
	steps []int
}

type correlation struct {
	typ       corrType
	refs      []*rule
	kind      detect.Kind
	groupBy   []*field // group_by after the key
	span      int64
	learn     int64
	threshold int
	field     *field // value_count
}

func (r *rule) forTenant(t string) bool { return r.tenants == nil || slices.Contains(r.tenants, t) }

// compiler turns raw files into a RuleSet.
type compiler struct {
	lim    Limits
	ps     problems
	lists  map[string]*rawList
	macros map[string]*rawMacro
	raws   []*rawRule
	rules  map[string]*rule
	order  []*rule
	sizes  map[string]int  // expanded node count of each macro
	used   map[string]bool // lists and macros some expression refers to
	lint   bool            // also run the checks only vigil rules lint does
	// standalone is set while macros compile on their own, so that a macro
	// naming another counts as a use only when it is itself used.
	standalone bool
}

// Compile reads and compiles the rule files of the sources. A rule id,
// list or macro in a later source replaces the one of the same name in an
// earlier source (user rules override the pack); within one source a name
// may be defined once. On any error it returns a *LoadError listing them all.
func Compile(lim Limits, srcs ...Source) (*RuleSet, error) {
	set, ps := compile(lim, false, srcs)
	if set == nil {
		return nil, &LoadError{Problems: ps}
	}
	return set, nil
}

func compile(lim Limits, lint bool, srcs []Source) (*RuleSet, []Problem) {
	c := &compiler{lim: lim.WithDefaults(), lists: map[string]*rawList{}, macros: map[string]*rawMacro{},
		rules: map[string]*rule{}, sizes: map[string]int{}, used: map[string]bool{}, lint: lint}
	var files []*rawFile
	for i, s := range srcs {
		files = append(files, c.read(i, s)...)
	}
	c.collect(files)
	c.checkLists()
	c.checkMacros()
	for _, r := range c.raws {
		c.compileRule(r)
	}
	c.link()
	if c.ps.errors() > 0 {
		return nil, c.ps.sorted()
	}
	set := c.build()
	all := c.ps.sorted()
	for _, p := range all {
		if p.Level == LevelWarning {
			set.warnings = append(set.warnings, p)
		}
	}
	return set, all
}

func (c *compiler) errAt(p pos, rule, format string, args ...any) {
	c.ps.add(Problem{File: p.file, Line: p.line, Column: p.col, Rule: rule, Msg: fmt.Sprintf(format, args...)})
}

func (c *compiler) warnAt(p pos, rule, format string, args ...any) {
	c.ps.add(Problem{File: p.file, Line: p.line, Column: p.col, Rule: rule, Level: LevelWarning, Msg: fmt.Sprintf(format, args...)})
}

// read parses the rule files of one source.
func (c *compiler) read(src int, s Source) []*rawFile {
	entries, err := fs.ReadDir(s.FS, ".")
	if err != nil {
		c.ps.add(Problem{File: s.Name, Msg: "cannot read the rules directory: " + err.Error()})
		return nil
	}
	var out []*rawFile
	n := 0
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") || !(strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")) {
			continue
		}
		full := path.Join(s.Name, name)
		if n++; n > c.lim.Files {
			c.ps.add(Problem{File: full, Msg: fmt.Sprintf("more than %d rule files in %s", c.lim.Files, s.Name)})
			break
		}
		data, err := readLimited(s.FS, name, c.lim.FileBytes)
		if err != nil {
			c.ps.add(Problem{File: full, Msg: err.Error()})
			continue
		}
		if f := parseFile(full, src, data, &c.ps); f != nil {
			out = append(out, f)
		}
	}
	return out
}

func readLimited(fsys fs.FS, name string, max int) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, fmt.Errorf("cannot read: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, int64(max)+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read: %w", err)
	}
	if len(data) > max {
		return nil, fmt.Errorf("larger than the limit of %d bytes for a rule file: split it", max)
	}
	return data, nil
}

// collect applies the override rules to lists, macros and rules.
func (c *compiler) collect(files []*rawFile) {
	listSrc, macroSrc, ruleSrc := map[string]*rawList{}, map[string]*rawMacro{}, map[string]*rawRule{}
	total := 0
	for _, f := range files {
		for _, l := range f.lists {
			if old := listSrc[l.name]; old != nil && old.src == l.src {
				c.errAt(l.pos, "", "list %s is defined twice (also at %s:%d)", l.name, old.pos.file, old.pos.line)
				continue
			}
			listSrc[l.name] = l
		}
		for _, m := range f.macros {
			if old := macroSrc[m.name]; old != nil && old.src == m.src {
				c.errAt(m.pos, "", "macro %s is defined twice (also at %s:%d)", m.name, old.pos.file, old.pos.line)
				continue
			}
			if listSrc[m.name] != nil {
				c.errAt(m.pos, "", "%s is both a list and a macro", m.name)
				continue
			}
			macroSrc[m.name] = m
		}
		for _, r := range f.rules {
			total++
			if !validID(r.id) {
				c.errAt(r.pos, r.id, "id %q must be lower case letters, digits, '.', '-' and '_', at most 100 characters", r.id)
				continue
			}
			if old := ruleSrc[r.id]; old != nil {
				if old.src == r.src {
					c.errAt(r.idPos, r.id, "duplicate rule id (also at %s:%d)", old.pos.file, old.pos.line)
					continue
				}
				c.raws = slices.DeleteFunc(c.raws, func(x *rawRule) bool { return x == old })
			}
			ruleSrc[r.id] = r
			c.raws = append(c.raws, r)
		}
	}
	if total > c.lim.Rules {
		c.ps.add(Problem{File: files[0].name, Msg: fmt.Sprintf("%d rules is more than the limit of %d", total, c.lim.Rules)})
		c.raws = nil
	}
	c.lists, c.macros = listSrc, macroSrc
}

func (c *compiler) checkLists() {
	total := 0
	for _, l := range c.lists {
		total += len(l.items)
		if len(l.items) > c.lim.ListItems {
			c.errAt(l.pos, "", "list %s has %d items, more than the limit of %d", l.name, len(l.items), c.lim.ListItems)
			continue
		}
		kinds := map[string]bool{}
		for _, it := range l.items {
			switch it.tag {
			case "!!str", "!!int", "!!float":
				kinds[it.tag] = true
			default:
				c.errAt(it.pos, "", "list %s: items must be text or numbers", l.name)
			}
		}
		if kinds["!!str"] && len(kinds) > 1 {
			c.errAt(l.pos, "", "list %s mixes text and numbers: quote the numbers", l.name)
		}
	}
	if total > c.lim.TotalListItems {
		c.ps.add(Problem{File: "lists", Msg: fmt.Sprintf("%d list items in all, more than the limit of %d", total, c.lim.TotalListItems)})
	}
}

// listNode makes the array literal a list stands for.
func listNode(l *rawList) ast.Node {
	arr := &ast.ArrayNode{}
	for _, it := range l.items {
		switch it.tag {
		case "!!int":
			n, _ := strconv.Atoi(it.value)
			arr.Nodes = append(arr.Nodes, &ast.IntegerNode{Value: n})
		case "!!float":
			f, _ := strconv.ParseFloat(it.value, 64)
			arr.Nodes = append(arr.Nodes, &ast.FloatNode{Value: f})
		default:
			arr.Nodes = append(arr.Nodes, &ast.StringNode{Value: it.value})
		}
	}
	return arr
}

// smallList is the size up to which a list may be used other than with in.
const smallList = 64

// checkMacros parses every macro, finds cycles and computes expanded sizes.
func (c *compiler) checkMacros() {
	state := map[string]uint8{} // 1 visiting, 2 done
	var visit func(m *rawMacro, depth int) int
	visit = func(m *rawMacro, depth int) int {
		switch state[m.name] {
		case 1:
			c.errAt(m.pos, "", "macro %s uses itself (through other macros)", m.name)
			return c.lim.ExprNodes + 1
		case 2:
			return c.sizes[m.name]
		}
		state[m.name] = 1
		defer func() { state[m.name] = 2 }()
		if depth > c.lim.MacroDepth {
			c.errAt(m.pos, "", "macros nest more than %d deep", c.lim.MacroDepth)
			c.sizes[m.name] = c.lim.ExprNodes + 1
			return c.sizes[m.name]
		}
		if len(m.expr.value) > c.lim.ExprBytes {
			c.errAt(m.pos, "", "macro %s is longer than the limit of %d bytes", m.name, c.lim.ExprBytes)
			c.sizes[m.name] = c.lim.ExprNodes + 1
			return c.sizes[m.name]
		}
		tree, err := parser.Parse(m.expr.value)
		if err != nil {
			c.exprErr(m.expr, "", "macro "+m.name, err)
			c.sizes[m.name] = c.lim.ExprNodes + 1
			return c.sizes[m.name]
		}
		size := 0
		c.walkIdents(tree.Node, m.expr, "", func(id string) {
			if sub := c.macros[id]; sub != nil {
				size += visit(sub, depth+1)
			}
		}, &size)
		c.sizes[m.name] = size
		return size
	}
	for _, m := range c.macros {
		visit(m, 0)
	}
	// Each macro must compile on its own, so its errors point at it.
	c.standalone = true
	defer func() { c.standalone = false }()
	for _, m := range c.macros {
		if c.sizes[m.name] > c.lim.ExprNodes {
			continue
		}
		if _, err := expr.Compile(m.expr.value, c.options(expr.AsAny())...); err != nil {
			c.exprErr(m.expr, "", "macro "+m.name, err)
		}
	}
}

// walkIdents counts the nodes of a parsed expression into size and calls
// fn for each identifier; it checks that large lists are only used with in.
func (c *compiler) walkIdents(n ast.Node, at text, rule string, fn func(string), size *int) {
	var walk func(n, parent ast.Node)
	walk = func(n, parent ast.Node) {
		if n == nil {
			return
		}
		*size++
		if b, ok := n.(*ast.BinaryNode); ok && b.Operator == ".." {
			// A range is iterated per event: only small constant ones.
			lo, okLo := b.Left.(*ast.IntegerNode)
			hi, okHi := b.Right.(*ast.IntegerNode)
			if !okLo || !okHi || hi.Value-lo.Value > maxRange {
				c.errAt(at.pos, rule, "a range (a..b) must have constant bounds at most %d apart: it is walked on every event", maxRange)
			}
		}
		if id, ok := n.(*ast.IdentifierNode); ok {
			if l := c.lists[id.Value]; l != nil && len(l.items) > smallList {
				b, ok := parent.(*ast.BinaryNode)
				if !ok || (b.Operator != "in" && b.Operator != "not in") || b.Right != n {
					c.errAt(at.pos, rule, "list %s has %d items: use it only as `x in %s` (larger lists cannot be scanned per event)", id.Value, len(l.items), id.Value)
				}
			}
			fn(id.Value)
			return
		}
		for _, ch := range children(n) {
			walk(ch, n)
		}
	}
	walk(n, nil)
}

// children returns the sub-nodes of n.
func children(n ast.Node) []ast.Node {
	switch n := n.(type) {
	case *ast.UnaryNode:
		return []ast.Node{n.Node}
	case *ast.BinaryNode:
		return []ast.Node{n.Left, n.Right}
	case *ast.ChainNode:
		return []ast.Node{n.Node}
	case *ast.MemberNode:
		return []ast.Node{n.Node, n.Property}
	case *ast.SliceNode:
		return []ast.Node{n.Node, n.From, n.To}
	case *ast.CallNode:
		return append([]ast.Node{n.Callee}, n.Arguments...)
	case *ast.BuiltinNode:
		return n.Arguments
	case *ast.PredicateNode:
		return []ast.Node{n.Node}
	case *ast.SequenceNode:
		return n.Nodes
	case *ast.VariableDeclaratorNode:
		return []ast.Node{n.Value, n.Expr}
	case *ast.ConditionalNode:
		return []ast.Node{n.Cond, n.Exp1, n.Exp2}
	case *ast.ArrayNode:
		return n.Nodes
	case *ast.MapNode:
		return n.Pairs
	case *ast.PairNode:
		return []ast.Node{n.Key, n.Value}
	}
	return nil
}

// maxRange bounds the span of a constant range in a condition.
const maxRange = 1000

// disabledBuiltins are functions a rule may not call: now() breaks replays
// (rules run on event time), repeat() can allocate without bound.
var disabledBuiltins = []string{"now", "repeat"}

var builtinNames = func() map[string]bool {
	m := map[string]bool{}
	for _, b := range builtin.Builtins {
		m[b.Name] = true
	}
	return m
}()

func (c *compiler) options(extra ...expr.Option) []expr.Option {
	opts := []expr.Option{expr.Env(Env{}), expr.MaxNodes(uint(c.lim.ExprNodes) * 4), expr.Patch(&expander{c: c})}
	for _, b := range disabledBuiltins {
		opts = append(opts, expr.DisableBuiltin(b))
	}
	return append(opts, extra...)
}

// expander replaces list and macro names with what they stand for. Macro
// sizes and cycles were checked before, so expansion is bounded.
type expander struct {
	c     *compiler
	depth int
}

func (x *expander) Visit(n *ast.Node) {
	id, ok := (*n).(*ast.IdentifierNode)
	if !ok {
		return
	}
	if l := x.c.lists[id.Value]; l != nil {
		x.c.used[id.Value] = true
		ast.Patch(n, listNode(l))
		return
	}
	m := x.c.macros[id.Value]
	if m == nil {
		return
	}
	if x.depth > 0 || !x.c.standalone {
		x.c.used[id.Value] = true
	}
	if x.depth > x.c.lim.MacroDepth || x.c.sizes[m.name] > x.c.lim.ExprNodes {
		ast.Patch(n, &ast.BoolNode{Value: false}) // reported by checkMacros
		return
	}
	tree, err := parser.Parse(m.expr.value)
	if err != nil {
		ast.Patch(n, &ast.BoolNode{Value: false})
		return
	}
	x.depth++
	ast.Walk(&tree.Node, x)
	x.depth--
	ast.Patch(n, tree.Node)
}

// exprErr reports an expression error at its place in the file.
func (c *compiler) exprErr(t text, rule, what string, err error) {
	p := t.pos
	msg := err.Error()
	if fe, ok := err.(*file.Error); ok {
		msg = fe.Message
		if t.block {
			p.line += fe.Line
			p.col = 0
		} else if fe.Line <= 1 {
			p.col += fe.Column
		}
	}
	c.errAt(p, rule, "%s: %s", what, msg)
}

// compileRule compiles one rule's own parts; references between rules are
// resolved by link.
func (c *compiler) compileRule(raw *rawRule) {
	id := raw.id
	r := &rule{ID: id, Title: raw.title, Description: raw.description, Shadow: raw.shadow,
		File: raw.pos.file, Line: raw.pos.line, tenants: raw.tenants, raw: raw}
	for _, s := range []struct{ name, v string }{{"title", raw.title}, {"description", raw.description}} {
		if len(s.v) > c.lim.TextBytes {
			c.errAt(raw.pos, id, "%s is longer than the limit of %d bytes", s.name, c.lim.TextBytes)
		}
	}
	if raw.category.value != "" {
		cat, ok := alert.ParseCategory(raw.category.value)
		if !ok {
			c.errAt(raw.category.pos, id, "unknown category %q%s", raw.category.value, suggest(raw.category.value, categoryNames()))
		}
		r.Category = cat
	}
	if raw.severity.value != "" {
		sev, ok := event.ParseSeverity(raw.severity.value)
		if !ok {
			c.errAt(raw.severity.pos, id, "unknown severity %q (low, medium, high, critical)", raw.severity.value)
		}
		r.Severity = sev
	}
	c.mappings(r, raw)
	if raw.timezone.value != "" {
		loc, err := time.LoadLocation(raw.timezone.value)
		if err != nil {
			c.errAt(raw.timezone.pos, id, "unknown timezone %q (an IANA name such as Europe/Berlin)", raw.timezone.value)
		}
		r.loc = loc
	}
	for _, s := range raw.events {
		t, ok := typeByName[s.value]
		if !ok {
			c.errAt(s.pos, id, "unknown event type %q%s", s.value, suggest(s.value, typeNames()))
			continue
		}
		if r.typeSet[t] {
			c.errAt(s.pos, id, "event type %s is listed twice", s.value)
		}
		r.typeSet[t] = true
		r.types = append(r.types, t)
	}
	switch {
	case raw.correlation != nil && raw.condition != nil:
		c.errAt(raw.pos, id, "a rule has either a condition or a correlation, not both (a correlation names the rules it counts)")
	case raw.correlation != nil:
		if len(raw.events) > 0 {
			c.errAt(raw.events[0].pos, id, "a correlation takes its event types from the rules it names: remove events")
		}
		if len(raw.exceptions) > 0 {
			c.errAt(raw.exceptions[0].pos, id, "put exceptions on the rules a correlation names")
		}
		r.corr = c.correlationOf(r, raw.correlation)
	case raw.condition != nil:
		c.condition(r, raw)
	default:
		c.errAt(raw.pos, id, "a rule needs a condition (or a correlation)")
	}
	if raw.explanation != nil {
		if len(raw.explanation.value) > c.lim.TextBytes {
			c.errAt(raw.explanation.pos, id, "explanation is longer than the limit of %d bytes", c.lim.TextBytes)
		} else {
			r.expl = c.template(r, *raw.explanation)
		}
	}
	if _, dup := c.rules[id]; !dup {
		c.rules[id] = r
		c.order = append(c.order, r)
	}
}

func categoryNames() []string {
	var out []string
	for _, c := range alert.Categories() {
		out = append(out, c.String())
	}
	return out
}

func typeNames() []string {
	var out []string
	for _, t := range event.Types() {
		out = append(out, t.String())
	}
	return out
}

func (c *compiler) mappings(r *rule, raw *rawRule) {
	m := raw.mappings
	if m == nil {
		return
	}
	check := func(list []scalar, valid func(string) bool, what, example string) []string {
		out := []string{}
		for _, s := range list {
			if !valid(s.value) {
				c.errAt(s.pos, r.ID, "%q is not a %s id (like %s)", s.value, what, example)
			}
			out = append(out, s.value)
		}
		return out
	}
	r.Mappings = alert.Mappings{
		R155:   check(m.r155, validR155, "UN R155 Annex 5", "16.1"),
		ATM:    check(m.atm, validATM, "Auto-ISAC ATM technique", "ATM-T0069"),
		ATTACK: check(m.attack, validATTACK, "MITRE ATT&CK technique", "T1110 or T1110.003"),
	}
}

func digits(s string, min, max int) bool {
	if len(s) < min || len(s) > max {
		return false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func validR155(s string) bool {
	a, b, ok := strings.Cut(s, ".")
	return ok && digits(a, 1, 2) && digits(b, 1, 2)
}

func validATM(s string) bool {
	return strings.HasPrefix(s, "ATM-T") && digits(s[5:], 4, 4)
}

func validATTACK(s string) bool {
	if !strings.HasPrefix(s, "T") {
		return false
	}
	a, b, sub := strings.Cut(s[1:], ".")
	return digits(a, 4, 4) && (!sub || digits(b, 3, 3))
}

// condition compiles a single-event rule's condition and exceptions.
func (c *compiler) condition(r *rule, raw *rawRule) {
	cond := *raw.condition
	if len(cond.value) > c.lim.ExprBytes {
		c.errAt(cond.pos, r.ID, "condition is longer than the limit of %d bytes", c.lim.ExprBytes)
		return
	}
	tree, err := parser.Parse(cond.value)
	if err != nil {
		c.exprErr(cond, r.ID, "condition", err)
		return
	}
	size := 0
	c.walkIdents(tree.Node, cond, r.ID, func(id string) {
		if m := c.macros[id]; m != nil {
			size += c.sizes[id]
		}
	}, &size)
	if size > c.lim.ExprNodes {
		c.errAt(cond.pos, r.ID, "condition has %d syntax nodes with its macros expanded, more than the limit of %d", size, c.lim.ExprNodes)
		return
	}
	if _, err := expr.Compile(cond.value, c.options(expr.AsBool())...); err != nil {
		c.exprErr(cond, r.ID, "condition", err)
		return
	}
	src := cond.value
	if len(raw.exceptions) > c.lim.Exceptions {
		c.errAt(raw.exceptions[0].pos, r.ID, "%d exceptions, more than the limit of %d", len(raw.exceptions), c.lim.Exceptions)
		return
	}
	var excs []string
	for _, e := range raw.exceptions {
		if s, ok := c.exception(r, e); ok {
			excs = append(excs, s)
		}
	}
	if len(excs) > 0 {
		src = "(" + src + ") && !(" + strings.Join(excs, " || ") + ")"
	}
	prog, err := expr.Compile(src, c.options(expr.AsBool())...)
	if err != nil {
		c.exprErr(cond, r.ID, "condition with its exceptions", err)
		return
	}
	r.prog = prog
	c.checkProgram(r, cond)
}
