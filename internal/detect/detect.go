// Package detect defines what a built-in detector is and what it may do.
// Detectors live in one package per family (detect/command, detect/telemetry,
// detect/credential, ...); the engine calls them from the goroutine that owns
// the key, with that key's state.
package detect

import (
	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/twin"
)

// Kind is what a piece of keyed state is about.
type Kind uint8

const (
	KindVehicle  Kind = iota // the event's subject
	KindAccount              // the account acted on or acting
	KindIP                   // the actor's IP address
	KindClient               // the actor's API client id
	KindDevice               // the actor's device (phone)
	KindTenant               // the whole tenant: only the engine's TypeTenantStats events
	KindSubnet               // the actor IP's network: /24 for IPv4, /48 for IPv6
	KindArtifact             // what many vehicles can share: an IDS event (ecu/event_id), a firmware image (sha256), an SMS originator
	NumKinds
)

var kindNames = [...]string{"vehicle", "account", "ip", "client", "device", "tenant", "subnet", "artifact"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Subscription says which events a detector wants, keyed by what.
type Subscription struct {
	Kind  Kind
	Types []event.Type
}

// Info describes a detector.
type Info struct {
	ID          string // e.g. "cmd.orphan-state-change"
	Category    alert.Category
	Title       string
	Description string
	Subscribe   []Subscription
}

// State is the keyed state an event or timer is handled with: Vehicle for
// KindVehicle, Principal for the others (KindTenant included).
type State struct {
	Vehicle   *twin.Vehicle
	Principal *twin.Principal
}

// Detector is a built-in detector. OnEvent runs before the event is folded
// into the twin, so it sees the state the event found. OnTimer runs when the
// tenant's event-time frontier passes a deadline the detector asked for with
// Context.After, i.e. when no event at or before the deadline can still
// arrive in time.
type Detector interface {
	Info() Info
	OnEvent(c *Context, s State, ev *event.Event)
	OnTimer(c *Context, s State, deadline int64)
}

// Context is what a detector may see and do while handling one event or timer.
type Context struct {
	Tenant   string
	Key      string // the key's value: vehicle id, account, IP, ...
	Kind     Kind
	Frontier int64 // the tenant's event-time frontier
	// TenantSince is the tenant's earliest event time the engine has seen
	// (in input order, whatever the shard): learning periods start there.
	TenantSince int64

	// Local is this detector's state for this shard, made by
	// ShardLocal.NewShardState; nil for detectors without it.
	Local any

	// Set by the engine.
	Info         *Info
	Arrived      int64 // arrival stamp of the event being handled (or that fired the timer)
	EmitFunc     func(*alert.Alert)
	ScheduleFunc func(deadline int64)
}

// ShardLocal is implemented by detectors that keep state of their own
// beyond the twin and principal state (rule correlations, fleet-wide
// counts). A detector value is shared by every shard, so it must not hold
// mutable state itself: the engine calls NewShardState once per shard and
// hands the result back in Context.Local, always on that shard's goroutine.
type ShardLocal interface {
	NewShardState() any
}

// After asks for OnTimer once the frontier passes deadline.
func (c *Context) After(deadline int64) { c.ScheduleFunc(deadline) }

// Emit completes an alert with what the context knows (tenant, detector,
// category, mappings, a stable id) and hands it to the alert manager.
func (c *Context) Emit(a *alert.Alert) {
	a.Tenant = c.Tenant
	if a.Detector == "" {
		a.Detector = c.Info.ID
	}
	if a.Category == alert.CategoryUnset {
		a.Category = c.Info.Category
	}
	if a.Mappings.R155 == nil {
		a.Mappings = alert.DefaultMappings(a.Category)
	}
	if a.Title == "" {
		a.Title = c.Info.Title
	}
	var first event.Ref
	if len(a.Evidence) > 0 {
		first = a.Evidence[0]
	}
	if a.ID == "" {
		a.ID = alert.MakeID(a.Detector, c.Tenant, c.Kind.String()+":"+c.Key, first)
	}
	if a.FirstSeen == 0 {
		a.FirstSeen = a.Time
	}
	if a.LastSeen == 0 {
		a.LastSeen = a.Time
	}
	if a.LastSeen < a.FirstSeen {
		// Evidence that arrived out of order: the span is still first to last.
		a.FirstSeen, a.LastSeen = a.LastSeen, a.FirstSeen
	}
	a.TriggerArrived = c.Arrived
	c.EmitFunc(a)
}
