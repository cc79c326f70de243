package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"unicode/utf8"

	"github.com/vigil-project/vigil/internal/store"
)

// PutConfig creates or replaces a key, guarded by IfVersion.
func (db *DB) PutConfig(ctx context.Context, scope store.Scope, c store.ConfigChange) (store.ConfigEntry, error) {
	out, err := db.PutConfigs(ctx, scope, []store.ConfigChange{c})
	if err != nil {
		return store.ConfigEntry{}, err
	}
	return out[0], nil
}

// PutConfigs applies a batch of puts in one transaction, all or none.
func (db *DB) PutConfigs(ctx context.Context, scope store.Scope, changes []store.ConfigChange) ([]store.ConfigEntry, error) {
	if len(changes) > store.MaxConfigBatch {
		return nil, store.Errorf(store.ErrInvalid, "%d config changes in one batch, more than %d", len(changes), store.MaxConfigBatch)
	}
	type tk struct{ tenant, key string }
	seen := make(map[tk]bool, len(changes))
	for i := range changes {
		c := &changes[i]
		if err := c.Validate(true); err != nil {
			return nil, err
		}
		if err := scope.Check(c.Tenant); err != nil {
			return nil, err
		}
		if c.Audit != nil {
			if err := db.checkAudit(scope, c.Audit); err != nil {
				return nil, err
			}
		}
		if seen[tk{c.Tenant, c.Key}] {
			return nil, store.Errorf(store.ErrInvalid, "config %q of tenant %q twice in one batch", c.Key, c.Tenant)
		}
		seen[tk{c.Tenant, c.Key}] = true
	}
	if len(changes) == 0 {
		return nil, nil
	}
	updated := db.nowNS()
	out := make([]store.ConfigEntry, len(changes))
	err := db.inWrite(ctx, func(tx *Tx) error {
		for i, c := range changes {
			var err error
			if out[i], err = db.putConfig(ctx, tx, c, updated); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// putConfig writes one checked change in tx.
func (db *DB) putConfig(ctx context.Context, tx *Tx, c store.ConfigChange, updated int64) (store.ConfigEntry, error) {
	if c.Value == nil {
		c.Value = []byte{}
	}
	out := store.ConfigEntry{Tenant: c.Tenant, Key: c.Key, Value: c.Value, Updated: updated}
	cur, err := db.configVersion(ctx, tx, c)
	if err != nil {
		return out, err
	}
	if cur == 0 {
		res, err := tx.Exec(ctx, "INSERT INTO config (tenant, key, value, version, updated) VALUES (?, ?, ?, 1, ?) ON CONFLICT DO NOTHING",
			c.Tenant, c.Key, c.Value, updated)
		if err != nil {
			return out, dbErr("put config "+c.Key, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return out, store.Errorf(store.ErrConflict, "config %q of tenant %q was created concurrently: read it and retry", c.Key, c.Tenant)
		}
		out.Version = 1
	} else {
		if _, err := tx.Exec(ctx, "UPDATE config SET value = ?, version = ?, updated = ? WHERE tenant = ? AND key = ?",
			c.Value, cur+1, updated, c.Tenant, c.Key); err != nil {
			return out, dbErr("put config "+c.Key, err)
		}
		out.Version = cur + 1
	}
	if c.Audit != nil {
		if _, err := db.appendAudit(ctx, tx, *c.Audit); err != nil {
			return out, err
		}
	}
	return out, nil
}

// configVersion locks and returns the stored version of the key (0 when
// absent) after checking the change's guard.
func (db *DB) configVersion(ctx context.Context, tx *Tx, c store.ConfigChange) (int64, error) {
	var cur int64
	err := tx.QueryRow(ctx, "SELECT version FROM config WHERE tenant = ? AND key = ?"+db.d.ForUpdate(), c.Tenant, c.Key).Scan(&cur)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, dbErr("config "+c.Key, err)
	}
	switch {
	case c.IfVersion == store.MustNotExist && cur != 0:
		return 0, store.Errorf(store.ErrConflict, "config %q of tenant %q already exists (version %d)", c.Key, c.Tenant, cur)
	case c.IfVersion > 0 && cur != c.IfVersion:
		return 0, store.Errorf(store.ErrConflict, "config %q of tenant %q is at version %d, not %d: read it and retry", c.Key, c.Tenant, cur, c.IfVersion)
	}
	return cur, nil
}

// GetConfig returns one key.
func (db *DB) GetConfig(ctx context.Context, scope store.Scope, tenant, key string) (store.ConfigEntry, error) {
	e := store.ConfigEntry{Tenant: tenant, Key: key}
	if db.isClosed() {
		return e, store.ErrClosed
	}
	if err := scope.Check(tenant); err != nil {
		return e, err
	}
	err := db.rs.queryRow(ctx, "SELECT value, version, updated FROM config WHERE tenant = ? AND key = ?", tenant, key).
		Scan(&e.Value, &e.Version, &e.Updated)
	if errors.Is(err, sql.ErrNoRows) {
		return e, store.Errorf(store.ErrNotFound, "config %q of tenant %q not found", key, tenant)
	}
	return e, dbErr("get config "+key, err)
}

// ListConfig returns the tenant's keys starting with prefix.
func (db *DB) ListConfig(ctx context.Context, scope store.Scope, tenant, prefix string) ([]store.ConfigEntry, error) {
	if db.isClosed() {
		return nil, store.ErrClosed
	}
	if err := scope.Check(tenant); err != nil {
		return nil, err
	}
	if len(prefix) > store.MaxConfigKeyLen || !utf8.ValidString(prefix) {
		return nil, store.Errorf(store.ErrInvalid, "config prefix: want valid UTF-8 of at most %d bytes", store.MaxConfigKeyLen)
	}
	// substr counts characters in both dialects.
	rows, err := db.rs.query(ctx, `SELECT key, value, version, updated FROM config
WHERE tenant = ? AND substr(key, 1, ?) = ? ORDER BY key LIMIT ?`, tenant, utf8.RuneCountInString(prefix), prefix, store.MaxConfigList)
	if err != nil {
		return nil, dbErr("list config", err)
	}
	defer rows.Close()
	var out []store.ConfigEntry
	for rows.Next() {
		e := store.ConfigEntry{Tenant: tenant}
		if err := rows.Scan(&e.Key, &e.Value, &e.Version, &e.Updated); err != nil {
			return nil, dbErr("list config", err)
		}
		out = append(out, e)
	}
	return out, dbErr("list config", rows.Err())
}

// DeleteConfig deletes a key, guarded by IfVersion.
func (db *DB) DeleteConfig(ctx context.Context, scope store.Scope, c store.ConfigChange) error {
	if err := c.Validate(false); err != nil {
		return err
	}
	if err := scope.Check(c.Tenant); err != nil {
		return err
	}
	if c.Audit != nil {
		if err := db.checkAudit(scope, c.Audit); err != nil {
			return err
		}
	}
	return db.inWrite(ctx, func(tx *Tx) error {
		cur, err := db.configVersion(ctx, tx, c)
		if err != nil {
			return err
		}
		if cur == 0 {
			return store.Errorf(store.ErrNotFound, "config %q of tenant %q not found", c.Key, c.Tenant)
		}
		if _, err := tx.Exec(ctx, "DELETE FROM config WHERE tenant = ? AND key = ?", c.Tenant, c.Key); err != nil {
			return dbErr("delete config "+c.Key, err)
		}
		if c.Audit != nil {
			if _, err := db.appendAudit(ctx, tx, *c.Audit); err != nil {
				return err
			}
		}
		return nil
	})
}
