package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vigil-project/vigil/internal/api/problem"
	"github.com/vigil-project/vigil/internal/store"
)

// role is what a credential may do. Roles above viewer include the ones
// below; ingest and gate are separate: a producer's key can send events
// and nothing else, the TSP back-end's gate key can ask the command gate
// and nothing else. Admin may do both.
type role uint8

const (
	roleNone role = iota // public: health, readiness, metrics
	roleIngest
	roleViewer
	roleAnalyst
	roleAdmin
	roleGate
)

var roleNames = map[string]role{"ingest": roleIngest, "viewer": roleViewer, "analyst": roleAnalyst, "admin": roleAdmin, "gate": roleGate}

func (r role) String() string {
	for n, v := range roleNames {
		if v == r {
			return n
		}
	}
	return "none"
}

// allows reports whether a credential of role have may call a route that
// needs role need.
func (have role) allows(need role) bool {
	if need == roleIngest || need == roleGate {
		return have == need || have == roleAdmin
	}
	return have != roleIngest && have != roleGate && have >= need
}

// Key is an API key as stored: only the SHA-256 of its secret. The secret
// has 256 bits of entropy, so a fast hash is enough (no dictionary to
// guess from); passwords, which have little, will use argon2id.
type Key struct {
	ID      string   `json:"id"`
	Hash    string   `json:"hash"` // hex SHA-256 of the secret
	Role    string   `json:"role"`
	Tenants []string `json:"tenants"` // ["*"] for every tenant
	Created int64    `json:"created"`
	Name    string   `json:"name"`
}

const keyPrefix = "apikey/"

// Auth checks API keys. Keys live in the store's platform configuration;
// Auth caches them and reloads on a miss at most once a second.
type Auth struct {
	st     store.Config
	mu     sync.Mutex
	keys   map[string]Key
	loaded time.Time
}

// NewAuth returns an Auth over the store's keys.
func NewAuth(st store.Config) *Auth { return &Auth{st: st} }

// Bootstrap creates the first admin key when the store has none and returns
// its secret (shown once, never stored); "" when keys exist already.
func (a *Auth) Bootstrap(ctx context.Context) (string, error) {
	keys, err := a.st.ListConfig(ctx, store.AllTenants(), "", keyPrefix)
	if err != nil {
		return "", err
	}
	if len(keys) > 0 {
		return "", nil
	}
	secret, _, err := a.Create(ctx, "admin", []string{"*"}, "first admin key")
	return secret, err
}

// Create makes a key and returns its full secret, to be shown once.
func (a *Auth) Create(ctx context.Context, roleName string, tenants []string, name string) (string, Key, error) {
	if len(tenants) == 0 {
		return "", Key{}, fmt.Errorf("name the tenants the key may act on, or * for every tenant")
	}
	for _, t := range tenants {
		if t != "*" && !store.ValidTenant(t) {
			return "", Key{}, fmt.Errorf("tenant %q is not a tenant name: use 1 to 64 letters, digits, '.', '_' or '-', or *", t)
		}
	}
	if _, ok := roleNames[roleName]; !ok {
		return "", Key{}, fmt.Errorf("role %q: want admin, analyst, viewer, ingest or gate", roleName)
	}
	var idb [8]byte
	var sec [32]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return "", Key{}, err
	}
	if _, err := rand.Read(sec[:]); err != nil {
		return "", Key{}, err
	}
	id := hex.EncodeToString(idb[:])
	secret := base64.RawURLEncoding.EncodeToString(sec[:])
	sum := sha256.Sum256([]byte(secret))
	k := Key{ID: id, Hash: hex.EncodeToString(sum[:]), Role: roleName, Tenants: tenants, Created: time.Now().UnixNano(), Name: name}
	v, _ := json.Marshal(k)
	detail, _ := json.Marshal(map[string]any{"id": id, "role": roleName, "tenants": tenants, "name": name})
	_, err := a.st.PutConfig(ctx, store.AllTenants(), store.ConfigChange{Key: keyPrefix + id, Value: v, IfVersion: store.MustNotExist,
		Audit: &store.AuditEntry{Time: time.Now().UnixNano(), Actor: "vigil", Action: "apikey.create", Target: id, Detail: detail}})
	if err != nil {
		return "", Key{}, err
	}
	return "vgl_" + id + "_" + secret, k, nil
}

type ctxKey struct{}

// principal is the authenticated caller.
type principal struct {
	keyID string
	role  role
	scope store.Scope
}

func callerOf(r *http.Request) principal {
	p, _ := r.Context().Value(ctxKey{}).(principal)
	return p
}

// require wraps h so it runs only for a key whose role allows need.
func (a *Auth) require(need role, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := a.authenticate(r)
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="vigil"`)
			problem.Write(w, err)
			return
		}
		if !p.role.allows(need) {
			problem.Write(w, problem.New(problem.Forbidden, "a %s key may not %s %s: it needs the %s role", p.role, r.Method, r.URL.Path, need))
			return
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, p)))
	})
}

func (a *Auth) authenticate(r *http.Request) (principal, *problem.Error) {
	h := r.Header.Get("Authorization")
	token, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || token == "" {
		return principal{}, problem.New(problem.Unauthenticated, "send an API key as Authorization: Bearer vgl_…")
	}
	rest, ok := strings.CutPrefix(token, "vgl_")
	id, secret, ok2 := strings.Cut(rest, "_")
	if !ok || !ok2 || len(id) != 16 || len(token) > 128 {
		return principal{}, problem.New(problem.Unauthenticated, "the API key is malformed")
	}
	k, found := a.lookup(r.Context(), id)
	sum := sha256.Sum256([]byte(secret))
	want, _ := hex.DecodeString(k.Hash)
	if !found || subtle.ConstantTimeCompare(sum[:], want) != 1 {
		return principal{}, problem.New(problem.Unauthenticated, "the API key is not valid (unknown, revoked or wrong)")
	}
	p := principal{keyID: id, role: roleNames[k.Role]}
	if slices.Contains(k.Tenants, "*") {
		p.scope = store.AllTenants()
	} else {
		p.scope = store.TenantScope(k.Tenants...)
	}
	return p, nil
}

func (a *Auth) lookup(ctx context.Context, id string) (Key, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if k, ok := a.keys[id]; ok {
		return k, true
	}
	if time.Since(a.loaded) < time.Second && a.keys != nil {
		return Key{}, false
	}
	entries, err := a.st.ListConfig(ctx, store.AllTenants(), "", keyPrefix)
	if err != nil {
		return Key{}, false
	}
	a.keys = map[string]Key{}
	for _, e := range entries {
		var k Key
		if json.Unmarshal(e.Value, &k) == nil {
			a.keys[k.ID] = k
		}
	}
	a.loaded = time.Now()
	k, ok := a.keys[id]
	return k, ok
}

// MayIngest reports whether the request's credential may send events of
// tenant (the ingest route runs behind require, which put it there).
func MayIngest(r *http.Request, tenant string) bool {
	return callerOf(r).scope.Allows(tenant)
}

// MayGate reports whether the request's credential may ask the command gate
// about tenant's vehicles or see its decisions (the gate's routes run
// behind require, which put the credential there).
func MayGate(r *http.Request, tenant string) bool {
	return callerOf(r).scope.Allows(tenant)
}
