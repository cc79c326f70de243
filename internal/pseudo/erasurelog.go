package pseudo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/vigil-project/vigil/internal/store"
	"github.com/vigil-project/vigil/internal/twin"
)

// Erasures waiting for detection. The store's erasure reaches the
// archive; what detection derived from the subject (the engine's state,
// its checkpoint) is erased by the server that runs detection. An erasure
// is written down here once the archive holds nothing more of the
// subject, and removed by the server once a checkpoint without the subject
// is saved, so a server that was not running, crashed in between or was
// not the one asked still applies it when it next reads the records. A
// record names the subject as the archive held it: its pseudonym, or the
// value itself in a tenant that keeps that kind as it is.

// erasurePrefix is the records' key in the platform's configuration.
const erasurePrefix = "privacy/erasure/"

// PendingErasure is one erasure detection has still to apply.
type PendingErasure struct {
	ID       string // the record's id
	Tenant   string
	Subjects []twin.Subject
}

type erasureRecord struct {
	Tenant  string `json:"tenant"`
	Kind    string `json:"kind"`
	Value   string `json:"value"`
	Written int64  `json:"written"` // Unix ns
}

// RecordErasure writes an erasure down for detection and returns its id.
func RecordErasure(ctx context.Context, st ErasureStore, tenant string, k Kind, stored string) (string, error) {
	var r [6]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", err
	}
	now := time.Now().UnixNano()
	// Ids sort by time: detection applies erasures in the order they were made.
	id := fmt.Sprintf("%016x-%s", now, hex.EncodeToString(r[:]))
	b, _ := json.Marshal(erasureRecord{Tenant: tenant, Kind: k.String(), Value: stored, Written: now})
	if _, err := st.PutConfig(ctx, store.AllTenants(), store.ConfigChange{Key: erasurePrefix + id, Value: b, IfVersion: store.MustNotExist}); err != nil {
		return "", fmt.Errorf("recording the erasure for detection: %w", err)
	}
	return id, nil
}

// ErasureLogStore is the part of the store the erasure records need.
type ErasureLogStore interface {
	ListConfig(ctx context.Context, scope store.Scope, tenant, prefix string) ([]store.ConfigEntry, error)
	DeleteConfig(ctx context.Context, scope store.Scope, c store.ConfigChange) error
}

// ErasureLog reads and removes the records for detection.
type ErasureLog struct{ Store ErasureLogStore }

// Pending returns the recorded erasures, oldest first (up to
// store.MaxConfigList; the rest come once those are done). A record that
// does not read is reported, never skipped silently.
func (l ErasureLog) Pending(ctx context.Context) ([]PendingErasure, error) {
	list, err := l.Store.ListConfig(ctx, store.AllTenants(), "", erasurePrefix)
	if err != nil {
		return nil, err
	}
	out := make([]PendingErasure, 0, len(list))
	var errs []error
	for _, e := range list {
		var r erasureRecord
		k, ok := Kind(0), false
		if json.Unmarshal(e.Value, &r) == nil {
			k, ok = ParseKind(r.Kind)
		}
		if !ok || r.Value == "" || !store.ValidTenant(r.Tenant) || k == Unit {
			errs = append(errs, fmt.Errorf("erasure record %s does not read (%s): remove it once the subject is erased by hand",
				e.Key, strconv.Quote(string(e.Value[:min(len(e.Value), 80)]))))
			continue
		}
		out = append(out, PendingErasure{ID: e.Key[len(erasurePrefix):], Tenant: r.Tenant, Subjects: []twin.Subject{{Kind: k.subject(), Value: r.Value}}})
	}
	return out, errors.Join(errs...)
}

// Done removes applied records; one already gone is not an error.
func (l ErasureLog) Done(ctx context.Context, ids []string) error {
	var errs []error
	for _, id := range ids {
		err := l.Store.DeleteConfig(ctx, store.AllTenants(), store.ConfigChange{Key: erasurePrefix + id})
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
