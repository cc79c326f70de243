package gate

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/vigil-project/vigil/internal/alert"

	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/store"
)

// IncidentLister is what the gate needs from the store.
type IncidentLister interface {
	ListIncidents(ctx context.Context, scope store.Scope, q store.IncidentQuery) (store.IncidentPage, error)
}

// The gate denies commands while an open critical incident names the
// vehicle or the account. A store query per decision would cost a
// millisecond or more on a busy store (the p99 budget is 2 ms), and the
// open critical incidents are few, so the gate keeps all of them in memory:
// it reloads them every Incidents.Refresh. A critical alert stored
// (AlertStored) takes effect at once: its vehicles and account join the
// index as naming its incident, and within kickLoadEvery the gate reads
// that incident alone for its other entities (those earlier alerts
// named) — at most that often, for every incident stored meanwhile, so
// that a storm of critical alerts does not turn into a storm of queries,
// and never every open incident, which a campaign makes many thousands of
// rows. A decision reads an immutable index.

// entityKey names a vehicle or account of a tenant in the index.
type entityKey struct {
	tenant string
	kind   store.EntityKind
	value  string
}

type openIncident struct {
	ID     string
	Status store.Status
}

type incidentIndex struct {
	by        map[entityKey]openIncident   // as loaded from the store
	stored    map[entityKey]storedIncident // of critical alerts stored since; copied on change
	incidents int
	// overflow names the tenants with more than MaxOpen open critical
	// incidents: the index holds their newest MaxOpen only, so the gate
	// cannot decide for them. partial: the load stopped at maxIncidentRows
	// and may miss any tenant's.
	overflow map[string]bool
	partial  bool
	// storedOverflow names the tenants whose stored alerts' entries passed
	// the bound, with the alertGen then: a load that began before keeps them.
	storedOverflow map[string]uint64
	loaded         time.Time
}

// blind says why the index cannot tell whether an open critical incident
// names a vehicle or account of tenant, or "" when it can. The gate then
// answers 503 rather than allow a command it cannot judge.
func (idx *incidentIndex) blind(tenant string, maxOpen int) string {
	switch {
	case idx == nil:
		return ""
	case idx.partial:
		return fmt.Sprintf("the open critical incidents of all tenants are more than the gate reads (%d): it cannot see them all", maxIncidentRows(maxOpen))
	case idx.overflow[tenant] || idx.storedOverflow[tenant] != 0:
		return fmt.Sprintf("tenant %q has more than %d open critical incidents (gate.incidents.max_open): the gate cannot see them all", tenant, maxOpen)
	}
	return ""
}

// maxIncidentRows bounds the rows a load reads, whatever the tenants: a
// flood of incidents costs each load this much at most.
func maxIncidentRows(maxOpen int) int { return 10 * maxOpen }

// storedIncident is an incident named by a critical alert, with the
// alertGen that added it: a load that began before keeps it.
type storedIncident struct {
	openIncident
	gen uint64
}

// kickLoadEvery is how often, at most, stored critical alerts make the
// gate read their incidents.
const kickLoadEvery = 100 * time.Millisecond

// kicked is what the next kick loads: the incidents of the critical alerts
// stored since the last kick, or (all) every open incident again.
type kicked struct {
	ids map[string]bool
	all bool
}

// maxKicked bounds the incidents waiting for a kick: beyond, the gate
// reads every open incident instead.
const maxKicked = 4 * store.MaxQueryIDs

// add makes the next kick read the incident id (under incMu).
func (k *kicked) add(id string) {
	if len(k.ids) >= maxKicked {
		k.all = true
		return
	}
	if k.ids == nil {
		k.ids = map[string]bool{}
	}
	k.ids[id] = true
}

func (x *incidentIndex) find(tenant string, kind store.EntityKind, value string) (openIncident, bool) {
	if x == nil || value == "" {
		return openIncident{}, false
	}
	k := entityKey{tenant, kind, value}
	if s, ok := x.stored[k]; ok {
		return s.openIncident, true
	}
	o, ok := x.by[k]
	return o, ok
}

// install makes idx the index, keeping the stored alerts' entries a load
// that began at alertGen since could not have seen.
func (g *Gate) install(idx *incidentIndex, since uint64) {
	g.incMu.Lock()
	defer g.incMu.Unlock()
	if cur := g.incidents.Load(); cur != nil {
		for k, s := range cur.stored {
			if s.gen > since {
				if idx.stored == nil {
					idx.stored = map[entityKey]storedIncident{}
				}
				idx.stored[k] = s
			}
		}
		for tenant, gen := range cur.storedOverflow {
			if gen > since {
				if idx.storedOverflow == nil {
					idx.storedOverflow = map[string]uint64{}
				}
				idx.storedOverflow[tenant] = gen
			}
		}
	}
	g.incidents.Store(idx)
}

// changeIndex replaces the index with a copy that change edits and
// reports true for: next has its own stored map, edited in place; its
// other maps are shared and must be replaced, not edited.
func (g *Gate) changeIndex(change func(next *incidentIndex) bool) {
	g.incMu.Lock()
	defer g.incMu.Unlock()
	cur := g.incidents.Load()
	if cur == nil {
		return // the first load is still to come, and will read the store
	}
	next := *cur
	next.stored = maps.Clone(cur.stored)
	if next.stored == nil {
		next.stored = map[entityKey]storedIncident{}
	}
	if change(&next) {
		g.incidents.Store(&next)
	}
}

// loadIncidents reads every open critical incident, newest first.
func (g *Gate) loadIncidents(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	g.incMu.Lock()
	since := g.alertGen
	g.kicked = kicked{} // this load reads them all
	g.incMu.Unlock()
	idx := &incidentIndex{by: map[entityKey]openIncident{}}
	perTenant := map[string]int{}
	rows := 0
	q := store.IncidentQuery{MinSeverity: event.SeverityCritical, Statuses: []store.Status{store.StatusNew, store.StatusAcknowledged},
		Limit: store.MaxPageSize}
	for {
		page, err := g.o.Incidents.ListIncidents(ctx, store.AllTenants(), q)
		if err != nil {
			return err
		}
		for _, inc := range page.Incidents {
			if rows++; rows > maxIncidentRows(g.cfg.Incidents.MaxOpen) {
				idx.partial = true
				break
			}
			// One tenant's flood must not push another's incidents out.
			if perTenant[inc.Tenant] >= g.cfg.Incidents.MaxOpen {
				if idx.overflow == nil {
					idx.overflow = map[string]bool{}
				}
				idx.overflow[inc.Tenant] = true
				continue
			}
			perTenant[inc.Tenant]++
			idx.incidents++
			for _, e := range inc.Entities {
				if e.Kind != store.EntityVehicle && e.Kind != store.EntityAccount {
					continue
				}
				k := entityKey{inc.Tenant, e.Kind, e.Value}
				if _, seen := idx.by[k]; !seen { // the newest incident names it
					idx.by[k] = openIncident{ID: inc.ID, Status: inc.Status}
				}
			}
		}
		if page.Next == "" || idx.partial {
			break
		}
		q.Cursor = page.Next
	}
	idx.loaded = g.now()
	// Said when it changes, not at every reload.
	if cur := g.incidents.Load(); (idx.partial || len(idx.overflow) > 0) &&
		(cur == nil || cur.partial != idx.partial || !maps.Equal(cur.overflow, idx.overflow)) {
		g.log.Warn("gate: too many open critical incidents to see them all: commands of the tenants named are answered 503 until incidents are resolved or gate.incidents.max_open is raised",
			"max_open", g.cfg.Incidents.MaxOpen, "tenants", slices.Sorted(maps.Keys(idx.overflow)), "all_tenants", idx.partial)
	}
	g.install(idx, since)
	return nil
}

// AlertStored tells the gate an alert was stored (wire it to the
// processor's OnAlert, after its incident is stored too): a critical one's
// vehicles and account are denied commands at once, as its incident's,
// and the open incidents are reloaded soon.
func (g *Gate) AlertStored(a store.Alert) {
	if a.Severity < event.SeverityCritical {
		return
	}
	if a.Incident != "" && !a.Shadow {
		e := &a.Entities
		fresh := make(map[entityKey]openIncident, 2+min(len(e.Vehicles), alert.MaxIncidentVehicles))
		add := func(kind store.EntityKind, v string) {
			if v != "" {
				fresh[entityKey{a.Tenant, kind, v}] = openIncident{ID: a.Incident, Status: store.StatusNew}
			}
		}
		add(store.EntityVehicle, e.Vehicle)
		for _, v := range e.Vehicles[:min(len(e.Vehicles), alert.MaxIncidentVehicles)] {
			add(store.EntityVehicle, v)
		}
		add(store.EntityAccount, e.Account)
		g.changeIndex(func(next *incidentIndex) bool { return g.putStored(next, fresh) })
		g.incMu.Lock()
		g.kicked.add(a.Incident)
		g.incMu.Unlock()
	}
	select {
	case g.kick <- struct{}{}:
	default:
	}
}

// loadKicked reads what the stored critical alerts and erasures since the
// last kick call for: every open incident after an erasure or a storm,
// otherwise the alerts' incidents alone, whose vehicles and accounts join
// the index like a stored alert's own (a full load that began before keeps
// them; one that begins after is the store's word). An incident asked for
// and not found (resolved, no longer critical, erased) takes its entries
// out of the index, but those an alert stored since the read began. It
// reports whether it asked the store anything.
func (g *Gate) loadKicked(ctx context.Context) (bool, error) {
	g.incMu.Lock()
	k := g.kicked
	g.kicked = kicked{}
	before := g.alertGen
	g.incMu.Unlock()
	if k.all {
		return true, g.loadIncidents(ctx)
	}
	if len(k.ids) == 0 {
		return false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ids := slices.Sorted(maps.Keys(k.ids))
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), store.MaxQueryIDs)]
		page, err := g.o.Incidents.ListIncidents(ctx, store.AllTenants(), store.IncidentQuery{IDs: chunk,
			MinSeverity: event.SeverityCritical, Statuses: []store.Status{store.StatusNew, store.StatusAcknowledged}, Limit: len(chunk)})
		if err != nil {
			g.incMu.Lock()
			for _, id := range ids { // asked again at the next kick, or by the next full load
				g.kicked.add(id)
			}
			g.incMu.Unlock()
			return true, err
		}
		ids = ids[len(chunk):]
		g.applyKicked(chunk, page.Incidents, before)
	}
	return true, nil
}

// applyKicked puts into the index what a read of the incidents asked found
// (see loadKicked).
func (g *Gate) applyKicked(asked []string, found []store.Incident, before uint64) {
	fresh := map[entityKey]openIncident{}
	got := make(map[string]bool, len(found))
	for _, inc := range found {
		got[inc.ID] = true
		for _, e := range inc.Entities {
			if e.Kind == store.EntityVehicle || e.Kind == store.EntityAccount {
				fresh[entityKey{inc.Tenant, e.Kind, e.Value}] = openIncident{ID: inc.ID, Status: inc.Status}
			}
		}
	}
	gone := map[string]bool{}
	for _, id := range asked {
		if !got[id] {
			gone[id] = true
		}
	}
	g.changeIndex(func(next *incidentIndex) bool {
		changed := false
		if len(gone) > 0 {
			for k, s := range next.stored {
				if s.gen <= before && gone[s.ID] {
					delete(next.stored, k)
					changed = true
				}
			}
		}
		return g.putStored(next, fresh) || changed
	})
}

// putStored adds fresh to the stored entries of next under a new alertGen
// (under incMu, from changeIndex), and reports whether it changed next.
// Each tenant's stored incidents are bounded like its loaded ones
// (max_open incidents, whatever the entities each names). A tenant past
// the bound gets none of its fresh entries and is marked blind (503) until
// a full load that began after this reads its incidents.
func (g *Gate) putStored(next *incidentIndex, fresh map[entityKey]openIncident) bool {
	if len(fresh) == 0 {
		return false
	}
	ids := map[string]map[string]bool{} // tenant → incidents stored or fresh
	for k, o := range fresh {
		if ids[k.tenant] == nil {
			ids[k.tenant] = map[string]bool{}
		}
		ids[k.tenant][o.ID] = true
	}
	for k, s := range next.stored {
		if t := ids[k.tenant]; t != nil {
			t[s.ID] = true
		}
	}
	over := map[string]bool{}
	for tenant, t := range ids {
		if len(t) > g.cfg.Incidents.MaxOpen {
			over[tenant] = true
		}
	}
	g.alertGen++
	changed := false
	for k, o := range fresh {
		if !over[k.tenant] {
			next.stored[k] = storedIncident{o, g.alertGen}
			changed = true
		}
	}
	if len(over) > 0 {
		blind := maps.Clone(next.storedOverflow)
		if blind == nil {
			blind = map[string]uint64{}
		}
		for tenant := range over {
			blind[tenant] = g.alertGen
		}
		next.storedOverflow = blind
		changed = true
	}
	return changed
}

// refreshIncidents reloads the index until ctx ends.
func (g *Gate) refreshIncidents(ctx context.Context) {
	t := time.NewTicker(g.cfg.Incidents.Refresh)
	defer t.Stop()
	failing := false
	var last time.Time // when the last kicked load began
	for {
		var err error
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			err = g.loadIncidents(ctx)
		case <-g.kick:
			// Stored alerts took effect already (AlertStored): read
			// their incidents at most every kickLoadEvery.
			if wait := kickLoadEvery - time.Since(last); wait > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(wait):
				}
			}
			last = time.Now()
			var asked bool
			if asked, err = g.loadKicked(ctx); !asked {
				continue // a kick with nothing to read: no news of the store
			}
		}
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil:
			g.metrics.incidentErrors.Add(1)
			if !failing {
				g.log.Error("gate: reloading the open critical incidents failed; deciding with the last ones loaded", "err", err)
			}
			failing = true
		case failing:
			g.log.Info("gate: the open critical incidents load again")
			failing = false
		}
	}
}
