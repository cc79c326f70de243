package sqlstore

import (
	"context"

	"github.com/vigil-project/vigil/internal/store"
)

// PruneEvents deletes the tenant's events older than before, one bounded
// transaction at a time.
func (db *DB) PruneEvents(ctx context.Context, scope store.Scope, tenant string, before int64) (int64, error) {
	if err := scope.Check(tenant); err != nil {
		return 0, err
	}
	if !store.ValidTenant(tenant) {
		return 0, store.Errorf(store.ErrInvalid, "prune events: tenant %q is not a valid tenant name", tenant)
	}
	return db.deleteEvents(ctx, "prune events of "+tenant, &eventMatch{
		tenants: []int64{db.entityKey(kindTenant, tenant)},
		timeMax: before,
		filter:  func(q *query) { q.arg(" AND e.tenant = ?", tenant).arg(" AND e.time < ?", before) },
	})
}

// EraseSubject deletes the tenant's events, alerts and incidents naming the
// subject.
func (db *DB) EraseSubject(ctx context.Context, scope store.Scope, tenant string, subject store.Entity) (store.Erasure, error) {
	var out store.Erasure
	if err := scope.Check(tenant); err != nil {
		return out, err
	}
	if !store.ValidTenant(tenant) {
		return out, store.Errorf(store.ErrInvalid, "erase subject: tenant %q is not a valid tenant name", tenant)
	}
	if err := store.ValidateEntity(subject); err != nil {
		return out, err
	}
	var err error
	if col := entityColumn(subject.Kind); col != "" {
		out.Events, err = db.deleteEvents(ctx, "erase events", &eventMatch{
			keys:   []int64{db.entityKey(string(subject.Kind), subject.Value)},
			filter: func(q *query) { q.arg(" AND e."+col+" = ?", subject.Value).arg(" AND e.tenant = ?", tenant) },
		})
		if err != nil {
			return out, err
		}
	}
	if out.Alerts, err = db.eraseAlerts(ctx, tenant, subject); err != nil {
		return out, err
	}
	out.Incidents, err = db.eraseIncidents(ctx, tenant, subject)
	return out, err
}

// eraseAlerts deletes the alerts naming the subject, batch by batch, and
// takes them out of their incidents.
func (db *DB) eraseAlerts(ctx context.Context, tenant string, subject store.Entity) (int64, error) {
	var total int64
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		var n int
		err := db.inWrite(ctx, func(tx *Tx) error {
			pks, ids, err := selectPairs(ctx, tx, `SELECT a.pk, a.id FROM alerts a WHERE a.tenant = ? AND a.pk IN
(SELECT alert_pk FROM alert_entities WHERE kind = ? AND value = ?) LIMIT ?`, tenant, string(subject.Kind), subject.Value, store.DeleteBatch)
			if err != nil {
				return dbErr("erase alerts", err)
			}
			n = len(pks)
			for i, pk := range pks {
				for _, q := range []string{"DELETE FROM alert_entities WHERE alert_pk = ?", "DELETE FROM alert_evidence WHERE alert_pk = ?",
					"DELETE FROM alerts WHERE pk = ?"} {
					if _, err := tx.Exec(ctx, q, pk); err != nil {
						return dbErr("erase alerts", err)
					}
				}
				res, err := tx.Exec(ctx, `UPDATE incidents SET alert_count = alert_count - 1
WHERE pk IN (SELECT incident_pk FROM incident_alerts WHERE alert_id = ?) AND tenant = ?`, ids[i], tenant)
				if err != nil {
					return dbErr("erase alerts", err)
				}
				if m, _ := res.RowsAffected(); m > 0 {
					if _, err := tx.Exec(ctx, `DELETE FROM incident_alerts WHERE alert_id = ? AND incident_pk IN
(SELECT pk FROM incidents WHERE tenant = ?)`, ids[i], tenant); err != nil {
						return dbErr("erase alerts", err)
					}
				}
			}
			return nil
		})
		total += int64(n)
		if err != nil {
			return total, err
		}
		if n < store.DeleteBatch {
			return total, nil
		}
	}
}

// eraseIncidents deletes the incidents naming the subject with their
// alert links, entities and history.
func (db *DB) eraseIncidents(ctx context.Context, tenant string, subject store.Entity) (int64, error) {
	var total int64
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		var n int
		err := db.inWrite(ctx, func(tx *Tx) error {
			pks, _, err := selectPairs(ctx, tx, `SELECT i.pk, i.id FROM incidents i WHERE i.tenant = ? AND i.pk IN
(SELECT incident_pk FROM incident_entities WHERE kind = ? AND value = ?) LIMIT ?`, tenant, string(subject.Kind), subject.Value, store.DeleteBatch)
			if err != nil {
				return dbErr("erase incidents", err)
			}
			n = len(pks)
			for _, pk := range pks {
				for _, q := range []string{"DELETE FROM incident_alerts WHERE incident_pk = ?", "DELETE FROM incident_entities WHERE incident_pk = ?",
					"DELETE FROM incident_history WHERE incident_pk = ?", "DELETE FROM incidents WHERE pk = ?"} {
					if _, err := tx.Exec(ctx, q, pk); err != nil {
						return dbErr("erase incidents", err)
					}
				}
			}
			return nil
		})
		total += int64(n)
		if err != nil {
			return total, err
		}
		if n < store.DeleteBatch {
			return total, nil
		}
	}
}

// selectPairs reads (pk, id) rows.
func selectPairs(ctx context.Context, tx *Tx, q string, args ...any) ([]int64, []string, error) {
	rows, err := tx.Query(ctx, q, args...)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var pks []int64
	var ids []string
	for rows.Next() {
		var pk int64
		var id string
		if err := rows.Scan(&pk, &id); err != nil {
			return nil, nil, err
		}
		pks = append(pks, pk)
		ids = append(ids, id)
	}
	return pks, ids, rows.Err()
}
