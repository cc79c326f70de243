package detect

import "fmt"

// PerTenant holds a detector's configuration with per-tenant overrides: a
// fleet operator whose managers legitimately command hundreds of vehicles
// gets its own thresholds without loosening everyone else's.
type PerTenant[T any] struct {
	Default T
	Tenants map[string]*T
}

// For returns the configuration for tenant.
func (p *PerTenant[T]) For(tenant string) *T {
	if c, ok := p.Tenants[tenant]; ok {
		return c
	}
	return &p.Default
}

// With returns a copy of p with fix applied to the default and to a copy of
// every tenant's settings; the caller's settings stay as they were.
func (p PerTenant[T]) With(fix func(*T)) PerTenant[T] {
	out := PerTenant[T]{Default: p.Default, Tenants: make(map[string]*T, len(p.Tenants))}
	fix(&out.Default)
	for t, c := range p.Tenants {
		cc := *c
		fix(&cc)
		out.Tenants[t] = &cc
	}
	return out
}

// Prepare turns per-tenant settings into what a detector runs with (parsed,
// checked), naming the tenant whose settings are wrong.
func Prepare[T, S any](p PerTenant[T], prep func(T) (*S, error)) (PerTenant[S], error) {
	def, err := prep(p.Default)
	if err != nil {
		return PerTenant[S]{}, err
	}
	out := PerTenant[S]{Default: *def, Tenants: make(map[string]*S, len(p.Tenants))}
	for t, c := range p.Tenants {
		s, err := prep(*c)
		if err != nil {
			return PerTenant[S]{}, fmt.Errorf("tenant %s: %w", t, err)
		}
		out.Tenants[t] = s
	}
	return out, nil
}
