package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/vigil-project/vigil/internal/auth"
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
	roleAny // any valid key, whatever its role: GET /v1/me
)

var roleNames = map[string]role{"ingest": roleIngest, "viewer": roleViewer, "analyst": roleAnalyst, "admin": roleAdmin, "gate": roleGate}

func (r role) String() string {
	if r == roleAny {
		return "ingest, gate, viewer, analyst or admin" // reads right in "needs a key with the … role"
	}
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
	if need == roleAny {
		return have != roleNone
	}
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

// usedEntry is the platform configuration entry that keeps the keys' last
// use: one JSON object of key id to Unix ns, written at most once a minute
// by each server (not a key: its name does not start with keyPrefix).
const usedEntry = "apikey-used"

const (
	// keyCacheTTL bounds how long a cached key is trusted without reading
	// the store again: a key revoked through another server sharing the
	// store stops working here within it. Revoked here, it stops at once.
	keyCacheTTL = 30 * time.Second
	// usedFlushEvery is how often the last-use times are written.
	usedFlushEvery = time.Minute
	// maxKeyName bounds a key's name.
	maxKeyName = 128
	// maxKeyTenants bounds the tenants a key lists.
	maxKeyTenants = 100
)

// AuthStore is what Auth needs of the store: the platform configuration
// (keys, users, sessions) and the audit log.
type AuthStore interface {
	store.Config
	AppendAudit(ctx context.Context, scope store.Scope, e store.AuditEntry) (store.AuditEntry, error)
}

// Auth checks API keys and sessions. Keys live in the store's platform
// configuration; Auth caches them for keyCacheTTL, then reloads them in the
// background while answering from the cache, and reloads on a miss at most
// once a second. It notes each key's last use in memory and writes
// those times at most once a minute, never on every request. Users and
// sessions are kept the same way (users.go, sessions.go).
type Auth struct {
	st     AuthStore
	now    func() time.Time
	mu     sync.Mutex
	keys   map[string]Key
	loaded time.Time
	// keyGen counts this process's creations and revocations of keys;
	// reloading: a background reload is under way; rmu serialises reloads.
	keyGen    uint64
	reloading bool
	rmu       sync.Mutex
	// used is the last use of each key this process saw, Unix ns; dirty
	// says whether it changed since the last write, flushed when that was.
	used     map[string]int64
	dirty    bool
	flushed  time.Time
	flushing bool

	set      atomic.Pointer[settings]  // limits and lifetimes, replaced whole by Configure
	oidc     atomic.Pointer[oidcSetup] // sign-in with an OpenID provider; nil: off (ConfigureOIDC)
	m        *authMetrics
	umu      sync.Mutex
	users    map[string]User // by name
	uloaded  time.Time
	smu      sync.Mutex
	sessions map[string]*cachedSession // by store key
	cmu      sync.Mutex
	changed  chan struct{} // closed at a revocation or a user's change (credentialsChanged)
}

// NewAuth returns an Auth over the store's keys, users and sessions, with
// the default limits (see Configure).
func NewAuth(st AuthStore) *Auth {
	a := &Auth{st: st, now: time.Now, used: map[string]int64{}, m: newAuthMetrics(), sessions: map[string]*cachedSession{}}
	if err := a.Configure(auth.Config{}); err != nil {
		panic(err) // the defaults are fixed; TestConfig checks them
	}
	return a
}

// clock is a.now read under the lock that tests change it under.
func (a *Auth) clock() time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.now()
}

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

// Create makes a key and returns its full secret, to be shown once. The
// audit log names vigil as the actor (the command line, the first start).
func (a *Auth) Create(ctx context.Context, roleName string, tenants []string, name string) (string, Key, error) {
	return a.create(ctx, "vigil", roleName, tenants, name)
}

// keyError says which field of a new key is wrong and how.
type keyError struct{ field, msg string }

func (e *keyError) Error() string { return e.msg }

// checkKey validates what a new key would be and returns its tenants,
// sorted and without repeats. Its errors (*keyError) say what to change.
func checkKey(roleName string, tenants []string, name string) ([]string, error) {
	bad := func(field, format string, args ...any) error { return &keyError{field, fmt.Sprintf(format, args...)} }
	if _, ok := roleNames[roleName]; !ok {
		return nil, bad("role", "role %q: want admin, analyst, viewer, ingest or gate", roleName)
	}
	out, err := checkTenants(tenants, "key")
	if err != nil {
		return nil, err
	}
	if len(name) > maxKeyName || !utf8.ValidString(name) || strings.ContainsFunc(name, unicode.IsControl) {
		return nil, bad("name", "name: at most %d bytes of text, no control characters", maxKeyName)
	}
	return out, nil
}

// checkTenants validates the tenants of a key or user (what) and returns
// them sorted and without repeats.
func checkTenants(tenants []string, what string) ([]string, error) {
	bad := func(format string, args ...any) error { return &keyError{"tenants", fmt.Sprintf(format, args...)} }
	if len(tenants) == 0 {
		return nil, bad("name the tenants the %s may act on, or * for every tenant", what)
	}
	if len(tenants) > maxKeyTenants {
		return nil, bad("%d tenants: a %s lists at most %d (or * for every tenant)", len(tenants), what, maxKeyTenants)
	}
	for _, t := range tenants {
		if t != "*" && !store.ValidTenant(t) {
			return nil, bad("tenant %q is not a tenant name: use 1 to 64 letters, digits, '.', '_' or '-', or *", t)
		}
	}
	if slices.Contains(tenants, "*") && len(tenants) > 1 {
		return nil, bad("* already means every tenant: give it alone")
	}
	out := slices.Clone(tenants)
	slices.Sort(out)
	return slices.Compact(out), nil
}

func (a *Auth) create(ctx context.Context, actor, roleName string, tenants []string, name string) (string, Key, error) {
	tenants, err := checkKey(roleName, tenants, name)
	if err != nil {
		return "", Key{}, err
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
	now := a.now().UnixNano()
	k := Key{ID: id, Hash: hex.EncodeToString(sum[:]), Role: roleName, Tenants: tenants, Created: now, Name: name}
	v, _ := json.Marshal(k)
	detail, _ := json.Marshal(map[string]any{"id": id, "role": roleName, "tenants": tenants, "name": name})
	_, err = a.st.PutConfig(ctx, store.AllTenants(), store.ConfigChange{Key: keyPrefix + id, Value: v, IfVersion: store.MustNotExist,
		Audit: &store.AuditEntry{Time: now, Actor: actor, Action: "apikey.create", Target: id, Detail: detail}})
	if err != nil {
		return "", Key{}, err
	}
	a.mu.Lock()
	a.keyGen++
	if a.keys != nil {
		a.keys[id] = k // usable at once, even right after a reload
	}
	a.mu.Unlock()
	return "vgl_" + id + "_" + secret, k, nil
}

// storedKey reads one key and its version from the store.
func (a *Auth) storedKey(ctx context.Context, id string) (Key, int64, error) {
	if len(id) != 16 || strings.Trim(id, "0123456789abcdef") != "" {
		return Key{}, 0, store.Errorf(store.ErrNotFound, "no API key %q", id)
	}
	e, err := a.st.GetConfig(ctx, store.AllTenants(), "", keyPrefix+id)
	if err != nil {
		return Key{}, 0, err
	}
	var k Key
	if err := json.Unmarshal(e.Value, &k); err != nil {
		return Key{}, 0, fmt.Errorf("API key %s: the stored entry does not decode: %w", id, err)
	}
	return k, e.Version, nil
}

// list returns every stored key (at most store.MaxConfigList).
func (a *Auth) list(ctx context.Context) ([]Key, error) {
	entries, err := a.st.ListConfig(ctx, store.AllTenants(), "", keyPrefix)
	if err != nil {
		return nil, err
	}
	out := make([]Key, 0, len(entries))
	for _, e := range entries {
		var k Key
		if json.Unmarshal(e.Value, &k) == nil {
			out = append(out, k)
		}
	}
	return out, nil
}

// revoke deletes a key (audited in the same transaction, guarded by the
// version read) and drops it from the cache: it stops working at once.
func (a *Auth) revoke(ctx context.Context, actor string, k Key, version int64) error {
	detail, _ := json.Marshal(map[string]any{"id": k.ID, "role": k.Role, "tenants": k.Tenants, "name": k.Name})
	err := a.st.DeleteConfig(ctx, store.AllTenants(), store.ConfigChange{Key: keyPrefix + k.ID, IfVersion: version,
		Audit: &store.AuditEntry{Time: a.now().UnixNano(), Actor: actor, Action: "apikey.revoke", Target: k.ID, Detail: detail}})
	if err != nil {
		return err
	}
	// After the delete: a reload that read the store before it sees keyGen
	// moved and drops what it read.
	a.mu.Lock()
	a.keyGen++
	delete(a.keys, k.ID)
	delete(a.used, k.ID)
	a.mu.Unlock()
	a.credentialChanged()
	return nil
}

// lastUsed returns the keys' last use, Unix ns: the stored times, newer
// ones from this process over them.
func (a *Auth) lastUsed(ctx context.Context) (map[string]int64, error) {
	out, _, err := a.storedUsed(ctx)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for id, t := range a.used {
		out[id] = max(out[id], t)
	}
	return out, nil
}

func (a *Auth) storedUsed(ctx context.Context) (map[string]int64, int64, error) {
	out := map[string]int64{}
	e, err := a.st.GetConfig(ctx, store.AllTenants(), "", usedEntry)
	if errors.Is(err, store.ErrNotFound) {
		return out, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	if json.Unmarshal(e.Value, &out) != nil {
		out = map[string]int64{} // unreadable: start again rather than fail sign-ins
	}
	return out, e.Version, nil
}

// touch notes a key's use and, at most once a minute, writes the times.
func (a *Auth) touch(id string) {
	a.mu.Lock()
	now := a.now()
	a.used[id] = now.UnixNano()
	a.dirty = true
	due := !a.flushing && now.Sub(a.flushed) >= usedFlushEvery
	if due {
		a.flushing = true
		a.flushed = now
	}
	a.mu.Unlock()
	if due {
		// Once a minute, in the background: no request waits on the write.
		go a.background(&a.flushing, 5*time.Second, func(ctx context.Context) { a.FlushUsed(ctx) })
	}
}

// FlushUsed writes the last-use times this process noted since its last
// write, merged with what other servers wrote. touch calls it at most once
// a minute; a failed write is retried at the next one.
func (a *Auth) FlushUsed(ctx context.Context) error {
	a.mu.Lock()
	if !a.dirty {
		a.mu.Unlock()
		return nil
	}
	mine := maps.Clone(a.used)
	known := make(map[string]bool, len(a.keys))
	for id := range a.keys {
		known[id] = true
	}
	a.dirty = false
	a.mu.Unlock()
	var err error
	for range 3 { // another server may write between our read and write
		var cur map[string]int64
		var version int64
		cur, version, err = a.storedUsed(ctx)
		if err != nil {
			break
		}
		for id, t := range mine {
			cur[id] = max(cur[id], t)
		}
		for id := range cur {
			if !known[id] {
				delete(cur, id) // revoked (or not yet seen here: its server writes it again)
			}
		}
		if version == 0 {
			version = store.MustNotExist
		}
		v, _ := json.Marshal(cur)
		_, err = a.st.PutConfig(ctx, store.AllTenants(), store.ConfigChange{Key: usedEntry, Value: v, IfVersion: version})
		if !errors.Is(err, store.ErrConflict) {
			break
		}
	}
	if err != nil {
		a.mu.Lock()
		a.dirty = true
		a.mu.Unlock()
	}
	return err
}

func (a *Auth) lookup(ctx context.Context, id string) (Key, bool) {
	a.mu.Lock()
	age := a.now().Sub(a.loaded)
	k, ok := a.keys[id]
	switch {
	case ok && age < keyCacheTTL:
		a.mu.Unlock()
		return k, true
	case ok:
		// Stale: one reload runs in the background while requests go on
		// with what was read; none waits on the store.
		if !a.reloading {
			a.reloading = true
			go a.background(&a.reloading, 10*time.Second, a.reloadKeys)
		}
		a.mu.Unlock()
		return k, true
	case a.keys != nil && age < time.Second:
		// Just read: a miss stays a miss (unknown ids cannot make every
		// request read the store).
		a.mu.Unlock()
		return k, false
	}
	a.mu.Unlock()
	// Not known here: a key made on another server, or the first request.
	a.reloadKeys(ctx)
	a.mu.Lock()
	defer a.mu.Unlock()
	k, ok = a.keys[id]
	return k, ok
}

// background runs f within timeout, then clears *busy (a flag under a.mu
// that its caller set, so that one run at a time is under way).
func (a *Auth) background(busy *bool, timeout time.Duration, f func(context.Context)) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	f(ctx)
	cancel()
	a.mu.Lock()
	*busy = false
	a.mu.Unlock()
}

// reloadKeys reads the keys from the store into the cache, one reload at a
// time and at most once a second. The store is read without holding a.mu,
// so requests answered from the cache never wait for it; a key created or
// revoked meanwhile (keyGen moved) voids the read, which may predate it.
func (a *Auth) reloadKeys(ctx context.Context) {
	a.rmu.Lock()
	defer a.rmu.Unlock()
	a.mu.Lock()
	if a.keys != nil && a.now().Sub(a.loaded) < time.Second {
		a.mu.Unlock()
		return
	}
	gen := a.keyGen
	a.mu.Unlock()
	entries, err := a.st.ListConfig(ctx, store.AllTenants(), "", keyPrefix)
	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil {
		// Keep what was read before (the store may be restarting); try
		// again in a second.
		a.loaded = a.now().Add(time.Second - keyCacheTTL)
		return
	}
	if a.keyGen != gen {
		return
	}
	keys := make(map[string]Key, len(entries))
	for _, e := range entries {
		var k Key
		if json.Unmarshal(e.Value, &k) == nil {
			keys[k.ID] = k
		}
	}
	a.keys, a.loaded = keys, a.now()
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
