package ids

import (
	"fmt"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/event"
)

// CampaignConfig configures the fleet-wide IDS campaign detector.
type CampaignConfig struct {
	// Window is the sliding event-time window vehicles are counted in.
	// Default 30 minutes.
	Window time.Duration `yaml:"window"`
	// MinVehicles is how many distinct vehicles reporting the same IDS event
	// within the window make a campaign. Default 10.
	MinVehicles int `yaml:"min_vehicles"`
	// MinSeverity: reports below it are not counted (IDS products report
	// low-severity noise fleet-wide all day). Default medium; read with
	// event.ParseSeverity.
	MinSeverity event.Severity `yaml:"min_severity"`
	// Cooldown: quiet time per IDS event after an alert. Default 1 hour.
	Cooldown time.Duration `yaml:"cooldown"`
}

// Campaign raises in-vehicle-intrusion when the same IDS event (the same
// ECU and event id) is reported by many distinct vehicles of a tenant within
// a window: a worm, a malicious back-end message or a rogue base station
// reaching many cars at once. Reports are keyed by "ecu/event_id"
// (detect.KindArtifact), so one shard sees every report of an event.
type Campaign struct {
	cfg              CampaignConfig
	window, cooldown int64
	keep             int
}

// NewCampaign returns the detector.
func NewCampaign(cfg CampaignConfig) *Campaign {
	if cfg.Window <= 0 {
		cfg.Window = 30 * time.Minute
	}
	if cfg.MinVehicles <= 0 {
		cfg.MinVehicles = 10
	}
	if cfg.MinSeverity == event.SeverityUnset {
		cfg.MinSeverity = event.SeverityMedium
	}
	if cfg.Cooldown <= 0 {
		cfg.Cooldown = time.Hour
	}
	return &Campaign{cfg: cfg, window: int64(cfg.Window), cooldown: int64(cfg.Cooldown), keep: max(256, 4*cfg.MinVehicles)}
}

var (
	_ detect.Detector   = (*Campaign)(nil)
	_ detect.ShardLocal = (*Campaign)(nil)
)

// Info describes the detector.
func (d *Campaign) Info() detect.Info {
	return detect.Info{
		ID:       "ids.fleet-campaign",
		Category: alert.InVehicleIntrusion,
		Title:    "The same IDS event across the fleet",
		Description: fmt.Sprintf("%d or more distinct vehicles of a tenant reported the same IDS event (ECU and event id) of severity %s "+
			"or above within %v.", d.cfg.MinVehicles, d.cfg.MinSeverity, d.cfg.Window),
		Subscribe: []detect.Subscription{{Kind: detect.KindArtifact, Types: []event.Type{event.TypeIDS}}},
	}
}

// report is one counted report.
type report struct {
	vehicle string
	at      int64
	ref     event.Ref
}

// artifact is what a shard remembers of one IDS event of one tenant.
type artifact struct {
	reports   []report // oldest first, within the window, at most keep
	lastAlert int64
	last      int64 // newest report time, for forgetting idle events
}

type shardState struct {
	artifacts map[artifactKey]*artifact
}

type artifactKey struct{ tenant, key string }

// maxArtifacts: beyond this many remembered events a shard forgets idle ones.
const maxArtifacts = 4096

// NewShardState implements detect.ShardLocal.
func (d *Campaign) NewShardState() any { return &shardState{artifacts: map[artifactKey]*artifact{}} }

// OnEvent counts the report and alerts when the event has reached enough vehicles.
func (d *Campaign) OnEvent(c *detect.Context, s detect.State, ev *event.Event) {
	rep := ev.IDS
	if rep.Severity < d.cfg.MinSeverity || ev.Subject == "" {
		return
	}
	st := c.Local.(*shardState)
	k := artifactKey{c.Tenant, c.Key}
	a := st.artifacts[k]
	if a == nil {
		if len(st.artifacts) >= maxArtifacts {
			st.forget(ev.Time - d.window)
		}
		if len(st.artifacts) >= maxArtifacts {
			// Still full of live events: the least recently reported makes
			// way, so unique event ids cannot grow memory without end.
			var oldest artifactKey
			first := true
			for k, x := range st.artifacts {
				if first || x.last < st.artifacts[oldest].last {
					oldest, first = k, false
				}
			}
			delete(st.artifacts, oldest)
		}
		a = &artifact{}
		st.artifacts[k] = a
	}
	a.last = max(a.last, ev.Time)
	i := 0
	for i < len(a.reports) && a.reports[i].at < ev.Time-d.window {
		i++
	}
	if i > 0 || len(a.reports) >= d.keep {
		if len(a.reports) >= d.keep {
			i = max(i, d.keep/4) // full: make room for a while, not for one
		}
		n := copy(a.reports, a.reports[i:])
		clear(a.reports[n:])
		a.reports = a.reports[:n]
	}
	a.reports = append(a.reports, report{vehicle: ev.Subject, at: ev.Time, ref: ev.Ref()})
	if len(a.reports) < d.cfg.MinVehicles || (a.lastAlert != 0 && ev.Time-a.lastAlert < d.cooldown) {
		return
	}
	vehicles, refs := distinct(a.reports)
	if len(vehicles) < d.cfg.MinVehicles {
		return
	}
	a.lastAlert = ev.Time
	first := a.reports[0].at
	const maxListed = 50
	listed := vehicles
	if len(listed) > maxListed {
		listed = listed[:maxListed]
	}
	if len(refs) > maxListed {
		refs = refs[:maxListed]
	}
	c.Emit(&alert.Alert{
		Time:      ev.Time,
		FirstSeen: first,
		LastSeen:  ev.Time,
		Severity:  max(event.SeverityHigh, rep.Severity),
		Title:     fmt.Sprintf("IDS event %s on %d vehicles", rep.EventID, len(vehicles)),
		Explanation: fmt.Sprintf("%d distinct vehicles reported IDS event %s on ECU %s within %v, from %s to %s (threshold %d vehicles in %v, "+
			"severity %s or above): one cause is reaching many cars at once.",
			len(vehicles), rep.EventID, rep.ECU, time.Duration(ev.Time-first).Round(time.Second), fmtTime(first), fmtTime(ev.Time),
			d.cfg.MinVehicles, d.cfg.Window, d.cfg.MinSeverity),
		Entities: alert.Entities{Vehicles: listed},
		Evidence: refs,
	})
}

// distinct lists the vehicles of reports in order of their first report,
// with that report's reference.
func distinct(reports []report) ([]string, []event.Ref) {
	seen := make(map[string]struct{}, len(reports))
	var vs []string
	var refs []event.Ref
	for _, r := range reports {
		if _, ok := seen[r.vehicle]; ok {
			continue
		}
		seen[r.vehicle] = struct{}{}
		vs = append(vs, r.vehicle)
		refs = append(refs, r.ref)
	}
	return vs, refs
}

// forget drops the events not reported since before.
func (st *shardState) forget(before int64) {
	for k, a := range st.artifacts {
		if a.last < before {
			delete(st.artifacts, k)
		}
	}
}

// OnTimer is unused: the detector sets no timers.
func (d *Campaign) OnTimer(*detect.Context, detect.State, int64) {}
