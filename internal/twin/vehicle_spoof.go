package twin

import (
	"math"

	"github.com/vigil-project/vigil/internal/event"
)

// SpoofEpisode bounds a telemetry-spoofing episode. Once a telemetry-spoofing
// alert was raised on a vehicle (LastSpoofAlert), the twin keeps to the
// vehicle's plausible track: a fix that would be an impossible jump from the
// twin's position is not folded in (it is left out like a late fix), so the
// true track stays the reference while spoofed or cloned fixes come in, and
// the unit's return to the truth is not a jump of its own. The episode ends
// SpoofEpisode after its first such fix, or when no spoofing alert was
// raised for SpoofEpisode: then the twin follows the fixes again, so a
// vehicle that really moved (a ferry, a tow truck) is tracked again.
const SpoofEpisode = int64(30 * 60 * 1e9)

// The jump that is left out during an episode: the defaults of
// telemetry.impossible-movement.
const (
	episodeMaxSpeed = 300 / 3.6 // m/s
	episodeMinDist  = 2000.0    // m, plus the fix's stated accuracy
)

// leftOut reports whether the in-order fix ev is an impossible jump during
// a spoofing episode, to be left out of the twin.
func (v *Vehicle) leftOut(ev *event.Event) bool {
	if v.LastSpoofAlert == 0 || v.FixTime == 0 {
		return false
	}
	if ev.Time-v.LastSpoofAlert >= SpoofEpisode {
		if v.LastMark(MarkEpisode) != 0 {
			v.SetMark(MarkEpisode, 0)
		}
		return false
	}
	if !v.jump(&ev.Telemetry.Position, ev.Time) {
		return false
	}
	start := v.LastMark(MarkEpisode)
	if start == 0 {
		start = ev.Time
		v.SetMark(MarkEpisode, start)
	}
	if ev.Time-start >= SpoofEpisode {
		v.SetMark(MarkEpisode, 0)
		return false // long enough: follow the fixes again
	}
	return true
}

// jump reports whether p at time t lies farther from the twin's position
// than the vehicle could have driven since its fix.
func (v *Vehicle) jump(p *event.Position, t int64) bool {
	margin := episodeMinDist
	if p.HasAcc {
		margin += min(p.Accuracy, maxAccuracyM)
	}
	const rad = math.Pi / 180
	dy := (p.Lat - v.Lat) * 111_195
	dx := (p.Lon - v.Lon) * 111_195 * math.Cos((p.Lat+v.Lat)/2*rad)
	d := math.Hypot(dx, dy)
	if d <= margin {
		return false
	}
	dt := float64(t-v.FixTime) / 1e9
	return dt <= 0 || d/dt > episodeMaxSpeed
}

// maxAccuracyM caps the accuracy a fix may claim for the margin of a jump:
// a spoofer stating 10,000 km must not make every jump plausible.
const maxAccuracyM = 5000.0
