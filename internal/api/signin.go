package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/vigil-project/vigil/internal/api/problem"
	"github.com/vigil-project/vigil/internal/auth"
	"github.com/vigil-project/vigil/internal/store"
)

// Sign-in and sign-out. A sign-in is refused, in this order: from another
// site; beyond the client address's bucket; for a user name locked after
// repeated failures, or with as many checks in flight as it has failures
// left before the lock; for a wrong password, an unknown user or a disabled
// one, all with the same answer after the same work (an unknown name is
// checked against a dummy hash, and locks like a real one).

type (
	sessionCreate struct {
		User     string `json:"user"`
		Password string `json:"password"`
	}
	// sessionJSON answers a sign-in (the cookie comes with it).
	sessionJSON struct {
		User    string   `json:"user"`
		Role    string   `json:"role"`
		Tenants []string `json:"tenants"`
		// CSRFToken goes in X-CSRF-Token on every change made with the
		// session.
		CSRFToken   string `json:"csrf_token"`
		Expires     string `json:"expires"`              // the session's end if it stays in use
		IdleTimeout int64  `json:"idle_timeout_seconds"` // it ends earlier after this long unused
	}
	signedOut struct {
		SignedOut bool `json:"signed_out"`
	}
	meSession struct {
		Method      string `json:"method"` // how the user signed in: password or oidc
		CSRFToken   string `json:"csrf_token"`
		Created     string `json:"created"`
		Expires     string `json:"expires"`
		IdleTimeout int64  `json:"idle_timeout_seconds"`
	}
)

// lockedName stands for every name that cannot be a user's: one lock-out
// entry for all of them, not one each.
const lockedName = "\x00malformed"

func (s *Server) signIn(w http.ResponseWriter, r *http.Request) error {
	a := s.o.Auth
	set := a.settings()
	refuse := func(result string, err *problem.Error) error {
		a.m.signIns.WithLabelValues(result).Inc()
		return err
	}
	if err := a.sameOrigin(r); err != nil {
		return refuse("cross_site", err)
	}
	// JSON only: a cross-site HTML form cannot send it without a preflight.
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		return refuse("bad_request", problem.New(problem.UnsupportedMedia, "send the sign-in as JSON with Content-Type: application/json"))
	}
	client := a.clientKey(r)
	now := a.clock()
	if ok, wait := set.signIns.Take(client, now); !ok {
		return refuse("client_rate_limited", &problem.Error{Code: problem.RateLimited, RetryAfter: wait,
			Message: fmt.Sprintf("too many sign-in attempts from %s: retry in %s", client, humanWait(wait))})
	}
	var body sessionCreate
	if err := readJSON(r, &body); err != nil {
		a.m.signIns.WithLabelValues("bad_request").Inc()
		return err
	}
	switch {
	case strings.TrimSpace(body.User) == "":
		return refuse("bad_request", &problem.Error{Code: problem.InvalidParameter, Field: "user", Message: "user: give your user name"})
	case body.Password == "":
		return refuse("bad_request", &problem.Error{Code: problem.InvalidParameter, Field: "password", Message: "password: give your password"})
	case len(body.Password) > auth.MaxPasswordBytes:
		return refuse("bad_request", &problem.Error{Code: problem.InvalidParameter, Field: "password",
			Message: fmt.Sprintf("password: at most %d bytes", auth.MaxPasswordBytes)})
	}
	name := normalizeUserName(body.User)
	lockName := name
	if !validUserName(name) {
		lockName = lockedName
	}
	// Reserved before the slow hash, so parallel guesses cannot all be
	// checked before the first of them counts; every return releases it.
	attempt, wait := set.lockout.Begin(lockName, now)
	if attempt == nil {
		return refuse("locked", &problem.Error{Code: problem.RateLimited, RetryAfter: wait,
			Message: fmt.Sprintf("too many failed or simultaneous sign-ins for this user name: it is locked for another %s", humanWait(wait))})
	}
	defer attempt.Release()
	h, err := set.hasher()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), hashWait)
	defer cancel()
	u, version, err := a.storedUser(ctx, name)
	ok, rehash, reason := false, false, ""
	switch {
	case errors.Is(err, store.ErrNotFound):
		reason, err = "unknown_user", h.VerifyDummy(ctx, body.Password)
	case err != nil:
		return err
	default:
		reason = "wrong_password"
		ok, rehash, err = h.Verify(ctx, u.Hash, body.Password)
		if errors.Is(err, auth.ErrMalformedHash) {
			s.o.Logger.Error("a user's stored password hash is unusable: reset the password", "user", u.Name, "err", err)
			reason, err = "unusable_hash", nil
		}
		if ok && u.Disabled {
			ok, reason = false, "disabled"
		}
	}
	if err != nil {
		if ctx.Err() != nil && r.Context().Err() == nil {
			return refuse("busy", &problem.Error{Code: problem.Overloaded, RetryAfter: time.Second, Message: "too many sign-ins at once: retry shortly"})
		}
		return err
	}
	if !ok {
		a.m.signIns.WithLabelValues(reason).Inc()
		lock, failures := attempt.Fail(now)
		target := u.Name // "" for an unknown name: what was typed may be a password
		if err := a.auditFailure(r.Context(), now, "anonymous", target, "auth.sign_in_failed", reason, client, failures, lock); err != nil {
			return err
		}
		return problem.New(problem.Unauthenticated, "the user name or the password is wrong")
	}
	attempt.Succeed()
	detail, _ := json.Marshal(map[string]any{"client": client})
	out, err := a.startSession(r.Context(), w, u, client, now,
		&store.AuditEntry{Time: now.UnixNano(), Actor: "user:" + u.Name, Action: "auth.sign_in", Target: u.Name, Detail: detail})
	if err != nil {
		return err
	}
	// The last sign-in, and a hash with the current parameters when they
	// changed. A conflict means another change won; both come again.
	u.LastSignIn = now.UnixNano()
	if rehash {
		if enc, err := h.Hash(ctx, body.Password); err == nil {
			u.Hash = enc
		}
	}
	if _, err := a.putUser(r.Context(), u, version, nil); err != nil && !errors.Is(err, store.ErrConflict) {
		s.o.Logger.Warn("noting a user's sign-in failed", "user", u.Name, "err", err)
	}
	a.m.signIns.WithLabelValues("success").Inc()
	return writeJSON(w, http.StatusOK, out)
}

// auditFailure writes a failed password check and, when it locked the user
// name, the lock-out. Attempts refused before the check (locked, rate
// limited) are counted in metrics only: a flood of them would flood the log.
func (a *Auth) auditFailure(ctx context.Context, now time.Time, actor, target, action, reason, client string, failures int, lock time.Duration) error {
	detail, _ := json.Marshal(map[string]any{"reason": reason, "client": client, "failures": failures})
	if _, err := a.st.AppendAudit(ctx, store.AllTenants(), store.AuditEntry{Time: now.UnixNano(), Actor: actor, Action: action, Target: target, Detail: detail}); err != nil {
		return err
	}
	if lock <= 0 {
		return nil
	}
	detail, _ = json.Marshal(map[string]any{"failures": failures, "locked_seconds": int64(lock / time.Second), "client": client})
	_, err := a.st.AppendAudit(ctx, store.AllTenants(), store.AuditEntry{Time: now.UnixNano(), Actor: "vigil", Action: "auth.lockout", Target: target, Detail: detail})
	return err
}

func (s *Server) signOut(w http.ResponseWriter, r *http.Request) error {
	a := s.o.Auth
	p := callerOf(r)
	if p.session == "" {
		return problem.New(problem.BadRequest, "this request carries an API key, not a session: there is nothing to sign out of (keys are revoked with DELETE /v1/keys/{id})")
	}
	hash := p.session[strings.LastIndexByte(p.session, '/')+1:]
	detail, _ := json.Marshal(map[string]any{"session": hash[:12]})
	err := a.st.DeleteConfig(r.Context(), store.AllTenants(), store.ConfigChange{Key: p.session,
		Audit: &store.AuditEntry{Time: a.clock().UnixNano(), Actor: p.actor(), Action: "auth.sign_out", Target: p.user, Detail: detail}})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	a.smu.Lock()
	delete(a.sessions, p.session)
	a.smu.Unlock()
	a.m.ended.WithLabelValues("signed_out").Inc()
	a.credentialChanged()
	clearCookie(w)
	return writeJSON(w, http.StatusOK, signedOut{SignedOut: true})
}

// meSessionOf describes the caller's session for GET /v1/me.
func (a *Auth) meSessionOf(p principal) *meSession {
	if p.session == "" {
		return nil
	}
	l := a.settings().limits
	return &meSession{Method: p.signInMethod(), CSRFToken: auth.CSRFToken(p.secret), Created: ts(p.created.UnixNano()), Expires: ts(l.Ends(p.created).UnixNano()),
		IdleTimeout: int64(l.Idle / time.Second)}
}

// humanWait shows a wait rounded up: "45 s", "2 min".
func humanWait(d time.Duration) string {
	if d <= 59*time.Second {
		return fmt.Sprintf("%d s", max(1, (d+time.Second-1)/time.Second))
	}
	return fmt.Sprintf("%d min", (d+time.Minute-1)/time.Minute)
}
