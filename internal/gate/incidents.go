package gate

import (
	"context"
	"time"

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
// it reloads them every Incidents.Refresh, and right away after a critical
// alert is stored (AlertStored). A decision reads an immutable index.

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
	by        map[entityKey]openIncident
	incidents int
	truncated bool // more than MaxOpen open critical incidents
	loaded    time.Time
}

func (x *incidentIndex) find(tenant string, kind store.EntityKind, value string) (openIncident, bool) {
	if x == nil || value == "" {
		return openIncident{}, false
	}
	o, ok := x.by[entityKey{tenant, kind, value}]
	return o, ok
}

// loadIncidents reads every open critical incident, newest first.
func (g *Gate) loadIncidents(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	idx := &incidentIndex{by: map[entityKey]openIncident{}}
	q := store.IncidentQuery{MinSeverity: event.SeverityCritical, Statuses: []store.Status{store.StatusNew, store.StatusAcknowledged},
		Limit: store.MaxPageSize}
	for {
		page, err := g.o.Incidents.ListIncidents(ctx, store.AllTenants(), q)
		if err != nil {
			return err
		}
		for _, inc := range page.Incidents {
			if idx.incidents >= g.cfg.Incidents.MaxOpen {
				idx.truncated = true
				break
			}
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
		if page.Next == "" || idx.truncated {
			break
		}
		q.Cursor = page.Next
	}
	idx.loaded = g.now()
	g.incidents.Store(idx)
	return nil
}

// AlertStored tells the gate an alert was stored (wire it to the
// processor's OnAlert): a critical one makes the gate reload the open
// incidents now instead of at the next refresh.
func (g *Gate) AlertStored(a store.Alert) {
	if a.Severity < event.SeverityCritical {
		return
	}
	select {
	case g.kick <- struct{}{}:
	default:
	}
}

// refreshIncidents reloads the index until ctx ends.
func (g *Gate) refreshIncidents(ctx context.Context) {
	t := time.NewTicker(g.cfg.Incidents.Refresh)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-g.kick:
			// Let the alert writer store the incident too (it stores
			// alerts first, then their incidents, in one batch).
			select {
			case <-ctx.Done():
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
		err := g.loadIncidents(ctx)
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
