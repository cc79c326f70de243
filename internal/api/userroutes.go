package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/vigil-project/vigil/internal/api/problem"
	"github.com/vigil-project/vigil/internal/auth"
	"github.com/vigil-project/vigil/internal/store"
)

// The user routes: admins list, create, change and delete users within
// their tenants; a signed-in user changes their own password.

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) error {
	p := callerOf(r)
	users, err := s.o.Auth.listUsers(r.Context())
	if err != nil {
		return err
	}
	slices.SortFunc(users, func(x, y User) int { return strings.Compare(x.Name, y.Name) })
	out := userList{Users: []userJSON{}}
	for _, u := range users {
		if managesTenants(p, u.Tenants) {
			out.Users = append(out.Users, toUserJSON(u))
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request) error {
	var body userCreate
	if err := readJSON(r, &body); err != nil {
		return err
	}
	p := callerOf(r)
	if err := withinScope(p, body.Tenants, "user"); err != nil {
		return err
	}
	u, err := s.o.Auth.createUser(r.Context(), p.actor(), body.Name, body.Role, body.Tenants, body.Password)
	if err != nil {
		return asProblem(err)
	}
	return writeJSON(w, http.StatusOK, toUserJSON(u))
}

// managedUser reads the user of the path, as not found when it is beyond
// the caller's tenants.
func (s *Server) managedUser(r *http.Request) (User, int64, error) {
	name := normalizeUserName(r.PathValue("name"))
	u, version, err := s.o.Auth.storedUser(r.Context(), name)
	if err == nil && !managesTenants(callerOf(r), u.Tenants) {
		err = store.Errorf(store.ErrNotFound, "no user %q", name) // as if it did not exist
	}
	return u, version, err
}

func (s *Server) patchUser(w http.ResponseWriter, r *http.Request) error {
	var body userPatch
	if err := readJSON(r, &body); err != nil {
		return err
	}
	if body.Role == nil && body.Tenants == nil && body.Disabled == nil && body.Password == nil {
		return problem.New(problem.BadRequest, "nothing to change: give role, tenants, disabled or password")
	}
	a := s.o.Auth
	p := callerOf(r)
	cur, version, err := s.managedUser(r)
	if err != nil {
		return err
	}
	now := a.clock().UnixNano()
	next := cur
	var changed []string
	if body.Role != nil && *body.Role != cur.Role {
		if err := checkUserRole(*body.Role); err != nil {
			return asProblem(err)
		}
		next.Role = *body.Role
		changed = append(changed, "role")
	}
	if body.Tenants != nil {
		if err := withinScope(p, *body.Tenants, "user"); err != nil {
			return err
		}
		tenants, err := checkTenants(*body.Tenants, "user")
		if err != nil {
			return asProblem(err)
		}
		if !slices.Equal(tenants, cur.Tenants) {
			next.Tenants = tenants
			changed = append(changed, "tenants")
		}
	}
	if body.Disabled != nil && *body.Disabled != cur.Disabled {
		next.Disabled = *body.Disabled
		if next.Disabled {
			next.Epoch = now
		}
		changed = append(changed, "disabled")
	}
	if body.Password != nil {
		if err := a.checkPassword("password", cur.Name, *body.Password); err != nil {
			return asProblem(err)
		}
		enc, err := a.hash(r.Context(), *body.Password)
		if err != nil {
			return err
		}
		next.Hash, next.PasswordSet, next.Epoch = enc, now, now
		changed = append(changed, "password")
	}
	if len(changed) == 0 {
		return writeJSON(w, http.StatusOK, toUserJSON(cur))
	}
	if err := a.keepsAnAdmin(r.Context(), cur, &next); err != nil {
		return err
	}
	next.Updated = now
	action := "user.update"
	switch {
	case slices.Equal(changed, []string{"password"}):
		action = "user.password_reset"
	case slices.Equal(changed, []string{"disabled"}) && next.Disabled:
		action = "user.disable"
	case slices.Equal(changed, []string{"disabled"}):
		action = "user.enable"
	}
	detail, _ := json.Marshal(map[string]any{"name": next.Name, "role": next.Role, "tenants": next.Tenants, "disabled": next.Disabled, "changed": changed})
	_, err = a.putUser(r.Context(), next, version, &store.AuditEntry{Time: now, Actor: p.actor(), Action: action, Target: next.Name, Detail: detail})
	if errors.Is(err, store.ErrConflict) {
		return problem.New(problem.Conflict, "user %s changed meanwhile: read it again and retry", cur.Name)
	}
	if err != nil {
		return err
	}
	if next.Epoch != cur.Epoch {
		a.endUserSessions(r.Context(), next.ID)
	}
	return writeJSON(w, http.StatusOK, toUserJSON(next))
}

func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request) error {
	a := s.o.Auth
	p := callerOf(r)
	u, version, err := s.managedUser(r)
	if err != nil {
		return err
	}
	if err := a.keepsAnAdmin(r.Context(), u, nil); err != nil {
		return err
	}
	detail, _ := json.Marshal(map[string]any{"name": u.Name, "role": u.Role, "tenants": u.Tenants})
	err = a.st.DeleteConfig(r.Context(), store.AllTenants(), store.ConfigChange{Key: userPrefix + u.Name, IfVersion: version,
		Audit: &store.AuditEntry{Time: a.clock().UnixNano(), Actor: p.actor(), Action: "user.delete", Target: u.Name, Detail: detail}})
	if errors.Is(err, store.ErrConflict) {
		return problem.New(problem.Conflict, "user %s changed meanwhile: read it again and retry", u.Name)
	}
	if err != nil {
		return err
	}
	a.uncacheUser(u.Name)
	a.endUserSessions(r.Context(), u.ID)
	return writeJSON(w, http.StatusOK, toUserJSON(u))
}

// changePassword is a signed-in user's change of their own password: it
// needs the current one (failures count toward the lock-out), ends every
// session of the user and starts a new one for this browser.
func (s *Server) changePassword(w http.ResponseWriter, r *http.Request) error {
	a := s.o.Auth
	p := callerOf(r)
	if p.user == "" {
		return problem.New(problem.BadRequest, "an API key has no password: this route changes the password of a user signed in with a session")
	}
	if p.method == methodOIDC {
		return problem.New(problem.BadRequest, "you signed in with OpenID Connect: your password is kept by your sign-in provider, not by vigil")
	}
	var body passwordChange
	if err := readJSON(r, &body); err != nil {
		return err
	}
	if len(body.CurrentPassword) > auth.MaxPasswordBytes {
		return &problem.Error{Code: problem.InvalidParameter, Field: "current_password", Message: fmt.Sprintf("current_password: at most %d bytes", auth.MaxPasswordBytes)}
	}
	set := a.settings()
	now := a.clock()
	// Reserved before the hash as in signIn: parallel guesses of the
	// current password count toward the lock-out.
	attempt, wait := set.lockout.Begin(p.user, now)
	if attempt == nil {
		a.m.signIns.WithLabelValues("locked").Inc()
		return &problem.Error{Code: problem.RateLimited, RetryAfter: wait,
			Message: fmt.Sprintf("too many wrong or simultaneous passwords for %s: locked for another %s", p.user, humanWait(wait))}
	}
	defer attempt.Release()
	cur, version, err := a.storedUser(r.Context(), p.user)
	if err != nil {
		return err
	}
	h, err := set.hasher()
	if err != nil {
		return err
	}
	hctx, cancel := context.WithTimeout(r.Context(), hashWait)
	ok, _, err := h.Verify(hctx, cur.Hash, body.CurrentPassword)
	cancel()
	if err != nil && !errors.Is(err, auth.ErrMalformedHash) {
		return err
	}
	client := a.clientKey(r)
	if !ok {
		lock, failures := attempt.Fail(now)
		if err := a.auditFailure(r.Context(), now, p.actor(), p.user, "user.password_change_failed", "wrong_current_password", client, failures, lock); err != nil {
			return err
		}
		return &problem.Error{Code: problem.Forbidden, Field: "current_password", Message: "current_password: it is not your current password"}
	}
	attempt.Succeed()
	if body.NewPassword == body.CurrentPassword {
		return &problem.Error{Code: problem.InvalidParameter, Field: "new_password", Message: "new_password: it is the current password: choose another"}
	}
	if err := a.checkPassword("new_password", cur.Name, body.NewPassword); err != nil {
		return asProblem(err)
	}
	enc, err := a.hash(r.Context(), body.NewPassword)
	if err != nil {
		return err
	}
	next := cur
	next.Hash, next.PasswordSet, next.Epoch, next.Updated = enc, now.UnixNano(), now.UnixNano(), now.UnixNano()
	detail, _ := json.Marshal(map[string]any{"name": cur.Name, "client": client})
	_, err = a.putUser(r.Context(), next, version, &store.AuditEntry{Time: now.UnixNano(), Actor: p.actor(), Action: "user.password_change", Target: cur.Name, Detail: detail})
	if errors.Is(err, store.ErrConflict) {
		return problem.New(problem.Conflict, "your user changed meanwhile: retry")
	}
	if err != nil {
		return err
	}
	a.endUserSessions(r.Context(), cur.ID)
	sd, _ := json.Marshal(map[string]any{"client": client, "after": "password_change"})
	out, err := a.startSession(r.Context(), w, next, client, now,
		&store.AuditEntry{Time: now.UnixNano(), Actor: p.actor(), Action: "auth.sign_in", Target: cur.Name, Detail: sd})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, out)
}
