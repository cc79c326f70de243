package rules

import (
	"testing"

	"github.com/vigil-project/vigil/internal/snapshot/snapshottest"
)

// TestSnapshotSchema: every field of a shard's rule state is in its
// snapshot (see snapshottest).
func TestSnapshotSchema(t *testing.T) {
	snapshottest.Check(t, "testdata/snapshot-schema.golden", snapshottest.Schema(
		[]string{"rules.rule", "rules.RuleSet", "rules.Detector", "rules.Env", "detect.*"}, shardState{}))
}
