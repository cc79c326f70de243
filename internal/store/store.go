// Package store is vigil's persistence contract: the event archive with
// durable, idempotent ingest, the processor's checkpoints, alerts,
// incidents, evidence, the tamper-evident audit log, retention and erasure,
// and small configuration blobs.
//
// Two implementations pass one conformance suite (storetest): store/sqlite,
// the embedded default, and store/postgres, the shared store of a cluster.
//
// Tenant isolation is enforced here, not only in handlers: every method that
// reads or changes tenant data takes a Scope, and the SQL filters on it. An
// object of a tenant outside the scope is reported as not found, exactly as
// an object that does not exist; naming such a tenant explicitly (in a query
// or in an object to write) is ErrForbidden.
package store

import (
	"context"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/event"
)

// Store is everything vigil keeps. Implementations are safe for concurrent
// use. Callers that need only a part declare the smaller interface they use
// (Events, Alerts, …); Store is what the app wires.
type Store interface {
	Events
	Checkpoints
	Alerts
	Incidents
	Audit
	Config
	Retention

	// Ping reports whether the store can serve requests (readiness).
	Ping(ctx context.Context) error
	// Close flushes pending writes, waits for them and releases the
	// database. Calls after Close fail with ErrClosed.
	Close() error
}

// Events is the event archive.
type Events interface {
	// InsertEvents stores a batch in one transaction and reports, for each
	// event in order, its sequence number or that it duplicates an event
	// already archived (same tenant, source and id: the idempotency key).
	// When it returns nil, the batch is durable (see the implementation's
	// durability notes): ingest acknowledges only then. On error nothing of
	// the batch is stored. Concurrent callers' batches may share one
	// transaction (group commit). Every event's tenant must be in scope.
	InsertEvents(ctx context.Context, scope Scope, events []ArchivedEvent) ([]Inserted, error)
	// ReadEvents returns up to limit events (≤ 0: DefaultPageSize, at most
	// MaxReadBatch) with a sequence number above afterSeq, in sequence
	// order: the processor follows the archive with it and resumes with it
	// after a restart. Sequence numbers increase in commit order, so a
	// reader never sees seq n+1 before seq n has committed, and are never
	// reused, even after the newest events are deleted.
	ReadEvents(ctx context.Context, scope Scope, afterSeq int64, limit int) ([]ArchivedEvent, error)
	// SearchEvents returns one page of a timeline or search.
	SearchEvents(ctx context.Context, scope Scope, q EventQuery) (EventPage, error)
	// GetEvent returns one archived event by its idempotency key.
	GetEvent(ctx context.Context, scope Scope, tenant string, ref event.Ref) (ArchivedEvent, error)
}

// Checkpoints keep the processor's state: the engine's twin snapshot and the
// sequence number it covers, written atomically. They are the engine's own
// state across all tenants, so they take no scope; never expose them to a
// tenant-scoped caller.
type Checkpoints interface {
	// Checkpoint replaces the checkpoint named c.Name.
	Checkpoint(ctx context.Context, c Checkpoint) error
	// LoadCheckpoint returns the checkpoint called name, ErrNotFound when
	// none was saved.
	LoadCheckpoint(ctx context.Context, name string) (Checkpoint, error)
}

// Alerts stores alerts, their analyst status and their evidence.
type Alerts interface {
	// UpsertAlerts stores alerts by id in one transaction. A re-delivered
	// alert (same id) updates the detection fields and never duplicates;
	// status, assignee and creation time stay as they are. created[i]
	// reports whether alerts[i] was new. An id that exists in another
	// tenant is ErrConflict.
	UpsertAlerts(ctx context.Context, scope Scope, alerts []*alert.Alert) (created []bool, err error)
	// GetAlert returns one alert.
	GetAlert(ctx context.Context, scope Scope, id string) (Alert, error)
	// ListAlerts returns one page of alerts matching q.
	ListAlerts(ctx context.Context, scope Scope, q AlertQuery) (AlertPage, error)
	// UpdateAlert changes an alert's status or assignee, and appends
	// c.Audit (when set) in the same transaction.
	UpdateAlert(ctx context.Context, scope Scope, c AlertChange) (Alert, error)
	// Evidence resolves the alert's evidence refs to archived events of the
	// alert's tenant, in the alert's order. A ref whose event is not (or no
	// longer) archived has a nil Event.
	Evidence(ctx context.Context, scope Scope, alertID string) ([]EvidenceItem, error)
	// AlertsAfter returns up to limit alerts (≤ 0: DefaultPageSize, at most
	// MaxPageSize) whose delivery sequence number (Alert.Seq) is above
	// afterSeq, in sequence order: sinks follow the alerts with it. An
	// alert is numbered when it is first stored, new alerts of one
	// UpsertAlerts call in the caller's order; an upsert of a stored alert
	// keeps its number. Numbers increase in commit order, so a follower
	// never sees n+1 before n has committed, and are never reused, even
	// after alerts are erased. The sequence spans every tenant: it needs
	// the all-tenants scope (ErrForbidden otherwise).
	AlertsAfter(ctx context.Context, scope Scope, afterSeq int64, limit int) ([]Alert, error)
	// LatestAlertSeq returns the highest delivery sequence number handed
	// out so far (0: none), erased alerts included. All-tenants scope only.
	LatestAlertSeq(ctx context.Context, scope Scope) (int64, error)
}

// Incidents stores incidents, their alerts and their history.
type Incidents interface {
	// UpsertIncidents merges incidents from the alert manager by id:
	// alert ids, entities and categories are added to the stored sets,
	// the time span widens, severity only rises. Merging is idempotent
	// and order-independent. created[i] reports whether incs[i] was new.
	UpsertIncidents(ctx context.Context, scope Scope, incs []Incident) (created []bool, err error)
	// StoreDetections is UpsertAlerts and then UpsertIncidents in one
	// transaction: the alert manager's output lands whole or not at all,
	// in one commit instead of two. created reports new alerts. An alert
	// keeps the incident it was first stored with: an incident entry is
	// not linked to an alert stored before under another incident, and an
	// entry left naming no alert is not written, before the entries of one
	// id are merged (after a restart, detection raises alerts again and
	// may group them under other incident ids).
	StoreDetections(ctx context.Context, scope Scope, alerts []*alert.Alert, incs []Incident) (created []bool, err error)
	// GetIncident returns an incident with its alerts and history.
	GetIncident(ctx context.Context, scope Scope, id string) (IncidentDetail, error)
	// ListIncidents returns one page of incidents matching q.
	ListIncidents(ctx context.Context, scope Scope, q IncidentQuery) (IncidentPage, error)
	// UpdateIncident changes status or assignee or adds a comment; each
	// change is recorded in the incident's history (who, when, what), and
	// c.Audit (when set) is appended in the same transaction.
	UpdateIncident(ctx context.Context, scope Scope, c IncidentChange) (IncidentDetail, error)
}

// Audit is the append-only, hash-chained audit log. Nothing in this
// interface, or anywhere in the store, updates or deletes an entry.
type Audit interface {
	// AppendAudit appends one entry and returns it with its sequence
	// number and hashes.
	AppendAudit(ctx context.Context, scope Scope, e AuditEntry) (AuditEntry, error)
	// ExportAudit returns entries in chain order after q.AfterSeq.
	ExportAudit(ctx context.Context, scope Scope, q AuditQuery) ([]AuditEntry, error)
	// VerifyAudit walks the whole chain and reports the first broken entry.
	// The chain spans all tenants, so it needs the platform scope.
	VerifyAudit(ctx context.Context, scope Scope) (AuditReport, error)
}

// Config is a small key/value table for runtime configuration and
// suppressions, per tenant ("" is the platform's own).
type Config interface {
	PutConfig(ctx context.Context, scope Scope, c ConfigChange) (ConfigEntry, error)
	// PutConfigs applies up to MaxConfigBatch puts in one transaction, all
	// or none: one durable commit for many small entries (the privacy
	// vault's new pseudonyms). Each change is guarded by its IfVersion as
	// in PutConfig; a failed guard is ErrConflict naming the key, and then
	// nothing is written. A key twice in one batch is ErrInvalid. The
	// entries are returned in the order of the changes.
	PutConfigs(ctx context.Context, scope Scope, changes []ConfigChange) ([]ConfigEntry, error)
	GetConfig(ctx context.Context, scope Scope, tenant, key string) (ConfigEntry, error)
	// ListConfig returns the tenant's entries whose key starts with prefix,
	// in key order, at most MaxConfigList.
	ListConfig(ctx context.Context, scope Scope, tenant, prefix string) ([]ConfigEntry, error)
	DeleteConfig(ctx context.Context, scope Scope, c ConfigChange) error
}

// Retention deletes what vigil may no longer keep.
type Retention interface {
	// PruneEvents deletes the tenant's archived events whose event time is
	// before the cutoff (Unix ns), in bounded batches (one transaction
	// each, so ingest is never blocked for long), and returns how many it
	// deleted. It stops early, with ctx's error, when ctx ends.
	PruneEvents(ctx context.Context, scope Scope, tenant string, before int64) (int64, error)
	// EraseSubject deletes every archived event, alert and incident of the
	// tenant naming the subject, in bounded batches, and returns counts.
	// Events are found through their indexed columns (subject, account,
	// device, ip, client_id): a value that appears only elsewhere in an
	// event's JSON (api.access vehicles, account.change vehicle) is not
	// found. Incidents that only contained an erased alert lose it. The
	// audit log is not touched (it holds actions, not events).
	EraseSubject(ctx context.Context, scope Scope, tenant string, subject Entity) (Erasure, error)
}
