package ids

import (
	"slices"

	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/twin"
)

var _ detect.Forgetter = (*Campaign)(nil)

// Forget drops an erased vehicle's reports from the campaigns the shard
// counts (docs/privacy.md); a campaign left with no report and no alert
// cooldown to keep goes. The cooldown names no vehicle.
func (d *Campaign) Forget(c *detect.Context, s twin.Subject) {
	if s.Kind != twin.SubjectVehicle {
		return
	}
	st := c.Local.(*shardState)
	for k, a := range st.artifacts {
		if k.tenant != c.Tenant {
			continue
		}
		n := len(a.reports)
		a.reports = slices.DeleteFunc(a.reports, func(r report) bool { return r.vehicle == s.Value })
		if len(a.reports) == 0 && n > 0 && a.lastAlert == 0 {
			delete(st.artifacts, k)
		}
	}
}
