package pseudo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/vigil-project/vigil/internal/store"
	"github.com/vigil-project/vigil/internal/twin"
)

// ErasureStore is the part of the store an erasure uses.
type ErasureStore interface {
	EraseSubject(ctx context.Context, scope store.Scope, tenant string, subject store.Entity) (store.Erasure, error)
	AppendAudit(ctx context.Context, scope store.Scope, e store.AuditEntry) (store.AuditEntry, error)
	PutConfig(ctx context.Context, scope store.Scope, c store.ConfigChange) (store.ConfigEntry, error)
}

// Erasure is what Erase did.
type Erasure struct {
	Kind Kind
	// Stored is the value as the archive held it: its pseudonym when
	// Pseudonymised, else the value itself.
	Stored        string
	Pseudonymised bool
	store.Erasure      // totals, the sweep after detection included
	VaultEntry    bool // a vault entry was deleted
	// Detection is the erasure as detection must apply it (its record's
	// id, the tenant, the subject as stored and, when pseudonymised, as
	// sent: events from before pseudonymisation name it so).
	Detection PendingErasure
	// Swept is what the store held again once detection had forgotten
	// the subject (see Erase), included in the totals.
	Swept store.Erasure
}

// ForgetFunc makes the running detection forget an erasure's subjects and
// returns once a checkpoint without them is saved.
type ForgetFunc func(ctx context.Context, er PendingErasure) error

// ErrDetection wraps a failure of detection to confirm an erasure: the
// store's part is done, and the erasure's record stays until detection
// applies it.
var ErrDetection = errors.New("detection did not confirm the erasure")

// Erase deletes what the tenant's archive holds about one data subject:
// every event, alert and incident naming the value or, when the tenant
// pseudonymises its kind, its pseudonym, and its vault entry; it records
// the erasure for detection and, when forget is set (a server running
// detection), has detection forget the subject. Alerts derived from the
// subject's events before detection forgot them may reach the store
// after the first pass, so the store is swept once more after it (and
// detection told again if events arrived meanwhile). Then it appends an
// audit entry with the counts. The audit entry names the pseudonym, never
// the value: the audit log cannot be erased. p is nil when privacy is off.
func Erase(ctx context.Context, st ErasureStore, p *Pseudonymiser, scope store.Scope, actor, tenant string, k Kind, value, reason string, forget ForgetFunc) (Erasure, error) {
	stored, k, pseudonymised, err := p.Stored(tenant, k, value)
	if err != nil {
		return Erasure{}, err
	}
	ent, ok := k.Entity()
	if !ok {
		return Erasure{}, fmt.Errorf("%w: the archive is not indexed by %s: erase the vehicle instead", store.ErrInvalid, k)
	}
	out := Erasure{Kind: k, Stored: stored, Pseudonymised: pseudonymised}
	out.Detection = PendingErasure{Tenant: tenant, Subjects: []twin.Subject{{Kind: k.subject(), Value: stored}}}
	if pseudonymised {
		out.Detection.Subjects = append(out.Detection.Subjects, twin.Subject{Kind: k.subject(), Value: value})
	}
	eraseStore := func() (store.Erasure, error) {
		n, err := st.EraseSubject(ctx, scope, tenant, store.Entity{Kind: ent, Value: stored})
		if err == nil && pseudonymised {
			// Also the value itself: events archived before
			// pseudonymisation was turned on hold it.
			var before store.Erasure
			before, err = st.EraseSubject(ctx, scope, tenant, store.Entity{Kind: ent, Value: value})
			n = add(n, before)
		}
		return n, err
	}
	out.Erasure, err = eraseStore()
	if err == nil {
		// Written once the archive holds nothing more of the subject:
		// detection applies it (now, or when it starts), see RecordErasure.
		out.Detection.ID, err = RecordErasure(ctx, st, tenant, k, stored)
	}
	if err == nil && pseudonymised {
		out.VaultEntry, err = p.Forget(ctx, scope, tenant, k, stored, value)
	}
	detection := ""
	switch {
	case err != nil:
	case forget == nil:
		detection = "recorded: the server that runs detection applies it"
	default:
		if err = forget(ctx, out.Detection); err != nil {
			detection = "not confirmed: recorded, applied when detection can"
			err = fmt.Errorf("%w: %w", ErrDetection, err)
		} else {
			detection = "forgotten"
			out.Swept, err = eraseStore()
			out.Erasure = add(out.Erasure, out.Swept)
			if err == nil && out.Swept.Events > 0 {
				// Events of the subject came in while it was erased, and
				// detection may have read them: once more, without a record.
				again := out.Detection
				again.ID = ""
				if err = forget(ctx, again); err != nil {
					err = fmt.Errorf("%w: %w", ErrDetection, err)
				}
			}
		}
	}
	detail := map[string]any{"kind": k.String(), "reason": reason, "events": out.Events, "alerts": out.Alerts,
		"incidents": out.Incidents, "vault_entry": out.VaultEntry}
	if detection != "" {
		detail["detection"] = detection
	}
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

func add(a, b store.Erasure) store.Erasure {
	return store.Erasure{Events: a.Events + b.Events, Alerts: a.Alerts + b.Alerts, Incidents: a.Incidents + b.Incidents}
}
