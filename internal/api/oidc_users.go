package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/vigil-project/vigil/internal/api/problem"
	"github.com/vigil-project/vigil/internal/auth"
	"github.com/vigil-project/vigil/internal/store"
)

// Users who sign in with OIDC are kept apart from password users, under
// oidcuser/<subject key> (auth.SubjectKey: issuer and subject, never a name
// the user might choose), so no claim can make them a password user or
// another OIDC user. They have no password; role and tenants are set from
// the provider's claims at each sign-in, and their sessions read them
// again within keyCacheTTL, so a role taken away at the provider is gone
// from vigil at the user's next sign-in.

const (
	methodOIDC     = "oidc"
	oidcUserPrefix = "oidcuser/"
	// maxCachedOIDCUsers bounds the cache of OIDC users read for sessions.
	maxCachedOIDCUsers = 10000
)

// oidcUser is an OIDC user as stored. User.Name is "oidc:<username>",
// User.Hash is always empty.
type oidcUser struct {
	User
	Issuer  string   `json:"issuer"`
	Subject string   `json:"subject"`
	Groups  []string `json:"groups"` // the mapped groups that gave the role at the last sign-in
}

// oidcSetup is OIDC sign-in while it is configured: the relying party and
// the users read for sessions.
type oidcSetup struct {
	rp    *auth.RP
	mu    sync.Mutex
	users map[string]cachedOIDCUser // by subject key
}

type cachedOIDCUser struct {
	u       oidcUser
	fetched time.Time
}

// ConfigureOIDC turns sign-in with an OpenID provider on (rp, made by
// auth.NewRP from auth.oidc) or off (nil). Sessions made with OIDC end
// when it is turned off or another issuer is configured.
func (a *Auth) ConfigureOIDC(rp *auth.RP) {
	if rp == nil {
		a.oidc.Store(nil)
		return
	}
	a.oidc.Store(&oidcSetup{rp: rp, users: map[string]cachedOIDCUser{}})
}

func (a *Auth) oidcConfig() *oidcSetup {
	if a == nil {
		return nil
	}
	return a.oidc.Load()
}

// sessionUser is the user a session belongs to: by name for a password
// session, by subject key for an OIDC one.
func (a *Auth) sessionUser(ctx context.Context, s Session) (User, bool, error) {
	if s.Method != methodOIDC {
		return a.userByName(ctx, s.User)
	}
	st := a.oidcConfig()
	if st == nil {
		return User{}, false, nil // OIDC was turned off: its sessions end
	}
	u, found, err := a.oidcUserByKey(ctx, st, s.User)
	if err != nil || !found || u.Issuer != st.rp.Issuer() || u.Role == "" {
		return User{}, false, err
	}
	return u.User, true, nil
}

// oidcUserByKey is the cached OIDC user, read again after keyCacheTTL.
// When the store fails, what was read before stands.
func (a *Auth) oidcUserByKey(ctx context.Context, st *oidcSetup, key string) (oidcUser, bool, error) {
	now := a.clock()
	st.mu.Lock()
	c, cached := st.users[key]
	st.mu.Unlock()
	if cached && now.Sub(c.fetched) < keyCacheTTL {
		return c.u, true, nil
	}
	u, _, err := a.storedOIDCUser(ctx, key)
	switch {
	case errors.Is(err, store.ErrNotFound):
		st.mu.Lock()
		delete(st.users, key)
		st.mu.Unlock()
		return oidcUser{}, false, nil
	case err != nil && cached:
		return c.u, true, nil
	case err != nil:
		return oidcUser{}, false, err
	}
	st.cache(u, now)
	return u, true, nil
}

func (st *oidcSetup) cache(u oidcUser, now time.Time) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.users) >= maxCachedOIDCUsers {
		clear(st.users) // a cache: everything can be read again
	}
	st.users[auth.SubjectKey(u.Issuer, u.Subject)] = cachedOIDCUser{u: u, fetched: now}
}

func (a *Auth) storedOIDCUser(ctx context.Context, key string) (oidcUser, int64, error) {
	e, err := a.st.GetConfig(ctx, store.AllTenants(), "", oidcUserPrefix+key)
	if err != nil {
		return oidcUser{}, 0, err
	}
	var u oidcUser
	if err := json.Unmarshal(e.Value, &u); err != nil {
		return oidcUser{}, 0, fmt.Errorf("OIDC user %s: the stored entry does not decode: %w", key, err)
	}
	return u, e.Version, nil
}

// saveOIDCUser records the user the provider vouched for with the role and
// tenants their groups give: created at the first sign-in, updated (and
// the change audited) when the name, role or tenants changed. A disabled
// user is returned as stored, unchanged.
func (a *Auth) saveOIDCUser(ctx context.Context, st *oidcSetup, id *auth.OIDCIdentity, role string, tenants, matched []string, now time.Time) (oidcUser, error) {
	ns := now.UnixNano()
	for range 3 { // another server may sign the same user in meanwhile
		cur, version, err := a.storedOIDCUser(ctx, id.Key)
		next := cur
		action := ""
		switch {
		case errors.Is(err, store.ErrNotFound):
			uid, err := auth.NewUserID()
			if err != nil {
				return oidcUser{}, err
			}
			next = oidcUser{User: User{ID: uid, Created: ns}, Issuer: id.Issuer, Subject: id.Subject}
			version, action = store.MustNotExist, "user.oidc_create"
		case err != nil:
			return oidcUser{}, err
		case cur.Disabled:
			return cur, nil
		case cur.Name != oidcUserName(id.Username) || cur.Role != role || !slices.Equal(cur.Tenants, tenants):
			action = "user.oidc_update"
		}
		next.Name, next.Role, next.Tenants, next.Groups, next.LastSignIn = oidcUserName(id.Username), role, tenants, matched, ns
		var audit *store.AuditEntry
		if action != "" {
			next.Updated = ns
			detail, _ := json.Marshal(map[string]any{"name": next.Name, "role": role, "tenants": tenants, "groups": matched,
				"previous": map[string]any{"name": cur.Name, "role": cur.Role, "tenants": cur.Tenants}, "issuer": id.Issuer, "subject_key": id.Key})
			audit = &store.AuditEntry{Time: ns, Actor: "vigil", Action: action, Target: next.Name, Detail: detail}
		}
		v, _ := json.Marshal(next)
		_, err = a.st.PutConfig(ctx, store.AllTenants(), store.ConfigChange{Key: oidcUserPrefix + id.Key, Value: v, IfVersion: version, Audit: audit})
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return oidcUser{}, err
		}
		st.cache(next, now)
		if action == "user.oidc_update" {
			a.credentialChanged() // a role or tenants taken or given
		}
		return next, nil
	}
	return oidcUser{}, problem.New(problem.Conflict, "your user changed on another server during this sign-in: sign in again")
}

// revokeOIDCUser takes the role of a known OIDC user whose groups no longer
// give one and ends their sessions. An unknown user leaves nothing behind.
func (a *Auth) revokeOIDCUser(ctx context.Context, st *oidcSetup, id *auth.OIDCIdentity, now time.Time) error {
	cur, version, err := a.storedOIDCUser(ctx, id.Key)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if cur.Role == "" && cur.Epoch != 0 {
		return nil // taken already
	}
	next := cur
	next.Role, next.Tenants, next.Groups, next.Epoch, next.Updated = "", nil, nil, now.UnixNano(), now.UnixNano()
	detail, _ := json.Marshal(map[string]any{"name": cur.Name, "role": "", "reason": "no mapped group",
		"previous": map[string]any{"role": cur.Role, "tenants": cur.Tenants}, "issuer": id.Issuer, "subject_key": id.Key})
	v, _ := json.Marshal(next)
	_, err = a.st.PutConfig(ctx, store.AllTenants(), store.ConfigChange{Key: oidcUserPrefix + id.Key, Value: v, IfVersion: version,
		Audit: &store.AuditEntry{Time: now.UnixNano(), Actor: "vigil", Action: "user.oidc_update", Target: cur.Name, Detail: detail}})
	if err != nil && !errors.Is(err, store.ErrConflict) { // a conflict: another sign-in decides
		return err
	}
	st.mu.Lock()
	delete(st.users, id.Key)
	st.mu.Unlock()
	a.endUserSessions(ctx, cur.ID)
	return nil
}
