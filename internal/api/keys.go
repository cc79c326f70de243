package api

import (
	"context"
	"net/http"
	"slices"
	"sort"

	"github.com/vigil-project/vigil/internal/api/problem"
	"github.com/vigil-project/vigil/internal/store"
)

// The key management routes (admin), who the caller is, and the tenants it
// may see. Keys are never shown with their hash; the secret only once, in
// the answer that creates it.

type (
	keyJSON struct {
		ID       string   `json:"id"`
		Name     string   `json:"name"`
		Role     string   `json:"role"`
		Tenants  []string `json:"tenants"` // ["*"]: every tenant
		Created  string   `json:"created"`
		LastUsed string   `json:"last_used,omitempty"` // to the minute across servers, exact on this one
	}
	keyList struct {
		Keys []keyJSON `json:"keys"`
	}
	keyCreate struct {
		Role    string   `json:"role"`
		Tenants []string `json:"tenants"`
		Name    string   `json:"name"`
	}
	keyCreated struct {
		Key    keyJSON `json:"key"`
		Secret string  `json:"secret"` // the whole key, shown this once: only its hash is kept
	}
	meJSON struct {
		Via     string   `json:"via"`              // "key" or "session"
		KeyID   string   `json:"key_id,omitempty"` // with a key
		User    string   `json:"user,omitempty"`   // with a session
		Name    string   `json:"name"`
		Role    string   `json:"role"`
		Tenants []string `json:"tenants"`
		// Session: its CSRF token, for a page reloaded while signed in.
		Session *meSession `json:"session,omitempty"`
	}
	tenantList struct {
		Tenants []string `json:"tenants"`
		// AllTenants: the key may see every tenant, also ones not listed.
		AllTenants bool `json:"all_tenants"`
		// Complete is false when the list comes from the keys and the
		// latest alerts rather than from every tenant with events.
		Complete bool `json:"complete"`
	}
)

func toKeyJSON(k Key, lastUsed int64) keyJSON {
	out := keyJSON{ID: k.ID, Name: k.Name, Role: k.Role, Tenants: k.Tenants, Created: ts(k.Created)}
	if out.Tenants == nil {
		out.Tenants = []string{}
	}
	if lastUsed > 0 {
		out.LastUsed = ts(lastUsed)
	}
	return out
}

// manages reports whether the caller's scope covers every tenant of k: an
// admin of some tenants sees and revokes only keys within them.
func manages(p principal, k Key) bool { return managesTenants(p, k.Tenants) }

// managesTenants reports whether the caller's scope covers every tenant
// of a key or user.
func managesTenants(p principal, tenants []string) bool {
	if p.scope.All() {
		return true
	}
	if len(tenants) == 0 {
		return false
	}
	for _, t := range tenants {
		if t == "*" || !p.scope.Allows(t) {
			return false
		}
	}
	return true
}

func (s *Server) listKeys(w http.ResponseWriter, r *http.Request) error {
	p := callerOf(r)
	keys, err := s.o.Auth.list(r.Context())
	if err != nil {
		return err
	}
	used, err := s.o.Auth.lastUsed(r.Context())
	if err != nil {
		return err
	}
	sort.SliceStable(keys, func(i, j int) bool { return keys[i].Created > keys[j].Created }) // newest first
	out := keyList{Keys: []keyJSON{}}
	for _, k := range keys {
		if manages(p, k) {
			out.Keys = append(out.Keys, toKeyJSON(k, used[k.ID]))
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) createKey(w http.ResponseWriter, r *http.Request) error {
	var body keyCreate
	if err := readJSON(r, &body); err != nil {
		return err
	}
	p := callerOf(r)
	if err := withinScope(p, body.Tenants, "key"); err != nil {
		return err
	}
	secret, k, err := s.o.Auth.create(r.Context(), p.actor(), body.Role, body.Tenants, body.Name)
	if err != nil {
		return asProblem(err)
	}
	return writeJSON(w, http.StatusOK, keyCreated{Key: toKeyJSON(k, 0), Secret: secret})
}

func (s *Server) revokeKey(w http.ResponseWriter, r *http.Request) error {
	p := callerOf(r)
	id := r.PathValue("id")
	k, version, err := s.o.Auth.storedKey(r.Context(), id)
	if err == nil && !manages(p, k) {
		err = store.Errorf(store.ErrNotFound, "no API key %q", id) // as if it did not exist
	}
	if err != nil {
		return err
	}
	if k.Role == "admin" && slices.Contains(k.Tenants, "*") {
		keys, err := s.o.Auth.list(r.Context())
		if err != nil {
			return err
		}
		others := 0
		for _, o := range keys {
			if o.ID != k.ID && o.Role == "admin" && slices.Contains(o.Tenants, "*") {
				others++
			}
		}
		if others == 0 {
			return problem.New(problem.Conflict, "key %s is the only admin key for every tenant: create another before revoking it, "+
				"or nobody could manage keys any more", k.ID)
		}
	}
	if err := s.o.Auth.revoke(r.Context(), p.actor(), k, version); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toKeyJSON(k, 0))
}

func (s *Server) me(w http.ResponseWriter, r *http.Request) error {
	p := callerOf(r)
	out := meJSON{Via: p.via(), KeyID: p.keyID, User: p.user, Name: p.name, Role: p.role.String(), Tenants: orEmpty(p.tenants),
		Session: s.o.Auth.meSessionOf(p)}
	return writeJSON(w, http.StatusOK, out)
}

// TenantLister is what a store may offer to list every tenant with
// archived events. Without it, GET /v1/tenants names the tenants of the
// keys and of the latest alerts.
type TenantLister interface {
	Tenants(ctx context.Context) ([]string, error)
}

// maxTenants bounds the list of GET /v1/tenants.
const maxTenants = 1000

func (s *Server) tenants(w http.ResponseWriter, r *http.Request) error {
	p := callerOf(r)
	if !p.scope.All() {
		return writeJSON(w, http.StatusOK, tenantList{Tenants: append([]string{}, p.scope.Tenants()...), Complete: true})
	}
	out := tenantList{Tenants: []string{}, AllTenants: true}
	seen := map[string]bool{}
	add := func(t string) {
		if t != "*" && t != "" && !seen[t] && len(seen) < maxTenants {
			seen[t] = true
		}
	}
	if tl, ok := s.o.Store.(TenantLister); ok {
		ts, err := tl.Tenants(r.Context())
		if err != nil {
			return err
		}
		for _, t := range ts {
			add(t)
		}
		out.Complete = len(ts) <= maxTenants
	} else {
		keys, err := s.o.Auth.list(r.Context())
		if err != nil {
			return err
		}
		for _, k := range keys {
			for _, t := range k.Tenants {
				add(t)
			}
		}
		page, err := s.o.Store.ListAlerts(r.Context(), p.scope, store.AlertQuery{Limit: store.MaxPageSize})
		if err != nil {
			return err
		}
		for _, a := range page.Alerts {
			add(a.Tenant)
		}
	}
	for t := range seen {
		out.Tenants = append(out.Tenants, t)
	}
	sort.Strings(out.Tenants)
	return writeJSON(w, http.StatusOK, out)
}
