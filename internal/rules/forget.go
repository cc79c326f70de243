package rules

import (
	"slices"
	"strings"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/twin"
)

var _ detect.Forgetter = (*Detector)(nil)

// Forget drops what the shard's correlations remember of an erased value
// in its tenant (docs/privacy.md). A group keyed by it (its key or a
// group_by value) goes whole; in other groups the matches that name it
// (their entities or counted value), the sequence steps built on them and
// the absence windows whose entities or explanation name it go, and a
// group left with nothing goes too. Values in a group are untyped, so the
// value is matched whatever its kind: a device and an account spelled
// alike are both forgotten.
func (d *Detector) Forget(c *detect.Context, s twin.Subject) {
	st := c.Local.(*shardState)
	st.env = Env{} // the shard's last event, kept for the next rule call
	v := s.Value
	var drop []*group
	for g := st.head; g != nil; g = g.next {
		if g.k.tenant != c.Tenant {
			continue
		}
		if g.route == v || slices.Contains(g.values, v) {
			drop = append(drop, g)
			continue
		}
		n := len(g.occ) + len(g.distinct) + len(g.pending)
		g.occ = slices.DeleteFunc(g.occ, func(o occurrence) bool { return o.names(v) })
		g.distinct = slices.DeleteFunc(g.distinct, func(x distinctValue) bool { return x.v == v })
		g.pending = slices.DeleteFunc(g.pending, func(p pending) bool { return entitiesName(&p.ent, v) || strings.Contains(p.expl, v) })
		changed := n != len(g.occ)+len(g.distinct)+len(g.pending)
		left := false
		for i := range g.steps {
			if g.steps[i].ok && g.steps[i].names(v) {
				g.steps[i] = step{}
				changed = true
			}
			left = left || g.steps[i].ok
		}
		if changed && !left && !g.hasSeen && len(g.occ)+len(g.distinct)+len(g.pending) == 0 {
			drop = append(drop, g)
		}
	}
	for _, g := range drop {
		st.drop(g)
	}
}

func (o *occurrence) names(v string) bool {
	return o.value == v || slices.Contains(o.values, v) || entitiesName(&o.ent, v)
}

func entitiesName(e *alert.Entities, v string) bool {
	return e.Vehicle == v || e.Account == v || e.Device == v || e.IP == v || e.ClientID == v || e.MSISDN == v ||
		slices.Contains(e.Vehicles, v)
}
