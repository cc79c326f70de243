package pseudo

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vigil-project/vigil/internal/ingest/httpingest"
	"github.com/vigil-project/vigil/internal/store"
	"github.com/vigil-project/vigil/internal/store/sqlite"
	"github.com/vigil-project/vigil/internal/twin"
)

func openStore(t *testing.T) *sqlite.DB {
	t.Helper()
	st, err := sqlite.Open(context.Background(), t.TempDir(), sqlite.Options{Synchronous: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// archiveSink stores accepted events the way the processor does.
type archiveSink struct {
	st    store.Store
	check func([]httpingest.Accepted) // runs before the insert
}

func (a *archiveSink) Accept(ctx context.Context, batch []httpingest.Accepted) ([]bool, error) {
	if a.check != nil {
		a.check(batch)
	}
	evs := make([]store.ArchivedEvent, len(batch))
	for i, b := range batch {
		e := b.Event
		evs[i] = store.ArchivedEvent{Tenant: e.Tenant, Source: e.Source, ID: e.ID, Type: e.Type.String(), Time: e.Time, Subject: e.Subject, Raw: b.Raw, Arrived: 1}
		if ac := e.Actor(); ac != nil {
			evs[i].Account, evs[i].Device, evs[i].IP, evs[i].ClientID = ac.Account, ac.Device, ac.IP, ac.ClientID
		}
	}
	ins, err := a.st.InsertEvents(ctx, store.AllTenants(), evs)
	if err != nil {
		return nil, err
	}
	dups := make([]bool, len(ins))
	for i, r := range ins {
		dups[i] = r.Duplicate
	}
	return dups, nil
}

func accepted(t *testing.T, lines []string) []httpingest.Accepted {
	var out []httpingest.Accepted
	for i, ev := range decodeAll(t, lines) {
		out = append(out, httpingest.Accepted{Event: ev, Raw: []byte(lines[i])})
	}
	return out
}

// TestSinkStoresPseudonymsAndVault: what reaches the store holds no
// personal value; the vault holds each one, written before the events.
func TestSinkStoresPseudonymsAndVault(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	p := newTest(t, Options{Vault: st, Default: Settings{Fields: AllFields, LocationDecimals: 3}, KeepPhones: []string{"+4915550001000"}})
	originals := []string{"WVWZZZ1JZXW000001", "WVWZZZ1JZXW000002", "acc-1042", "jane@example.com", "203.0.113.7", "2001:db8::7",
		"dev-9", "partner-a", "356938035643809", "8949022000001234567", "+4917200000006", "6cc1fe8e26753957", "48.137154"}
	var vaultChecked bool
	sink := NewSink(p, &archiveSink{st: st, check: func(b []httpingest.Accepted) {
		// The vault is durable before the events are handed on.
		if _, err := p.Reidentify(ctx, store.AllTenants(), "fleet-a", Account, mustPseudonym(t, p, "fleet-a", Account, "acc-1042")); err != nil {
			t.Errorf("vault entry not written before the events: %v", err)
		}
		vaultChecked = true
	}})
	batch := accepted(t, every)
	dups, err := sink.Accept(ctx, batch)
	if err != nil || len(dups) != len(every) || !vaultChecked {
		t.Fatalf("accept: %v %v", dups, err)
	}
	page, err := st.SearchEvents(ctx, store.AllTenants(), store.EventQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Events) != len(every) {
		t.Fatalf("%d events stored", len(page.Events))
	}
	for _, e := range page.Events {
		if e.ID == "e1" {
			continue // its detail is free text, not covered (docs/privacy.md)
		}
		for _, o := range originals {
			if strings.Contains(string(e.Raw), o) || e.Subject == o || e.Account == o || e.IP == o {
				t.Errorf("%s: %q reached the store: %s", e.ID, o, e.Raw)
			}
		}
	}
	// Every pseudonym turns back into its original.
	for _, c := range []struct {
		k Kind
		v string
	}{{Vehicle, "WVWZZZ1JZXW000002"}, {Email, "jane@example.com"}, {IP, "2001:db8::7"}, {Unit, "8949022000001234567"},
		{Phone, "+4917200000006"}, {Client, "partner-a"}, {Device, "dev-9"}, {Account, "6cc1fe8e26753957"}} {
		ps := mustPseudonym(t, p, "fleet-a", c.k, c.v)
		k, ok := KindOf(ps)
		if !ok || k != c.k {
			t.Errorf("KindOf(%s) = %v", ps, k)
		}
		got, err := p.Reidentify(ctx, store.TenantScope("fleet-a"), "fleet-a", k, ps)
		if err != nil || got != c.v {
			t.Errorf("reidentify %s %s: %q %v, want %q", c.k, ps, got, err, c.v)
		}
		// Another tenant's scope finds nothing.
		if _, err := p.Reidentify(ctx, store.TenantScope("fleet-b"), "fleet-a", k, ps); err == nil {
			t.Errorf("a fleet-b scope re-identified a fleet-a pseudonym")
		}
	}
	// The gateway's own number is kept, and not vaulted.
	if _, err := st.GetConfig(ctx, store.AllTenants(), "fleet-a", VaultKey(Phone, "+4915550001000")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("gateway number in the vault: %v", err)
	}
	// Written once: sending the batch again writes nothing new.
	before := p.m.vaultPut.Load()
	if _, err := sink.Accept(ctx, accepted(t, every)); err != nil {
		t.Fatal(err)
	}
	if n := p.m.vaultPut.Load() - before; n != 0 {
		t.Errorf("a resent batch wrote %d vault entries", n)
	}
	// A restarted server (empty cache) finds the entries and writes none.
	q := newTest(t, Options{Vault: st, KeepPhones: []string{"+4915550001000"}})
	if _, err := NewSink(q, &archiveSink{st: st}).Accept(ctx, accepted(t, every)); err != nil {
		t.Fatal(err)
	}
	if q.m.vaultPut.Load() != 0 || q.m.vaultFound.Load() == 0 || q.m.collisions.Load() != 0 {
		t.Errorf("after a restart: %d written, %d found, %d collisions", q.m.vaultPut.Load(), q.m.vaultFound.Load(), q.m.collisions.Load())
	}
}

func TestVaultEntriesAreBound(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	p := newTest(t, Options{Vault: st})
	ps := mustPseudonym(t, p, "fleet-a", Account, "acc-1")
	if err := p.Record(ctx, []Mapping{{Tenant: "fleet-a", Kind: Account, Pseudonym: ps, Original: "acc-1"}}); err != nil {
		t.Fatal(err)
	}
	e, err := st.GetConfig(ctx, store.AllTenants(), "fleet-a", VaultKey(Account, ps))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(e.Value), "acc-1") {
		t.Error("the vault holds the original in clear")
	}
	// Copied to another pseudonym or tenant, the entry does not open.
	other := mustPseudonym(t, p, "fleet-a", Account, "acc-2")
	st.PutConfig(ctx, store.AllTenants(), store.ConfigChange{Tenant: "fleet-a", Key: VaultKey(Account, other), Value: e.Value})
	st.PutConfig(ctx, store.AllTenants(), store.ConfigChange{Tenant: "fleet-b", Key: VaultKey(Account, ps), Value: e.Value})
	if v, err := p.Reidentify(ctx, store.AllTenants(), "fleet-a", Account, other); err == nil {
		t.Errorf("a moved entry opened: %q", v)
	}
	if v, err := p.Reidentify(ctx, store.AllTenants(), "fleet-b", Account, ps); err == nil {
		t.Errorf("an entry copied to another tenant opened: %q", v)
	}
	// Another key does not open it, and says why.
	q := newTest(t, Options{Vault: st, Secret: []byte(strings.Repeat("z", 40))})
	if _, err := q.Reidentify(ctx, store.AllTenants(), "fleet-a", Account, ps); err == nil || !strings.Contains(err.Error(), "key_file") {
		t.Errorf("another key: %v", err)
	}
	// A collision (an entry holding another original) is counted, never overwritten.
	if err := p.Record(ctx, []Mapping{{Tenant: "fleet-a", Kind: Account, Pseudonym: ps, Original: "acc-999"}}); err != nil {
		t.Fatal(err)
	}
	if p.m.collisions.Load() != 1 {
		t.Errorf("collisions %d", p.m.collisions.Load())
	}
	if v, _ := p.Reidentify(ctx, store.AllTenants(), "fleet-a", Account, ps); v != "acc-1" {
		t.Errorf("entry overwritten: %q", v)
	}
	// An entry that does not open is counted, and ingest goes on.
	if err := p.Record(ctx, []Mapping{{Tenant: "fleet-a", Kind: Account, Pseudonym: other, Original: "acc-2"}}); err != nil || p.m.collisions.Load() != 2 {
		t.Errorf("unreadable entry: %v, %d collisions", err, p.m.collisions.Load())
	}
	if _, err := newTest(t, Options{}).Reidentify(ctx, store.AllTenants(), "fleet-a", Account, ps); !errors.Is(err, ErrNoVault) {
		t.Errorf("without a vault: %v", err)
	}
}

// TestSinkRefusesWhenTheVaultFails: nothing is stored when the vault
// cannot be written, and the error reaches the producer.
func TestSinkRefusesWhenTheVaultFails(t *testing.T) {
	st := openStore(t)
	p := newTest(t, Options{Vault: st})
	st.Close()
	called := false
	_, err := NewSink(p, &archiveSink{st: st, check: func([]httpingest.Accepted) { called = true }}).Accept(context.Background(), accepted(t, every))
	if err == nil || called {
		t.Fatalf("err %v, next sink called %v", err, called)
	}
	if p.m.vaultErr.Load() != 1 {
		t.Errorf("vault errors %d", p.m.vaultErr.Load())
	}
}

func TestErase(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	p := newTest(t, Options{Vault: st})
	if _, err := NewSink(p, &archiveSink{st: st}).Accept(ctx, accepted(t, every)); err != nil {
		t.Fatal(err)
	}
	got, err := Erase(ctx, st, p, store.TenantScope("fleet-a"), "key:k1", "fleet-a", Account, "acc-1042", "GDPR art. 17 request #12", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Events != 1 || !got.VaultEntry || !got.Pseudonymised || got.Stored != mustPseudonym(t, p, "fleet-a", Account, "acc-1042") {
		t.Errorf("erasure %+v", got)
	}
	if _, err := p.Reidentify(ctx, store.AllTenants(), "fleet-a", Account, got.Stored); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("vault entry after erasure: %v", err)
	}
	// The audit entry names the pseudonym, never the value.
	entries, err := st.ExportAudit(ctx, store.AllTenants(), store.AuditQuery{})
	if err != nil || len(entries) != 1 {
		t.Fatalf("audit: %v %v", entries, err)
	}
	a := entries[0]
	var detail map[string]any
	json.Unmarshal(a.Detail, &detail)
	if a.Action != "privacy.erase" || a.Actor != "key:k1" || strings.Contains(string(a.Detail)+a.Target, "acc-1042") ||
		detail["reason"] != "GDPR art. 17 request #12" || detail["events"] != float64(1) || detail["pseudonym"] != got.Stored {
		t.Errorf("audit entry %+v %s", a, a.Detail)
	}
	// The value seen again is vaulted again.
	if _, err := NewSink(p, &archiveSink{st: st}).Accept(ctx, accepted(t, []string{strings.Replace(every[2], `"c1"`, `"c2"`, 1)})); err != nil {
		t.Fatal(err)
	}
	if v, err := p.Reidentify(ctx, store.AllTenants(), "fleet-a", Account, got.Stored); v != "acc-1042" {
		t.Errorf("after new events: %q %v", v, err)
	}
	// Units are not indexed: refused with a reason.
	if _, err := Erase(ctx, st, p, store.AllTenants(), "cli", "fleet-a", Unit, "356938035643809", "x", nil); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("unit erasure: %v", err)
	}
	// Privacy off: the value itself is erased, and the audit does not name it.
	n, err := Erase(ctx, st, nil, store.AllTenants(), "cli", "fleet-a", Vehicle, "WVWZZZ1JZXW000009", "x", nil)
	if err != nil || n.Pseudonymised || n.Stored != "WVWZZZ1JZXW000009" {
		t.Errorf("off: %+v %v", n, err)
	}
	entries, _ = st.ExportAudit(ctx, store.AllTenants(), store.AuditQuery{})
	if last := entries[len(entries)-1]; strings.Contains(string(last.Detail)+last.Target, "WVWZZZ1JZXW000009") {
		t.Errorf("audit names the erased value: %s %s", last.Target, last.Detail)
	}
}

func TestSecretFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "vigil.key")
	if err := WriteSecret(path); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 || fi.Size() != MinSecret {
		t.Errorf("key file %v %d bytes", fi.Mode(), fi.Size())
	}
	if err := WriteSecret(path); err == nil {
		t.Error("an existing key was overwritten")
	}
	s, insecure, err := LoadSecret(path)
	if err != nil || len(s) != MinSecret || insecure {
		t.Errorf("load: %d bytes, insecure %v, %v", len(s), insecure, err)
	}
	os.Chmod(path, 0o644)
	if _, insecure, _ := LoadSecret(path); !insecure {
		t.Error("a world-readable key is not reported")
	}
	short := filepath.Join(dir, "short")
	os.WriteFile(short, []byte("too short"), 0o600)
	for _, p := range []string{short, filepath.Join(dir, "missing"), dir} {
		if _, _, err := LoadSecret(p); err == nil || !strings.Contains(err.Error(), "vigil privacy keygen") {
			t.Errorf("%s: %v", p, err)
		}
	}
	if _, err := New(Options{Default: Settings{Fields: AllFields}}); err == nil || !strings.Contains(err.Error(), "vigil privacy keygen") {
		t.Errorf("no secret: %v", err)
	}
}

// TestSinkConcurrent: requests pseudonymising the same new values at once
// write each vault entry once, and agree on every pseudonym.
func TestSinkConcurrent(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	p := newTest(t, Options{Vault: st})
	sink := NewSink(p, &archiveSink{st: st})
	errs := make(chan error, 8)
	for g := range 8 {
		var lines []string
		for _, l := range every {
			lines = append(lines, strings.Replace(l, `"id":"`, `"id":"g`+string(rune('0'+g)), 1))
		}
		batch := accepted(t, lines)
		go func() {
			_, err := sink.Accept(ctx, batch)
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if p.m.collisions.Load() != 0 || p.m.vaultErr.Load() != 0 {
		t.Errorf("%d collisions, %d errors", p.m.collisions.Load(), p.m.vaultErr.Load())
	}
	page, err := st.SearchEvents(ctx, store.AllTenants(), store.EventQuery{Limit: 1000})
	if err != nil || len(page.Events) != 8*len(every) {
		t.Fatalf("%d events stored: %v", len(page.Events), err)
	}
	subjects := map[string]bool{}
	for _, e := range page.Events {
		if e.Subject != "" {
			subjects[e.Subject] = true
		}
	}
	if len(subjects) != 1 { // every event with a subject names WVWZZZ1JZXW000001
		t.Errorf("%d subjects: %v", len(subjects), subjects)
	}
}

// TestEraseSweepsAfterDetection: detection is told after the store is
// erased and the erasure recorded; what reached the store meanwhile (an
// event stored while the erasure ran, an alert derived before detection
// forgot) is swept, and detection told again since an event came.
func TestEraseSweepsAfterDetection(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	p := newTest(t, Options{Vault: st})
	sink := NewSink(p, &archiveSink{st: st})
	if _, err := sink.Accept(ctx, accepted(t, every)); err != nil {
		t.Fatal(err)
	}
	ps := mustPseudonym(t, p, "fleet-a", Account, "acc-1042")
	var calls []PendingErasure
	forget := func(ctx context.Context, er PendingErasure) error {
		calls = append(calls, er)
		pending, err := ErasureLog{Store: st}.Pending(ctx)
		if len(calls) == 1 && (err != nil || len(pending) != 1 || pending[0].ID != er.ID || pending[0].Subjects[0].Value != ps) {
			t.Errorf("detection told before the erasure was recorded: %v %v", pending, err)
		}
		if len(calls) == 1 {
			// The subject's event, stored while detection was told.
			if _, err := sink.Accept(ctx, accepted(t, []string{strings.Replace(every[2], `"c1"`, `"c9"`, 1)})); err != nil {
				t.Fatal(err)
			}
		}
		return nil
	}
	got, err := Erase(ctx, st, p, store.AllTenants(), "key:k1", "fleet-a", Account, "acc-1042", "request 12", forget)
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) != 2 || calls[0].ID == "" || calls[1].ID != "" || got.Swept.Events != 1 || got.Events != 2 {
		t.Errorf("calls %+v, erasure %+v", calls, got)
	}
	want := []twin.Subject{{Kind: twin.SubjectAccount, Value: ps}, {Kind: twin.SubjectAccount, Value: "acc-1042"}}
	if !slices.Equal(calls[0].Subjects, want) || calls[0].Tenant != "fleet-a" {
		t.Errorf("detection told %+v, want %v", calls[0], want)
	}
	page, err := st.SearchEvents(ctx, store.AllTenants(), store.EventQuery{Tenant: "fleet-a", Kind: store.EntityAccount, Value: ps})
	if err != nil || len(page.Events) != 0 {
		t.Errorf("after the sweep: %d events, %v", len(page.Events), err)
	}
	// Detection failing is told apart: the store's part is done.
	_, err = Erase(ctx, st, p, store.AllTenants(), "key:k1", "fleet-a", Account, "acc-7", "request 13",
		func(context.Context, PendingErasure) error { return errors.New("stopping") })
	if !errors.Is(err, ErrDetection) {
		t.Errorf("detection failing: %v", err)
	}
	entries, _ := st.ExportAudit(ctx, store.AllTenants(), store.AuditQuery{})
	if last := entries[len(entries)-1]; !strings.Contains(string(last.Detail), "not confirmed") {
		t.Errorf("audit of an unconfirmed erasure: %s", last.Detail)
	}
}
