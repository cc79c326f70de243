// Package mass holds the detector of one principal commanding many vehicles.
package mass

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/directory"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/twin"
)

// Config configures the mass-command detector. Zero fields take the
// documented defaults.
type Config struct {
	// Window is the sliding event-time window. Default 10m.
	Window time.Duration `yaml:"window"`
	// Vehicles is how many distinct vehicles a principal may command within
	// the window without being entitled to them (by the directory or by
	// links learned from account.change). Default 10.
	Vehicles int `yaml:"vehicles"`
	// RoleVehicles replaces Vehicles, by role, for principals the directory
	// does not list (or when there is no directory): their entitlement is
	// unknown, and a fleet manager commanding its whole fleet is normal.
	// Keys are roles of the ingest contract. Default fleet_manager: 1000,
	// service: 1000.
	RoleVehicles map[string]int `yaml:"role_vehicles"`
	// Cooldown is the quiet time per principal after an alert. Default 30m.
	Cooldown time.Duration `yaml:"cooldown"`
	// MaxEvidence bounds the events named as evidence and the vehicles
	// named in the alert. Default 20.
	MaxEvidence int `yaml:"max_evidence"`
}

// Validate reports a role that is not a role of the ingest contract.
func (c *Config) Validate() error {
	for r, n := range c.RoleVehicles {
		if _, ok := event.ParseRole(r); !ok {
			return fmt.Errorf("mass-command: role_vehicles: %q is not a role (owner, driver, fleet_manager, dealer, staff, service, third_party)", r)
		}
		if n < 1 {
			return fmt.Errorf("mass-command: role_vehicles: %s: %d must be at least 1", r, n)
		}
	}
	return nil
}

// settings is a Config made ready to use.
type settings struct {
	Config
	window, cooldown int64
	roles            [8]int // by event.Role; 0 = Vehicles
	keep             int    // bound of the window
}

func prepare(c Config) *settings {
	if c.Window <= 0 {
		c.Window = 10 * time.Minute
	}
	if c.Vehicles <= 0 {
		c.Vehicles = 10
	}
	if c.RoleVehicles == nil {
		c.RoleVehicles = map[string]int{"fleet_manager": 1000, "service": 1000}
	}
	if c.Cooldown <= 0 {
		c.Cooldown = 30 * time.Minute
	}
	if c.MaxEvidence <= 0 {
		c.MaxEvidence = 20
	}
	s := &settings{Config: c, window: int64(c.Window), cooldown: int64(c.Cooldown), keep: c.Vehicles}
	for r, n := range c.RoleVehicles {
		if role, ok := event.ParseRole(r); ok && n > 0 && int(role) < len(s.roles) {
			s.roles[role] = n
			s.keep = max(s.keep, n)
		}
	}
	return s
}

// limit is how many vehicles outside entitlement the principal may command.
func (s *settings) limit(listed bool, role event.Role) int {
	if !listed && int(role) < len(s.roles) && s.roles[role] > 0 {
		return s.roles[role]
	}
	return s.Vehicles
}

// Mass raises mass-command when one account or API client commands many
// distinct vehicles in a short time that it is not entitled to. Entitlement
// comes from the directory (who may use which vehicle) and from links and
// unlinks learned from account.change; a principal the directory does not
// list is judged by its role (a fleet manager may command its fleet).
//
// A principal keeps nothing while it commands only vehicles it is entitled
// to; the window of other vehicles is bounded by the largest limit.
type Mass struct {
	dir     *directory.Directory
	def     *settings
	tenants map[string]*settings
}

// New returns the detector. dir may be nil: then only learned links
// entitle, and every principal is judged by its role. It fails when a
// configuration does not validate.
func New(dir *directory.Directory, cfg detect.PerTenant[Config]) (*Mass, error) {
	if err := cfg.Default.Validate(); err != nil {
		return nil, err
	}
	m := &Mass{dir: dir, def: prepare(cfg.Default), tenants: map[string]*settings{}}
	for t, c := range cfg.Tenants {
		if err := c.Validate(); err != nil {
			return nil, fmt.Errorf("tenant %s: %w", t, err)
		}
		m.tenants[t] = prepare(*c)
	}
	return m, nil
}

func (m *Mass) settings(tenant string) *settings {
	if s, ok := m.tenants[tenant]; ok {
		return s
	}
	return m.def
}

var _ detect.Detector = (*Mass)(nil)

// Info describes the detector.
func (m *Mass) Info() detect.Info {
	s := m.def
	roles := make([]string, 0, len(s.RoleVehicles))
	for r, n := range s.RoleVehicles {
		roles = append(roles, fmt.Sprintf("%s %d", r, n))
	}
	slices.Sort(roles)
	return detect.Info{
		ID:       "mass.command-spread",
		Category: alert.MassCommand,
		Title:    "One principal commanding many vehicles",
		Description: fmt.Sprintf("An account or API client commands %d or more distinct vehicles it is not entitled to (directory or "+
			"learned links) within %v; principals the directory does not list are allowed, by role: %s.",
			s.Vehicles, s.Window, strings.Join(roles, ", ")),
		Subscribe: []detect.Subscription{
			{Kind: detect.KindAccount, Types: []event.Type{event.TypeCommand, event.TypeAccountChange}},
			{Kind: detect.KindClient, Types: []event.Type{event.TypeCommand}},
		},
	}
}

// OnEvent learns links and counts the vehicles commanded outside them.
func (m *Mass) OnEvent(c *detect.Context, st detect.State, ev *event.Event) {
	p := st.Principal
	if ev.Type == event.TypeAccountChange {
		p.LearnLink(ev.AccountChange)
		return
	}
	cmd := ev.Command
	if ev.Subject == "" || cmd.Stage == event.StageUnset {
		return
	}
	kind := directory.Account
	if c.Kind == detect.KindClient {
		kind = directory.Client
	}
	if entitled(m.dir, c.Tenant, kind, c.Key, ev.Subject, p.Links) {
		return
	}
	s := m.settings(c.Tenant)
	sp := p.Spread
	if sp == nil {
		sp = &twin.Spread{}
		p.Spread = sp
	}
	if len(sp.Vehicles.List) == 0 {
		sp.Kinds = 0
	}
	sp.Kinds |= 1 << (cmd.Command % 32)
	if !sp.Vehicles.Add(twin.Hit{At: ev.Time, Key: twin.HashID(ev.Subject), Name: ev.Subject, Ref: ev.Ref()}, s.window, s.keep) {
		return
	}
	n := len(sp.Vehicles.List)
	listed := m.dir.Known(c.Tenant, kind, c.Key)
	role := m.dir.Role(c.Tenant, kind, c.Key)
	if role == event.RoleUnset {
		role = cmd.Actor.Role
	}
	limit := s.limit(listed, role)
	if n < limit || (sp.LastAlert != 0 && ev.Time-sp.LastAlert < s.cooldown) {
		return
	}
	sp.LastAlert = ev.Time
	m.alert(c, s, p, ev, kind, listed, role, limit)
}

// entitled reports whether the principal may use the vehicle: what
// account.change said last, else the directory.
func entitled(dir *directory.Directory, tenant string, k directory.Kind, id, vehicle string, links *twin.LinkSet) bool {
	if linked, known := links.Lookup(vehicle); known {
		return linked
	}
	return dir.Linked(tenant, k, id, vehicle)
}

// dangerous are the commands that open, start, stop or hand over a vehicle.
const dangerous = 1<<event.CmdUnlock | 1<<event.CmdEngineStart | 1<<event.CmdEngineStop | 1<<event.CmdImmobilize |
	1<<event.CmdTrunkOpen | 1<<event.CmdKeyAdd | 1<<event.CmdConfig | 1<<event.CmdFirmwareUpdate

func (m *Mass) alert(c *detect.Context, s *settings, p *twin.Principal, ev *event.Event, kind directory.Kind, listed bool, role event.Role, limit int) {
	sp := p.Spread
	w := &sp.Vehicles
	n := len(w.List)
	first, _ := w.Span()
	var kinds []string
	for k := event.CmdUnlock; k < event.CmdOther; k++ {
		if sp.Kinds&(1<<k) != 0 {
			kinds = append(kinds, k.String())
		}
	}
	sev := event.SeverityHigh
	if sp.Kinds&dangerous != 0 {
		sev = event.SeverityCritical
	}
	what, title := "account", "Account"
	if kind == directory.Client {
		what, title = "API client", "API client"
	}
	linked, unlinked := p.Links.Count()
	basis := fmt.Sprintf("the directory lists %d vehicle(s) for it", m.dir.Vehicles(c.Tenant, kind, c.Key))
	if !listed {
		basis = fmt.Sprintf("the directory does not list it, so the limit for role %s applies", roleName(role))
	}
	if linked+unlinked > 0 {
		basis += fmt.Sprintf("; account.change linked %d and unlinked %d", linked, unlinked)
	}
	ents := alert.Entities{IP: ev.Command.Actor.IP, Vehicles: w.Names(s.MaxEvidence)}
	if kind == directory.Client {
		ents.ClientID = c.Key
	} else {
		ents.Account = c.Key
	}
	c.Emit(&alert.Alert{
		Time: ev.Time, FirstSeen: first, LastSeen: ev.Time, Severity: sev,
		Title: fmt.Sprintf("%s %s commanded %d vehicles it is not entitled to", title, c.Key, n),
		Explanation: fmt.Sprintf("The %s %s sent commands (%s) to %d distinct vehicles it is not entitled to within %s "+
			"(threshold %d in %v; %s).", what, c.Key, strings.Join(kinds, ", "), n, fmtSpan(first, ev.Time), limit, s.Window, basis),
		Entities: ents,
		Evidence: w.Refs(s.MaxEvidence),
	})
}

func roleName(r event.Role) string {
	if r == event.RoleUnset {
		return "(none)"
	}
	return r.String()
}

// OnTimer is unused: the detector sets no timers.
func (m *Mass) OnTimer(*detect.Context, detect.State, int64) {}

func fmtSpan(first, last int64) string {
	return time.Duration(last - first).Round(time.Second).String()
}
