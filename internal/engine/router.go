package engine

import (
	"encoding/hex"
	"math"
	"net/netip"
	"strconv"

	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/twin"
)

// item is one delivery to a shard: an event for one of its keys, a frontier
// marker (ev nil) or a query (fn set).
type item struct {
	ev       *event.Event
	key      string
	tenant   string
	frontier int64
	since    int64 // the tenant's earliest event time so far (see detect.Context.TenantSince)
	arrived  int64 // for a marker: arrival of the event that moved the frontier
	kind     detect.Kind
	fn       func(*shard)
}

// clock is one tenant's event-time progress as the router sees it.
type clock struct {
	maxSeen  int64
	frontier int64 // maxSeen - lateness, never decreasing
	marked   int64 // frontier last broadcast to every shard
	movedBy  int64 // arrival stamp of the event that last moved the frontier
	jump     int64 // a far-ahead time waiting for a second event to confirm it
	since    int64 // earliest event time seen, 0 before the first event
	lastArr  int64 // arrival stamp of the tenant's newest event (for Tick)

	// Open minutes of tenant statistics, oldest first, and the start of the
	// next minute to close.
	minutes  []*event.TenantStats
	nextStat int64
}

const minute = int64(60e9)

// maxQuietMinutes bounds the empty minutes emitted for a gap in a
// tenant's traffic: enough to show a day's outage, not a flood when a
// hostile clock jumps years ahead.
const maxQuietMinutes = 24 * 60

// router is owned by the goroutine that calls Push.
type router struct {
	e       *Engine
	route   twin.HashKey // places keys on shards; kept by snapshots, so a restored engine routes as the old one did
	buf     []byte
	clocks  map[string]*clock
	pending [][]item
	free    chan []item
	dedup   *dedup
}

func newRouter(e *Engine) router {
	r := router{
		e:      e,
		route:  twin.NewHashKey(),
		clocks: map[string]*clock{},
		free:   make(chan []item, 4*e.opts.Shards+8),
		dedup:  newDedup(int64(e.opts.DedupWindow)),
	}
	r.pending = make([][]item, e.opts.Shards)
	return r
}

func (r *router) batch() []item {
	select {
	case b := <-r.free:
		return b[:0]
	default:
		return make([]item, 0, r.e.opts.BatchSize)
	}
}

func (r *router) clock(tenant string) *clock {
	c := r.clocks[tenant]
	if c == nil {
		c = &clock{maxSeen: math.MinInt64, frontier: math.MinInt64, marked: math.MinInt64}
		r.clocks[tenant] = c
	}
	return c
}

func (r *router) push(ev *event.Event) {
	e := r.e
	e.stats.received.Add(1)
	if !e.opts.NoDedup && r.dedup.seen(ev) {
		e.stats.duplicates.Add(1)
		return
	}
	c := r.clock(ev.Tenant)
	if ev.Time < c.frontier {
		e.stats.late.Add(1)
	}
	if ev.Arrived > c.lastArr {
		c.lastArr = ev.Arrived
	}
	if c.since == 0 || ev.Time < c.since {
		c.since = ev.Time
	}
	if ev.Time > c.maxSeen {
		if r.believable(ev, c) {
			c.maxSeen = ev.Time
			if f := ev.Time - e.lateness; f > c.frontier {
				c.frontier, c.movedBy = f, ev.Arrived
			}
		} else {
			e.stats.future.Add(1)
		}
	}
	if e.tenantStats {
		r.countMinute(ev, c)
	}
	kinds := &e.routes[ev.Type]
	for k := detect.Kind(0); k < detect.NumKinds; k++ {
		if !kinds[k] {
			continue
		}
		key := Key(ev, k)
		if key == "" {
			continue
		}
		r.send(r.shardOf(ev.Tenant, k, key), item{ev: ev, key: key, tenant: ev.Tenant, frontier: c.frontier, since: c.since, kind: k})
		e.stats.routed.Add(1)
	}
}

// believable reports whether ev may move its tenant's clock forward. One
// event stamped far ahead (a unit's broken clock, a hostile producer) must
// not close every open window of its tenant: a time more than MaxJump past
// the newest one moves the clock only once a second event within MaxJump of
// it confirms it, and on a live stream nothing moves it past its arrival
// plus MaxFuture. Such events are still processed, and counted.
func (r *router) believable(ev *event.Event, c *clock) bool {
	e := r.e
	if e.opts.WallClock && ev.Arrived > 0 && ev.Time > ev.Arrived+int64(e.opts.MaxFuture) {
		return false
	}
	if c.maxSeen == math.MinInt64 || ev.Time <= c.maxSeen+int64(e.opts.MaxJump) {
		return true
	}
	if c.jump != 0 && ev.Time >= c.jump-int64(e.opts.MaxJump) && ev.Time <= c.jump+int64(e.opts.MaxJump) {
		c.jump = 0
		return true
	}
	c.jump = ev.Time
	return false
}

// Key returns the value of the key of kind k in ev, or "" when ev has none.
func Key(ev *event.Event, k detect.Kind) string {
	if k == detect.KindTenant {
		return ev.Tenant
	}
	if k == detect.KindVehicle {
		if ev.Subject == "" && ev.Type == event.TypeAccountChange {
			return ev.AccountChange.Vehicle // a link change names its vehicle in data
		}
		return ev.Subject
	}
	if k == detect.KindAccount && ev.Type == event.TypeAccountChange {
		return ev.AccountChange.Account // the account changed, not who changed it
	}
	if k == detect.KindArtifact {
		switch ev.Type {
		case event.TypeIDS:
			return ev.IDS.ECU + "/" + ev.IDS.EventID
		case event.TypeFirmware:
			return hex.EncodeToString(ev.Firmware.SHA256[:])
		case event.TypeSMS:
			return ev.SMS.Originator
		}
		return ""
	}
	a := ev.Actor()
	if a == nil {
		return ""
	}
	switch k {
	case detect.KindSubnet:
		return Subnet(a.IP)
	case detect.KindAccount:
		return a.Account
	case detect.KindIP:
		return a.IP
	case detect.KindClient:
		return a.ClientID
	case detect.KindDevice:
		return a.Device
	}
	return ""
}

// countMinute adds ev to its tenant's minute and hands every minute the
// frontier has passed to the tenant's key as a TypeTenantStats event.
func (r *router) countMinute(ev *event.Event, c *clock) {
	start := ev.Time - ev.Time%minute
	if c.nextStat == 0 {
		c.nextStat = start
	}
	if start >= c.nextStat { // not yet closed: count it (late minutes are not reopened)
		var st *event.TenantStats
		for _, m := range c.minutes {
			if m.Start == start {
				st = m
				break
			}
		}
		if st == nil {
			st = &event.TenantStats{Start: start, End: start + minute}
			i := len(c.minutes)
			for i > 0 && c.minutes[i-1].Start > start {
				i--
			}
			c.minutes = append(c.minutes, nil)
			copy(c.minutes[i+1:], c.minutes[i:])
			c.minutes[i] = st
		}
		st.ByType[ev.Type]++
		if ev.Type == event.TypeCommand {
			st.Commands[ev.Command.Stage]++
		}
	}
	r.closeMinutes(ev.Tenant, c, c.frontier, ev.Arrived)
}

// closeMinutes hands every minute that ends at or before upTo to the
// tenant's key, empty minutes included (a gap in traffic is the news).
func (r *router) closeMinutes(tenant string, c *clock, upTo, arrived int64) {
	if c.nextStat == 0 {
		return
	}
	if upTo-c.nextStat > maxQuietMinutes*minute {
		c.nextStat = upTo - upTo%minute - maxQuietMinutes*minute
	}
	for c.nextStat+minute <= upTo {
		st := &event.TenantStats{Start: c.nextStat, End: c.nextStat + minute}
		for len(c.minutes) > 0 && c.minutes[0].Start < c.nextStat {
			c.minutes = c.minutes[1:] // skipped by the quiet-minute bound
		}
		if len(c.minutes) > 0 && c.minutes[0].Start == c.nextStat {
			st = c.minutes[0]
			c.minutes = c.minutes[1:]
		}
		c.nextStat += minute
		sev := &event.Event{ID: "minute-" + strconv.FormatInt(st.Start/minute, 10), Source: "vigil/engine",
			Type: event.TypeTenantStats, Time: st.End - 1, Tenant: tenant, Arrived: arrived, Stats: st}
		r.send(r.shardOf(tenant, detect.KindTenant, tenant),
			item{ev: sev, key: tenant, tenant: tenant, frontier: c.frontier, kind: detect.KindTenant})
	}
}

// Subnet returns the network of an IP address as a prefix: /24 for IPv4,
// /48 for IPv6; "" when ip is not an address.
func Subnet(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return ""
	}
	bits := 48
	if addr.Is4() || addr.Is4In6() {
		addr, bits = addr.Unmap(), 24
	}
	p, err := addr.Prefix(bits)
	if err != nil {
		return ""
	}
	return p.String()
}

func (r *router) shardOf(tenant string, k detect.Kind, key string) int {
	if len(r.pending) == 1 {
		return 0
	}
	b := append(r.buf[:0], tenant...)
	b = append(b, byte(k))
	b = append(b, key...)
	r.buf = b
	return int(r.route.SumBytes(b) % uint64(len(r.pending)))
}

func (r *router) send(i int, it item) {
	b := r.pending[i]
	if b == nil {
		b = r.batch()
	}
	b = append(b, it)
	if len(b) >= r.e.opts.BatchSize {
		r.e.shards[i].in <- b
		b = nil
	}
	r.pending[i] = b
}

func (r *router) flush() {
	r.mark()
	r.handOff()
}

// mark queues each tenant's advanced frontier for every shard, so due
// timers fire even on shards that got no events of that tenant.
func (r *router) mark() {
	for tenant, c := range r.clocks {
		if c.frontier > c.marked {
			c.marked = c.frontier
			for i := range r.pending {
				r.pending[i] = append(r.pendingOrNew(i), item{tenant: tenant, frontier: c.frontier, arrived: c.movedBy})
			}
		}
	}
}

// handOff hands every pending batch to its shard.
func (r *router) handOff() {
	for i, b := range r.pending {
		if len(b) > 0 {
			r.e.shards[i].in <- b
			r.pending[i] = nil
		}
	}
}

func (r *router) pendingOrNew(i int) []item {
	if r.pending[i] == nil {
		return r.batch()
	}
	return r.pending[i]
}

// tick moves quiet tenants' frontiers on by the wall time since their last
// arrival, then hands the new frontiers to the shards.
func (r *router) tick(now int64) {
	for tenant, c := range r.clocks {
		if c.lastArr == 0 || c.maxSeen == math.MinInt64 {
			continue
		}
		quiet := now - c.lastArr
		if quiet <= 0 {
			continue
		}
		if f := c.maxSeen + quiet - r.e.lateness; f > c.frontier {
			c.frontier, c.movedBy = f, now
			if r.e.tenantStats {
				r.closeMinutes(tenant, c, c.frontier, now)
			}
		}
	}
	r.flush()
}

// finish moves every tenant's frontier past all time: every timer fires.
func (r *router) finish() {
	for tenant, c := range r.clocks {
		if r.e.tenantStats {
			// The last minute with traffic is complete now.
			r.closeMinutes(tenant, c, c.maxSeen-c.maxSeen%minute+minute, 0)
		}
		c.frontier = math.MaxInt64
	}
	r.flush()
}

func (r *router) broadcast(fn func(*shard)) {
	r.mark()
	for i := range r.pending {
		r.pending[i] = append(r.pendingOrNew(i), item{fn: fn})
	}
	r.handOff()
}
