package app

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// who may call each route; the table is written here, independently of the
// server's own, so a route whose protection changes fails this test.
var routeAccess = map[string][]string{
	"GET /v1/health":               {"none", "ingest", "gate", "viewer", "analyst", "admin"},
	"GET /v1/ready":                {"none", "ingest", "gate", "viewer", "analyst", "admin"},
	"GET /v1/openapi.json":         {"none", "ingest", "gate", "viewer", "analyst", "admin"},
	"GET /metrics":                 {"none", "ingest", "gate", "viewer", "analyst", "admin"},
	"POST /v1/events":              {"ingest", "admin"},
	"GET /v1/events":               {"viewer", "analyst", "admin"},
	"GET /v1/alerts":               {"viewer", "analyst", "admin"},
	"GET /v1/alerts/{id}":          {"viewer", "analyst", "admin"},
	"PATCH /v1/alerts/{id}":        {"analyst", "admin"},
	"GET /v1/alerts/{id}/evidence": {"viewer", "analyst", "admin"},
	"GET /v1/incidents":            {"viewer", "analyst", "admin"},
	"GET /v1/incidents/{id}":       {"viewer", "analyst", "admin"},
	"PATCH /v1/incidents/{id}":     {"analyst", "admin"},
	"GET /v1/vehicles/{id}":        {"viewer", "analyst", "admin"},
	"GET /v1/detectors":            {"viewer", "analyst", "admin"},
	"GET /v1/stats":                {"viewer", "analyst", "admin"},
	"POST /v1/gate":                {"gate", "admin"},
	"GET /v1/gate/decisions":       {"analyst", "admin"},
	"GET /v1/alerts/stream":        {"viewer", "analyst", "admin"},
	"GET /v1/keys":                 {"admin"},
	"POST /v1/keys":                {"admin"},
	"DELETE /v1/keys/{id}":         {"admin"},
	"GET /v1/me":                   {"ingest", "gate", "viewer", "analyst", "admin"},
	"GET /v1/tenants":              {"viewer", "analyst", "admin"},
}

// TestEveryRouteRoleAndTenant calls every route with every role, scoped to
// the alert's tenant and to another one: roles that may not call a route get
// 401/403, and a key of another tenant never sees or changes the tenant's
// objects (404, or an empty list, or a rejection naming the tenant).
func TestEveryRouteRoleAndTenant(t *testing.T) {
	stream, _ := simStream(t, 24)
	ts := startServer(t, t.TempDir())
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
	vehicle := alert["entities"].(map[string]any)["vehicle"].(string)
	victim := strings.Split(ts.key(t, "viewer", "fleet-a"), "_")[1] // a fleet-a key to revoke

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
		case strings.HasPrefix(path, "/v1/keys/"):
			url = "/v1/keys/" + victim
		}
		body := map[string]string{
			"POST /v1/events":          `{"specversion":"1.0","id":"acl-1","source":"test","type":"auth.login","time":"2026-03-02T07:00:00Z","tenant":"fleet-a","data":{"actor":{"account":"a"},"result":"success","method":"password"}}`,
			"PATCH /v1/alerts/{id}":    `{"assignee":"ana"}`,
			"PATCH /v1/incidents/{id}": `{"comment":"checked"}`,
			"POST /v1/gate":            `{"tenant":"fleet-a","vehicle":"` + vehicle + `","command":"lock","channel":"app","actor":{"account":"acc-x"}}`,
			"POST /v1/keys":            `{"role":"viewer","tenants":["fleet-a"],"name":"acl"}`,
		}[route]
		for _, role := range roles {
			for _, tenant := range []string{"fleet-a", "fleet-b"} {
				key := ""
				if role != "none" {
					key = ts.key(t, role, tenant)
				}
				code, answer := ts.raw(t, method, url, key, body)
				may := slices.Contains(allowed, role)
				public := slices.Contains(allowed, "none")
				switch {
				case !may && role == "none" && (code != 401):
					t.Errorf("%s without a key: %d, want 401", route, code)
				case !may && role != "none" && code != 403:
					t.Errorf("%s as %s of %s: %d, want 403", route, role, tenant, code)
				case may && tenant == "fleet-a" && (code == 401 || code == 403 || code == 404):
					t.Errorf("%s as %s of %s: %d, want access: %.300s", route, role, tenant, code, answer)
				case may && code == 401:
					t.Errorf("%s as %s of %s: %d, want the key accepted", route, role, tenant, code)
				case may && !public && tenant == "fleet-b" && code < 300 && strings.Contains(answer, "fleet-a"):
					t.Errorf("%s as %s of fleet-b answered with fleet-a data: %.300s", route, role, answer)
				case may && !public && tenant == "fleet-b" && code < 300 && method != "GET":
					t.Errorf("%s as %s of fleet-b changed fleet-a: %d %.300s", route, role, code, answer)
				}
			}
		}
	}
}

// raw makes a request and returns the status and the body.
func (ts *testServer) raw(t *testing.T, method, path, key, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, ts.base+path, bytes.NewReader([]byte(body)))
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
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
