package gate

import (
	"hash/maphash"
	"math"
	"sync"

	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/twin"
)

// The gate decides from the state detection keeps (the vehicle twin, the
// links account changes taught it, the takeover detector's trail on each
// account), but it cannot read that state where it lives: the twin belongs
// to a shard goroutine, and a query through the engine waits behind every
// event queued before it — tens of milliseconds under load, and it would
// stall the engine's router 5,000 times a second. So an observer, run by
// the engine like a detector on the shard goroutines, copies the few facts
// the gate needs into a view the gate reads under striped locks:
//
//   - motion: the last fix's time and speed and the ignition, only for
//     vehicles whose last fix showed more than the moving threshold (a
//     parked vehicle costs nothing);
//   - links: a copy of the twin's learned links, for the few vehicles that
//     have any;
//   - trails: the takeover detector's trail, for accounts that have one.
//
// The copy is taken from the twin itself, after the event was folded in,
// so the gate and the detectors never disagree: the twin is updated after
// the detectors run, so the observer copies a vehicle when the shard's next
// event reaches it (or, on a quiet stream, when its timer fires on the
// engine's next tick), and an account's trail right away (the observer
// runs after the takeover detector, which keeps the trail).

// vkey names a vehicle or a principal of a tenant.
type vkey struct{ tenant, id string }

// motion is a moving vehicle as its last fix showed it.
type motion struct {
	FixTime  int64 // Unix ns, event time of the fix
	Speed    float32
	Ignition twin.Ignition
}

// linkSet is a copy of a twin's learned links.
type linkSet struct {
	List       []linkEntry
	TransferAt int64 // 0: no ownership transfer seen
	TransferTo string
}

type linkEntry struct {
	Account string
	At      int64
	By      event.ChangeKind
	Linked  bool
}

func (l *linkSet) find(account string) *linkEntry {
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

// trail is a copy of an account's takeover trail (twin.TakeoverTrail).
type trail struct {
	Change      event.ChangeKind // unset when none
	Confirmed   event.Tri
	ChangeAt    int64
	Added       event.ChangeKind // device_registered or digital_key_added; unset when none
	AddedAt     int64
	AddedDevice string
}

const stripes = 64

// view is the gate's copy of detection state, safe for concurrent use:
// written by the shard goroutines, read by the gate's requests.
type view struct {
	seed    maphash.Seed
	stripes [stripes]stripe
}

type stripe struct {
	mu     sync.RWMutex
	motion map[vkey]motion
	links  map[vkey]*linkSet // immutable once stored
	trails map[vkey]trail
	_      [64]byte // keep neighbouring stripes' locks off one cache line
}

func newView() *view {
	v := &view{seed: maphash.MakeSeed()}
	for i := range v.stripes {
		s := &v.stripes[i]
		s.motion, s.links, s.trails = map[vkey]motion{}, map[vkey]*linkSet{}, map[vkey]trail{}
	}
	return v
}

func (v *view) stripe(k vkey) *stripe {
	return &v.stripes[maphash.String(v.seed, k.id)%stripes]
}

func (v *view) motion(k vkey) (motion, bool) {
	s := v.stripe(k)
	s.mu.RLock()
	m, ok := s.motion[k]
	s.mu.RUnlock()
	return m, ok
}

func (v *view) links(k vkey) *linkSet {
	s := v.stripe(k)
	s.mu.RLock()
	l := s.links[k]
	s.mu.RUnlock()
	return l
}

func (v *view) trail(k vkey) (trail, bool) {
	s := v.stripe(k)
	s.mu.RLock()
	t, ok := s.trails[k]
	s.mu.RUnlock()
	return t, ok
}

func (v *view) setMotion(k vkey, m motion) {
	s := v.stripe(k)
	s.mu.Lock()
	s.motion[k] = m
	s.mu.Unlock()
}

func (v *view) dropMotion(k vkey) {
	s := v.stripe(k)
	s.mu.RLock()
	_, ok := s.motion[k]
	s.mu.RUnlock()
	if ok {
		s.mu.Lock()
		delete(s.motion, k)
		s.mu.Unlock()
	}
}

func (v *view) setLinks(k vkey, l *linkSet) {
	s := v.stripe(k)
	s.mu.Lock()
	if l == nil {
		delete(s.links, k)
	} else {
		s.links[k] = l
	}
	s.mu.Unlock()
}

func (v *view) setTrail(k vkey, t trail, ok bool) {
	s := v.stripe(k)
	s.mu.Lock()
	if ok {
		s.trails[k] = t
	} else {
		delete(s.trails, k)
	}
	s.mu.Unlock()
}

// sweep forgets motion older than motionBefore and trails whose newest
// step is older than trailBefore (Unix ns): what the gate would ignore
// anyway. It returns what is left.
func (v *view) sweep(motionBefore, trailBefore int64) (moving, linked, trails int) {
	for i := range v.stripes {
		s := &v.stripes[i]
		s.mu.Lock()
		for k, m := range s.motion {
			if m.FixTime < motionBefore {
				delete(s.motion, k)
			}
		}
		for k, t := range s.trails {
			if max(t.ChangeAt, t.AddedAt) < trailBefore {
				delete(s.trails, k)
			}
		}
		moving, linked, trails = moving+len(s.motion), linked+len(s.links), trails+len(s.trails)
		s.mu.Unlock()
	}
	return moving, linked, trails
}

// observer is the detector-shaped part of the gate: the engine calls it on
// the shard goroutine that owns each key, and it copies what the gate
// needs into the view. It raises no alerts.
type observer struct {
	v        *view
	g        *Gate // for erasures (forget.go); nil in tests of the observer alone
	minSpeed float32
}

// ObserverID is the id the observer has among the engine's detectors.
const ObserverID = "gate.state"

var (
	_ detect.Detector   = (*observer)(nil)
	_ detect.ShardLocal = (*observer)(nil)
)

func (o *observer) Info() detect.Info {
	return detect.Info{
		ID:    ObserverID,
		Title: "Command gate state (raises no alerts)",
		Description: "Copies what the command gate decides from — vehicle motion, links learned from account changes, " +
			"the takeover trail of each account — from the twin for POST /v1/gate.",
		Subscribe: []detect.Subscription{
			{Kind: detect.KindVehicle, Types: []event.Type{event.TypeTelemetry, event.TypeVehicleEvent, event.TypeAccountChange}},
			{Kind: detect.KindAccount, Types: []event.Type{event.TypeAccountChange, event.TypeCommand}},
		},
	}
}

// shardState is the observer's part of one shard: the vehicles whose event
// is being folded into their twin now, to copy once it is.
type shardState struct {
	pending []pendingVehicle
	timer   bool // a timer is set to copy pending on a quiet stream
}

type pendingVehicle struct {
	k     vkey
	v     *twin.Vehicle // valid until the vehicle is erased (Forget drops it) or evicted (Evicted drops it)
	links bool          // the event may have changed its links
}

func (o *observer) NewShardState() any { return &shardState{} }

func (o *observer) OnEvent(c *detect.Context, s detect.State, ev *event.Event) {
	ls := c.Local.(*shardState)
	if c.Kind == detect.KindAccount {
		// The takeover detector ran before (the observer is the engine's
		// last detector): the trail is as this event left it.
		o.copyTrail(vkey{c.Tenant, c.Key}, s.Principal.Takeover)
		return
	}
	// Every event before this one on the shard has been folded into its
	// twin: copy them; this one waits for the next.
	o.flush(ls)
	ls.pending = append(ls.pending, pendingVehicle{k: vkey{c.Tenant, c.Key}, v: s.Vehicle, links: ev.Type == event.TypeAccountChange})
	if !ls.timer && c.Frontier < math.MaxInt64-1 {
		// Fires when the tenant's frontier next moves: the next newer event,
		// or the engine's tick on a quiet stream.
		ls.timer = true
		c.After(c.Frontier + 1)
	}
}

func (o *observer) OnTimer(c *detect.Context, _ detect.State, _ int64) {
	ls := c.Local.(*shardState)
	ls.timer = false
	o.flush(ls)
}

func (o *observer) flush(ls *shardState) {
	for i := range ls.pending {
		p := &ls.pending[i]
		v := p.v
		if v.FixTime != 0 && v.Speed > o.minSpeed {
			o.v.setMotion(p.k, motion{FixTime: v.FixTime, Speed: v.Speed, Ignition: v.Ignition})
		} else {
			o.v.dropMotion(p.k)
		}
		if p.links {
			o.v.setLinks(p.k, copyLinks(v.Links()))
		}
		*p = pendingVehicle{}
	}
	ls.pending = ls.pending[:0]
}

func copyLinks(l *twin.Links) *linkSet {
	if l == nil {
		return nil
	}
	out := &linkSet{List: make([]linkEntry, len(l.List)), TransferAt: l.Transfer.At, TransferTo: l.Transfer.To}
	for i, e := range l.List {
		out.List[i] = linkEntry{Account: e.Account, At: e.At, By: e.By, Linked: e.Linked}
	}
	return out
}

func (o *observer) copyTrail(k vkey, t *twin.TakeoverTrail) {
	if t == nil || (t.Change == event.ChangeUnset && t.Added == event.ChangeUnset) {
		if _, ok := o.v.trail(k); ok {
			o.v.setTrail(k, trail{}, false)
		}
		return
	}
	// The takeover detector keeps told steps on the trail until the window
	// has passed: the gate asks for a step-up while they are there.
	o.v.setTrail(k, trail{Change: t.Change, Confirmed: t.Confirmed, ChangeAt: t.ChangeAt,
		Added: t.Added, AddedAt: t.AddedAt, AddedDevice: t.AddedDevice}, true)
}
