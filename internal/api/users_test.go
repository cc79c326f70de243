package api

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/vigil-project/vigil/internal/auth"
	"github.com/vigil-project/vigil/internal/store"
)

// TestUsers walks the user routes in order: validation, tenant isolation
// (an admin of fleet-a neither sees nor touches users beyond it), the last
// admin, and the audit log; no answer ever shows a hash.
func TestUsers(t *testing.T) {
	ta := newUserAPI(t, auth.Config{})
	adminA, adminAID := ta.key(t, "admin", "fleet-a")
	analyst, _ := ta.key(t, "analyst", "*")
	steps := []struct {
		name         string
		method, path string
		key          *string
		body         string
		want         int
		code, field  string
		check        func(t *testing.T, b []byte)
	}{
		{name: "an analyst may not list users", method: "GET", path: "/v1/users", key: &analyst, want: 403, code: "forbidden"},
		{name: "an analyst may not create users", method: "POST", path: "/v1/users", key: &analyst,
			body: `{"name":"x","role":"viewer","tenants":["fleet-a"],"password":"` + anaPassword + `"}`, want: 403, code: "forbidden"},
		{name: "bad name", method: "POST", path: "/v1/users", key: &ta.admin,
			body: `{"name":"ana lopez","role":"viewer","tenants":["fleet-a"],"password":"` + anaPassword + `"}`, want: 400, code: "invalid_parameter", field: "name"},
		{name: "a machine role", method: "POST", path: "/v1/users", key: &ta.admin,
			body: `{"name":"robot","role":"ingest","tenants":["fleet-a"],"password":"` + anaPassword + `"}`, want: 400, code: "invalid_parameter", field: "role"},
		{name: "no tenant", method: "POST", path: "/v1/users", key: &ta.admin,
			body: `{"name":"ana","role":"viewer","tenants":[],"password":"` + anaPassword + `"}`, want: 400, code: "invalid_parameter", field: "tenants"},
		{name: "short password", method: "POST", path: "/v1/users", key: &ta.admin,
			body: `{"name":"ana","role":"viewer","tenants":["fleet-a"],"password":"tulip"}`, want: 400, code: "invalid_parameter", field: "password"},
		{name: "common password", method: "POST", path: "/v1/users", key: &ta.admin,
			body: `{"name":"ana","role":"viewer","tenants":["fleet-a"],"password":"Password2024!"}`, want: 400, code: "invalid_parameter", field: "password"},
		{name: "the name as password", method: "POST", path: "/v1/users", key: &ta.admin,
			body: `{"name":"anastasia.lopez","role":"viewer","tenants":["fleet-a"],"password":"Anastasia.Lopez"}`, want: 400, code: "invalid_parameter", field: "password"},
		{name: "unknown member", method: "POST", path: "/v1/users", key: &ta.admin,
			body: `{"name":"ana","role":"viewer","tenants":["fleet-a"],"password":"` + anaPassword + `","hash":"x"}`, want: 400, code: "bad_request"},
		{name: "create, name folded to lower case", method: "POST", path: "/v1/users", key: &ta.admin,
			body: `{"name":"Ana","role":"analyst","tenants":["fleet-b","fleet-a"],"password":"` + anaPassword + `"}`, want: 200,
			check: func(t *testing.T, b []byte) {
				u := decode[userJSON](t, b)
				if u.Name != "ana" || u.Role != "analyst" || !slices.Equal(u.Tenants, []string{"fleet-a", "fleet-b"}) || u.Disabled || u.LastSignIn != "" || u.Created == "" {
					t.Errorf("created %+v", u)
				}
			}},
		{name: "twice", method: "POST", path: "/v1/users", key: &ta.admin,
			body: `{"name":"ANA","role":"viewer","tenants":["fleet-a"],"password":"` + anaPassword + `"}`, want: 409, code: "conflict", field: "name"},
		{name: "a fleet-a viewer", method: "POST", path: "/v1/users", key: &adminA,
			body: `{"name":"vi","role":"viewer","tenants":["fleet-a"],"password":"` + boPassword + `"}`, want: 200},
		{name: "a fleet-b viewer", method: "POST", path: "/v1/users", key: &ta.admin,
			body: `{"name":"bo","role":"viewer","tenants":["fleet-b"],"password":"` + boPassword + `"}`, want: 200},
		{name: "the admin of fleet-a may not create a user for every tenant", method: "POST", path: "/v1/users", key: &adminA,
			body: `{"name":"x","role":"viewer","tenants":["*"],"password":"` + anaPassword + `"}`, want: 403, code: "forbidden", field: "tenants"},
		{name: "nor for fleet-b", method: "POST", path: "/v1/users", key: &adminA,
			body: `{"name":"x","role":"admin","tenants":["fleet-b"],"password":"` + anaPassword + `"}`, want: 403, code: "forbidden", field: "tenants"},
		{name: "the admin of fleet-a lists fleet-a's users only", method: "GET", path: "/v1/users", key: &adminA, want: 200,
			check: func(t *testing.T, b []byte) {
				var names []string
				for _, u := range decode[userList](t, b).Users {
					names = append(names, u.Name)
				}
				if !slices.Equal(names, []string{"vi"}) {
					t.Errorf("an admin of fleet-a sees %q, want [vi]", names)
				}
			}},
		{name: "the admin of everything lists all, by name", method: "GET", path: "/v1/users", key: &ta.admin, want: 200,
			check: func(t *testing.T, b []byte) {
				var names []string
				for _, u := range decode[userList](t, b).Users {
					names = append(names, u.Name)
				}
				if !slices.Equal(names, []string{"ana", "bo", "vi"}) {
					t.Errorf("listed %q", names)
				}
			}},
		{name: "the admin of fleet-a may not change ana (also fleet-b)", method: "PATCH", path: "/v1/users/ana", key: &adminA,
			body: `{"disabled":true}`, want: 404, code: "not_found"},
		{name: "nor delete bo", method: "DELETE", path: "/v1/users/bo", key: &adminA, want: 404, code: "not_found"},
		{name: "nor move vi to fleet-b", method: "PATCH", path: "/v1/users/vi", key: &adminA,
			body: `{"tenants":["fleet-b"]}`, want: 403, code: "forbidden", field: "tenants"},
		{name: "but may promote vi within fleet-a", method: "PATCH", path: "/v1/users/vi", key: &adminA,
			body: `{"role":"analyst"}`, want: 200, check: func(t *testing.T, b []byte) {
				if u := decode[userJSON](t, b); u.Role != "analyst" {
					t.Errorf("%+v", u)
				}
			}},
		{name: "nothing to change", method: "PATCH", path: "/v1/users/vi", key: &adminA, body: `{}`, want: 400, code: "bad_request"},
		{name: "a weak new password", method: "PATCH", path: "/v1/users/vi", key: &adminA, body: `{"password":"vi"}`, want: 400, code: "invalid_parameter", field: "password"},
		{name: "a machine role by patch", method: "PATCH", path: "/v1/users/vi", key: &adminA, body: `{"role":"gate"}`, want: 400, code: "invalid_parameter", field: "role"},
		{name: "unknown user", method: "PATCH", path: "/v1/users/nobody", key: &ta.admin, body: `{"disabled":true}`, want: 404, code: "not_found"},
		{name: "not a name", method: "DELETE", path: "/v1/users/..%2fapikey-used", key: &ta.admin, want: 404, code: "not_found"},
		// The last admin.
		{name: "the first admin user", method: "POST", path: "/v1/users", key: &ta.admin,
			body: `{"name":"root-ana","role":"admin","tenants":["*"],"password":"` + anaPassword + `"}`, want: 200},
		{name: "may not be demoted", method: "PATCH", path: "/v1/users/root-ana", key: &ta.admin, body: `{"role":"analyst"}`, want: 409, code: "conflict"},
		{name: "nor narrowed", method: "PATCH", path: "/v1/users/root-ana", key: &ta.admin, body: `{"tenants":["fleet-a"]}`, want: 409, code: "conflict"},
		{name: "nor disabled", method: "PATCH", path: "/v1/users/root-ana", key: &ta.admin, body: `{"disabled":true}`, want: 409, code: "conflict"},
		{name: "nor deleted", method: "DELETE", path: "/v1/users/root-ana", key: &ta.admin, want: 409, code: "conflict"},
		{name: "a second", method: "PATCH", path: "/v1/users/ana", key: &ta.admin, body: `{"role":"admin","tenants":["*"]}`, want: 200},
		{name: "then the first may go", method: "DELETE", path: "/v1/users/root-ana", key: &ta.admin, want: 200},
		{name: "and the second is now the last", method: "PATCH", path: "/v1/users/ana", key: &ta.admin, body: `{"disabled":true}`, want: 409, code: "conflict"},
		{name: "reset bo's password", method: "PATCH", path: "/v1/users/bo", key: &ta.admin, body: `{"password":"` + anaPassword + `"}`, want: 200},
		{name: "disable bo", method: "PATCH", path: "/v1/users/bo", key: &ta.admin, body: `{"disabled":true}`, want: 200,
			check: func(t *testing.T, b []byte) {
				if !decode[userJSON](t, b).Disabled {
					t.Error("not disabled")
				}
			}},
		{name: "enable bo", method: "PATCH", path: "/v1/users/bo", key: &ta.admin, body: `{"disabled":false}`, want: 200},
		{name: "delete vi", method: "DELETE", path: "/v1/users/vi", key: &adminA, want: 200},
		{name: "deleted", method: "DELETE", path: "/v1/users/vi", key: &adminA, want: 404, code: "not_found"},
		{name: "an API key has no password", method: "POST", path: "/v1/me/password", key: &ta.admin,
			body: `{"current_password":"x","new_password":"y"}`, want: 400, code: "bad_request"},
	}
	for _, s := range steps {
		code, body := ta.do(t, s.method, s.path, *s.key, s.body)
		if code != s.want {
			t.Fatalf("%s: %s %s answered %d, want %d: %s", s.name, s.method, s.path, code, s.want, body)
		}
		if strings.Contains(string(body), "argon2") || strings.Contains(string(body), `"hash"`) {
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
	got := ta.auditOf(t, "user.")
	first := "key:" + keyID(ta.admin)
	want := []string{
		first + " user.create ana",
		"key:" + adminAID + " user.create vi",
		first + " user.create bo",
		"key:" + adminAID + " user.update vi",
		first + " user.create root-ana",
		first + " user.update ana",
		first + " user.delete root-ana",
		first + " user.password_reset bo",
		first + " user.disable bo",
		first + " user.enable bo",
		"key:" + adminAID + " user.delete vi",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if rep, err := ta.st.VerifyAudit(context.Background(), store.AllTenants()); err != nil || rep.Broken != nil {
		t.Errorf("the audit chain: %v %+v", err, rep.Broken)
	}
}

// TestRevocation: disabling a user, resetting or changing the password and
// deleting the user end its sessions at once; a user changing their own
// password keeps working in a new session.
func TestRevocation(t *testing.T) {
	ta := newUserAPI(t, auth.Config{})
	ta.user(t, "ana", "admin", anaPassword, "*")
	ta.user(t, "bo", "viewer", boPassword, "fleet-b")
	ok := func(what string, s *session) {
		t.Helper()
		if a := ta.req(t, "GET", "/v1/me", s, "", nil); a.code != 200 {
			t.Fatalf("%s: %d %s", what, a.code, a.body)
		}
	}
	ended := func(what string, s *session) {
		t.Helper()
		wantError(t, what, ta.req(t, "GET", "/v1/me", s, "", nil), 401, "unauthenticated", "")
	}
	admin := ta.signIn(t, "ana", anaPassword)

	bo := ta.signIn(t, "bo", boPassword)
	ok("bo", bo)
	if a := ta.req(t, "PATCH", "/v1/users/bo", admin, `{"disabled":true}`, nil); a.code != 200 {
		t.Fatalf("disable: %d %s", a.code, a.body)
	}
	ended("disabled", bo)
	ta.req(t, "PATCH", "/v1/users/bo", admin, `{"disabled":false}`, nil)
	ended("enabled again, the old session stays ended", bo)

	bo = ta.signIn(t, "bo", boPassword)
	ok("bo again", bo)
	if a := ta.req(t, "PATCH", "/v1/users/bo", admin, `{"password":"a brand new passphrase"}`, nil); a.code != 200 {
		t.Fatalf("reset: %d %s", a.code, a.body)
	}
	ended("password reset", bo)
	wantError(t, "the old password", ta.req(t, "POST", "/v1/session", nil, `{"user":"bo","password":"`+boPassword+`"}`, nil), 401, "unauthenticated", "")

	// Bo changes his own password: his other session ends, this one goes
	// on with a new cookie and token.
	bo = ta.signIn(t, "bo", "a brand new passphrase")
	other := ta.signIn(t, "bo", "a brand new passphrase")
	change := func(s *session, current, next string) answer {
		return ta.req(t, "POST", "/v1/me/password", s, `{"current_password":`+quote(current)+`,"new_password":`+quote(next)+`}`, nil)
	}
	wantError(t, "without the token", change(&session{cookie: bo.cookie}, "a brand new passphrase", boPassword), 403, "forbidden", "")
	wantError(t, "wrong current password", change(bo, "not the password at all", boPassword), 403, "forbidden", "current_password")
	wantError(t, "the same password", change(bo, "a brand new passphrase", "a brand new passphrase"), 400, "invalid_parameter", "new_password")
	wantError(t, "a weak one", change(bo, "a brand new passphrase", "qwertyuiop123"), 400, "invalid_parameter", "new_password")
	a := change(bo, "a brand new passphrase", boPassword)
	if a.code != 200 {
		t.Fatalf("change: %d %s", a.code, a.body)
	}
	ended("the other session", other)
	ended("the old cookie of this one", bo)
	resp := ta.signInAnswer(t, a)
	ok("the new session", resp)
	if resp.csrf == bo.csrf {
		t.Error("the CSRF token did not change with the session")
	}
	ta.signIn(t, "bo", boPassword)

	// Deleting ends everything; the stored sessions go too.
	if a := ta.req(t, "DELETE", "/v1/users/bo", admin, "", nil); a.code != 200 {
		t.Fatalf("delete: %d %s", a.code, a.body)
	}
	ended("deleted", resp)
	entries, _ := ta.st.ListConfig(context.Background(), store.AllTenants(), "", sessionPrefix)
	if len(entries) != 1 {
		t.Errorf("%d sessions stored, want only the admin's", len(entries))
	}
	// A user made again under the name does not revive old sessions.
	ta.user(t, "bo", "viewer", boPassword, "fleet-b")
	ended("the name made again", resp)

	got := ta.auditOf(t, "user.password_change", "auth.sign_in")
	want := []string{
		"user:ana auth.sign_in ana",
		"user:bo auth.sign_in bo",
		"user:bo auth.sign_in bo",
		"anonymous auth.sign_in_failed bo wrong_password",
		"user:bo auth.sign_in bo",
		"user:bo auth.sign_in bo",
		"user:bo user.password_change_failed bo wrong_current_password",
		"user:bo user.password_change bo",
		"user:bo auth.sign_in bo",
		"user:bo auth.sign_in bo",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if n := metric(t, ta.auth, "vigil_sessions_ended_total", "revoked"); n < 5 {
		t.Errorf("revoked sessions counted %v, want at least 5", n)
	}
}

// signInAnswer is the session a 200 answer with a cookie started.
func (ta *testAPI) signInAnswer(t *testing.T, a answer) *session {
	t.Helper()
	resp := httpResponse(a)
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie {
			return &session{cookie: c.Value, csrf: decode[sessionJSON](t, a.body).CSRFToken}
		}
	}
	t.Fatalf("no session cookie in %v", a.header)
	return nil
}
