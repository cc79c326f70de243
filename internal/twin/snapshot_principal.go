package twin

import (
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/snapshot"
)

// Principal mask bits.
const (
	pFailures = iota
	pAlert
	pLinks
	pLogins
	pPIN
	pPhone
	pTakeover
	pDevices
	pSpread
	pReads
	pPriv
	pHealth
	pTimers
	pBits
)

// AppendPrincipal writes one principal's state.
func AppendPrincipal(w *snapshot.Writer, p *Principal) {
	var m mask
	m.set(pFailures, p.Failures != nil)
	m.set(pAlert, p.LastAlert != 0)
	m.set(pLinks, p.Links != nil)
	m.set(pLogins, p.Logins != nil)
	m.set(pPIN, p.PIN != nil)
	m.set(pPhone, p.Phone != nil)
	m.set(pTakeover, p.Takeover != nil)
	m.set(pDevices, p.Devices != nil)
	m.set(pSpread, p.Spread != nil)
	m.set(pReads, p.Reads != nil)
	m.set(pPriv, p.Priv != nil)
	m.set(pHealth, p.Health != nil)
	m.set(pTimers, p.Timers != 0)
	w.Uvarint(uint64(m))
	base := p.LastSeen
	w.Varint(base)
	since(w, base, p.FirstSeen)
	if m.has(pFailures) {
		putFailures(w, p.Failures, base)
	}
	if m.has(pAlert) {
		since(w, base, p.LastAlert)
	}
	if m.has(pLinks) {
		w.Uvarint(uint64(len(p.Links.List)))
		for _, l := range p.Links.List {
			w.Sym(l.Vehicle)
			w.Bool(l.Linked)
		}
	}
	if m.has(pLogins) {
		l := p.Logins
		w.Uvarint(uint64(len(l.List)))
		for _, a := range l.List {
			since(w, base, a.At)
			w.Uint64(a.Who)
			w.Sym(a.IP)
			w.Sym(a.Account)
			putRef(w, a.Ref)
			w.Uint8(flags(a.OK, a.Unknown))
		}
		w.Varint(l.LastAlert)
		w.Varint(l.LastHit)
		w.Varint(l.AlertFirst)
	}
	for _, d := range []*DeviceFailures{p.PIN, p.Phone} {
		if d != nil {
			putFailures(w, &d.Fails, base)
			w.Varint(d.LastAlert)
		}
	}
	if t := p.Takeover; t != nil {
		w.Uint8(uint8(t.Change))
		w.Uint8(uint8(t.Confirmed))
		w.Varint(t.ChangeAt)
		putRef(w, t.ChangeRef)
		w.Sym(t.ChangeIP)
		w.Uint8(uint8(t.Added))
		w.Varint(t.AddedAt)
		putRef(w, t.AddedRef)
		w.Sym(t.AddedDevice)
		w.Varint(t.LastAlert)
	}
	if d := p.Devices; d != nil {
		w.Uint8(d.N)
		for _, h := range d.H[:d.N] {
			w.Uvarint(uint64(h))
		}
		w.Bool(d.Pending != nil)
		if n := d.Pending; n != nil {
			w.Varint(n.At)
			w.Sym(n.Device)
			w.Sym(n.IP)
			putRef(w, n.Ref)
		}
	}
	if s := p.Spread; s != nil {
		putHits(w, &s.Vehicles, base)
		w.Uvarint(uint64(s.Kinds))
		w.Varint(s.LastAlert)
	}
	if p.Reads != nil {
		putReads(w, p.Reads, base)
	}
	if q := p.Priv; q != nil {
		putHits(w, &q.Outside, base)
		putHits(w, &q.Located, base)
		putHits(w, &q.Night, base)
		for _, t := range q.LastAlert {
			w.Varint(t)
		}
	}
	if p.Health != nil {
		putHealth(w, p.Health)
	}
	if m.has(pTimers) {
		w.Uvarint(uint64(p.Timers))
	}
}

// LoadPrincipal reads one principal's state into the zero p.
func LoadPrincipal(r *snapshot.Reader, p *Principal) {
	m := getMask(r, pBits)
	base := r.Varint()
	p.LastSeen, p.FirstSeen = base, getSince(r, base)
	if m.has(pFailures) {
		p.Failures = &FailureWindow{}
		getFailures(r, p.Failures, base)
	}
	if m.has(pAlert) {
		p.LastAlert = getSince(r, base)
	}
	if m.has(pLinks) {
		p.Links = &LinkSet{}
		if n := bounded(r, "account links", 2, MaxLinks); n > 0 {
			p.Links.List = make([]LinkChange, n)
			for i := range p.Links.List {
				p.Links.List[i] = LinkChange{Vehicle: r.Sym(), Linked: r.Bool()}
			}
		}
	}
	if m.has(pLogins) {
		l := &LoginWindow{}
		if n := r.Count(14); n > 0 {
			l.List = make([]LoginAttempt, n)
			for i := range l.List {
				a := &l.List[i]
				a.At = getSince(r, base)
				a.Who = r.Uint64()
				a.IP, a.Account = r.Sym(), r.Sym()
				a.Ref = getRef(r)
				a.OK, a.Unknown = getFlags(r)
			}
		}
		l.LastAlert, l.LastHit, l.AlertFirst = r.Varint(), r.Varint(), r.Varint()
		p.Logins = l
	}
	if m.has(pPIN) {
		p.PIN = getDeviceFailures(r, base)
	}
	if m.has(pPhone) {
		p.Phone = getDeviceFailures(r, base)
	}
	if m.has(pTakeover) {
		t := &TakeoverTrail{}
		t.Change = named[event.ChangeKind](r, "account change")
		t.Confirmed = getEnum(r, "confirmation", event.Tri(3))
		t.ChangeAt = r.Varint()
		t.ChangeRef = getRef(r)
		t.ChangeIP = r.Sym()
		t.Added = named[event.ChangeKind](r, "account change")
		t.AddedAt = r.Varint()
		t.AddedRef = getRef(r)
		t.AddedDevice = r.Sym()
		t.LastAlert = r.Varint()
		p.Takeover = t
	}
	if m.has(pDevices) {
		d := &KnownDevices{N: r.Uint8()}
		if int(d.N) > len(d.H) {
			r.Fail("%d known devices, %d at most", d.N, len(d.H))
			return
		}
		for i := range d.N {
			h := r.Uvarint()
			if h > 1<<32-1 {
				r.Fail("device hash %#x is over 32 bits", h)
			}
			d.H[i] = uint32(h)
		}
		if r.Bool() {
			d.Pending = &NewDeviceLogin{At: r.Varint(), Device: r.Sym(), IP: r.Sym(), Ref: getRef(r)}
		}
		p.Devices = d
	}
	if m.has(pSpread) {
		s := &Spread{}
		getHits(r, &s.Vehicles, base)
		k := r.Uvarint()
		if k > 1<<32-1 {
			r.Fail("command kinds %#x over 32 bits", k)
		}
		s.Kinds = uint32(k)
		s.LastAlert = r.Varint()
		p.Spread = s
	}
	if m.has(pReads) {
		p.Reads = getReads(r, base)
	}
	if m.has(pPriv) {
		q := &PrivReads{}
		getHits(r, &q.Outside, base)
		getHits(r, &q.Located, base)
		getHits(r, &q.Night, base)
		for i := range q.LastAlert {
			q.LastAlert[i] = r.Varint()
		}
		p.Priv = q
	}
	if m.has(pHealth) {
		p.Health = getHealth(r)
	}
	if m.has(pTimers) {
		n := r.Uvarint()
		if n > 1<<32-1 {
			r.Fail("%d timers", n)
		}
		p.Timers = uint32(n)
	}
}

func flags(bits ...bool) uint8 {
	var f uint8
	for i, b := range bits {
		if b {
			f |= 1 << i
		}
	}
	return f
}

func getFlags(r *snapshot.Reader) (bool, bool) {
	f := r.Uint8()
	if f > 3 {
		r.Fail("unknown flags %#x", f)
	}
	return f&1 != 0, f&2 != 0
}

func getDeviceFailures(r *snapshot.Reader, base int64) *DeviceFailures {
	d := &DeviceFailures{}
	getFailures(r, &d.Fails, base)
	d.LastAlert = r.Varint()
	return d
}

func putFailures(w *snapshot.Writer, f *FailureWindow, base int64) {
	w.Uvarint(uint64(len(f.List)))
	for _, x := range f.List {
		since(w, base, x.At)
		putRef(w, x.Ref)
		w.Sym(x.Other)
	}
}

func getFailures(r *snapshot.Reader, f *FailureWindow, base int64) {
	if n := r.Count(4); n > 0 {
		f.List = make([]Failure, n)
		for i := range f.List {
			f.List[i] = Failure{At: getSince(r, base), Ref: getRef(r), Other: r.Sym()}
		}
	}
}

func putHits(w *snapshot.Writer, h *HitWindow, base int64) {
	w.Uvarint(uint64(len(h.List)))
	for _, x := range h.List {
		since(w, base, x.At)
		w.Uint64(x.Key)
		w.Sym(x.Name)
		putRef(w, x.Ref)
	}
}

func getHits(r *snapshot.Reader, h *HitWindow, base int64) {
	if n := r.Count(12); n > 0 {
		h.List = make([]Hit, n)
		for i := range h.List {
			h.List[i] = Hit{At: getSince(r, base), Key: r.Uint64(), Name: r.Sym(), Ref: getRef(r)}
		}
	}
}

func putReads(w *snapshot.Writer, s *ReadState, base int64) {
	w.Uint8(flags(s.Unlinked != nil, s.Lookups != nil, s.IPs != nil, s.Entitled, s.CallerSeen, s.Callers))
	if s.Unlinked != nil {
		putHits(w, s.Unlinked, base)
	}
	if l := s.Lookups; l != nil {
		w.Uvarint(uint64(len(l.List)))
		for _, x := range l.List {
			since(w, base, x.At)
			w.Uint64(x.Line)
			w.Uint64(x.VIN)
			w.Varint(int64(x.Serial))
			w.Uint8(flags(x.NotFound, x.Seq, x.Dup))
			putRef(w, x.Ref)
		}
	}
	if s.IPs != nil {
		putHits(w, s.IPs, base)
	}
	w.Sym(s.LastIP)
	since(w, base, s.LastAt)
	w.Sym(s.Vehicle)
	w.Uint64(s.Caller)
	for _, t := range s.LastAlert {
		w.Varint(t)
	}
	v := &s.Volume
	w.Varint(v.Hour)
	for i := range v.Cur {
		w.Uvarint(uint64(v.Cur[i]))
		w.Float32(v.Base[i])
	}
	w.Uvarint(uint64(v.Hours))
	w.Varint(v.Slot)
	for _, sl := range v.Slots {
		w.Uvarint(uint64(sl[0]))
		w.Uvarint(uint64(sl[1]))
	}
	putRefs(w, v.Evidence)
	w.Varint(v.Since)
	w.Float32(v.Told)
}

func getU32(r *snapshot.Reader) uint32 {
	v := r.Uvarint()
	if v > 1<<32-1 {
		r.Fail("%d is over 32 bits", v)
	}
	return uint32(v)
}

func getReads(r *snapshot.Reader, base int64) *ReadState {
	s := &ReadState{}
	f := r.Uint8()
	if f>>6 != 0 {
		r.Fail("unknown read state flags %#x", f)
	}
	s.Entitled, s.CallerSeen, s.Callers = f&8 != 0, f&16 != 0, f&32 != 0
	if f&1 != 0 {
		s.Unlinked = &HitWindow{}
		getHits(r, s.Unlinked, base)
	}
	if f&2 != 0 {
		l := &LookupWindow{}
		if n := r.Count(20); n > 0 {
			l.List = make([]Lookup, n)
			for i := range l.List {
				x := &l.List[i]
				x.At = getSince(r, base)
				x.Line, x.VIN = r.Uint64(), r.Uint64()
				serial := r.Varint()
				if serial < -1 || serial > 1<<31-1 {
					r.Fail("lookup serial %d", serial)
				}
				x.Serial = int32(serial)
				fl := r.Uint8()
				if fl > 7 {
					r.Fail("unknown lookup flags %#x", fl)
				}
				x.NotFound, x.Seq, x.Dup = fl&1 != 0, fl&2 != 0, fl&4 != 0
				x.Ref = getRef(r)
				l.count(x, 1) // the running counts follow from the flags
			}
		}
		s.Lookups = l
	}
	if f&4 != 0 {
		s.IPs = &HitWindow{}
		getHits(r, s.IPs, base)
	}
	s.LastIP = r.Sym()
	s.LastAt = getSince(r, base)
	s.Vehicle = r.Sym()
	s.Caller = r.Uint64()
	for i := range s.LastAlert {
		s.LastAlert[i] = r.Varint()
	}
	v := &s.Volume
	v.Hour = r.Varint()
	for i := range v.Cur {
		v.Cur[i] = getU32(r)
		v.Base[i] = r.Float32()
	}
	h := r.Uvarint()
	if h > 1<<16-1 {
		r.Fail("%d learned hours", h)
	}
	v.Hours = uint16(h)
	v.Slot = r.Varint()
	if v.Slot < 0 {
		r.Fail("read volume slot %d before 1970", v.Slot)
	}
	for i := range v.Slots {
		v.Slots[i] = [2]uint32{getU32(r), getU32(r)}
	}
	v.Evidence = getRefs(r)
	v.Since = r.Varint()
	v.Told = r.Float32()
	return s
}

func putHealth(w *snapshot.Writer, h *TenantHealth) {
	w.Varint(int64(h.Minutes))
	w.Varint(h.Last)
	for i := range RingMinutes {
		w.Varint(int64(h.Telemetry[i]))
		w.Varint(int64(h.Requested[i]))
		w.Varint(int64(h.Failed[i]))
		w.Bool(h.Spiky[i])
		putRef(w, h.Refs[i])
	}
	w.Varint(int64(h.Low))
	w.Varint(int64(h.High))
	w.Float64(h.Frozen)
	w.Bool(h.Down)
	w.Varint(h.DownAt)
	w.Float64(h.DownRate)
	putRefs(w, h.LowRefs)
	w.Float64(h.ReqRate)
	w.Float64(h.FailRate)
	w.Bool(h.Failing)
}

func getI32(r *snapshot.Reader) int32 {
	v := r.Varint()
	if v < -1<<31 || v > 1<<31-1 {
		r.Fail("%d is over 32 bits", v)
	}
	return int32(v)
}

func getHealth(r *snapshot.Reader) *TenantHealth {
	h := &TenantHealth{}
	h.Minutes = r.Int()
	if h.Minutes < 0 {
		r.Fail("%d minutes seen", h.Minutes)
		return h
	}
	h.Last = r.Varint()
	for i := range RingMinutes {
		h.Telemetry[i], h.Requested[i], h.Failed[i] = getI32(r), getI32(r), getI32(r)
		h.Spiky[i] = r.Bool()
		h.Refs[i] = getRef(r)
	}
	h.Low, h.High = r.Int(), r.Int()
	h.Frozen = r.Float64()
	h.Down = r.Bool()
	h.DownAt = r.Varint()
	h.DownRate = r.Float64()
	h.LowRefs = getRefs(r)
	h.ReqRate, h.FailRate = r.Float64(), r.Float64()
	h.Failing = r.Bool()
	return h
}
