package twin

import "slices"

// Erasure of a data subject (docs/privacy.md). The subject's own key is
// dropped by the engine; what other keys remember about it is removed
// here: an account in a vehicle's links, an IP in an account's failures,
// a vehicle in a caller's reads. Counts that name no one (a vehicle's
// nonces, a tenant's minute statistics) stay; so do the event refs kept
// as evidence, which are the producers' ids, not personal values.

// SubjectKind is what an erased value is.
type SubjectKind uint8

const (
	SubjectVehicle SubjectKind = iota
	SubjectAccount             // an account id, an e-mail address, a user name hash
	SubjectDevice
	SubjectIP
	SubjectClient
	SubjectPhone // an SMS originator or recipient
)

var subjectNames = [...]string{"vehicle", "account", "device", "ip", "client", "phone"}

func (k SubjectKind) String() string {
	if int(k) < len(subjectNames) {
		return subjectNames[k]
	}
	return "unknown"
}

// Subject is one erased value and what it is.
type Subject struct {
	Kind  SubjectKind
	Value string
}

// Forget removes what the vehicle's state says about s, and reports
// whether it held anything. Detection on the vehicle goes on without it:
// an erased account is no longer linked, no longer among those that
// commanded the vehicle, and named by no open finding.
func (v *Vehicle) Forget(s Subject) bool {
	if s.Value == "" || v.Act == nil {
		return false
	}
	changed := false
	a := v.Act
	if s.Kind == SubjectAccount {
		if i := slices.Index(a.Principals, s.Value); i >= 0 {
			a.Principals = slices.Delete(a.Principals, i, i+1)
			changed = true
		}
	}
	m := a.More
	if m == nil {
		return changed
	}
	if l := m.Links; l != nil && s.Kind == SubjectAccount {
		n := len(l.List)
		l.List = slices.DeleteFunc(l.List, func(e Link) bool { return e.Account == s.Value })
		changed = changed || len(l.List) != n
		if l.Transfer.To == s.Value {
			// The transfer stays (accounts linked before it lost the
			// vehicle); only who received it is forgotten.
			l.Transfer.To = ""
			changed = true
		}
	}
	if s.Kind == SubjectAccount || s.Kind == SubjectPhone {
		// Who names the account that commanded, or the SMS originator.
		for i := range m.Awaiting {
			if m.Awaiting[i].Who == s.Value {
				m.Awaiting[i].Who = ""
				changed = true
			}
		}
	}
	return changed
}

// Forget removes what the principal's state says about s, and reports
// whether it held anything. The principal's own key is not s: the engine
// drops that one whole.
func (p *Principal) Forget(s Subject) bool {
	if s.Value == "" {
		return false
	}
	v := s.Value
	h := HashID(v)
	changed := false
	note := func(c bool) { changed = changed || c }
	switch s.Kind {
	case SubjectAccount, SubjectIP:
		// An account's failures name the IPs they came from, an IP's the
		// accounts (or user names) it tried.
		note(p.Failures.forget(v, "username:"+v))
		if p.PIN != nil {
			note(p.PIN.Fails.forget(v, ""))
		}
		if p.Phone != nil {
			note(p.Phone.Fails.forget(v, ""))
		}
		if w := p.Logins; w != nil {
			n := len(w.List)
			w.List = slices.DeleteFunc(w.List, func(a LoginAttempt) bool {
				return a.IP == v || a.Account == v || (s.Kind == SubjectAccount && a.Who == h)
			})
			note(len(w.List) != n)
		}
	}
	if t := p.Takeover; t != nil {
		if s.Kind == SubjectIP && t.ChangeIP == v {
			t.ChangeIP = ""
			changed = true
		}
		if s.Kind == SubjectDevice && t.AddedDevice == v {
			t.AddedDevice = ""
			changed = true
		}
	}
	if d := p.Devices; d != nil {
		if s.Kind == SubjectDevice {
			note(d.forget(DeviceHash(v)))
		}
		if n := d.Pending; n != nil && ((s.Kind == SubjectDevice && n.Device == v) || (s.Kind == SubjectIP && n.IP == v)) {
			d.Pending = nil
			changed = true
		}
	}
	if s.Kind == SubjectVehicle {
		if l := p.Links; l != nil {
			n := len(l.List)
			l.List = slices.DeleteFunc(l.List, func(c LinkChange) bool { return c.Vehicle == v })
			note(len(l.List) != n)
		}
		if sp := p.Spread; sp != nil {
			note(sp.Vehicles.forget(h, v))
		}
		if pr := p.Priv; pr != nil {
			note(pr.Outside.forget(h, v))
			note(pr.Located.forget(h, v))
			note(pr.Night.forget(h, v))
		}
	}
	if r := p.Reads; r != nil {
		note(r.forget(s, h))
	}
	return changed
}

func (w *FailureWindow) forget(v, alt string) bool {
	if w == nil {
		return false
	}
	n := len(w.List)
	w.List = slices.DeleteFunc(w.List, func(f Failure) bool { return f.Other == v || (alt != "" && f.Other == alt) })
	return len(w.List) != n
}

// forget removes the hits on the thing hashed h (named v).
func (w *HitWindow) forget(h uint64, v string) bool {
	n := len(w.List)
	w.List = slices.DeleteFunc(w.List, func(x Hit) bool { return x.Key == h || x.Name == v })
	return len(w.List) != n
}

// forget removes the device hash h, keeping the others in their order.
func (k *KnownDevices) forget(h uint32) bool {
	n := int(k.N)
	for i := range n {
		if k.H[i] == h {
			copy(k.H[i:n], k.H[i+1:n])
			k.H[n-1] = 0
			k.N--
			return true
		}
	}
	return false
}

func (r *ReadState) forget(s Subject, h uint64) bool {
	v := s.Value
	changed := false
	switch s.Kind {
	case SubjectVehicle:
		if r.Unlinked != nil && r.Unlinked.forget(h, v) {
			changed = true
		}
		if w := r.Lookups; w != nil {
			kept := w.List[:0]
			for _, l := range w.List {
				if l.VIN == h {
					w.count(&l, -1)
					changed = true
					continue
				}
				kept = append(kept, l)
			}
			clear(w.List[len(kept):])
			w.List = kept
		}
		if r.Vehicle == v {
			r.Vehicle, r.Entitled = "", false
			changed = true
		}
	case SubjectIP:
		if r.IPs != nil && r.IPs.forget(h, v) {
			changed = true
		}
		if r.LastIP == v {
			r.LastIP = ""
			changed = true
		}
	case SubjectAccount, SubjectClient:
		if r.CallerSeen && r.Caller == h {
			// An IP's last caller: the address still served more than one
			// (Callers) if it did.
			r.Caller = 0
			changed = true
		}
	}
	return changed
}
