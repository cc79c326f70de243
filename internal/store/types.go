package store

import (
	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/event"
)

// ArchivedEvent is one event as the archive keeps it: the columns timeline
// queries filter on, and the event's JSON.
type ArchivedEvent struct {
	Seq      int64  // assigned by the store on insert, increasing in commit order
	Tenant   string // with Source and ID the idempotency key
	Source   string
	ID       string
	Type     string // e.g. "vehicle.command"
	Time     int64  // event time, Unix ns
	Subject  string // the vehicle, "" when none
	Account  string // the actor's account, device, IP and API client, "" when none
	Device   string
	IP       string
	ClientID string
	Raw      []byte // the event's JSON (canonical re-encoding is fine)
	Arrived  int64  // wall-clock arrival, Unix ns
	// RawErr, on an event read from the archive, says why its JSON could
	// not be read back (a damaged row); Raw is nil then. The rest of the
	// row is intact, and one such row does not fail the others' read.
	RawErr error
}

// Ref returns the event's (source, id).
func (e *ArchivedEvent) Ref() event.Ref { return event.Ref{Source: e.Source, ID: e.ID} }

// Inserted is the outcome of one event of an InsertEvents batch.
type Inserted struct {
	Seq       int64 // the new event's sequence number; 0 for a duplicate
	Duplicate bool  // an event with the same (tenant, source, id) was already archived
}

// EntityKind names what an entity is.
type EntityKind string

// The entity kinds. Events are indexed by the first five; alerts and
// incidents by all of them.
const (
	EntityVehicle EntityKind = "vehicle"
	EntityAccount EntityKind = "account"
	EntityDevice  EntityKind = "device"
	EntityIP      EntityKind = "ip"
	EntityClient  EntityKind = "client"
	EntityMSISDN  EntityKind = "msisdn"
)

// EntityKinds lists every kind, in a fixed order.
func EntityKinds() []EntityKind {
	return []EntityKind{EntityVehicle, EntityAccount, EntityDevice, EntityIP, EntityClient, EntityMSISDN}
}

// Valid reports whether k is one of the kinds above.
func (k EntityKind) Valid() bool {
	switch k {
	case EntityVehicle, EntityAccount, EntityDevice, EntityIP, EntityClient, EntityMSISDN:
		return true
	}
	return false
}

// Entity is one vehicle, account, device, IP, API client or MSISDN.
type Entity struct {
	Kind  EntityKind `json:"kind"`
	Value string     `json:"value"`
}

// Order of a page.
type Order uint8

const (
	NewestFirst Order = iota // the default
	OldestFirst
)

// EventQuery selects a timeline: the events of one entity (or, with no
// entity, of the scope) in a time range.
type EventQuery struct {
	Tenant   string     // optional: only this tenant (must be in scope)
	Kind     EntityKind // optional with Value: vehicle (the subject), account, device, ip or client
	Value    string
	Types    []string // optional: only these event types
	From, To int64    // event time range [From, To), Unix ns; 0 means unbounded
	Order    Order
	Limit    int    // page size: ≤ 0 means DefaultPageSize, at most MaxPageSize
	Cursor   string // from the previous page's Next; "" for the first page
}

// EventPage is one page of events.
type EventPage struct {
	Events []ArchivedEvent
	// Next is the cursor of the following page, "" when this is the last.
	// Cursors are opaque and stable under inserts: a page never repeats or
	// skips an event that was there when the first page was read.
	Next string
}

// Checkpoint is the processor's state at a point of the archive.
type Checkpoint struct {
	Name     string // the processor (or partition); "" is the single-node engine
	Seq      int64  // the last archived sequence number the snapshot covers
	Snapshot []byte // the engine's twin snapshot, opaque to the store
	Saved    int64  // wall-clock time it was saved, Unix ns (set by the store)
}

// Status is where an alert or an incident stands in the analysts' work.
type Status uint8

const (
	StatusUnset Status = iota // "no change" in AlertChange and IncidentChange
	StatusNew
	StatusAcknowledged
	StatusResolved
	StatusFalsePositive
)

var statusNames = [...]string{"", "new", "acknowledged", "resolved", "false_positive"}

func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return ""
}

// ParseStatus parses "new", "acknowledged", "resolved" or "false_positive".
func ParseStatus(s string) (Status, bool) {
	for i := 1; i < len(statusNames); i++ {
		if statusNames[i] == s {
			return Status(i), true
		}
	}
	return StatusUnset, false
}

// Alert is an alert as stored: the detection and the analysts' state.
type Alert struct {
	alert.Alert
	Status   Status
	Assignee string
	Created  int64 // wall-clock time of the first upsert, Unix ns
	Updated  int64 // wall-clock time of the last change, Unix ns
	// Seq is the delivery sequence number, set when the alert is first
	// stored and kept by later upserts: sinks follow alerts in this order
	// (Alerts.AlertsAfter).
	Seq int64
}

// AlertQuery filters alerts. Zero fields do not filter.
type AlertQuery struct {
	Tenant      string
	Category    alert.Category
	MinSeverity event.Severity
	Statuses    []Status // any of these
	Detector    string
	Entity      Entity // Value set: alerts naming it (as any kind when Kind is "")
	From, To    int64  // alert time range [From, To), Unix ns
	Shadow      ShadowFilter
	Order       Order // by alert time
	Limit       int
	Cursor      string
}

// ShadowFilter selects alerts by their shadow mark (alert.Alert.Shadow).
type ShadowFilter uint8

const (
	ShadowAny     ShadowFilter = iota // raised and shadow alerts (the zero value)
	ShadowExclude                     // raised alerts only: the alert queue
	ShadowOnly                        // shadow alerts only
)

// AlertPage is one page of alerts.
type AlertPage struct {
	Alerts []Alert
	Next   string
}

// AlertChange is an analyst's change to an alert.
type AlertChange struct {
	ID       string
	Status   Status  // StatusUnset: unchanged
	Assignee *string // nil: unchanged; "" unassigns
	// Audit, when set, is appended to the audit log in the same
	// transaction as the change.
	Audit *AuditEntry
}

// EvidenceItem is one evidence ref of an alert and its archived event.
type EvidenceItem struct {
	Ref   event.Ref
	Event *ArchivedEvent // nil when the event is not archived (or pruned)
}

// Incident groups alerts about the same entities.
type Incident struct {
	ID         string
	Tenant     string
	FirstSeen  int64 // event time, Unix ns
	LastSeen   int64
	Severity   event.Severity
	Categories []alert.Category // in contract order
	// AlertIDs: on upsert, alert ids to add to the incident. ListIncidents
	// leaves it nil; GetIncident fills IncidentDetail.Alerts instead.
	AlertIDs []string
	Entities []Entity // sorted by kind, then value
	// Read-only: set by the store.
	AlertCount int
	Status     Status
	Assignee   string
	Created    int64
	Updated    int64
}

// IncidentDetail is an incident with its alerts and history.
type IncidentDetail struct {
	Incident
	Alerts  []Alert        // oldest first, at most MaxIncidentAlerts
	History []HistoryEntry // oldest first
}

// HistoryEntry is one change to an incident.
type HistoryEntry struct {
	Time   int64  // wall-clock, Unix ns
	Actor  string // who; "vigil" for the engine
	Action string // "created", "status", "assignee" or "comment"
	Old    string // the previous value (status, assignee)
	New    string // the new value, or the comment's text
}

// IncidentQuery filters incidents. Zero fields do not filter. Pages are in
// the order the store first saw the incidents (the new incidents of one
// UpsertIncidents call in id order), newest first by default.
type IncidentQuery struct {
	// IDs, when not nil, keeps these incidents only (at most
	// MaxQueryIDs; an empty list keeps none).
	IDs         []string
	Tenant      string
	Category    alert.Category
	MinSeverity event.Severity
	Statuses    []Status
	Assignee    *string // nil: any; "" unassigned
	Entity      Entity
	From, To    int64 // incidents active in [From, To): LastSeen ≥ From and FirstSeen < To
	Order       Order
	Limit       int
	Cursor      string
}

// IncidentPage is one page of incidents.
type IncidentPage struct {
	Incidents []Incident
	Next      string
}

// IncidentChange is an analyst's change to an incident.
type IncidentChange struct {
	ID       string
	Actor    string // recorded in the history; required
	Status   Status
	Assignee *string
	Comment  string
	Audit    *AuditEntry
}

// AuditEntry is one entry of the audit log.
type AuditEntry struct {
	Seq    int64  // position in the chain, from 1 (set by the store)
	Time   int64  // Unix ns; 0 means now
	Actor  string // who: a user, a key id, "vigil"
	Action string // e.g. "incident.update", "auth.sign_in"
	Tenant string // "" for platform-wide actions
	Target string // what it acted on, e.g. an incident id
	Detail []byte // a JSON object or nil; stored and hashed byte for byte
	// Set by the store: the previous entry's hash (zeros for the first)
	// and this entry's hash (see AuditHash).
	PrevHash []byte
	Hash     []byte
}

// AuditQuery selects entries to export.
type AuditQuery struct {
	Tenant   string // optional
	AfterSeq int64
	Limit    int // ≤ 0 means DefaultPageSize, at most MaxAuditExport
}

// AuditReport is the result of walking the chain.
type AuditReport struct {
	Entries int64  // entries checked
	LastSeq int64  // sequence number of the last entry
	Head    []byte // hash of the last entry: anchor it outside vigil to detect truncation
	Broken  *AuditBreak
}

// AuditBreak names the first entry that does not verify.
type AuditBreak struct {
	Seq    int64
	Reason string
}

// ConfigEntry is one key of a tenant's configuration.
type ConfigEntry struct {
	Tenant  string // "" is the platform's own
	Key     string
	Value   []byte
	Version int64 // 1 on creation, +1 on each put
	Updated int64 // wall-clock, Unix ns
}

// ConfigChange is a put or a delete.
type ConfigChange struct {
	Tenant string
	Key    string
	Value  []byte
	// IfVersion guards the change: 0 applies it whatever is stored,
	// MustNotExist only when the key is absent, n > 0 only when the stored
	// version is n. A failed guard is ErrConflict.
	IfVersion int64
	Audit     *AuditEntry
}

// MustNotExist is the IfVersion of a put that only creates.
const MustNotExist int64 = -1

// Erasure counts what EraseSubject deleted.
type Erasure struct {
	Events    int64
	Alerts    int64
	Incidents int64
}
