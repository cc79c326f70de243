package app

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-project/vigil/internal/auth"
	"github.com/vigil-project/vigil/internal/config"
	"github.com/vigil-project/vigil/internal/store"
)

// oidcFixture is a vigil server whose console signs in with a real OpenID
// provider running in-process (oidc_provider_test.go).
type oidcFixture struct {
	ts   *testServer
	tp   *testProvider
	rp   *auth.RP
	cfg  string        // the configuration file
	skew atomic.Int64  // added to the relying party's clock, ns
	logs *lockedBuffer // the server's log
}

// lockedBuffer is a log a server writes while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

const oidcGroups = `    groups:
      vigil-admins: {role: admin, tenants: ["*"]}
      fleet-a-viewers: {role: viewer, tenants: [fleet-a]}
      fleet-a-soc: {role: analyst, tenants: [fleet-a]}
`

// writeOIDCConfig writes a configuration file with auth.oidc for the
// provider at issuer, its secret in a file beside it and, for HTTPS, the
// provider's certificate as the CA to trust.
func writeOIDCConfig(t *testing.T, dir, issuer, redirect string, ca *x509.Certificate) string {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "oidc-secret"), []byte(providerClientSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tlsLine := ""
	if ca != nil {
		pemCA := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})
		if err := os.WriteFile(filepath.Join(dir, "provider-ca.pem"), pemCA, 0o644); err != nil {
			t.Fatal(err)
		}
		tlsLine = "    tls: {ca_file: provider-ca.pem}\n"
	}
	doc := fmt.Sprintf(`auth:
  sign_in_per_client: {per_second: 1000, burst: 1000}
  password_hash: {memory_mib: 8, time: 1, threads: 1}
  oidc:
    name: Test SSO
    issuer: %s
    client_id: %s
    client_secret_file: oidc-secret
    redirect_url: %s
    scopes: [profile, email, groups]
%s%s`, issuer, providerClientID, redirect, oidcGroups, tlsLine)
	p := filepath.Join(dir, "vigil.yaml")
	if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// newOIDCFixture starts vigil, then the provider (it needs vigil's
// address for its client's redirect URI), then turns OIDC sign-in on from
// a configuration file read the way serve reads it, with a clock the test
// can move.
func newOIDCFixture(t *testing.T, tlsOn bool, host string) *oidcFixture {
	t.Helper()
	f := &oidcFixture{logs: &lockedBuffer{}}
	f.ts = startServerWith(t, serveOptions{DataDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	redirect := f.ts.base + auth.CallbackPath
	f.tp = newTestProvider(t, redirect, tlsOn, host)
	var ca *x509.Certificate
	if tlsOn {
		ca = f.tp.srv.Certificate()
	}
	f.cfg = writeOIDCConfig(t, t.TempDir(), f.tp.issuer, redirect, ca)
	cfg, err := config.Load(f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.ts.srv.auth.Configure(cfg.Auth); err != nil {
		t.Fatal(err)
	}
	f.rp, err = oidcRelyingParty(cfg, slog.New(slog.NewTextHandler(f.logs, nil)), func() time.Time { return time.Now().Add(time.Duration(f.skew.Load())) })
	if err != nil || f.rp == nil {
		t.Fatalf("OIDC from %s: %v", f.cfg, err)
	}
	f.ts.srv.auth.ConfigureOIDC(f.rp)
	return f
}

// browser is an HTTP client with a cookie jar, as a browser is, that
// trusts the provider's certificate and stops before visiting vigil's
// callback, so the test can look at (or tamper with) where the provider
// sent it.
func (f *oidcFixture) browser(t *testing.T) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	pool := x509.NewCertPool()
	if f.tp.srv.TLS != nil {
		pool.AddCert(f.tp.srv.Certificate())
	}
	return &http.Client{Jar: jar, Timeout: 30 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
		CheckRedirect: func(req *http.Request, _ []*http.Request) error {
			if req.URL.Path == auth.CallbackPath {
				return http.ErrUseLastResponse
			}
			return nil
		}}
}

// start begins a sign-in in c as u and returns the URL of vigil's callback
// the provider sent the browser to, not yet visited.
func (f *oidcFixture) start(t *testing.T, c *http.Client, u providerUser, next string) *url.URL {
	t.Helper()
	f.tp.signIn(u)
	resp, err := c.Get(f.ts.base + "/v1/session/oidc?next=" + url.QueryEscape(next))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil || loc.Path != auth.CallbackPath {
		t.Fatalf("the sign-in did not come back to vigil's callback: %d %v %s", resp.StatusCode, loc, body)
	}
	return loc
}

// visit calls u with the browser's cookies without following a redirect
// and returns the answer's status, Location and body.
func visit(t *testing.T, c *http.Client, u string, header map[string]string) (int, string, string, *http.Response) {
	t.Helper()
	once := *c
	once.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	req, _ := http.NewRequest("GET", u, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := once.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(b), resp
}

// oidcMe is GET /v1/me of a browser signed in with OIDC.
type oidcMe struct {
	Via     string   `json:"via"`
	User    string   `json:"user"`
	Role    string   `json:"role"`
	Tenants []string `json:"tenants"`
	Session struct {
		Method    string `json:"method"`
		CSRFToken string `json:"csrf_token"`
	} `json:"session"`
}

// call makes a request with the browser's cookies (and its CSRF token for
// a change) and returns the status and body.
func (f *oidcFixture) call(t *testing.T, c *http.Client, method, path, csrf, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, f.ts.base+path, strings.NewReader(body))
	if csrf != "" {
		req.Header.Set("X-CSRF-Token", csrf)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (f *oidcFixture) me(t *testing.T, c *http.Client) (int, oidcMe) {
	t.Helper()
	code, body := f.call(t, c, "GET", "/v1/me", "", "")
	var me oidcMe
	if code == 200 {
		if err := json.Unmarshal([]byte(body), &me); err != nil {
			t.Fatalf("GET /v1/me: %v: %s", err, body)
		}
	}
	return code, me
}

// signIn runs the whole flow and checks that it lands in the console.
func (f *oidcFixture) signIn(t *testing.T, u providerUser) (*http.Client, oidcMe) {
	t.Helper()
	c := f.browser(t)
	cb := f.start(t, c, u, "#/alerts")
	code, loc, body, _ := visit(t, c, cb.String(), nil)
	if code != http.StatusSeeOther || loc != "/console/#/alerts" {
		t.Fatalf("signing in as %s: %d %q %s", u.username, code, loc, body)
	}
	code, me := f.me(t, c)
	if code != 200 {
		t.Fatalf("GET /v1/me after signing in as %s: %d", u.username, code)
	}
	return c, me
}

// metric reads one counter of GET /metrics.
func (f *oidcFixture) metric(t *testing.T, name, result string) float64 {
	t.Helper()
	resp, err := http.Get(f.ts.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	want := name + `{result="` + result + `"} `
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), want); ok {
			n, _ := strconv.ParseFloat(v, 64)
			return n
		}
	}
	t.Fatalf("GET /metrics has no %s{result=%q}", name, result)
	return 0
}

// audit returns the audit log's entries of action.
func (f *oidcFixture) audit(t *testing.T, action string) []store.AuditEntry {
	t.Helper()
	all, err := f.ts.srv.store.ExportAudit(context.Background(), store.AllTenants(), store.AuditQuery{Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	var out []store.AuditEntry
	for _, e := range all {
		if e.Action == action {
			out = append(out, e)
		}
	}
	return out
}

var (
	ana  = providerUser{sub: "248289761001", username: "Ana", groups: []string{"staff", "vigil-admins"}}
	bob  = providerUser{sub: "248289761002", username: "bob", groups: []string{"fleet-a-viewers"}}
	cleo = providerUser{sub: "248289761003", username: "cleo", groups: []string{"marketing"}}
)

// TestOIDCSignIn drives the whole flow against the provider over HTTPS with
// an http.Client as the browser: the sign-in lands in the console with a
// working session of the mapped role and tenants (a viewer cannot change
// an alert and sees only fleet-a), roles follow the provider's groups at
// each sign-in, and a user whose groups map to nothing is refused and loses
// the sessions they had. Every step is audited, without a token.
func TestOIDCSignIn(t *testing.T) {
	f := newOIDCFixture(t, true, "")
	admin := f.ts.key(t, "admin", "*")
	for _, tenant := range []string{"fleet-a", "fleet-b"} {
		ev := `{"specversion":"1.0","id":"oidc-` + tenant + `","source":"test","type":"auth.login","time":"2026-03-02T07:00:00Z","tenant":"` + tenant +
			`","data":{"actor":{"account":"acct-` + tenant + `"},"result":"success","method":"password"}}`
		if code := f.ts.call(t, "POST", "/v1/events", admin, []byte(ev), map[string]string{"Content-Type": "application/cloudevents+json"}, nil); code != 200 {
			t.Fatalf("ingest: %d", code)
		}
	}

	// The console learns there is a provider.
	var methods struct {
		Password bool `json:"password"`
		OIDC     *struct {
			Name string `json:"name"`
			URL  string `json:"url"`
		} `json:"oidc"`
	}
	if code := f.ts.call(t, "GET", "/v1/session/methods", "", nil, nil, &methods); code != 200 || !methods.Password || methods.OIDC == nil ||
		methods.OIDC.Name != "Test SSO" || methods.OIDC.URL != "/v1/session/oidc" {
		t.Fatalf("GET /v1/session/methods: %d %+v", code, methods)
	}

	// The way to the provider: code flow with PKCE S256, state and nonce,
	// bound to a pre-auth cookie.
	c := f.browser(t)
	once := *c
	once.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := once.Get(f.ts.base + "/v1/session/oidc?next=%23%2Fincidents")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	to, _ := resp.Location()
	q := to.Query()
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(to.String(), f.tp.issuer+"/authorize?") || q.Get("response_type") != "code" ||
		q.Get("client_id") != providerClientID || q.Get("redirect_uri") != f.ts.base+auth.CallbackPath || q.Get("code_challenge_method") != "S256" ||
		len(q.Get("code_challenge")) != 43 || len(q.Get("state")) != 43 || len(q.Get("nonce")) != 43 ||
		!slices.Equal(strings.Fields(q.Get("scope")), []string{"openid", "profile", "email", "groups"}) {
		t.Fatalf("the redirect to the provider: %d %s", resp.StatusCode, to)
	}
	pre := cookieNamed(resp, auth.PreAuthCookie)
	if pre == nil || !pre.HttpOnly || !pre.Secure || pre.SameSite != http.SameSiteLaxMode || pre.Path != "/" || pre.MaxAge != 600 || pre.Domain != "" {
		t.Fatalf("the pre-auth cookie: %+v", pre)
	}

	// Ana, in the admins' group: lands in the console as an admin.
	c = f.browser(t)
	cb := f.start(t, c, ana, "#/alerts")
	code, loc, body, resp := visit(t, c, cb.String(), nil)
	if code != http.StatusSeeOther || loc != "/console/#/alerts" {
		t.Fatalf("the callback: %d %q %s", code, loc, body)
	}
	sess := cookieNamed(resp, "__Host-vigil_session")
	if sess == nil || !sess.HttpOnly || !sess.Secure || sess.SameSite != http.SameSiteStrictMode || sess.Path != "/" || sess.Domain != "" {
		t.Errorf("the session cookie: %+v", sess)
	}
	if gone := cookieNamed(resp, auth.PreAuthCookie); gone == nil || gone.MaxAge >= 0 {
		t.Errorf("the pre-auth cookie is not cleared by the callback: %+v", gone)
	}
	if resp.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("the callback's Referrer-Policy: %q", resp.Header.Get("Referrer-Policy"))
	}
	code, me := f.me(t, c)
	if code != 200 || me.Via != "session" || me.Session.Method != "oidc" || me.User != "oidc:ana" || me.Role != "admin" ||
		!slices.Equal(me.Tenants, []string{"*"}) || me.Session.CSRFToken == "" {
		t.Fatalf("GET /v1/me of ana: %d %+v", code, me)
	}
	if code, body := f.call(t, c, "GET", "/v1/events?kind=account&value=acct-fleet-b", "", ""); code != 200 || !strings.Contains(body, "oidc-fleet-b") {
		t.Errorf("ana (admin of every tenant) cannot read fleet-b: %d %.200s", code, body)
	}
	if code, body := f.call(t, c, "POST", "/v1/me/password", me.Session.CSRFToken, `{"current_password":"x","new_password":"y"}`); code != 400 ||
		!strings.Contains(body, "OpenID Connect") {
		t.Errorf("a password change by an OIDC user: %d %s", code, body)
	}

	// Bob, a viewer of fleet-a: may read fleet-a, not fleet-b, and change
	// nothing.
	bc, bme := f.signIn(t, bob)
	if bme.User != "oidc:bob" || bme.Role != "viewer" || !slices.Equal(bme.Tenants, []string{"fleet-a"}) {
		t.Fatalf("bob: %+v", bme)
	}
	if code, body := f.call(t, bc, "PATCH", "/v1/alerts/some-alert", bme.Session.CSRFToken, `{"assignee":"bob"}`); code != 403 || !strings.Contains(body, "analyst role") {
		t.Errorf("a viewer's PATCH: %d %s", code, body)
	}
	if code, body := f.call(t, bc, "GET", "/v1/events?kind=account&value=acct-fleet-a", "", ""); code != 200 || !strings.Contains(body, "oidc-fleet-a") {
		t.Errorf("bob cannot read his own tenant: %d %.200s", code, body)
	}
	for _, path := range []string{"/v1/events?kind=account&value=acct-fleet-b", "/v1/events?kind=account&value=acct-fleet-b&tenant=fleet-b"} {
		if code, body := f.call(t, bc, "GET", path, "", ""); strings.Contains(body, "oidc-fleet-b") {
			t.Errorf("bob of fleet-a read fleet-b: %s: %d %.200s", path, code, body)
		}
	}
	if code, body := f.call(t, bc, "GET", "/v1/tenants", "", ""); code != 200 || strings.Contains(body, "fleet-b") {
		t.Errorf("bob's tenants: %d %s", code, body)
	}

	// Bob moves to the analysts at the provider: his next sign-in makes him
	// one, and his first session follows at once.
	bob2 := bob
	bob2.groups = []string{"fleet-a-soc", "fleet-a-viewers"}
	_, b2 := f.signIn(t, bob2)
	if b2.Role != "analyst" || b2.User != "oidc:bob" {
		t.Errorf("bob as an analyst: %+v", b2)
	}
	if code, me := f.me(t, bc); code != 200 || me.Role != "analyst" {
		t.Errorf("bob's first session after the role changed: %d %+v", code, me)
	}

	// Bob leaves every mapped group: refused, and his sessions end.
	bob3 := bob
	bob3.groups = []string{"former-staff"}
	c3 := f.browser(t)
	code, _, body, _ = visit(t, c3, f.start(t, c3, bob3, "").String(), nil)
	if code != 403 || !strings.Contains(body, "none of your groups at Test SSO gives a role") {
		t.Errorf("bob without a mapped group: %d %s", code, body)
	}
	if code, _ := f.me(t, bc); code != 401 {
		t.Errorf("bob's session after he lost his groups: %d, want 401", code)
	}
	// A stranger in no mapped group: refused, nothing recorded.
	c4 := f.browser(t)
	code, _, body, _ = visit(t, c4, f.start(t, c4, cleo, "").String(), map[string]string{"Accept": "text/html,application/xhtml+xml"})
	if code != 403 || !strings.Contains(body, "<!doctype html>") || !strings.Contains(body, "none of your groups") || !strings.Contains(body, `href="/console/#/signin"`) {
		t.Errorf("cleo's refusal, for a browser: %d %s", code, body)
	}
	if _, err := f.ts.srv.store.GetConfig(context.Background(), store.AllTenants(), "", "oidcuser/"+auth.SubjectKey(f.tp.issuer, cleo.sub)); err == nil {
		t.Error("a refused stranger was recorded as a user")
	}

	// Sign-out ends the OIDC session like any other.
	if code, _ := f.call(t, c, "DELETE", "/v1/session", me.Session.CSRFToken, ""); code != 200 {
		t.Errorf("sign-out: %d", code)
	}
	if code, _ := f.me(t, c); code != 401 {
		t.Errorf("after sign-out: %d", code)
	}

	// The audit log: the sign-ins with their method, the users made and
	// changed from the claims, the refusals with their reason.
	signIns := f.audit(t, "auth.sign_in")
	if len(signIns) != 3 || signIns[0].Target != "oidc:ana" || !strings.Contains(string(signIns[0].Detail), `"method":"oidc"`) ||
		!strings.Contains(string(signIns[0].Detail), `"groups":["vigil-admins"]`) || !strings.Contains(string(signIns[0].Detail), `"groups_skipped":1`) {
		t.Errorf("auth.sign_in entries: %d %s", len(signIns), details(signIns))
	}
	if n := len(f.audit(t, "user.oidc_create")); n != 2 {
		t.Errorf("user.oidc_create entries: %d, want 2 (ana, bob)", n)
	}
	updates := f.audit(t, "user.oidc_update")
	if len(updates) != 2 || !strings.Contains(string(updates[0].Detail), `"role":"analyst"`) || !strings.Contains(string(updates[1].Detail), "no mapped group") {
		t.Errorf("user.oidc_update entries: %d %s", len(updates), details(updates))
	}
	failed := f.audit(t, "auth.sign_in_failed")
	if len(failed) != 2 || !strings.Contains(string(failed[1].Detail), `"reason":"no_role"`) || !strings.Contains(string(failed[1].Detail), "marketing") {
		t.Errorf("auth.sign_in_failed entries: %d %s", len(failed), details(failed))
	}
	if n := f.metric(t, "vigil_oidc_sign_ins_total", "success"); n != 3 {
		t.Errorf("successes counted: %v", n)
	}
	if n := f.metric(t, "vigil_oidc_sign_ins_total", "no_role"); n != 2 {
		t.Errorf("no_role counted: %v", n)
	}
	f.noSecretsLogged(t)

	// Back in a mapped group, bob signs in again; OIDC turned off ends
	// his session.
	b4c, b4 := f.signIn(t, bob2)
	if b4.Role != "analyst" {
		t.Errorf("bob back as an analyst: %+v", b4)
	}
	f.ts.srv.auth.ConfigureOIDC(nil)
	if code, _ := f.me(t, b4c); code != 401 {
		t.Errorf("an OIDC session with OIDC off: %d, want 401", code)
	}
}

// configure applies the fixture's auth: section, changed by change (the
// buckets and lock-outs start afresh; sessions stay).
func (f *oidcFixture) configure(t *testing.T, change func(*auth.Config)) {
	t.Helper()
	cfg, err := config.Load(f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	change(&cfg.Auth)
	if err := f.ts.srv.auth.Configure(cfg.Auth); err != nil {
		t.Fatal(err)
	}
}

// TestOIDCSameName: two subjects of the provider with one
// preferred_username have one name in vigil but are two users: the audit
// log tells them apart by their subject key, and each has a request budget
// of its own.
func TestOIDCSameName(t *testing.T) {
	f := newOIDCFixture(t, true, "")
	first := providerUser{sub: "248289761101", username: "dana", groups: []string{"fleet-a-viewers"}}
	second := providerUser{sub: "248289761102", username: "Dana", groups: []string{"fleet-a-viewers"}}
	c1, me1 := f.signIn(t, first)
	c2, me2 := f.signIn(t, second)
	if me1.User != "oidc:dana" || me2.User != "oidc:dana" {
		t.Fatalf("the names: %q and %q, want oidc:dana for both", me1.User, me2.User)
	}
	actor := func(u providerUser) string { return "user:oidc:dana#" + auth.SubjectKey(f.tp.issuer, u.sub)[:8] }
	var got []string
	for _, e := range f.audit(t, "auth.sign_in") {
		got = append(got, e.Actor)
	}
	if want := []string{actor(first), actor(second)}; !slices.Equal(got, want) {
		t.Errorf("auth.sign_in actors %q, want %q", got, want)
	}

	// The first spends its request budget; the second still has its own.
	f.configure(t, func(c *auth.Config) { c.Requests = auth.Rate{PerSecond: 0.001, Burst: 3} })
	for i := range 3 {
		if code, _ := f.me(t, c1); code != 200 {
			t.Fatalf("the first's request %d: %d", i+1, code)
		}
	}
	if code, _ := f.me(t, c1); code != 429 {
		t.Errorf("the first beyond its budget: %d, want 429", code)
	}
	if code, _ := f.me(t, c2); code != 200 {
		t.Errorf("the second, after the first spent its budget: %d, want 200", code)
	}
	if code, body := f.call(t, c2, "DELETE", "/v1/session", me2.Session.CSRFToken, ""); code != 200 {
		t.Fatalf("the second's sign-out: %d %s", code, body)
	}
	if out := f.audit(t, "auth.sign_out"); len(out) != 1 || out[0].Actor != actor(second) {
		t.Errorf("auth.sign_out: %s, want actor %s", details(out), actor(second))
	}
}

// TestOIDCStartLimited: starting a sign-in is limited per client address
// like the callback (each start mints a state a callback can spend), in a
// bucket of its own, so a password sign-in is not the worse for it.
func TestOIDCStartLimited(t *testing.T) {
	f := newOIDCFixture(t, true, "")
	f.configure(t, func(c *auth.Config) { c.SignInPerClient = auth.Rate{PerSecond: 0.001, Burst: 3} })
	c := f.browser(t)
	for i := range 3 {
		if code, loc, body, _ := visit(t, c, f.ts.base+"/v1/session/oidc", nil); code != http.StatusFound || !strings.HasPrefix(loc, f.tp.issuer+"/authorize?") {
			t.Fatalf("start %d: %d %q %s", i+1, code, loc, body)
		}
	}
	code, _, body, resp := visit(t, c, f.ts.base+"/v1/session/oidc", nil)
	if code != 429 || resp.Header.Get("Retry-After") != "1000" || !strings.Contains(body, "too many sign-ins started") {
		t.Errorf("a fourth start: %d, Retry-After %q: %s", code, resp.Header.Get("Retry-After"), body)
	}
	if cookieNamed(resp, auth.PreAuthCookie) != nil {
		t.Error("a refused start set a pre-auth cookie")
	}
	if n := f.metric(t, "vigil_oidc_redirects_total", "client_rate_limited"); n != 1 {
		t.Errorf("refused starts counted: %v, want 1", n)
	}
	if code := f.ts.signInCode(t, "nobody", "not a password at all"); code != 401 {
		t.Errorf("a password sign-in after the starts: %d, want 401 (checked, not rate limited)", code)
	}
}

// noSecretsLogged: no token the provider handed out appears in vigil's
// log or its audit log.
func (f *oidcFixture) noSecretsLogged(t *testing.T) {
	t.Helper()
	tokens := f.tp.tokens()
	if len(tokens) == 0 {
		t.Fatal("the provider handed out no token")
	}
	all, _ := f.ts.srv.store.ExportAudit(context.Background(), store.AllTenants(), store.AuditQuery{Limit: 10000})
	var audit strings.Builder
	for _, e := range all {
		fmt.Fprintf(&audit, "%s %s %s %s\n", e.Actor, e.Action, e.Target, e.Detail)
	}
	logs := f.logs.String()
	for _, tok := range tokens {
		for _, part := range strings.Split(tok, ".") { // a JWT's parts, a token's halves
			if len(part) >= 16 && (strings.Contains(logs, part) || strings.Contains(audit.String(), part)) {
				t.Errorf("a token of the provider is in vigil's log or audit log: …%s…", part[:16])
			}
		}
	}
	if strings.Contains(logs, providerClientSecret) {
		t.Error("the client secret is in vigil's log")
	}
}

// details shows audit entries in a failure.
func details(es []store.AuditEntry) string {
	var b strings.Builder
	for _, e := range es {
		fmt.Fprintf(&b, "\n  %s %s %s", e.Action, e.Target, e.Detail)
	}
	return b.String()
}

func cookieNamed(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// TestOIDCRefusals: every way a sign-in can be forged, replayed, stale or
// betrayed by its provider is refused with its own clear error, counted and
// audited, and leaves no session behind.
func TestOIDCRefusals(t *testing.T) {
	f := newOIDCFixture(t, true, "")
	type outcome struct {
		code   int
		reason string // the counter's result and the audit's reason
		says   string
	}
	// misbehaving signs ana in while the provider misbehaves as told.
	misbehaving := func(how string) func(t *testing.T, c *http.Client) (int, string) {
		return func(t *testing.T, c *http.Client) (int, string) {
			f.tp.misbehave(how)
			defer f.tp.misbehave("")
			code, _, body, _ := visit(t, c, f.start(t, c, ana, "").String(), nil)
			return code, body
		}
	}
	cases := []struct {
		name string
		run  func(t *testing.T, c *http.Client) (int, string)
		want outcome
	}{
		{"tampered state", func(t *testing.T, c *http.Client) (int, string) {
			cb := f.start(t, c, ana, "")
			q := cb.Query()
			s := []byte(q.Get("state"))
			s[5] ^= 1
			q.Set("state", string(s))
			cb.RawQuery = q.Encode()
			code, _, body, _ := visit(t, c, cb.String(), nil)
			return code, body
		}, outcome{400, auth.OIDCStateMismatch, "does not belong to this browser's sign-in"}},
		{"callback in another browser", func(t *testing.T, c *http.Client) (int, string) {
			cb := f.start(t, c, ana, "")
			code, _, body, _ := visit(t, f.browser(t), cb.String(), nil) // a browser without the pre-auth cookie
			return code, body
		}, outcome{400, auth.OIDCNoPreAuth, "no sign-in in progress"}},
		{"replayed answer", func(t *testing.T, c *http.Client) (int, string) {
			cb := f.start(t, c, ana, "")
			pre := jarCookie(t, c, f.ts.base, auth.PreAuthCookie)
			if code, _, body, _ := visit(t, c, cb.String(), nil); code != http.StatusSeeOther {
				t.Fatalf("the first use: %d %s", code, body)
			}
			// The attacker replays the answer with the pre-auth cookie
			// captured before it was cleared.
			thief := f.browser(t)
			thief.Jar.SetCookies(mustURL(f.ts.base), []*http.Cookie{{Name: auth.PreAuthCookie, Value: pre, Path: "/"}})
			code, _, body, _ := visit(t, thief, cb.String(), nil)
			return code, body
		}, outcome{400, auth.OIDCReplayed, "used already"}},
		{"replayed code in a new sign-in", func(t *testing.T, c *http.Client) (int, string) {
			old := f.start(t, c, ana, "")
			if code, _, body, _ := visit(t, c, old.String(), nil); code != http.StatusSeeOther {
				t.Fatalf("the first use: %d %s", code, body)
			}
			// A fresh sign-in of the same browser, whose answer carries the
			// code already redeemed.
			cb := f.start(t, c, ana, "")
			q := cb.Query()
			q.Set("code", old.Query().Get("code"))
			cb.RawQuery = q.Encode()
			code, _, body, _ := visit(t, c, cb.String(), nil)
			return code, body
		}, outcome{401, auth.OIDCCodeRefused, "refused the authorization code"}},
		{"wrong nonce", misbehaving("nonce"), outcome{401, auth.OIDCNonceMismatch, "nonce is not this sign-in's"}},
		{"ID token for another audience", misbehaving("audience"), outcome{401, auth.OIDCWrongAudience, "meant for another client"}},
		{"ID token from another issuer", misbehaving("issuer"), outcome{401, auth.OIDCWrongIssuer, "sso.evil.example"}},
		{"expired pre-auth cookie", func(t *testing.T, c *http.Client) (int, string) {
			cb := f.start(t, c, ana, "")
			f.skew.Store(int64(auth.PreAuthLifetime + time.Second))
			defer f.skew.Store(0)
			// The browser still sends it (a clock of its own); vigil's
			// seal has its end.
			code, _, body, _ := visit(t, c, cb.String(), nil)
			return code, body
		}, outcome{400, auth.OIDCPreAuthExpired, "longer than 10 minutes"}},
		{"forged pre-auth cookie", func(t *testing.T, c *http.Client) (int, string) {
			cb := f.start(t, c, ana, "")
			pre := jarCookie(t, c, f.ts.base, auth.PreAuthCookie)
			// Change its first character to another one: always "A" would
			// leave one cookie in 64 unchanged, and the sign-in would pass.
			forged := "A" + pre[1:]
			if pre[0] == 'A' {
				forged = "B" + pre[1:]
			}
			c.Jar.SetCookies(mustURL(f.ts.base), []*http.Cookie{{Name: auth.PreAuthCookie, Value: forged, Path: "/"}})
			code, _, body, _ := visit(t, c, cb.String(), nil)
			return code, body
		}, outcome{400, auth.OIDCPreAuthInvalid, "not one this vigil made"}},
		{"the user declines at the provider", misbehaving("deny"), outcome{403, auth.OIDCProviderError, "access_denied"}},
		{"unmapped group", func(t *testing.T, c *http.Client) (int, string) {
			code, _, body, _ := visit(t, c, f.start(t, c, cleo, "").String(), nil)
			return code, body
		}, outcome{403, "no_role", "none of your groups"}},
	}
	for _, k := range cases {
		t.Run(k.name, func(t *testing.T) {
			before := f.metric(t, "vigil_oidc_sign_ins_total", k.want.reason)
			audited := len(f.audit(t, "auth.sign_in_failed"))
			c := f.browser(t)
			code, body := k.run(t, c)
			var p struct {
				Error struct {
					Code    string `json:"code"`
					Message string `json:"message"`
				} `json:"error"`
			}
			json.Unmarshal([]byte(body), &p)
			if code != k.want.code || !strings.Contains(p.Error.Message, k.want.says) {
				t.Errorf("%d %s; want %d saying %q", code, body, k.want.code, k.want.says)
			}
			if n := f.metric(t, "vigil_oidc_sign_ins_total", k.want.reason); n != before+1 {
				t.Errorf("counter %s went from %v to %v", k.want.reason, before, n)
			}
			failed := f.audit(t, "auth.sign_in_failed")
			if len(failed) != audited+1 || !strings.Contains(string(failed[len(failed)-1].Detail), `"reason":"`+k.want.reason+`"`) {
				t.Errorf("not audited with reason %s: %d entries before, %s", k.want.reason, audited, details(failed[audited:]))
			}
			if k.name != "replayed answer" && k.name != "replayed code in a new sign-in" {
				if code, _ := f.me(t, c); code != 401 {
					t.Errorf("the refused browser has a session: GET /v1/me %d", code)
				}
			}
		})
	}
	f.noSecretsLogged(t)
}

func jarCookie(t *testing.T, c *http.Client, base, name string) string {
	t.Helper()
	for _, k := range c.Jar.Cookies(mustURL(base)) {
		if k.Name == name {
			return k.Value
		}
	}
	t.Fatalf("the browser holds no %s cookie", name)
	return ""
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// TestOIDCServe: auth.oidc in the configuration file turns sign-in with the
// provider on in vigil serve and is checked by vigil check-config (its
// secret file read, an unknown key refused); the routes and the OpenAPI
// document follow the configuration; a provider whose discovery document
// is unusable, or that does not answer, refuses sign-ins with a clear 503
// while passwords go on.
func TestOIDCServe(t *testing.T) {
	redirect := "https://vigil.example.com" + auth.CallbackPath
	tp := newTestProvider(t, redirect, true, "")
	dir := t.TempDir()
	path := writeOIDCConfig(t, dir, tp.issuer, redirect, tp.srv.Certificate())
	check := func() (int, string) {
		var out, errb bytes.Buffer
		code := Main(context.Background(), []string{"check-config", "--config", path}, strings.NewReader(""), &out, &errb)
		return code, out.String() + errb.String()
	}
	if code, out := check(); code != 0 || !strings.Contains(out, "oidc sign-in: Test SSO ("+tp.issuer+")") {
		t.Errorf("check-config: %d %s", code, out)
	}
	os.Chmod(filepath.Join(dir, "oidc-secret"), 0o644)
	if code, out := check(); code == 0 || !strings.Contains(out, "auth.oidc.client_secret_file") || !strings.Contains(out, "chmod 600") {
		t.Errorf("check-config with a world-readable secret: %d %s", code, out)
	}
	os.Chmod(filepath.Join(dir, "oidc-secret"), 0o600)
	good, _ := os.ReadFile(path)
	os.WriteFile(path, bytes.Replace(good, []byte("    client_id:"), []byte("    client_secret: inline\n    client_id:"), 1), 0o644)
	if code, out := check(); code == 0 || !strings.Contains(out, "client_secret") || !strings.Contains(out, "not found") {
		t.Errorf("check-config with an unknown key: %d %s", code, out)
	}
	os.WriteFile(path, good, 0o644)

	ts := startServerWith(t, serveOptions{DataDir: t.TempDir(), ConfigPath: path})
	var methods struct {
		Password bool `json:"password"`
		OIDC     *struct {
			Name string `json:"name"`
			URL  string `json:"url"`
		} `json:"oidc"`
	}
	if code := ts.call(t, "GET", "/v1/session/methods", "", nil, nil, &methods); code != 200 || methods.OIDC == nil || methods.OIDC.Name != "Test SSO" {
		t.Fatalf("methods: %d %+v", code, methods)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(ts.base + "/v1/session/oidc")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	to, _ := resp.Location()
	if resp.StatusCode != http.StatusFound || to == nil || !strings.HasPrefix(to.String(), tp.issuer+"/authorize?") || to.Query().Get("redirect_uri") != redirect {
		t.Fatalf("GET /v1/session/oidc: %d %v", resp.StatusCode, to)
	}
	// From another site: refused.
	req, _ := http.NewRequest("GET", ts.base+"/v1/session/oidc", nil)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if resp, err := c.Do(req); err != nil || resp.StatusCode != 403 {
		t.Errorf("a sign-in started from another site: %v %v", resp.StatusCode, err)
	}

	// The document lists the routes while they are served, public.
	documented := func() map[string]any {
		var doc map[string]any
		resp, err := http.Get(ts.base + "/v1/openapi.json")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		json.NewDecoder(resp.Body).Decode(&doc)
		return doc["paths"].(map[string]any)
	}
	served := ts.srv.api.Routes()
	for _, route := range []string{"GET /v1/session/oidc", "GET " + auth.CallbackPath, "GET /v1/session/methods"} {
		method, p, _ := strings.Cut(route, " ")
		op, _ := documented()[p].(map[string]any)[strings.ToLower(method)].(map[string]any)
		if !slices.Contains(served, route) || op == nil || op["security"] != nil {
			t.Errorf("%s: served %v, documented %v", route, slices.Contains(served, route), op)
		}
	}

	// Turned off: the routes go, and with them OIDC sessions.
	ts.srv.auth.ConfigureOIDC(nil)
	if slices.Contains(ts.srv.api.Routes(), "GET /v1/session/oidc") || documented()["/v1/session/oidc"] != nil {
		t.Error("the OIDC routes are still listed with OIDC off")
	}
	if code, body := ts.raw(t, "GET", "/v1/session/oidc", "", ""); code != 404 || !strings.Contains(body, "not configured") {
		t.Errorf("GET /v1/session/oidc with OIDC off: %d %s", code, body)
	}
	methods.OIDC = nil
	if code := ts.call(t, "GET", "/v1/session/methods", "", nil, nil, &methods); code != 200 || methods.OIDC != nil || !methods.Password {
		t.Errorf("methods with OIDC off: %d %+v", code, methods)
	}

	// Providers that cannot be used: sign-in answers 503 saying why.
	for _, k := range []struct {
		name, issuer, says string
		fault              string
	}{
		{"no S256", tp.issuer, "lacks S256", "plain-pkce"},
		{"nobody answers", "https://127.0.0.1:1/nothing", "cannot be reached", ""},
	} {
		tp.misbehave(k.fault)
		cfg, err := config.Load(writeOIDCConfig(t, t.TempDir(), k.issuer, redirect, tp.srv.Certificate()))
		if err != nil {
			t.Fatal(err)
		}
		logs := &lockedBuffer{}
		rp, err := oidcRelyingParty(cfg, slog.New(slog.NewTextHandler(logs, nil)), nil)
		if err != nil {
			t.Fatal(err)
		}
		ts.srv.auth.ConfigureOIDC(rp)
		code, body := ts.raw(t, "GET", "/v1/session/oidc", "", "")
		if code != 503 || !strings.Contains(body, "cannot be reached or its discovery document is not usable") || !strings.Contains(logs.String(), k.says) {
			t.Errorf("%s: %d %s; log %s", k.name, code, body, logs)
		}
	}
	tp.misbehave("")
}
