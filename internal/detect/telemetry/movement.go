// Package telemetry holds the detectors of spoofed or manipulated telemetry.
package telemetry

import (
	"fmt"
	"math"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/event"
)

// MovementConfig configures the impossible movement detector.
type MovementConfig struct {
	MaxSpeedKmh  float64       `yaml:"max_speed_kmh"`  // fastest plausible ground speed, default 300
	MinDistanceM float64       `yaml:"min_distance_m"` // jumps shorter than this are GPS noise, default 2000
	Cooldown     time.Duration `yaml:"cooldown"`       // quiet time per vehicle after an alert, default 10m
}

// Movement raises telemetry-spoofing when two consecutive fixes of a vehicle
// are further apart than it could have driven in the time between them.
type Movement struct {
	cfg      MovementConfig
	cooldown int64
}

// NewMovement returns the detector.
func NewMovement(cfg MovementConfig) *Movement {
	if cfg.MaxSpeedKmh <= 0 {
		cfg.MaxSpeedKmh = 300
	}
	if cfg.MinDistanceM <= 0 {
		cfg.MinDistanceM = 2000
	}
	if cfg.Cooldown <= 0 {
		cfg.Cooldown = 10 * time.Minute
	}
	return &Movement{cfg: cfg, cooldown: int64(cfg.Cooldown)}
}

var _ detect.Detector = (*Movement)(nil)

// Info describes the detector.
func (m *Movement) Info() detect.Info {
	return detect.Info{
		ID:       "telemetry.impossible-movement",
		Category: alert.TelemetrySpoofing,
		Title:    "Impossible movement between fixes",
		Description: fmt.Sprintf("Two consecutive fixes of a vehicle imply a speed above %.0f km/h over more than %.0f m.",
			m.cfg.MaxSpeedKmh, m.cfg.MinDistanceM),
		Subscribe: []detect.Subscription{{Kind: detect.KindVehicle, Types: []event.Type{event.TypeTelemetry}}},
	}
}

// OnEvent compares the fix with the twin's last one.
func (m *Movement) OnEvent(c *detect.Context, s detect.State, ev *event.Event) {
	v := s.Vehicle
	if v.FixTime == 0 || ev.Time < v.FixTime {
		return
	}
	p := &ev.Telemetry.Position
	margin := m.cfg.MinDistanceM
	if p.HasAcc {
		margin += min(p.Accuracy, MaxAccuracyM) // a huge stated accuracy must not hide a jump
	}
	// Cheap bound first: a degree is at most 111.2 km in either axis, so
	// fixes this close cannot be further apart than margin.
	dLat, dLon := p.Lat-v.Lat, p.Lon-v.Lon
	if (dLat*dLat+dLon*dLon)*metresPerDegree*metresPerDegree <= margin*margin {
		return
	}
	dist := Haversine(v.Lat, v.Lon, p.Lat, p.Lon)
	if dist <= margin {
		return
	}
	dt := float64(ev.Time-v.FixTime) / 1e9
	kmh := math.Inf(1)
	if dt > 0 {
		kmh = dist / dt * 3.6
	}
	if kmh <= m.cfg.MaxSpeedKmh {
		return
	}
	if v.LastSpoofAlert != 0 && ev.Time-v.LastSpoofAlert < m.cooldown {
		return
	}
	v.LastSpoofAlert = ev.Time
	implied := "an instant jump"
	if !math.IsInf(kmh, 1) {
		implied = fmt.Sprintf("%.0f km/h implied", kmh)
	}
	sev := event.SeverityMedium
	if dist > 50_000 {
		sev = event.SeverityHigh
	}
	c.Emit(&alert.Alert{
		Time:      ev.Time,
		FirstSeen: v.FixTime,
		LastSeen:  ev.Time,
		Severity:  sev,
		Explanation: fmt.Sprintf("Vehicle %s moved %.1f km in %.1f s between the fix at %s (%.5f, %.5f) and the fix at %s (%.5f, %.5f): "+
			"%s, above the %.0f km/h limit.", c.Key, dist/1000, dt, fmtTime(v.FixTime), v.Lat, v.Lon, fmtTime(ev.Time), p.Lat, p.Lon,
			implied, m.cfg.MaxSpeedKmh),
		Entities: alert.Entities{Vehicle: c.Key},
		Evidence: []event.Ref{v.FixRef, ev.Ref()},
	})
}

// OnTimer is unused: the detector sets no timers.
func (m *Movement) OnTimer(*detect.Context, detect.State, int64) {}

const metresPerDegree = 111_195.0

// MaxAccuracyM caps the accuracy a fix may claim for the margin of a jump:
// a spoofer stating an accuracy of 10,000 km must not make every jump
// plausible.
const MaxAccuracyM = 5000.0

// Haversine returns the great-circle distance in metres.
func Haversine(lat1, lon1, lat2, lon2 float64) float64 {
	const r = 6371008.8
	const rad = math.Pi / 180
	dLat := (lat2 - lat1) * rad
	dLon := (lon2 - lon1) * rad
	a := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * r * math.Asin(math.Min(1, math.Sqrt(a)))
}

func fmtTime(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }
