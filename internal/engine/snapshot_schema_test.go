package engine

import (
	"testing"

	"github.com/vigil-project/vigil/internal/snapshot/snapshottest"
)

// TestSnapshotSchema: every field of the router's and the shards' state is
// in the engine's snapshot (see snapshottest; the twin guards its own).
func TestSnapshotSchema(t *testing.T) {
	snapshottest.Check(t, "testdata/snapshot-schema.golden", snapshottest.Schema(
		[]string{"twin.*", "engine.Engine", "engine.item", "detect.*"}, router{}, shard{}, tenantState{}, timer{}, counters{}, DetectorStats{}))
}
