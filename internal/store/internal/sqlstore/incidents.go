package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/store"
)

// engineActor is the history actor of changes the engine makes.
const engineActor = "vigil"

// UpsertIncidents merges incidents by id.
func (db *DB) UpsertIncidents(ctx context.Context, scope store.Scope, incs []store.Incident) ([]bool, error) {
	if err := checkIncidents(scope, incs); err != nil {
		return nil, err
	}
	created := make([]bool, len(incs))
	if len(incs) == 0 {
		return created, nil
	}
	err := db.inWrite(ctx, func(tx *Tx) error { return db.upsertIncidents(ctx, tx, incs, created, db.nowNS()) })
	if err != nil {
		return nil, err
	}
	return created, nil
}

func checkIncidents(scope store.Scope, incs []store.Incident) error {
	if len(incs) > store.MaxUpsertBatch {
		return store.Errorf(store.ErrInvalid, "upsert incidents: %d incidents, more than %d in one call", len(incs), store.MaxUpsertBatch)
	}
	for i := range incs {
		if err := incs[i].Validate(); err != nil {
			return err
		}
		if err := scope.Check(incs[i].Tenant); err != nil {
			return err
		}
	}
	return nil
}

// mergeIncidents folds the incidents of one id and tenant into one, as
// upsertIncident would merge them one after the other: a call carries an
// incident per alert, and the alerts of a campaign gathered together name
// the same incident many times over. incs is left as it is.
func mergeIncidents(incs []store.Incident) []store.Incident {
	type key struct{ id, tenant string }
	seen := make(map[key]bool, len(incs))
	for _, in := range incs {
		seen[key{in.ID, in.Tenant}] = true
	}
	if len(seen) == len(incs) {
		return incs // nothing to fold
	}
	at := make(map[key]int, len(incs))
	var out []store.Incident
	for _, in := range incs {
		k := key{in.ID, in.Tenant}
		i, ok := at[k]
		if !ok {
			at[k] = len(out)
			in.Categories = slices.Clone(in.Categories)
			in.Entities = slices.Clone(in.Entities)
			in.AlertIDs = slices.Clone(in.AlertIDs)
			out = append(out, in)
			continue
		}
		m := &out[i]
		m.FirstSeen, m.LastSeen, m.Severity = min(m.FirstSeen, in.FirstSeen), max(m.LastSeen, in.LastSeen), max(m.Severity, in.Severity)
		for _, c := range in.Categories {
			if !slices.Contains(m.Categories, c) {
				m.Categories = append(m.Categories, c)
			}
		}
		m.Entities = append(m.Entities, in.Entities...)
		m.AlertIDs = append(m.AlertIDs, in.AlertIDs...)
	}
	for i := range out {
		out[i].Entities = sortEntities(out[i].Entities)
		seen := make(map[string]bool, len(out[i].AlertIDs))
		out[i].AlertIDs = slices.DeleteFunc(out[i].AlertIDs, func(id string) bool {
			dup := seen[id]
			seen[id] = true
			return dup
		})
	}
	return out
}

// upsertIncidents merges incs in tx, in id order (see upsertAlerts),
// setting created[i] for new ones when created is not nil.
func (db *DB) upsertIncidents(ctx context.Context, tx *Tx, incs []store.Incident, created []bool, now int64) error {
	for _, i := range byID(len(incs), func(i int) string { return incs[i].ID }) {
		c, err := db.upsertIncident(ctx, tx, &incs[i], now)
		if err != nil {
			return err
		}
		if created != nil {
			created[i] = c
		}
	}
	return nil
}

func sortEntities(es []store.Entity) []store.Entity {
	slices.SortFunc(es, func(a, b store.Entity) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Value, b.Value))
	})
	return slices.Compact(es)
}

// upsertIncident merges one incident. Its entities live in
// incident_entities alone: an entity new to the incident is one row, however
// many the incident already names (a campaign's can name thousands).
func (db *DB) upsertIncident(ctx context.Context, tx *Tx, in *store.Incident, now int64) (bool, error) {
	ents := sortEntities(slices.Clone(in.Entities))
	cats := store.CategoryMask(in.Categories)
	var pk int64
	err := tx.QueryRow(ctx, `INSERT INTO incidents (id, tenant, first_seen, last_seen, severity, categories,
alert_count, status, assignee, created, updated) VALUES (?, ?, ?, ?, ?, ?, 0, ?, '', ?, ?)
ON CONFLICT (id) DO NOTHING RETURNING pk`,
		in.ID, in.Tenant, in.FirstSeen, in.LastSeen, int(in.Severity), cats, store.StatusNew.String(), now, now).Scan(&pk)
	created := err == nil
	changed := created // updated is now already
	status, oldSev := store.StatusNew.String(), 0
	switch {
	case created:
		if err := db.addHistory(ctx, tx, pk, now, engineActor, "created", "", ""); err != nil {
			return false, err
		}
	case errors.Is(err, sql.ErrNoRows):
		// Lock the row first (PostgreSQL), then merge in Go.
		var tenant string
		var first, last, oldCats int64
		var sev int
		err := tx.QueryRow(ctx, "SELECT pk, tenant, first_seen, last_seen, severity, categories, status FROM incidents WHERE id = ?"+db.d.ForUpdate(),
			in.ID).Scan(&pk, &tenant, &first, &last, &sev, &oldCats, &status)
		if err != nil {
			return false, dbErr("upsert incident "+in.ID, err)
		}
		if tenant != in.Tenant {
			return false, store.Errorf(store.ErrConflict, "incident %q already exists in another tenant", in.ID)
		}
		oldSev = sev
		nfirst, nlast, nsev, ncats := min(first, in.FirstSeen), max(last, in.LastSeen), max(sev, int(in.Severity)), oldCats|cats
		if nfirst != first || nlast != last || nsev != sev || ncats != oldCats {
			if _, err := tx.Exec(ctx, `UPDATE incidents SET first_seen = ?, last_seen = ?, severity = ?, categories = ?,
updated = ? WHERE pk = ?`, nfirst, nlast, nsev, ncats, now, pk); err != nil {
				return false, dbErr("upsert incident "+in.ID, err)
			}
			changed = true
		}
	default:
		return false, dbErr("upsert incident "+in.ID, err)
	}
	var newEnts int64
	for _, e := range ents {
		res, err := tx.Exec(ctx, "INSERT INTO incident_entities (incident_pk, kind, value) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
			pk, string(e.Kind), e.Value)
		if err != nil {
			return false, dbErr("upsert incident "+in.ID+": entities", err)
		}
		n, _ := res.RowsAffected()
		newEnts += n
	}
	var added int64
	var addedIDs []any
	for _, id := range in.AlertIDs {
		res, err := tx.Exec(ctx, "INSERT INTO incident_alerts (incident_pk, alert_id) VALUES (?, ?) ON CONFLICT DO NOTHING", pk, id)
		if err != nil {
			return false, dbErr("upsert incident "+in.ID+": alerts", err)
		}
		n, _ := res.RowsAffected()
		added += n
		if n > 0 {
			addedIDs = append(addedIDs, id)
		}
	}
	if added > 0 && (status == store.StatusResolved.String() || status == store.StatusFalsePositive.String()) {
		reopen, err := db.reopens(ctx, tx, pk, in.Tenant, oldSev, addedIDs)
		if err != nil {
			return false, dbErr("upsert incident "+in.ID+": reopen", err)
		}
		if reopen {
			if _, err := tx.Exec(ctx, "UPDATE incidents SET status = ?, updated = ? WHERE pk = ?", store.StatusNew.String(), now, pk); err != nil {
				return false, dbErr("upsert incident "+in.ID+": reopen", err)
			}
			if err := db.addHistory(ctx, tx, pk, now, engineActor, "status", status, store.StatusNew.String()); err != nil {
				return false, err
			}
			changed = true
		}
	}
	touch := !changed && (added > 0 || newEnts > 0)
	var q string
	var args []any
	switch {
	case added > 0 && touch:
		q, args = "UPDATE incidents SET alert_count = alert_count + ?, updated = ? WHERE pk = ?", []any{added, now, pk}
	case added > 0:
		q, args = "UPDATE incidents SET alert_count = alert_count + ? WHERE pk = ?", []any{added, pk}
	case touch:
		q, args = "UPDATE incidents SET updated = ? WHERE pk = ?", []any{now, pk}
	}
	if q != "" {
		if _, err := tx.Exec(ctx, q, args...); err != nil {
			return false, dbErr("upsert incident "+in.ID, err)
		}
	}
	return created, nil
}

// reopens reports whether alerts newly joined to a closed incident reopen
// it: one of them must be new evidence — its last event after the incident
// was closed (an archive replayed after a lost checkpoint brings old alerts
// under new ids) and at least as severe as the incident was (a low alert
// must not undo an analyst's judgement of a critical one).
func (db *DB) reopens(ctx context.Context, tx *Tx, pk int64, tenant string, sev int, ids []any) (bool, error) {
	var closed int64
	err := tx.QueryRow(ctx, "SELECT time FROM incident_history WHERE incident_pk = ? AND action = 'status' ORDER BY pk DESC LIMIT 1", pk).Scan(&closed)
	if err != nil && !errors.Is(err, sql.ErrNoRows) { // no status change recorded: judge by the alerts alone
		return false, err
	}
	for chunk := range slices.Chunk(ids, 500) {
		args := append([]any{tenant, closed, sev}, chunk...)
		var n int64
		q := "SELECT COUNT(*) FROM alerts WHERE tenant = ? AND last_seen > ? AND severity >= ? AND id IN (?" + strings.Repeat(", ?", len(chunk)-1) + ")"
		if err := tx.QueryRow(ctx, q, args...).Scan(&n); err != nil {
			return false, err
		}
		if n > 0 {
			return true, nil
		}
	}
	return false, nil
}

func (db *DB) addHistory(ctx context.Context, tx *Tx, pk, now int64, actor, action, old, new string) error {
	_, err := tx.Exec(ctx, "INSERT INTO incident_history (incident_pk, time, actor, action, old_value, new_value) VALUES (?, ?, ?, ?, ?, ?)",
		pk, now, actor, action, old, new)
	return dbErr("incident history", err)
}

const incidentColumns = `i.pk, i.id, i.tenant, i.first_seen, i.last_seen, i.severity, i.categories, i.alert_count,
i.status, i.assignee, i.created, i.updated`

func scanIncident(s interface{ Scan(...any) error }, in *store.Incident) (pk int64, err error) {
	var sev int
	var cats int64
	var status string
	if err := s.Scan(&pk, &in.ID, &in.Tenant, &in.FirstSeen, &in.LastSeen, &sev, &cats, &in.AlertCount,
		&status, &in.Assignee, &in.Created, &in.Updated); err != nil {
		return 0, err
	}
	in.Severity = event.Severity(sev)
	in.Categories = store.CategoriesOf(cats)
	in.Status, _ = store.ParseStatus(status)
	return pk, nil
}

// fillEntities reads the entities of incidents (pks[i] is incs[i]'s) in one
// query, each incident's sorted as sortEntities sorts them: in Go, since
// PostgreSQL's ORDER BY follows the database's collation.
func fillEntities(ctx context.Context, run func(context.Context, string, ...any) (*sql.Rows, error), incs []store.Incident, pks []int64) error {
	if len(incs) == 0 {
		return nil
	}
	at := make(map[int64]int, len(pks))
	vals := make([]any, len(pks))
	for i, pk := range pks {
		at[pk] = i
		vals[i] = pk
	}
	q := (&query{}).sql("SELECT incident_pk, kind, value FROM incident_entities WHERE incident_pk").inAny(vals)
	rows, err := run(ctx, q.String(), q.args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var pk int64
		var kind, value string
		if err := rows.Scan(&pk, &kind, &value); err != nil {
			return err
		}
		in := &incs[at[pk]]
		in.Entities = append(in.Entities, store.Entity{Kind: store.EntityKind(kind), Value: value})
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for i := range incs {
		if incs[i].Entities == nil {
			incs[i].Entities = []store.Entity{} // the contract's empty list, not null
		} else {
			incs[i].Entities = sortEntities(incs[i].Entities)
		}
	}
	return nil
}

// GetIncident returns an incident with its alerts and history.
func (db *DB) GetIncident(ctx context.Context, scope store.Scope, id string) (store.IncidentDetail, error) {
	var d store.IncidentDetail
	err := db.inRead(ctx, func(tx *Tx) error {
		var err error
		d, err = db.incidentDetail(ctx, tx, scope, id)
		return err
	})
	return d, err
}

func (db *DB) incidentDetail(ctx context.Context, tx *Tx, scope store.Scope, id string) (store.IncidentDetail, error) {
	var d store.IncidentDetail
	q := &query{}
	q.sql("SELECT "+incidentColumns+" FROM incidents i WHERE ").arg("i.id = ?", id)
	q.scope("i.tenant", scope)
	pk, err := scanIncident(tx.QueryRow(ctx, q.String(), q.args...), &d.Incident)
	if errors.Is(err, sql.ErrNoRows) {
		return d, store.Errorf(store.ErrNotFound, "incident %q not found", id)
	}
	if err != nil {
		return d, dbErr("get incident "+id, err)
	}
	one := []store.Incident{d.Incident}
	if err := fillEntities(ctx, tx.Query, one, []int64{pk}); err != nil {
		return d, dbErr("get incident "+id+": entities", err)
	}
	d.Incident = one[0]
	// Alerts of the incident's own tenant only, oldest first.
	rows, err := tx.Query(ctx, "SELECT "+alertColumns+` FROM incident_alerts x JOIN alerts a ON a.id = x.alert_id
WHERE x.incident_pk = ? AND a.tenant = ? ORDER BY a.time, a.pk LIMIT ?`, pk, d.Tenant, store.MaxIncidentAlerts)
	if d.Alerts, _, err = scanAlerts(rows, err); err != nil {
		return d, dbErr("get incident "+id+": alerts", err)
	}
	rows, err = tx.Query(ctx, "SELECT time, actor, action, old_value, new_value FROM incident_history WHERE incident_pk = ? ORDER BY pk", pk)
	if err != nil {
		return d, dbErr("get incident "+id+": history", err)
	}
	defer rows.Close()
	for rows.Next() {
		var h store.HistoryEntry
		if err := rows.Scan(&h.Time, &h.Actor, &h.Action, &h.Old, &h.New); err != nil {
			return d, dbErr("get incident "+id+": history", err)
		}
		d.History = append(d.History, h)
	}
	return d, dbErr("get incident "+id+": history", rows.Err())
}

// ListIncidents returns one page of incidents, keyset-paginated on the
// order the store first saw them.
func (db *DB) ListIncidents(ctx context.Context, scope store.Scope, iq store.IncidentQuery) (store.IncidentPage, error) {
	if db.isClosed() {
		return store.IncidentPage{}, store.ErrClosed
	}
	if err := iq.Normalize(); err != nil {
		return store.IncidentPage{}, err
	}
	scope, err := scope.Narrow(iq.Tenant)
	if err != nil {
		return store.IncidentPage{}, err
	}
	fp := newFingerprint().str(iq.Tenant).num(int64(iq.Category)).num(int64(iq.MinSeverity)).
		str(string(iq.Entity.Kind)).str(iq.Entity.Value).num(iq.From).num(iq.To)
	if iq.Assignee != nil {
		fp.num(1).str(*iq.Assignee)
	}
	for _, s := range iq.Statuses {
		fp.num(int64(s))
	}
	if iq.IDs == nil {
		fp.num(-1) // no filter, unlike an empty list
	}
	fp.num(int64(len(iq.IDs)))
	for _, id := range iq.IDs {
		fp.str(id)
	}
	var cur cursor
	if iq.Cursor != "" {
		if cur, err = decodeCursor(iq.Cursor, cursorIncidents, iq.Order, fp.sum()); err != nil {
			return store.IncidentPage{}, err
		}
	}
	q := &query{}
	q.sql("SELECT " + incidentColumns + " FROM incidents i WHERE 1 = 1")
	q.scope("i.tenant", scope)
	if iq.IDs != nil {
		q.in("i.id", iq.IDs) // none: nothing
	}
	if iq.Category != alert.CategoryUnset {
		// categories is a bit set; & is the same in both dialects.
		q.arg(" AND (i.categories & ?) <> 0", store.CategoryMask([]alert.Category{iq.Category}))
	}
	if iq.MinSeverity != event.SeverityUnset {
		q.arg(" AND i.severity >= ?", int(iq.MinSeverity))
	}
	if len(iq.Statuses) > 0 {
		names := make([]string, len(iq.Statuses))
		for i, s := range iq.Statuses {
			names[i] = s.String()
		}
		q.in("i.status", names)
	}
	if iq.Assignee != nil {
		q.arg(" AND i.assignee = ?", *iq.Assignee)
	}
	if iq.Entity.Value != "" {
		q.arg(" AND i.pk IN (SELECT incident_pk FROM incident_entities WHERE value = ?", iq.Entity.Value)
		if iq.Entity.Kind != "" {
			q.arg(" AND kind = ?", string(iq.Entity.Kind))
		}
		q.sql(")")
	}
	if iq.From != 0 {
		q.arg(" AND i.last_seen >= ?", iq.From)
	}
	if iq.To != 0 {
		q.arg(" AND i.first_seen < ?", iq.To)
	}
	desc := iq.Order == store.NewestFirst
	if iq.Cursor != "" {
		if desc {
			q.arg(" AND i.pk < ?", cur.a)
		} else {
			q.arg(" AND i.pk > ?", cur.a)
		}
	}
	if desc {
		q.sql(" ORDER BY i.pk DESC")
	} else {
		q.sql(" ORDER BY i.pk")
	}
	q.arg(" LIMIT ?", iq.Limit+1)
	rows, err := db.rs.query(ctx, q.String(), q.args...)
	if err != nil {
		return store.IncidentPage{}, dbErr("list incidents", err)
	}
	defer rows.Close()
	var page store.IncidentPage
	var lastPK int64
	var pks []int64
	for rows.Next() {
		if len(page.Incidents) == iq.Limit {
			page.Next = cursor{kind: cursorIncidents, order: iq.Order, fp: fp.sum(), a: lastPK}.encode()
			break
		}
		var in store.Incident
		if lastPK, err = scanIncident(rows, &in); err != nil {
			return store.IncidentPage{}, dbErr("list incidents", err)
		}
		page.Incidents = append(page.Incidents, in)
		pks = append(pks, lastPK)
	}
	if err := rows.Err(); err != nil {
		return store.IncidentPage{}, dbErr("list incidents", err)
	}
	rows.Close()
	return page, dbErr("list incidents: entities", fillEntities(ctx, db.rs.query, page.Incidents, pks))
}

// UpdateIncident changes status or assignee or adds a comment, recording
// each change in the history.
func (db *DB) UpdateIncident(ctx context.Context, scope store.Scope, c store.IncidentChange) (store.IncidentDetail, error) {
	if err := c.Validate(); err != nil {
		return store.IncidentDetail{}, err
	}
	if c.Audit != nil {
		if err := db.checkAudit(scope, c.Audit); err != nil {
			return store.IncidentDetail{}, err
		}
	}
	var out store.IncidentDetail
	err := db.inWrite(ctx, func(tx *Tx) error {
		q := &query{}
		q.sql("SELECT i.pk, i.status, i.assignee FROM incidents i WHERE ").arg("i.id = ?", c.ID)
		q.scope("i.tenant", scope)
		q.sql(db.d.ForUpdate())
		var pk int64
		var status, assignee string
		err := tx.QueryRow(ctx, q.String(), q.args...).Scan(&pk, &status, &assignee)
		if errors.Is(err, sql.ErrNoRows) {
			return store.Errorf(store.ErrNotFound, "incident %q not found", c.ID)
		}
		if err != nil {
			return dbErr("update incident "+c.ID, err)
		}
		now := db.nowNS()
		if c.Status != store.StatusUnset && c.Status.String() != status {
			if err := db.addHistory(ctx, tx, pk, now, c.Actor, "status", status, c.Status.String()); err != nil {
				return err
			}
			status = c.Status.String()
		}
		if c.Assignee != nil && *c.Assignee != assignee {
			if err := db.addHistory(ctx, tx, pk, now, c.Actor, "assignee", assignee, *c.Assignee); err != nil {
				return err
			}
			assignee = *c.Assignee
		}
		if c.Comment != "" {
			if err := db.addHistory(ctx, tx, pk, now, c.Actor, "comment", "", c.Comment); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, "UPDATE incidents SET status = ?, assignee = ?, updated = ? WHERE pk = ?", status, assignee, now, pk); err != nil {
			return dbErr("update incident "+c.ID, err)
		}
		if c.Audit != nil {
			if _, err := db.appendAudit(ctx, tx, *c.Audit); err != nil {
				return err
			}
		}
		out, err = db.incidentDetail(ctx, tx, scope, c.ID)
		return err
	})
	return out, err
}
