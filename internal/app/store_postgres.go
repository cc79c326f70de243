package app

import (
	"context"

	"github.com/vigil-project/vigil/internal/store"
	"github.com/vigil-project/vigil/internal/store/postgres"
)

// openPostgres opens the PostgreSQL store (the shared store of a cluster).
func openPostgres(ctx context.Context, dsn string) (store.Store, error) {
	return postgres.Open(ctx, dsn, postgres.Options{})
}
