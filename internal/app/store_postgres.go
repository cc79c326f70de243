package app

import (
	"context"
	"errors"

	"github.com/vigil-project/vigil/internal/store"
)

// openPostgres opens the PostgreSQL store.
func openPostgres(ctx context.Context, dsn string) (store.Store, error) {
	return nil, errors.New("the PostgreSQL store is not built into this binary yet: use the embedded store (--data-dir)")
}
