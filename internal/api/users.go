package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vigil-project/vigil/internal/api/problem"
	"github.com/vigil-project/vigil/internal/auth"
	"github.com/vigil-project/vigil/internal/store"
)

// Users sign in to the console with a password (argon2id, internal/auth).
// They are kept like keys, in the store's platform configuration under
// user/<name>, and managed by admins within their tenants exactly as keys
// are. A user has one of the roles people have: admin, analyst or viewer
// (ingest and gate are for machines, with API keys).

const (
	userPrefix  = "user/"
	maxUsers    = store.MaxConfigList // a listing must see every user
	maxUserName = 64
)

// User is a user as stored. Hash is never shown by the API.
type User struct {
	Name        string   `json:"name"`
	ID          string   `json:"id"` // random; names the user's sessions
	Role        string   `json:"role"`
	Tenants     []string `json:"tenants"` // ["*"] for every tenant
	Hash        string   `json:"hash"`    // argon2id PHC string
	Disabled    bool     `json:"disabled"`
	Created     int64    `json:"created"`
	Updated     int64    `json:"updated"`
	PasswordSet int64    `json:"password_set"`
	LastSignIn  int64    `json:"last_sign_in"`
	// Epoch: sessions created before it are void. Disabling the user and
	// setting its password move it to now.
	Epoch int64 `json:"epoch"`
}

type (
	userJSON struct {
		Name            string   `json:"name"`
		Role            string   `json:"role"`
		Tenants         []string `json:"tenants"`
		Disabled        bool     `json:"disabled"`
		Created         string   `json:"created"`
		PasswordChanged string   `json:"password_changed"`
		LastSignIn      string   `json:"last_sign_in,omitempty"`
	}
	userList struct {
		Users []userJSON `json:"users"`
	}
	userCreate struct {
		Name     string   `json:"name"`
		Role     string   `json:"role"`
		Tenants  []string `json:"tenants"`
		Password string   `json:"password"`
	}
	// userPatch changes what it names; a new password ends the user's
	// sessions, as disabling does.
	userPatch struct {
		Role     *string   `json:"role"`
		Tenants  *[]string `json:"tenants"`
		Disabled *bool     `json:"disabled"`
		Password *string   `json:"password"`
	}
	passwordChange struct {
		CurrentPassword string `json:"current_password"`
		NewPassword     string `json:"new_password"`
	}
)

func toUserJSON(u User) userJSON {
	out := userJSON{Name: u.Name, Role: u.Role, Tenants: orEmpty(u.Tenants), Disabled: u.Disabled, Created: ts(u.Created), PasswordChanged: ts(u.PasswordSet)}
	if u.LastSignIn > 0 {
		out.LastSignIn = ts(u.LastSignIn)
	}
	return out
}

// normalizeUserName folds case: "Ana" and "ana" are one user.
func normalizeUserName(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// validUserName: 1 to 64 of a-z, 0-9, '.', '_', '-', '@', '+', starting
// with a letter or digit (an e-mail address works).
func validUserName(n string) bool {
	if len(n) == 0 || len(n) > maxUserName {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || !strings.ContainsRune("._-@+", rune(c))) {
			return false
		}
	}
	return true
}

// checkUser validates what a new user would be and returns its tenants
// sorted and without repeats; errors are *keyError naming the field.
func checkUser(name, roleName string, tenants []string) ([]string, error) {
	if !validUserName(name) {
		return nil, &keyError{"name", fmt.Sprintf("user name %.80q: use 1 to %d letters, digits, '.', '_', '-', '@' or '+', starting with a letter or digit (an e-mail address works)", name, maxUserName)}
	}
	if err := checkUserRole(roleName); err != nil {
		return nil, err
	}
	return checkTenants(tenants, "user")
}

func checkUserRole(roleName string) error {
	switch roleName {
	case "admin", "analyst", "viewer":
		return nil
	case "ingest", "gate":
		return &keyError{"role", fmt.Sprintf("role %q is for machines: create an API key with it (POST /v1/keys); users are admin, analyst or viewer", roleName)}
	}
	return &keyError{"role", fmt.Sprintf("role %q: want admin, analyst or viewer", roleName)}
}

// checkPassword applies the policy; errors are *keyError naming field.
func (a *Auth) checkPassword(field, user, password string) error {
	var pe *auth.PolicyError
	if err := a.settings().policy.Check(user, password); errors.As(err, &pe) {
		return &keyError{field, pe.Msg}
	} else if err != nil {
		return err
	}
	return nil
}

// hash hashes a password, waiting at most hashWait for a free slot.
func (a *Auth) hash(ctx context.Context, password string) (string, error) {
	h, err := a.settings().hasher()
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, hashWait)
	defer cancel()
	enc, err := h.Hash(ctx, password)
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
		return "", &problem.Error{Code: problem.Overloaded, RetryAfter: time.Second, Message: "too many passwords are being checked at once: retry shortly"}
	}
	return enc, err
}

// CreateUser creates a user from the command line (the audit log names
// vigil as the actor).
func (a *Auth) CreateUser(ctx context.Context, name, roleName string, tenants []string, password string) (User, error) {
	return a.createUser(ctx, "vigil", name, roleName, tenants, password)
}

func (a *Auth) createUser(ctx context.Context, actor, name, roleName string, tenants []string, password string) (User, error) {
	name = normalizeUserName(name)
	tenants, err := checkUser(name, roleName, tenants)
	if err != nil {
		return User{}, err
	}
	if err := a.checkPassword("password", name, password); err != nil {
		return User{}, err
	}
	existing, err := a.listUsers(ctx)
	if err != nil {
		return User{}, err
	}
	if len(existing) >= maxUsers {
		return User{}, problem.New(problem.Conflict, "there are %d users, the most vigil keeps: delete one first", len(existing))
	}
	enc, err := a.hash(ctx, password)
	if err != nil {
		return User{}, err
	}
	id, err := auth.NewUserID()
	if err != nil {
		return User{}, err
	}
	now := a.clock().UnixNano()
	u := User{Name: name, ID: id, Role: roleName, Tenants: tenants, Hash: enc, Created: now, Updated: now, PasswordSet: now}
	detail, _ := json.Marshal(map[string]any{"name": name, "role": roleName, "tenants": tenants})
	_, err = a.putUser(ctx, u, store.MustNotExist, &store.AuditEntry{Time: now, Actor: actor, Action: "user.create", Target: name, Detail: detail})
	if errors.Is(err, store.ErrConflict) {
		return User{}, &problem.Error{Code: problem.Conflict, Field: "name", Message: fmt.Sprintf("a user named %q exists already: choose another name", name)}
	}
	return u, err
}

// storedUser reads one user and its version from the store.
func (a *Auth) storedUser(ctx context.Context, name string) (User, int64, error) {
	if !validUserName(name) {
		return User{}, 0, store.Errorf(store.ErrNotFound, "no user %.80q", name)
	}
	e, err := a.st.GetConfig(ctx, store.AllTenants(), "", userPrefix+name)
	if errors.Is(err, store.ErrNotFound) {
		return User{}, 0, store.Errorf(store.ErrNotFound, "no user %q", name)
	}
	if err != nil {
		return User{}, 0, err
	}
	var u User
	if err := json.Unmarshal(e.Value, &u); err != nil {
		return User{}, 0, fmt.Errorf("user %s: the stored entry does not decode: %w", name, err)
	}
	return u, e.Version, nil
}

// listUsers returns every stored user.
func (a *Auth) listUsers(ctx context.Context) ([]User, error) {
	entries, err := a.st.ListConfig(ctx, store.AllTenants(), "", userPrefix)
	if err != nil {
		return nil, err
	}
	out := make([]User, 0, len(entries))
	for _, e := range entries {
		var u User
		if json.Unmarshal(e.Value, &u) == nil {
			out = append(out, u)
		}
	}
	return out, nil
}

// putUser writes u guarded by version (store.MustNotExist to create) and
// updates the cache.
func (a *Auth) putUser(ctx context.Context, u User, version int64, audit *store.AuditEntry) (int64, error) {
	v, _ := json.Marshal(u)
	e, err := a.st.PutConfig(ctx, store.AllTenants(), store.ConfigChange{Key: userPrefix + u.Name, Value: v, IfVersion: version, Audit: audit})
	if err != nil {
		return 0, err
	}
	a.umu.Lock()
	if a.users != nil {
		a.users[u.Name] = u
	}
	a.umu.Unlock()
	a.credentialChanged()
	return e.Version, nil
}

// userByName is the cached user, for checking sessions: read again after
// keyCacheTTL, and on a miss at most once a second. The error is the
// store's, when it fails and nothing was read before.
func (a *Auth) userByName(ctx context.Context, name string) (User, bool, error) {
	now := a.clock()
	a.umu.Lock()
	defer a.umu.Unlock()
	age := now.Sub(a.uloaded)
	if u, ok := a.users[name]; ok && age < keyCacheTTL {
		return u, true, nil
	}
	if a.users != nil && age < time.Second {
		u, ok := a.users[name]
		return u, ok, nil
	}
	list, err := a.listUsers(ctx)
	if err != nil {
		if a.users == nil {
			return User{}, false, err
		}
		a.uloaded = now.Add(time.Second - keyCacheTTL) // keep what was read; try again in a second
		u, ok := a.users[name]
		return u, ok, nil
	}
	a.users = make(map[string]User, len(list))
	for _, u := range list {
		a.users[u.Name] = u
	}
	a.uloaded = now
	u, ok := a.users[name]
	return u, ok, nil
}

func (a *Auth) uncacheUser(name string) {
	a.umu.Lock()
	delete(a.users, name)
	a.umu.Unlock()
	a.credentialChanged()
}

// fullAdmin: an enabled admin of every tenant, who can manage everyone.
func fullAdmin(u User) bool {
	return !u.Disabled && u.Role == "admin" && slices.Equal(u.Tenants, []string{"*"})
}

// keepsAnAdmin refuses a change that would leave no enabled admin user for
// every tenant (cur becomes next; next is nil for a delete).
func (a *Auth) keepsAnAdmin(ctx context.Context, cur User, next *User) error {
	if !fullAdmin(cur) || (next != nil && fullAdmin(*next)) {
		return nil
	}
	users, err := a.listUsers(ctx)
	if err != nil {
		return err
	}
	for _, o := range users {
		if o.Name != cur.Name && fullAdmin(o) {
			return nil
		}
	}
	return problem.New(problem.Conflict, "user %s is the only enabled admin user for every tenant: make another one first, "+
		"or no user could manage users any more", cur.Name)
}

// withinScope refuses tenants beyond the caller's: an admin of some
// tenants gives keys and users only those.
func withinScope(p principal, tenants []string, what string) error {
	for _, t := range tenants {
		if t == "*" && !p.scope.All() {
			return &problem.Error{Code: problem.Forbidden, Field: "tenants",
				Message: "tenants: you are limited to " + p.scope.String() + ", so you may not give a " + what + " every tenant: list tenants instead"}
		}
		if t != "*" && store.ValidTenant(t) && !p.scope.Allows(t) {
			return &problem.Error{Code: problem.Forbidden, Field: "tenants",
				Message: "tenants: " + t + " is outside your " + p.scope.String()}
		}
	}
	return nil
}

// asProblem turns a *keyError into the catalogue's invalid_parameter.
func asProblem(err error) error {
	var ke *keyError
	if errors.As(err, &ke) {
		return &problem.Error{Code: problem.InvalidParameter, Field: ke.field, Message: ke.msg}
	}
	return err
}
