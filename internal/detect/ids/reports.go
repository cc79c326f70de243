// Package ids holds the detectors of in-vehicle intrusions, from the
// reports of in-vehicle IDS / IDPS products.
package ids

import (
	"fmt"
	"strings"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/twin"
)

// ReportsConfig configures the per-vehicle IDS report detector. Severities
// are read from the configuration file with event.ParseSeverity.
type ReportsConfig struct {
	// MinSeverity: a report at or above it alerts on its own. Default high.
	MinSeverity event.Severity `yaml:"min_severity"`
	// CorrelateSeverity: a report at or above it is correlated with the
	// vehicle's other alerts. Default low (every report).
	CorrelateSeverity event.Severity `yaml:"correlate_severity"`
	// Window: how close in event time an IDS report and another alert on
	// the same vehicle must be, either way, to be correlated. Default 30m.
	Window time.Duration `yaml:"window"`
}

// Reports raises in-vehicle-intrusion for one vehicle's IDS reports:
//
//   - ids.high-severity: a report of severity high or critical (by
//     default), with the report's own severity;
//   - ids.correlated: a report of any severity (by default) and an alert of
//     another detector on the same vehicle within the window either side,
//     critical: what the IDS saw inside the car and what the back-end saw
//     outside it are probably one attack. An alert that comes after the
//     report is found when the window closes on event time.
//
// The other alert is known from twin.Vehicle.LastAlert, which the engine
// sets on every alert about the vehicle; the detector tells its own alerts
// apart by the time it last alerted (twin.MarkIDS).
type Reports struct {
	cfg    ReportsConfig
	window int64
}

// NewReports returns the detector.
func NewReports(cfg ReportsConfig) *Reports {
	if cfg.MinSeverity == event.SeverityUnset {
		cfg.MinSeverity = event.SeverityHigh
	}
	if cfg.CorrelateSeverity == event.SeverityUnset {
		cfg.CorrelateSeverity = event.SeverityLow
	}
	if cfg.Window <= 0 {
		cfg.Window = 30 * time.Minute
	}
	return &Reports{cfg: cfg, window: int64(cfg.Window)}
}

var _ detect.Detector = (*Reports)(nil)

// Info describes the detector.
func (r *Reports) Info() detect.Info {
	return detect.Info{
		ID:       "ids.reports",
		Category: alert.InVehicleIntrusion,
		Title:    "In-vehicle IDS report",
		Description: fmt.Sprintf("An in-vehicle IDS report of severity %s or above; or a report of severity %s or above within %v of "+
			"another detector's alert on the same vehicle (critical).", r.cfg.MinSeverity, r.cfg.CorrelateSeverity, r.cfg.Window),
		Subscribe: []detect.Subscription{{Kind: detect.KindVehicle, Types: []event.Type{event.TypeIDS}}},
	}
}

// OnEvent alerts on a severe report and correlates the report with the
// vehicle's other alerts.
func (r *Reports) OnEvent(c *detect.Context, s detect.State, ev *event.Event) {
	v, rep := s.Vehicle, ev.IDS
	// Read before this report's own alert moves LastAlert.
	other := r.otherAlert(v)
	if rep.Severity >= r.cfg.MinSeverity {
		r.mark(v, twin.MarkIDS, ev.Time)
		c.Emit(&alert.Alert{
			Detector:    "ids.high-severity",
			Time:        ev.Time,
			Severity:    rep.Severity,
			Title:       fmt.Sprintf("IDS: %s on %s of %s", rep.EventID, rep.ECU, c.Key),
			Explanation: fmt.Sprintf("The in-vehicle IDS of vehicle %s reported %s at %s (severity %s, at or above %s).", c.Key, describe(rep), fmtTime(ev.Time), rep.Severity, r.cfg.MinSeverity),
			Entities:    alert.Entities{Vehicle: c.Key},
			Evidence:    []event.Ref{ev.Ref()},
		})
	}
	if rep.Severity < r.cfg.CorrelateSeverity {
		return
	}
	// What, Who and ID keep the event id, the ECU and the severity: enough
	// to explain, without building text for reports that never correlate.
	a := twin.Awaiting{Kind: twin.AwaitIDS, At: ev.Time, Deadline: ev.Time + r.window, Ref: ev.Ref(), Who: rep.ECU, What: rep.EventID, ID: uint64(rep.Severity)}
	if other != 0 && abs(other-ev.Time) <= r.window {
		r.correlated(c, v, a, other)
		return
	}
	m := v.More()
	if old, full := m.Await(a); full {
		r.decide(c, v, old)
	}
	c.After(a.Deadline)
}

// otherAlert returns the time of the newest alert on v that is neither one
// of this detector's nor one it was already correlated with, 0 if none.
func (r *Reports) otherAlert(v *twin.Vehicle) int64 {
	t := v.LastAlert
	if t == 0 || t == v.LastMark(twin.MarkIDS) || t == v.LastMark(twin.MarkIDSPeer) {
		return 0
	}
	return t
}

func (r *Reports) mark(v *twin.Vehicle, m twin.Mark, t int64) { v.SetMark(m, t) }

// OnTimer decides the reports whose window closed.
func (r *Reports) OnTimer(c *detect.Context, s detect.State, deadline int64) {
	v := s.Vehicle
	m := v.MoreIfAny()
	if m == nil {
		return
	}
	m.Due(twin.AwaitIDS, deadline, func(a twin.Awaiting) { r.decide(c, v, a) })
}

func (r *Reports) decide(c *detect.Context, v *twin.Vehicle, a twin.Awaiting) {
	if other := r.otherAlert(v); other != 0 && abs(other-a.At) <= r.window {
		r.correlated(c, v, a, other)
	}
}

func (r *Reports) correlated(c *detect.Context, v *twin.Vehicle, a twin.Awaiting, other int64) {
	r.mark(v, twin.MarkIDSPeer, other)
	at := max(a.At, other)
	r.mark(v, twin.MarkIDS, at)
	order := "after"
	if other < a.At {
		order = "before"
	}
	c.Emit(&alert.Alert{
		Detector:  "ids.correlated",
		Time:      at,
		FirstSeen: min(a.At, other),
		LastSeen:  at,
		Severity:  event.SeverityCritical,
		Title:     fmt.Sprintf("IDS report and back-end alert on %s", c.Key),
		Explanation: fmt.Sprintf("The in-vehicle IDS of vehicle %s reported %s at %s, and another vigil alert was raised on the same vehicle "+
			"at %s, %v %s it (within the %v correlation window): what the car saw inside and what the back-end saw are probably one attack. "+
			"See the vehicle's other alerts in the incident.",
			c.Key, fmt.Sprintf("%s on ECU %s (severity %s)", a.What, a.Who, event.Severity(a.ID)), fmtTime(a.At), fmtTime(other), time.Duration(abs(other-a.At)).Round(time.Second), order, time.Duration(r.window)),
		Entities: alert.Entities{Vehicle: c.Key},
		Evidence: []event.Ref{a.Ref},
	})
}

// describe names a report: event, ECU, sensor, product, count.
func describe(rep *event.IDSReport) string {
	s := fmt.Sprintf("%s on ECU %s", rep.EventID, rep.ECU)
	var about []string
	if rep.Sensor != "" {
		about = append(about, "sensor "+rep.Sensor)
	}
	if rep.Product != "" {
		about = append(about, rep.Product)
	}
	if rep.HasCount {
		about = append(about, fmt.Sprintf("%d occurrence(s)", rep.Count))
	}
	if len(about) > 0 {
		s += " (" + strings.Join(about, ", ") + ")"
	}
	return s
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

func fmtTime(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }
