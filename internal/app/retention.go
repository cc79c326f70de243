package app

import (
	"context"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/vigil-project/vigil/internal/config"
	"github.com/vigil-project/vigil/internal/engine"
	"github.com/vigil-project/vigil/internal/processor"
	"github.com/vigil-project/vigil/internal/store"
)

// retain deletes archived events older than each tenant's retention, at
// start and then every interval, until ctx ends. The tenants are those
// detection has seen and those the configuration names.
func retain(ctx context.Context, st store.Retention, proc *processor.Processor, r config.Retention, every time.Duration, log *slog.Logger) {
	if r.Events == 0 && len(r.Tenants) == 0 {
		return
	}
	for {
		var mu sync.Mutex
		seen := map[string]bool{}
		for t := range r.Tenants {
			seen[t] = true
		}
		err := proc.Query(ctx, func(v engine.ShardView) {
			mu.Lock()
			defer mu.Unlock()
			for _, t := range v.Tenants() {
				seen[t] = true
			}
		})
		if err != nil {
			return // ctx ended: the query may still be running on the shards, and seen is theirs
		}
		tenants := make([]string, 0, len(seen))
		for t := range seen {
			tenants = append(tenants, t)
		}
		sort.Strings(tenants)
		for _, t := range tenants {
			keep := r.For(t)
			if keep <= 0 {
				continue
			}
			n, err := st.PruneEvents(ctx, store.AllTenants(), t, time.Now().Add(-keep).UnixNano())
			if err != nil && ctx.Err() == nil {
				log.Error("retention: deleting old events failed", "tenant", t, "err", err)
			} else if n > 0 {
				log.Info("retention: deleted events older than the tenant's retention", "tenant", t, "events", n, "keep", keep)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}
