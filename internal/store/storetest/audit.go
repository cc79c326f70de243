package storetest

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/vigil-project/vigil/internal/store"
)

var auditTests = append([]test{
	{"Audit/Chain", testAuditChain},
	{"Audit/Invalid", testAuditInvalid},
}, tamperTests()...)

func appendEntries(t *testing.T, s store.Store, n int) []store.AuditEntry {
	t.Helper()
	var out []store.AuditEntry
	for i := 1; i <= n; i++ {
		tenant := "fleet-a"
		if i%2 == 0 {
			tenant = "fleet-b"
		}
		if i == 3 {
			tenant = "" // platform-wide
		}
		e, err := s.AppendAudit(ctx, all, store.AuditEntry{Time: at(i), Actor: "ana", Action: "incident.update",
			Tenant: tenant, Target: fmt.Sprintf("inc-%d", i), Detail: []byte(fmt.Sprintf(`{"step":%d}`, i))})
		wantErr(t, "AppendAudit", err, nil)
		out = append(out, e)
	}
	return out
}

func testAuditChain(t *testing.T, b Backend) {
	s := open(t, b)
	rep, err := s.VerifyAudit(ctx, all)
	wantErr(t, "VerifyAudit of an empty log", err, nil)
	if rep.Broken != nil || rep.Entries != 0 {
		t.Fatalf("empty log: %+v", rep)
	}
	written := appendEntries(t, s, 5)
	prev := store.GenesisHash()
	for i, e := range written {
		if e.Seq != int64(i+1) || !bytes.Equal(e.PrevHash, prev) || !bytes.Equal(e.Hash, store.AuditHash(prev, &e)) {
			t.Fatalf("entry %d: seq %d, not linked to the one before", i, e.Seq)
		}
		prev = e.Hash
	}
	wantErr(t, "Close", s.Close(), nil)
	s = open(t, b)
	got, err := s.ExportAudit(ctx, all, store.AuditQuery{})
	wantErr(t, "ExportAudit", err, nil)
	equal(t, "export", got, written)
	got, err = s.ExportAudit(ctx, all, store.AuditQuery{AfterSeq: 2, Limit: 2})
	wantErr(t, "ExportAudit page", err, nil)
	equal(t, "export page", got, written[2:4])
	got, err = s.ExportAudit(ctx, onlyB, store.AuditQuery{})
	wantErr(t, "ExportAudit fleet-b", err, nil)
	equal(t, "export of one tenant", got, []store.AuditEntry{written[1], written[3]})
	rep, err = s.VerifyAudit(ctx, all)
	wantErr(t, "VerifyAudit", err, nil)
	if rep.Broken != nil || rep.Entries != 5 || rep.LastSeq != 5 || !bytes.Equal(rep.Head, written[4].Hash) {
		t.Fatalf("VerifyAudit: %+v", rep)
	}
	// Appending after a reopen continues the chain.
	e, err := s.AppendAudit(ctx, onlyA, store.AuditEntry{Actor: "ana", Action: "alert.update", Tenant: "fleet-a"})
	wantErr(t, "AppendAudit", err, nil)
	if e.Seq != 6 || !bytes.Equal(e.PrevHash, written[4].Hash) || e.Time == 0 {
		t.Fatalf("entry after reopen: %+v", e)
	}
}

// tamperCases edit the log behind the store's back, as someone with access
// to the database could; VerifyAudit must name the first broken entry.
var tamperCases = []struct {
	name     string
	sql      string
	brokenAt int64
	reason   string
}{
	{"EditActor", "UPDATE audit_log SET actor = 'mallory' WHERE seq = 2", 2, "altered"},
	{"EditTime", "UPDATE audit_log SET time = time + 1 WHERE seq = 4", 4, "altered"},
	{"EditTenant", "UPDATE audit_log SET tenant = 'fleet-a' WHERE seq = 2", 2, "altered"},
	{"ReplaceHash", "UPDATE audit_log SET hash = prev_hash WHERE seq = 3", 3, "altered"},
	{"Renumber", "UPDATE audit_log SET seq = seq + 100 WHERE seq = 2", 2, "missing"},
	{"DeleteOne", "DELETE FROM audit_log WHERE seq = 3", 3, "missing"},
	{"DeleteLast", "DELETE FROM audit_log WHERE seq = 5", 5, "removed"},
	{"DeleteAll", "DELETE FROM audit_log", 1, "removed"},
}

func tamperTests() []test {
	var out []test
	for _, c := range tamperCases {
		out = append(out, test{"Audit/Tamper/" + c.name, func(t *testing.T, b Backend) {
			s := open(t, b)
			appendEntries(t, s, 5)
			rep, err := s.VerifyAudit(ctx, all)
			wantErr(t, "verify before", err, nil)
			if rep.Broken != nil {
				t.Fatalf("intact chain reported broken: %+v", rep.Broken)
			}
			b.Exec(t, c.sql)
			rep, err = s.VerifyAudit(ctx, all)
			wantErr(t, "verify", err, nil)
			if rep.Broken == nil {
				t.Fatalf("%s: tampering not detected", c.sql)
			}
			if rep.Broken.Seq != c.brokenAt || !contains(rep.Broken.Reason, c.reason) {
				t.Fatalf("%s: broken at %d (%s), want at %d (%s)", c.sql, rep.Broken.Seq, rep.Broken.Reason, c.brokenAt, c.reason)
			}
		}})
	}
	return out
}

func testAuditInvalid(t *testing.T, b Backend) {
	s := open(t, b)
	for name, e := range map[string]store.AuditEntry{
		"no actor":         {Action: "x"},
		"no action":        {Actor: "x"},
		"bad tenant":       {Actor: "x", Action: "x", Tenant: "a b"},
		"detail not JSON":  {Actor: "x", Action: "x", Detail: []byte("{")},
		"detail an array":  {Actor: "x", Action: "x", Detail: []byte("[]")},
		"detail too large": {Actor: "x", Action: "x", Detail: append(append([]byte(`{"a":"`), bytes.Repeat([]byte("x"), store.MaxAuditDetail)...), `"}`...)},
	} {
		_, err := s.AppendAudit(ctx, all, e)
		wantErr(t, name, err, store.ErrInvalid)
	}
	_, err := s.AppendAudit(ctx, onlyA, store.AuditEntry{Actor: "x", Action: "x"})
	wantErr(t, "platform entry from a tenant scope", err, store.ErrForbidden)
	_, err = s.VerifyAudit(ctx, onlyA)
	wantErr(t, "verify from a tenant scope", err, store.ErrForbidden)
}
