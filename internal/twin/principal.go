package twin

import "github.com/vigil-project/vigil/internal/event"

// Principal is the state of one account, IP address, subnet, API client,
// device or tenant. Every part a detector needs beyond the first four fields
// sits behind its own pointer, nil until that detector needs it: most
// principals never fail a login, change their account or read anything in
// bulk, so a principal costs its table slot and nothing more.
type Principal struct {
	FirstSeen, LastSeen int64
	// Failures is the recent login failures, allocated on the first one:
	// most principals never fail.
	Failures  *FailureWindow
	LastAlert int64 // event time of the last credential alert

	Links    *LinkSet        // accounts: vehicles linked or unlinked by account.change
	Logins   *LoginWindow    // IPs and subnets: recent login attempts, once one failed
	PIN      *DeviceFailures // devices: PIN failures (PIN guessing)
	Phone    *DeviceFailures // devices: PIN failures before a command (stolen phone)
	Takeover *TakeoverTrail  // accounts: a recent contact or credential change, a new device or key
	Devices  *KnownDevices   // accounts: the devices it logs in from
	Spread   *Spread         // accounts, clients: vehicles commanded outside entitlement
	Reads    *ReadState      // accounts, clients, IPs: API reads
	Priv     *PrivReads      // accounts of dealers and staff: their reads
	Health   *TenantHealth   // tenants: minute statistics

	// Timers counts the engine timers waiting on this key (set by the
	// engine): a key with timers is kept even when it holds nothing else.
	Timers uint32
}

// Empty reports whether the principal holds nothing a detector needs: the
// engine then drops it, so a million principals seen once cost nothing.
func (p *Principal) Empty() bool {
	return p.Timers == 0 && p.LastAlert == 0 && p.Failures == nil && p.Links == nil && p.Logins == nil &&
		p.PIN == nil && p.Phone == nil && p.Takeover == nil && p.Devices == nil && p.Spread == nil &&
		p.Reads == nil && p.Priv == nil && p.Health == nil
}

// Touch records activity at event time t.
func (p *Principal) Touch(t int64) {
	if p.FirstSeen == 0 || t < p.FirstSeen {
		p.FirstSeen = t
	}
	if t > p.LastSeen {
		p.LastSeen = t
	}
}

// Failure is one failed login remembered as evidence.
type Failure struct {
	At    int64
	Ref   event.Ref
	Other string // the other side: the IP for an account, the account tried for an IP
}

// FailureWindow keeps the failures of the last window, oldest first, bounded.
type FailureWindow struct {
	List []Failure
}

// Add appends a failure and drops those older than t-window and any beyond
// max (the oldest go first).
func (w *FailureWindow) Add(f Failure, window int64, max int) {
	w.Prune(f.At, window)
	if len(w.List) >= max {
		n := copy(w.List, w.List[len(w.List)-max+1:])
		w.List = w.List[:n]
	}
	w.List = append(w.List, f)
}

// Prune drops failures older than now-window.
func (w *FailureWindow) Prune(now, window int64) {
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

// Distinct counts the distinct Other values in the window.
func (w *FailureWindow) Distinct() int {
	n := 0
	for i, f := range w.List {
		seen := false
		for _, g := range w.List[:i] {
			if g.Other == f.Other {
				seen = true
				break
			}
		}
		if !seen {
			n++
		}
	}
	return n
}
