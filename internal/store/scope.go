package store

import (
	"slices"
	"strings"
)

// Scope is the set of tenants a caller may see and change. The zero Scope
// sees nothing. A platform role gets AllTenants.
type Scope struct {
	all     bool
	tenants []string // sorted, distinct
}

// AllTenants is the scope of a platform role and of vigil's own engine.
func AllTenants() Scope { return Scope{all: true} }

// TenantScope is the scope of a caller limited to the given tenants.
// Invalid tenant names are dropped: they cannot name any stored object.
func TenantScope(tenants ...string) Scope {
	out := make([]string, 0, len(tenants))
	for _, t := range tenants {
		if ValidTenant(t) {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return Scope{tenants: slices.Compact(out)}
}

// All reports whether the scope spans every tenant.
func (s Scope) All() bool { return s.all }

// Tenants returns the tenants of a limited scope (nil for AllTenants). The
// slice is shared: do not modify it.
func (s Scope) Tenants() []string { return s.tenants }

// Allows reports whether tenant is in the scope. The platform tenant ""
// (platform-wide audit entries and configuration) is only in AllTenants.
func (s Scope) Allows(tenant string) bool {
	if s.all {
		return true
	}
	_, ok := slices.BinarySearch(s.tenants, tenant)
	return ok
}

// Empty reports whether the scope sees nothing.
func (s Scope) Empty() bool { return !s.all && len(s.tenants) == 0 }

func (s Scope) String() string {
	if s.all {
		return "all tenants"
	}
	if len(s.tenants) == 0 {
		return "no tenant"
	}
	return "tenants " + strings.Join(s.tenants, ",")
}

// Narrow returns the scope limited to one tenant when tenant is not empty,
// or ErrForbidden when the scope does not include it. With tenant "" it
// returns s unchanged.
func (s Scope) Narrow(tenant string) (Scope, error) {
	if tenant == "" {
		return s, nil
	}
	if !ValidTenant(tenant) {
		return Scope{}, Errorf(ErrInvalid, "tenant %q: want 1 to %d of A-Z a-z 0-9 . _ -", clip(tenant), MaxTenantLen)
	}
	if !s.Allows(tenant) {
		return Scope{}, forbidden(tenant)
	}
	return Scope{tenants: []string{tenant}}, nil
}

// Check returns ErrForbidden unless the scope includes tenant.
func (s Scope) Check(tenant string) error {
	if s.Allows(tenant) {
		return nil
	}
	return forbidden(tenant)
}

func forbidden(tenant string) error {
	if tenant == "" {
		return Errorf(ErrForbidden, "platform-wide data needs the all-tenants scope")
	}
	return Errorf(ErrForbidden, "tenant %q is outside the caller's scope", clip(tenant))
}
