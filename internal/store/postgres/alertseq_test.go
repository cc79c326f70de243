package postgres

import (
	"testing"

	"github.com/vigil-project/vigil/internal/store/storetest"
)

// TestFollowAlertsTwoNodes: two nodes upsert alerts into one database
// while a reader follows the delivery sequence: numbers must become
// visible in order, without a gap, across nodes.
func TestFollowAlertsTwoNodes(t *testing.T) { storetest.FollowAlerts(t, twoNodes(t)) }

// TestAlertSeqUpgrade: alerts stored before the delivery sequence existed
// are numbered in creation order, and new ones follow.
func TestAlertSeqUpgrade(t *testing.T) {
	schema := freshSchema(t)
	storetest.UpgradeAlertSeq(t, backendIn(schema), func(t *testing.T) { migrateBefore(t, schema, "alert_seq") })
}

// TestIncidentEntitiesUpgrade: incidents keep their entities when the JSON
// copy of them leaves the incidents table.
func TestIncidentEntitiesUpgrade(t *testing.T) {
	schema := freshSchema(t)
	storetest.UpgradeIncidentEntities(t, backendIn(schema), func(t *testing.T) { migrateBefore(t, schema, "incident_entities") })
}
