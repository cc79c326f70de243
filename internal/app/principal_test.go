package app

import (
	"fmt"
	"strings"
	"testing"
)

// TestPrincipalState: GET /v1/principals/{kind}/{id} shows what detection
// holds about an account and an IP after failed logins, and says clearly
// when it holds nothing or the kind is wrong.
func TestPrincipalState(t *testing.T) {
	ts := startServer(t, t.TempDir())
	admin := ts.key(t, "admin", "*")
	var b strings.Builder
	for i := range 4 {
		fmt.Fprintf(&b, `{"specversion":"1.0","id":"p-%d","source":"tsp/auth","type":"auth.login","time":"2026-03-02T07:00:0%dZ","tenant":"fleet-a",`+
			`"data":{"actor":{"account":"acc-p","ip":"198.51.100.7","device":"dev-p"},"result":"failure","reason":"bad_password","method":"password"}}`+"\n", i, i)
	}
	if acc, _ := ts.post(t, admin, []byte(b.String()), 100); acc != 4 {
		t.Fatalf("accepted %d of 4", acc)
	}
	ts.waitCaughtUp(t)
	viewer := ts.key(t, "viewer", "fleet-a")

	get := func(path string) map[string]any {
		t.Helper()
		var out map[string]any
		if code := ts.call(t, "GET", path, viewer, nil, nil, &out); code != 200 {
			t.Fatalf("%s: %d", path, code)
		}
		return out
	}
	acc := get("/v1/principals/account/acc-p?tenant=fleet-a")
	fails, _ := acc["failures"].([]any)
	if acc["kind"] != "account" || len(fails) != 4 {
		t.Fatalf("account state: %v", acc)
	}
	first := fails[0].(map[string]any)
	if first["other"] != "198.51.100.7" || first["event"].(map[string]any)["id"] != "p-0" {
		t.Errorf("first failure: %v", first)
	}
	logins, _ := get("/v1/principals/ip/198.51.100.7?tenant=fleet-a")["logins"].([]any)
	if len(logins) != 4 {
		t.Fatalf("ip logins: %v", logins)
	}
	if last := logins[3].(map[string]any); last["account"] != "acc-p" || last["ok"] != false {
		t.Errorf("last login: %v", last)
	}
	if code, body := ts.raw(t, "GET", "/v1/principals/account/nobody?tenant=fleet-a", viewer, ""); code != 404 || !strings.Contains(body, "/v1/events?kind=account") {
		t.Errorf("unknown account: %d %s, want 404 pointing to the events", code, body)
	}
	if code, body := ts.raw(t, "GET", "/v1/principals/vehicle/x?tenant=fleet-a", viewer, ""); code != 400 || !strings.Contains(body, "want account, ip") {
		t.Errorf("wrong kind: %d %s", code, body)
	}
	other := ts.key(t, "viewer", "fleet-b")
	if code := ts.call(t, "GET", "/v1/principals/account/acc-p?tenant=fleet-a", other, nil, nil, nil); code != 404 {
		t.Errorf("another tenant's viewer: %d, want 404", code)
	}
}
