package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/vigil-project/vigil/internal/api/problem"
	"github.com/vigil-project/vigil/internal/auth"
	"github.com/vigil-project/vigil/internal/store"
)

// The guard in front of every route that needs a credential: who the
// caller is (an API key or a session), its request budget, CSRF for a
// session's changes, and its role.

type ctxKey struct{}

// principal is the authenticated caller: an API key or a user's session.
type principal struct {
	keyID   string
	name    string
	role    role
	tenants []string // as the key or user lists them; ["*"] for every tenant
	scope   store.Scope
	// Set for a session: the user, the session's store key, its secret
	// (for the CSRF token) and when it was created.
	user    string
	session string
	secret  string
	created time.Time
	method  string // how the session signed in: "" (a password) or methodOIDC
	subject string // an OIDC user's subject key (auth.SubjectKey)
}

// actor names the caller in the audit log.
func (p principal) actor() string {
	switch {
	case p.method == methodOIDC:
		return oidcActor(p.user, p.subject)
	case p.user != "":
		return "user:" + p.user
	}
	return "key:" + p.keyID
}

// bucket keys the caller's request bucket: all of a user's sessions share
// one, so more sessions do not mean more requests. An OIDC user's is their
// subject's: two subjects may share a name.
func (p principal) bucket() string {
	if p.method == methodOIDC {
		return "oidc:" + p.subject
	}
	return p.actor()
}

// signInMethod says how a session's user signed in: password or oidc.
func (p principal) signInMethod() string {
	if p.method == "" {
		return "password"
	}
	return p.method
}

// via says how the caller authenticated.
func (p principal) via() string {
	if p.session != "" {
		return "session"
	}
	return "key"
}

func callerOf(r *http.Request) principal {
	p, _ := r.Context().Value(ctxKey{}).(principal)
	return p
}

// require wraps h so it runs only for a credential whose role allows need,
// within its request rate, and, for a session's unsafe method, with the
// session's CSRF token from the page's own origin.
func (a *Auth) require(need role, h http.Handler) http.Handler {
	machine := need == roleIngest || need == roleGate
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := a.authenticate(r)
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="vigil"`)
			problem.Write(w, err)
			return
		}
		if err := a.limitRequest(p, machine); err != nil {
			problem.Write(w, err)
			return
		}
		if p.session != "" && unsafeMethod(r.Method) {
			if err := a.checkCSRF(r, p); err != nil {
				problem.Write(w, err)
				return
			}
		}
		if !p.role.allows(need) {
			a.m.rejected.WithLabelValues("role").Inc()
			problem.Write(w, problem.New(problem.Forbidden, "a %s %s may not %s %s: it needs the %s role", p.role, credentialWord(p), r.Method, r.URL.Path, need))
			return
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, p)))
	})
}

// stillHolds reports whether the credential that authenticated r as p
// still does, with the same role and tenants (a user's may change), for
// requests that outlive the check at their start, such as live streams.
func (a *Auth) stillHolds(r *http.Request, p principal) bool {
	now, err := a.authenticateUse(r, false)
	return err == nil && now.role == p.role && slices.Equal(now.tenants, p.tenants)
}

// credentialsChanged is closed at the next change that may end a
// credential here: a key revoked, a session ended, a user changed.
func (a *Auth) credentialsChanged() <-chan struct{} {
	a.cmu.Lock()
	defer a.cmu.Unlock()
	if a.changed == nil {
		a.changed = make(chan struct{})
	}
	return a.changed
}

// credentialChanged wakes whoever waits on credentialsChanged.
func (a *Auth) credentialChanged() {
	a.cmu.Lock()
	defer a.cmu.Unlock()
	if a.changed != nil {
		close(a.changed)
		a.changed = nil
	}
}

func credentialWord(p principal) string {
	if p.session != "" {
		return "user"
	}
	return "key"
}

// limitRequest takes a token from the caller's bucket: machine routes
// (ingest, gate) have their own, larger one.
func (a *Auth) limitRequest(p principal, machine bool) *problem.Error {
	set := a.settings()
	b, rate := set.requests, set.cfg.Requests
	if machine {
		b, rate = set.machine, set.cfg.MachineRequests
	}
	ok, wait := b.Take(p.bucket(), a.clock())
	if ok {
		return nil
	}
	a.m.limited.WithLabelValues(p.via()).Inc()
	return &problem.Error{Code: problem.RateLimited, RetryAfter: wait,
		Message: fmt.Sprintf("this %s sent more than %g requests a second (burst %d): slow down and retry after %s", credentialWord(p), rate.PerSecond, rate.Burst, wait.Round(time.Millisecond))}
}

// authenticate finds the credential: an API key in the Authorization
// header, else the session cookie. A request with a header is judged by it
// alone, never by a cookie that came along.
func (a *Auth) authenticate(r *http.Request) (principal, *problem.Error) {
	return a.authenticateUse(r, true)
}

// authenticateUse is authenticate; use says whether this counts as a use
// of the credential (its last use, a session's idle time). A check of a
// credential already in use, such as a live stream's, is not one: an
// open stream must not keep an unattended session alive.
func (a *Auth) authenticateUse(r *http.Request, use bool) (principal, *problem.Error) {
	if h := r.Header.Get("Authorization"); h != "" {
		return a.authenticateKey(r, h, use)
	}
	if c, err := r.Cookie(sessionCookie); err == nil {
		return a.authenticateSession(r, c.Value, use)
	}
	a.m.rejected.WithLabelValues("no_credential").Inc()
	return principal{}, problem.New(problem.Unauthenticated, "send an API key as Authorization: Bearer vgl_…, or sign in with a user name and password (POST /v1/session)")
}

func (a *Auth) authenticateKey(r *http.Request, h string, use bool) (principal, *problem.Error) {
	token, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || token == "" {
		a.m.rejected.WithLabelValues("bad_key").Inc()
		return principal{}, problem.New(problem.Unauthenticated, "send an API key as Authorization: Bearer vgl_…")
	}
	rest, ok := strings.CutPrefix(token, "vgl_")
	id, secret, ok2 := strings.Cut(rest, "_")
	if !ok || !ok2 || len(id) != 16 || len(token) > 128 {
		a.m.rejected.WithLabelValues("bad_key").Inc()
		return principal{}, problem.New(problem.Unauthenticated, "the API key is malformed")
	}
	k, found := a.lookup(r.Context(), id)
	sum := sha256.Sum256([]byte(secret))
	want, _ := hex.DecodeString(k.Hash)
	if !found || subtle.ConstantTimeCompare(sum[:], want) != 1 {
		a.m.rejected.WithLabelValues("bad_key").Inc()
		return principal{}, problem.New(problem.Unauthenticated, "the API key is not valid (unknown, revoked or wrong)")
	}
	p := principal{keyID: id, name: k.Name, role: roleNames[k.Role], tenants: k.Tenants, scope: scopeOf(k.Tenants)}
	if use {
		a.touch(id)
	}
	return p, nil
}

func scopeOf(tenants []string) store.Scope {
	if slices.Contains(tenants, "*") {
		return store.AllTenants()
	}
	return store.TenantScope(tenants...)
}

func unsafeMethod(m string) bool {
	return m != http.MethodGet && m != http.MethodHead && m != http.MethodOptions
}

// checkCSRF guards a session's unsafe request: it must come from the
// console's own origin and carry the session's token in X-CSRF-Token. A
// browser attaches the cookie to a forged cross-site request, never the
// token, which only a page of this origin can read.
func (a *Auth) checkCSRF(r *http.Request, p principal) *problem.Error {
	if err := a.sameOrigin(r); err != nil {
		return err
	}
	tok := r.Header.Get("X-CSRF-Token")
	if tok == "" {
		a.m.rejected.WithLabelValues("csrf_missing").Inc()
		return problem.New(problem.Forbidden, "a change made with a session needs its CSRF token in the X-CSRF-Token header "+
			"(from POST /v1/session or GET /v1/me)")
	}
	if !auth.CSRFValid(p.secret, tok) {
		a.m.rejected.WithLabelValues("csrf_wrong").Inc()
		return problem.New(problem.Forbidden, "the X-CSRF-Token header is not this session's token: read it again from GET /v1/me")
	}
	return nil
}

// sameOrigin refuses a request a browser marks as cross-site, or whose
// Origin is another host than the one it was sent to. Requests with
// neither header (not from a browser) pass this check; for a session's
// change the CSRF token still has to match.
func (a *Auth) sameOrigin(r *http.Request) *problem.Error {
	switch site := r.Header.Get("Sec-Fetch-Site"); site {
	case "", "same-origin", "none":
	default:
		a.m.rejected.WithLabelValues("cross_site").Inc()
		return problem.New(problem.Forbidden, "a request from another site (Sec-Fetch-Site: %.40q) may not use a vigil session or sign in: use the console at this server's own address", site)
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host == "" || !strings.EqualFold(u.Host, r.Host) {
			a.m.rejected.WithLabelValues("cross_site").Inc()
			return problem.New(problem.Forbidden, "the request comes from origin %.100q, not from this server (%.100s): sessions are for the console at this address "+
				"(behind a proxy, pass the original Host header on)", o, r.Host)
		}
	}
	return nil
}

// clientKey is the address sign-in attempts are counted by: the
// connection's, or behind a trusted proxy the last address in
// X-Forwarded-For that is not a trusted proxy.
func (a *Auth) clientKey(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return "unknown"
	}
	addr = addr.Unmap()
	proxies := a.settings().proxies
	trusted := func(x netip.Addr) bool {
		for _, p := range proxies {
			if p.Contains(x) {
				return true
			}
		}
		return false
	}
	if !trusted(addr) {
		return auth.ClientKey(addr)
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	for i := len(hops) - 1; i >= 0 && i >= len(hops)-32; i-- {
		x, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // garbage: the proxy's own address is all that is known
		}
		addr = x.Unmap()
		if !trusted(addr) {
			break
		}
	}
	return auth.ClientKey(addr)
}
