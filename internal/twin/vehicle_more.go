package twin

import "github.com/vigil-project/vigil/internal/event"

// More is the part of a vehicle's Activity that only a few vehicles ever
// need: state changes waiting for their command, links learned from account
// changes, recent SMS nonces, findings that wait for their window to close,
// and the marks of vehicle-side checks. It
// hangs off Activity so that the twin of a parked car pays nothing for it.
type More struct {
	Pending  []PendingChange // state changes waiting for their command (cmd.orphan-state-change)
	Links    *Links          // nil until an account change names the vehicle
	Awaiting []Awaiting      // open findings, oldest first; nil when none
	Nonces   NonceRing
	// marks holds, per vehicle-side check, the event time of its last alert
	// (for cooldowns and for telling its own alerts from others'); nil
	// until the vehicle's first such alert.
	marks *[NumMarks]int64
}

// More returns v.Act.More, allocating both on first use.
func (v *Vehicle) More() *More {
	a := v.Activity()
	if a.More == nil {
		a.More = &More{}
	}
	return a.More
}

// MoreIfAny returns v.Act.More or nil, allocating nothing.
func (v *Vehicle) MoreIfAny() *More {
	if v.Act == nil {
		return nil
	}
	return v.Act.More
}

// Mark names a vehicle-side check that remembers when it last alerted.
type Mark uint8

const (
	MarkClone    Mark = iota // telemetry.cloned-device
	MarkSeq                  // telemetry.seq-regression
	MarkOdometer             // telemetry.odometer-rollback
	MarkSIM                  // telemetry.sim-swap
	MarkFuture               // telemetry.future-timestamp
	MarkIDS                  // in-vehicle IDS alerts (to tell them from other detectors' alerts)
	MarkIDSPeer              // the other alert an IDS report was last correlated with
	MarkEpisode              // the first fix left out of the twin in the current spoofing episode (see SpoofEpisode)
	NumMarks
)

// LastMark returns the event time of the last alert of check m, 0 if none.
func (v *Vehicle) LastMark(m Mark) int64 {
	if x := v.MoreIfAny(); x != nil && x.marks != nil {
		return x.marks[m]
	}
	return 0
}

// SetMark records t as the time of check m.
func (v *Vehicle) SetMark(m Mark, t int64) {
	x := v.More()
	if x.marks == nil {
		if t == 0 {
			return
		}
		x.marks = new([NumMarks]int64)
	}
	x.marks[m] = t
}

// NonceRing remembers the hashes of the last MaxNonces SMS nonces sent to
// the vehicle, so a replayed one is recognised.
type NonceRing struct {
	h    [MaxNonces]uint64
	next uint8
	n    uint8
}

// MaxNonces is how many recent SMS nonces a vehicle remembers.
const MaxNonces = 8

// Seen reports whether the nonce hash h is among the remembered ones.
func (r *NonceRing) Seen(h uint64) bool {
	for i := range int(r.n) {
		if r.h[i] == h {
			return true
		}
	}
	return false
}

// Add remembers h, forgetting the oldest when full.
func (r *NonceRing) Add(h uint64) {
	r.h[r.next] = h
	r.next = (r.next + 1) % MaxNonces
	if r.n < MaxNonces {
		r.n++
	}
}

// AwaitKind says which check an Awaiting entry belongs to.
type AwaitKind uint8

const (
	AwaitRequested  AwaitKind = iota + 1 // a command executed (or echoed) with no requested stage yet
	AwaitSMSCommand                      // a command SMS with no back-end command yet
	AwaitIDS                             // an IDS report waiting for other alerts on the vehicle
)

// Awaiting is a finding a detector holds until its window closes on event
// time: the detector set a timer at Deadline and decides then.
type Awaiting struct {
	Kind     AwaitKind
	At       int64 // event time of the event that opened it
	Deadline int64
	ID       uint64 // what closes it, e.g. the hash of a command id
	Ref      event.Ref
	Who      string // the other party named in the explanation: an account, an originator, an ECU
	What     string // what happened, e.g. a command or an IDS event id
}

// MaxAwaitingPerKind bounds the open findings of one kind on one vehicle.
const MaxAwaitingPerKind = 4

// Await opens a finding. When the vehicle already holds MaxAwaitingPerKind
// of that kind, the oldest of them is removed and returned (full true) for
// the caller to decide at once rather than drop it.
func (m *More) Await(a Awaiting) (oldest Awaiting, full bool) {
	n, first := 0, -1
	for i := range m.Awaiting {
		if m.Awaiting[i].Kind == a.Kind {
			if first < 0 {
				first = i
			}
			n++
		}
	}
	if n >= MaxAwaitingPerKind {
		oldest, full = m.Awaiting[first], true
		m.Awaiting = append(m.Awaiting[:first], m.Awaiting[first+1:]...)
	}
	m.Awaiting = append(m.Awaiting, a)
	return oldest, full
}

// Has reports whether a finding of kind k with id is open.
func (m *More) Has(k AwaitKind, id uint64) bool {
	for i := range m.Awaiting {
		if m.Awaiting[i].Kind == k && m.Awaiting[i].ID == id {
			return true
		}
	}
	return false
}

// Resolve closes the findings of kind k for which match reports true and
// returns how many it closed.
func (m *More) Resolve(k AwaitKind, match func(*Awaiting) bool) int {
	return m.filter(k, func(a *Awaiting) bool { return !match(a) })
}

// Due closes the findings of kind k whose deadline is at or before deadline,
// calling decide for each, oldest first.
func (m *More) Due(k AwaitKind, deadline int64, decide func(Awaiting)) {
	var due []Awaiting
	m.filter(k, func(a *Awaiting) bool {
		if a.Deadline <= deadline {
			due = append(due, *a)
			return false
		}
		return true
	})
	for _, a := range due {
		decide(a)
	}
}

// filter keeps the findings of kind k for which keep reports true (and every
// finding of another kind) and returns how many it removed.
func (m *More) filter(k AwaitKind, keep func(*Awaiting) bool) int {
	kept := m.Awaiting[:0]
	for i := range m.Awaiting {
		if m.Awaiting[i].Kind != k || keep(&m.Awaiting[i]) {
			kept = append(kept, m.Awaiting[i])
		}
	}
	removed := len(m.Awaiting) - len(kept)
	clear(m.Awaiting[len(kept):])
	if len(kept) == 0 {
		kept = nil
	}
	m.Awaiting = kept
	return removed
}
