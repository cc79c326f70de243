package store

import (
	"encoding/json"
	"strings"
	"unicode/utf8"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/event"
)

// Limits of the store. Inputs beyond them are ErrInvalid; page sizes beyond
// them are reduced.
const (
	MaxTenantLen      = 64       // as the ingest contract: 1–64 of A-Z a-z 0-9 . _ -
	MaxAttrLen        = 256      // event source, id, subject; alert and incident ids
	MaxTypeLen        = 64       // event type, entity kind
	MaxValueLen       = 1024     // actor fields, entity values, names, detector ids
	MaxTextLen        = 64 << 10 // alert title and explanation, comments
	MaxEventBytes     = 1 << 20  // one event's JSON
	MaxInsertBatch    = 10_000   // events per InsertEvents call
	MaxReadBatch      = 10_000   // events per ReadEvents call
	DefaultPageSize   = 100
	MaxPageSize       = 1000
	MaxQueryTypes     = 32   // EventQuery.Types
	MaxQueryIDs       = 256  // IncidentQuery.IDs
	MaxUpsertBatch    = 1000 // alerts or incidents per upsert call
	MaxEvidence       = 1000 // evidence refs of one alert
	MaxEntities       = 1000 // entities of one alert or incident upsert
	MaxIncidentAlerts = 1000 // alert ids per incident upsert; alerts returned by GetIncident
	MaxSnapshotBytes  = 512 << 20
	MaxAuditDetail    = 64 << 10
	MaxAuditExport    = 10_000
	MaxConfigKeyLen   = 256
	MaxConfigValue    = 1 << 20
	MaxConfigList     = 1000
	MaxConfigBatch    = 1000 // changes of one PutConfigs call
	// DeleteBatch is how many rows one retention or erasure transaction
	// deletes at most.
	DeleteBatch = 5000
)

// ValidTenant reports whether t is a tenant name of the ingest contract.
func ValidTenant(t string) bool {
	if len(t) == 0 || len(t) > MaxTenantLen {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// checker collects the first violation of a validation.
type checker struct {
	what string // "event 3 (tsp/x, e-1)"
	err  error
}

func (c *checker) fail(field, format string, args ...any) {
	if c.err == nil {
		c.err = Errorf(ErrInvalid, "%s: %s: "+format, append([]any{c.what, field}, args...)...)
	}
}

func (c *checker) str(field, v string, max int, required bool) {
	switch {
	case v == "" && required:
		c.fail(field, "required")
	case len(v) > max:
		c.fail(field, "longer than %d bytes", max)
	case !utf8.ValidString(v):
		c.fail(field, "not valid UTF-8")
	case strings.IndexByte(v, 0) >= 0:
		c.fail(field, "contains a NUL byte")
	}
}

func (c *checker) tenant(v string) {
	if !ValidTenant(v) {
		c.fail("tenant", "%q: want 1 to %d of A-Z a-z 0-9 . _ -", clip(v), MaxTenantLen)
	}
}

// Validate checks an event against the store's rules and limits.
func (e *ArchivedEvent) Validate() error {
	c := checker{what: "event (" + clip(e.Source) + ", " + clip(e.ID) + ")"}
	c.tenant(e.Tenant)
	c.str("source", e.Source, MaxAttrLen, true)
	c.str("id", e.ID, MaxAttrLen, true)
	c.str("type", e.Type, MaxTypeLen, true)
	c.str("subject", e.Subject, MaxAttrLen, false)
	c.str("account", e.Account, MaxValueLen, false)
	c.str("device", e.Device, MaxValueLen, false)
	c.str("ip", e.IP, MaxValueLen, false)
	c.str("client_id", e.ClientID, MaxValueLen, false)
	switch {
	case len(e.Raw) == 0:
		c.fail("raw", "required")
	case len(e.Raw) > MaxEventBytes:
		c.fail("raw", "%d bytes, more than %d", len(e.Raw), MaxEventBytes)
	}
	return c.err
}

// ValidateAlert checks an alert against the store's rules and limits.
func ValidateAlert(a *alert.Alert) error {
	if a == nil {
		return Errorf(ErrInvalid, "alert: nil")
	}
	c := checker{what: "alert " + quote(a.ID)}
	c.str("id", a.ID, MaxAttrLen, true)
	c.tenant(a.Tenant)
	if a.Category.String() == "" {
		c.fail("category", "unknown category %d", a.Category)
	}
	if a.Severity.String() == "" {
		c.fail("severity", "unknown severity %d", a.Severity)
	}
	c.str("detector", a.Detector, MaxValueLen, true)
	c.str("title", a.Title, MaxTextLen, false)
	c.str("explanation", a.Explanation, MaxTextLen, false)
	c.str("incident", a.Incident, MaxAttrLen, false)
	if len(a.Evidence) > MaxEvidence {
		c.fail("evidence", "%d refs, more than %d", len(a.Evidence), MaxEvidence)
	}
	for _, r := range a.Evidence {
		c.str("evidence.source", r.Source, MaxAttrLen, true)
		c.str("evidence.id", r.ID, MaxAttrLen, true)
	}
	ents := AlertEntities(a)
	if len(ents) > MaxEntities {
		c.fail("entities", "%d entities, more than %d", len(ents), MaxEntities)
	}
	for _, e := range ents {
		c.str("entities."+string(e.Kind), e.Value, MaxValueLen, true)
	}
	for _, m := range [][]string{a.Mappings.R155, a.Mappings.ATM, a.Mappings.ATTACK} {
		if len(m) > 100 {
			c.fail("mappings", "more than 100 identifiers")
		}
		for _, s := range m {
			c.str("mappings", s, MaxTypeLen, true)
		}
	}
	return c.err
}

// Validate checks an incident upsert against the store's rules and limits.
func (inc *Incident) Validate() error {
	c := checker{what: "incident " + quote(inc.ID)}
	c.str("id", inc.ID, MaxAttrLen, true)
	c.tenant(inc.Tenant)
	if inc.Severity.String() == "" {
		c.fail("severity", "unknown severity %d", inc.Severity)
	}
	for _, cat := range inc.Categories {
		if cat.String() == "" {
			c.fail("categories", "unknown category %d", cat)
		}
	}
	if inc.LastSeen < inc.FirstSeen {
		c.fail("last_seen", "before first_seen")
	}
	if len(inc.AlertIDs) > MaxIncidentAlerts {
		c.fail("alert_ids", "%d ids, more than %d", len(inc.AlertIDs), MaxIncidentAlerts)
	}
	for _, id := range inc.AlertIDs {
		c.str("alert_ids", id, MaxAttrLen, true)
	}
	if len(inc.Entities) > MaxEntities {
		c.fail("entities", "%d entities, more than %d", len(inc.Entities), MaxEntities)
	}
	for _, e := range inc.Entities {
		c.entity(e, true)
	}
	return c.err
}

func (c *checker) entity(e Entity, kindRequired bool) {
	if e.Kind != "" || kindRequired {
		if !e.Kind.Valid() {
			c.fail("entity.kind", "%q: want one of vehicle, account, device, ip, client, msisdn", clip(string(e.Kind)))
		}
	}
	c.str("entity.value", e.Value, MaxValueLen, true)
}

// ValidateEntity checks the subject of an erasure or the entity of a query.
func ValidateEntity(e Entity) error {
	c := checker{what: "entity"}
	c.entity(e, true)
	return c.err
}

// Validate checks an audit entry before it is appended.
func (e *AuditEntry) Validate() error {
	c := checker{what: "audit entry " + quote(e.Action)}
	if e.Time < 0 {
		c.fail("time", "negative")
	}
	c.str("actor", e.Actor, MaxValueLen, true)
	c.str("action", e.Action, MaxValueLen, true)
	if e.Tenant != "" {
		c.tenant(e.Tenant)
	}
	c.str("target", e.Target, MaxValueLen, false)
	switch {
	case len(e.Detail) > MaxAuditDetail:
		c.fail("detail", "%d bytes, more than %d", len(e.Detail), MaxAuditDetail)
	case len(e.Detail) > 0 && (e.Detail[0] != '{' || !json.Valid(e.Detail)):
		c.fail("detail", "not a JSON object")
	}
	return c.err
}

// Validate checks a configuration change.
func (cc *ConfigChange) Validate(put bool) error {
	c := checker{what: "config " + quote(cc.Key)}
	if cc.Tenant != "" {
		c.tenant(cc.Tenant)
	}
	c.str("key", cc.Key, MaxConfigKeyLen, true)
	if put && len(cc.Value) > MaxConfigValue {
		c.fail("value", "%d bytes, more than %d", len(cc.Value), MaxConfigValue)
	}
	if cc.IfVersion < MustNotExist {
		c.fail("if_version", "%d: want 0 (any), -1 (must not exist) or a version", cc.IfVersion)
	}
	return c.err
}

// Validate checks a checkpoint before it is saved.
func (cp *Checkpoint) Validate() error {
	c := checker{what: "checkpoint " + quote(cp.Name)}
	c.str("name", cp.Name, MaxAttrLen, false)
	if cp.Seq < 0 {
		c.fail("seq", "negative")
	}
	if len(cp.Snapshot) > MaxSnapshotBytes {
		c.fail("snapshot", "%d bytes, more than %d", len(cp.Snapshot), MaxSnapshotBytes)
	}
	return c.err
}

// ValidateChange checks the common part of an alert or incident change.
func validateChange(what, id string, status Status, assignee *string) *checker {
	c := &checker{what: what + " " + quote(id)}
	c.str("id", id, MaxAttrLen, true)
	if status != StatusUnset && status.String() == "" {
		c.fail("status", "unknown status %d", status)
	}
	if assignee != nil {
		c.str("assignee", *assignee, MaxValueLen, false)
	}
	return c
}

// Validate checks an alert change.
func (ac *AlertChange) Validate() error {
	c := validateChange("alert", ac.ID, ac.Status, ac.Assignee)
	if ac.Status == StatusUnset && ac.Assignee == nil {
		c.fail("change", "nothing to change: set status or assignee")
	}
	return c.err
}

// Validate checks an incident change.
func (ic *IncidentChange) Validate() error {
	c := validateChange("incident", ic.ID, ic.Status, ic.Assignee)
	c.str("actor", ic.Actor, MaxValueLen, true)
	c.str("comment", ic.Comment, MaxTextLen, false)
	if ic.Status == StatusUnset && ic.Assignee == nil && ic.Comment == "" {
		c.fail("change", "nothing to change: set status, assignee or comment")
	}
	return c.err
}

// Normalize checks the query and sets its page size.
func (q *EventQuery) Normalize() error {
	c := checker{what: "event query"}
	if q.Tenant != "" {
		c.tenant(q.Tenant)
	}
	if q.Kind != "" || q.Value != "" {
		switch q.Kind {
		case EntityVehicle, EntityAccount, EntityDevice, EntityIP, EntityClient:
		default:
			c.fail("kind", "%q: want vehicle, account, device, ip or client", clip(string(q.Kind)))
		}
		c.str("value", q.Value, MaxValueLen, true)
	}
	if len(q.Types) > MaxQueryTypes {
		c.fail("types", "more than %d", MaxQueryTypes)
	}
	for _, t := range q.Types {
		c.str("types", t, MaxTypeLen, true)
	}
	c.timeRange(q.From, q.To)
	c.order(q.Order)
	q.Limit = pageSize(q.Limit, MaxPageSize)
	return c.err
}

// Normalize checks the query and sets its page size.
func (q *AlertQuery) Normalize() error {
	c := checker{what: "alert query"}
	if q.Tenant != "" {
		c.tenant(q.Tenant)
	}
	if q.Category != alert.CategoryUnset && q.Category.String() == "" {
		c.fail("category", "unknown category %d", q.Category)
	}
	if q.MinSeverity != event.SeverityUnset && q.MinSeverity.String() == "" {
		c.fail("min_severity", "unknown severity %d", q.MinSeverity)
	}
	c.statuses(q.Statuses)
	c.str("detector", q.Detector, MaxValueLen, false)
	if q.Entity != (Entity{}) {
		c.entity(q.Entity, false)
	}
	if q.Shadow > ShadowOnly {
		c.fail("shadow", "unknown shadow filter %d", q.Shadow)
	}
	c.timeRange(q.From, q.To)
	c.order(q.Order)
	q.Limit = pageSize(q.Limit, MaxPageSize)
	return c.err
}

// Normalize checks the query and sets its page size.
func (q *IncidentQuery) Normalize() error {
	c := checker{what: "incident query"}
	if len(q.IDs) > MaxQueryIDs {
		c.fail("ids", "%d ids, more than %d", len(q.IDs), MaxQueryIDs)
	}
	for _, id := range q.IDs {
		c.str("ids", id, MaxAttrLen, true)
	}
	if q.Tenant != "" {
		c.tenant(q.Tenant)
	}
	if q.Category != alert.CategoryUnset && q.Category.String() == "" {
		c.fail("category", "unknown category %d", q.Category)
	}
	if q.MinSeverity != event.SeverityUnset && q.MinSeverity.String() == "" {
		c.fail("min_severity", "unknown severity %d", q.MinSeverity)
	}
	c.statuses(q.Statuses)
	if q.Assignee != nil {
		c.str("assignee", *q.Assignee, MaxValueLen, false)
	}
	if q.Entity != (Entity{}) {
		c.entity(q.Entity, false)
	}
	c.timeRange(q.From, q.To)
	c.order(q.Order)
	q.Limit = pageSize(q.Limit, MaxPageSize)
	return c.err
}

// Normalize checks the query and sets its page size.
func (q *AuditQuery) Normalize() error {
	c := checker{what: "audit query"}
	if q.Tenant != "" {
		c.tenant(q.Tenant)
	}
	if q.AfterSeq < 0 {
		c.fail("after_seq", "negative")
	}
	q.Limit = pageSize(q.Limit, MaxAuditExport)
	return c.err
}

func (c *checker) statuses(ss []Status) {
	if len(ss) > len(statusNames) {
		c.fail("statuses", "more than %d", len(statusNames)-1)
	}
	for _, s := range ss {
		if s == StatusUnset || s.String() == "" {
			c.fail("statuses", "unknown status %d", s)
		}
	}
}

func (c *checker) timeRange(from, to int64) {
	if from < 0 || to < 0 {
		c.fail("time range", "negative time")
	}
	if to != 0 && from > to {
		c.fail("time range", "from is after to")
	}
}

func (c *checker) order(o Order) {
	if o != NewestFirst && o != OldestFirst {
		c.fail("order", "unknown order %d", o)
	}
}

// pageSize applies the default and the bound to a requested page size.
func pageSize(n, max int) int {
	if n <= 0 {
		return min(DefaultPageSize, max)
	}
	return min(n, max)
}

// ReadLimit applies the default and the bound to a ReadEvents limit.
func ReadLimit(n int) int { return pageSize(n, MaxReadBatch) }

func quote(s string) string { return `"` + clip(s) + `"` }
