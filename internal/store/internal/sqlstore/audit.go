package sqlstore

import (
	"bytes"
	"context"
	"fmt"

	"github.com/vigil-project/vigil/internal/store"
)

// checkAudit validates an entry and checks its tenant against the scope.
func (db *DB) checkAudit(scope store.Scope, e *store.AuditEntry) error {
	if e.Time == 0 {
		e.Time = db.nowNS()
	}
	if err := e.Validate(); err != nil {
		return err
	}
	return scope.Check(e.Tenant)
}

// AppendAudit appends one entry to the chain.
func (db *DB) AppendAudit(ctx context.Context, scope store.Scope, e store.AuditEntry) (store.AuditEntry, error) {
	if err := db.checkAudit(scope, &e); err != nil {
		return store.AuditEntry{}, err
	}
	var out store.AuditEntry
	err := db.inWrite(ctx, func(tx *Tx) error {
		var err error
		out, err = db.appendAudit(ctx, tx, e)
		return err
	})
	return out, err
}

// appendAudit links e to the chain head inside tx. Taking the head row (an
// UPDATE) serialises appends, so sequence numbers have no gaps and each
// entry's PrevHash is the hash of the entry before it.
func (db *DB) appendAudit(ctx context.Context, tx *Tx, e store.AuditEntry) (store.AuditEntry, error) {
	if e.Detail == nil {
		e.Detail = []byte{}
	}
	if err := tx.QueryRow(ctx, "UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash").Scan(&e.Seq, &e.PrevHash); err != nil {
		return e, dbErr("append audit: chain head", err)
	}
	e.Hash = store.AuditHash(e.PrevHash, &e)
	if _, err := tx.Exec(ctx, `INSERT INTO audit_log (seq, time, actor, action, tenant, target, detail, prev_hash, hash)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, e.Seq, e.Time, e.Actor, e.Action, e.Tenant, e.Target, e.Detail, e.PrevHash, e.Hash); err != nil {
		return e, dbErr("append audit", err)
	}
	if _, err := tx.Exec(ctx, "UPDATE audit_head SET hash = ? WHERE id = 1", e.Hash); err != nil {
		return e, dbErr("append audit: chain head", err)
	}
	return e, nil
}

const auditColumns = "seq, time, actor, action, tenant, target, detail, prev_hash, hash"

func scanAudit(s interface{ Scan(...any) error }, e *store.AuditEntry) error {
	return s.Scan(&e.Seq, &e.Time, &e.Actor, &e.Action, &e.Tenant, &e.Target, &e.Detail, &e.PrevHash, &e.Hash)
}

// ExportAudit returns entries in chain order.
func (db *DB) ExportAudit(ctx context.Context, scope store.Scope, aq store.AuditQuery) ([]store.AuditEntry, error) {
	if db.isClosed() {
		return nil, store.ErrClosed
	}
	if err := aq.Normalize(); err != nil {
		return nil, err
	}
	scope, err := scope.Narrow(aq.Tenant)
	if err != nil {
		return nil, err
	}
	q := &query{}
	q.sql("SELECT "+auditColumns+" FROM audit_log WHERE ").arg("seq > ?", aq.AfterSeq)
	q.scope("tenant", scope)
	q.arg(" ORDER BY seq LIMIT ?", aq.Limit)
	rows, err := db.rs.query(ctx, q.String(), q.args...)
	if err != nil {
		return nil, dbErr("export audit", err)
	}
	defer rows.Close()
	var out []store.AuditEntry
	for rows.Next() {
		var e store.AuditEntry
		if err := scanAudit(rows, &e); err != nil {
			return nil, dbErr("export audit", err)
		}
		out = append(out, e)
	}
	return out, dbErr("export audit", rows.Err())
}

// verifyPage is how many entries VerifyAudit reads per query.
const verifyPage = 1000

// VerifyAudit walks the chain in one snapshot: every entry must follow the
// one before it (no gap), carry its hash as PrevHash, and hash to its
// stored hash; the head must name the last entry.
func (db *DB) VerifyAudit(ctx context.Context, scope store.Scope) (store.AuditReport, error) {
	var rep store.AuditReport
	if !scope.All() {
		return rep, store.Errorf(store.ErrForbidden, "verifying the audit chain needs the all-tenants scope: the chain spans every tenant")
	}
	err := db.inRead(ctx, func(tx *Tx) error {
		var headSeq int64
		var headHash []byte
		if err := tx.QueryRow(ctx, "SELECT seq, hash FROM audit_head WHERE id = 1").Scan(&headSeq, &headHash); err != nil {
			return dbErr("verify audit: chain head", err)
		}
		prev := store.GenesisHash()
		var last int64
		broken := func(seq int64, format string, args ...any) {
			rep.Broken = &store.AuditBreak{Seq: seq, Reason: fmt.Sprintf(format, args...)}
		}
		for rep.Broken == nil {
			rows, err := tx.Query(ctx, "SELECT "+auditColumns+" FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?", last, verifyPage)
			if err != nil {
				return dbErr("verify audit", err)
			}
			n := 0
			for rows.Next() && rep.Broken == nil {
				n++
				var e store.AuditEntry
				if err := scanAudit(rows, &e); err != nil {
					rows.Close()
					return dbErr("verify audit", err)
				}
				switch {
				case e.Seq != last+1:
					broken(last+1, "entry %d is missing: the log goes on at entry %d", last+1, e.Seq)
				case !bytes.Equal(e.PrevHash, prev):
					broken(e.Seq, "prev_hash does not match the hash of entry %d: entry %d or %d was altered", last, last, e.Seq)
				case !bytes.Equal(store.AuditHash(e.PrevHash, &e), e.Hash):
					broken(e.Seq, "hash does not match the entry's content: entry %d was altered", e.Seq)
				default:
					rep.Entries++
					last, prev = e.Seq, e.Hash
				}
			}
			err = rows.Err()
			rows.Close()
			if err != nil {
				return dbErr("verify audit", err)
			}
			if n < verifyPage {
				break
			}
		}
		if rep.Broken == nil && (headSeq != last || !bytes.Equal(headHash, prev)) {
			switch {
			case headSeq > last:
				broken(last+1, "the chain head records %d entries but the log ends at entry %d: entries at the end were removed", headSeq, last)
			default:
				broken(headSeq, "the chain head (entry %d) does not match the log's last entry (%d)", headSeq, last)
			}
		}
		rep.LastSeq, rep.Head = last, prev
		return nil
	})
	return rep, err
}
