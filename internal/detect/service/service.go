// Package service holds the detector of back-end outages seen in a tenant's
// traffic as a whole: telemetry that stops arriving, commands that stop
// getting through.
//
// Ingest rejection spikes are not visible to detectors yet: the engine only
// sees accepted events, and its minute statistics do not count rejections.
package service

import (
	"fmt"
	"strings"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/twin"
)

// Config configures the service-anomaly detector. Zero fields take the
// documented defaults.
type Config struct {
	// Fraction: a telemetry drop is the mean rate of the last Recent
	// minutes below this share of the reference rate: the mean of the
	// Reference minutes before them. Default 0.5.
	Fraction float64 `yaml:"fraction"`
	// Recover: the drop ends when the rate is back above this share of the
	// reference, or above Fraction of it and twice the rate the drop was
	// told at, for Sustain minutes. Default 0.8.
	Recover float64 `yaml:"recover"`
	// Sustain is how many consecutive minutes the rate must stay below
	// Fraction before the drop is told (and back up before it ends).
	// Default 5.
	Sustain int `yaml:"sustain"`
	// Recent is how many minutes make the current rate. Default 5.
	Recent int `yaml:"recent"`
	// Reference is how many minutes before those make the reference rate
	// (Recent+Reference at most 32); it is frozen while the rate is low.
	// Default 15.
	Reference int `yaml:"reference"`
	// Trend is how much of a rising trend in the reference minutes is
	// projected onto the recent ones (so that an outage in the morning rush
	// is measured against where traffic was heading), at most +30%; 0
	// disables it. Falling trends are never projected. Default 0.5.
	Trend float64 `yaml:"trend"`
	// StepMinutes: a drop is also told at once when this many consecutive
	// minutes each fall below Fraction of the mean of the three minutes
	// before them (or before the minute before them, which the outage may
	// have begun in) — a step no busy tenant's traffic takes by itself,
	// even while the rest of it still climbs. Negative disables. Default 2.
	StepMinutes int `yaml:"step_minutes"`
	// MinRate is the reference telemetry events per minute below which a
	// tenant is too small to judge. Default 20.
	MinRate float64 `yaml:"min_rate"`
	// Warmup is how many minutes of statistics a tenant needs before it is
	// judged. Default 30.
	Warmup int `yaml:"warmup"`
	// MaxOutage is how long a low rate may last before it becomes the new
	// normal (the drop ends quietly). Default 6h.
	MaxOutage time.Duration `yaml:"max_outage"`

	// FailWindow is how many minutes of commands the failure ratio is taken
	// over (at most 31). Default 10.
	FailWindow int `yaml:"fail_window"`
	// MinFailures is the fewest failed or rejected commands in FailWindow
	// that can be a spike. Default 10.
	MinFailures int `yaml:"min_failures"`
	// FailRatio is the share of requested commands failing in FailWindow
	// that makes a spike. Default 0.5.
	FailRatio float64 `yaml:"fail_ratio"`
	// FailFactor is how many times the learned failure ratio the ratio in
	// FailWindow must also be. The learned ratio follows about a day of
	// minutes outside spikes, starting from 5% as if 200 requests had been
	// seen. Default 5.
	FailFactor float64 `yaml:"fail_factor"`
}

func (c *Config) defaults() {
	if c.Fraction <= 0 {
		c.Fraction = 0.5
	}
	if c.Recover <= 0 {
		c.Recover = 0.8
	}
	if c.Sustain <= 0 {
		c.Sustain = 5
	}
	if c.Recent <= 0 {
		c.Recent = 5
	}
	if c.Reference <= 0 {
		c.Reference = 15
	}
	if c.StepMinutes == 0 {
		c.StepMinutes = 2
	}
	c.StepMinutes = min(c.StepMinutes, twin.RingMinutes-stepBase)
	if c.Trend == 0 {
		c.Trend = 0.5
	}
	c.Trend = max(c.Trend, 0) // a negative Trend turns projection off
	c.Recent = min(c.Recent, twin.RingMinutes/2)
	c.Reference = min(c.Reference, twin.RingMinutes-c.Recent)
	if c.MinRate <= 0 {
		c.MinRate = 20
	}
	if c.Warmup <= 0 {
		c.Warmup = 30
	}
	if c.MaxOutage <= 0 {
		c.MaxOutage = 6 * time.Hour
	}
	if c.FailWindow <= 0 {
		c.FailWindow = 10
	}
	c.FailWindow = min(c.FailWindow, twin.RingMinutes-1)
	if c.MinFailures <= 0 {
		c.MinFailures = 10
	}
	if c.FailRatio <= 0 {
		c.FailRatio = 0.5
	}
	if c.FailFactor <= 0 {
		c.FailFactor = 5
	}
}

// Service raises service-anomaly on a tenant's minute statistics:
//
//   - service.telemetry-drop: the tenant's telemetry rate over the last
//     minutes falls below a fraction of its rate just before, and stays
//     there; told once, recovers quietly. Comparing with the minutes just
//     before (not with a long mean) follows the day's rhythm, the morning
//     rush included, and catches outages as the steps they are.
//   - service.command-failures: the share of the tenant's commands that
//     fail or are rejected spikes, far above its learned share; told once
//     per spike.
//
// Blind spots: a decline slower than the reference window (a failure that
// spreads over an hour) looks like the evening; a small tenant whose
// vehicles park together (one operator's shift ending) can halve its rate
// for a few minutes, which Sustain is there to outlast.
type Service struct {
	cfg detect.PerTenant[Config]
}

// New returns the detector; cfg.Default applies to tenants without an entry
// of their own.
func New(cfg detect.PerTenant[Config]) *Service {
	cfg = cfg.With((*Config).defaults) // the caller's settings stay as they were
	return &Service{cfg: cfg}
}

var _ detect.Detector = (*Service)(nil)

// Info describes the detector.
func (d *Service) Info() detect.Info {
	c := &d.cfg.Default
	return detect.Info{
		ID:       "service.tenant-health",
		Category: alert.ServiceAnomaly,
		Title:    "Tenant traffic anomaly",
		Description: fmt.Sprintf("A tenant's telemetry over the last %d minutes falls below %.0f%% of its rate in the %d minutes before "+
			"(a rising trend %.1f× projected; tenants under %.0f events a minute not judged) for %d minutes; or %d or more commands "+
			"fail or are rejected within %d minutes, at least %.0f%% of those requested and %.0f× the learned share. "+
			"Ingest rejections are not seen.", c.Recent, c.Fraction*100, c.Reference, c.Trend, c.MinRate, c.Sustain, c.MinFailures,
			c.FailWindow, c.FailRatio*100, c.FailFactor),
		Subscribe: []detect.Subscription{{Kind: detect.KindTenant, Types: []event.Type{event.TypeTenantStats}}},
	}
}

// OnEvent takes one minute of a tenant's statistics.
func (d *Service) OnEvent(c *detect.Context, s detect.State, ev *event.Event) {
	st := ev.Stats
	if st == nil {
		return
	}
	p := s.Principal
	if p.Health == nil {
		p.Health = &twin.TenantHealth{}
	}
	h := p.Health
	if h.Minutes > 0 && st.Start <= h.Last {
		return // a minute told twice or out of order
	}
	cfg := d.cfg.For(c.Tenant)
	h.Push(&h.Telemetry, st.ByType[event.TypeTelemetry])
	h.Push(&h.Requested, st.Commands[event.StageRequested])
	h.Push(&h.Failed, st.Commands[event.StageFailed]+st.Commands[event.StageRejected])
	h.Refs[h.Minutes%twin.RingMinutes] = ev.Ref()
	h.Advance(st.Start)
	d.telemetry(c, cfg, h, ev)
	d.commands(c, cfg, h, ev)
}

func (d *Service) telemetry(c *detect.Context, cfg *Config, h *twin.TenantHealth, ev *event.Event) {
	if h.Minutes < cfg.Recent+cfg.Reference {
		return
	}
	recent := float64(h.Sum(&h.Telemetry, cfg.Recent)) / float64(cfg.Recent)
	ref := h.Frozen
	if ref == 0 {
		ref = reference(h, cfg)
	}
	ratio := 1.0
	if ref > 0 {
		ratio = recent / ref
	}
	if h.Down {
		back := ratio >= cfg.Recover || (ratio >= cfg.Fraction && recent >= h.DownRate/cfg.Fraction)
		if back {
			h.High++
		} else {
			h.High = 0
		}
		if h.High >= cfg.Sustain || ev.Time-h.DownAt > int64(cfg.MaxOutage) {
			h.Down, h.Low, h.High, h.Frozen, h.LowRefs = false, 0, 0, 0, h.LowRefs[:0]
		}
		return
	}
	if d.step(c, cfg, h, ev, recent) {
		return
	}
	if h.Minutes <= cfg.Warmup || ref < cfg.MinRate || ratio >= cfg.Fraction {
		h.Low, h.Frozen, h.LowRefs = 0, 0, h.LowRefs[:0]
		return
	}
	if h.Low == 0 {
		h.Frozen = ref // the stretch is judged against the rate before it
	}
	h.Low++
	if len(h.LowRefs) < 20 {
		h.LowRefs = append(h.LowRefs, ev.Ref())
	}
	if h.Low < cfg.Sustain {
		return
	}
	h.Down, h.DownAt, h.DownRate, h.High = true, ev.Time, recent, 0
	first := ev.Stats.Start - int64(h.Low-1)*int64(time.Minute)
	c.Emit(&alert.Alert{
		Detector: "service.telemetry-drop", Time: ev.Time, FirstSeen: first, LastSeen: ev.Time, Severity: event.SeverityHigh,
		Title: fmt.Sprintf("Telemetry of tenant %s fell to %.0f%% of its rate", c.Tenant, ratio*100),
		Explanation: fmt.Sprintf("Tenant %s sent %.0f telemetry events a minute over the last %d minutes, %.0f%% of the %.0f a minute "+
			"expected from the %d minutes before the drop (threshold %.0f%%), below the threshold for %d minutes in a row since %s: "+
			"vehicles, gateways or the ingest path stopped reporting.", c.Tenant, recent, cfg.Recent, ratio*100, ref, cfg.Reference,
			cfg.Fraction*100, h.Low, fmtTime(first)),
		Evidence: append([]event.Ref(nil), h.LowRefs...),
	})
}

// stepBase is how many minutes before a step make its reference.
const stepBase = 3

// step tells a drop that came as a step: StepMinutes minutes in a row each
// below Fraction of the mean of the stepBase minutes before them, or of the
// stepBase minutes before the one before them (an outage rarely begins on a
// minute's boundary: the minute it begins in is only partly down).
func (d *Service) step(c *detect.Context, cfg *Config, h *twin.TenantHealth, ev *event.Event, recent float64) bool {
	k := cfg.StepMinutes
	if k <= 0 || h.Minutes <= cfg.Warmup {
		return false
	}
	var ref float64
	var low [twin.RingMinutes]string
	for gap := 0; gap <= 1 && ref == 0; gap++ {
		if h.Minutes < k+gap+stepBase {
			break
		}
		r := float64(h.SumAgo(&h.Telemetry, k+gap, stepBase)) / stepBase
		if r < cfg.MinRate {
			continue
		}
		ref = r
		for i := range k {
			x := h.Telemetry[(h.Minutes-k+i)%twin.RingMinutes]
			if float64(x) >= cfg.Fraction*r {
				ref = 0
				break
			}
			low[i] = fmt.Sprint(x)
		}
	}
	if ref == 0 {
		return false
	}
	lowRate := float64(h.Sum(&h.Telemetry, k)) / float64(k)
	h.Down, h.DownAt, h.DownRate, h.High, h.Frozen, h.Low = true, ev.Time, lowRate, 0, ref, 0
	first := ev.Stats.Start - int64(k-1)*int64(time.Minute)
	refs := make([]event.Ref, 0, k)
	for i := range k {
		refs = append(refs, h.Refs[(h.Minutes-k+i)%twin.RingMinutes])
	}
	c.Emit(&alert.Alert{
		Detector: "service.telemetry-drop", Time: ev.Time, FirstSeen: first, LastSeen: ev.Time, Severity: event.SeverityHigh,
		Title: fmt.Sprintf("Telemetry of tenant %s fell to %.0f%% of its rate", c.Tenant, lowRate/ref*100),
		Explanation: fmt.Sprintf("Tenant %s sent %s telemetry events in the %d minutes since %s, after %.0f a minute in the %d minutes "+
			"just before: each below %.0f%% of that, a step down, not the day's rhythm (the last %d minutes average %.0f). Vehicles, "+
			"gateways or the ingest path stopped reporting.", c.Tenant, strings.Join(low[:k], " and "), k, fmtTime(first), ref,
			stepBase, cfg.Fraction*100, cfg.Recent, recent),
		Evidence: refs,
	})
	return true
}

// trendCap bounds the projected reference at this multiple of the
// reference minutes' mean.
const trendCap = 1.3

// reference is the telemetry rate the recent minutes are judged against:
// the mean of the Reference minutes before them, raised by Trend times a
// rising least-squares trend carried forward to the middle of the recent
// minutes.
func reference(h *twin.TenantHealth, cfg *Config) float64 {
	w := cfg.Reference
	mean := float64(h.SumAgo(&h.Telemetry, cfg.Recent, w)) / float64(w)
	if cfg.Trend <= 0 || w < 2 {
		return mean
	}
	// Minute i = 0 is the oldest of the reference window.
	var num, den float64
	xm := float64(w-1) / 2
	for i := range w {
		ago := cfg.Recent + w - i // minutes back from the newest, 1-based
		y := float64(h.Telemetry[(h.Minutes-ago)%twin.RingMinutes])
		num += (float64(i) - xm) * (y - mean)
		den += (float64(i) - xm) * (float64(i) - xm)
	}
	slope := num / den
	if slope <= 0 {
		return mean
	}
	return min(mean+cfg.Trend*slope*float64(w+cfg.Recent)/2, trendCap*mean)
}

// priorRequests is how many requests' worth of belief the learned failure
// share starts from, at priorFailShare.
const (
	priorRequests  = 200
	priorFailShare = 0.05
	learnMinutes   = 1440 // the learned rates follow about a day
)

func (d *Service) commands(c *detect.Context, cfg *Config, h *twin.TenantHealth, ev *event.Event) {
	n := min(cfg.FailWindow, h.Minutes)
	cur := (h.Minutes - 1) % twin.RingMinutes
	h.Spiky[cur] = h.Failing
	// Learn from the minute that just left the window, unless it was part
	// of a spike: a spike must not teach its own baseline before it is told.
	if old := h.Minutes - 1 - cfg.FailWindow; old >= 0 {
		if i := old % twin.RingMinutes; !h.Spiky[i] {
			h.ReqRate += (float64(h.Requested[i]) - h.ReqRate) / learnMinutes
			h.FailRate += (float64(h.Failed[i]) - h.FailRate) / learnMinutes
		}
	}
	req, fail := h.Sum(&h.Requested, n), h.Sum(&h.Failed, n)
	ratio := float64(fail) / float64(max(req, 1))
	learned := (h.FailRate*learnMinutes + priorFailShare*priorRequests) / (h.ReqRate*learnMinutes + priorRequests)
	spike := fail >= cfg.MinFailures && ratio >= cfg.FailRatio && ratio >= cfg.FailFactor*learned
	if h.Failing {
		if !spike && (fail < cfg.MinFailures/2 || ratio < cfg.FailRatio/2) {
			h.Failing = false
		}
		return
	}
	if !spike {
		return
	}
	h.Failing = true
	first := ev.Stats.Start - int64(n-1)*int64(time.Minute)
	var refs []event.Ref
	for k := n; k >= 1; k-- {
		i := (h.Minutes - k) % twin.RingMinutes
		h.Spiky[i] = true
		if h.Failed[i] > 0 {
			refs = append(refs, h.Refs[i])
		}
	}
	c.Emit(&alert.Alert{
		Detector: "service.command-failures", Time: ev.Time, FirstSeen: first, LastSeen: ev.Time, Severity: event.SeverityHigh,
		Title: fmt.Sprintf("Commands of tenant %s failing: %.0f%%", c.Tenant, ratio*100),
		Explanation: fmt.Sprintf("Tenant %s: %d of %d commands requested in the last %d minutes failed or were rejected (%.0f%%; thresholds "+
			"%d failures, %.0f%% of requests and %.0f× the learned %.1f%%): the command path to the vehicles is broken.",
			c.Tenant, fail, req, n, ratio*100, cfg.MinFailures, cfg.FailRatio*100, cfg.FailFactor, learned*100),
		Evidence: refs,
	})
}

// OnTimer is unused: the detector sets no timers.
func (d *Service) OnTimer(*detect.Context, detect.State, int64) {}

func fmtTime(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }
