package pseudo

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/vigil-project/vigil/internal/store"
)

// VaultStore is the part of the store the vault uses: the small
// configuration table, one entry per pseudonym under the tenant, key
// pseudo/<kind>/<pseudonym>.
type VaultStore interface {
	PutConfig(ctx context.Context, scope store.Scope, c store.ConfigChange) (store.ConfigEntry, error)
	PutConfigs(ctx context.Context, scope store.Scope, changes []store.ConfigChange) ([]store.ConfigEntry, error)
	GetConfig(ctx context.Context, scope store.Scope, tenant, key string) (store.ConfigEntry, error)
	DeleteConfig(ctx context.Context, scope store.Scope, c store.ConfigChange) error
}

// ErrNoVault is returned for a re-identification on a server without a
// vault.
var ErrNoVault = errors.New("the re-identification vault is off")

// VaultKey is the configuration key of a pseudonym's vault entry.
func VaultKey(k Kind, pseudonym string) string { return "pseudo/" + k.String() + "/" + pseudonym }

// An entry is a version byte, the GCM nonce and the sealed original. The
// additional data binds it to its tenant, kind and pseudonym: an entry
// copied to another key or tenant does not open.
const vaultVersion = 1

func additional(tenant string, k Kind, pseudonym string) []byte {
	return []byte("vigil vault v1\x00" + tenant + "\x00" + k.String() + "\x00" + pseudonym)
}

func (t *tenantKeys) seal(tenant string, k Kind, pseudonym, original string) ([]byte, error) {
	ns := t.aead.NonceSize()
	out := make([]byte, 1+ns, 1+ns+len(original)+t.aead.Overhead())
	out[0] = vaultVersion
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, err
	}
	return t.aead.Seal(out, out[1:], []byte(original), additional(tenant, k, pseudonym)), nil
}

func (t *tenantKeys) open(tenant string, k Kind, pseudonym string, b []byte) (string, error) {
	ns := t.aead.NonceSize()
	if len(b) < 1+ns+t.aead.Overhead() || b[0] != vaultVersion {
		return "", errors.New("vault entry is not one this version of vigil wrote")
	}
	plain, err := t.aead.Open(nil, b[1:1+ns], b[1+ns:], additional(tenant, k, pseudonym))
	if err != nil {
		return "", errors.New("vault entry does not open with this key: was privacy.key_file replaced?")
	}
	return string(plain), nil
}

// Record writes the vault entries of fresh that are not written yet, once
// each, and returns when they are durable, so an acknowledged event's
// pseudonyms can always be re-identified. An entry already there holding
// another original (a pseudonym collision) or not opening with this key
// is counted as a collision and logged, never overwritten. Concurrent
// calls share store transactions (see vaultwrite.go): many ingest
// requests' new values cost one durable commit.
func (p *Pseudonymiser) Record(ctx context.Context, fresh []Mapping) error {
	if p.o.Vault == nil || len(fresh) == 0 {
		return nil
	}
	maps := make([]Mapping, 0, len(fresh))
	done := make(map[cacheKey]bool, len(fresh))
	for _, m := range fresh {
		ck := cacheKey{tenant: m.Tenant, kind: m.Kind, value: m.Original}
		if done[ck] {
			continue
		}
		done[ck] = true
		if _, vaulted, ok := p.cache.get(ck); ok && vaulted {
			continue // written meanwhile by another request
		}
		maps = append(maps, m)
	}
	if len(maps) == 0 {
		return nil
	}
	err := p.vw.submit(ctx, p, maps)
	if err != nil {
		p.m.vaultErr.Add(1)
		return fmt.Errorf("writing the re-identification vault: %w", err)
	}
	return nil
}

func (p *Pseudonymiser) record(ctx context.Context, v VaultStore, m Mapping) error {
	t, err := p.tenant(m.Tenant)
	if err != nil {
		return err
	}
	key := VaultKey(m.Kind, m.Pseudonym)
	for attempt := 0; attempt < 2; attempt++ {
		e, err := v.GetConfig(ctx, store.AllTenants(), m.Tenant, key)
		switch {
		case err == nil:
			p.m.vaultFound.Add(1)
			return p.check(m, e.Value)
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		sealed, err := t.seal(m.Tenant, m.Kind, m.Pseudonym, m.Original)
		if err != nil {
			return err
		}
		_, err = v.PutConfig(ctx, store.AllTenants(), store.ConfigChange{Tenant: m.Tenant, Key: key, Value: sealed, IfVersion: store.MustNotExist})
		if err == nil {
			p.m.vaultPut.Add(1)
			return nil
		}
		if !errors.Is(err, store.ErrConflict) {
			return err
		}
		// Written meanwhile by another request: read it back.
	}
	return fmt.Errorf("%s of tenant %s: written and removed concurrently", key, m.Tenant)
}

// check compares an entry found in the vault with the mapping that would
// have written it. An entry holding another original (a collision) or not
// opening is counted and logged; ingest goes on: refusing it would stop
// every event naming the value for a fault only re-identification suffers
// from.
func (p *Pseudonymiser) check(m Mapping, sealed []byte) error {
	t, err := p.tenant(m.Tenant)
	if err != nil {
		return err
	}
	orig, err := t.open(m.Tenant, m.Kind, m.Pseudonym, sealed)
	if err != nil {
		p.m.collisions.Add(1)
		p.log.Error("a vault entry does not open: this pseudonym cannot be re-identified",
			"tenant", m.Tenant, "kind", m.Kind.String(), "pseudonym", m.Pseudonym, "err", err)
		return nil
	}
	if orig != m.Original {
		p.m.collisions.Add(1)
		p.log.Error("pseudonym collision: two values share a pseudonym; re-identification returns the first",
			"tenant", m.Tenant, "kind", m.Kind.String(), "pseudonym", m.Pseudonym)
	}
	return nil
}

// Reidentify returns the original behind a pseudonym, read with the
// caller's scope. kind may be left to KindOf. It is store.ErrNotFound
// when the vault holds no such pseudonym (never written, or erased).
func (p *Pseudonymiser) Reidentify(ctx context.Context, scope store.Scope, tenant string, k Kind, pseudonym string) (string, error) {
	if p == nil || p.o.Vault == nil {
		return "", ErrNoVault
	}
	t, err := p.tenant(tenant)
	if err != nil {
		return "", err
	}
	e, err := p.o.Vault.GetConfig(ctx, scope, tenant, VaultKey(k, pseudonym))
	if err != nil {
		return "", err
	}
	return t.open(tenant, k, pseudonym, e.Value)
}

// Forget deletes the vault entry of a pseudonym (crypto-shredding: the
// pseudonym can no longer be turned back), and reports whether there was
// one. original is the value erased, so a later event of the same value
// writes its entry again.
func (p *Pseudonymiser) Forget(ctx context.Context, scope store.Scope, tenant string, k Kind, pseudonym, original string) (bool, error) {
	if p == nil || p.o.Vault == nil {
		return false, nil
	}
	ck := cacheKey{tenant: tenant, kind: k, value: original}
	p.vw.unmark(p.cache, ck)
	err := p.o.Vault.DeleteConfig(ctx, scope, store.ConfigChange{Tenant: tenant, Key: VaultKey(k, pseudonym)})
	// Again after the delete: a vault write between the two found the entry
	// still there, and must not mark the value written (see unmark).
	p.vw.unmark(p.cache, ck)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// KindOf tells a pseudonym's kind from its shape; false when it has the
// shape of none.
func KindOf(pseudonym string) (Kind, bool) {
	for k, pre := range prefixes {
		if pre != "" && strings.HasPrefix(pseudonym, pre) && len(pseudonym) == len(pre)+tokenLen {
			return Kind(k), true
		}
	}
	switch {
	case strings.HasSuffix(pseudonym, emailDomain) && len(pseudonym) == tokenLen+len(emailDomain):
		return Email, true
	case len(pseudonym) == 20 && pseudonym[0] == '+' && digits(pseudonym[1:]):
		return Phone, true
	case ValidVIN(pseudonym):
		return Vehicle, true
	}
	if _, err := netip.ParseAddr(pseudonym); err == nil {
		return IP, true
	}
	return 0, false
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
