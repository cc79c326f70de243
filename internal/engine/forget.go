package engine

import (
	"sync"

	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/twin"
)

// Erasure of data subjects (docs/privacy.md). Forget goes to every shard,
// not only to the one owning the subject's key: other keys' state names
// the subject too (an account in a vehicle's links, an IP in an
// account's failures, a vehicle in a rule correlation's group), and those
// keys live on any shard. Each shard handles it in order with the events
// pushed before, like a Query, so nothing pushed earlier brings the
// subject back afterwards.

// ForgetStats counts what Forget removed.
type ForgetStats struct {
	Keys       int // keyed states dropped: the subject's own twin or principal state
	Timers     int // pending timers on those keys, cancelled
	References int // other keys whose state named the subject
}

// keyKinds are the kinds of key a subject is routed by.
func keyKinds(k twin.SubjectKind) []detect.Kind {
	switch k {
	case twin.SubjectVehicle:
		return []detect.Kind{detect.KindVehicle}
	case twin.SubjectAccount:
		return []detect.Kind{detect.KindAccount}
	case twin.SubjectDevice:
		return []detect.Kind{detect.KindDevice}
	case twin.SubjectIP:
		return []detect.Kind{detect.KindIP}
	case twin.SubjectClient:
		return []detect.Kind{detect.KindClient}
	case twin.SubjectPhone:
		return []detect.Kind{detect.KindArtifact} // an SMS originator's key
	}
	return nil
}

// Forget erases the subjects of a tenant from detection state: their own
// keyed state and its pending timers, what other keys remember of them,
// and what detectors keep of them elsewhere (detect.Forgetter). Aggregates
// that name no one stay: a subnet's key (the /24 of an erased address,
// whose logins no longer list it), tenant statistics, learned firmware
// images. Call it from the goroutine that pushes; after Stop or Close it
// does nothing.
func (e *Engine) Forget(tenant string, subjects ...twin.Subject) ForgetStats {
	var mu sync.Mutex
	var out ForgetStats
	e.Query(func(v ShardView) {
		st := v.s.forget(tenant, subjects)
		mu.Lock()
		out.Keys += st.Keys
		out.Timers += st.Timers
		out.References += st.References
		mu.Unlock()
	})
	return out
}

func (s *shard) forget(tenant string, subjects []twin.Subject) ForgetStats {
	var out ForgetStats
	ts := s.tenants[tenant]
	if ts != nil {
		type kk struct {
			kind detect.Kind
			key  string
		}
		gone := map[kk]bool{}
		for _, sub := range subjects {
			if sub.Value == "" {
				continue
			}
			for _, k := range keyKinds(sub.Kind) {
				gone[kk{k, sub.Value}] = true
				if k == detect.KindVehicle {
					if ts.vehicles.Lookup(sub.Value) != nil {
						ts.vehicles.Delete(sub.Value)
						out.Keys++
					}
				} else if ts.principals[k].Lookup(sub.Value) != nil {
					ts.principals[k].Delete(sub.Value)
					out.Keys++
				}
			}
		}
		if len(gone) > 0 {
			kept := ts.timers[:0]
			for _, t := range ts.timers {
				if gone[kk{t.kind, t.key}] {
					out.Timers++
					continue
				}
				kept = append(kept, t)
			}
			clear(ts.timers[len(kept):])
			ts.timers = kept
			ts.timers.heapify()
		}
		for _, sub := range subjects {
			out.References += s.scrub(ts, sub)
		}
	}
	c := &s.ctx
	for i, d := range s.e.opts.Detectors {
		f, ok := d.(detect.Forgetter)
		if !ok {
			continue
		}
		c.Tenant, c.Key, c.Kind, c.Arrived = tenant, "", 0, 0
		c.Frontier, c.TenantSince = 0, 0
		if ts != nil {
			c.Frontier, c.TenantSince = ts.frontier, ts.since
		}
		c.Info, c.Local = &s.e.infos[i], s.local[i]
		for _, sub := range subjects {
			if sub.Value != "" {
				f.Forget(c, sub)
			}
		}
	}
	return out
}

// scrub removes sub from every other key's state of the tenant, and drops
// principals left with nothing, as the shard does after an event.
func (s *shard) scrub(ts *tenantState, sub twin.Subject) int {
	n := 0
	ts.vehicles.Range(func(_ string, v *twin.Vehicle) bool {
		if v.Forget(sub) {
			n++
		}
		return true
	})
	for k := detect.KindAccount; k < detect.NumKinds; k++ {
		var empty []string
		ts.principals[k].Range(func(key string, p *twin.Principal) bool {
			if p.Forget(sub) {
				n++
				if p.Empty() {
					empty = append(empty, key)
				}
			}
			return true
		})
		for _, key := range empty {
			ts.principals[k].Delete(key)
		}
	}
	return n
}

// heapify restores the heap order of h after arbitrary removals.
func (h timerHeap) heapify() {
	for i := len(h)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

func (h timerHeap) down(i int) {
	n := len(h)
	for {
		l, m := 2*i+1, i
		if l < n && h.less(l, m) {
			m = l
		}
		if r := l + 1; r < n && h.less(r, m) {
			m = r
		}
		if m == i {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}
