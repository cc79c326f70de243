package twin

import (
	"math"

	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/snapshot"
)

// Snapshots of the keyed state, field by field (see internal/snapshot).
// Times are written as varints; inside one entry most are deltas from the
// entry's newest time, which keeps them to a byte or two. Optional parts
// are announced by a bit mask, so a parked vehicle or an IP seen once costs
// a few bytes beyond its key. A field added to Vehicle or Principal must be
// added here, and the engine's format version raised (TestSnapshotSchema
// fails until it is).

// AppendTable writes the table: its slots as they are (live entries in slot
// order, then the free list), so a restored table hands out the same slots
// and timers that name a slot stay valid.
func AppendTable[T any](w *snapshot.Writer, t *Table[T], put func(*snapshot.Writer, *T)) {
	keys := make([]string, t.used)
	live := make([]bool, t.used)
	for k, i := range t.index {
		keys[i], live[i] = k, true
	}
	w.Uvarint(uint64(t.used))
	w.Uvarint(uint64(len(t.free)))
	for _, i := range t.free {
		w.Uvarint(uint64(i))
	}
	for i := range t.used {
		if live[i] {
			w.Str(keys[i])
			put(w, t.At(i))
		}
	}
}

// LoadTable reads a table written by AppendTable; nil when r failed.
// Memory follows what the input holds: a chunk is allocated for the live
// entries read (a chunk that holds none is allocated when Get hands out one
// of its slots), so a count of slots, free or not, costs a few bytes each.
func LoadTable[T any](r *snapshot.Reader, get func(*snapshot.Reader, *T)) *Table[T] {
	used := r.Count(1)
	nfree := r.Count(1)
	if r.Failed() {
		return nil
	}
	if nfree > used || used > math.MaxUint32 {
		r.Fail("table: %d free slots of %d (at most %d)", nfree, used, uint32(math.MaxUint32))
		return nil
	}
	free := make([]bool, used)
	t := &Table[T]{used: uint32(used), free: make([]uint32, 0, nfree)}
	for range nfree {
		i := r.Uvarint()
		if r.Failed() {
			return nil
		}
		if i >= uint64(used) || free[i] {
			r.Fail("table: free slot %d repeated or beyond the %d used", i, used)
			return nil
		}
		free[i] = true
		t.free = append(t.free, uint32(i))
	}
	// Each live entry takes a byte at least (its key's length).
	live := used - nfree
	if live > r.Left() {
		r.Fail("table: %d live entries of %d slots do not fit in the %d bytes left", live, used, r.Left())
		return nil
	}
	// The size hint trusts the count only as far as entries of 4 bytes (a
	// key and a twin take more) could back it: a map slot costs ~40 bytes.
	t.index = make(map[string]uint32, min(live, r.Left()/4))
	if used > 0 {
		last, _ := chunkOf(uint32(used - 1))
		t.chunks = make([][]T, last+1)
	}
	for i := range uint32(used) {
		if free[i] {
			continue
		}
		k := r.Str()
		if _, dup := t.index[k]; dup {
			r.Fail("table: key %q twice", k)
		}
		if r.Failed() {
			return nil
		}
		if c, _ := chunkOf(i); t.chunks[c] == nil {
			t.chunks[c] = make([]T, chunkLen(c))
		}
		t.index[k] = i
		get(r, t.At(i))
	}
	if r.Failed() {
		return nil
	}
	return t
}

func putRef(w *snapshot.Writer, ref event.Ref) {
	w.Sym(ref.Source)
	w.Str(ref.ID)
}

func getRef(r *snapshot.Reader) event.Ref { return event.Ref{Source: r.Sym(), ID: r.Str()} }

func putRefs(w *snapshot.Writer, refs []event.Ref) {
	w.Uvarint(uint64(len(refs)))
	for _, ref := range refs {
		putRef(w, ref)
	}
}

func getRefs(r *snapshot.Reader) []event.Ref {
	n := r.Count(2)
	if n == 0 {
		return nil
	}
	out := make([]event.Ref, n)
	for i := range out {
		out[i] = getRef(r)
	}
	return out
}

// since writes t as its distance back from base (0 stays 0 apart from the
// mask bit its caller keeps, so base-t is exact either way).
func since(w *snapshot.Writer, base, t int64) { w.Varint(base - t) }

func getSince(r *snapshot.Reader, base int64) int64 { return base - r.Varint() }

// bitmask helpers.
type mask uint64

func (m *mask) set(bit uint, on bool) {
	if on {
		*m |= 1 << bit
	}
}

func (m mask) has(bit uint) bool { return m&(1<<bit) != 0 }

func getMask(r *snapshot.Reader, bits uint) mask {
	m := mask(r.Uvarint())
	if m>>bits != 0 {
		r.Fail("unknown parts %#x in a mask of %d bits", uint64(m), bits)
	}
	return m
}

// named reads an enumeration of the event contract: 0 (unset) or a value
// with a name.
func named[E interface {
	~uint8
	String() string
}](r *snapshot.Reader, what string) E {
	v := E(r.Uint8())
	if v != 0 && v.String() == "" {
		r.Fail("%s %d is not one of the contract", what, uint8(v))
	}
	return v
}

func getEnum[E ~uint8](r *snapshot.Reader, what string, n E) E {
	v := E(r.Uint8())
	if v >= n {
		r.Fail("%s %d is not one of the %d known", what, v, n)
	}
	return v
}

// Vehicle mask bits.
const (
	vFix = iota
	vSeq
	vOdometer
	vSpoof
	vAlert
	vState
	vFirmware
	vIMEI
	vICCID
	vAct
	vBits
)

// AppendVehicle writes one twin.
func AppendVehicle(w *snapshot.Writer, v *Vehicle) {
	var m mask
	m.set(vFix, v.FixTime != 0 || v.Lat != 0 || v.Lon != 0 || v.FixRef != (event.Ref{}) || v.Speed != 0)
	m.set(vSeq, v.Seq != 0)
	m.set(vOdometer, v.Odometer != 0)
	m.set(vSpoof, v.LastSpoofAlert != 0)
	m.set(vAlert, v.LastAlert != 0)
	m.set(vState, v.Lock != 0 || v.Ignition != 0 || v.flags != 0 || v.CellMisses != 0)
	m.set(vFirmware, v.Firmware != "")
	m.set(vIMEI, v.IMEI != "")
	m.set(vICCID, v.ICCID != "")
	m.set(vAct, v.Act != nil)
	w.Uvarint(uint64(m))
	w.Varint(v.LastEvent)
	if m.has(vFix) {
		w.Float64(v.Lat)
		w.Float64(v.Lon)
		since(w, v.LastEvent, v.FixTime)
		putRef(w, v.FixRef)
		w.Float32(v.Speed)
	}
	if m.has(vSeq) {
		w.Uvarint(v.Seq)
	}
	if m.has(vOdometer) {
		w.Float64(v.Odometer)
	}
	if m.has(vSpoof) {
		since(w, v.LastEvent, v.LastSpoofAlert)
	}
	if m.has(vAlert) {
		since(w, v.LastEvent, v.LastAlert)
	}
	if m.has(vState) {
		w.Uint8(uint8(v.Lock))
		w.Uint8(uint8(v.Ignition))
		w.Uint8(v.flags)
		w.Uint8(v.CellMisses)
	}
	if m.has(vFirmware) {
		w.Sym(v.Firmware)
	}
	if m.has(vIMEI) {
		w.Str(v.IMEI)
	}
	if m.has(vICCID) {
		w.Str(v.ICCID)
	}
	if m.has(vAct) {
		appendActivity(w, v.Act, v.LastEvent)
	}
}

// LoadVehicle reads one twin into the zero v.
func LoadVehicle(r *snapshot.Reader, v *Vehicle) {
	m := getMask(r, vBits)
	v.LastEvent = r.Varint()
	if m.has(vFix) {
		v.Lat, v.Lon = r.Float64(), r.Float64()
		v.FixTime = getSince(r, v.LastEvent)
		v.FixRef = getRef(r)
		v.Speed = r.Float32()
	}
	if m.has(vSeq) {
		v.Seq = r.Uvarint()
	}
	if m.has(vOdometer) {
		v.Odometer = r.Float64()
	}
	if m.has(vSpoof) {
		v.LastSpoofAlert = getSince(r, v.LastEvent)
	}
	if m.has(vAlert) {
		v.LastAlert = getSince(r, v.LastEvent)
	}
	if m.has(vState) {
		v.Lock = getEnum(r, "lock state", Unlocked+1)
		v.Ignition = getEnum(r, "ignition state", IgnitionOn+1)
		v.flags = r.Uint8()
		if v.flags&^(hasSeq|hasOdometer) != 0 {
			r.Fail("unknown vehicle flags %#x", v.flags)
		}
		v.CellMisses = r.Uint8()
	}
	if m.has(vFirmware) {
		v.Firmware = r.Sym()
	}
	if m.has(vIMEI) {
		v.IMEI = r.Str()
	}
	if m.has(vICCID) {
		v.ICCID = r.Str()
	}
	if m.has(vAct) {
		v.Act = loadActivity(r, v.LastEvent)
	}
}

func appendActivity(w *snapshot.Writer, a *Activity, base int64) {
	w.Uvarint(uint64(len(a.ECUs)))
	for _, e := range a.ECUs {
		w.Sym(e.ECU)
		w.Sym(e.Version)
	}
	w.Uvarint(uint64(len(a.Commands)))
	for _, c := range a.Commands {
		w.Uint64(c.IDHash)
		since(w, base, c.At)
		since(w, base, c.Last)
		w.Uint8(uint8(c.Kind))
		w.Uint8(c.Stages)
	}
	w.Uvarint(uint64(len(a.Principals)))
	for _, p := range a.Principals {
		w.Sym(p)
	}
	w.Bool(a.More != nil)
	if a.More != nil {
		appendMore(w, a.More, base)
	}
}

// bounded reads a count of items of at least size bytes and fails beyond
// limit: the twin's lists stay within the bounds the code keeps them to.
func bounded(r *snapshot.Reader, what string, size, limit int) int {
	n := r.Count(size)
	if n > limit {
		r.Fail("%d %s, more than the limit of %d", n, what, limit)
		return 0
	}
	return n
}

func loadActivity(r *snapshot.Reader, base int64) *Activity {
	a := &Activity{}
	if n := bounded(r, "ECU versions", 2, MaxECUs); n > 0 {
		a.ECUs = make([]ECUVersion, n)
		for i := range a.ECUs {
			a.ECUs[i] = ECUVersion{ECU: r.Sym(), Version: r.Sym()}
		}
	}
	if n := bounded(r, "command transactions", 12, MaxCommands); n > 0 {
		a.Commands = make([]CommandTx, n)
		for i := range a.Commands {
			c := &a.Commands[i]
			c.IDHash = r.Uint64()
			c.At, c.Last = getSince(r, base), getSince(r, base)
			c.Kind = named[event.CommandKind](r, "command")
			c.Stages = r.Uint8()
		}
	}
	if n := bounded(r, "principals", 1, MaxPrincipals); n > 0 {
		a.Principals = make([]string, n)
		for i := range a.Principals {
			a.Principals[i] = r.Sym()
		}
	}
	if r.Bool() {
		a.More = loadMore(r, base)
	}
	return a
}

func appendMore(w *snapshot.Writer, m *More, base int64) {
	w.Uvarint(uint64(len(m.Pending)))
	for _, p := range m.Pending {
		w.Uint8(uint8(p.Name))
		since(w, base, p.At)
		since(w, base, p.Deadline)
		w.Uint64(p.CommandID)
		putRef(w, p.Ref)
	}
	w.Bool(m.Links != nil)
	if l := m.Links; l != nil {
		w.Uvarint(uint64(len(l.List)))
		for _, e := range l.List {
			w.Sym(e.Account)
			since(w, base, e.At)
			w.Uint8(uint8(e.By))
			w.Bool(e.Linked)
			putRef(w, e.Ref)
		}
		w.Varint(l.Transfer.At)
		w.Sym(l.Transfer.To)
		putRef(w, l.Transfer.Ref)
	}
	w.Uvarint(uint64(len(m.Awaiting)))
	for _, a := range m.Awaiting {
		w.Uint8(uint8(a.Kind))
		since(w, base, a.At)
		since(w, base, a.Deadline)
		w.Uint64(a.ID)
		putRef(w, a.Ref)
		w.Sym(a.Who)
		w.Sym(a.What)
	}
	w.Uint8(m.Nonces.n)
	w.Uint8(m.Nonces.next)
	for _, h := range m.Nonces.h[:m.Nonces.n] {
		w.Uint64(h)
	}
	w.Bool(m.marks != nil)
	if m.marks != nil {
		for _, t := range m.marks {
			w.Varint(t)
		}
	}
}

func loadMore(r *snapshot.Reader, base int64) *More {
	m := &More{}
	if n := bounded(r, "pending state changes", 12, MaxPending); n > 0 {
		m.Pending = make([]PendingChange, n)
		for i := range m.Pending {
			p := &m.Pending[i]
			p.Name = named[event.VehicleEventName](r, "vehicle event")
			p.At, p.Deadline = getSince(r, base), getSince(r, base)
			p.CommandID = r.Uint64()
			p.Ref = getRef(r)
		}
	}
	if r.Bool() {
		l := &Links{}
		if n := bounded(r, "vehicle links", 5, MaxVehicleLinks); n > 0 {
			l.List = make([]Link, n)
			for i := range l.List {
				e := &l.List[i]
				e.Account = r.Sym()
				e.At = getSince(r, base)
				e.By = named[event.ChangeKind](r, "account change")
				e.Linked = r.Bool()
				e.Ref = getRef(r)
			}
		}
		l.Transfer.At = r.Varint()
		l.Transfer.To = r.Sym()
		l.Transfer.Ref = getRef(r)
		m.Links = l
	}
	if n := bounded(r, "open findings", 14, 3*MaxAwaitingPerKind); n > 0 {
		m.Awaiting = make([]Awaiting, n)
		for i := range m.Awaiting {
			a := &m.Awaiting[i]
			a.Kind = AwaitKind(r.Uint8())
			if a.Kind < AwaitRequested || a.Kind > AwaitIDS {
				r.Fail("open finding of unknown kind %d", a.Kind)
			}
			a.At, a.Deadline = getSince(r, base), getSince(r, base)
			a.ID = r.Uint64()
			a.Ref = getRef(r)
			a.Who, a.What = r.Sym(), r.Sym()
		}
	}
	m.Nonces.n, m.Nonces.next = r.Uint8(), r.Uint8()
	if m.Nonces.n > MaxNonces || m.Nonces.next >= MaxNonces {
		r.Fail("nonce ring of %d entries at %d (%d at most)", m.Nonces.n, m.Nonces.next, MaxNonces)
		return m
	}
	for i := range m.Nonces.n {
		m.Nonces.h[i] = r.Uint64()
	}
	if r.Bool() {
		m.marks = new([NumMarks]int64)
		for i := range m.marks {
			m.marks[i] = r.Varint()
		}
	}
	return m
}
