package sqlstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/store"
)

// UpsertAlerts stores alerts by id. The detection fields of a re-delivered
// alert are replaced only when they differ (compared by digest); the
// analysts' fields are never touched. New alerts get their delivery
// sequence numbers here (see numberNew).
func (db *DB) UpsertAlerts(ctx context.Context, scope store.Scope, alerts []*alert.Alert) ([]bool, error) {
	return db.StoreDetections(ctx, scope, alerts, nil)
}

// StoreDetections stores alerts, then incidents, in one transaction: the
// writer's next group commit, beside the events waiting with them, so that
// alerts cost ingest no commit of their own.
func (db *DB) StoreDetections(ctx context.Context, scope store.Scope, alerts []*alert.Alert, incs []store.Incident) ([]bool, error) {
	if err := checkAlerts(scope, alerts); err != nil {
		return nil, err
	}
	if err := checkIncidents(scope, incs); err != nil {
		return nil, err
	}
	created := make([]bool, len(alerts))
	if len(alerts) == 0 && len(incs) == 0 {
		return created, nil
	}
	det := &detections{alerts: alerts, incs: incs, created: created}
	if err := db.submit(ctx, &insertReq{det: det, done: make(chan error, 1)}); err != nil {
		return nil, err
	}
	return created, nil
}

// detections are the alerts and incidents of one StoreDetections call.
type detections struct {
	alerts  []*alert.Alert
	incs    []store.Incident // as the caller gave them: an entry per alert
	created []bool
	err     error // its own failure in a group commit (see insertGroup)
}

// refusal is a failure found before a request of detections wrote
// anything: the transaction it ran in can go on without it.
type refusal struct{ error }

func (r refusal) Unwrap() error { return r.error }

// storeDetections writes d in tx. What a valid call can meet in the store,
// an id another tenant holds (or one the call names for two tenants), is
// looked for first and returned as a refusal, before anything is written.
// The group's caller holds the alert sequence row (lockAlertSeq).
func (db *DB) storeDetections(ctx context.Context, tx *Tx, d *detections, now int64) error {
	prior, err := db.priorAlerts(ctx, tx, d.alerts)
	if err != nil {
		return err
	}
	incs := mergeIncidents(keptLinks(d.incs, prior))
	if err := db.incidentsFree(ctx, tx, incs); err != nil {
		return err
	}
	if err := db.upsertAlerts(ctx, tx, inFirstIncident(d.alerts, prior), d.created, now); err != nil {
		return err
	}
	return db.upsertIncidents(ctx, tx, incs, nil, now)
}

// inFirstIncident returns alerts with those stored before under another
// incident named in theirs again (copies; the caller's are left alone), so
// that the alert row goes on naming the incident that counts it.
func inFirstIncident(alerts []*alert.Alert, prior map[string]storedAlert) []*alert.Alert {
	var out []*alert.Alert
	for i, a := range alerts {
		p, ok := prior[a.ID]
		if !ok || p.incident == a.Incident || p.incident == "" {
			continue
		}
		if out == nil {
			out = slices.Clone(alerts)
		}
		c := *a
		c.Incident = p.incident
		out[i] = &c
	}
	if out == nil {
		return alerts
	}
	return out
}

// storeDetectionsAlone writes d in tx beside other requests: a refusal
// stays d's own (d.err) and the rest of the transaction goes on. Any other
// failure is returned, and fails the transaction (the writer then retries
// each request alone). No savepoint: SQLite copies every page written
// under one to its sub-journal, which was half of what storing detections
// cost.
func (db *DB) storeDetectionsAlone(ctx context.Context, tx *Tx, d *detections, now int64) error {
	err := db.storeDetections(ctx, tx, d, now)
	if r := (refusal{}); errors.As(err, &r) {
		d.err = r.error
		return nil
	}
	return err
}

// lockAlertSeq takes the alert sequence row's lock (PostgreSQL) before a
// group writes detections, so that every writer of alerts and incidents
// takes its row locks behind it, whatever the group's requests carry.
func (db *DB) lockAlertSeq(ctx context.Context, tx *Tx) error {
	var seq int64
	err := tx.QueryRow(ctx, "SELECT value FROM counters WHERE name = 'alert_seq'"+db.d.ForUpdate()).Scan(&seq)
	return dbErr("store detections: lock the alert sequence", err)
}

// storedAlert is what the store holds of an alert a call names again.
type storedAlert struct{ tenant, incident string }

// priorAlerts returns the alerts of the call the store holds already, and
// refuses the call when one of them is another tenant's or the call names
// one id for two tenants.
func (db *DB) priorAlerts(ctx context.Context, tx *Tx, alerts []*alert.Alert) (map[string]storedAlert, error) {
	if len(alerts) == 0 {
		return nil, nil
	}
	tenants := make(map[string]string, len(alerts))
	for _, a := range alerts {
		if t, ok := tenants[a.ID]; ok && t != a.Tenant {
			return nil, refusal{store.Errorf(store.ErrConflict, "alert %q named for two tenants", a.ID)}
		}
		tenants[a.ID] = a.Tenant
	}
	q := (&query{}).sql("SELECT id, tenant, incident FROM alerts WHERE 1 = 1").in("id", slices.Collect(maps.Keys(tenants)))
	rows, err := tx.Query(ctx, q.String(), q.args...)
	if err != nil {
		return nil, dbErr("store detections: alerts", err)
	}
	defer rows.Close()
	var prior map[string]storedAlert
	for rows.Next() {
		var id string
		var s storedAlert
		if err := rows.Scan(&id, &s.tenant, &s.incident); err != nil {
			return nil, dbErr("store detections: alerts", err)
		}
		if tenants[id] != s.tenant {
			return nil, refusal{store.Errorf(store.ErrConflict, "alert %q already exists in another tenant", id)}
		}
		if prior == nil {
			prior = make(map[string]storedAlert)
		}
		prior[id] = s
	}
	return prior, dbErr("store detections: alerts", rows.Err())
}

// keptLinks returns incs without the links to alerts stored before under
// another incident, leaving out the entries that then name no alert. An
// alert keeps the incident it was first stored with. After a restart,
// detection replays the archive past its checkpoint and raises such alerts
// again, and the alert manager, meeting the shards' alerts in another
// order, may group them under another incident id: written, that incident
// would stand beside the first and count the same alerts. An alert stored
// before under the same incident keeps widening it (an updated alert).
// The entries are dropped before they are folded (mergeIncidents), so an
// old alert's span, severity and entities do not reach a new incident.
func keptLinks(incs []store.Incident, prior map[string]storedAlert) []store.Incident {
	elsewhere := func(in store.Incident) func(string) bool {
		return func(id string) bool { p, ok := prior[id]; return ok && p.incident != in.ID }
	}
	i := slices.IndexFunc(incs, func(in store.Incident) bool { return slices.ContainsFunc(in.AlertIDs, elsewhere(in)) })
	if i < 0 {
		return incs
	}
	// A copy: the writer may run the request again alone after a failed group.
	out := slices.Clone(incs[:i])
	for _, in := range incs[i:] {
		if !slices.ContainsFunc(in.AlertIDs, elsewhere(in)) {
			out = append(out, in)
			continue
		}
		in.AlertIDs = slices.DeleteFunc(slices.Clone(in.AlertIDs), elsewhere(in))
		if len(in.AlertIDs) > 0 {
			out = append(out, in)
		}
	}
	return out
}

// incidentsFree refuses incidents another tenant holds, or whose id the
// call names for two tenants.
func (db *DB) incidentsFree(ctx context.Context, tx *Tx, incs []store.Incident) error {
	tenants := make(map[string]string, len(incs))
	for _, in := range incs {
		if t, ok := tenants[in.ID]; ok && t != in.Tenant {
			return refusal{store.Errorf(store.ErrConflict, "incident %q named for two tenants", in.ID)}
		}
		tenants[in.ID] = in.Tenant
	}
	if err := db.heldByOthers(ctx, tx, "incident", "incidents", tenants); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return refusal{err}
		}
		return err
	}
	return nil
}

// heldByOthers reports a conflict when table holds one of the ids of want
// (id → tenant) for another tenant.
func (db *DB) heldByOthers(ctx context.Context, tx *Tx, what, table string, want map[string]string) error {
	if len(want) == 0 {
		return nil
	}
	q := (&query{}).sql("SELECT id, tenant FROM "+table+" WHERE 1 = 1").in("id", slices.Collect(maps.Keys(want)))
	rows, err := tx.Query(ctx, q.String(), q.args...)
	if err != nil {
		return dbErr("store detections: "+table, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, tenant string
		if err := rows.Scan(&id, &tenant); err != nil {
			return dbErr("store detections: "+table, err)
		}
		if want[id] != tenant {
			return store.Errorf(store.ErrConflict, "%s %q already exists in another tenant", what, id)
		}
	}
	return dbErr("store detections: "+table, rows.Err())
}

func checkAlerts(scope store.Scope, alerts []*alert.Alert) error {
	if len(alerts) > store.MaxUpsertBatch {
		return store.Errorf(store.ErrInvalid, "upsert alerts: %d alerts, more than %d in one call", len(alerts), store.MaxUpsertBatch)
	}
	for _, a := range alerts {
		if err := store.ValidateAlert(a); err != nil {
			return err
		}
		if err := scope.Check(a.Tenant); err != nil {
			return err
		}
	}
	return nil
}

// upsertAlerts stores alerts in tx, setting created[i] for new ones.
func (db *DB) upsertAlerts(ctx context.Context, tx *Tx, alerts []*alert.Alert, created []bool, now int64) error {
	if len(alerts) == 0 {
		return nil
	}
	// In id order, so that concurrent upserts (PostgreSQL, several
	// nodes) lock rows in the same order and cannot deadlock.
	order := byID(len(alerts), func(i int) string { return alerts[i].ID })
	seqs, last, err := db.numberNew(ctx, tx, alerts, order)
	if err != nil {
		return err
	}
	for _, i := range order {
		c, err := db.upsertAlert(ctx, tx, alerts[i], now, seqs[i])
		if err != nil {
			return err
		}
		created[i] = c
	}
	if last != 0 {
		if _, err := tx.Exec(ctx, "UPDATE counters SET value = ? WHERE name = 'alert_seq'", last); err != nil {
			return dbErr("upsert alerts: alert sequence", err)
		}
	}
	return nil
}

// numberNew gives each alert of the call that is not stored yet its
// delivery sequence number (0 for the others, and for a repeat of an id
// within the call), in the caller's order: sinks deliver in it. last is
// the new value of the alert_seq counter, 0 when nothing is new.
//
// The counter row is read and locked first, so upserts take turns (several
// nodes on PostgreSQL; SQLite has one writer): numbers follow commit order,
// and a reader of AlertsAfter never sees n+1 before n. The counter never
// goes back, so a number is not reused after the newest alerts are erased
// (MAX(seq)+1, or a rowid, would hand it out again). The unique index on
// alerts.seq turns any slip into an error rather than a duplicate.
func (db *DB) numberNew(ctx context.Context, tx *Tx, alerts []*alert.Alert, order []int) ([]int64, int64, error) {
	var seq int64
	if err := tx.QueryRow(ctx, "SELECT value FROM counters WHERE name = 'alert_seq'"+db.d.ForUpdate()).Scan(&seq); err != nil {
		return nil, 0, dbErr("upsert alerts: read the alert sequence", err)
	}
	stored := make(map[string]bool, len(alerts))
	for _, i := range order {
		id := alerts[i].ID
		if _, seen := stored[id]; seen {
			continue
		}
		var one int
		err := tx.QueryRow(ctx, "SELECT 1 FROM alerts WHERE id = ?"+db.d.ForUpdate(), id).Scan(&one)
		switch {
		case err == nil:
			stored[id] = true
		case errors.Is(err, sql.ErrNoRows):
			stored[id] = false
		default:
			return nil, 0, dbErr("upsert alert "+id, err)
		}
	}
	seqs := make([]int64, len(alerts))
	first := seq
	for i, a := range alerts {
		if !stored[a.ID] {
			seq++
			seqs[i] = seq
			stored[a.ID] = true // a repeat within the call updates the first
		}
	}
	if seq == first {
		return seqs, 0, nil
	}
	return seqs, seq, nil
}

// upsertAlert inserts a with delivery sequence number seq, or, when seq is
// 0, updates the stored alert of the same id.
func (db *DB) upsertAlert(ctx context.Context, tx *Tx, a *alert.Alert, now, seq int64) (bool, error) {
	ents := store.AlertEntities(a)
	entJSON, _ := json.Marshal(a.Entities)
	evJSON, _ := json.Marshal(a.Evidence)
	mapJSON, _ := json.Marshal(a.Mappings)
	digest := sha256.Sum256(alert.AppendJSON(nil, a))
	var pk int64
	created := seq != 0
	if created {
		err := tx.QueryRow(ctx, `INSERT INTO alerts (id, tenant, time, first_seen, last_seen, category, severity, detector, title,
explanation, entities, evidence, mappings, incident, digest, status, assignee, created, updated, shadow, seq)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '', ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING RETURNING pk`,
			a.ID, a.Tenant, a.Time, a.FirstSeen, a.LastSeen, a.Category.String(), int(a.Severity), a.Detector, a.Title,
			a.Explanation, string(entJSON), string(evJSON), string(mapJSON), a.Incident, digest[:], store.StatusNew.String(),
			now, now, shadowInt(a.Shadow), seq).Scan(&pk)
		if errors.Is(err, sql.ErrNoRows) {
			// numberNew found no such alert under the sequence lock, which
			// every writer of alerts takes: retrying will see it.
			return false, fmt.Errorf("store: upsert alert %s: stored concurrently; retry", a.ID)
		}
		if err != nil {
			return false, dbErr("upsert alert "+a.ID, err)
		}
	} else {
		var tenant string
		var old []byte
		err := tx.QueryRow(ctx, "SELECT pk, tenant, digest FROM alerts WHERE id = ?"+db.d.ForUpdate(), a.ID).Scan(&pk, &tenant, &old)
		if err != nil {
			return false, dbErr("upsert alert "+a.ID, err)
		}
		if tenant != a.Tenant {
			return false, store.Errorf(store.ErrConflict, "alert %q already exists in another tenant", a.ID)
		}
		if bytes.Equal(old, digest[:]) {
			return false, nil // a re-delivery: nothing changed
		}
		if _, err := tx.Exec(ctx, `UPDATE alerts SET time = ?, first_seen = ?, last_seen = ?, category = ?, severity = ?,
detector = ?, title = ?, explanation = ?, entities = ?, evidence = ?, mappings = ?, incident = ?, digest = ?, updated = ?,
shadow = ? WHERE pk = ?`, a.Time, a.FirstSeen, a.LastSeen, a.Category.String(), int(a.Severity), a.Detector, a.Title, a.Explanation,
			string(entJSON), string(evJSON), string(mapJSON), a.Incident, digest[:], now, shadowInt(a.Shadow), pk); err != nil {
			return false, dbErr("upsert alert "+a.ID, err)
		}
		for _, q := range []string{"DELETE FROM alert_entities WHERE alert_pk = ?", "DELETE FROM alert_evidence WHERE alert_pk = ?"} {
			if _, err := tx.Exec(ctx, q, pk); err != nil {
				return false, dbErr("upsert alert "+a.ID, err)
			}
		}
	}
	for _, e := range ents {
		if _, err := tx.Exec(ctx, "INSERT INTO alert_entities (alert_pk, kind, value) VALUES (?, ?, ?) ON CONFLICT DO NOTHING", pk, string(e.Kind), e.Value); err != nil {
			return false, dbErr("upsert alert "+a.ID+": entities", err)
		}
	}
	for i, r := range a.Evidence {
		if _, err := tx.Exec(ctx, "INSERT INTO alert_evidence (alert_pk, ord, source, id) VALUES (?, ?, ?, ?)", pk, i, r.Source, r.ID); err != nil {
			return false, dbErr("upsert alert "+a.ID+": evidence", err)
		}
	}
	return created, nil
}

const alertColumns = `a.pk, a.id, a.tenant, a.time, a.first_seen, a.last_seen, a.category, a.severity, a.detector, a.title,
a.explanation, a.entities, a.evidence, a.mappings, a.incident, a.status, a.assignee, a.created, a.updated, a.shadow, COALESCE(a.seq, 0)`

// shadowInt is the shadow column's value: an integer in both dialects.
func shadowInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func scanAlert(s interface{ Scan(...any) error }, a *store.Alert) (pk int64, err error) {
	var cat, ents, evs, maps, status string
	var sev int
	var shadow int64
	if err := s.Scan(&pk, &a.ID, &a.Tenant, &a.Time, &a.FirstSeen, &a.LastSeen, &cat, &sev, &a.Detector, &a.Title,
		&a.Explanation, &ents, &evs, &maps, &a.Incident, &status, &a.Assignee, &a.Created, &a.Updated, &shadow, &a.Seq); err != nil {
		return 0, err
	}
	a.Shadow = shadow != 0
	a.Category, _ = alert.ParseCategory(cat)
	a.Severity = event.Severity(sev)
	a.Status, _ = store.ParseStatus(status)
	if err := json.Unmarshal([]byte(ents), &a.Entities); err != nil {
		return 0, err
	}
	if err := json.Unmarshal([]byte(evs), &a.Evidence); err != nil {
		return 0, err
	}
	if err := json.Unmarshal([]byte(maps), &a.Mappings); err != nil {
		return 0, err
	}
	return pk, nil
}

func scanAlerts(rows *sql.Rows, err error) ([]store.Alert, []int64, error) {
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var out []store.Alert
	var pks []int64
	for rows.Next() {
		var a store.Alert
		pk, err := scanAlert(rows, &a)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, a)
		pks = append(pks, pk)
	}
	return out, pks, rows.Err()
}

// getAlert reads one alert in scope, ErrNotFound otherwise.
func (db *DB) getAlert(ctx context.Context, tx *Tx, scope store.Scope, id string, lock bool) (store.Alert, int64, error) {
	q := &query{}
	q.sql("SELECT "+alertColumns+" FROM alerts a WHERE ").arg("a.id = ?", id)
	q.scope("a.tenant", scope)
	if lock {
		q.sql(db.d.ForUpdate())
	}
	var a store.Alert
	var pk int64
	var err error
	if tx != nil {
		pk, err = scanAlert(tx.QueryRow(ctx, q.String(), q.args...), &a)
	} else {
		pk, err = scanAlert(db.rs.queryRow(ctx, q.String(), q.args...), &a)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return a, 0, store.Errorf(store.ErrNotFound, "alert %q not found", id)
	}
	return a, pk, dbErr("get alert "+id, err)
}

// GetAlert returns one alert.
func (db *DB) GetAlert(ctx context.Context, scope store.Scope, id string) (store.Alert, error) {
	if db.isClosed() {
		return store.Alert{}, store.ErrClosed
	}
	a, _, err := db.getAlert(ctx, nil, scope, id, false)
	return a, err
}

// ListAlerts returns one page of alerts, keyset-paginated on (time, pk).
func (db *DB) ListAlerts(ctx context.Context, scope store.Scope, aq store.AlertQuery) (store.AlertPage, error) {
	if db.isClosed() {
		return store.AlertPage{}, store.ErrClosed
	}
	if err := aq.Normalize(); err != nil {
		return store.AlertPage{}, err
	}
	scope, err := scope.Narrow(aq.Tenant)
	if err != nil {
		return store.AlertPage{}, err
	}
	fp := newFingerprint().str(aq.Tenant).num(int64(aq.Category)).num(int64(aq.MinSeverity)).str(aq.Detector).
		str(string(aq.Entity.Kind)).str(aq.Entity.Value).num(aq.From).num(aq.To).num(int64(aq.Shadow))
	for _, s := range aq.Statuses {
		fp.num(int64(s))
	}
	var cur cursor
	if aq.Cursor != "" {
		if cur, err = decodeCursor(aq.Cursor, cursorAlerts, aq.Order, fp.sum()); err != nil {
			return store.AlertPage{}, err
		}
	}
	q := &query{}
	q.sql("SELECT " + alertColumns + " FROM alerts a WHERE 1 = 1")
	q.scope("a.tenant", scope)
	if aq.Category != alert.CategoryUnset {
		q.arg(" AND a.category = ?", aq.Category.String())
	}
	if aq.MinSeverity != event.SeverityUnset {
		q.arg(" AND a.severity >= ?", int(aq.MinSeverity))
	}
	if len(aq.Statuses) > 0 {
		names := make([]string, len(aq.Statuses))
		for i, s := range aq.Statuses {
			names[i] = s.String()
		}
		q.in("a.status", names)
	}
	if aq.Detector != "" {
		q.arg(" AND a.detector = ?", aq.Detector)
	}
	if aq.Entity.Value != "" {
		q.arg(" AND a.pk IN (SELECT alert_pk FROM alert_entities WHERE value = ?", aq.Entity.Value)
		if aq.Entity.Kind != "" {
			q.arg(" AND kind = ?", string(aq.Entity.Kind))
		}
		q.sql(")")
	}
	switch aq.Shadow {
	case store.ShadowExclude:
		q.sql(" AND a.shadow = 0")
	case store.ShadowOnly:
		q.sql(" AND a.shadow = 1")
	}
	if aq.From != 0 {
		q.arg(" AND a.time >= ?", aq.From)
	}
	if aq.To != 0 {
		q.arg(" AND a.time < ?", aq.To)
	}
	desc := aq.Order == store.NewestFirst
	if aq.Cursor != "" {
		if desc {
			q.arg(" AND a.time <= ?", cur.a).arg(" AND (a.time < ?", cur.a).arg(" OR a.pk < ?)", cur.b)
		} else {
			q.arg(" AND a.time >= ?", cur.a).arg(" AND (a.time > ?", cur.a).arg(" OR a.pk > ?)", cur.b)
		}
	}
	if desc {
		q.sql(" ORDER BY a.time DESC, a.pk DESC")
	} else {
		q.sql(" ORDER BY a.time, a.pk")
	}
	q.arg(" LIMIT ?", aq.Limit+1)
	rows, err := db.rs.query(ctx, q.String(), q.args...)
	alerts, pks, err := scanAlerts(rows, err)
	if err != nil {
		return store.AlertPage{}, dbErr("list alerts", err)
	}
	page := store.AlertPage{Alerts: alerts}
	if len(alerts) > aq.Limit {
		page.Alerts = alerts[:aq.Limit]
		last := page.Alerts[aq.Limit-1]
		page.Next = cursor{kind: cursorAlerts, order: aq.Order, fp: fp.sum(), a: last.Time, b: pks[aq.Limit-1]}.encode()
	}
	return page, nil
}

// AlertsAfter returns the alerts numbered after afterSeq, in sequence
// order (the unique index alerts_seq serves the range).
func (db *DB) AlertsAfter(ctx context.Context, scope store.Scope, afterSeq int64, limit int) ([]store.Alert, error) {
	if db.isClosed() {
		return nil, store.ErrClosed
	}
	if !scope.All() {
		return nil, store.Errorf(store.ErrForbidden, "following alerts in sequence needs the all-tenants scope: the sequence spans every tenant")
	}
	if limit <= 0 {
		limit = store.DefaultPageSize
	}
	limit = min(limit, store.MaxPageSize)
	rows, err := db.rs.query(ctx, "SELECT "+alertColumns+" FROM alerts a WHERE a.seq > ? ORDER BY a.seq LIMIT ?", afterSeq, limit)
	alerts, _, err := scanAlerts(rows, err)
	if err != nil {
		return nil, dbErr("alerts after "+strconv.FormatInt(afterSeq, 10), err)
	}
	return alerts, nil
}

// LatestAlertSeq returns the alert_seq counter: the highest number handed
// out, whether or not that alert still exists.
func (db *DB) LatestAlertSeq(ctx context.Context, scope store.Scope) (int64, error) {
	if db.isClosed() {
		return 0, store.ErrClosed
	}
	if !scope.All() {
		return 0, store.Errorf(store.ErrForbidden, "the alert sequence spans every tenant: reading it needs the all-tenants scope")
	}
	var seq int64
	err := db.rs.queryRow(ctx, "SELECT value FROM counters WHERE name = 'alert_seq'").Scan(&seq)
	return seq, dbErr("latest alert sequence number", err)
}

// UpdateAlert changes status or assignee.
func (db *DB) UpdateAlert(ctx context.Context, scope store.Scope, c store.AlertChange) (store.Alert, error) {
	if err := c.Validate(); err != nil {
		return store.Alert{}, err
	}
	if c.Audit != nil {
		if err := db.checkAudit(scope, c.Audit); err != nil {
			return store.Alert{}, err
		}
	}
	var out store.Alert
	err := db.inWrite(ctx, func(tx *Tx) error {
		a, pk, err := db.getAlert(ctx, tx, scope, c.ID, true)
		if err != nil {
			return err
		}
		if c.Status != store.StatusUnset {
			a.Status = c.Status
		}
		if c.Assignee != nil {
			a.Assignee = *c.Assignee
		}
		a.Updated = db.nowNS()
		if _, err := tx.Exec(ctx, "UPDATE alerts SET status = ?, assignee = ?, updated = ? WHERE pk = ?",
			a.Status.String(), a.Assignee, a.Updated, pk); err != nil {
			return dbErr("update alert "+c.ID, err)
		}
		if c.Audit != nil {
			if _, err := db.appendAudit(ctx, tx, *c.Audit); err != nil {
				return err
			}
		}
		out = a
		return nil
	})
	return out, err
}

// evidenceOfAlert reads an alert's evidence with the events it names,
// joined by key and under the alert's tenant: evidence never resolves to
// another tenant's event, whatever its (source, id).
const evidenceOfAlert = `SELECT v.source, v.id, e.seq, e.tenant, e.source, e.id, e.type, e.time,
COALESCE(e.subject, ''), COALESCE(e.account, ''), COALESCE(e.device, ''), COALESCE(e.ip, ''), COALESCE(e.client_id, ''),
e.arrived, e.raw
FROM alert_evidence v LEFT JOIN events e ON e.tenant = ? AND e.source = v.source AND e.id = v.id
WHERE v.alert_pk = ? ORDER BY v.ord`

// Evidence resolves an alert's evidence refs against the archive.
func (db *DB) Evidence(ctx context.Context, scope store.Scope, alertID string) ([]store.EvidenceItem, error) {
	var out []store.EvidenceItem
	err := db.inRead(ctx, func(tx *Tx) error {
		a, pk, err := db.getAlert(ctx, tx, scope, alertID, false)
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, evidenceOfAlert, a.Tenant, pk)
		if err != nil {
			return dbErr("evidence of alert "+alertID, err)
		}
		defer rows.Close()
		for rows.Next() {
			var it store.EvidenceItem
			var seq, tm, arrived sql.NullInt64
			var tenant, source, id, typ, subject, account, device, ip, client sql.NullString
			var raw []byte
			var rawErr error
			if err := rows.Scan(&it.Ref.Source, &it.Ref.ID, &seq, &tenant, &source, &id, &typ, &tm,
				&subject, &account, &device, &ip, &client, &arrived, rawColumn{&raw, &rawErr}); err != nil {
				return dbErr("evidence of alert "+alertID, err)
			}
			if seq.Valid {
				it.Event = &store.ArchivedEvent{Seq: seq.Int64, Tenant: tenant.String, Source: source.String, ID: id.String,
					Type: typ.String, Time: tm.Int64, Subject: subject.String, Account: account.String, Device: device.String,
					IP: ip.String, ClientID: client.String, Arrived: arrived.Int64, Raw: raw, RawErr: rawErr}
			}
			out = append(out, it)
		}
		return dbErr("evidence of alert "+alertID, rows.Err())
	})
	return out, err
}

// byID returns the indices 0…n-1 ordered by id(i).
func byID(n int, id func(int) string) []int {
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return strings.Compare(id(a), id(b)) })
	return order
}
