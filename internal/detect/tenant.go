package detect

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
