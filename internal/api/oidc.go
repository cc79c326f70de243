package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/vigil-project/vigil/internal/api/problem"
	"github.com/vigil-project/vigil/internal/auth"
	"github.com/vigil-project/vigil/internal/store"
)

// OIDC sign-in (docs/auth.md). GET /v1/session/oidc sends the browser to
// the provider with a pre-auth cookie; GET /v1/session/oidc/callback has
// internal/auth.RP check the answer, maps the user's groups to a role and
// tenants, records the user (oidc_users.go) and starts the same
// server-side session as a password sign-in. Both routes exist only while
// OIDC is configured. GET /v1/session/methods tells the console's sign-in
// page which ways in there are.

type (
	signInMethods struct {
		Password bool `json:"password"`
		// OIDC is there when sign-in with an OpenID provider is configured.
		OIDC *oidcMethod `json:"oidc,omitempty"`
	}
	oidcMethod struct {
		Name string `json:"name"` // for "Sign in with <name>"
		URL  string `json:"url"`  // where the browser goes to sign in
	}
)

const oidcStartPath = "/v1/session/oidc"

// oidcRoutes are served only while OIDC is configured (routes()); New
// registers them always, and they answer 404 while it is not.
func (s *Server) oidcRoutes() []route {
	return []route{
		{"GET", oidcStartPath, roleNone, s.navigation(s.oidcStart), doc{summary: "Sign in with the configured OpenID Connect provider: a browser navigation (not JSON). " +
			"Answers 302 to the provider's authorization endpoint (authorization code flow with PKCE S256, state and nonce) and sets a pre-auth cookie " +
			"(__Host-vigil_oidc: HttpOnly, Secure, SameSite=Lax, 10 minutes). next (a console page such as #/alerts) is where the console opens afterwards. " +
			"Refused from another site (403); 429 with Retry-After beyond the client address's sign-in rate; 503 when the provider cannot be reached.", query: []string{"next"}}},
		{"GET", auth.CallbackPath, roleNone, s.navigation(s.oidcCallback), doc{summary: "Where the OpenID provider sends the browser back (not JSON). " +
			"Checks the pre-auth cookie and state (single use), redeems the code with the PKCE verifier, verifies the ID token (signature from the provider's JWKS, " +
			"issuer, audience, expiry, nonce), maps the groups claim to a role and tenants, then sets the __Host-vigil_session cookie as POST /v1/session does " +
			"and answers 303 to the console. Refusals: 400 (no, expired or forged sign-in in progress, replayed answer), 401 (code or ID token refused), " +
			"403 (no role for the user's groups, or the provider refused), 429 beyond the client address's sign-in rate, 503 (provider unreachable); " +
			"a browser gets them as a page, other clients as JSON. Every outcome is audited.", query: []string{"code", "state", "error", "error_description"}}},
	}
}

// oidcResults are the labels of vigil_oidc_sign_ins_total.
func oidcResults() []string {
	return append([]string{"success", "not_configured", "client_rate_limited", "no_role", "disabled"}, auth.OIDCReasons...)
}

func (s *Server) signInMethods(w http.ResponseWriter, _ *http.Request) error {
	out := signInMethods{Password: true}
	if st := s.o.Auth.oidcConfig(); st != nil {
		out.OIDC = &oidcMethod{Name: st.rp.Name(), URL: oidcStartPath}
	}
	return writeJSON(w, http.StatusOK, out)
}

func notConfigured() *problem.Error {
	return problem.New(problem.NotFound, "sign-in with OpenID Connect is not configured on this server: an admin sets auth.oidc (docs/auth.md); sign in with a user name and password")
}

func (s *Server) oidcStart(w http.ResponseWriter, r *http.Request) error {
	a := s.o.Auth
	st := a.oidcConfig()
	if st == nil {
		a.m.oidcStarts.WithLabelValues("not_configured").Inc()
		return notConfigured()
	}
	// From the console only: a sign-in another site starts cannot harm
	// (state and nonce bind it to this browser), but it has no business.
	if err := a.sameOrigin(r); err != nil {
		a.m.oidcStarts.WithLabelValues("cross_site").Inc()
		return err
	}
	// Each start mints a state that a callback can spend: bounded per
	// client like the callback itself.
	client := a.clientKey(r)
	if ok, wait := a.settings().oidcStarts.Take(client, a.clock()); !ok {
		a.m.oidcStarts.WithLabelValues("client_rate_limited").Inc()
		return &problem.Error{Code: problem.RateLimited, RetryAfter: wait,
			Message: fmt.Sprintf("too many sign-ins started from %s: retry in %s", client, humanWait(wait))}
	}
	to, cookie, err := st.rp.Start(r.Context(), r.URL.Query().Get("next"))
	var oe *auth.OIDCError
	if errors.As(err, &oe) {
		a.m.oidcStarts.WithLabelValues(oe.Reason).Inc()
		return &problem.Error{Code: problem.Unavailable, RetryAfter: 10 * time.Second, Message: oe.Msg}
	}
	if err != nil {
		return err
	}
	a.m.oidcStarts.WithLabelValues("redirected").Inc()
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.SetCookie(w, cookie)
	http.Redirect(w, r, to, http.StatusFound)
	return nil
}

func (s *Server) oidcCallback(w http.ResponseWriter, r *http.Request) error {
	a := s.o.Auth
	st := a.oidcConfig()
	if st == nil {
		a.m.oidcSignIns.WithLabelValues("not_configured").Inc()
		return notConfigured()
	}
	// The URL holds the code and the state: no page after this one gets it.
	w.Header().Set("Referrer-Policy", "no-referrer")
	client := a.clientKey(r)
	now := a.clock()
	if ok, wait := a.settings().signIns.Take(client, now); !ok {
		a.m.oidcSignIns.WithLabelValues("client_rate_limited").Inc()
		return &problem.Error{Code: problem.RateLimited, RetryAfter: wait,
			Message: fmt.Sprintf("too many sign-in attempts from %s: retry in %s", client, humanWait(wait))}
	}
	// Single use, whatever the outcome.
	http.SetCookie(w, auth.ClearPreAuth())
	var cookie string
	if c, err := r.Cookie(auth.PreAuthCookie); err == nil {
		cookie = c.Value
	}
	ctx := r.Context()
	id, err := st.rp.Finish(ctx, cookie, r.URL.Query())
	var oe *auth.OIDCError
	if errors.As(err, &oe) {
		return s.oidcRefused(r, now, client, "", oe.Reason, oidcStatus(oe), oe, nil)
	}
	if err != nil {
		return err
	}
	name := oidcUserName(id.Username)
	role, tenants, matched, ok := st.rp.Grant(id.Groups)
	if !ok {
		// The provider no longer puts the user in a mapped group: their
		// sessions end too, not only this sign-in.
		if err := a.revokeOIDCUser(ctx, st, id, now); err != nil {
			return err
		}
		return s.oidcRefused(r, now, client, name, "no_role", problem.Forbidden,
			fmt.Errorf("%s: none of your groups at %s gives a role in vigil: ask an admin to map one of them (auth.oidc.groups)", name, st.rp.Name()), id)
	}
	u, err := a.saveOIDCUser(ctx, st, id, role, tenants, matched, now)
	if err != nil {
		return err
	}
	if u.Disabled {
		return s.oidcRefused(r, now, client, u.Name, "disabled", problem.Forbidden, fmt.Errorf("%s is disabled in vigil: ask an admin", u.Name), id)
	}
	d := map[string]any{"client": client, "method": methodOIDC, "issuer": id.Issuer, "subject_key": id.Key,
		"groups": matched, "role": role, "tenants": tenants}
	if id.SkippedGroups > 0 {
		d["groups_skipped"] = id.SkippedGroups // entries of the claim that were no usable group name
	}
	detail, _ := json.Marshal(d)
	if _, err := a.startSessionAs(ctx, w, u.User, Session{User: id.Key, Method: methodOIDC}, client, now,
		&store.AuditEntry{Time: now.UnixNano(), Actor: oidcActor(u.Name, id.Key), Action: "auth.sign_in", Target: u.Name, Detail: detail}); err != nil {
		return err
	}
	a.m.oidcSignIns.WithLabelValues("success").Inc()
	// Not http.Redirect: it would clean the page's fragment as a path.
	w.Header().Set("Location", "/console/"+id.Next)
	w.WriteHeader(http.StatusSeeOther)
	return nil
}

// oidcStatus is the answer to a refusal: the browser's sign-in in progress
// is missing or spent (400), the provider's answer is not trusted (401),
// the provider refused (403), or it cannot be reached (503).
func oidcStatus(oe *auth.OIDCError) problem.Code {
	switch oe.Reason {
	case auth.OIDCProviderError:
		return problem.Forbidden
	case auth.OIDCUnavailable:
		return problem.Unavailable
	case auth.OIDCBusy:
		return problem.Overloaded
	case auth.OIDCCodeRefused, auth.OIDCTokenInvalid, auth.OIDCTokenExpired, auth.OIDCWrongIssuer, auth.OIDCWrongAudience, auth.OIDCNonceMismatch:
		return problem.Unauthenticated
	}
	return problem.BadRequest
}

// oidcRefused counts, audits and logs a refused OIDC sign-in and returns
// its answer. id is who the provider vouched for, when it got that far.
func (s *Server) oidcRefused(r *http.Request, now time.Time, client, target, reason string, code problem.Code, why error, id *auth.OIDCIdentity) error {
	a := s.o.Auth
	a.m.oidcSignIns.WithLabelValues(reason).Inc()
	d := map[string]any{"method": methodOIDC, "reason": reason, "client": client}
	if id != nil {
		d["issuer"], d["subject_key"] = id.Issuer, id.Key
		if len(id.Groups) > 0 {
			d["groups"] = id.Groups[:min(len(id.Groups), 20)] // enough to fix the mapping with
		}
		if id.SkippedGroups > 0 {
			d["groups_skipped"] = id.SkippedGroups
		}
	}
	detail, _ := json.Marshal(d)
	if _, err := a.st.AppendAudit(r.Context(), store.AllTenants(), store.AuditEntry{Time: now.UnixNano(), Actor: "anonymous",
		Action: "auth.sign_in_failed", Target: target, Detail: detail}); err != nil {
		return err
	}
	msg := why.Error()
	var oe *auth.OIDCError
	if errors.As(why, &oe) {
		msg = oe.Msg
		if oe.Err != nil {
			s.o.Logger.Info("OIDC sign-in refused", "reason", reason, "client", client, "cause", oe.Err)
		}
	}
	pe := &problem.Error{Code: code, Message: msg}
	if code == problem.Unavailable || code == problem.Overloaded {
		pe.RetryAfter = 10 * time.Second
	}
	return pe
}

// oidcUserName is the vigil name of an OIDC user: the provider's name for
// them behind "oidc:", which no password user's name can hold.
func oidcUserName(username string) string { return "oidc:" + username }

// oidcActor names an OIDC user in the audit log. The name alone is not
// unique (two subjects may have one preferred_username), so the start of
// the subject key follows it: user:oidc:ana#1a2b3c4d.
func oidcActor(name, key string) string { return "user:" + name + "#" + key[:min(len(key), 8)] }

// navigation serves a route a browser navigates to: a refusal is a small
// page with the message and a way back when the client asks for HTML,
// the catalogue's JSON otherwise.
func (s *Server) navigation(f func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := f(w, r)
		if err == nil {
			return
		}
		var pe *problem.Error
		if !errors.As(err, &pe) || !strings.Contains(r.Header.Get("Accept"), "text/html") {
			s.handle(func(http.ResponseWriter, *http.Request) error { return err }).ServeHTTP(w, r)
			return
		}
		if pe.RetryAfter > 0 {
			w.Header().Set("Retry-After", fmt.Sprint(int((pe.RetryAfter+time.Second-1)/time.Second)))
		}
		title := "Sign-in failed"
		switch pe.Code {
		case problem.Forbidden:
			title = "Sign-in refused"
		case problem.Unavailable:
			title = "The sign-in provider is unavailable"
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
		w.WriteHeader(pe.Status())
		refusedPage.Execute(w, map[string]string{"Title": title, "Message": pe.Message, "Code": string(pe.Code)})
	})
}

var refusedPage = template.Must(template.New("refused").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · vigil</title><link rel="stylesheet" href="/console/app.css"></head>
<body><main class="signin-wrap"><div class="card signin"><h1>{{.Title}}</h1>
<p id="problem" class="error" role="alert" data-code="{{.Code}}">{{.Message}}</p>
<p><a href="/console/#/signin">Back to the sign-in page</a></p></div></main></body></html>
`))
