package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-project/vigil/internal/auth"
	"github.com/vigil-project/vigil/internal/store"
)

// fastHash keeps the API tests quick; internal/auth measures the defaults.
var fastHash = auth.PasswordHash{MemoryMiB: 8, Time: 1, Threads: 1}

// newUserAPI is newTestAPI with cheap password hashes and cfg's limits.
func newUserAPI(t *testing.T, cfg auth.Config) *testAPI {
	t.Helper()
	ta := newTestAPI(t, liveDefaults)
	if cfg.PasswordHash == (auth.PasswordHash{}) {
		cfg.PasswordHash = fastHash
	}
	if err := ta.auth.Configure(cfg); err != nil {
		t.Fatal(err)
	}
	return ta
}

// setClock makes the Auth's clock a fixed time the test moves.
func (ta *testAPI) setClock(t *testing.T, at time.Time) func(time.Duration) {
	t.Helper()
	ta.auth.mu.Lock()
	now := at
	ta.auth.now = func() time.Time { return now }
	ta.auth.mu.Unlock()
	return func(d time.Duration) {
		ta.auth.mu.Lock()
		now = now.Add(d)
		ta.auth.mu.Unlock()
	}
}

// user creates a user through the API with the first admin key.
func (ta *testAPI) user(t *testing.T, name, role, password string, tenants ...string) {
	t.Helper()
	b, _ := json.Marshal(userCreate{Name: name, Role: role, Tenants: tenants, Password: password})
	if code, body := ta.do(t, "POST", "/v1/users", ta.admin, string(b)); code != 200 {
		t.Fatalf("creating user %s: %d %s", name, code, body)
	}
}

// session is a signed-in browser: its cookie and CSRF token.
type session struct {
	cookie string
	csrf   string
}

type answer struct {
	code   int
	body   []byte
	header http.Header
}

// req sends a request with a session's cookie (when s is not nil) and the
// given headers; "X-CSRF-Token": "" in header leaves the token out.
func (ta *testAPI) req(t *testing.T, method, path string, s *session, body string, header map[string]string) answer {
	t.Helper()
	req, _ := http.NewRequest(method, ta.base+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if s != nil {
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: s.cookie})
		if s.csrf != "" {
			req.Header.Set("X-CSRF-Token", s.csrf)
		}
	}
	for k, v := range header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, b, resp.Header}
}

// signIn signs in and returns the session; the cookie must have the flags
// a session cookie needs.
func (ta *testAPI) signIn(t *testing.T, user, password string) *session {
	t.Helper()
	a := ta.req(t, "POST", "/v1/session", nil, `{"user":`+quote(user)+`,"password":`+quote(password)+`}`, nil)
	if a.code != 200 {
		t.Fatalf("sign-in of %s: %d %s", user, a.code, a.body)
	}
	var c *http.Cookie
	for _, x := range httpResponse(a).Cookies() {
		if x.Name == sessionCookie {
			c = x
		}
	}
	if c == nil {
		t.Fatalf("sign-in set no %s cookie: %v", sessionCookie, a.header)
	}
	if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Domain != "" || c.MaxAge != 0 {
		t.Errorf("cookie flags: %s", a.header.Get("Set-Cookie"))
	}
	// The prefix keeps a sibling subdomain from planting a session (login
	// CSRF): browsers take it only Secure, host-only, with Path=/.
	if c.Name != "__Host-vigil_session" {
		t.Errorf("the session cookie is called %q, want __Host-vigil_session", c.Name)
	}
	sj := decode[sessionJSON](t, a.body)
	return &session{cookie: c.Value, csrf: sj.CSRFToken}
}

func httpResponse(a answer) *http.Response { return &http.Response{Header: a.header} }

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// wantError checks an error answer's status, code and field.
func wantError(t *testing.T, what string, a answer, status int, code, field string) {
	t.Helper()
	if a.code != status {
		t.Errorf("%s: %d, want %d: %s", what, a.code, status, a.body)
		return
	}
	pe := decode[problemBody](t, a.body)
	if string(pe.Error.Code) != code || pe.Error.Field != field {
		t.Errorf("%s: %s (field %q), want %s (field %q): %s", what, pe.Error.Code, pe.Error.Field, code, field, pe.Error.Message)
	}
}

// auditOf returns "actor action target reason" of the entries whose action
// starts with one of prefixes.
func (ta *testAPI) auditOf(t *testing.T, prefixes ...string) []string {
	t.Helper()
	entries, err := ta.st.ExportAudit(context.Background(), store.AllTenants(), store.AuditQuery{Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		for _, p := range prefixes {
			if strings.HasPrefix(e.Action, p) {
				var d struct{ Reason string }
				json.Unmarshal(e.Detail, &d)
				out = append(out, strings.Join(strings.Fields(e.Actor+" "+e.Action+" "+e.Target+" "+d.Reason), " "))
			}
		}
	}
	return out
}

// metric reads one counter of the Auth's collector.
func metric(t *testing.T, a *Auth, name, label string) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(a.Collector())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == label {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no metric %s{%s}", name, label)
	return 0
}

const (
	anaPassword = "tulip lantern orbit 7"
	boPassword  = "granite meadow falcon"
)

// TestSignIn: a user signs in; the cookie has the flags it needs and holds
// a secret the store does not; /v1/me knows the session; a wrong password,
// an unknown user and a disabled user get the same answer after the same
// work, and every attempt is audited.
func TestSignIn(t *testing.T) {
	ta := newUserAPI(t, auth.Config{})
	ta.user(t, "Ana@Example.org", "analyst", anaPassword, "fleet-a")
	ta.user(t, "bo", "viewer", boPassword, "fleet-b")

	s := ta.signIn(t, "ana@example.org", anaPassword)
	me := ta.req(t, "GET", "/v1/me", s, "", nil)
	if me.code != 200 {
		t.Fatalf("/v1/me with the session: %d %s", me.code, me.body)
	}
	m := decode[meJSON](t, me.body)
	if m.Via != "session" || m.User != "ana@example.org" || m.KeyID != "" || m.Role != "analyst" || m.Session == nil || m.Session.CSRFToken != s.csrf {
		t.Errorf("/v1/me: %+v", m)
	}
	// The store keeps the secret's hash, never the secret.
	_, secret, _ := strings.Cut(s.cookie, ".")
	entries, _ := ta.st.ListConfig(context.Background(), store.AllTenants(), "", sessionPrefix)
	if len(entries) != 1 {
		t.Fatalf("%d sessions stored, want 1", len(entries))
	}
	if strings.Contains(entries[0].Key+string(entries[0].Value), secret) || !strings.HasSuffix(entries[0].Key, auth.SessionHash(secret)) {
		t.Errorf("stored session %s %s", entries[0].Key, entries[0].Value)
	}
	// A key's /v1/me says so.
	if m := decode[meJSON](t, ta.req(t, "GET", "/v1/me", nil, "", map[string]string{"Authorization": "Bearer " + ta.admin}).body); m.Via != "key" || m.Session != nil {
		t.Errorf("/v1/me with a key: %+v", m)
	}

	// Refusals: the same answer, the same number of hashes.
	ta.do(t, "PATCH", "/v1/users/bo", ta.admin, `{"disabled":true}`)
	h, _ := ta.auth.settings().hasher()
	var answers []string
	for _, c := range []struct{ user, password string }{
		{"ana@example.org", "tulip lantern orbit 8"},
		{"nobody", "tulip lantern orbit 7"},
		{"bo", boPassword}, // disabled: right password, same answer
		{"not a valid name!", "tulip lantern orbit 7"},
	} {
		before := h.Runs()
		a := ta.req(t, "POST", "/v1/session", nil, `{"user":`+quote(c.user)+`,"password":`+quote(c.password)+`}`, nil)
		wantError(t, "sign-in of "+c.user, a, 401, "unauthenticated", "")
		if a.header.Get("Set-Cookie") != "" {
			t.Errorf("a refused sign-in set a cookie: %s", a.header.Get("Set-Cookie"))
		}
		if n := h.Runs() - before; n != 1 {
			t.Errorf("sign-in of %s computed %d hashes, want 1 like every other", c.user, n)
		}
		answers = append(answers, string(a.body))
	}
	for _, b := range answers[1:] {
		if b != answers[0] {
			t.Errorf("refusals differ:\n%s\n%s", answers[0], b)
		}
	}
	// Malformed requests name what is wrong.
	wantError(t, "no password", ta.req(t, "POST", "/v1/session", nil, `{"user":"ana"}`, nil), 400, "invalid_parameter", "password")
	wantError(t, "no user", ta.req(t, "POST", "/v1/session", nil, `{"password":"x"}`, nil), 400, "invalid_parameter", "user")
	wantError(t, "unknown member", ta.req(t, "POST", "/v1/session", nil, `{"user":"ana","password":"x","remember":true}`, nil), 400, "bad_request", "")
	wantError(t, "huge password", ta.req(t, "POST", "/v1/session", nil, `{"user":"ana","password":"`+strings.Repeat("x", 1025)+`"}`, nil), 400, "invalid_parameter", "password")
	wantError(t, "a form", ta.req(t, "POST", "/v1/session", nil, "user=ana&password=x", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}), 415, "unsupported_media", "")

	got := ta.auditOf(t, "auth.")
	want := []string{
		"user:ana@example.org auth.sign_in ana@example.org",
		"anonymous auth.sign_in_failed ana@example.org wrong_password",
		"anonymous auth.sign_in_failed unknown_user", // the name typed is not logged
		"anonymous auth.sign_in_failed bo disabled",
		"anonymous auth.sign_in_failed unknown_user",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for result, n := range map[string]float64{"success": 1, "wrong_password": 1, "unknown_user": 2, "disabled": 1, "bad_request": 5} {
		if got := metric(t, ta.auth, "vigil_sign_ins_total", result); got != n {
			t.Errorf("vigil_sign_ins_total{result=%q} = %v, want %v", result, got, n)
		}
	}
}

// TestCSRF: changes made with a session need its token and the page's own
// origin; reads and API keys need neither.
func TestCSRF(t *testing.T) {
	ta := newUserAPI(t, auth.Config{})
	ta.user(t, "ana", "admin", anaPassword, "*")
	s := ta.signIn(t, "ana", anaPassword)
	noToken := &session{cookie: s.cookie}
	wrong := &session{cookie: s.cookie, csrf: auth.CSRFToken("another-secret-another-secret-another-secr")}
	body := `{"role":"viewer","tenants":["fleet-a"],"name":"csrf"}`
	host := strings.TrimPrefix(ta.base, "http://")
	cases := []struct {
		name   string
		method string
		s      *session
		header map[string]string
		want   int
		code   string
	}{
		{"no token", "POST", noToken, nil, 403, "forbidden"},
		{"wrong token", "POST", wrong, nil, 403, "forbidden"},
		{"cross-site fetch", "POST", s, map[string]string{"Sec-Fetch-Site": "cross-site"}, 403, "forbidden"},
		{"same-site fetch", "POST", s, map[string]string{"Sec-Fetch-Site": "same-site"}, 403, "forbidden"},
		{"another origin", "POST", s, map[string]string{"Origin": "https://evil.example"}, 403, "forbidden"},
		{"origin null", "POST", s, map[string]string{"Origin": "null"}, 403, "forbidden"},
		{"the token", "POST", s, nil, 200, ""},
		{"the token from the page's origin", "POST", s, map[string]string{"Origin": "http://" + host, "Sec-Fetch-Site": "same-origin"}, 200, ""},
		{"a read needs no token", "GET", noToken, nil, 200, ""},
		{"a key needs no token", "POST", nil, map[string]string{"Authorization": "Bearer " + ta.admin}, 200, ""},
		// A key and a cookie: the key decides, the cookie is ignored.
		{"a bad key with a good cookie", "GET", s, map[string]string{"Authorization": "Bearer vgl_0000000000000000_x"}, 401, "unauthenticated"},
	}
	for _, c := range cases {
		b := body
		if c.method == "GET" {
			b = ""
		}
		a := ta.req(t, c.method, "/v1/keys", c.s, b, c.header)
		if c.want == 200 {
			if a.code != 200 {
				t.Errorf("%s: %d %s", c.name, a.code, a.body)
			}
			continue
		}
		wantError(t, c.name, a, c.want, c.code, "")
	}
	// Sign-in from another site is refused too (login CSRF).
	a := ta.req(t, "POST", "/v1/session", nil, `{"user":"ana","password":"`+anaPassword+`"}`, map[string]string{"Origin": "https://evil.example"})
	wantError(t, "cross-site sign-in", a, 403, "forbidden", "")
	for reason, n := range map[string]float64{"csrf_missing": 1, "csrf_wrong": 1, "cross_site": 5} {
		if got := metric(t, ta.auth, "vigil_api_auth_rejected_total", reason); got != n {
			t.Errorf("vigil_api_auth_rejected_total{reason=%q} = %v, want %v", reason, got, n)
		}
	}
	// Signing out needs the token too, then the session is gone.
	wantError(t, "sign-out without the token", ta.req(t, "DELETE", "/v1/session", noToken, "", nil), 403, "forbidden", "")
	out := ta.req(t, "DELETE", "/v1/session", s, "", nil)
	if out.code != 200 || !strings.Contains(out.header.Get("Set-Cookie"), "Max-Age=0") {
		t.Fatalf("sign-out: %d %s %v", out.code, out.body, out.header)
	}
	wantError(t, "after sign-out", ta.req(t, "GET", "/v1/me", s, "", nil), 401, "unauthenticated", "")
	wantError(t, "sign-out with a key", ta.req(t, "DELETE", "/v1/session", nil, "", map[string]string{"Authorization": "Bearer " + ta.admin}), 400, "bad_request", "")
	if got := ta.auditOf(t, "auth.sign_out"); len(got) != 1 || got[0] != "user:ana auth.sign_out ana" {
		t.Errorf("sign-out audit: %q", got)
	}
}

// TestLockout: five wrong passwords lock the name with a growing lock;
// while locked even the right password is refused with 429; an unknown
// name locks the same way; a success clears the count.
func TestLockout(t *testing.T) {
	ta := newUserAPI(t, auth.Config{})
	advance := ta.setClock(t, time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	ta.user(t, "ana", "viewer", anaPassword, "fleet-a")
	attempt := func(user, password string) answer {
		return ta.req(t, "POST", "/v1/session", nil, `{"user":`+quote(user)+`,"password":`+quote(password)+`}`, nil)
	}
	for _, name := range []string{"ana", "ghost"} {
		for i := range 5 {
			wantError(t, name+" failure "+string(rune('1'+i)), attempt(name, "wrong password here"), 401, "unauthenticated", "")
		}
		a := attempt(name, anaPassword)
		wantError(t, name+" locked", a, 429, "rate_limited", "")
		if ra := a.header.Get("Retry-After"); ra != "60" {
			t.Errorf("%s: Retry-After %q, want 60", name, ra)
		}
		advance(61 * time.Second)
		// One more failure doubles the lock.
		wantError(t, name+" sixth failure", attempt(name, "wrong password here"), 401, "unauthenticated", "")
		if ra := attempt(name, anaPassword).header.Get("Retry-After"); ra != "120" {
			t.Errorf("%s: after the sixth failure Retry-After %q, want 120", name, ra)
		}
		advance(121 * time.Second)
	}
	ta.signIn(t, "ana", anaPassword) // the lock ended; the count is cleared
	for i := range 4 {
		wantError(t, "a fresh count "+string(rune('1'+i)), attempt("ana", "wrong password here"), 401, "unauthenticated", "")
	}
	ta.signIn(t, "ana", anaPassword)

	locks := ta.auditOf(t, "auth.lockout")
	if want := []string{"vigil auth.lockout ana", "vigil auth.lockout ana", "vigil auth.lockout", "vigil auth.lockout"}; strings.Join(locks, "|") != strings.Join(want, "|") {
		t.Errorf("lock-out audit %q, want %q", locks, want)
	}
	if n := metric(t, ta.auth, "vigil_sign_ins_total", "locked"); n != 4 {
		t.Errorf("locked sign-ins counted %v, want 4", n)
	}
}

// TestLockoutParallel: wrong passwords sent in parallel for one name, to
// sign in or as the current password of a password change, reach the hash
// at most lockout_after times; the rest are refused with 429 and
// Retry-After. The read of the user, after the lock-out's check and before
// the hash, is held until every request has reached it or been answered,
// so all of them are in flight at once.
func TestLockoutParallel(t *testing.T) {
	const n = 60
	ta := newUserAPI(t, auth.Config{SignInPerClient: auth.Rate{PerSecond: 1, Burst: 1000}, Requests: auth.Rate{PerSecond: 1, Burst: 1000}})
	ta.user(t, "ana", "viewer", anaPassword, "fleet-a")
	s := ta.signIn(t, "ana", anaPassword)
	h, _ := ta.auth.settings().hasher()
	send := func(path string, s *session, body string) (int, string) {
		req, _ := http.NewRequest("POST", ta.base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if s != nil {
			req.AddCookie(&http.Cookie{Name: sessionCookie, Value: s.cookie})
			req.Header.Set("X-CSRF-Token", s.csrf)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Retry-After")
	}
	for _, c := range []struct {
		name, path string
		s          *session
		body       string
		refused    int // the answer to a checked wrong password
	}{
		{"sign-in", "/v1/session", nil, `{"user":"ana","password":"wrong password here"}`, 401},
		{"password change", "/v1/me/password", s, `{"current_password":"wrong password here","new_password":"an entirely new passphrase"}`, 403},
	} {
		t.Run(c.name, func(t *testing.T) {
			var reached atomic.Int64
			gate := make(chan struct{})
			hold := func(key string) error {
				if key == userPrefix+"ana" {
					reached.Add(1)
					<-gate
				}
				return nil
			}
			ta.puts.onGet.Store(&hold)
			defer ta.puts.onGet.Store(nil)
			type result struct {
				code       int
				retryAfter string
			}
			results := make(chan result, n)
			before := h.Runs()
			for range n {
				go func() {
					code, ra := send(c.path, c.s, c.body)
					results <- result{code, ra}
				}()
			}
			var got []result
			for int(reached.Load())+len(got) < n {
				select {
				case r := <-results:
					got = append(got, r)
				case <-time.After(5 * time.Millisecond):
				}
			}
			close(gate)
			for len(got) < n {
				got = append(got, <-results)
			}
			counts := map[int]int{}
			for _, r := range got {
				counts[r.code]++
				if r.code == 429 && r.retryAfter != "60" {
					t.Errorf("429 with Retry-After %q, want 60", r.retryAfter)
				}
			}
			if counts[c.refused] != 5 || counts[429] != n-5 {
				t.Errorf("answers %v, want %d×%d and %d×429", counts, 5, c.refused, n-5)
			}
			if runs := h.Runs() - before; runs != 5 {
				t.Errorf("%d passwords hashed, want 5 (lockout_after)", runs)
			}
			if w := ta.auth.settings().lockout.Locked("ana", ta.auth.clock()); w <= 0 {
				t.Error("ana is not locked after five failures")
			}
		})
		// Start the next case afresh.
		if err := ta.auth.Configure(auth.Config{SignInPerClient: auth.Rate{PerSecond: 1, Burst: 1000}, Requests: auth.Rate{PerSecond: 1, Burst: 1000}, PasswordHash: fastHash}); err != nil {
			t.Fatal(err)
		}
		h, _ = ta.auth.settings().hasher()
	}

	// A request that ends before the password is checked (here the store
	// fails) gives its reservation back: afterwards five wrong passwords
	// are still checked before the name locks.
	failing := func(key string) error {
		if key == userPrefix+"ana" {
			return errors.New("the store is down")
		}
		return nil
	}
	for _, c := range []struct {
		name, path string
		s          *session
		body       string
		refused    int
	}{
		{"sign-in", "/v1/session", nil, `{"user":"ana","password":"wrong password here"}`, 401},
		{"password change", "/v1/me/password", s, `{"current_password":"wrong password here","new_password":"an entirely new passphrase"}`, 403},
	} {
		ta.puts.onGet.Store(&failing)
		for range 10 {
			if code, _ := send(c.path, c.s, c.body); code != 500 {
				t.Fatalf("%s with the store failing: %d, want 500", c.name, code)
			}
		}
		ta.puts.onGet.Store(nil)
		for i := range 5 {
			if code, _ := send(c.path, c.s, c.body); code != c.refused {
				t.Fatalf("%s: wrong password %d after the failed requests: %d, want %d", c.name, i+1, code, c.refused)
			}
		}
		if code, _ := send(c.path, c.s, c.body); code != 429 {
			t.Errorf("%s: a sixth wrong password: %d, want 429", c.name, code)
		}
		if err := ta.auth.Configure(auth.Config{SignInPerClient: auth.Rate{PerSecond: 1, Burst: 1000}, Requests: auth.Rate{PerSecond: 1, Burst: 1000}, PasswordHash: fastHash}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSignInPerClient: the client address's bucket, and X-Forwarded-For
// believed only from a trusted proxy.
func TestSignInPerClient(t *testing.T) {
	attempt := func(ta *testAPI, xff string) answer {
		return ta.req(t, "POST", "/v1/session", nil, `{"user":"ana","password":"wrong password here"}`, map[string]string{"X-Forwarded-For": xff})
	}
	ta := newUserAPI(t, auth.Config{SignInPerClient: auth.Rate{PerSecond: 0.01, Burst: 3}, LockoutAfter: 100})
	for i := range 3 {
		wantError(t, "attempt in the burst", attempt(ta, "192.0.2."+string(rune('1'+i))), 401, "unauthenticated", "")
	}
	a := attempt(ta, "192.0.2.9") // an untrusted X-Forwarded-For changes nothing
	wantError(t, "beyond the burst", a, 429, "rate_limited", "")
	if a.header.Get("Retry-After") != "100" {
		t.Errorf("Retry-After %q, want 100", a.header.Get("Retry-After"))
	}
	if n := metric(t, ta.auth, "vigil_sign_ins_total", "client_rate_limited"); n != 1 {
		t.Errorf("counted %v", n)
	}

	ta = newUserAPI(t, auth.Config{SignInPerClient: auth.Rate{PerSecond: 0.01, Burst: 1}, LockoutAfter: 100, TrustedProxies: []string{"127.0.0.0/8", "::1"}})
	wantError(t, "first client", attempt(ta, "192.0.2.1"), 401, "unauthenticated", "")
	wantError(t, "first client again", attempt(ta, "192.0.2.1"), 429, "rate_limited", "")
	wantError(t, "another client", attempt(ta, "192.0.2.2, 127.0.0.1"), 401, "unauthenticated", "")
	wantError(t, "an IPv6 client", attempt(ta, "2001:db8:1:2::1"), 401, "unauthenticated", "")
	wantError(t, "the same /64", attempt(ta, "2001:db8:1:2::ffff"), 429, "rate_limited", "")
	wantError(t, "a spoofed left entry", attempt(ta, "198.51.100.1, 192.0.2.1"), 429, "rate_limited", "")
}

// TestSessionLifetime: a session ends after the idle timeout without use
// and at its lifetime however used; its last use is written at most once a
// minute; it survives a restart (another Auth over the same store).
func TestSessionLifetime(t *testing.T) {
	ta := newUserAPI(t, auth.Config{})
	advance := ta.setClock(t, time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	ta.user(t, "ana", "viewer", anaPassword, "fleet-a")
	s := ta.signIn(t, "ana", anaPassword)
	entries, _ := ta.st.ListConfig(context.Background(), store.AllTenants(), "", sessionPrefix)
	key := entries[0].Key
	version := func() int64 {
		e, err := ta.st.GetConfig(context.Background(), store.AllTenants(), "", key)
		if err != nil {
			return 0
		}
		return e.Version
	}
	for range 30 {
		if a := ta.req(t, "GET", "/v1/me", s, "", nil); a.code != 200 {
			t.Fatalf("%d %s", a.code, a.body)
		}
	}
	if v := version(); v != 1 {
		t.Errorf("30 uses within a minute wrote the session %d times", v-1)
	}
	// In use every 29 minutes it lives on; the last use is written.
	for range 4 {
		advance(29 * time.Minute)
		if a := ta.req(t, "GET", "/v1/me", s, "", nil); a.code != 200 {
			t.Fatalf("after 29 minutes: %d %s", a.code, a.body)
		}
	}
	if v := version(); v != 5 {
		t.Errorf("four uses minutes apart: version %d, want 5", v)
	}
	// A restart: a new Auth on the same store knows the session.
	other := NewAuth(ta.st)
	other.Configure(auth.Config{PasswordHash: fastHash})
	other.now = ta.auth.clock
	hs := httptest.NewServer(New(Options{Store: ta.st, Auth: other, Metrics: http.NotFoundHandler(), Ingest: http.NotFoundHandler()}))
	defer hs.Close()
	req, _ := http.NewRequest("GET", hs.URL+"/v1/me", nil)
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: s.cookie})
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("after a restart: %v %v", resp, err)
	}
	// Idle for 30 minutes: gone, here and in the store.
	advance(30 * time.Minute)
	wantError(t, "idle", ta.req(t, "GET", "/v1/me", s, "", nil), 401, "unauthenticated", "")
	if v := version(); v != 0 {
		t.Error("the idle session is still stored")
	}

	// Used every 20 minutes, a session still ends 12 hours after sign-in.
	s = ta.signIn(t, "ana", anaPassword)
	for elapsed := 20 * time.Minute; elapsed < 12*time.Hour; elapsed += 20 * time.Minute {
		advance(20 * time.Minute)
		if a := ta.req(t, "GET", "/v1/me", s, "", nil); a.code != 200 {
			t.Fatalf("after %v: %d %s", elapsed, a.code, a.body)
		}
	}
	advance(20 * time.Minute)
	a := ta.req(t, "GET", "/v1/me", s, "", nil)
	wantError(t, "lifetime", a, 401, "unauthenticated", "")
	if !strings.Contains(string(a.body), "lifetime of 12h") {
		t.Errorf("the answer does not say why: %s", a.body)
	}
	if n := metric(t, ta.auth, "vigil_sessions_ended_total", "idle"); n != 1 {
		t.Errorf("idle sessions counted %v", n)
	}
	if n := metric(t, ta.auth, "vigil_sessions_ended_total", "expired"); n != 1 {
		t.Errorf("expired sessions counted %v", n)
	}
	// Malformed and unknown cookies.
	for _, c := range []string{"x", s.cookie + "x", strings.Repeat("a", 16) + "." + strings.Repeat("b", 43)} {
		wantError(t, "cookie "+c, ta.req(t, "GET", "/v1/me", &session{cookie: c}, "", nil), 401, "unauthenticated", "")
	}
}

// TestSessionsPerUser: beyond the limit a sign-in ends the oldest session.
func TestSessionsPerUser(t *testing.T) {
	ta := newUserAPI(t, auth.Config{MaxSessionsPerUser: 3})
	advance := ta.setClock(t, time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	ta.user(t, "ana", "viewer", anaPassword, "fleet-a")
	var ss []*session
	for range 4 {
		ss = append(ss, ta.signIn(t, "ana", anaPassword))
		advance(time.Second)
	}
	wantError(t, "the oldest", ta.req(t, "GET", "/v1/me", ss[0], "", nil), 401, "unauthenticated", "")
	for _, s := range ss[1:] {
		if a := ta.req(t, "GET", "/v1/me", s, "", nil); a.code != 200 {
			t.Errorf("a newer session: %d %s", a.code, a.body)
		}
	}
	if n := metric(t, ta.auth, "vigil_sessions_ended_total", "evicted"); n != 1 {
		t.Errorf("evicted %v", n)
	}
}

// TestRequestRateLimit: each credential has its bucket; a user's sessions
// share one; the machine routes have their own.
func TestRequestRateLimit(t *testing.T) {
	ta := newUserAPI(t, auth.Config{Requests: auth.Rate{PerSecond: 0.5, Burst: 3}})
	ta.setClock(t, time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	ta.user(t, "ana", "viewer", anaPassword, "fleet-a")
	viewer, _ := ta.key(t, "viewer", "*")
	for range 3 {
		if code, body := ta.do(t, "GET", "/v1/me", viewer, ""); code != 200 {
			t.Fatalf("%d %s", code, body)
		}
	}
	a := ta.req(t, "GET", "/v1/me", nil, "", map[string]string{"Authorization": "Bearer " + viewer})
	wantError(t, "beyond the burst", a, 429, "rate_limited", "")
	if a.header.Get("Retry-After") != "2" {
		t.Errorf("Retry-After %q, want 2", a.header.Get("Retry-After"))
	}
	if code, _ := ta.do(t, "GET", "/v1/me", ta.admin, ""); code != 200 {
		t.Errorf("another key was limited too: %d", code)
	}
	// The machine routes' bucket is another: the viewer's empty bucket
	// does not stop it there (the role does).
	if code, body := ta.do(t, "POST", "/v1/events", viewer, "{}"); code != 403 {
		t.Errorf("a viewer's ingest: %d %s, want 403 (not 429: the machine bucket is apart)", code, body)
	}
	s1, s2 := ta.signIn(t, "ana", anaPassword), ta.signIn(t, "ana", anaPassword)
	for _, s := range []*session{s1, s2, s1} {
		if a := ta.req(t, "GET", "/v1/me", s, "", nil); a.code != 200 {
			t.Fatalf("%d %s", a.code, a.body)
		}
	}
	wantError(t, "a second session of the same user", ta.req(t, "GET", "/v1/me", s2, "", nil), 429, "rate_limited", "")
	if n := metric(t, ta.auth, "vigil_api_rate_limited_total", "key"); n != 1 {
		t.Errorf("rate-limited key requests counted %v, want 1", n)
	}
	if n := metric(t, ta.auth, "vigil_api_rate_limited_total", "session"); n != 1 {
		t.Errorf("rate-limited session requests counted %v, want 1", n)
	}
}

// TestRehashOnSignIn: after the hash parameters change, a sign-in replaces
// the stored hash with one of the new parameters.
func TestRehashOnSignIn(t *testing.T) {
	ta := newUserAPI(t, auth.Config{})
	ta.user(t, "ana", "viewer", anaPassword, "fleet-a")
	u, _, _ := ta.auth.storedUser(context.Background(), "ana")
	if !strings.HasPrefix(u.Hash, "$argon2id$v=19$m=8192,t=1,p=1$") {
		t.Fatalf("hash %s", u.Hash)
	}
	if err := ta.auth.Configure(auth.Config{PasswordHash: auth.PasswordHash{MemoryMiB: 9, Time: 2, Threads: 1}}); err != nil {
		t.Fatal(err)
	}
	ta.signIn(t, "ana", anaPassword)
	u2, _, _ := ta.auth.storedUser(context.Background(), "ana")
	if !strings.HasPrefix(u2.Hash, "$argon2id$v=19$m=9216,t=2,p=1$") || u2.LastSignIn == 0 {
		t.Fatalf("after a sign-in: hash %s, last sign-in %d", u2.Hash, u2.LastSignIn)
	}
	ta.signIn(t, "ana", anaPassword)
}
