package pseudo

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/vigil-project/vigil/internal/store"
)

// ErasureStore is the part of the store an erasure uses.
type ErasureStore interface {
	EraseSubject(ctx context.Context, scope store.Scope, tenant string, subject store.Entity) (store.Erasure, error)
	AppendAudit(ctx context.Context, scope store.Scope, e store.AuditEntry) (store.AuditEntry, error)
}

// Erasure is what Erase did.
type Erasure struct {
	Kind Kind
	// Stored is the value as the archive held it: its pseudonym when
	// Pseudonymised, else the value itself.
	Stored        string
	Pseudonymised bool
	store.Erasure
	VaultEntry bool // a vault entry was deleted
}

// Erase deletes what the tenant's archive holds about one data subject:
// every event, alert and incident naming the value or, when the tenant
// pseudonymises its kind, its pseudonym, and its vault entry; then appends an
// audit entry with the counts. The audit entry names the pseudonym, never
// the value: the audit log cannot be erased. p is nil when privacy is off.
func Erase(ctx context.Context, st ErasureStore, p *Pseudonymiser, scope store.Scope, actor, tenant string, k Kind, value, reason string) (Erasure, error) {
	stored, k, pseudonymised, err := p.Stored(tenant, k, value)
	if err != nil {
		return Erasure{}, err
	}
	ent, ok := k.Entity()
	if !ok {
		return Erasure{}, fmt.Errorf("%w: the archive is not indexed by %s: erase the vehicle instead", store.ErrInvalid, k)
	}
	out := Erasure{Kind: k, Stored: stored, Pseudonymised: pseudonymised}
	out.Erasure, err = st.EraseSubject(ctx, scope, tenant, store.Entity{Kind: ent, Value: stored})
	if err == nil && pseudonymised {
		// Also the value itself: events archived before pseudonymisation
		// was turned on hold it.
		var before store.Erasure
		before, err = st.EraseSubject(ctx, scope, tenant, store.Entity{Kind: ent, Value: value})
		out.Events, out.Alerts, out.Incidents = out.Events+before.Events, out.Alerts+before.Alerts, out.Incidents+before.Incidents
	}
	if err == nil && pseudonymised {
		out.VaultEntry, err = p.Forget(ctx, scope, tenant, k, stored, value)
	}
	detail := map[string]any{"kind": k.String(), "reason": reason, "events": out.Events, "alerts": out.Alerts,
		"incidents": out.Incidents, "vault_entry": out.VaultEntry}
	target := k.String()
	if pseudonymised {
		detail["pseudonym"] = stored
		target += "/" + stored
	}
	if err != nil {
		detail["error"] = err.Error()
	}
	b, _ := json.Marshal(detail)
	if _, aerr := st.AppendAudit(ctx, scope, store.AuditEntry{Actor: actor, Action: "privacy.erase", Tenant: tenant, Target: target, Detail: b}); aerr != nil && err == nil {
		err = fmt.Errorf("the subject was erased but the audit entry could not be written: %w", aerr)
	}
	return out, err
}
