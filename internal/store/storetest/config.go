package storetest

import (
	"strconv"
	"strings"
	"testing"

	"github.com/vigil-project/vigil/internal/store"
)

var configTests = []test{
	{"Config", testConfig},
	{"ConfigBatch", testConfigBatch},
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

// testConfigBatch: PutConfigs writes a batch in one transaction, all or
// none, each change guarded as PutConfig guards it.
func testConfigBatch(t *testing.T, b Backend) {
	s := open(t, b)
	change := func(tenant, key, value string, ifVersion int64) store.ConfigChange {
		return store.ConfigChange{Tenant: tenant, Key: key, Value: []byte(value), IfVersion: ifVersion}
	}
	values := func(tenant, prefix string) []string {
		t.Helper()
		list, err := s.ListConfig(ctx, all, tenant, prefix)
		wantErr(t, "list", err, nil)
		var out []string
		for _, e := range list {
			out = append(out, e.Key+"="+string(e.Value)+"@"+strconv.FormatInt(e.Version, 10))
		}
		return out
	}

	out, err := s.PutConfigs(ctx, all, nil)
	wantErr(t, "empty batch", err, nil)
	equal(t, "empty batch", len(out), 0)

	out, err = s.PutConfigs(ctx, all, []store.ConfigChange{
		change("fleet-a", "vault/1", "one", store.MustNotExist),
		change("fleet-a", "vault/2", "two", store.MustNotExist),
		change("fleet-b", "vault/1", "b-one", 0),
	})
	wantErr(t, "create three", err, nil)
	equal(t, "entries", len(out), 3)
	for i, want := range []string{"vault/1", "vault/2", "vault/1"} {
		if out[i].Key != want || out[i].Version != 1 || out[i].Updated == 0 {
			t.Fatalf("entry %d: %+v", i, out[i])
		}
	}
	equal(t, "fleet-a", values("fleet-a", "vault/"), []string{"vault/1=one@1", "vault/2=two@1"})

	// One failed guard: nothing of the batch is written.
	_, err = s.PutConfigs(ctx, all, []store.ConfigChange{
		change("fleet-a", "vault/3", "three", store.MustNotExist),
		change("fleet-a", "vault/2", "two again", store.MustNotExist),
	})
	wantErr(t, "one exists", err, store.ErrConflict)
	if err != nil && !strings.Contains(err.Error(), "vault/2") {
		t.Errorf("the conflict does not name its key: %v", err)
	}
	_, err = s.PutConfigs(ctx, all, []store.ConfigChange{
		change("fleet-a", "vault/3", "three", store.MustNotExist),
		change("fleet-a", "vault/1", "one v2", 5),
	})
	wantErr(t, "stale version", err, store.ErrConflict)
	equal(t, "after refused batches", values("fleet-a", "vault/"), []string{"vault/1=one@1", "vault/2=two@1"})

	out, err = s.PutConfigs(ctx, all, []store.ConfigChange{
		change("fleet-a", "vault/1", "one v2", 1),
		change("fleet-a", "vault/3", "three", store.MustNotExist),
	})
	wantErr(t, "guarded update and create", err, nil)
	equal(t, "versions", []int64{out[0].Version, out[1].Version}, []int64{2, 1})
	equal(t, "after", values("fleet-a", "vault/"), []string{"vault/1=one v2@2", "vault/2=two@1", "vault/3=three@1"})

	// Checked before anything is written: scope, keys, repeats, size.
	_, err = s.PutConfigs(ctx, onlyA, []store.ConfigChange{change("fleet-a", "vault/4", "x", 0), change("fleet-b", "vault/4", "x", 0)})
	wantErr(t, "a tenant outside the scope", err, store.ErrForbidden)
	_, err = s.PutConfigs(ctx, all, []store.ConfigChange{change("fleet-a", "vault/4", "x", 0), change("fleet-a", "vault/4", "y", 0)})
	wantErr(t, "a key twice", err, store.ErrInvalid)
	_, err = s.PutConfigs(ctx, all, []store.ConfigChange{change("fleet-a", "vault/4", "x", 0), change("fleet-a", "", "y", 0)})
	wantErr(t, "no key", err, store.ErrInvalid)
	_, err = s.PutConfigs(ctx, all, make([]store.ConfigChange, store.MaxConfigBatch+1))
	wantErr(t, "too many", err, store.ErrInvalid)
	equal(t, "nothing written by refused batches", values("fleet-a", "vault/"), []string{"vault/1=one v2@2", "vault/2=two@1", "vault/3=three@1"})
	equal(t, "fleet-b untouched", values("fleet-b", "vault/"), []string{"vault/1=b-one@1"})

	// A full batch, with an audit entry on one change.
	big := make([]store.ConfigChange, store.MaxConfigBatch)
	for i := range big {
		big[i] = change("fleet-b", "bulk/"+strconv.Itoa(i), "v", store.MustNotExist)
	}
	big[7].Audit = &store.AuditEntry{Actor: "ana", Action: "config.bulk", Tenant: "fleet-b", Target: "bulk/7"}
	_, err = s.PutConfigs(ctx, onlyB, big)
	wantErr(t, "full batch", err, nil)
	list, err := s.ListConfig(ctx, all, "fleet-b", "bulk/")
	wantErr(t, "list bulk", err, nil)
	equal(t, "bulk entries", len(list), store.MaxConfigBatch)
	entries, _ := s.ExportAudit(ctx, all, store.AuditQuery{})
	if len(entries) != 1 || entries[0].Action != "config.bulk" {
		t.Fatalf("audit: %+v", entries)
	}
}
