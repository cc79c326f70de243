package pseudo

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-project/vigil/internal/store/sqlite"
)

// BenchmarkVaultNewValues is how many new values a second the vault takes
// while a fleet is new to vigil: every value of every ingest request is
// seen for the first time, so each needs its vault entry written, durably,
// before its request is acknowledged. The store is the embedded SQLite
// store with its default durability (synchronous: full). producers is the
// number of ingest requests in flight; each op is one request of batch
// new values.
func BenchmarkVaultNewValues(b *testing.B) {
	const batch = 64
	for _, producers := range []int{1, 8} {
		b.Run("producers="+strconv.Itoa(producers), func(b *testing.B) {
			st, err := sqlite.Open(context.Background(), b.TempDir(), sqlite.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			p := newTest(b, Options{Vault: st})
			var next atomic.Int64
			ops := make(chan struct{})
			var wg sync.WaitGroup
			var failed atomic.Value
			for range producers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					fresh := make([]Mapping, 0, batch)
					for range ops {
						fresh = fresh[:0]
						for range batch {
							v := "acc-" + strconv.FormatInt(next.Add(1), 10)
							ps := mustPseudonym(b, p, "fleet-a", Account, v)
							fresh = append(fresh, Mapping{Tenant: "fleet-a", Kind: Account, Pseudonym: ps, Original: v})
						}
						if err := p.Record(context.Background(), fresh); err != nil {
							failed.Store(err)
						}
					}
				}()
			}
			start := time.Now()
			for b.Loop() {
				ops <- struct{}{}
			}
			close(ops)
			wg.Wait()
			if err, _ := failed.Load().(error); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N*batch)/time.Since(start).Seconds(), "values/s")
		})
	}
}
