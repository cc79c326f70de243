package engine

import (
	"math"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/twin"
)

// shard owns the keyed state and timers of the keys routed to it.
type shard struct {
	e       *Engine
	id      int
	in      chan []item
	tenants map[string]*tenantState
	ctx     detect.Context
	local   []any // per detector: its ShardLocal state
	dstats  []DetectorStats

	// What the detector being called is working on, for schedule.
	cur struct {
		vehicle   *twin.Vehicle   // the twin being handled, for LastAlert
		principal *twin.Principal // the principal being handled, for Timers
		ts        *tenantState
		slot      uint32
		kind      detect.Kind
		det       uint8
		key       string
	}
	seq uint64
	// moved: tenants whose frontier moved since it was last published to
	// their marks.
	moved []*tenantState
}

// tenantState is one tenant's part of a shard.
type tenantState struct {
	name       string
	mark       *tenantMark // where the shard publishes frontier for TenantWatermark
	moved      bool        // in the shard's moved list
	frontier   int64
	vehicles   *twin.Table[twin.Vehicle]
	principals [detect.NumKinds]*twin.Table[twin.Principal] // all but KindVehicle
	timers     timerHeap
	sweepAt    int64 // next hourly boundary of event time to sweep idle keys at
	since      int64 // the tenant's earliest event time as of the last item
}

const sweepEvery = int64(60 * 60 * 1e9)

// sweep drops keys idle past their TTL at the boundary b. Deciding on the
// boundary, not the exact frontier, keeps the outcome the same whatever the
// number of shards: a key is dropped before its next event exactly when it
// was idle for the TTL at the last boundary before that event.
func (s *shard) sweep(ts *tenantState, b int64) {
	n := int64(0)
	ptl, vtl := int64(s.e.opts.PrincipalTTL), int64(s.e.opts.VehicleTTL)
	for k := detect.KindAccount; k < detect.NumKinds; k++ {
		tbl := ts.principals[k]
		var gone []string
		tbl.Range(func(key string, p *twin.Principal) bool {
			if p.Timers == 0 && p.LastSeen < b-ptl {
				gone = append(gone, key)
			}
			return true
		})
		for _, key := range gone {
			tbl.Delete(key)
		}
		n += int64(len(gone))
	}
	var gone []string
	ts.vehicles.Range(func(key string, v *twin.Vehicle) bool {
		if v.LastEvent < b-vtl {
			gone = append(gone, key)
		}
		return true
	})
	for _, key := range gone {
		ts.vehicles.Delete(key)
	}
	n += int64(len(gone))
	if n > 0 {
		s.e.stats.evicted.Add(n)
	}
	if len(gone) > 0 {
		s.tellEvicted(ts, gone)
	}
}

// tellEvicted hands the vehicles a sweep dropped to the detectors that
// mirror vehicles outside the engine.
func (s *shard) tellEvicted(ts *tenantState, vehicles []string) {
	c := &s.ctx
	for i, d := range s.e.opts.Detectors {
		ve, ok := d.(detect.VehicleEvictions)
		if !ok {
			continue
		}
		c.Tenant, c.Key, c.Kind, c.Arrived = ts.name, "", detect.KindVehicle, 0
		c.Frontier, c.TenantSince = ts.frontier, ts.since
		c.Info, c.Local = &s.e.infos[i], s.local[i]
		for _, v := range vehicles {
			ve.Evicted(c, v)
		}
	}
}

func newShard(e *Engine, id int) *shard {
	s := &shard{e: e, id: id, in: make(chan []item, 8), tenants: map[string]*tenantState{}}
	s.ctx.EmitFunc = s.emit
	s.ctx.ScheduleFunc = s.schedule
	s.local = make([]any, len(e.opts.Detectors))
	s.dstats = make([]DetectorStats, len(e.opts.Detectors))
	for i, d := range e.opts.Detectors {
		if sl, ok := d.(detect.ShardLocal); ok {
			s.local[i] = sl.NewShardState()
		}
	}
	return s
}

func (s *shard) run() {
	// reached: the newest frontier of an event or marker handled (a query
	// carries none; the end of input's is not a time), for Watermark.
	reached := int64(math.MinInt64)
	for b := range s.in {
		for i := range b {
			if b[i].fn != nil {
				// A query sees, and its caller then reads, the watermark
				// of everything handed over before it.
				s.e.reached[s.id].Store(reached)
				s.publishMoved()
			} else if f := b[i].frontier; f > reached && f != math.MaxInt64 {
				reached = f
			}
			s.handle(&b[i])
			b[i] = item{}
		}
		s.e.reached[s.id].Store(reached)
		s.publishMoved()
		select {
		case s.e.router.free <- b:
		default:
		}
	}
}

// publishMoved publishes the frontiers that moved to the tenants' marks.
// The end of input's, past all time, is not a time and is not published.
func (s *shard) publishMoved() {
	for i, ts := range s.moved {
		if ts.frontier != math.MaxInt64 {
			ts.mark.reached[s.id].Store(ts.frontier)
		}
		ts.moved = false
		s.moved[i] = nil
	}
	s.moved = s.moved[:0]
}

func (s *shard) tenant(name string) *tenantState {
	ts := s.tenants[name]
	if ts == nil {
		ts = &tenantState{name: name, mark: s.e.mark(name), frontier: math.MinInt64, vehicles: twin.NewTable[twin.Vehicle]()}
		for k := detect.KindAccount; k < detect.NumKinds; k++ {
			ts.principals[k] = twin.NewTable[twin.Principal]()
		}
		s.tenants[name] = ts
	}
	return ts
}

func (s *shard) handle(it *item) {
	if it.fn != nil {
		it.fn(s)
		return
	}
	ts := s.tenant(it.tenant)
	arrived := it.arrived
	if it.ev != nil {
		arrived = it.ev.Arrived
	}
	if it.since != 0 && (ts.since == 0 || it.since < ts.since) {
		ts.since = it.since
	}
	if it.frontier > ts.frontier {
		ts.frontier = it.frontier
		if !ts.moved {
			ts.moved = true
			s.moved = append(s.moved, ts)
		}
		s.fire(ts, arrived)
		if ts.frontier >= ts.sweepAt && it.frontier != math.MaxInt64 {
			b := ts.frontier - ts.frontier%sweepEvery
			if ts.sweepAt != 0 {
				s.sweep(ts, b)
			}
			ts.sweepAt = b + sweepEvery
		}
	}
	ev := it.ev
	if ev == nil {
		return
	}
	dets := s.e.dispatch[it.kind][ev.Type]
	key := it.key
	c := &s.ctx
	c.Tenant, c.Key, c.Kind, c.Frontier, c.Arrived, c.TenantSince = ts.name, key, it.kind, ts.frontier, arrived, ts.since
	s.cur.ts, s.cur.kind, s.cur.key = ts, it.kind, key
	if it.kind == detect.KindVehicle {
		v, slot, _ := ts.vehicles.Get(key)
		s.cur.slot, s.cur.vehicle, s.cur.principal = slot, v, nil
		st := detect.State{Vehicle: v}
		for _, d := range dets {
			s.call(d, st, ev)
		}
		v.Apply(ev)
		return
	}
	tbl := ts.principals[it.kind]
	p, slot, _ := tbl.Get(key)
	s.cur.slot, s.cur.vehicle, s.cur.principal = slot, nil, p
	st := detect.State{Principal: p}
	for _, d := range dets {
		s.call(d, st, ev)
	}
	p.Touch(ev.Time)
	if p.Empty() {
		tbl.Delete(key) // nothing to remember: IPs and devices seen once cost nothing
	}
}

func (s *shard) call(d uint8, st detect.State, ev *event.Event) {
	s.cur.det = d
	s.ctx.Info = &s.e.infos[d]
	s.ctx.Local = s.local[d]
	m := &s.dstats[d]
	m.Calls++
	if m.Calls&63 == 1 { // time one call in 64: the clock costs more than most detectors
		t0 := time.Now()
		s.e.opts.Detectors[d].OnEvent(&s.ctx, st, ev)
		m.SampledNs += time.Since(t0).Nanoseconds()
		m.Sampled++
		return
	}
	s.e.opts.Detectors[d].OnEvent(&s.ctx, st, ev)
}

// fire runs every timer of ts whose deadline lies before its frontier.
func (s *shard) fire(ts *tenantState, arrived int64) {
	for len(ts.timers) > 0 && ts.timers[0].deadline < ts.frontier {
		t := ts.timers.pop()
		s.e.stats.timers.Add(1)
		var st detect.State
		if t.kind == detect.KindVehicle {
			if !ts.vehicles.Holds(t.key, t.slot) {
				continue // the key's state is gone
			}
			st.Vehicle = ts.vehicles.At(t.slot)
		} else {
			if !ts.principals[t.kind].Holds(t.key, t.slot) {
				continue
			}
			st.Principal = ts.principals[t.kind].At(t.slot)
			st.Principal.Timers--
		}
		c := &s.ctx
		c.Tenant, c.Key, c.Kind, c.Frontier, c.Arrived, c.TenantSince = ts.name, t.key, t.kind, ts.frontier, arrived, ts.since
		s.cur.ts, s.cur.slot, s.cur.kind, s.cur.det, s.cur.key, s.cur.vehicle, s.cur.principal = ts, t.slot, t.kind, t.det, t.key, st.Vehicle, st.Principal
		c.Info = &s.e.infos[t.det]
		c.Local = s.local[t.det]
		s.e.opts.Detectors[t.det].OnTimer(c, st, t.deadline)
		if p := st.Principal; p != nil && p.Empty() {
			ts.principals[t.kind].Delete(t.key)
		}
	}
}

func (s *shard) schedule(deadline int64) {
	if p := s.cur.principal; p != nil {
		p.Timers++
	}
	s.seq++
	s.cur.ts.timers.push(timer{deadline: deadline, seq: s.seq, slot: s.cur.slot,
		kind: s.cur.kind, det: s.cur.det, key: s.cur.key})
}

func (s *shard) emit(a *alert.Alert) {
	m := &s.dstats[s.cur.det]
	if f := s.e.opts.Filter; f != nil && !f(a) {
		m.Off++
		return
	}
	if a.Shadow {
		m.Shadow++ // not raised: other detectors must not correlate with it
		s.e.opts.Alerts(a)
		return
	}
	m.Alerts++
	if a.Time > m.LastAlert {
		m.LastAlert = a.Time
	}
	if v := s.cur.vehicle; v != nil && a.Time > v.LastAlert {
		v.LastAlert = a.Time // lets detectors correlate with other findings on the vehicle
	}
	s.e.emit(a)
}

// timer is an event-time timer of one detector on one key.
type timer struct {
	deadline int64
	seq      uint64 // creation order breaks ties
	key      string
	slot     uint32
	kind     detect.Kind
	det      uint8
}

// timerHeap is a binary min-heap of timers by (deadline, seq).
type timerHeap []timer

func (h timerHeap) less(i, j int) bool {
	if h[i].deadline != h[j].deadline {
		return h[i].deadline < h[j].deadline
	}
	return h[i].seq < h[j].seq
}

func (h *timerHeap) push(t timer) {
	*h = append(*h, t)
	q := *h
	for i := len(q) - 1; i > 0; {
		p := (i - 1) / 2
		if !q.less(i, p) {
			break
		}
		q[i], q[p] = q[p], q[i]
		i = p
	}
}

func (h *timerHeap) pop() timer {
	q := *h
	t := q[0]
	n := len(q) - 1
	q[0] = q[n]
	q[n] = timer{}
	q = q[:n]
	for i := 0; ; {
		l, m := 2*i+1, i
		if l < n && q.less(l, m) {
			m = l
		}
		if r := l + 1; r < n && q.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		q[i], q[m] = q[m], q[i]
		i = m
	}
	*h = q
	return t
}

// ShardView gives a query read access to one shard's state.
type ShardView struct{ s *shard }

// Len counts the keyed state of the shard by kind.
func (v ShardView) Len() [detect.NumKinds]int {
	var out [detect.NumKinds]int
	for _, ts := range v.s.tenants {
		out[detect.KindVehicle] += ts.vehicles.Len()
		for k := detect.KindAccount; k < detect.NumKinds; k++ {
			out[k] += ts.principals[k].Len()
		}
	}
	return out
}

// DetectorStats counts what one detector did on one shard (ShardView) or
// on all of them (Engine.DetectorStats).
type DetectorStats struct {
	ID        string
	Calls     int64 // events handed to it
	Alerts    int64 // alerts it raised
	Shadow    int64 // shadow alerts (stored, not raised)
	Off       int64 // alerts discarded: the detector is off for their tenant
	LastAlert int64 // event time of its last alert, Unix ns
	Sampled   int64 // calls timed
	SampledNs int64 // their total time
}

// MeanNs is the mean time of one call, from the sample.
func (d DetectorStats) MeanNs() float64 {
	if d.Sampled == 0 {
		return 0
	}
	return float64(d.SampledNs) / float64(d.Sampled)
}

// DetectorStats returns the shard's counters per detector.
func (v ShardView) DetectorStats() []DetectorStats {
	out := make([]DetectorStats, len(v.s.dstats))
	for i, d := range v.s.dstats {
		d.ID = v.s.e.infos[i].ID
		out[i] = d
	}
	return out
}

// Tenants lists the tenants this shard has seen.
func (v ShardView) Tenants() []string {
	out := make([]string, 0, len(v.s.tenants))
	for t := range v.s.tenants {
		out = append(out, t)
	}
	return out
}

// Vehicle returns the twin of a tenant's vehicle if this shard holds it.
func (v ShardView) Vehicle(tenant, id string) *twin.Vehicle {
	if ts := v.s.tenants[tenant]; ts != nil {
		return ts.vehicles.Lookup(id)
	}
	return nil
}

// Principal returns the state of an account, IP, client, device or subnet
// on this shard, nil when the shard holds none.
func (v ShardView) Principal(tenant string, kind detect.Kind, id string) *twin.Principal {
	if kind == detect.KindVehicle || kind >= detect.NumKinds {
		return nil
	}
	if ts := v.s.tenants[tenant]; ts != nil && ts.principals[kind] != nil {
		return ts.principals[kind].Lookup(id)
	}
	return nil
}
