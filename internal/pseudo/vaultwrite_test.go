package pseudo

import (
	"context"
	"errors"
	"runtime"
	"strconv"
	"sync"
	"testing"

	"github.com/vigil-project/vigil/internal/store"
)

// gatedVault lets a test hold the first batch write until it says so, and
// records the size of every batch.
type gatedVault struct {
	VaultStore
	mu      sync.Mutex
	batches []int
	entered chan struct{} // closed when the first batch starts
	release chan struct{} // the first batch waits for it
	during  func()        // runs inside the first batch, before it writes
	once    sync.Once
}

func (g *gatedVault) PutConfigs(ctx context.Context, scope store.Scope, cs []store.ConfigChange) ([]store.ConfigEntry, error) {
	g.mu.Lock()
	g.batches = append(g.batches, len(cs))
	g.mu.Unlock()
	first := false
	g.once.Do(func() { first = true })
	if first {
		close(g.entered)
		<-g.release
		if g.during != nil {
			g.during()
		}
	}
	return g.VaultStore.PutConfigs(ctx, scope, cs)
}

// waitQueued waits until n requests wait behind the batch being written.
func waitQueued(p *Pseudonymiser, n int) {
	for {
		p.vw.mu.Lock()
		q := len(p.vw.queue)
		p.vw.mu.Unlock()
		if q >= n {
			return
		}
		runtime.Gosched()
	}
}

func mappings(t *testing.T, p *Pseudonymiser, tenant string, from, n int) []Mapping {
	var out []Mapping
	for i := from; i < from+n; i++ {
		v := "acc-" + strconv.Itoa(i)
		out = append(out, Mapping{Tenant: tenant, Kind: Account, Pseudonym: mustPseudonym(t, p, tenant, Account, v), Original: v})
	}
	return out
}

// TestVaultGroupCommit: requests that arrive while a batch is written are
// written together in the next one, and each returns only once its own
// entries are durable.
func TestVaultGroupCommit(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	g := &gatedVault{VaultStore: st, entered: make(chan struct{}), release: make(chan struct{})}
	p := newTest(t, Options{Vault: g})
	first := make(chan error, 1)
	go func() { first <- p.Record(ctx, mappings(t, p, "fleet-a", 0, 3)) }()
	<-g.entered
	const waiting = 6
	errs := make(chan error, waiting)
	for i := range waiting {
		m := mappings(t, p, "fleet-a", 100+10*i, 10)
		go func() { errs <- p.Record(ctx, m) }()
	}
	waitQueued(p, waiting)
	select {
	case err := <-errs:
		t.Fatalf("a request returned while the vault was held: %v", err)
	default:
	}
	close(g.release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for range waiting {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.batches) != 2 || g.batches[0] != 3 || g.batches[1] != waiting*10 {
		t.Errorf("batches %v, want [3 %d]", g.batches, waiting*10)
	}
	for _, m := range append(mappings(t, p, "fleet-a", 0, 3), mappings(t, p, "fleet-a", 150, 10)...) {
		if v, err := p.Reidentify(ctx, store.AllTenants(), m.Tenant, m.Kind, m.Pseudonym); v != m.Original || err != nil {
			t.Errorf("%s: %q %v", m.Pseudonym, v, err)
		}
	}
	if p.m.vaultPut.Load() != 3+waiting*10 {
		t.Errorf("%d written", p.m.vaultPut.Load())
	}
}

// TestVaultBatchIsolation: a request the store refuses fails alone; the
// requests written with it succeed.
func TestVaultBatchIsolation(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	g := &gatedVault{VaultStore: st, entered: make(chan struct{}), release: make(chan struct{})}
	p := newTest(t, Options{Vault: g})
	go p.Record(ctx, mappings(t, p, "fleet-a", 0, 1))
	<-g.entered
	bad := make(chan error, 1)
	good := make(chan error, 1)
	go func() { bad <- p.Record(ctx, mappings(t, p, "not a tenant!", 10, 2)) }()
	go func() { good <- p.Record(ctx, mappings(t, p, "fleet-a", 20, 2)) }()
	waitQueued(p, 2)
	close(g.release)
	if err := <-bad; !errors.Is(err, store.ErrInvalid) {
		t.Errorf("bad request: %v", err)
	}
	if err := <-good; err != nil {
		t.Errorf("good request: %v", err)
	}
	if p.m.vaultErr.Load() != 1 {
		t.Errorf("vault errors %d", p.m.vaultErr.Load())
	}
}

// TestVaultWriteRacingErasure: an erasure while a batch naming the value is
// written leaves the value unmarked, so its next event checks the vault
// again and writes the entry the erasure deleted.
func TestVaultWriteRacingErasure(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	g := &gatedVault{VaultStore: st, entered: make(chan struct{}), release: make(chan struct{})}
	p := newTest(t, Options{Vault: g})
	m := mappings(t, p, "fleet-a", 0, 1)
	g.during = func() {
		// The erasure runs between the writer's start and its commit;
		// the commit then re-creates the entry, which is right (an event
		// of the value is being stored), and the erasure's deletion of
		// what was there before is not undone in the cache.
		if _, err := p.Forget(ctx, store.AllTenants(), "fleet-a", Account, m[0].Pseudonym, m[0].Original); err != nil {
			t.Error(err)
		}
	}
	close(g.release)
	if err := p.Record(ctx, m); err != nil {
		t.Fatal(err)
	}
	if _, vaulted, _ := p.cache.get(cacheKey{tenant: "fleet-a", kind: Account, value: m[0].Original}); vaulted {
		t.Error("the cache marks the value written though an erasure ran during the write")
	}
	// Deleted after the write: the next event of the value writes it again.
	if _, err := p.Forget(ctx, store.AllTenants(), "fleet-a", Account, m[0].Pseudonym, m[0].Original); err != nil {
		t.Fatal(err)
	}
	if err := p.Record(ctx, m); err != nil {
		t.Fatal(err)
	}
	if v, err := p.Reidentify(ctx, store.AllTenants(), "fleet-a", Account, m[0].Pseudonym); v != m[0].Original || err != nil {
		t.Errorf("after the erasure and a new event: %q %v", v, err)
	}
}

// TestVaultBatchFindsExisting: a batch some of whose entries exist (a
// restarted server) writes the others and counts a collision once.
func TestVaultBatchFindsExisting(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	p := newTest(t, Options{Vault: st})
	if err := p.Record(ctx, mappings(t, p, "fleet-a", 0, 5)); err != nil {
		t.Fatal(err)
	}
	q := newTest(t, Options{Vault: st})   // a restart: empty cache
	ms := mappings(t, q, "fleet-a", 3, 5) // 3 and 4 exist
	ms = append(ms, Mapping{Tenant: "fleet-a", Kind: Account, Pseudonym: ms[0].Pseudonym, Original: "someone-else"})
	if err := q.Record(ctx, ms); err != nil {
		t.Fatal(err)
	}
	if q.m.vaultPut.Load() != 3 || q.m.vaultFound.Load() != 3 || q.m.collisions.Load() != 1 {
		t.Errorf("written %d, found %d, collisions %d; want 3, 3, 1", q.m.vaultPut.Load(), q.m.vaultFound.Load(), q.m.collisions.Load())
	}
	for _, m := range mappings(t, q, "fleet-a", 0, 8) {
		if v, err := q.Reidentify(ctx, store.AllTenants(), m.Tenant, m.Kind, m.Pseudonym); v != m.Original || err != nil {
			t.Errorf("%s: %q %v", m.Original, v, err)
		}
	}
}
