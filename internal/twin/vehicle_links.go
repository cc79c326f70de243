package twin

import (
	"slices"

	"github.com/vigil-project/vigil/internal/event"
)

// Links is what account.change events taught the twin about who may use the
// vehicle: accounts linked and unlinked, and the last ownership transfer.
// Entitlements handed over by the TSP live in the directory; these are the
// changes seen since.
type Links struct {
	List     []Link // one entry per account, in the order they were first seen
	Transfer Transfer
}

// Link is the last known link state of one account to the vehicle.
type Link struct {
	Account string
	At      int64            // event time of the change
	By      event.ChangeKind // the change that set the state
	Linked  bool
	Ref     event.Ref
}

// Transfer is an ownership transfer: every account linked before it lost
// the vehicle, except the new owner.
type Transfer struct {
	At  int64 // 0: none seen
	To  string
	Ref event.Ref
}

// MaxVehicleLinks bounds the accounts a twin remembers links for; the oldest entry
// makes way.
const MaxVehicleLinks = 8

// Links returns the learned links, nil when none were seen.
func (v *Vehicle) Links() *Links {
	if m := v.MoreIfAny(); m != nil {
		return m.Links
	}
	return nil
}

// Find returns the entry of account, or nil.
func (l *Links) Find(account string) *Link {
	if l == nil {
		return nil
	}
	for i := range l.List {
		if l.List[i].Account == account {
			return &l.List[i]
		}
	}
	return nil
}

// set records a link change unless a newer one is already known for the account.
func (l *Links) set(account string, linked bool, by event.ChangeKind, at int64, ref event.Ref) {
	if e := l.Find(account); e != nil {
		if e.At > at {
			return
		}
		e.Linked, e.By, e.At, e.Ref = linked, by, at, ref
		return
	}
	if len(l.List) == MaxVehicleLinks {
		l.List = slices.Delete(l.List, l.leastNeeded(), l.leastNeeded()+1)
	}
	l.List = append(l.List, Link{Account: account, At: at, By: by, Linked: linked, Ref: ref})
}

// leastNeeded is the entry a full list forgets: the oldest link, for
// forgetting a link only ever denies; else the oldest unlink the ownership
// transfer already implies; else the oldest unlink. An unlink is what
// denies an account a stale directory still lists.
func (l *Links) leastNeeded() int {
	implied := -1
	for i := range l.List {
		e := &l.List[i]
		if e.Linked {
			return i
		}
		if implied < 0 && e.By == event.ChangeOwnershipTransfer && e.At <= l.Transfer.At {
			implied = i
		}
	}
	return max(implied, 0)
}

// applyLinkChange folds an account.change that links or unlinks the vehicle.
func (v *Vehicle) applyLinkChange(ev *event.Event) {
	c := ev.AccountChange
	switch c.Change {
	case event.ChangeVehicleLinked, event.ChangeDigitalKeyAdded, event.ChangeVehicleUnlinked, event.ChangeOwnershipTransfer:
	default:
		return
	}
	if c.Account == "" {
		return
	}
	m := v.More()
	if m.Links == nil {
		m.Links = &Links{}
	}
	l := m.Links
	ref := ev.Ref()
	switch c.Change {
	case event.ChangeVehicleLinked, event.ChangeDigitalKeyAdded:
		l.set(c.Account, true, c.Change, ev.Time, ref)
	case event.ChangeVehicleUnlinked:
		l.set(c.Account, false, c.Change, ev.Time, ref)
	case event.ChangeOwnershipTransfer:
		if ev.Time < l.Transfer.At {
			return // an older transfer than the one known
		}
		l.Transfer = Transfer{At: ev.Time, To: c.Account, Ref: ref}
		for i := range l.List {
			if e := &l.List[i]; e.Account != c.Account && e.At <= ev.Time {
				e.Linked, e.By, e.At, e.Ref = false, c.Change, ev.Time, ref
			}
		}
		l.set(c.Account, true, c.Change, ev.Time, ref)
	}
}
