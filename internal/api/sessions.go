package api

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-project/vigil/internal/api/problem"
	"github.com/vigil-project/vigil/internal/auth"
	"github.com/vigil-project/vigil/internal/store"
)

// Sessions: POST /v1/session checks a user's password and sets a cookie
// holding a 256-bit secret; the store keeps only its SHA-256, under
// session/<user id>/<hash>, so sessions survive a restart and are shared by
// the servers of one store. A session ends when it is idle too long, at its
// lifetime, on sign-out, and when its user is disabled or deleted or the
// password changes (the user's epoch moves past the session's creation).

const (
	// sessionCookie: with the __Host- prefix browsers take the cookie only
	// Secure, host-only and with Path=/, so a sibling subdomain cannot
	// plant its own session in a victim's browser (login CSRF).
	sessionCookie = "__Host-vigil_session"
	sessionPrefix = "session/"
	// sessionCacheTTL bounds how long a session read from the store is
	// trusted: a sign-out or revocation on another server sharing the
	// store is seen within it. Here it applies at once.
	sessionCacheTTL = 30 * time.Second
	// seenWriteEvery: a session's last use is written at most this often,
	// so the idle timeout is exact to within it across servers.
	seenWriteEvery = time.Minute
	// Bounds on memory: sessions cached, client addresses and user names
	// tracked for sign-in limits, credentials with a request bucket.
	maxCachedSessions = 10000
	maxSignInClients  = 100000
	maxLockoutNames   = 100000
	maxCredentials    = 20000
	// hashWait bounds how long a sign-in waits for a free password hash
	// slot before it is refused as overloaded.
	hashWait = 10 * time.Second
)

// Session is a session as stored.
type Session struct {
	User    string `json:"user"`
	UserID  string `json:"user_id"`
	Created int64  `json:"created"` // Unix ns
	Seen    int64  `json:"seen"`    // last use, Unix ns, written at most once a minute
	Client  string `json:"client"`  // the address it signed in from
	// Method is how the user signed in: "" for a password (User is the
	// user's name) or "oidc" (User is the subject key, oidc_users.go).
	Method string `json:"method,omitempty"`
}

func sessionKey(userID, hash string) string { return sessionPrefix + userID + "/" + hash }

type cachedSession struct {
	s       Session
	version int64
	stored  int64 // s.Seen as last written
	fetched time.Time
	writing bool
}

// settings are what Configure derives from the configuration.
type settings struct {
	cfg      auth.Config
	limits   auth.SessionLimits
	lockout  *auth.Lockout
	signIns  *auth.Buckets
	requests *auth.Buckets
	machine  *auth.Buckets
	proxies  []netip.Prefix
	policy   *auth.Policy
	hasher   func() (*auth.Hasher, error) // made on first use: it hashes a dummy password
	// oidcStarts: GET /v1/session/oidc per client, at the sign-in rate.
	// Its own bucket, so an OIDC sign-in (a start and a callback) costs a
	// client no more of its sign-in rate than a password does.
	oidcStarts *auth.Buckets
}

// Configure sets the session lifetimes, sign-in limits, request rates and
// password hash parameters (the auth: section of the configuration). Call
// it before the server takes requests: it starts the lock-outs and buckets
// afresh. auth.oidc is only validated here: ConfigureOIDC turns it on.
func (a *Auth) Configure(c auth.Config) error {
	c = c.WithDefaults()
	if err := c.Validate(); err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	proxies, _ := auth.ParseProxies(c.TrustedProxies)
	params := c.Params()
	// Each hash holds its memory while it runs: at most this many at once.
	slots := min(8, max(2, runtime.NumCPU()/2))
	a.set.Store(&settings{cfg: c,
		limits: auth.SessionLimits{Idle: c.SessionIdle, Lifetime: c.SessionLifetime},
		lockout: auth.NewLockout(auth.LockoutConfig{After: c.LockoutAfter, Base: c.LockoutBase, Max: c.LockoutMax,
			Forget: 24 * time.Hour, MaxNames: maxLockoutNames}),
		signIns:    auth.NewBuckets(c.SignInPerClient, maxSignInClients),
		requests:   auth.NewBuckets(c.Requests, maxCredentials),
		machine:    auth.NewBuckets(c.MachineRequests, maxCredentials),
		proxies:    proxies,
		policy:     auth.NewPolicy(),
		hasher:     sync.OnceValues(func() (*auth.Hasher, error) { return auth.NewHasher(params, slots) }),
		oidcStarts: auth.NewBuckets(c.SignInPerClient, maxSignInClients),
	})
	return nil
}

func (a *Auth) settings() *settings { return a.set.Load() }

// authMetrics count every refusal, by reason.
type authMetrics struct {
	signIns  *prometheus.CounterVec
	rejected *prometheus.CounterVec
	limited  *prometheus.CounterVec
	ended    *prometheus.CounterVec
	// OIDC sign-ins: the redirects to the provider and the callbacks.
	oidcStarts  *prometheus.CounterVec
	oidcSignIns *prometheus.CounterVec
}

func newAuthMetrics() *authMetrics {
	m := &authMetrics{
		signIns: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_sign_ins_total",
			Help: "Password sign-ins by result: success, or the reason they were refused."}, []string{"result"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_api_auth_rejected_total",
			Help: "API requests refused before their handler by reason: no or bad credential, ended session, CSRF, cross-site, role."}, []string{"reason"}),
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_api_rate_limited_total",
			Help: "API requests refused by the per-credential rate limit, by credential (key or session)."}, []string{"credential"}),
		ended: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_sessions_ended_total",
			Help: "Sessions ended by reason: signed_out, idle, expired, revoked (user disabled, deleted or password changed), evicted (over the per-user limit)."}, []string{"reason"}),
		oidcStarts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_oidc_redirects_total",
			Help: "OIDC sign-ins started (GET /v1/session/oidc) by result: redirected to the provider, or why not."}, []string{"result"}),
		oidcSignIns: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_oidc_sign_ins_total",
			Help: "OIDC sign-ins finished (GET /v1/session/oidc/callback) by result: success, or the reason they were refused."}, []string{"result"}),
	}
	// Every label from the start, so a dashboard sees zeros, not gaps.
	for _, r := range []string{"success", "wrong_password", "unknown_user", "disabled", "unusable_hash", "locked", "client_rate_limited", "bad_request", "cross_site", "busy"} {
		m.signIns.WithLabelValues(r)
	}
	for _, r := range []string{"no_credential", "bad_key", "bad_session", "session_ended", "csrf_missing", "csrf_wrong", "cross_site", "role"} {
		m.rejected.WithLabelValues(r)
	}
	for _, r := range []string{"key", "session"} {
		m.limited.WithLabelValues(r)
	}
	for _, r := range []string{"signed_out", auth.SessionIdle, auth.SessionExpired, "revoked", "evicted"} {
		m.ended.WithLabelValues(r)
	}
	for _, r := range []string{"redirected", "not_configured", "cross_site", "client_rate_limited", auth.OIDCUnavailable} {
		m.oidcStarts.WithLabelValues(r)
	}
	for _, r := range oidcResults() {
		m.oidcSignIns.WithLabelValues(r)
	}
	return m
}

func (m *authMetrics) Describe(ch chan<- *prometheus.Desc) {
	m.signIns.Describe(ch)
	m.rejected.Describe(ch)
	m.limited.Describe(ch)
	m.ended.Describe(ch)
	m.oidcStarts.Describe(ch)
	m.oidcSignIns.Describe(ch)
}

func (m *authMetrics) Collect(ch chan<- prometheus.Metric) {
	m.signIns.Collect(ch)
	m.rejected.Collect(ch)
	m.limited.Collect(ch)
	m.ended.Collect(ch)
	m.oidcStarts.Collect(ch)
	m.oidcSignIns.Collect(ch)
}

// Collector exposes the sign-in, rejection, rate-limit and session
// counters; register it with Metrics.
func (a *Auth) Collector() prometheus.Collector { return a.m }

func (a *Auth) authenticateSession(r *http.Request, value string, use bool) (principal, *problem.Error) {
	ctx := r.Context()
	uid, secret, ok := auth.ParseSessionCookie(value)
	if !ok {
		a.m.rejected.WithLabelValues("bad_session").Inc()
		return principal{}, problem.New(problem.Unauthenticated, "the session cookie is malformed: sign in again")
	}
	key := sessionKey(uid, auth.SessionHash(secret))
	now := a.clock()
	s, err := a.session(ctx, key, now)
	if errors.Is(err, store.ErrNotFound) {
		a.m.rejected.WithLabelValues("bad_session").Inc()
		return principal{}, problem.New(problem.Unauthenticated, "the session is not valid: it was signed out, ended or revoked. Sign in again")
	}
	if err != nil {
		return principal{}, problem.New(problem.Unavailable, "sessions cannot be checked now: the store does not answer; retry shortly")
	}
	u, found, err := a.sessionUser(ctx, s)
	if err != nil {
		return principal{}, problem.New(problem.Unavailable, "sessions cannot be checked now: the store does not answer; retry shortly")
	}
	if !found || u.ID != uid || u.Disabled || s.Created < u.Epoch {
		a.endSession(ctx, key, "revoked")
		a.m.rejected.WithLabelValues("session_ended").Inc()
		return principal{}, problem.New(problem.Unauthenticated, "the session was revoked (the user was disabled or deleted, or the password changed): sign in again")
	}
	set := a.settings()
	switch set.limits.Check(time.Unix(0, s.Created), time.Unix(0, s.Seen), now) {
	case auth.SessionIdle:
		a.endSession(ctx, key, auth.SessionIdle)
		a.m.rejected.WithLabelValues("session_ended").Inc()
		return principal{}, problem.New(problem.Unauthenticated, "the session ended after %v without use: sign in again", set.limits.Idle)
	case auth.SessionExpired:
		a.endSession(ctx, key, auth.SessionExpired)
		a.m.rejected.WithLabelValues("session_ended").Inc()
		return principal{}, problem.New(problem.Unauthenticated, "the session reached its lifetime of %v: sign in again", set.limits.Lifetime)
	}
	if use {
		a.touchSession(ctx, key, now)
	}
	p := principal{name: u.Name, role: roleNames[u.Role], tenants: u.Tenants, scope: scopeOf(u.Tenants),
		user: u.Name, session: key, secret: secret, created: time.Unix(0, s.Created), method: s.Method}
	if s.Method == methodOIDC {
		p.subject = s.User
	}
	return p, nil
}

// session returns a session from the cache, or from the store when it is
// not cached or was read more than sessionCacheTTL ago.
func (a *Auth) session(ctx context.Context, key string, now time.Time) (Session, error) {
	// The lock is held while reading, so an ending's removal from the
	// cache cannot be overwritten by a read from before it.
	a.smu.Lock()
	defer a.smu.Unlock()
	c := a.sessions[key]
	if c != nil && now.Sub(c.fetched) < sessionCacheTTL {
		return c.s, nil
	}
	e, err := a.st.GetConfig(ctx, store.AllTenants(), "", key)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			delete(a.sessions, key)
		}
		return Session{}, err
	}
	var s Session
	if json.Unmarshal(e.Value, &s) != nil {
		return Session{}, store.Errorf(store.ErrNotFound, "session entry does not decode")
	}
	stored := s.Seen
	if c != nil {
		s.Seen = max(s.Seen, c.s.Seen) // uses noted here since the last write
	}
	if len(a.sessions) >= maxCachedSessions {
		for k, old := range a.sessions {
			if now.Sub(old.fetched) >= sessionCacheTTL {
				delete(a.sessions, k)
			}
		}
		if len(a.sessions) >= maxCachedSessions {
			clear(a.sessions) // a cache: everything can be read again
		}
	}
	a.sessions[key] = &cachedSession{s: s, version: e.Version, stored: stored, fetched: now}
	return s, nil
}

// touchSession notes a use and, at most once a minute, writes it.
func (a *Auth) touchSession(ctx context.Context, key string, now time.Time) {
	a.smu.Lock()
	c := a.sessions[key]
	if c == nil {
		a.smu.Unlock()
		return
	}
	c.s.Seen = max(c.s.Seen, now.UnixNano())
	due := !c.writing && c.s.Seen-c.stored >= int64(seenWriteEvery)
	if due {
		c.writing = true
	}
	s, version := c.s, c.version
	a.smu.Unlock()
	if !due {
		return
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	v, _ := json.Marshal(s)
	e, err := a.st.PutConfig(wctx, store.AllTenants(), store.ConfigChange{Key: key, Value: v, IfVersion: version})
	a.smu.Lock()
	defer a.smu.Unlock()
	if a.sessions[key] != c {
		return // ended or read again meanwhile
	}
	c.writing = false
	switch {
	case err == nil:
		c.version, c.stored = e.Version, s.Seen
	case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrNotFound):
		delete(a.sessions, key) // changed or ended elsewhere: read it again
	}
}

// endSession deletes a session (not audited: the caller audits what ended
// it) and counts why.
func (a *Auth) endSession(ctx context.Context, key, reason string) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	a.st.DeleteConfig(dctx, store.AllTenants(), store.ConfigChange{Key: key}) // gone already is fine
	a.smu.Lock()
	delete(a.sessions, key)
	a.smu.Unlock()
	a.m.ended.WithLabelValues(reason).Inc()
	a.credentialChanged()
}

// endUserSessions ends every session of the user id (on disable, delete and
// password change). The user's epoch already makes them invalid; this
// removes them from the store and the cache.
func (a *Auth) endUserSessions(ctx context.Context, userID string) {
	entries, _ := a.st.ListConfig(ctx, store.AllTenants(), "", sessionPrefix+userID+"/")
	for _, e := range entries {
		a.endSession(ctx, e.Key, "revoked")
	}
	a.smu.Lock()
	for k := range a.sessions {
		if len(k) > len(sessionPrefix)+len(userID) && k[len(sessionPrefix):len(sessionPrefix)+len(userID)] == userID {
			delete(a.sessions, k)
		}
	}
	a.smu.Unlock()
}

// pruneSessions makes room for a new session of u: it deletes the user's
// ended sessions and, beyond the per-user limit, the oldest.
func (a *Auth) pruneSessions(ctx context.Context, u User, now time.Time) error {
	entries, err := a.st.ListConfig(ctx, store.AllTenants(), "", sessionPrefix+u.ID+"/")
	if err != nil {
		return err
	}
	set := a.settings()
	type live struct {
		key     string
		created int64
	}
	var alive []live
	for _, e := range entries {
		var s Session
		if json.Unmarshal(e.Value, &s) != nil {
			a.endSession(ctx, e.Key, "revoked")
			continue
		}
		if s.Created < u.Epoch {
			a.endSession(ctx, e.Key, "revoked")
			continue
		}
		if why := set.limits.Check(time.Unix(0, s.Created), time.Unix(0, s.Seen), now); why != "" {
			a.endSession(ctx, e.Key, why)
			continue
		}
		alive = append(alive, live{e.Key, s.Created})
	}
	slices.SortFunc(alive, func(x, y live) int { return cmp.Compare(x.created, y.created) })
	for len(alive) >= set.cfg.MaxSessionsPerUser {
		a.endSession(ctx, alive[0].key, "evicted")
		alive = alive[1:]
	}
	return nil
}

// startSession stores a new session of u and sets its cookie; the audit
// entry (the sign-in, or a password change's new session) is written in
// the same transaction.
func (a *Auth) startSession(ctx context.Context, w http.ResponseWriter, u User, client string, now time.Time, audit *store.AuditEntry) (sessionJSON, error) {
	return a.startSessionAs(ctx, w, u, Session{User: u.Name}, client, now, audit)
}

// startSessionAs is startSession with the session's User and Method from s
// (an OIDC user is found by subject key, not by name).
func (a *Auth) startSessionAs(ctx context.Context, w http.ResponseWriter, u User, s Session, client string, now time.Time, audit *store.AuditEntry) (sessionJSON, error) {
	if err := a.pruneSessions(ctx, u, now); err != nil {
		return sessionJSON{}, err
	}
	secret, err := auth.NewSessionSecret()
	if err != nil {
		return sessionJSON{}, err
	}
	hash := auth.SessionHash(secret)
	key := sessionKey(u.ID, hash)
	s.UserID, s.Created, s.Seen, s.Client = u.ID, now.UnixNano(), now.UnixNano(), client
	v, _ := json.Marshal(s)
	d := map[string]any{}
	if len(audit.Detail) > 0 {
		json.Unmarshal(audit.Detail, &d)
	}
	d["session"] = hash[:12] // enough to tell sessions apart in the log, useless as a credential
	audit.Detail, _ = json.Marshal(d)
	e, err := a.st.PutConfig(ctx, store.AllTenants(), store.ConfigChange{Key: key, Value: v, IfVersion: store.MustNotExist, Audit: audit})
	if err != nil {
		return sessionJSON{}, err
	}
	a.smu.Lock()
	a.sessions[key] = &cachedSession{s: s, version: e.Version, stored: s.Seen, fetched: now}
	a.smu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: auth.SessionCookie(u.ID, secret), Path: "/",
		HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
	set := a.settings()
	return sessionJSON{User: u.Name, Role: u.Role, Tenants: orEmpty(u.Tenants), CSRFToken: auth.CSRFToken(secret),
		Expires: ts(set.limits.Ends(now).UnixNano()), IdleTimeout: int64(set.limits.Idle / time.Second)}, nil
}

func clearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
