package api

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/store"
)

// TestKeys walks the key management routes in order: who may create, list
// and revoke keys, that a created key works and a revoked one stops at
// once, that every change is audited, and that no answer shows a hash.
func TestKeys(t *testing.T) {
	ta := newTestAPI(t, liveDefaults)
	analyst, _ := ta.key(t, "analyst", "*")
	viewer, _ := ta.key(t, "viewer", "fleet-a")
	adminA, adminAID := ta.key(t, "admin", "fleet-a")
	ingest, _ := ta.key(t, "ingest", "*")

	var created keyCreated // the key the steps create, then revoke
	var second keyCreated  // a second admin for every tenant
	steps := []struct {
		name        string
		method      string
		path        func() string
		key         *string
		body        string
		want        int
		code, field string // the error's code and field, when want is not 200
		check       func(t *testing.T, body []byte)
	}{
		{name: "no key", method: "GET", path: lit("/v1/keys"), key: ptr(""), want: 401, code: "unauthenticated"},
		{name: "a viewer may not list keys", method: "GET", path: lit("/v1/keys"), key: &viewer, want: 403, code: "forbidden"},
		{name: "an analyst may not create keys", method: "POST", path: lit("/v1/keys"), key: &analyst,
			body: `{"role":"viewer","tenants":["fleet-a"],"name":"x"}`, want: 403, code: "forbidden"},
		{name: "an ingest key may not create keys", method: "POST", path: lit("/v1/keys"), key: &ingest,
			body: `{"role":"viewer","tenants":["fleet-a"],"name":"x"}`, want: 403, code: "forbidden"},
		{name: "unknown role", method: "POST", path: lit("/v1/keys"), key: &ta.admin,
			body: `{"role":"root","tenants":["*"],"name":"x"}`, want: 400, code: "invalid_parameter", field: "role"},
		{name: "no tenant", method: "POST", path: lit("/v1/keys"), key: &ta.admin,
			body: `{"role":"viewer","tenants":[],"name":"x"}`, want: 400, code: "invalid_parameter", field: "tenants"},
		{name: "* with others", method: "POST", path: lit("/v1/keys"), key: &ta.admin,
			body: `{"role":"viewer","tenants":["*","fleet-a"],"name":"x"}`, want: 400, code: "invalid_parameter", field: "tenants"},
		{name: "bad tenant name", method: "POST", path: lit("/v1/keys"), key: &ta.admin,
			body: `{"role":"viewer","tenants":["fleet a"],"name":"x"}`, want: 400, code: "invalid_parameter", field: "tenants"},
		{name: "unknown member", method: "POST", path: lit("/v1/keys"), key: &ta.admin,
			body: `{"role":"viewer","tenants":["fleet-a"],"hash":"00"}`, want: 400, code: "bad_request"},
		{name: "an admin of fleet-a may not create a key for every tenant", method: "POST", path: lit("/v1/keys"), key: &adminA,
			body: `{"role":"viewer","tenants":["*"],"name":"x"}`, want: 403, code: "forbidden", field: "tenants"},
		{name: "nor one for fleet-b", method: "POST", path: lit("/v1/keys"), key: &adminA,
			body: `{"role":"viewer","tenants":["fleet-b"],"name":"x"}`, want: 403, code: "forbidden", field: "tenants"},
		{name: "an admin of fleet-a creates a fleet-a viewer", method: "POST", path: lit("/v1/keys"), key: &adminA,
			body: `{"role":"viewer","tenants":["fleet-a"],"name":"fleet-a wallboard"}`, want: 200},
		{name: "create", method: "POST", path: lit("/v1/keys"), key: &ta.admin,
			body: `{"role":"analyst","tenants":["fleet-b","fleet-a","fleet-b"],"name":"night shift"}`, want: 200,
			check: func(t *testing.T, b []byte) {
				created = decode[keyCreated](t, b)
				k := created.Key
				if !strings.HasPrefix(created.Secret, "vgl_"+k.ID+"_") || k.Role != "analyst" || k.Name != "night shift" ||
					!slices.Equal(k.Tenants, []string{"fleet-a", "fleet-b"}) || k.LastUsed != "" {
					t.Errorf("created %+v", created)
				}
			}},
		{name: "the new key works", method: "GET", path: lit("/v1/me"), key: &created.Secret, want: 200,
			check: func(t *testing.T, b []byte) {
				me := decode[meJSON](t, b)
				if me.KeyID != created.Key.ID || me.Role != "analyst" || me.Name != "night shift" || !slices.Equal(me.Tenants, []string{"fleet-a", "fleet-b"}) {
					t.Errorf("/v1/me of the new key: %+v", me)
				}
			}},
		{name: "within its tenants", method: "GET", path: lit("/v1/alerts?tenant=fleet-c"), key: &created.Secret, want: 400, code: "invalid_parameter", field: "tenant"},
		{name: "list", method: "GET", path: lit("/v1/keys"), key: &ta.admin, want: 200,
			check: func(t *testing.T, b []byte) {
				list := decode[keyList](t, b)
				if len(list.Keys) != 7 {
					t.Errorf("%d keys listed, want 7", len(list.Keys))
				}
				for _, k := range list.Keys {
					if k.ID == created.Key.ID && k.LastUsed == "" {
						t.Errorf("the new key was used, yet has no last_used: %+v", k)
					}
				}
				if !strings.Contains(string(b), `"night shift"`) {
					t.Errorf("the new key is not listed: %s", b)
				}
			}},
		{name: "an admin of fleet-a lists the keys within fleet-a", method: "GET", path: lit("/v1/keys"), key: &adminA, want: 200,
			check: func(t *testing.T, b []byte) {
				var names []string
				for _, k := range decode[keyList](t, b).Keys {
					names = append(names, k.Name)
				}
				slices.Sort(names)
				if want := []string{"fleet-a wallboard", "test admin", "test viewer"}; !slices.Equal(names, want) {
					t.Errorf("an admin of fleet-a sees %q, want %q", names, want)
				}
			}},
		{name: "and may not revoke one beyond it", method: "DELETE", path: func() string { return "/v1/keys/" + created.Key.ID }, key: &adminA,
			want: 404, code: "not_found"},
		{name: "an analyst may not revoke", method: "DELETE", path: func() string { return "/v1/keys/" + created.Key.ID }, key: &analyst,
			want: 403, code: "forbidden"},
		{name: "revoke", method: "DELETE", path: func() string { return "/v1/keys/" + created.Key.ID }, key: &ta.admin, want: 200,
			check: func(t *testing.T, b []byte) {
				if k := decode[keyJSON](t, b); k.ID != created.Key.ID {
					t.Errorf("revoked %+v", k)
				}
			}},
		{name: "a revoked key stops at once", method: "GET", path: lit("/v1/me"), key: &created.Secret, want: 401, code: "unauthenticated"},
		{name: "revoked twice", method: "DELETE", path: func() string { return "/v1/keys/" + created.Key.ID }, key: &ta.admin, want: 404, code: "not_found"},
		{name: "not an id", method: "DELETE", path: lit("/v1/keys/..%2f..%2fconfig"), key: &ta.admin, want: 404, code: "not_found"},
		{name: "the only admin for every tenant stays", method: "DELETE", path: func() string { return "/v1/keys/" + keyID(ta.admin) }, key: &ta.admin,
			want: 409, code: "conflict"},
		{name: "a second admin", method: "POST", path: lit("/v1/keys"), key: &ta.admin, body: `{"role":"admin","tenants":["*"],"name":"deputy"}`, want: 200,
			check: func(t *testing.T, b []byte) { second = decode[keyCreated](t, b) }},
		{name: "then the first may go", method: "DELETE", path: func() string { return "/v1/keys/" + keyID(ta.admin) }, key: &second.Secret, want: 200},
		{name: "the first admin stops at once", method: "GET", path: lit("/v1/keys"), key: &ta.admin, want: 401, code: "unauthenticated"},
		{name: "the scoped admin is not one for every tenant", method: "DELETE", path: func() string { return "/v1/keys/" + adminAID }, key: &second.Secret, want: 200},
	}
	for _, s := range steps {
		code, body := ta.do(t, s.method, s.path(), *s.key, s.body)
		if code != s.want {
			t.Fatalf("%s: %s %s answered %d, want %d: %s", s.name, s.method, s.path(), code, s.want, body)
		}
		if strings.Contains(string(body), `"hash"`) {
			t.Errorf("%s: the answer shows a hash: %s", s.name, body)
		}
		if s.want != 200 {
			pe := decode[problemBody](t, body)
			if string(pe.Error.Code) != s.code || pe.Error.Field != s.field {
				t.Errorf("%s: error %s (field %q), want %s (field %q): %s", s.name, pe.Error.Code, pe.Error.Field, s.code, s.field, pe.Error.Message)
			}
		}
		if s.check != nil {
			s.check(t, body)
		}
	}

	// No hash anywhere in a listing, whatever the key.
	keys, err := ta.auth.list(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	_, listing := ta.do(t, "GET", "/v1/keys", second.Secret, "")
	for _, k := range keys {
		if strings.Contains(string(listing), k.Hash) {
			t.Errorf("the listing shows the hash of key %s", k.ID)
		}
	}

	// Every change is in the audit log, by the key that made it.
	entries, err := ta.st.ExportAudit(context.Background(), store.AllTenants(), store.AuditQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var log []string
	for _, e := range entries {
		if strings.HasPrefix(e.Action, "apikey.") && strings.HasPrefix(e.Actor, "key:") {
			var d struct{ Name string }
			json.Unmarshal(e.Detail, &d)
			log = append(log, fmt.Sprintf("%s %s %s %s", e.Actor, e.Action, e.Target, d.Name))
		}
	}
	want := []string{
		"key:" + adminAID + " apikey.create ", // the wallboard (its id is not known here)
		"key:" + keyID(ta.admin) + " apikey.create " + created.Key.ID + " night shift",
		"key:" + keyID(ta.admin) + " apikey.revoke " + created.Key.ID + " night shift",
		"key:" + keyID(ta.admin) + " apikey.create " + second.Key.ID + " deputy",
		"key:" + second.Key.ID + " apikey.revoke " + keyID(ta.admin) + " first admin key",
		"key:" + second.Key.ID + " apikey.revoke " + adminAID + " test admin",
	}
	if len(log) != len(want) {
		t.Fatalf("audit entries of key changes:\n%s\nwant:\n%s", strings.Join(log, "\n"), strings.Join(want, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(log[i], want[i]) {
			t.Errorf("audit entry %d: %q, want %q…", i, log[i], want[i])
		}
	}
	if rep, err := ta.st.VerifyAudit(context.Background(), store.AllTenants()); err != nil || rep.Broken != nil {
		t.Errorf("the audit chain: %v %+v", err, rep.Broken)
	}
}

// TestMe: every role may ask who it is; nothing without a key.
func TestMe(t *testing.T) {
	ta := newTestAPI(t, liveDefaults)
	for _, c := range []struct {
		role    string
		tenants []string
	}{
		{"admin", []string{"*"}},
		{"analyst", []string{"fleet-a", "fleet-b"}},
		{"viewer", []string{"fleet-b"}},
		{"ingest", []string{"fleet-a"}},
		{"gate", []string{"*"}},
	} {
		secret, id := ta.key(t, c.role, c.tenants...)
		code, body := ta.do(t, "GET", "/v1/me", secret, "")
		if code != 200 {
			t.Fatalf("%s: %d %s", c.role, code, body)
		}
		want := meJSON{KeyID: id, Name: "test " + c.role, Role: c.role, Tenants: c.tenants}
		if got := decode[meJSON](t, body); got.KeyID != want.KeyID || got.Name != want.Name || got.Role != want.Role || !slices.Equal(got.Tenants, want.Tenants) {
			t.Errorf("%s: %+v, want %+v", c.role, got, want)
		}
	}
	if code, _ := ta.do(t, "GET", "/v1/me", "", ""); code != 401 {
		t.Errorf("no key: %d, want 401", code)
	}
}

// TestTenants: a scoped key sees its own tenants; a key for every tenant
// sees those named by keys and by the latest alerts.
func TestTenants(t *testing.T) {
	ta := newTestAPI(t, liveDefaults)
	viewer, _ := ta.key(t, "viewer", "fleet-b", "fleet-a")
	ta.key(t, "ingest", "fleet-c")
	a := testAlert("t1", "fleet-d", alert.CategoryUnset+1, event.SeverityUnset+2, "x").Alert
	if _, err := ta.st.UpsertAlerts(context.Background(), store.AllTenants(), []*alert.Alert{&a}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		key  string
		want tenantList
	}{
		{viewer, tenantList{Tenants: []string{"fleet-a", "fleet-b"}, Complete: true}},
		{ta.admin, tenantList{Tenants: []string{"fleet-a", "fleet-b", "fleet-c", "fleet-d"}, AllTenants: true}},
	} {
		code, body := ta.do(t, "GET", "/v1/tenants", c.key, "")
		got := decode[tenantList](t, body)
		if code != 200 || !slices.Equal(got.Tenants, c.want.Tenants) || got.AllTenants != c.want.AllTenants || got.Complete != c.want.Complete {
			t.Errorf("GET /v1/tenants: %d %+v, want %+v", code, got, c.want)
		}
	}
}

// TestLastUsed: each use is noted in memory and written at most once a
// minute, not on every request; another server reads it from the store.
func TestLastUsed(t *testing.T) {
	ta := newTestAPI(t, liveDefaults)
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	ta.auth.mu.Lock()
	ta.auth.now = func() time.Time { return now }
	ta.auth.mu.Unlock()
	viewer, id := ta.key(t, "viewer", "*")
	for range 50 {
		if code, body := ta.do(t, "GET", "/v1/me", viewer, ""); code != 200 {
			t.Fatalf("%d %s", code, body)
		}
	}
	// The write runs beside the requests, not in one.
	waitFlushed := func() {
		t.Helper()
		waitIdle(t, ta.auth, &ta.auth.flushing, "the last-use times are still being written")
	}
	waitFlushed()
	if n := ta.puts.usedPuts.Load(); n != 1 {
		t.Fatalf("50 requests in the same minute wrote the last-use times %d times, want once", n)
	}
	ta.auth.mu.Lock()
	now = now.Add(61 * time.Second)
	ta.auth.mu.Unlock()
	ta.do(t, "GET", "/v1/me", viewer, "")
	waitFlushed()
	if n := ta.puts.usedPuts.Load(); n != 2 {
		t.Fatalf("a minute later: %d writes, want 2", n)
	}
	// Another server on the same store sees the time of the last write.
	other := NewAuth(ta.st)
	used, err := other.lastUsed(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if used[id] != now.UnixNano() {
		t.Errorf("stored last use of %s: %d, want %d", id, used[id], now.UnixNano())
	}
	_, body := ta.do(t, "GET", "/v1/keys", ta.admin, "")
	for _, k := range decode[keyList](t, body).Keys {
		if k.ID == id && k.LastUsed != ts(now.UnixNano()) {
			t.Errorf("listed last use %q, want %q", k.LastUsed, ts(now.UnixNano()))
		}
	}
}

func lit(s string) func() string { return func() string { return s } }

func ptr[T any](v T) *T { return &v }

// TestKeysReloadBesideRequests: once the cache is older than keyCacheTTL,
// requests go on with it while one reload reads the store; a revocation
// during that reload is not undone by what it read before.
func TestKeysReloadBesideRequests(t *testing.T) {
	ta := newTestAPI(t, liveDefaults)
	advance := ta.setClock(t, time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	viewer, _ := ta.key(t, "viewer", "*")
	doomed, doomedID := ta.key(t, "viewer", "*")
	for _, k := range []string{viewer, doomed} {
		if code, body := ta.do(t, "GET", "/v1/me", k, ""); code != 200 {
			t.Fatalf("%d %s", code, body)
		}
	}
	read, release := make(chan struct{}, 1), make(chan struct{})
	hold := func(prefix string) {
		if prefix == keyPrefix {
			read <- struct{}{}
			<-release
		}
	}
	ta.puts.afterList.Store(&hold)
	advance(keyCacheTTL + time.Second)
	// A reload would block this request forever if it waited for one.
	if code, body := ta.do(t, "GET", "/v1/me", viewer, ""); code != 200 {
		t.Fatalf("a request while the keys reload: %d %s", code, body)
	}
	<-read // the reload has read both keys and is held
	if code, body := ta.do(t, "DELETE", "/v1/keys/"+doomedID, ta.admin, ""); code != 200 {
		t.Fatalf("revoke: %d %s", code, body)
	}
	ta.puts.afterList.Store(nil)
	close(release)
	waitIdle(t, ta.auth, &ta.auth.reloading, "the keys' reload has not ended")
	if code, _ := ta.do(t, "GET", "/v1/me", doomed, ""); code != 401 {
		t.Errorf("a key revoked while a reload read it: %d, want 401", code)
	}
	if code, body := ta.do(t, "GET", "/v1/me", viewer, ""); code != 200 {
		t.Errorf("the other key after the reload: %d %s", code, body)
	}
}

// waitIdle waits until *busy, read under a.mu, is false: a background
// write or reload has ended.
func waitIdle(t *testing.T, a *Auth, busy *bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		a.mu.Lock()
		b := *busy
		a.mu.Unlock()
		if !b {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(what + " after 10s")
		}
	}
}
