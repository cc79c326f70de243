package gate

import (
	"context"
	"slices"
	"strings"

	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/store"
	"github.com/vigil-project/vigil/internal/twin"
)

// Erasure of a data subject (docs/privacy.md) reaches the gate's copies of
// detection state through its observer, which the engine calls on every
// shard. The parts every shard shares (the view, the rate buckets, the
// ring of recent decisions) are cleaned on each call: an event handled on
// the owning shard before its erasure may have copied the subject in
// again after another shard cleaned them, and the owning shard's own call
// comes after that event. The decision log files are rewritten once per
// erasure, by EraseLog, which the processor calls after the shards.

var _ detect.Forgetter = (*observer)(nil)

// Forget drops an erased subject from the gate's state.
func (o *observer) Forget(c *detect.Context, s twin.Subject) {
	k := vkey{c.Tenant, s.Value}
	if ls, ok := c.Local.(*shardState); ok && s.Kind == twin.SubjectVehicle {
		// Its slot in the twin table is gone: never copy it. The engine
		// also dropped its timers, which may be the one that copies the
		// shard's pending vehicles on a quiet stream: copy them now (their
		// events are folded by now) and let the next event set a new one.
		ls.pending = slices.DeleteFunc(ls.pending, func(p pendingVehicle) bool { return p.k == k })
		o.flush(ls)
		ls.timer = false
	}
	o.v.forget(k, s.Kind)
	if o.g != nil {
		o.g.forget(k, s.Kind)
	}
}

var _ detect.VehicleEvictions = (*observer)(nil)

// Evicted follows the engine letting go of an idle vehicle: its slot may
// hold another vehicle soon, so it is never copied again, and the gate
// forgets its motion and links as the engine forgot its twin. The gate
// judges what detection knows (docs/gate.md): a vehicle idle past the
// engine's VehicleTTL is judged by the directory alone, as the
// cmd.unlinked-principal detector judges it. Keeping some of it here would
// be undone by the vehicle's next link change or a restart, and invented
// vehicles would grow the gate without bound.
func (o *observer) Evicted(c *detect.Context, vehicle string) {
	k := vkey{c.Tenant, vehicle}
	if ls, ok := c.Local.(*shardState); ok {
		ls.pending = slices.DeleteFunc(ls.pending, func(p pendingVehicle) bool { return p.k == k })
	}
	o.v.forget(k, twin.SubjectVehicle)
}

func (v *view) forget(k vkey, kind twin.SubjectKind) {
	switch kind {
	case twin.SubjectVehicle:
		s := v.stripe(k)
		s.mu.Lock()
		delete(s.motion, k)
		delete(s.links, k)
		s.mu.Unlock()
	case twin.SubjectAccount:
		v.setTrail(k, trail{}, false)
		// Other vehicles' links name the account.
		for i := range v.stripes {
			s := &v.stripes[i]
			s.mu.Lock()
			for vk, l := range s.links {
				if vk.tenant != k.tenant || (l.find(k.id) == nil && l.TransferTo != k.id) {
					continue
				}
				c := &linkSet{TransferAt: l.TransferAt, TransferTo: l.TransferTo}
				if c.TransferTo == k.id {
					c.TransferTo = ""
				}
				for _, e := range l.List {
					if e.Account != k.id {
						c.List = append(c.List, e)
					}
				}
				s.links[vk] = c // a new set: readers may hold the old one
			}
			s.mu.Unlock()
		}
	case twin.SubjectDevice:
		for i := range v.stripes {
			s := &v.stripes[i]
			s.mu.Lock()
			for tk, t := range s.trails {
				if tk.tenant == k.tenant && t.AddedDevice == k.id {
					t.AddedDevice = ""
					s.trails[tk] = t
				}
			}
			s.mu.Unlock()
		}
	}
}

// names reports whether the record names the tenant's subject s: in its
// fields, or in a reason's message (a transfer names the new owner, a
// step-up the device added) as a word of its own (10.0.0.1 is not in
// 10.0.0.11).
func (r *DecisionRecord) names(tenant string, s twin.Subject) bool {
	if r.Tenant != tenant || s.Value == "" {
		return false
	}
	switch s.Kind {
	case twin.SubjectVehicle:
		if r.Vehicle == s.Value {
			return true
		}
	case twin.SubjectAccount:
		if r.Actor.Account == s.Value {
			return true
		}
	case twin.SubjectDevice:
		if r.Actor.Device == s.Value {
			return true
		}
	case twin.SubjectIP:
		if r.Actor.IP == s.Value {
			return true
		}
	case twin.SubjectClient:
		if r.Actor.ClientID == s.Value {
			return true
		}
	}
	for _, rs := range r.Reasons {
		if containsWord(rs.Message, s.Value) {
			return true
		}
	}
	return false
}

// containsWord reports whether v occurs in s with no letter, digit, '_'
// or '-' right before or after it.
func containsWord(s, v string) bool {
	for i := 0; v != "" && i+len(v) <= len(s); {
		j := strings.Index(s[i:], v)
		if j < 0 {
			return false
		}
		at := i + j
		end := at + len(v)
		if (at == 0 || !wordByte(s[at-1])) && (end == len(s) || !wordByte(s[end])) {
			return true
		}
		i = at + 1
	}
	return false
}

func wordByte(c byte) bool {
	return c == '_' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

// EraseLog removes the records naming any of the tenant's subjects from
// the decision log files — the current one and every rotated one — and
// returns how many it removed. The erasure of a data subject calls it
// after detection has forgotten them, so no new decision can name them
// (docs/privacy.md). Each file is rewritten beside itself, synced and
// renamed over the old one: a crash leaves the old file or the new one.
func (g *Gate) EraseLog(ctx context.Context, tenant string, subjects []twin.Subject) (int, error) {
	if g.file == nil || len(subjects) == 0 {
		return 0, nil
	}
	return g.file.erase(ctx, tenant, subjects)
}

// forget drops the subject's rate buckets and the recent decisions that
// name it, and reloads the open incidents (the erased ones are gone).
func (g *Gate) forget(k vkey, kind twin.SubjectKind) {
	switch kind {
	case twin.SubjectVehicle:
		g.vehicles.drop(k)
	case twin.SubjectAccount:
		g.accounts.drop(k)
	}
	g.ring.drop(func(r *DecisionRecord) bool { return r.names(k.tenant, twin.Subject{Kind: kind, Value: k.id}) })
	// Its incidents are erased: the entries stored alerts added go too.
	ek := entityKey{k.tenant, store.EntityVehicle, k.id}
	if kind == twin.SubjectAccount {
		ek.kind = store.EntityAccount
	}
	g.changeIndex(func(next *incidentIndex) bool {
		_, ok := next.stored[ek]
		delete(next.stored, ek)
		return ok
	})
	g.incMu.Lock()
	g.kicked.all = true
	g.incMu.Unlock()
	select {
	case g.kick <- struct{}{}:
	default:
	}
}

// drop removes k's bucket.
func (l *limiter) drop(k vkey) {
	s := &l.stripes[l.stripeOf(k)]
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[k]; ok {
		delete(s.m, k)
		l.keys.Add(-1)
	}
}

// drop removes the records match reports, keeping the others in order.
func (r *ring) drop(match func(*DecisionRecord) bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	keep := make([]*DecisionRecord, 0, r.n)
	for i := r.n; i >= 1; i-- {
		if rec := r.buf[(r.next-i+len(r.buf))%len(r.buf)]; !match(rec) {
			keep = append(keep, rec)
		}
	}
	if len(keep) == r.n {
		return
	}
	clear(r.buf)
	copy(r.buf, keep)
	r.n, r.next = len(keep), len(keep)%len(r.buf)
}
