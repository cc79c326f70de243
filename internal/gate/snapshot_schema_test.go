package gate

import (
	"testing"

	"github.com/vigil-project/vigil/internal/snapshot/snapshottest"
)

// TestSnapshotSchema: the observer's shard state is in its snapshot (see
// snapshottest).
func TestSnapshotSchema(t *testing.T) {
	snapshottest.Check(t, "testdata/snapshot-schema.golden", snapshottest.Schema([]string{"twin.*"}, shardState{}))
}
