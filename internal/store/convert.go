package store

import (
	"slices"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/event"
)

// ArchiveEvent builds the archive row of a decoded event. raw is the event's
// JSON as received; nil re-encodes it (event.AppendJSON). arrived is the
// wall-clock arrival time, Unix ns. The actor columns hold the event's
// principal; for an account.change without an actor account, the account
// that changed.
func ArchiveEvent(e *event.Event, raw []byte, arrived int64) ArchivedEvent {
	if raw == nil {
		raw = event.AppendJSON(nil, e)
	}
	tenant := e.Tenant
	if tenant == "" {
		tenant = event.DefaultTenant
	}
	a := ArchivedEvent{
		Tenant:  tenant,
		Source:  e.Source,
		ID:      e.ID,
		Type:    e.Type.String(),
		Time:    e.Time,
		Subject: e.Subject,
		Raw:     raw,
		Arrived: arrived,
	}
	if act := e.Actor(); act != nil {
		a.Account, a.Device, a.IP, a.ClientID = act.Account, act.Device, act.IP, act.ClientID
	}
	if e.AccountChange != nil && a.Account == "" {
		a.Account = e.AccountChange.Account
	}
	return a
}

// AlertEntities lists the entities an alert names, in EntityKinds order,
// without repeats.
func AlertEntities(a *alert.Alert) []Entity {
	e := &a.Entities
	out := make([]Entity, 0, 4+len(e.Vehicles))
	add := func(k EntityKind, v string) {
		if v != "" && !slices.Contains(out, Entity{k, v}) {
			out = append(out, Entity{k, v})
		}
	}
	add(EntityVehicle, e.Vehicle)
	for _, v := range e.Vehicles {
		add(EntityVehicle, v)
	}
	add(EntityAccount, e.Account)
	add(EntityDevice, e.Device)
	add(EntityIP, e.IP)
	add(EntityClient, e.ClientID)
	add(EntityMSISDN, e.MSISDN)
	return out
}

// IncidentUpsert is the upsert that records alert a joining incident inc,
// as the alert manager reports them (alert.ManagerOptions.Out).
func IncidentUpsert(inc *alert.Incident, a *alert.Alert) Incident {
	return Incident{
		ID:         inc.ID,
		Tenant:     inc.Tenant,
		FirstSeen:  inc.FirstSeen,
		LastSeen:   inc.LastSeen,
		Severity:   inc.Severity,
		Categories: slices.Clone(inc.Categories),
		AlertIDs:   []string{a.ID},
		Entities:   AlertEntities(a),
	}
}

// CategoryMask packs categories into a bit set (bit c for category c).
func CategoryMask(cs []alert.Category) int64 {
	var m int64
	for _, c := range cs {
		if c > alert.CategoryUnset && c < 63 {
			m |= 1 << c
		}
	}
	return m
}

// CategoriesOf unpacks a CategoryMask in contract order.
func CategoriesOf(m int64) []alert.Category {
	var out []alert.Category
	for _, c := range alert.Categories() {
		if m&(1<<c) != 0 {
			out = append(out, c)
		}
	}
	return out
}
