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

// TestIncidentEntitiesUpgrade: incidents keep their entities when the JSON
// copy of them leaves the incidents table.
func TestIncidentEntitiesUpgrade(t *testing.T) {
	dir := t.TempDir()
	storetest.UpgradeIncidentEntities(t, backend(t, dir), func(t *testing.T) { migrateBefore(t, dir, "incident_entities") })
}
