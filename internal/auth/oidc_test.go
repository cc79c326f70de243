package auth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-project/vigil/internal/clientconf"
)

func testOIDC() OIDCConfig {
	return OIDCConfig{Issuer: "https://sso.example.com/realms/vigil", ClientID: "vigil", ClientSecretEnv: "VIGIL_OIDC_SECRET",
		RedirectURL: "https://vigil.example.com/v1/session/oidc/callback",
		Groups:      map[string]OIDCGrant{"soc": {Role: "analyst", Tenants: []string{"fleet-a"}}}}
}

func TestOIDCConfig(t *testing.T) {
	d := testOIDC().withDefaults()
	if err := d.validate(); err != nil {
		t.Fatalf("a good configuration: %v", err)
	}
	if d.Name != "sso.example.com" || !slices.Equal(d.Scopes, []string{"profile", "email"}) || d.UsernameClaim != "preferred_username" || d.GroupsClaim != "groups" {
		t.Errorf("defaults %+v", d)
	}
	cases := []struct {
		name   string
		change func(*OIDCConfig)
		want   string
	}{
		{"no issuer", func(c *OIDCConfig) { c.Issuer = "" }, "oidc.issuer is required"},
		{"plain http issuer", func(c *OIDCConfig) { c.Issuer = "http://sso.example.com" }, "oidc.issuer"},
		{"issuer with a query", func(c *OIDCConfig) { c.Issuer = "https://sso.example.com/?x=1" }, "oidc.issuer"},
		{"plain http redirect", func(c *OIDCConfig) { c.RedirectURL = "http://vigil.example.com/v1/session/oidc/callback" }, "oidc.redirect_url"},
		{"another callback path", func(c *OIDCConfig) { c.RedirectURL = "https://vigil.example.com/callback" }, "/v1/session/oidc/callback"},
		{"no client id", func(c *OIDCConfig) { c.ClientID = "" }, "oidc.client_id"},
		{"no secret", func(c *OIDCConfig) { c.ClientSecretEnv = "" }, "client_secret_file or client_secret_env"},
		{"two secrets", func(c *OIDCConfig) { c.ClientSecretFile = "/etc/secret" }, "client_secret_file or client_secret_env"},
		{"no mapping", func(c *OIDCConfig) { c.Groups = nil }, "nobody could sign in"},
		{"machine role", func(c *OIDCConfig) { c.Groups["soc"] = OIDCGrant{Role: "ingest", Tenants: []string{"*"}} }, "oidc.groups.soc: role"},
		{"no tenants", func(c *OIDCConfig) { c.Groups["soc"] = OIDCGrant{Role: "viewer"} }, "oidc.groups.soc: tenants"},
		{"bad tenant", func(c *OIDCConfig) { c.Default = &OIDCGrant{Role: "viewer", Tenants: []string{"fleet a"}} }, "oidc.default: tenants"},
		{"star and more", func(c *OIDCConfig) { c.Default = &OIDCGrant{Role: "viewer", Tenants: []string{"*", "x"}} }, "give it alone"},
		{"scope with space", func(c *OIDCConfig) { c.Scopes = []string{"a b"} }, "oidc.scopes"},
		{"control in name", func(c *OIDCConfig) { c.Name = "Key\ncloak" }, "oidc.name"},
	}
	for _, c := range cases {
		cfg := testOIDC()
		c.change(&cfg)
		err := Config{OIDC: &cfg}.WithDefaults().Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error naming %s", c.name, err, c.want)
		}
	}
	// Loopback may be plain http: a provider or a console on this machine.
	cfg := testOIDC()
	cfg.Issuer, cfg.RedirectURL = "http://127.0.0.1:5556/dex", "http://localhost:8470/v1/session/oidc/callback"
	if err := (Config{OIDC: &cfg}).WithDefaults().Validate(); err != nil {
		t.Errorf("loopback: %v", err)
	}
	// WithDefaults leaves the caller's section as written.
	if cfg.Name != "" {
		t.Errorf("WithDefaults changed the caller's section: %+v", cfg)
	}
}

// TestOIDCConfigStrict: the section decodes strictly like the rest of the
// file: an unknown key, also in a group's grant or in tls, is an error.
func TestOIDCConfigStrict(t *testing.T) {
	decode := func(doc string) (Config, error) {
		var c Config
		dec := yaml.NewDecoder(strings.NewReader(doc))
		dec.KnownFields(true)
		err := dec.Decode(&c)
		return c, err
	}
	c, err := decode(`
oidc:
  name: Keycloak
  issuer: https://sso.example.com/realms/vigil
  client_id: vigil
  client_secret_file: oidc-secret
  redirect_url: https://vigil.example.com/v1/session/oidc/callback
  scopes: [profile, email, groups]
  groups_claim: groups
  groups:
    vigil-admins: {role: admin, tenants: ["*"]}
    fleet-a-soc: {role: analyst, tenants: [fleet-a]}
  default: {role: viewer, tenants: [fleet-a]}
  tls: {ca_file: ca.pem}
`)
	if err != nil || c.OIDC == nil || c.OIDC.Groups["vigil-admins"].Role != "admin" || c.OIDC.TLS.CAFile != "ca.pem" || c.OIDC.Default.Role != "viewer" {
		t.Fatalf("decoded %+v: %v", c.OIDC, err)
	}
	if err := c.WithDefaults().Validate(); err != nil {
		t.Errorf("validate: %v", err)
	}
	for doc, want := range map[string]string{
		"oidc:\n  issuer_url: https://x\n":                       "issuer_url",
		"oidc:\n  groups:\n    g: {role: viewer, tenant: [a]}\n": "tenant",
		"oidc:\n  tls: {ca: x}\n":                                `"ca"`,
	} {
		if _, err := decode(doc); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error naming %s", doc, err, want)
		}
	}
}

func TestOIDCGrant(t *testing.T) {
	c := OIDCConfig{Groups: map[string]OIDCGrant{
		"admins":     {Role: "admin", Tenants: []string{"*"}},
		"a-soc":      {Role: "analyst", Tenants: []string{"fleet-a"}},
		"b-soc":      {Role: "analyst", Tenants: []string{"fleet-b", "fleet-a"}},
		"c-viewers":  {Role: "viewer", Tenants: []string{"fleet-c"}},
		"a-admins":   {Role: "admin", Tenants: []string{"fleet-a"}},
		"all-viewer": {Role: "viewer", Tenants: []string{"*"}},
	}}
	cases := []struct {
		groups  []string
		deflt   *OIDCGrant
		role    string
		tenants []string
		ok      bool
	}{
		{[]string{"a-soc"}, nil, "analyst", []string{"fleet-a"}, true},
		// Two groups of one role: their tenants together.
		{[]string{"a-soc", "b-soc"}, nil, "analyst", []string{"fleet-a", "fleet-b"}, true},
		// The highest role, over its own groups' tenants only: the viewer
		// grant of fleet-c does not become analyst of fleet-c.
		{[]string{"c-viewers", "a-soc"}, nil, "analyst", []string{"fleet-a"}, true},
		{[]string{"a-admins", "admins"}, nil, "admin", []string{"*"}, true},
		{[]string{"all-viewer", "c-viewers"}, nil, "viewer", []string{"*"}, true},
		{[]string{"unknown", "Admins"}, nil, "", nil, false}, // names are exact
		{nil, nil, "", nil, false},
		{[]string{"unknown"}, &OIDCGrant{Role: "viewer", Tenants: []string{"fleet-d"}}, "viewer", []string{"fleet-d"}, true},
		// A mapped group wins over the default.
		{[]string{"a-soc"}, &OIDCGrant{Role: "admin", Tenants: []string{"*"}}, "analyst", []string{"fleet-a"}, true},
	}
	for _, k := range cases {
		c.Default = k.deflt
		role, tenants, _, ok := c.Grant(k.groups)
		if role != k.role || !slices.Equal(tenants, k.tenants) || ok != k.ok {
			t.Errorf("%v (default %v): %q %v %v, want %q %v %v", k.groups, k.deflt, role, tenants, ok, k.role, k.tenants, k.ok)
		}
	}
}

func TestClaimStrings(t *testing.T) {
	var v any
	json.Unmarshal([]byte(`["a", 7, "", null, {"x":1}, "b", "`+strings.Repeat("x", 300)+`"]`), &v)
	got, skipped := claimStrings(v)
	if !slices.Equal(got, []string{"a", "b"}) || skipped != 5 {
		t.Errorf("array: %v, %d skipped", got, skipped)
	}
	if got, skipped := claimStrings("solo"); !slices.Equal(got, []string{"solo"}) || skipped != 0 {
		t.Errorf("string: %v %d", got, skipped)
	}
	if got, skipped := claimStrings(map[string]any{"a": 1}); got != nil || skipped != 1 {
		t.Errorf("object: %v %d", got, skipped)
	}
	if got, skipped := claimStrings(nil); got != nil || skipped != 0 {
		t.Errorf("absent: %v %d", got, skipped)
	}
}

func TestValidNext(t *testing.T) {
	for s, want := range map[string]bool{
		"#/alerts": true, "#/incidents/inc-1?tab=timeline": true, "#/": true,
		"": false, "/alerts": false, "https://evil.example/#/x": false, "#/signin": false, "#/signin?next=x": false,
		"#/a<script>": false, "#/a b": false, "#/" + strings.Repeat("a", 300): false, "#/a\"b": false,
	} {
		if ValidNext(s) != want {
			t.Errorf("ValidNext(%q) = %v", s, !want)
		}
	}
}

func newTestRP(t *testing.T, c OIDCConfig, now func() time.Time) *RP {
	t.Helper()
	rp, err := NewRP(c, clientconf.Env{Getenv: func(string) string { return "the client secret of vigil" }}, RPOptions{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return rp
}

func sealFor(t *testing.T, rp *RP, pa preAuth) string {
	t.Helper()
	pt, _ := json.Marshal(pa)
	return base64.RawURLEncoding.EncodeToString(rp.aead.Seal(nil, nil, pt, rp.aad))
}

// TestPreAuthCookie: the cookie opens only as this configuration sealed
// it; every changed byte, another configuration's cookie, an expired one,
// a wrong state and a second use are refused, each with its reason, before
// the provider is asked anything (its address here answers nothing).
func TestPreAuthCookie(t *testing.T) {
	now := time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	c := testOIDC()
	c.Issuer = "https://127.0.0.1:1/nothing"
	rp := newTestRP(t, c, clock)
	tok := func() string { s, _ := randomToken(); return s }
	pa := preAuth{V: 1, Exp: now.Add(PreAuthLifetime).UnixNano(), State: tok(), Nonce: tok(), Verifier: tok(), Next: "#/alerts"}
	good := sealFor(t, rp, pa)
	got, oerr := rp.openPreAuth(good)
	if oerr != nil || got != pa {
		t.Fatalf("open: %+v %v", got, oerr)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(good)
	for i := range raw {
		b := bytes.Clone(raw)
		b[i] ^= 0x20
		if _, oerr := rp.openPreAuth(base64.RawURLEncoding.EncodeToString(b)); oerr == nil || oerr.Reason != OIDCPreAuthInvalid {
			t.Fatalf("byte %d changed: %v", i, oerr)
		}
	}
	other := c
	other.ClientID = "another-client"
	if _, oerr := newTestRP(t, other, clock).openPreAuth(good); oerr == nil || oerr.Reason != OIDCPreAuthInvalid {
		t.Errorf("a cookie of another client id opened: %v", oerr)
	}
	for _, bad := range []string{"", "%%%", strings.Repeat("A", 5000), base64.RawURLEncoding.EncodeToString([]byte("short"))} {
		if _, oerr := rp.openPreAuth(bad); oerr == nil {
			t.Errorf("%.20q opened", bad)
		}
	}
	// A sealed cookie with content vigil never makes.
	if _, oerr := rp.openPreAuth(sealFor(t, rp, preAuth{V: 2, State: pa.State, Nonce: pa.Nonce, Verifier: pa.Verifier})); oerr == nil {
		t.Error("a version 2 cookie opened")
	}

	q := func(state string) url.Values { return url.Values{"state": {state}, "code": {"x"}} }
	reason := func(err error) string {
		if oe, ok := err.(*OIDCError); ok {
			return oe.Reason
		}
		return "not an OIDCError: " + err.Error()
	}
	cases := []struct {
		name   string
		cookie string
		query  url.Values
		want   string
	}{
		{"no cookie", "", q(pa.State), OIDCNoPreAuth},
		{"forged cookie", base64.RawURLEncoding.EncodeToString(append(bytes.Clone(raw[:len(raw)-1]), raw[len(raw)-1]^1)), q(pa.State), OIDCPreAuthInvalid},
		{"expired", sealFor(t, rp, preAuth{V: 1, Exp: now.UnixNano(), State: pa.State, Nonce: pa.Nonce, Verifier: pa.Verifier}), q(pa.State), OIDCPreAuthExpired},
		{"other state", good, q(tok()), OIDCStateMismatch},
		{"two states", good, url.Values{"state": {pa.State, pa.State}}, OIDCStateMismatch},
		{"provider said no", good, url.Values{"state": {pa.State}, "error": {"access_denied\x00<b>"}, "error_description": {"User said no"}}, OIDCProviderError},
		// A refused answer leaves no record: presented again it is refused
		// again for what it is, not as a replay.
		{"refused answer again", good, url.Values{"state": {pa.State}, "error": {"access_denied"}}, OIDCProviderError},
	}
	for _, k := range cases {
		_, err := rp.Finish(t.Context(), k.cookie, k.query)
		if err == nil || reason(err) != k.want {
			t.Errorf("%s: %v, want %s", k.name, err, k.want)
		}
		if k.name == "provider said no" && (!strings.Contains(err.Error(), "access_denied<b> (User said no)") || strings.Contains(err.Error(), "\x00")) {
			t.Errorf("the provider's error is not shown cleaned: %q", err)
		}
	}
	// An answer in use (being checked, or one that passed) is refused as a
	// replay.
	if _, oerr := rp.markUsed(pa.State, pa.Exp, now); oerr != nil {
		t.Fatal(oerr)
	}
	if _, err := rp.Finish(t.Context(), good, q(pa.State)); err == nil || reason(err) != OIDCReplayed {
		t.Errorf("used again: %v, want %s", err, OIDCReplayed)
	}
	// A fresh sign-in whose code is there: the provider is asked, and it
	// cannot be reached.
	fresh := pa
	fresh.State = tok()
	if _, err := rp.Finish(t.Context(), sealFor(t, rp, fresh), q(fresh.State)); err == nil || reason(err) != OIDCUnavailable {
		t.Errorf("unreachable provider: %v", err)
	}
	rp.mu.Lock()
	if len(rp.used) != 1 {
		t.Errorf("%d answers recorded, want 1 (the one marked by hand): refused answers stay", len(rp.used))
	}
	clear(rp.used)
	rp.mu.Unlock()
	// Refused answers, however many, cannot fill the table and lock
	// everyone out.
	rp.maxUsed = 10
	for range 3 * rp.maxUsed {
		forged := pa
		forged.State = tok()
		if _, err := rp.Finish(t.Context(), sealFor(t, rp, forged), url.Values{"state": {forged.State}, "error": {"x"}}); err == nil || reason(err) != OIDCProviderError {
			t.Fatalf("a flood of refused answers: %v, want %s", err, OIDCProviderError)
		}
	}
	rp.maxUsed = maxUsedStates
	// The single-use table is bounded: full of live entries, it refuses
	// rather than forgets.
	rp.mu.Lock()
	for i := range maxUsedStates {
		rp.used[strconv.Itoa(i)] = now.Add(time.Minute).UnixNano()
	}
	rp.mu.Unlock()
	busy := pa
	busy.State = tok()
	if _, err := rp.Finish(t.Context(), sealFor(t, rp, busy), q(busy.State)); err == nil || reason(err) != OIDCBusy {
		t.Errorf("full table: %v", err)
	}
	now = now.Add(2 * time.Minute) // the entries ended: room again
	busy.Exp = now.Add(PreAuthLifetime).UnixNano()
	if _, err := rp.Finish(t.Context(), sealFor(t, rp, busy), q(busy.State)); err == nil || reason(err) != OIDCUnavailable {
		t.Errorf("after the entries ended: %v", err)
	}
}

// FuzzOpenPreAuth: whatever a browser sends as the pre-auth cookie, opening
// it does not panic, and nothing opens that this RP did not seal.
func FuzzOpenPreAuth(f *testing.F) {
	rp, err := NewRP(testOIDC(), clientconf.Env{Getenv: func(string) string { return "s" }}, RPOptions{})
	if err != nil {
		f.Fatal(err)
	}
	// Fixed content: fuzz workers seal with nonces of their own, so the
	// property is on what opens, not on the bytes.
	tok := strings.Repeat("t", 43)
	want := preAuth{V: 1, Exp: 1, State: tok, Nonce: tok, Verifier: tok}
	pt, _ := json.Marshal(want)
	f.Add(base64.RawURLEncoding.EncodeToString(rp.aead.Seal(nil, nil, pt, rp.aad)))
	f.Add("")
	f.Add("AAAA")
	f.Fuzz(func(t *testing.T, v string) {
		pa, oerr := rp.openPreAuth(v)
		if oerr == nil && pa != want {
			t.Fatalf("%q opened as %+v", v, pa)
		}
	})
}

// TestLimitedBody: an answer of the limit reads whole; one byte more fails.
func TestLimitedBody(t *testing.T) {
	for _, n := range []int{0, 10, maxProviderBody, maxProviderBody + 1, 3 * maxProviderBody} {
		tr := limitedTransport{roundTripper(func(*http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: 200, Body: io.NopCloser(bytes.NewReader(make([]byte, n)))}, nil
		})}
		resp, _ := tr.RoundTrip(&http.Request{})
		b, err := io.ReadAll(resp.Body)
		if n <= maxProviderBody && (err != nil || len(b) != n) {
			t.Errorf("%d bytes: read %d, %v", n, len(b), err)
		}
		if n > maxProviderBody && (err == nil || !strings.Contains(err.Error(), "larger than")) {
			t.Errorf("%d bytes: read %d, %v; want an error", n, len(b), err)
		}
	}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestOIDCNames(t *testing.T) {
	rp := newTestRP(t, testOIDC(), nil)
	key := SubjectKey("https://sso.example.com", "248289761001")
	if len(key) != 32 || key == SubjectKey("https://other.example.com", "248289761001") || key == SubjectKey("https://sso.example.com\x00248289761001", "") {
		t.Errorf("subject keys: %s", key)
	}
	for _, k := range []struct {
		claims map[string]any
		want   string
	}{
		{map[string]any{"preferred_username": "Ana.Lima"}, "ana.lima"},
		{map[string]any{"preferred_username": "ana lima", "email": "ana@example.com", "email_verified": true}, "ana@example.com"},
		{map[string]any{"email": "ana@example.com", "email_verified": false}, "sub-" + key[:12]},
		{map[string]any{"email": "ana@example.com"}, "sub-" + key[:12]},
		{map[string]any{"preferred_username": "admin:root"}, "sub-" + key[:12]},
		{map[string]any{"preferred_username": 42}, "sub-" + key[:12]},
	} {
		if got := rp.username(k.claims, key); got != k.want {
			t.Errorf("%v: %q, want %q", k.claims, got, k.want)
		}
	}
}
