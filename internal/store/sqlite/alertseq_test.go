package sqlite

import (
	"testing"

	"github.com/vigil-project/vigil/internal/store/storetest"
)

// TestAlertSeqUpgrade: alerts stored before the delivery sequence existed
// are numbered in creation order, and new ones follow.
func TestAlertSeqUpgrade(t *testing.T) {
	dir := t.TempDir()
	storetest.UpgradeAlertSeq(t, backend(t, dir), func(t *testing.T) { migrateBefore(t, dir, "alert_seq") })
}
