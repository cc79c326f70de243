package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/vigil-project/vigil/internal/auth"
	"github.com/vigil-project/vigil/internal/clientconf"
)

// who may call each route; the table is written here, independently of the
// server's own, so a route whose protection changes fails this test.
var routeAccess = map[string][]string{
	"GET /v1/health":                 {"none", "ingest", "gate", "viewer", "analyst", "admin"},
	"GET /v1/ready":                  {"none", "ingest", "gate", "viewer", "analyst", "admin"},
	"GET /v1/openapi.json":           {"none", "ingest", "gate", "viewer", "analyst", "admin"},
	"GET /metrics":                   {"none", "ingest", "gate", "viewer", "analyst", "admin"},
	"POST /v1/events":                {"ingest", "admin"},
	"GET /v1/events":                 {"viewer", "analyst", "admin"},
	"GET /v1/alerts":                 {"viewer", "analyst", "admin"},
	"GET /v1/alerts/{id}":            {"viewer", "analyst", "admin"},
	"PATCH /v1/alerts/{id}":          {"analyst", "admin"},
	"GET /v1/alerts/{id}/evidence":   {"viewer", "analyst", "admin"},
	"GET /v1/incidents":              {"viewer", "analyst", "admin"},
	"GET /v1/incidents/{id}":         {"viewer", "analyst", "admin"},
	"PATCH /v1/incidents/{id}":       {"analyst", "admin"},
	"GET /v1/vehicles/{id}":          {"viewer", "analyst", "admin"},
	"GET /v1/principals/{kind}/{id}": {"viewer", "analyst", "admin"},
	"GET /v1/detectors":              {"viewer", "analyst", "admin"},
	"GET /v1/stats":                  {"viewer", "analyst", "admin"},
	"POST /v1/gate":                  {"gate", "admin"},
	"GET /v1/gate/decisions":         {"analyst", "admin"},
	"GET /v1/alerts/stream":          {"viewer", "analyst", "admin"},
	"GET /v1/sinks":                  {"admin"},
	"GET /v1/keys":                   {"admin"},
	"POST /v1/keys":                  {"admin"},
	"DELETE /v1/keys/{id}":           {"admin"},
	"GET /v1/me":                     {"ingest", "gate", "viewer", "analyst", "admin"},
	"POST /v1/me/password":           {"ingest", "gate", "viewer", "analyst", "admin"}, // a key is told it has no password
	"POST /v1/session":               {"none", "ingest", "gate", "viewer", "analyst", "admin"},
	"DELETE /v1/session":             {"ingest", "gate", "viewer", "analyst", "admin"}, // a key is told it has no session
	"GET /v1/session/methods":        {"none", "ingest", "gate", "viewer", "analyst", "admin"},
	"GET /v1/session/oidc":           {"none", "ingest", "gate", "viewer", "analyst", "admin"}, // served while OIDC is configured, as below
	"GET /v1/session/oidc/callback":  {"none", "ingest", "gate", "viewer", "analyst", "admin"},
	"GET /v1/users":                  {"admin"},
	"POST /v1/users":                 {"admin"},
	"PATCH /v1/users/{name}":         {"admin"},
	"DELETE /v1/users/{name}":        {"admin"},
	"GET /v1/tenants":                {"viewer", "analyst", "admin"},
	"POST /v1/pseudonymise":          {"analyst", "admin"},
	"POST /v1/reidentify":            {"admin"},
	"POST /v1/erasure":               {"admin"},
}

// selfRoutes act on the caller's own session or password, not on a
// tenant's objects: a success by another tenant's credential is no leak.
var selfRoutes = map[string]bool{"DELETE /v1/session": true, "POST /v1/me/password": true}

// TestEveryRouteRoleAndTenant calls every route with every role, scoped to
// the alert's tenant and to another one, first with API keys, then with the
// sessions of users (viewer, analyst, admin): roles that may not call a
// route get 401/403, and a credential of another tenant never sees or
// changes the tenant's objects (404, or an empty list, or a rejection
// naming the tenant). A session's change without its CSRF token is 403.
func TestEveryRouteRoleAndTenant(t *testing.T) {
	stream, _ := simStream(t, 24)
	ts := startServer(t, t.TempDir())
	// Many sign-ins from one address in a few seconds, and cheap hashes:
	// this test is about access, sessions_test.go about the limits.
	if err := ts.srv.auth.Configure(auth.Config{SignInPerClient: auth.Rate{PerSecond: 1000, Burst: 1000},
		PasswordHash: auth.PasswordHash{MemoryMiB: 8, Time: 1, Threads: 1}}); err != nil {
		t.Fatal(err)
	}
	// Sign-in with an OpenID provider, so its routes are served; nothing
	// answers at the issuer (oidc_test.go signs in for real).
	rp, err := auth.NewRP(auth.OIDCConfig{Issuer: "https://127.0.0.1:1/nothing", ClientID: "vigil", ClientSecretEnv: "OIDC_SECRET",
		RedirectURL: ts.base + auth.CallbackPath, Default: &auth.OIDCGrant{Role: "viewer", Tenants: []string{"fleet-a"}}},
		clientconf.Env{Getenv: func(string) string { return "a client secret" }}, auth.RPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ts.srv.auth.ConfigureOIDC(rp)
	admin := ts.key(t, "admin", "*")
	ts.post(t, admin, stream, 1000)
	ts.waitCaughtUp(t)
	var alert map[string]any
	for _, a := range ts.allAlerts(t, admin, "tenant=fleet-a") {
		if a["entities"].(map[string]any)["vehicle"] != nil {
			alert = a
			break
		}
	}
	if alert == nil {
		t.Fatal("no fleet-a alert naming a vehicle")
	}
	id, inc := alert["id"].(string), alert["incident"].(string)
	var account string // an account detection holds state about
	for _, a := range ts.allAlerts(t, admin, "tenant=fleet-a&category=credential-attack") {
		if acc, ok := a["entities"].(map[string]any)["account"].(string); ok {
			account = acc
			break
		}
	}
	if account == "" {
		t.Fatal("no fleet-a credential alert naming an account")
	}
	vehicle := alert["entities"].(map[string]any)["vehicle"].(string)
	victim := strings.Split(ts.key(t, "viewer", "fleet-a"), "_")[1]  // a fleet-a key to revoke
	victim2 := strings.Split(ts.key(t, "viewer", "fleet-a"), "_")[1] // another, for the sessions
	// Users: one per role and tenant to sign in as, fleet-a users to change
	// and delete (one each per pass: keys, then sessions), one to sign in
	// as on the public route.
	n := 0
	user := func(role, tenant string) string {
		n++
		name := fmt.Sprintf("acl-%s-%d", role, n)
		b, _ := json.Marshal(map[string]any{"name": name, "role": role, "tenants": []string{tenant}, "password": aclPassword})
		if code, answer := ts.raw(t, "POST", "/v1/users", admin, string(b)); code != 200 {
			t.Fatalf("creating user %s: %d %s", name, code, answer)
		}
		return name
	}
	victims := map[string]string{"PATCH k": user("viewer", "fleet-a"), "DELETE k": user("viewer", "fleet-a"),
		"PATCH s": user("viewer", "fleet-a"), "DELETE s": user("viewer", "fleet-a")}
	signInAs := user("viewer", "fleet-a")
	sessions := map[string]*testSession{}
	for _, role := range []string{"viewer", "analyst", "admin"} {
		for _, tenant := range []string{"fleet-a", "fleet-b"} {
			sessions[role+" "+tenant] = ts.signIn(t, user(role, tenant), aclPassword)
		}
	}

	for _, r := range ts.srv.api.Routes() {
		if _, ok := routeAccess[r]; !ok {
			t.Errorf("route %s is not in the access table of this test: say who may call it", r)
		}
	}
	roles := []string{"none", "ingest", "gate", "viewer", "analyst", "admin"}
	for route, allowed := range routeAccess {
		method, path, _ := strings.Cut(route, " ")
		url := strings.NewReplacer("{id}", id).Replace(path)
		switch {
		case strings.HasPrefix(path, "/v1/incidents/"):
			url = "/v1/incidents/" + inc
		case strings.HasPrefix(path, "/v1/vehicles/"):
			url = "/v1/vehicles/" + vehicle + "?tenant=fleet-a"
		case strings.HasPrefix(path, "/v1/principals/"):
			url = "/v1/principals/account/" + account + "?tenant=fleet-a"
		case strings.HasPrefix(path, "/v1/keys/"):
			url = "/v1/keys/" + victim
		case strings.HasPrefix(path, "/v1/users/"):
			url = "/v1/users/" + victims[method+" k"]
		}
		body := map[string]string{
			"POST /v1/events":          `{"specversion":"1.0","id":"acl-1","source":"test","type":"auth.login","time":"2026-03-02T07:00:00Z","tenant":"fleet-a","data":{"actor":{"account":"a"},"result":"success","method":"password"}}`,
			"PATCH /v1/alerts/{id}":    `{"assignee":"ana"}`,
			"PATCH /v1/incidents/{id}": `{"comment":"checked"}`,
			"POST /v1/gate":            `{"tenant":"fleet-a","vehicle":"` + vehicle + `","command":"lock","channel":"app","actor":{"account":"acc-x"}}`,
			"POST /v1/keys":            `{"role":"viewer","tenants":["fleet-a"],"name":"acl"}`,
			"POST /v1/users":           `{"name":"acl-new-{n}","role":"viewer","tenants":["fleet-a"],"password":"` + aclPassword + `"}`,
			"PATCH /v1/users/{name}":   `{"role":"analyst"}`,
			"POST /v1/session":         `{"user":"` + signInAs + `","password":"` + aclPassword + `"}`,
			"POST /v1/me/password":     `{"current_password":"` + aclPassword + `","new_password":"another fine passphrase"}`,
			"POST /v1/pseudonymise":    `{"tenant":"fleet-a","kind":"vehicle","value":"WVWZZZ1JZXW000001"}`,
			"POST /v1/reidentify":      `{"tenant":"fleet-a","pseudonym":"acct_aaaaaaaaaaaaaaaaaaaaaaaaaa","reason":"access test"}`,
			"POST /v1/erasure":         `{"tenant":"fleet-a","kind":"vehicle","value":"acl-nobody","reason":"access test"}`, // erases nothing the other routes need
		}[route]
		public := slices.Contains(allowed, "none")
		judge := func(who, role, tenant string, code int, answer string) {
			t.Helper()
			may := slices.Contains(allowed, role)
			switch {
			case !may && role == "none" && (code != 401):
				t.Errorf("%s without a key: %d, want 401", route, code)
			case !may && role != "none" && code != 403:
				t.Errorf("%s as %s %s of %s: %d, want 403", route, role, who, tenant, code)
			case may && tenant == "fleet-a" && (code == 401 || code == 403 || code == 404):
				t.Errorf("%s as %s %s of %s: %d, want access: %.300s", route, role, who, tenant, code, answer)
			case may && code == 401:
				t.Errorf("%s as %s %s of %s: %d, want the %s accepted", route, role, who, tenant, code, who)
			case may && !public && tenant == "fleet-b" && code < 300 && strings.Contains(answer, "fleet-a"):
				t.Errorf("%s as %s %s of fleet-b answered with fleet-a data: %.300s", route, role, who, answer)
			case may && !public && !selfRoutes[route] && tenant == "fleet-b" && code < 300 && method != "GET":
				t.Errorf("%s as %s %s of fleet-b changed fleet-a: %d %.300s", route, role, who, code, answer)
			}
		}
		numbered := func() string { n++; return strings.ReplaceAll(body, "{n}", fmt.Sprint(n)) }
		for _, role := range roles {
			for _, tenant := range []string{"fleet-a", "fleet-b"} {
				key := ""
				if role != "none" {
					key = ts.key(t, role, tenant)
				}
				code, answer := ts.raw(t, method, url, key, numbered())
				judge("key", role, tenant, code, answer)
			}
		}
		// The same with users' sessions.
		switch {
		case strings.HasPrefix(path, "/v1/users/"):
			url = "/v1/users/" + victims[method+" s"]
		case strings.HasPrefix(path, "/v1/keys/"):
			url = "/v1/keys/" + victim2
		}
		for _, role := range []string{"viewer", "analyst", "admin"} {
			for _, tenant := range []string{"fleet-a", "fleet-b"} {
				s := sessions[role+" "+tenant]
				if selfRoutes[route] {
					// Ends or replaces the session: a fresh user's own.
					s = ts.signIn(t, user(role, tenant), aclPassword)
				}
				b := numbered()
				if unsafe := method != "GET"; unsafe && !public {
					if code, answer := ts.rawSession(t, method, url, &testSession{cookie: s.cookie}, b); code != 403 {
						t.Errorf("%s as %s session of %s without the CSRF token: %d, want 403: %.300s", route, role, tenant, code, answer)
					}
				}
				code, answer := ts.rawSession(t, method, url, s, b)
				judge("session", role, tenant, code, answer)
			}
		}
	}
}

const aclPassword = "tulip lantern orbit 7"

// testSession is a signed-in user: the session cookie and its CSRF token.
type testSession struct{ cookie, csrf string }

// signIn signs in with a password.
func (ts *testServer) signIn(t *testing.T, user, password string) *testSession {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"user": user, "password": password})
	req, _ := http.NewRequest("POST", ts.base+"/v1/session", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		CSRFToken string `json:"csrf_token"`
	}
	json.NewDecoder(resp.Body).Decode(&out)
	for _, c := range resp.Cookies() {
		if c.Name == "__Host-vigil_session" && resp.StatusCode == 200 && out.CSRFToken != "" {
			return &testSession{cookie: c.Value, csrf: out.CSRFToken}
		}
	}
	t.Fatalf("signing in as %s: %d", user, resp.StatusCode)
	return nil
}

// rawSession is raw with a session's cookie and, when it has one, its CSRF
// token.
func (ts *testServer) rawSession(t *testing.T, method, path string, s *testSession, body string) (int, string) {
	t.Helper()
	return ts.rawWith(t, method, path, body, func(req *http.Request) {
		req.AddCookie(&http.Cookie{Name: "__Host-vigil_session", Value: s.cookie})
		if s.csrf != "" {
			req.Header.Set("X-CSRF-Token", s.csrf)
		}
	})
}

// raw makes a request and returns the status and the body.
func (ts *testServer) raw(t *testing.T, method, path, key, body string) (int, string) {
	t.Helper()
	return ts.rawWith(t, method, path, body, func(req *http.Request) {
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
	})
}

func (ts *testServer) rawWith(t *testing.T, method, path, body string, credential func(*http.Request)) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, ts.base+path, bytes.NewReader([]byte(body)))
	credential(req)
	switch {
	case method == "POST" && path == "/v1/events":
		req.Header.Set("Content-Type", "application/cloudevents+json")
	case body != "":
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == 200 && strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		return resp.StatusCode, "" // the live stream does not end: its tenant filter has tests of its own
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode < 300 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") && !json.Valid(b) {
		t.Errorf("%s %s: invalid JSON", method, path)
	}
	return resp.StatusCode, string(b)
}
