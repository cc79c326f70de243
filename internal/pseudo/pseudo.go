// Package pseudo pseudonymises personal values at ingest, before anything
// is stored: each account id, e-mail address, phone number, IP address,
// VIN, device, API client and telematics unit id becomes a keyed
// HMAC-SHA256 pseudonym of the same shape, under a key per tenant derived
// from one master secret. Detectors see only pseudonyms, and they still
// work: equal values give equal pseudonyms, and IP pseudonyms keep their
// subnets. An optional vault keeps each pseudonym's original, encrypted,
// for audited re-identification; erasing it is crypto-shredding.
package pseudo

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
)

// Settings are one tenant's privacy settings.
type Settings struct {
	Fields Fields // the kinds pseudonymised; 0: none
	// LocationDecimals is how many decimals of latitude and longitude the
	// archived copy keeps (3 ≈ 110 m); 0 keeps them all. Detection sees
	// the full precision of events as they arrive.
	LocationDecimals int
}

func (s Settings) active() bool { return s.Fields != 0 || s.LocationDecimals > 0 }

// MaxLocationDecimals is the most decimals worth rounding to (≈ 1 cm).
const MaxLocationDecimals = 7

// Options configure a Pseudonymiser.
type Options struct {
	// Secret is the master secret, at least MinSecret bytes; needed when a
	// tenant pseudonymises anything.
	Secret  []byte
	Default Settings
	Tenants map[string]Settings // replace Default for the tenants named
	// KeepPhones are numbers left as they are: the TSP's own SMS gateway
	// numbers, not a data subject's (and the spoofing detector's
	// allow-list). KeepPhonesByTenant replaces it for the tenants named,
	// as the detector's own per-tenant lists do.
	KeepPhones         []string
	KeepPhonesByTenant map[string][]string
	// CacheEntries bounds the pseudonym cache (default 262144).
	CacheEntries int
	// Vault, when set, receives each pseudonym's original, encrypted.
	Vault  VaultStore
	Logger *slog.Logger
}

// Pseudonymiser computes pseudonyms and rewrites events. Safe for
// concurrent use.
type Pseudonymiser struct {
	o       Options
	cache   *cache
	keysMu  sync.RWMutex
	keys    map[string]*tenantKeys
	keepAll map[string]struct{}
	keepBy  map[string]map[string]struct{}
	log     *slog.Logger
	m       counters
	vw      vaultWriter
}

// maxTenantKeys bounds the derived keys kept; more tenants than that
// derive their keys on each use (slower, never wrong).
const maxTenantKeys = 4096

// ErrOff is returned for a pseudonym asked of a server that has no key.
var ErrOff = errors.New("pseudonymisation is off")

// New checks the options and returns a Pseudonymiser.
func New(o Options) (*Pseudonymiser, error) {
	need := o.Default.Fields != 0
	check := func(where string, s Settings) error {
		if s.Fields&^AllFields != 0 {
			return fmt.Errorf("%s: unknown fields %#x", where, uint16(s.Fields))
		}
		if s.LocationDecimals < 0 || s.LocationDecimals > MaxLocationDecimals {
			return fmt.Errorf("%s: location decimals %d: want 0 (keep all) to %d", where, s.LocationDecimals, MaxLocationDecimals)
		}
		return nil
	}
	if err := check("default", o.Default); err != nil {
		return nil, err
	}
	for t, s := range o.Tenants {
		if err := check("tenant "+t, s); err != nil {
			return nil, err
		}
		need = need || s.Fields != 0
	}
	if need && len(o.Secret) < MinSecret {
		return nil, fmt.Errorf("pseudonymisation needs a master secret of at least %d bytes (privacy.key_file): %s", MinSecret, KeygenHint)
	}
	if o.CacheEntries <= 0 {
		o.CacheEntries = 1 << 18
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	p := &Pseudonymiser{o: o, cache: newCache(o.CacheEntries), keys: map[string]*tenantKeys{}, log: o.Logger,
		keepAll: set(o.KeepPhones), keepBy: map[string]map[string]struct{}{}}
	for t, l := range o.KeepPhonesByTenant {
		p.keepBy[t] = set(l)
	}
	if len(o.Secret) > 0 {
		if _, err := p.tenant("default"); err != nil {
			return nil, fmt.Errorf("deriving keys: %w", err)
		}
	}
	return p, nil
}

func set(l []string) map[string]struct{} {
	m := make(map[string]struct{}, len(l))
	for _, x := range l {
		m[x] = struct{}{}
	}
	return m
}

// Settings returns the tenant's settings.
func (p *Pseudonymiser) Settings(tenant string) Settings {
	if s, ok := p.o.Tenants[tenant]; ok {
		return s
	}
	return p.o.Default
}

// Active reports whether events of the tenant are changed before storage.
func (p *Pseudonymiser) Active(tenant string) bool { return p.Settings(tenant).active() }

// VaultOn reports whether originals are kept for re-identification.
func (p *Pseudonymiser) VaultOn() bool { return p.o.Vault != nil }

func (p *Pseudonymiser) tenant(name string) (*tenantKeys, error) {
	p.keysMu.RLock()
	t := p.keys[name]
	p.keysMu.RUnlock()
	if t != nil {
		return t, nil
	}
	if len(p.o.Secret) == 0 {
		return nil, ErrOff
	}
	t, err := deriveKeys(p.o.Secret, name)
	if err != nil {
		return nil, err
	}
	p.keysMu.Lock()
	defer p.keysMu.Unlock()
	if old := p.keys[name]; old != nil {
		return old, nil
	}
	if len(p.keys) < maxTenantKeys {
		p.keys[name] = t
	}
	return t, nil
}

// kept reports whether a phone number is one of the gateway's own.
func (p *Pseudonymiser) kept(tenant, v string) bool {
	m, ok := p.keepBy[tenant]
	if !ok {
		m = p.keepAll
	}
	_, keep := m[v]
	return keep
}

// pseudonym returns the pseudonym of v (of resolved kind k), from the
// cache or computed, and whether its vault entry is known to be written.
func (p *Pseudonymiser) pseudonym(tenant string, t *tenantKeys, k Kind, v string) (string, bool) {
	key := cacheKey{tenant: tenant, kind: k, value: v}
	if ps, vaulted, ok := p.cache.get(key); ok {
		p.m.hits.Add(1)
		return ps, vaulted
	}
	p.m.misses.Add(1)
	ps := compute(t, k, v)
	p.cache.put(key, ps)
	return ps, false
}

func compute(t *tenantKeys, k Kind, v string) string {
	if k == IP {
		if s, ok := t.ipPseudonym(v); ok {
			return s
		}
	}
	var sum [32]byte
	t.hmacOf(k, v, &sum)
	return shape(k, &sum)
}

// Pseudonym returns the pseudonym of value as kind k in tenant, whatever
// the tenant's settings (an account id that is an e-mail address is an
// e-mail). It is what the API and the CLI hand to analysts and rule
// authors.
func (p *Pseudonymiser) Pseudonym(tenant string, k Kind, value string) (string, Kind, error) {
	if k >= NumKinds {
		return "", k, fmt.Errorf("unknown kind %d", k)
	}
	k = resolve(k, value)
	t, err := p.tenant(tenant)
	if err != nil {
		return "", k, err
	}
	ps, _ := p.pseudonym(tenant, t, k, value)
	return ps, k, nil
}

// Stored returns value as the tenant's archive and detectors hold it: its
// pseudonym when the tenant pseudonymises its kind, else value itself.
func (p *Pseudonymiser) Stored(tenant string, k Kind, value string) (stored string, kind Kind, pseudonymised bool, err error) {
	k = resolve(k, value)
	if p == nil || !p.Settings(tenant).Fields.Has(k) || (k == Phone && p.kept(tenant, value)) {
		return value, k, false, nil
	}
	ps, k, err := p.Pseudonym(tenant, k, value)
	return ps, k, err == nil, err
}

// Prefix returns the pseudonymised network of an IP prefix whose length is
// a multiple of 8 (10.0.0.0/8, 192.0.2.0/24, 2001:db8::/48): every address
// in the prefix has a pseudonym in the returned one. For rule authors.
func (p *Pseudonymiser) Prefix(tenant string, prefix netip.Prefix) (netip.Prefix, error) {
	t, err := p.tenant(tenant)
	if err != nil {
		return netip.Prefix{}, err
	}
	q, ok := t.ipPrefix(prefix)
	if !ok {
		return netip.Prefix{}, fmt.Errorf("%s: only prefixes of 8, 16, 24, … bits keep their shape: pseudonyms are prefix-preserving per octet", prefix)
	}
	return q, nil
}

// counters are the Pseudonymiser's metrics.
type counters struct {
	values     [NumKinds]atomic.Int64 // values replaced, by kind
	kept       atomic.Int64           // phone numbers left as they are (gateway numbers)
	events     atomic.Int64           // events rewritten
	hits       atomic.Int64
	misses     atomic.Int64
	vaultPut   atomic.Int64 // entries written
	vaultFound atomic.Int64 // entries found already written
	collisions atomic.Int64 // a pseudonym whose entry holds another original
	vaultErr   atomic.Int64 // batches refused because the vault could not be read or written
}
