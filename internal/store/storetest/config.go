package storetest

import (
	"testing"

	"github.com/vigil-project/vigil/internal/store"
)

var configTests = []test{
	{"Config", testConfig},
}

func testConfig(t *testing.T, b Backend) {
	s := open(t, b)
	put := func(tenant, key, value string, ifVersion int64) (store.ConfigEntry, error) {
		return s.PutConfig(ctx, all, store.ConfigChange{Tenant: tenant, Key: key, Value: []byte(value), IfVersion: ifVersion})
	}
	_, err := s.GetConfig(ctx, all, "fleet-a", "suppress/x")
	wantErr(t, "missing", err, store.ErrNotFound)
	e, err := put("fleet-a", "suppress/x", "v1", store.MustNotExist)
	wantErr(t, "create", err, nil)
	equal(t, "version", e.Version, int64(1))
	_, err = put("fleet-a", "suppress/x", "again", store.MustNotExist)
	wantErr(t, "create twice", err, store.ErrConflict)
	_, err = put("fleet-a", "suppress/x", "v2", 7)
	wantErr(t, "stale version", err, store.ErrConflict)
	e, err = put("fleet-a", "suppress/x", "v2", 1)
	wantErr(t, "guarded update", err, nil)
	equal(t, "version", e.Version, int64(2))
	e, err = put("fleet-a", "suppress/x", "v3", 0)
	wantErr(t, "unguarded update", err, nil)
	equal(t, "version", e.Version, int64(3))
	_, err = put("fleet-a", "suppress/y", "y", 0)
	wantErr(t, "second key", err, nil)
	_, err = put("fleet-a", "rules/z", "z", 0)
	wantErr(t, "other prefix", err, nil)
	_, err = put("", "suppress/platform", "p", 0)
	wantErr(t, "platform key", err, nil)
	_, err = put("fleet-b", "suppress/x", "b", 0)
	wantErr(t, "other tenant", err, nil)

	got, err := s.GetConfig(ctx, onlyA, "fleet-a", "suppress/x")
	wantErr(t, "get", err, nil)
	if string(got.Value) != "v3" || got.Version != 3 || got.Updated == 0 {
		t.Fatalf("got %+v", got)
	}
	list, err := s.ListConfig(ctx, onlyA, "fleet-a", "suppress/")
	wantErr(t, "list", err, nil)
	var keys []string
	for _, e := range list {
		keys = append(keys, e.Key+"="+string(e.Value))
	}
	equal(t, "list", keys, []string{"suppress/x=v3", "suppress/y=y"})
	list, err = s.ListConfig(ctx, onlyA, "fleet-a", "")
	wantErr(t, "list all", err, nil)
	equal(t, "list all", len(list), 3)

	err = s.DeleteConfig(ctx, onlyA, store.ConfigChange{Tenant: "fleet-a", Key: "suppress/x", IfVersion: 2})
	wantErr(t, "stale delete", err, store.ErrConflict)
	err = s.DeleteConfig(ctx, onlyA, store.ConfigChange{Tenant: "fleet-a", Key: "suppress/x", IfVersion: 3,
		Audit: &store.AuditEntry{Actor: "ana", Action: "config.delete", Tenant: "fleet-a", Target: "suppress/x"}})
	wantErr(t, "delete", err, nil)
	err = s.DeleteConfig(ctx, onlyA, store.ConfigChange{Tenant: "fleet-a", Key: "suppress/x"})
	wantErr(t, "delete again", err, store.ErrNotFound)
	_, err = s.GetConfig(ctx, onlyA, "fleet-a", "suppress/x")
	wantErr(t, "deleted", err, store.ErrNotFound)
	b2, err := s.GetConfig(ctx, onlyB, "fleet-b", "suppress/x")
	wantErr(t, "other tenant untouched", err, nil)
	equal(t, "other tenant's value", string(b2.Value), "b")
	entries, _ := s.ExportAudit(ctx, all, store.AuditQuery{})
	if len(entries) != 1 || entries[0].Action != "config.delete" {
		t.Fatalf("audit: %+v", entries)
	}

	_, err = s.GetConfig(ctx, onlyA, "", "suppress/platform")
	wantErr(t, "platform key from a tenant scope", err, store.ErrForbidden)
	_, err = put("fleet-a", "", "x", 0)
	wantErr(t, "no key", err, store.ErrInvalid)
	_, err = s.PutConfig(ctx, all, store.ConfigChange{Tenant: "fleet-a", Key: "big", Value: make([]byte, store.MaxConfigValue+1)})
	wantErr(t, "value too large", err, store.ErrInvalid)
}
