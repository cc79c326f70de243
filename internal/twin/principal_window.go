package twin

import "github.com/vigil-project/vigil/internal/event"

// Hit is one distinct thing (a vehicle, an IP address) a principal touched,
// first seen at At in the event Ref.
type Hit struct {
	At   int64
	Key  uint64 // HashID of the thing
	Name string // the thing itself, for the alert (shared with the event)
	Ref  event.Ref
}

// HitWindow holds the distinct things a principal touched within a window of
// event time, in the order they were first seen, bounded: the oldest make
// way. An attacker chooses how many things appear; the window never holds
// more than the bound its detector gives.
type HitWindow struct {
	List []Hit
}

// Prune drops the hits first seen before now-window.
func (w *HitWindow) Prune(now, window int64) {
	i := 0
	for i < len(w.List) && w.List[i].At < now-window {
		i++
	}
	if i > 0 {
		n := copy(w.List, w.List[i:])
		clear(w.List[n:])
		w.List = w.List[:n]
	}
}

// Has reports whether key is in the window.
func (w *HitWindow) Has(key uint64) bool {
	for i := range w.List {
		if w.List[i].Key == key {
			return true
		}
	}
	return false
}

// Add prunes the window at h.At and records h unless its key is already
// there or the window holds max hits (the first ones stay: they are the
// evidence, and a window that full has told its story). It reports whether
// h was recorded.
func (w *HitWindow) Add(h Hit, window int64, max int) bool {
	w.Prune(h.At, window)
	if len(w.List) >= max || w.Has(h.Key) {
		return false
	}
	w.List = append(w.List, h)
	return true
}

// Span returns the event times of the first and last hits (0, 0 when empty).
func (w *HitWindow) Span() (first, last int64) {
	if len(w.List) == 0 {
		return 0, 0
	}
	first, last = w.List[0].At, w.List[0].At
	for _, h := range w.List[1:] {
		first, last = min(first, h.At), max(last, h.At)
	}
	return first, last
}

// Names returns the names of the first hits, at most max.
func (w *HitWindow) Names(max int) []string {
	out := make([]string, 0, min(len(w.List), max))
	for _, h := range w.List[:min(len(w.List), max)] {
		out = append(out, h.Name)
	}
	return out
}

// Refs returns the events of the first hits, first first, each event once
// (a list call shows many vehicles in one event), at most max.
func (w *HitWindow) Refs(max int) []event.Ref {
	out := make([]event.Ref, 0, min(len(w.List), max))
	for _, h := range w.List {
		if len(out) == max {
			break
		}
		if n := len(out); n > 0 && out[n-1] == h.Ref {
			continue
		}
		out = append(out, h.Ref)
	}
	return out
}

// LinkChange is what account.change said last about one vehicle.
type LinkChange struct {
	Vehicle string
	Linked  bool
}

// LinkSet is what an account's account.change events said about the
// vehicles it may use: links learned from the stream, on top of (and
// overriding) the directory. Most recent last, bounded.
type LinkSet struct {
	List []LinkChange
}

// MaxLinks bounds the links an account remembers: a fleet's worth.
const MaxLinks = 1024

// Lookup returns what the set says about vehicle: linked, and whether it
// says anything at all.
func (s *LinkSet) Lookup(vehicle string) (linked, known bool) {
	if s == nil {
		return false, false
	}
	for i := len(s.List) - 1; i >= 0; i-- {
		if s.List[i].Vehicle == vehicle {
			return s.List[i].Linked, true
		}
	}
	return false, false
}

// Set records a link or an unlink; the oldest entry makes way beyond
// MaxLinks.
func (s *LinkSet) Set(vehicle string, linked bool) {
	for i := range s.List {
		if s.List[i].Vehicle == vehicle {
			copy(s.List[i:], s.List[i+1:])
			s.List[len(s.List)-1] = LinkChange{Vehicle: vehicle, Linked: linked}
			return
		}
	}
	if len(s.List) >= MaxLinks {
		n := copy(s.List, s.List[1:])
		s.List = s.List[:n]
	}
	s.List = append(s.List, LinkChange{Vehicle: vehicle, Linked: linked})
}

// Count returns how many vehicles the set links and unlinks.
func (s *LinkSet) Count() (linked, unlinked int) {
	if s == nil {
		return 0, 0
	}
	for _, l := range s.List {
		if l.Linked {
			linked++
		} else {
			unlinked++
		}
	}
	return linked, unlinked
}

// LearnLink folds an account.change about a vehicle into p.Links: a link
// adds the vehicle, an unlink or an ownership transfer away removes it. It
// is idempotent, so every detector that needs learned links may call it for
// the same event.
func (p *Principal) LearnLink(ac *event.AccountChange) {
	if ac.Vehicle == "" {
		return
	}
	var linked bool
	switch ac.Change {
	case event.ChangeVehicleLinked:
		linked = true
	case event.ChangeVehicleUnlinked, event.ChangeOwnershipTransfer:
	default:
		return
	}
	if p.Links == nil {
		p.Links = &LinkSet{}
	}
	p.Links.Set(ac.Vehicle, linked)
}

// LoginAttempt is one login seen from an IP address or subnet.
type LoginAttempt struct {
	At      int64
	Who     uint64 // HashID of the account, or of the user name hash when the account is unknown
	IP      string
	Account string
	Ref     event.Ref
	OK      bool // succeeded
	Unknown bool // failed for an unknown user name
}

// LoginWindow is the recent login attempts from one IP address or subnet,
// kept once one of them failed, oldest first, bounded.
type LoginWindow struct {
	List       []LoginAttempt
	LastAlert  int64 // event time of the last alert on the window
	LastHit    int64 // event time of the last alert on a success inside it
	AlertFirst int64 // event time of the first attempt of the last alert
}

// Add appends an attempt, dropping those older than a.At-window and, once
// the window holds max, the oldest quarter (so that a busy address does not
// pay for a full copy on every login).
func (w *LoginWindow) Add(a LoginAttempt, window int64, max int) {
	i := 0
	for i < len(w.List) && w.List[i].At < a.At-window {
		i++
	}
	if len(w.List)-i >= max {
		i = len(w.List) - max + 1 + max/4
	}
	if i > 0 {
		n := copy(w.List, w.List[i:])
		clear(w.List[n:])
		w.List = w.List[:n]
	}
	w.List = append(w.List, a)
}

// DeviceFailures is the recent PIN failures on one device, with the event
// time of the last alert about them.
type DeviceFailures struct {
	Fails     FailureWindow
	LastAlert int64
}
