package alert

import (
	"fmt"
	"sort"
)

// Mode is how a detector's alerts are treated, for all tenants or for one.
type Mode uint8

const (
	// ModeEnabled: alerts are raised (the default).
	ModeEnabled Mode = iota
	// ModeShadow: the detector runs and its alerts are stored, marked
	// shadow, but not raised: a detector is tried on live traffic before
	// it goes live.
	ModeShadow
	// ModeOff: the detector does not run, or, when it runs for other
	// tenants, its alerts for this tenant are discarded (counted).
	ModeOff
)

var modeNames = [...]string{"enabled", "shadow", "off"}

func (m Mode) String() string {
	if int(m) < len(modeNames) {
		return modeNames[m]
	}
	return ""
}

// ParseMode parses "enabled", "shadow" or "off".
func ParseMode(s string) (Mode, error) {
	for i, n := range modeNames {
		if n == s {
			return Mode(i), nil
		}
	}
	return 0, fmt.Errorf("mode %q is not enabled, shadow or off", s)
}

// Modes is the mode of each detector, with per-tenant overrides. It is
// built once and read by every shard (Apply), so it never changes.
type Modes struct {
	byID map[string]*detectorMode
}

type detectorMode struct {
	def     Mode
	tenants map[string]Mode
}

// NewModes builds the table: def maps a detector id to its mode for every
// tenant, tenants maps a tenant to its detectors' modes. Detectors named
// nowhere are enabled.
func NewModes(def map[string]Mode, tenants map[string]map[string]Mode) *Modes {
	m := &Modes{byID: map[string]*detectorMode{}}
	get := func(id string) *detectorMode {
		d := m.byID[id]
		if d == nil {
			d = &detectorMode{}
			m.byID[id] = d
		}
		return d
	}
	for id, mode := range def {
		get(id).def = mode
	}
	for tenant, ids := range tenants {
		for id, mode := range ids {
			d := get(id)
			if d.tenants == nil {
				d.tenants = map[string]Mode{}
			}
			d.tenants[tenant] = mode
		}
	}
	return m
}

// Of returns the detector's mode for tenant.
func (m *Modes) Of(detector, tenant string) Mode {
	if m == nil {
		return ModeEnabled
	}
	d := m.byID[detector]
	if d == nil {
		return ModeEnabled
	}
	if mode, ok := d.tenants[tenant]; ok {
		return mode
	}
	return d.def
}

// Default returns the detector's mode for tenants without an override.
func (m *Modes) Default(detector string) Mode {
	if m == nil || m.byID[detector] == nil {
		return ModeEnabled
	}
	return m.byID[detector].def
}

// Overrides returns the detector's per-tenant modes, sorted by tenant.
func (m *Modes) Overrides(detector string) []TenantMode {
	if m == nil || m.byID[detector] == nil {
		return nil
	}
	var out []TenantMode
	for t, mode := range m.byID[detector].tenants {
		out = append(out, TenantMode{Tenant: t, Mode: mode})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Tenant < out[j].Tenant })
	return out
}

// TenantMode is one tenant's override of a detector's mode.
type TenantMode struct {
	Tenant string
	Mode   Mode
}

// Runs reports whether the detector must run: it is not off for every
// tenant.
func (m *Modes) Runs(detector string) bool {
	if m == nil || m.byID[detector] == nil {
		return true
	}
	d := m.byID[detector]
	if d.def != ModeOff {
		return true
	}
	for _, mode := range d.tenants {
		if mode != ModeOff {
			return true
		}
	}
	return false
}

// Apply marks an alert of a shadow detector as shadow and reports whether
// the alert goes on (false: the detector is off for its tenant). An alert
// already marked shadow (a shadow rule) stays shadow. Safe for concurrent
// use: the engine calls it from every shard.
func (m *Modes) Apply(a *Alert) bool {
	switch m.Of(a.Detector, a.Tenant) {
	case ModeShadow:
		a.Shadow = true
	case ModeOff:
		return false
	}
	return true
}
