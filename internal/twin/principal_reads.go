package twin

import "github.com/vigil-project/vigil/internal/event"

// ReadState is what the data-exfiltration detector keeps about a caller of
// the back-end's APIs (an account, an API client or an IP address). The
// windows are allocated when the caller first does what they count.
type ReadState struct {
	Unlinked *HitWindow    // distinct vehicles read that the caller is not entitled to
	Lookups  *LookupWindow // single-vehicle lookups of vehicles it is not entitled to
	IPs      *HitWindow    // distinct addresses, once a second one showed up
	LastIP   string        // the address of the last request, and its time
	LastAt   int64
	// Vehicle is the vehicle of the last single-vehicle request, and
	// Entitled whether the caller may read it (callers mostly read the same
	// vehicle again); cleared when the caller's links change.
	Vehicle  string
	Entitled bool
	Volume   ReadVolume
	// IP keys: the HashID of the account or client behind the last request
	// (0 for none), whether there was one, and whether the address served
	// more than one caller.
	Caller     uint64
	CallerSeen bool
	Callers    bool
	LastAlert  [4]int64 // event time of the last alert, per rule
}

// Lookup is one request for a single vehicle.
type Lookup struct {
	At       int64
	Line     uint64 // HashID of the identifier's first 11 characters (a VIN's production line)
	VIN      uint64 // HashID of the identifier
	Serial   int32  // the last six characters as a number; -1 when they are not digits
	NotFound bool   // answered 404
	Seq      bool   // a serial close to that of an earlier lookup on the same line
	Dup      bool   // the same identifier as an earlier lookup
	Ref      event.Ref
}

// LookupWindow is the recent lookups of one caller, oldest first, bounded,
// with running counts of their flags.
type LookupWindow struct {
	List                    []Lookup
	NotFound, Seq, Distinct int
}

func (w *LookupWindow) drop(n int) {
	for _, l := range w.List[:n] {
		w.count(&l, -1)
	}
	k := copy(w.List, w.List[n:])
	clear(w.List[k:])
	w.List = w.List[:k]
}

func (w *LookupWindow) count(l *Lookup, d int) {
	if l.NotFound {
		w.NotFound += d
	}
	if l.Seq {
		w.Seq += d
	}
	if !l.Dup {
		w.Distinct += d
	}
}

// Add flags l against the lookups in the window (gap is how close two
// serials of a line must be to count as sequential), drops the lookups older
// than l.At-window and the oldest beyond max, and appends l.
func (w *LookupWindow) Add(l Lookup, window int64, max int, gap int32) {
	i := 0
	for i < len(w.List) && w.List[i].At < l.At-window {
		i++
	}
	if len(w.List)-i >= max {
		i = len(w.List) - max + 1
	}
	if i > 0 {
		w.drop(i)
	}
	for j := range w.List {
		o := &w.List[j]
		if o.VIN == l.VIN {
			l.Dup = true
		} else if o.Line == l.Line && l.Serial >= 0 && o.Serial >= 0 && l.Serial-o.Serial <= gap && o.Serial-l.Serial <= gap {
			l.Seq = true
		}
	}
	l.Seq = l.Seq && !l.Dup // asking again is not walking on
	w.count(&l, 1)
	w.List = append(w.List, l)
}

// ReadVolume learns how much personal data a caller reads in an hour, per
// feature (location records, other personal-data records), as an
// exponentially weighted mean over the clock hours it read anything, and
// counts the last hour in six ten-minute slots.
type ReadVolume struct {
	Hour  int64     // start of the current clock hour
	Cur   [2]uint32 // records read in the current clock hour, for learning
	Base  [2]float32
	Hours uint16 // active hours folded into Base

	Slot  int64 // start of the newest ten-minute slot
	Slots [VolumeSlots][2]uint32
	// Evidence is the reads since the volume went beyond the baseline,
	// bounded, and Since the event time of the first of them; Told is the
	// volume last alerted on in that stretch.
	Evidence []event.Ref
	Since    int64
	Told     float32
}

// VolumeSlots is the number of ten-minute slots of ReadVolume: an hour.
const VolumeSlots = 6

const slotNs = int64(10 * 60 * 1e9)

// Count adds n records of feature f at event time t (not before the newest
// slot's start: a late read counts in the newest slot) and returns the
// records of f in the last hour.
func (v *ReadVolume) Count(t int64, f, n int) float64 {
	slot := t - t%slotNs
	if v.Slot == 0 {
		v.Slot = slot
	}
	if slot > v.Slot {
		steps := (slot - v.Slot) / slotNs
		for k := int64(1); k <= min(steps, VolumeSlots); k++ {
			v.Slots[(v.Slot/slotNs+k)%VolumeSlots] = [2]uint32{}
		}
		v.Slot = slot
	}
	cur := &v.Slots[(v.Slot/slotNs)%VolumeSlots][f]
	*cur = uint32(min(int(*cur)+n, 1<<32-1))
	return v.Last(f)
}

// Last returns the records of feature f in the last hour.
func (v *ReadVolume) Last(f int) float64 {
	s := 0.0
	for i := range v.Slots {
		s += float64(v.Slots[i][f])
	}
	return s
}

// PrivReads is what the privileged-misuse detector keeps about a dealer
// or staff account.
type PrivReads struct {
	Outside   HitWindow // dealers: distinct vehicles read outside their inventory
	Located   HitWindow // staff: distinct vehicles whose location was read
	Night     HitWindow // staff: distinct vehicles read out of office hours
	LastAlert [3]int64  // per rule
}
