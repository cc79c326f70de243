package rules

import (
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/event"
)

// correlationOf compiles a correlation's own parts.
func (c *compiler) correlationOf(r *rule, raw *rawCorrelation) *correlation {
	k := &correlation{}
	id := r.ID
	switch raw.typ.value {
	case "event_count":
		k.typ = corrEventCount
	case "value_count":
		k.typ = corrValueCount
	case "temporal":
		k.typ = corrTemporal
	case "temporal_ordered":
		k.typ = corrOrdered
	case "absent":
		k.typ = corrAbsent
	case "first":
		k.typ = corrFirst
	case "":
		c.errAt(raw.pos, id, "correlation type is required (%s)", strings.Join(corrNames[1:], ", "))
		return nil
	default:
		c.errAt(raw.typ.pos, id, "unknown correlation type %q%s", raw.typ.value, suggest(raw.typ.value, corrNames[1:]))
		return nil
	}
	nrefs := map[corrType][2]int{corrEventCount: {1, 1}, corrValueCount: {1, 1}, corrTemporal: {2, 8},
		corrOrdered: {2, 8}, corrAbsent: {2, 2}, corrFirst: {1, 1}}[k.typ]
	if len(raw.rules) < nrefs[0] || len(raw.rules) > nrefs[1] {
		want := fmt.Sprintf("%d", nrefs[0])
		if nrefs[1] != nrefs[0] {
			want = fmt.Sprintf("%d to %d", nrefs[0], nrefs[1])
		}
		c.errAt(raw.pos, id, "%s names %s rules in rules:, not %d", k.typ, want, len(raw.rules))
		return nil
	}
	if len(raw.groupBy) == 0 {
		c.errAt(raw.pos, id, "group_by is required and must start with the key the engine routes on: %s", strings.Join(groupKindNames, ", "))
		return nil
	}
	kind, ok := groupKinds[raw.groupBy[0].value]
	if !ok {
		hint := ""
		if name, ok := fieldKinds[raw.groupBy[0].value]; ok {
			hint = fmt.Sprintf(" (write %s: the engine's %s key)", name, name)
		}
		c.errAt(raw.groupBy[0].pos, id, "group_by must start with a key the engine routes on, so the correlation's state lives on one shard: %s, not %q%s",
			strings.Join(groupKindNames, ", "), raw.groupBy[0].value, hint)
		return nil
	}
	k.kind = kind
	for _, g := range raw.groupBy[1:] {
		f := fieldByPath[g.value]
		if f == nil {
			c.errAt(g.pos, id, "group_by: unknown field %q%s", g.value, suggest(g.value, fieldPaths()))
			return nil
		}
		k.groupBy = append(k.groupBy, f)
	}
	span, ok := c.duration(raw.timespan, id, "timespan", true)
	if !ok {
		return nil
	}
	k.span = int64(span)
	if raw.learn.value != "" {
		if k.typ != corrFirst {
			c.errAt(raw.learn.pos, id, "learn applies to first only")
			return nil
		}
		l, ok := c.duration(raw.learn, id, "learn", true)
		if !ok {
			return nil
		}
		k.learn = int64(l)
	}
	switch k.typ {
	case corrEventCount, corrValueCount:
		if raw.op == "" {
			c.errAt(raw.pos, id, "%s needs a condition such as {gte: 10}", k.typ)
			return nil
		}
		k.threshold = raw.threshold
		if raw.op == "gt" {
			k.threshold++
		}
		if k.threshold > c.lim.Threshold {
			c.errAt(raw.opPos, id, "a count of %d is more than the limit of %d", k.threshold, c.lim.Threshold)
			return nil
		}
		if k.typ == corrValueCount {
			if raw.field.value == "" {
				c.errAt(raw.pos, id, "value_count needs condition.field: the field whose distinct values are counted")
				return nil
			}
			if k.field = fieldByPath[raw.field.value]; k.field == nil {
				c.errAt(raw.field.pos, id, "condition.field: unknown field %q%s", raw.field.value, suggest(raw.field.value, fieldPaths()))
				return nil
			}
		} else if raw.field.value != "" {
			c.errAt(raw.field.pos, id, "condition.field applies to value_count only")
			return nil
		}
	default:
		if raw.op != "" || raw.field.value != "" {
			c.errAt(raw.opPos, id, "%s takes no condition: it fires when its rules occur as it says", k.typ)
			return nil
		}
	}
	return k
}

func (c *compiler) duration(s scalar, id, what string, required bool) (time.Duration, bool) {
	if s.value == "" {
		if required {
			c.errAt(s.pos, id, "%s is required (e.g. 10m)", what)
		}
		return 0, !required
	}
	d, err := parseDuration(s.value)
	if err != nil {
		c.errAt(s.pos, id, "%s: %v", what, err)
		return 0, false
	}
	if d < c.lim.MinTimespan || d > c.lim.MaxTimespan {
		c.errAt(s.pos, id, "%s %v is outside %v to %v", what, d, c.lim.MinTimespan, c.lim.MaxTimespan)
		return 0, false
	}
	return d, true
}

// link resolves the rules correlations name, decides which rules alert,
// and checks what needs the whole set.
func (c *compiler) link() {
	referenced := map[*rule]bool{}
	generate := map[*rule]bool{}
	for _, r := range c.order {
		k := r.corr
		if k == nil {
			continue
		}
		for i, s := range r.raw.correlation.rules {
			ref := c.rules[s.value]
			switch {
			case ref == nil:
				c.errAt(s.pos, r.ID, "correlation names unknown rule %q", s.value)
				continue
			case !ref.raw.enabled && r.raw.enabled:
				c.errAt(s.pos, r.ID, "correlation names rule %s, which is disabled", s.value)
				continue
			case ref == r:
				c.errAt(s.pos, r.ID, "a correlation cannot name itself")
				continue
			}
			if slices.Contains(k.refs, ref) {
				c.errAt(s.pos, r.ID, "rule %s is named twice", s.value)
				continue
			}
			_ = i
			k.refs = append(k.refs, ref)
			if r.raw.enabled {
				referenced[ref] = true
			}
			if r.raw.generate {
				generate[ref] = true
			}
		}
	}
	// Cycles between correlations, and types by propagation.
	state := map[*rule]uint8{}
	var resolve func(r *rule) bool
	resolve = func(r *rule) bool {
		if r.corr == nil {
			return true
		}
		switch state[r] {
		case 1:
			c.errAt(r.raw.pos, r.ID, "correlations name each other in a cycle")
			return false
		case 2:
			return true
		}
		state[r] = 1
		defer func() { state[r] = 2 }()
		k := r.corr
		for _, ref := range k.refs {
			if !resolve(ref) {
				return false
			}
			if ref.corr != nil {
				if ref.corr.kind != k.kind || !slices.Equal(ref.corr.groupBy, k.groupBy) {
					c.errAt(r.raw.correlation.pos, r.ID, "names correlation %s, which must have the same group_by", ref.ID)
					return false
				}
			}
			var usable []event.Type
			for _, t := range ref.types {
				if kindCarries(k.kind, t) {
					usable = append(usable, t)
				}
			}
			if len(usable) == 0 {
				c.errAt(r.raw.correlation.pos, r.ID, "group_by %s: %s events (rule %s) never carry that key", k.kind, typesText(ref.types), ref.ID)
				return false
			}
			for _, t := range usable {
				if !r.typeSet[t] {
					r.typeSet[t] = true
					r.types = append(r.types, t)
				}
			}
			for _, f := range k.groupBy {
				setBySome := false
				for _, t := range usable {
					setBySome = setBySome || f.setBy(t)
				}
				if !setBySome {
					c.warnAt(r.raw.correlation.pos, r.ID, "group_by %s is not set by the events of rule %s: they all fall in one group", f.Path, ref.ID)
				}
			}
			if k.field != nil && !slices.ContainsFunc(usable, k.field.setBy) {
				c.errAt(r.raw.correlation.pos, r.ID, "condition.field %s is not set by the events of rule %s", k.field.Path, ref.ID)
				return false
			}
		}
		return true
	}
	for _, r := range c.order {
		resolve(r)
	}
	// Who alerts: a rule alerts unless it only feeds correlations (Sigma's
	// generate: false, the default).
	for _, r := range c.order {
		r.alerts = !referenced[r] || generate[r]
		if !r.raw.enabled {
			continue
		}
		if r.alerts {
			if r.Category == alert.CategoryUnset {
				c.errAt(r.raw.pos, r.ID, "category is required for a rule that raises alerts (%s)", strings.Join(categoryNames(), ", "))
			}
			if r.Severity == event.SeverityUnset {
				c.errAt(r.raw.pos, r.ID, "severity is required for a rule that raises alerts (low, medium, high, critical)")
			}
			if r.Title == "" {
				c.errAt(r.raw.pos, r.ID, "title is required for a rule that raises alerts")
			}
			if r.raw.mappings == nil {
				c.warnAt(r.raw.pos, r.ID, "no mappings: the alert is filed under the defaults of %s", r.Category)
			}
		}
		if r.Mappings.R155 == nil {
			r.Mappings = alert.DefaultMappings(r.Category)
		}
	}
	for _, r := range c.order {
		c.fingerprint(r, map[*rule]bool{})
	}
}

// fingerprint hashes what a rule's matching and state depend on, so a
// reload keeps the correlation state of rules that did not change.
func (c *compiler) fingerprint(r *rule, seen map[*rule]bool) [32]byte {
	if seen[r] || r.fp != [32]byte{} {
		return r.fp
	}
	seen[r] = true
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%q\x00%v\x00", r.ID, r.tenants, r.types)
	if r.loc != nil {
		h.Write([]byte(r.loc.String()))
	}
	if r.prog != nil {
		h.Write([]byte(r.prog.Node().String()))
	}
	if k := r.corr; k != nil {
		fmt.Fprintf(h, "\x00%d %d %d %d %d %d", k.typ, k.kind, k.span, k.learn, k.threshold, len(k.refs))
		for _, f := range k.groupBy {
			h.Write([]byte(f.Path))
		}
		if k.field != nil {
			h.Write([]byte(k.field.Path))
		}
		for _, ref := range k.refs {
			fp := c.fingerprint(ref, seen)
			h.Write(fp[:])
		}
	}
	copy(r.fp[:], h.Sum(nil))
	return r.fp
}

// build indexes the compiled rules for the detector.
func (c *compiler) build() *RuleSet {
	set := &RuleSet{byID: map[string]*rule{}, lim: c.lim}
	for name, l := range c.lists {
		if !c.used[name] {
			set.unused = append(set.unused, unusedName{what: "list " + name, pos: l.pos})
		}
	}
	for name, m := range c.macros {
		if !c.used[name] {
			set.unused = append(set.unused, unusedName{what: "macro " + name, pos: m.pos})
		}
	}
	for _, r := range c.order {
		if !r.raw.enabled {
			continue
		}
		r.idx = len(set.rules)
		set.rules = append(set.rules, r)
		set.byID[r.ID] = r
	}
	for _, r := range set.rules {
		k := r.corr
		if k == nil {
			continue
		}
		for i, ref := range k.refs {
			us := ref.users[k.kind]
			j := slices.IndexFunc(us, func(u use) bool { return u.r == r })
			if j < 0 {
				us = append(us, use{r: r})
				j = len(us) - 1
			}
			us[j].steps = append(us[j].steps, i)
			ref.users[k.kind] = us
		}
		for _, t := range r.types {
			set.needs[k.kind][t] = true
		}
		set.learns = set.learns || k.learn > 0
	}
	for _, r := range set.rules {
		if r.prog == nil {
			continue
		}
		for _, t := range r.types {
			for k := range detect.NumKinds {
				single := r.alerts && slices.Contains(singleChain[t], k)
				if single {
					set.needs[k][t] = true
				}
				if single || (len(r.users[k]) > 0 && kindCarries(k, t)) {
					set.dispatch[k][t] = append(set.dispatch[k][t], r)
				}
			}
		}
	}
	return set
}
