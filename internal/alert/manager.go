package alert

import (
	"math"
	"strings"
	"sync"
	"time"

	"github.com/vigil-project/vigil/internal/event"
)

// ManagerOptions configure a Manager.
type ManagerOptions struct {
	// DedupWindow: an alert of the same detector about the same entities
	// within this much event time of the last one is a duplicate. Default 15m.
	DedupWindow time.Duration
	// IncidentWindow: alerts sharing an entity join an open incident while
	// they come within this much event time of its last alert. Default 1h.
	IncidentWindow time.Duration
	// Out receives every alert that is not a duplicate, with its incident
	// (nil for a shadow alert, which joins none). Calls are serialised.
	Out func(*Alert, *Incident)
	// Suppressions silence alerts judged benign (counted by reason).
	Suppressions []Suppression
	// Clock, when set, tells how far the engine has got in event time
	// (an *engine.Engine, or engine.LateClock for a manager made first).
	// When to forget, and what is too old, are judged against the lesser
	// of it and the newest alert, not against the newest alert alone:
	// alerts come from shards that run at their own pace, and the newest
	// alert of a fast shard (or one of an event stamped in the future)
	// must not make the manager forget what a slower shard's next alert is
	// a duplicate of, nor stop it forgetting. Fingerprints and incidents
	// are judged by their tenant's clock: a tenant whose events come hours
	// behind the others' keeps its own.
	Clock Clock
}

// Clock is the engine's progress in event time, math.MinInt64 when
// unknown. Safe for concurrent use.
type Clock interface {
	// Watermark is an event time every shard has reached, whatever the
	// tenant.
	Watermark() int64
	// TenantWatermark is the event time every shard has reached for the
	// tenant.
	TenantWatermark(tenant string) int64
}

// Incident groups alerts about the same entities close in time.
type Incident struct {
	ID         string
	Tenant     string
	FirstSeen  int64
	LastSeen   int64
	Severity   event.Severity
	Alerts     int
	Duplicates int
	Categories []Category
	mergedInto *Incident
}

// Manager deduplicates alerts and groups them into incidents. It is safe for
// concurrent use; shards call Add directly.
type Manager struct {
	opts       ManagerOptions
	window     int64
	incWin     int64
	mu         sync.Mutex
	ids        map[string]int64     // alert id → event time, for re-deliveries
	prints     map[string]*printRec // fingerprint → last alert
	byKey      map[string]*Incident // tenant+entity → incident
	open       int
	total      int
	shadow     int
	dups       int
	suppressed map[string]int // by reason
	maxTime    int64
	lastTidy   int64
	// stored is, after a restart, the incident each alert raised since
	// the checkpoint was stored with; storedIncs the incidents opened so.
	stored     map[string]string
	storedIncs map[string]*Incident
}

type printRec struct {
	last     int64
	tenant   string
	incident *Incident
}

// ManagerStats counts what the manager did.
type ManagerStats struct {
	Alerts     int            // passed on
	Duplicates int            // suppressed as duplicates
	Incidents  int            // incidents opened
	Shadow     int            // shadow alerts passed on (stored, not raised)
	Suppressed map[string]int // silenced by a suppression, by its reason
}

// NewManager returns a Manager.
func NewManager(opts ManagerOptions) *Manager {
	if opts.DedupWindow <= 0 {
		opts.DedupWindow = 15 * time.Minute
	}
	if opts.IncidentWindow <= 0 {
		opts.IncidentWindow = time.Hour
	}
	if opts.Out == nil {
		opts.Out = func(*Alert, *Incident) {}
	}
	return &Manager{opts: opts, window: int64(opts.DedupWindow), incWin: int64(opts.IncidentWindow),
		ids: map[string]int64{}, prints: map[string]*printRec{}, byKey: map[string]*Incident{}, suppressed: map[string]int{}}
}

// Stats returns the manager's counters.
func (m *Manager) Stats() ManagerStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	sup := make(map[string]int, len(m.suppressed))
	for k, v := range m.suppressed {
		sup[k] = v
	}
	return ManagerStats{Alerts: m.total, Duplicates: m.dups, Incidents: m.open, Shadow: m.shadow, Suppressed: sup}
}

// Add takes one alert. It reports whether the alert was new (not a
// duplicate) and was passed on. A shadow alert is deduplicated and
// suppressed like any other, so its count says what the detector would
// raise, but it joins no incident.
func (m *Manager) Add(a *Alert) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if a.Time > m.maxTime {
		m.maxTime = a.Time
	}
	if _, ok := m.ids[a.ID]; ok {
		m.dups++
		return false
	}
	m.ids[a.ID] = a.Time
	// Here, not only when an alert passes: suppressed, duplicate and
	// shadow alerts fill the maps too.
	m.maybeTidy()
	for i := range m.opts.Suppressions {
		if s := &m.opts.Suppressions[i]; s.Matches(a) {
			m.suppressed[s.Reason]++
			return false
		}
	}
	fp := fingerprint(a)
	if r := m.prints[fp]; r != nil && a.Time-r.last < m.window && a.Time >= r.last-m.window {
		r.last = max(r.last, a.Time)
		if r.incident != nil {
			inc := r.incident.root()
			inc.Duplicates++
			inc.LastSeen = max(inc.LastSeen, a.LastSeen)
		}
		m.dups++
		return false
	}
	if a.Shadow {
		m.prints[fp] = &printRec{last: a.Time, tenant: a.Tenant}
		m.shadow++
		a.Incident = ""
		m.opts.Out(a, nil)
		return true
	}
	inc := m.group(a)
	m.prints[fp] = &printRec{last: a.Time, tenant: a.Tenant, incident: inc}
	m.total++
	a.Incident = inc.ID
	m.opts.Out(a, inc)
	return true
}

// maybeTidy forgets what is too old about once per incident window of
// event time. A last tidy far ahead of the clock (a snapshot of a build
// that tidied by the newest alert) does not stop it.
func (m *Manager) maybeTidy() {
	now := m.maxTime
	if m.opts.Clock != nil {
		if now = min(now, m.opts.Clock.Watermark()); now == math.MinInt64 {
			return
		}
	}
	if d := now - m.lastTidy; d > m.incWin || d < -m.incWin {
		m.lastTidy = now
		m.tidy(now)
	}
}

// Resume gives the manager, restored from a checkpoint, the incident each
// alert stored since then was stored with (alert id → incident id): the
// archive read again raises those alerts again, and the shards' alerts may
// meet the manager in another order than they first did. Each joins its
// stored incident, and the alerts that follow join it through the keys it
// names, so that an incident goes on under its id across a restart. The
// manager owns the map; Resume(nil), once the archive is read up to where
// it was, drops what no alert named.
func (m *Manager) Resume(stored map[string]string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stored, m.storedIncs = stored, nil
	if len(stored) == 0 {
		return
	}
	// The incidents restored from the checkpoint that they name: an alert
	// raised again may come before the one that leads its keys there.
	ids := make(map[string]bool, len(stored))
	for _, id := range stored {
		ids[id] = true
	}
	for _, inc := range m.byKey {
		if r := inc.root(); ids[r.ID] {
			if m.storedIncs == nil {
				m.storedIncs = map[string]*Incident{}
			}
			m.storedIncs[r.ID] = r
		}
	}
}

// group finds or opens the incident of a, merging incidents that a links.
func (m *Manager) group(a *Alert) *Incident {
	keys := entityKeys(a)
	if id, ok := m.stored[a.ID]; ok {
		delete(m.stored, a.ID)
		return m.join(m.storedIncident(a, id, keys), a, keys)
	}
	var inc *Incident
	for _, k := range keys {
		cand := m.byKey[k]
		if cand == nil {
			continue
		}
		cand = cand.root()
		if a.FirstSeen > cand.LastSeen+m.incWin || a.LastSeen < cand.FirstSeen-m.incWin {
			continue // closed
		}
		switch {
		case inc == nil:
			inc = cand
		case cand != inc:
			// a links two open incidents: the older absorbs the newer.
			older, newer := inc, cand
			if newer.FirstSeen < older.FirstSeen || newer.FirstSeen == older.FirstSeen && newer.ID < older.ID {
				older, newer = newer, older
			}
			older.absorb(newer)
			inc = older
		}
	}
	if inc == nil {
		m.open++
		inc = &Incident{ID: "inc-" + strings.TrimPrefix(a.ID, "al-"), Tenant: a.Tenant, FirstSeen: a.FirstSeen, LastSeen: a.LastSeen}
	}
	return m.join(inc, a, keys)
}

// storedIncident returns the incident id that a was stored with: the open
// one of that id a's keys lead to, the one an earlier alert stored with it
// opened, or a new one. It does not merge the others a's keys lead to: the
// store holds them apart.
func (m *Manager) storedIncident(a *Alert, id string, keys []string) *Incident {
	for _, k := range keys {
		if c := m.byKey[k]; c != nil && c.root().ID == id && c.root().Tenant == a.Tenant {
			return c.root()
		}
	}
	if inc := m.storedIncs[id]; inc != nil && inc.root().Tenant == a.Tenant {
		return inc.root()
	}
	m.open++
	inc := &Incident{ID: id, Tenant: a.Tenant, FirstSeen: a.FirstSeen, LastSeen: a.LastSeen}
	if m.storedIncs == nil {
		m.storedIncs = map[string]*Incident{}
	}
	m.storedIncs[id] = inc
	return inc
}

// join adds a to inc and points a's keys at it.
func (m *Manager) join(inc *Incident, a *Alert, keys []string) *Incident {
	inc.Alerts++
	inc.FirstSeen = min(inc.FirstSeen, a.FirstSeen)
	inc.LastSeen = max(inc.LastSeen, a.LastSeen)
	inc.Severity = max(inc.Severity, a.Severity)
	inc.addCategory(a.Category)
	for _, k := range keys {
		if m.byKey[k] == nil || m.byKey[k].root() != inc {
			m.byKey[k] = inc
		}
	}
	return inc
}

func (inc *Incident) root() *Incident {
	for inc.mergedInto != nil {
		inc = inc.mergedInto
	}
	return inc
}

func (inc *Incident) absorb(o *Incident) {
	o.mergedInto = inc
	inc.Alerts += o.Alerts
	inc.Duplicates += o.Duplicates
	inc.FirstSeen = min(inc.FirstSeen, o.FirstSeen)
	inc.LastSeen = max(inc.LastSeen, o.LastSeen)
	inc.Severity = max(inc.Severity, o.Severity)
	for _, c := range o.Categories {
		inc.addCategory(c)
	}
}

func (inc *Incident) addCategory(c Category) {
	for _, x := range inc.Categories {
		if x == c {
			return
		}
	}
	inc.Categories = append(inc.Categories, c)
}

// tidy forgets ids, fingerprints and incidents too old to matter, so memory
// follows the alert rate, not the stream length. Fingerprints and
// incidents are judged by their tenant's clock; the ids, a first check
// before the fingerprints, by now.
func (m *Manager) tidy(now int64) {
	span := 2 * max(m.window, m.incWin)
	horizon := now - span
	for id, t := range m.ids {
		if t < horizon {
			delete(m.ids, id)
		}
	}
	horizons := map[string]int64{}
	horizonOf := func(tenant string) int64 {
		h, ok := horizons[tenant]
		if !ok {
			h = horizon
			if m.opts.Clock != nil {
				// Unknown, or too early to subtract from: forget nothing.
				if c := min(now, m.opts.Clock.TenantWatermark(tenant)); c < math.MinInt64+span {
					h = math.MinInt64
				} else {
					h = c - span
				}
			}
			horizons[tenant] = h
		}
		return h
	}
	for fp, r := range m.prints {
		if r.last < horizonOf(r.tenant) {
			delete(m.prints, fp)
		}
	}
	for k, inc := range m.byKey {
		if inc = inc.root(); inc.LastSeen < horizonOf(inc.Tenant) {
			delete(m.byKey, k)
		}
	}
}

// printTenant is the tenant of a fingerprint restored with its incident:
// a raised alert's is its incident's; a shadow alert joins none, and its
// fingerprint is "shadow", then its tenant (see fingerprint).
func printTenant(fp string, inc *Incident) string {
	if inc != nil {
		return inc.Tenant
	}
	rest, _ := strings.CutPrefix(fp, "shadow\x00")
	tenant, _, _ := strings.Cut(rest, "\x00")
	return tenant
}

func fingerprint(a *Alert) string {
	var b strings.Builder
	if a.Shadow {
		b.WriteString("shadow\x00") // a shadow repeat never hides a raised alert
	}
	b.WriteString(a.Tenant)
	b.WriteByte(0)
	b.WriteString(a.Detector)
	for _, k := range entityKeys(a) {
		b.WriteByte(0)
		b.WriteString(k)
	}
	return b.String()
}

// MaxIncidentVehicles bounds how many of an alert's vehicles (a mass
// command names hundreds) take part in grouping and join its incident's
// entities.
const MaxIncidentVehicles = 20

// entityKeys lists "tenant|kind:value" for every entity of a.
func entityKeys(a *Alert) []string {
	e := &a.Entities
	var out []string
	add := func(kind, v string) {
		if v != "" {
			out = append(out, a.Tenant+"|"+kind+":"+v)
		}
	}
	add("vehicle", e.Vehicle)
	for _, v := range e.Vehicles[:min(len(e.Vehicles), MaxIncidentVehicles)] {
		add("vehicle", v)
	}
	add("account", e.Account)
	add("device", e.Device)
	add("ip", e.IP)
	add("client", e.ClientID)
	add("msisdn", e.MSISDN)
	return out
}
