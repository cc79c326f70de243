package rules

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// This file reads rule files into raw, positioned definitions. Decoding is
// by hand over yaml.Node so that every key is checked (unknown keys are
// errors, with a suggestion) and every problem names its line.

type yamlNode = yaml.Node

const (
	yamlScalar   = yaml.ScalarNode
	yamlSequence = yaml.SequenceNode
)

// pos is where something is in a rule file.
type pos struct {
	file      string
	line, col int
}

func posOf(file string, n *yaml.Node) pos { return pos{file: file, line: n.Line, col: n.Column} }

type rawFile struct {
	name   string
	src    int // index of its source: later sources override earlier ones
	lists  []*rawList
	macros []*rawMacro
	rules  []*rawRule
}

type scalar struct {
	value string
	tag   string // !!str, !!int, !!float, !!bool, !!null
	pos   pos
}

type rawList struct {
	name  string
	pos   pos
	items []scalar
	src   int
}

type text struct {
	value string
	pos   pos
	block bool // a literal or folded block: the text starts on the next line
}

type rawMacro struct {
	name string
	pos  pos
	expr text
	src  int
}

type rawRule struct {
	pos         pos
	src         int
	id          string
	idPos       pos
	title       string
	description string
	category    scalar
	severity    scalar
	mappings    *rawMappings
	enabled     bool
	shadow      bool
	generate    bool
	tenants     []string
	events      []scalar
	timezone    scalar
	condition   *text
	exceptions  []*rawException
	explanation *text
	correlation *rawCorrelation
}

type rawMappings struct {
	pos               pos
	r155, atm, attack []scalar
}

type rawException struct {
	pos    pos
	name   string
	fields []scalar
	comps  []scalar
	values [][]*yaml.Node // one tuple per entry
}

type rawCorrelation struct {
	pos       pos
	typ       scalar
	rules     []scalar
	groupBy   []scalar
	timespan  scalar
	learn     scalar
	op        string // gte, gt; "" when no condition
	opPos     pos
	threshold int
	field     scalar
}

// decoder turns one file's YAML into raw definitions, collecting problems.
type decoder struct {
	file string
	src  int
	ps   *problems
	rule string // the rule being decoded, for problems
}

func (d *decoder) errf(n *yaml.Node, format string, args ...any) {
	p := Problem{File: d.file, Rule: d.rule, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		p.Line, p.Column = n.Line, n.Column
	}
	d.ps.add(p)
}

// parseFile decodes one rule file.
func parseFile(name string, src int, data []byte, ps *problems) *rawFile {
	d := &decoder{file: name, src: src, ps: ps}
	f := &rawFile{name: name, src: src}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return f // an empty file holds no rules
		}
		ps.add(Problem{File: name, Line: yamlErrorLine(err), Msg: "not valid YAML: " + yamlErrorText(err)})
		return nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		d.errf(&extra, "a rule file holds one YAML document; start another file instead of using ---")
		return nil
	} else if !errors.Is(err, io.EOF) {
		ps.add(Problem{File: name, Line: yamlErrorLine(err), Msg: "not valid YAML: " + yamlErrorText(err)})
		return nil
	}
	if !d.plain(&doc) {
		return nil
	}
	if len(doc.Content) == 0 {
		return f
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return f
	}
	if root.Kind == yaml.MappingNode {
		for _, k := range root.Content {
			if k.Kind == yaml.ScalarNode && k.Value == "tests" {
				d.errf(k, "this is a rule test file: keep test files out of the rules directory (a subdirectory such as tests/ is not read)")
				return nil
			}
		}
	}
	d.mapping(root, "a rule file", []string{"lists", "macros", "rules"}, func(key string, k, v *yaml.Node) {
		switch key {
		case "lists":
			d.mapping(v, "lists", nil, func(name string, k, v *yaml.Node) {
				if !d.name(k, "list") {
					return
				}
				l := &rawList{name: name, pos: posOf(d.file, k), src: src}
				if v.Kind != yaml.SequenceNode {
					d.errf(v, "list %s must be a sequence of values, e.g. [a, b]", name)
					return
				}
				for _, it := range v.Content {
					if s, ok := d.scalar(it, "a list item"); ok {
						l.items = append(l.items, s)
					}
				}
				f.lists = append(f.lists, l)
			})
		case "macros":
			d.mapping(v, "macros", nil, func(name string, k, v *yaml.Node) {
				if !d.name(k, "macro") {
					return
				}
				if t, ok := d.text(v, "macro "+name); ok {
					f.macros = append(f.macros, &rawMacro{name: name, pos: posOf(d.file, k), expr: t, src: src})
				}
			})
		case "rules":
			if v.Kind != yaml.SequenceNode {
				d.errf(v, "rules must be a sequence of rules (each starting with - id: ...)")
				return
			}
			for _, rn := range v.Content {
				if r := d.ruleOf(rn); r != nil {
					f.rules = append(f.rules, r)
				}
			}
		}
	})
	return f
}

// plain rejects anchors, aliases and custom tags anywhere in the tree:
// rule files use lists and macros for reuse, and an alias can make a small
// file expand into a huge tree.
func (d *decoder) plain(n *yaml.Node) bool {
	ok := true
	var walk func(n *yaml.Node, depth int)
	walk = func(n *yaml.Node, depth int) {
		if !ok {
			return
		}
		switch {
		case depth > 32:
			d.errf(n, "nested more than 32 levels deep")
			ok = false
			return
		case n.Kind == yaml.AliasNode || n.Anchor != "":
			d.errf(n, "YAML anchors and aliases (&name, *name) are not supported: use lists and macros")
			ok = false
			return
		case n.Tag != "" && !strings.HasPrefix(n.Tag, "!!"):
			d.errf(n, "custom YAML tag %s is not supported", n.Tag)
			ok = false
			return
		}
		for _, c := range n.Content {
			walk(c, depth+1)
		}
	}
	walk(n, 0)
	return ok
}

// mapping calls fn for each key of a mapping node. known, when not nil,
// lists the keys allowed; others are errors.
func (d *decoder) mapping(n *yaml.Node, what string, known []string, fn func(key string, k, v *yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		d.errf(n, "%s must be a mapping (key: value)", what)
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errf(k, "keys of %s must be plain names", what)
			continue
		}
		if seen[k.Value] {
			d.errf(k, "%s is given twice in %s", k.Value, what)
			continue
		}
		seen[k.Value] = true
		if known != nil && !slices.Contains(known, k.Value) {
			d.errf(k, "unknown field %q in %s%s", k.Value, what, suggest(k.Value, known))
			continue
		}
		fn(k.Value, k, v)
	}
}

// suggest names the closest known word, or lists them all.
func suggest(got string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if dd := distance(got, k); dd < bestD {
			best, bestD = k, dd
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return " (known: " + strings.Join(known, ", ") + ")"
}

// distance is the edit distance between two short words.
func distance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func (d *decoder) name(k *yaml.Node, what string) bool {
	if !validName(k.Value) {
		d.errf(k, "%s name %q must be lower case letters, digits and _ and start with a letter", what, k.Value)
		return false
	}
	if _, ok := fieldByPath[k.Value]; ok || k.Value == "data" || reserved[k.Value] {
		d.errf(k, "%s name %q is taken by a field or a keyword of the condition language", what, k.Value)
		return false
	}
	return true
}

// reserved are names a list or macro may not take: keywords and builtins of
// the condition language.
var reserved = map[string]bool{"true": true, "false": true, "nil": true, "and": true, "or": true, "not": true,
	"in": true, "matches": true, "contains": true, "startsWith": true, "endsWith": true, "let": true, "if": true, "else": true}

func validName(s string) bool {
	if s == "" || len(s) > 64 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func validID(s string) bool {
	if s == "" || len(s) > 100 {
		return false
	}
	for i, c := range []byte(s) {
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || i > 0 && (c == '.' || c == '-' || c == '_')
		if !ok {
			return false
		}
	}
	return true
}

func (d *decoder) scalar(n *yaml.Node, what string) (scalar, bool) {
	if n.Kind != yaml.ScalarNode {
		d.errf(n, "%s must be a single value", what)
		return scalar{}, false
	}
	return scalar{value: n.Value, tag: n.ShortTag(), pos: posOf(d.file, n)}, true
}

func (d *decoder) str(n *yaml.Node, what string) (string, bool) {
	s, ok := d.scalar(n, what)
	if ok && s.tag != "!!str" && s.tag != "!!int" && s.tag != "!!float" {
		d.errf(n, "%s must be text", what)
		return "", false
	}
	return s.value, ok
}

func (d *decoder) text(n *yaml.Node, what string) (text, bool) {
	s, ok := d.str(n, what)
	return text{value: s, pos: posOf(d.file, n), block: n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0}, ok
}

func (d *decoder) boolean(n *yaml.Node, what string) bool {
	s, ok := d.scalar(n, what)
	if !ok {
		return false
	}
	if s.tag != "!!bool" {
		d.errf(n, "%s must be true or false", what)
		return false
	}
	b, _ := strconv.ParseBool(strings.ToLower(s.value))
	return b
}

// scalars reads a sequence of values; a single value is a list of one.
func (d *decoder) scalars(n *yaml.Node, what string) []scalar {
	if n.Kind == yaml.ScalarNode {
		s, _ := d.scalar(n, what)
		return []scalar{s}
	}
	if n.Kind != yaml.SequenceNode {
		d.errf(n, "%s must be a list of values", what)
		return nil
	}
	var out []scalar
	for _, it := range n.Content {
		if s, ok := d.scalar(it, "an item of "+what); ok {
			out = append(out, s)
		}
	}
	return out
}

func (d *decoder) strings(n *yaml.Node, what string) []string {
	var out []string
	for _, s := range d.scalars(n, what) {
		out = append(out, s.value)
	}
	return out
}

var ruleKeys = []string{"id", "title", "description", "category", "severity", "mappings", "enabled", "shadow",
	"generate", "tenants", "events", "timezone", "condition", "exceptions", "explanation", "correlation"}

func (d *decoder) ruleOf(n *yaml.Node) *rawRule {
	r := &rawRule{pos: posOf(d.file, n), src: d.src, enabled: true}
	d.rule = ""
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == "id" {
				d.rule = n.Content[i+1].Value
			}
		}
	}
	defer func() { d.rule = "" }()
	d.mapping(n, "a rule", ruleKeys, func(key string, k, v *yaml.Node) {
		switch key {
		case "id":
			r.id, _ = d.str(v, "id")
			r.idPos = posOf(d.file, v)
		case "title":
			r.title, _ = d.str(v, "title")
		case "description":
			r.description, _ = d.str(v, "description")
		case "category":
			r.category, _ = d.scalar(v, "category")
		case "severity":
			r.severity, _ = d.scalar(v, "severity")
		case "mappings":
			m := &rawMappings{pos: posOf(d.file, v)}
			d.mapping(v, "mappings", []string{"r155", "atm", "attack"}, func(key string, k, v *yaml.Node) {
				switch key {
				case "r155":
					m.r155 = d.scalars(v, "mappings.r155")
				case "atm":
					m.atm = d.scalars(v, "mappings.atm")
				case "attack":
					m.attack = d.scalars(v, "mappings.attack")
				}
			})
			r.mappings = m
		case "enabled":
			r.enabled = d.boolean(v, "enabled")
		case "shadow":
			r.shadow = d.boolean(v, "shadow")
		case "generate":
			r.generate = d.boolean(v, "generate")
		case "tenants":
			r.tenants = d.strings(v, "tenants")
		case "events":
			r.events = d.scalars(v, "events")
		case "timezone":
			r.timezone, _ = d.scalar(v, "timezone")
		case "condition":
			if t, ok := d.text(v, "condition"); ok {
				r.condition = &t
			}
		case "explanation":
			if t, ok := d.text(v, "explanation"); ok {
				r.explanation = &t
			}
		case "exceptions":
			if v.Kind != yaml.SequenceNode {
				d.errf(v, "exceptions must be a list of {name, fields, comps, values}")
				return
			}
			for _, en := range v.Content {
				if e := d.exceptionOf(en); e != nil {
					r.exceptions = append(r.exceptions, e)
				}
			}
		case "correlation":
			r.correlation = d.correlationOf(v)
		}
	})
	return r
}

func (d *decoder) exceptionOf(n *yaml.Node) *rawException {
	e := &rawException{pos: posOf(d.file, n)}
	d.mapping(n, "an exception", []string{"name", "fields", "comps", "values"}, func(key string, k, v *yaml.Node) {
		switch key {
		case "name":
			e.name, _ = d.str(v, "exception name")
		case "fields":
			e.fields = d.scalars(v, "exception fields")
		case "comps":
			e.comps = d.scalars(v, "exception comps")
		case "values":
			if v.Kind != yaml.SequenceNode {
				d.errf(v, "exception values must be a list (of tuples, one value per field)")
				return
			}
			for _, t := range v.Content {
				if t.Kind == yaml.SequenceNode {
					e.values = append(e.values, t.Content)
				} else {
					e.values = append(e.values, []*yaml.Node{t}) // a one-field exception may list plain values
				}
			}
		}
	})
	return e
}

func (d *decoder) correlationOf(n *yaml.Node) *rawCorrelation {
	c := &rawCorrelation{pos: posOf(d.file, n)}
	d.mapping(n, "correlation", []string{"type", "rules", "group_by", "timespan", "condition", "learn"}, func(key string, k, v *yaml.Node) {
		switch key {
		case "type":
			c.typ, _ = d.scalar(v, "correlation type")
		case "rules":
			c.rules = d.scalars(v, "correlation rules")
		case "group_by":
			c.groupBy = d.scalars(v, "group_by")
		case "timespan":
			c.timespan, _ = d.scalar(v, "timespan")
		case "learn":
			c.learn, _ = d.scalar(v, "learn")
		case "condition":
			d.mapping(v, "correlation condition", []string{"gte", "gt", "field"}, func(key string, k, v *yaml.Node) {
				switch key {
				case "field":
					c.field, _ = d.scalar(v, "condition field")
				default:
					if c.op != "" {
						d.errf(k, "give one of gte or gt, not both")
						return
					}
					s, ok := d.scalar(v, key)
					n, err := strconv.Atoi(s.value)
					if !ok || err != nil || n < 1 {
						d.errf(v, "%s must be a whole number of at least 1", key)
						return
					}
					c.op, c.opPos, c.threshold = key, posOf(d.file, k), n
				}
			})
		}
	})
	return c
}

// parseDuration reads 90s, 10m, 2h, 7d or a combination (1d12h).
func parseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, errors.New("empty")
	}
	var total time.Duration
	rest := s
	if i := strings.IndexByte(rest, 'd'); i >= 0 {
		days, err := strconv.Atoi(rest[:i])
		if err != nil || days < 0 || days > 3660 {
			return 0, fmt.Errorf("%q is not a duration like 90s, 10m, 2h or 7d", s)
		}
		total = time.Duration(days) * 24 * time.Hour
		rest = rest[i+1:]
	}
	if rest != "" {
		d, err := time.ParseDuration(rest)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration like 90s, 10m, 2h or 7d", s)
		}
		total += d
	}
	return total, nil
}

// yamlErrorLine extracts the line from a yaml.v3 error ("yaml: line 3: ...").
func yamlErrorLine(err error) int {
	s := err.Error()
	if i := strings.Index(s, "line "); i >= 0 {
		j := i + 5
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		n, _ := strconv.Atoi(s[i+5 : j])
		return n
	}
	return 0
}

func yamlErrorText(err error) string {
	s := strings.TrimPrefix(err.Error(), "yaml: ")
	if strings.HasPrefix(s, "line ") {
		if i := strings.Index(s, ": "); i >= 0 {
			s = s[i+2:]
		}
	}
	return s
}
