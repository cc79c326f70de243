package twin

import "github.com/vigil-project/vigil/internal/event"

// RingMinutes is how many recent minutes TenantHealth remembers.
const RingMinutes = 32

// TenantHealth is what the service-anomaly detector learns about a whole
// tenant from its minute statistics (event.TenantStats): the telemetry
// rate and the command failure ratio, their baselines, and whether an
// anomaly is under way.
type TenantHealth struct {
	Minutes int   // minutes seen
	Last    int64 // start of the last minute seen

	// Telemetry events per minute, the last RingMinutes of them (index
	// Minutes % RingMinutes is the next).
	Telemetry [RingMinutes]int32
	Low       int     // consecutive minutes below the alert fraction
	High      int     // consecutive minutes back to normal, while Down
	Frozen    float64 // the reference rate when the low stretch began; 0 when none
	Down      bool    // a telemetry drop was told and has not recovered
	DownAt    int64
	DownRate  float64     // the recent rate when the drop was told
	LowRefs   []event.Ref // the minutes of the current low stretch, bounded

	// Refs is the statistics event of each minute in the rings.
	Refs [RingMinutes]event.Ref

	// Commands requested and failed (failed or rejected) per minute, and
	// whether the minute was part of a failure spike.
	Requested, Failed [RingMinutes]int32
	Spiky             [RingMinutes]bool
	ReqRate, FailRate float64 // learned means per minute, from minutes outside spikes
	Failing           bool    // a failure spike was told and has not ended
}

// Sum adds the last n minutes of ring r (n ≤ RingMinutes, and no more than
// the minutes seen).
func (h *TenantHealth) Sum(r *[RingMinutes]int32, n int) int { return h.SumAgo(r, 0, n) }

// SumAgo adds n minutes of ring r, skipping the newest skip minutes
// (skip+n ≤ RingMinutes; minutes never seen count zero).
func (h *TenantHealth) SumAgo(r *[RingMinutes]int32, skip, n int) int {
	s := 0
	for k := skip + 1; k <= min(skip+n, h.Minutes, RingMinutes); k++ {
		s += int(r[(h.Minutes-k)%RingMinutes])
	}
	return s
}

// Push records one minute in ring r at the current index; call Advance
// once all rings are pushed.
func (h *TenantHealth) Push(r *[RingMinutes]int32, v int) {
	r[h.Minutes%RingMinutes] = int32(min(v, 1<<31-1))
}

// Advance moves to the next minute.
func (h *TenantHealth) Advance(start int64) {
	h.Minutes++
	h.Last = start
}
