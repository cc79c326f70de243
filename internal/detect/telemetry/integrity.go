package telemetry

import (
	"fmt"
	"strings"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/twin"
)

// IntegrityConfig configures the telemetry integrity detector.
type IntegrityConfig struct {
	// SeqResetMax: a message counter at or below this after a higher one is
	// a unit that rebooted (or a counter that wrapped), not a regression,
	// unless the fix also jumps far away. Default 16.
	SeqResetMax uint64 `yaml:"seq_reset_max"`
	// OdometerSlackM: how far Vehicle.TraveledDistance may go back before
	// it is a rollback (rounding, late corrections). Default 1000 m.
	OdometerSlackM float64 `yaml:"odometer_slack_m"`
	// CloneDistanceM and MaxSpeedKmh: a fix whose counter or odometer goes
	// back while it lies more than CloneDistanceM from the previous fix, at
	// more than MaxSpeedKmh, comes from a second unit. Defaults 20 km and
	// 300 km/h.
	CloneDistanceM float64 `yaml:"clone_distance_m"`
	MaxSpeedKmh    float64 `yaml:"max_speed_kmh"`
	// Cooldown is the quiet time per vehicle and finding after an alert.
	// Default 30 minutes.
	Cooldown time.Duration `yaml:"cooldown"`
}

// Integrity raises telemetry-spoofing when what a vehicle's telematics unit
// reports about itself contradicts what it reported before. Fixes are
// compared with the twin's newest fix; fixes older than it (late
// deliveries) are not, except for the future-timestamp check. One alert per
// fix names every finding; its detector id is the gravest:
//
//   - telemetry.cloned-device: the message counter or the odometer goes
//     back while the fix lies far away at an impossible speed: two units
//     report as one vehicle (the same IMEI and SIM), each with its own
//     counter and odometer.
//   - telemetry.sim-swap: the IMEI or the ICCID changed. IMEI alone: the SIM
//     moved to another device; ICCID alone: another SIM in the unit; both:
//     the unit was replaced.
//   - telemetry.odometer-rollback: Vehicle.TraveledDistance went back.
//   - telemetry.seq-regression: the message counter went back or repeated
//     (a replayed or injected message), other than a reset to a small value
//     after a reboot.
//   - telemetry.future-timestamp: a fix stamped more than
//     twin.FutureSkew before the twin's newest fix carries the counter that
//     follows it: the newest fix was stamped in the future (a wrong clock or
//     an injected message that would freeze the twin). The twin then takes
//     the newer message as its newest fix. Units without a message counter
//     are not checked.
//
// Cost per fix on the common path: a few comparisons and two short string
// comparisons, no allocation.
type Integrity struct {
	cfg        IntegrityConfig
	cooldown   int64
	maxSpeedMS float64
}

// NewIntegrity returns the detector.
func NewIntegrity(cfg IntegrityConfig) *Integrity {
	if cfg.SeqResetMax == 0 {
		cfg.SeqResetMax = 16
	}
	if cfg.OdometerSlackM <= 0 {
		cfg.OdometerSlackM = 1000
	}
	if cfg.CloneDistanceM <= 0 {
		cfg.CloneDistanceM = 20_000
	}
	if cfg.MaxSpeedKmh <= 0 {
		cfg.MaxSpeedKmh = 300
	}
	if cfg.Cooldown <= 0 {
		cfg.Cooldown = 30 * time.Minute
	}
	return &Integrity{cfg: cfg, cooldown: int64(cfg.Cooldown), maxSpeedMS: cfg.MaxSpeedKmh / 3.6}
}

var _ detect.Detector = (*Integrity)(nil)

// Info describes the detector.
func (d *Integrity) Info() detect.Info {
	return detect.Info{
		ID:       "telemetry.integrity",
		Category: alert.TelemetrySpoofing,
		Title:    "Telematics unit contradicts itself",
		Description: fmt.Sprintf("A vehicle's message counter or odometer (beyond %.0f m) goes back, with a jump of more than %.0f km at "+
			"over %.0f km/h (a cloned unit) or without (a replay, a rollback); its IMEI or ICCID changes (SIM swap); or a fix stamped "+
			"over %v before the newest carries the next counter (a timestamp in the future).",
			d.cfg.OdometerSlackM, d.cfg.CloneDistanceM/1000, d.cfg.MaxSpeedKmh, time.Duration(twin.FutureSkew)),
		Subscribe: []detect.Subscription{{Kind: detect.KindVehicle, Types: []event.Type{event.TypeTelemetry}}},
	}
}

// finding kinds, gravest first.
const (
	findClone = iota
	findSIM
	findOdometer
	findSeq
	findFuture
	numFindings
)

var findingIDs = [numFindings]string{"telemetry.cloned-device", "telemetry.sim-swap", "telemetry.odometer-rollback",
	"telemetry.seq-regression", "telemetry.future-timestamp"}

var findingMarks = [numFindings]twin.Mark{twin.MarkClone, twin.MarkSIM, twin.MarkOdometer, twin.MarkSeq, twin.MarkFuture}

var findingTitles = [numFindings]string{"Two units report as one vehicle", "SIM or telematics unit changed",
	"Odometer rolled back", "Message counter went back", "Telemetry stamped in the future"}

// OnEvent compares the fix with the twin's newest.
func (d *Integrity) OnEvent(c *detect.Context, s detect.State, ev *event.Event) {
	v, t := s.Vehicle, ev.Telemetry
	if v.FixTime == 0 {
		return
	}
	if ev.Time < v.FixTime {
		if v.FollowsFutureFix(ev) {
			d.future(c, v, ev)
		}
		return
	}
	seqBack := t.HasSeq && v.HasSeq() && t.Seq <= v.Seq
	odoBack := t.Signals.HasTraveledDistance && v.HasOdometer() && t.Signals.TraveledDistance < v.Odometer-d.cfg.OdometerSlackM
	var imei, iccid bool
	if dv := t.Device; dv != nil {
		imei = dv.IMEI != "" && v.IMEI != "" && dv.IMEI != v.IMEI
		iccid = dv.ICCID != "" && v.ICCID != "" && dv.ICCID != v.ICCID
	}
	if !seqBack && !odoBack && !imei && !iccid {
		return
	}
	d.judge(c, v, ev, seqBack, odoBack, imei, iccid)
}

// judge builds the findings of a fix that contradicts the twin.
func (d *Integrity) judge(c *detect.Context, v *twin.Vehicle, ev *event.Event, seqBack, odoBack, imei, iccid bool) {
	t := ev.Telemetry
	p := &t.Position
	dist := Haversine(v.Lat, v.Lon, p.Lat, p.Lon)
	dt := float64(ev.Time-v.FixTime) / 1e9
	far := dist > d.cfg.CloneDistanceM && (dt <= 0 || dist/dt > d.maxSpeedMS)
	reset := seqBack && t.Seq <= d.cfg.SeqResetMax && t.Seq < v.Seq
	var found [numFindings]bool
	var texts []string
	prev := fmt.Sprintf("the fix at %s", fmtTime(v.FixTime))
	switch {
	case far && (seqBack || odoBack):
		found[findClone] = true
		texts = append(texts, fmt.Sprintf("it lies %.0f km from that fix, %s (%s, above %.0f km/h): a second unit reports as this vehicle",
			dist/1000, durationText(dt), speedText(dist, dt), d.cfg.MaxSpeedKmh))
	}
	if seqBack && (!reset || found[findClone]) {
		found[findSeq] = true
		verb := "went back"
		if t.Seq == v.Seq {
			verb = "repeated"
		}
		text := fmt.Sprintf("its message counter %s from %d to %d", verb, v.Seq, t.Seq)
		if !found[findClone] {
			text += fmt.Sprintf(" (a reboot would reset it to %d or below)", d.cfg.SeqResetMax)
		}
		texts = append(texts, text)
	}
	if odoBack {
		found[findOdometer] = true
		texts = append(texts, fmt.Sprintf("its odometer went back %.1f km, from %.1f km to %.1f km (slack %.0f m)",
			(v.Odometer-t.Signals.TraveledDistance)/1000, v.Odometer/1000, t.Signals.TraveledDistance/1000, d.cfg.OdometerSlackM))
	}
	if imei || iccid {
		found[findSIM] = true
		dv := t.Device
		switch {
		case imei && iccid:
			texts = append(texts, fmt.Sprintf("both its IMEI (%s → %s) and its ICCID (%s → %s) changed: another unit with another SIM", v.IMEI, dv.IMEI, v.ICCID, dv.ICCID))
		case imei:
			texts = append(texts, fmt.Sprintf("its IMEI changed from %s to %s with the same SIM: the SIM moved to another device", v.IMEI, dv.IMEI))
		default:
			texts = append(texts, fmt.Sprintf("its ICCID changed from %s to %s in the same unit: another SIM", v.ICCID, dv.ICCID))
		}
	}
	main := -1
	for k := range numFindings {
		if found[k] {
			main = k
			break
		}
	}
	if main < 0 {
		return // a counter reset after a reboot
	}
	if last := v.LastMark(findingMarks[main]); last != 0 && ev.Time-last < d.cooldown {
		return
	}
	v.SetMark(findingMarks[main], ev.Time)
	v.LastSpoofAlert = max(v.LastSpoofAlert, ev.Time) // opens a spoofing episode (twin.SpoofEpisode)
	sev := event.SeverityMedium
	switch {
	case found[findClone], found[findOdometer], imei:
		sev = event.SeverityHigh
	}
	c.Emit(&alert.Alert{
		Detector:  findingIDs[main],
		Time:      ev.Time,
		FirstSeen: v.FixTime,
		LastSeen:  ev.Time,
		Severity:  sev,
		Title:     fmt.Sprintf("%s: %s", findingTitles[main], c.Key),
		Explanation: fmt.Sprintf("Vehicle %s reported a fix at %s (%.5f, %.5f) that contradicts %s (%.5f, %.5f): %s.",
			c.Key, fmtTime(ev.Time), p.Lat, p.Lon, prev, v.Lat, v.Lon, strings.Join(texts, "; ")),
		Entities: alert.Entities{Vehicle: c.Key, Device: imeiOf(t)},
		Evidence: []event.Ref{v.FixRef, ev.Ref()},
	})
}

// future alerts on a fix that shows the twin's newest fix was stamped in the future.
func (d *Integrity) future(c *detect.Context, v *twin.Vehicle, ev *event.Event) {
	if last := v.LastMark(twin.MarkFuture); last != 0 && abs(ev.Time-last) < d.cooldown {
		return
	}
	v.SetMark(twin.MarkFuture, ev.Time)
	v.LastSpoofAlert = max(v.LastSpoofAlert, ev.Time)
	ahead := time.Duration(v.FixTime - ev.Time).Round(time.Second)
	c.Emit(&alert.Alert{
		Detector:  findingIDs[findFuture],
		Time:      ev.Time,
		FirstSeen: ev.Time,
		LastSeen:  v.FixTime,
		Severity:  event.SeverityMedium,
		Title:     fmt.Sprintf("%s: %s", findingTitles[findFuture], c.Key),
		Explanation: fmt.Sprintf("Vehicle %s sent message %d stamped %s, %v after message %d stamped %s in its counter but %v before it in time "+
			"(more than %v): message %d was stamped in the future, by a wrong clock or an injected message. vigil now takes message %d "+
			"as the newest.", c.Key, ev.Telemetry.Seq, fmtTime(ev.Time), seqGap(ev.Telemetry.Seq-v.Seq), v.Seq, fmtTime(v.FixTime), ahead,
			time.Duration(twin.FutureSkew), v.Seq, ev.Telemetry.Seq),
		Entities: alert.Entities{Vehicle: c.Key, Device: imeiOf(ev.Telemetry)},
		Evidence: []event.Ref{v.FixRef, ev.Ref()},
	})
}

func seqGap(n uint64) string {
	if n == 1 {
		return "right"
	}
	return fmt.Sprintf("%d messages", n)
}

// OnTimer is unused: the detector sets no timers.
func (d *Integrity) OnTimer(*detect.Context, detect.State, int64) {}

func speedText(dist, dt float64) string {
	if dt <= 0 {
		return "no time to get there"
	}
	return fmt.Sprintf("%.0f km/h needed", dist/dt*3.6)
}

func durationText(dt float64) string {
	if dt <= 0 {
		return "at the same instant"
	}
	return time.Duration(dt*1e9).Round(time.Second).String() + " later"
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}
