package sqlite

import (
	"context"
	"testing"

	"github.com/vigil-project/vigil/internal/store"
	"github.com/vigil-project/vigil/internal/store/storetest"
)

func BenchmarkScratchNormal(b *testing.B) {
	storetest.BenchInsertEvents(b, func(b *testing.B) store.Store {
		s, err := Open(context.Background(), b.TempDir(), Options{Synchronous: "normal"})
		if err != nil {
			b.Fatal(err)
		}
		return s
	})
}
