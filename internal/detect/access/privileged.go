package access

import (
	"fmt"
	"strings"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/directory"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/twin"
)

// PrivilegedConfig configures the privileged-misuse detector. Zero fields
// take the documented defaults.
type PrivilegedConfig struct {
	// DealerWindow is the sliding window of a dealer's reads. Default 30m.
	DealerWindow time.Duration `yaml:"dealer_window"`
	// DealerVehicles is how many distinct vehicles outside its inventory
	// (directory links of the dealer, and links learned from
	// account.change) a dealer may read within DealerWindow. Default 15.
	DealerVehicles int `yaml:"dealer_vehicles"`
	// StaffWindow is the sliding window of a staff member's reads.
	// Default 1h.
	StaffWindow time.Duration `yaml:"staff_window"`
	// StaffLocationVehicles is how many distinct vehicles' location a
	// staff member may read within StaffWindow, in office hours. Default 20.
	StaffLocationVehicles int `yaml:"staff_location_vehicles"`
	// StaffOffHoursVehicles is how many distinct vehicles' location or
	// personal data a staff member may read within StaffWindow out of
	// office hours (an on-call case or two). Default 5.
	StaffOffHoursVehicles int `yaml:"staff_off_hours_vehicles"`
	// OfficeStart and OfficeEnd are the local hours office hours begin
	// and end on workdays. Default 7 and 20.
	OfficeStart int `yaml:"office_start"`
	OfficeEnd   int `yaml:"office_end"`
	// Workdays are the days with office hours, by English name or its
	// first three letters. Default monday to friday.
	Workdays []string `yaml:"workdays"`
	// Timezone is the IANA name of the zone office hours are in. Default UTC.
	Timezone string `yaml:"timezone"`
	// Location, when set, is used instead of Timezone.
	Location *time.Location `yaml:"-"`
	// Cooldown is the quiet time per account and rule after an alert.
	// Default 30m.
	Cooldown time.Duration `yaml:"cooldown"`
	// MaxEvidence bounds the events and vehicles named in an alert.
	// Default 20.
	MaxEvidence int `yaml:"max_evidence"`
}

// Rules of the privileged detector, indexes of PrivReads.LastAlert.
const (
	ruleDealer = iota
	ruleStaffBulk
	ruleStaffOffHours
)

type privSettings struct {
	PrivilegedConfig
	dealerWindow, staffWindow, cooldown int64
	workdays                            [7]bool
}

func preparePriv(c PrivilegedConfig) (*privSettings, error) {
	if c.DealerWindow <= 0 {
		c.DealerWindow = 30 * time.Minute
	}
	if c.DealerVehicles <= 0 {
		c.DealerVehicles = 15
	}
	if c.StaffWindow <= 0 {
		c.StaffWindow = time.Hour
	}
	if c.StaffLocationVehicles <= 0 {
		c.StaffLocationVehicles = 20
	}
	if c.StaffOffHoursVehicles <= 0 {
		c.StaffOffHoursVehicles = 5
	}
	if c.OfficeStart == 0 && c.OfficeEnd == 0 {
		c.OfficeStart, c.OfficeEnd = 7, 20
	}
	if c.OfficeStart < 0 || c.OfficeEnd > 24 || c.OfficeStart >= c.OfficeEnd {
		return nil, fmt.Errorf("privileged-misuse: office hours %d to %d: want 0 ≤ start < end ≤ 24", c.OfficeStart, c.OfficeEnd)
	}
	if c.Workdays == nil {
		c.Workdays = []string{"monday", "tuesday", "wednesday", "thursday", "friday"}
	}
	if c.Cooldown <= 0 {
		c.Cooldown = 30 * time.Minute
	}
	if c.MaxEvidence <= 0 {
		c.MaxEvidence = 20
	}
	if c.Location == nil {
		name := c.Timezone
		if name == "" {
			name = "UTC"
		}
		loc, err := time.LoadLocation(name)
		if err != nil {
			return nil, fmt.Errorf("privileged-misuse: timezone: %w", err)
		}
		c.Location = loc
	}
	s := &privSettings{PrivilegedConfig: c, dealerWindow: int64(c.DealerWindow), staffWindow: int64(c.StaffWindow), cooldown: int64(c.Cooldown)}
	for _, d := range c.Workdays {
		found := false
		for wd := time.Sunday; wd <= time.Saturday; wd++ {
			if n := strings.ToLower(wd.String()); strings.EqualFold(d, n) || strings.EqualFold(d, n[:3]) {
				s.workdays[wd], found = true, true
			}
		}
		if !found {
			return nil, fmt.Errorf("privileged-misuse: workdays: %q is not a day of the week", d)
		}
	}
	return s, nil
}

// inOffice reports whether t falls in office hours.
func (s *privSettings) inOffice(t int64) bool {
	lt := time.Unix(0, t).In(s.Location)
	h := lt.Hour()
	return s.workdays[lt.Weekday()] && h >= s.OfficeStart && h < s.OfficeEnd
}

// Privileged raises privileged-misuse on three rules, each with its own
// detector id in the alert:
//
//   - priv.dealer-outside-inventory: a dealer account (role dealer in the
//     directory or the event) reads many distinct vehicles outside its
//     inventory.
//   - priv.staff-bulk-location: a staff account reads the location of many
//     distinct vehicles.
//   - priv.staff-off-hours: a staff account reads location or personal data
//     of several vehicles out of office hours.
//
// Only dealer and staff accounts keep state.
type Privileged struct {
	dir *directory.Directory
	cfg detect.PerTenant[privSettings]
}

// NewPrivileged returns the detector. dir may be nil: then a dealer's
// inventory is only what account.change linked to it, and roles come from
// the events.
func NewPrivileged(dir *directory.Directory, cfg detect.PerTenant[PrivilegedConfig]) (*Privileged, error) {
	s, err := detect.Prepare(cfg, preparePriv)
	if err != nil {
		return nil, err
	}
	return &Privileged{dir: dir, cfg: s}, nil
}

func (d *Privileged) settings(tenant string) *privSettings { return d.cfg.For(tenant) }

var _ detect.Detector = (*Privileged)(nil)

// Info describes the detector.
func (d *Privileged) Info() detect.Info {
	s := &d.cfg.Default
	return detect.Info{
		ID:       "access.privileged",
		Category: alert.PrivilegedMisuse,
		Title:    "Privileged role used outside its purpose",
		Description: fmt.Sprintf("A dealer reads %d or more distinct vehicles outside its inventory within %v; staff read the location "+
			"of %d or more distinct vehicles within %v, or location or personal data of %d or more out of office hours "+
			"(%02d:00–%02d:00 %s on %s).", s.DealerVehicles, s.DealerWindow, s.StaffLocationVehicles, s.StaffWindow,
			s.StaffOffHoursVehicles, s.OfficeStart, s.OfficeEnd, s.Location, strings.Join(s.Workdays, ", ")),
		Subscribe: []detect.Subscription{{Kind: detect.KindAccount, Types: []event.Type{event.TypeAPIAccess, event.TypeAccountChange}}},
	}
}

// OnEvent judges the reads of dealer and staff accounts.
func (d *Privileged) OnEvent(c *detect.Context, st detect.State, ev *event.Event) {
	p := st.Principal
	if ev.Type == event.TypeAccountChange {
		p.LearnLink(ev.AccountChange)
		return
	}
	a := ev.APIAccess
	if len(a.Vehicles) == 0 {
		return
	}
	cl, _ := callerOf(c, d.dir, &a.Actor)
	switch cl.role {
	case event.RoleDealer:
		d.dealer(c, d.settings(c.Tenant), p, cl, ev)
	case event.RoleStaff:
		d.staff(c, d.settings(c.Tenant), p, ev)
	}
}

// privOf returns the account's privileged reads, allocating them on first use.
func privOf(p *twin.Principal) *twin.PrivReads {
	if p.Priv == nil {
		p.Priv = &twin.PrivReads{}
	}
	return p.Priv
}

func (d *Privileged) dealer(c *detect.Context, s *privSettings, p *twin.Principal, cl caller, ev *event.Event) {
	a := ev.APIAccess
	if a.Status == 401 || a.Status == 403 {
		return // refused: nothing was read
	}
	var r *twin.PrivReads
	added := false
	for _, v := range a.Vehicles {
		if entitled(d.dir, c.Tenant, cl, v, p.Links) {
			continue
		}
		r = privOf(p)
		added = r.Outside.Add(twin.Hit{At: ev.Time, Key: twin.HashID(v), Name: v, Ref: ev.Ref()}, s.dealerWindow, 2*s.DealerVehicles) || added
	}
	if !added {
		return
	}
	w := &r.Outside
	n := len(w.List)
	if n < s.DealerVehicles || !s.cool(r, ruleDealer, ev.Time) {
		return
	}
	first, _ := w.Span()
	inv := d.dir.Vehicles(c.Tenant, cl.kind, cl.id)
	linked, _ := p.Links.Count()
	c.Emit(&alert.Alert{
		Detector: "priv.dealer-outside-inventory", Time: ev.Time, FirstSeen: first, LastSeen: ev.Time, Severity: event.SeverityHigh,
		Title: fmt.Sprintf("Dealer %s read %d vehicles outside its inventory", c.Key, n),
		Explanation: fmt.Sprintf("Dealer account %s read %d distinct vehicles outside its inventory within %s (threshold %d in %v; "+
			"its inventory: %d vehicle(s) in the directory, %d linked by account.change); the last read returned %s through %s from IP %s.",
			c.Key, n, fmtSpan(first, ev.Time), s.DealerVehicles, s.DealerWindow, inv, linked, fieldList(a.Fields.Names()), a.Route, a.Actor.IP),
		Entities: alert.Entities{Account: c.Key, IP: a.Actor.IP, Vehicles: w.Names(s.MaxEvidence)},
		Evidence: w.Refs(s.MaxEvidence),
	})
}

func (s *privSettings) cool(r *twin.PrivReads, rule int, t int64) bool {
	if r.LastAlert[rule] != 0 && t-r.LastAlert[rule] < s.cooldown {
		return false
	}
	r.LastAlert[rule] = t
	return true
}

func (d *Privileged) staff(c *detect.Context, s *privSettings, p *twin.Principal, ev *event.Event) {
	a := ev.APIAccess
	if !ok(a) {
		return
	}
	loc := a.Fields&event.FieldLocation != 0
	off := !s.inOffice(ev.Time) && a.Fields&(event.FieldLocation|personal) != 0
	if !loc && !off {
		return
	}
	r := privOf(p)
	var addedLoc, addedOff bool
	for _, v := range a.Vehicles {
		h := twin.Hit{At: ev.Time, Key: twin.HashID(v), Name: v, Ref: ev.Ref()}
		if loc {
			addedLoc = r.Located.Add(h, s.staffWindow, 2*s.StaffLocationVehicles) || addedLoc
		}
		if off {
			addedOff = r.Night.Add(h, s.staffWindow, 2*s.StaffOffHoursVehicles) || addedOff
		}
	}
	lt := time.Unix(0, ev.Time).In(s.Location)
	if addedOff && len(r.Night.List) >= s.StaffOffHoursVehicles && s.cool(r, ruleStaffOffHours, ev.Time) {
		w := &r.Night
		first, _ := w.Span()
		c.Emit(&alert.Alert{
			Detector: "priv.staff-off-hours", Time: ev.Time, FirstSeen: first, LastSeen: ev.Time, Severity: event.SeverityHigh,
			Title: fmt.Sprintf("Staff %s read %d vehicles' personal data out of hours", c.Key, len(w.List)),
			Explanation: fmt.Sprintf("Staff account %s read location or personal data of %d distinct vehicles within %s, out of office "+
				"hours (%s local time, a %s; office hours %02d:00–%02d:00 on %s; threshold %d in %v); the last read returned %s through %s.",
				c.Key, len(w.List), fmtSpan(first, ev.Time), lt.Format("15:04"), lt.Weekday(), s.OfficeStart, s.OfficeEnd,
				strings.Join(s.Workdays, ", "), s.StaffOffHoursVehicles, s.StaffWindow, fieldList(a.Fields.Names()), a.Route),
			Entities: alert.Entities{Account: c.Key, IP: a.Actor.IP, Vehicles: w.Names(s.MaxEvidence)},
			Evidence: w.Refs(s.MaxEvidence),
		})
	}
	if addedLoc && len(r.Located.List) >= s.StaffLocationVehicles && s.cool(r, ruleStaffBulk, ev.Time) {
		w := &r.Located
		first, _ := w.Span()
		c.Emit(&alert.Alert{
			Detector: "priv.staff-bulk-location", Time: ev.Time, FirstSeen: first, LastSeen: ev.Time, Severity: event.SeverityHigh,
			Title: fmt.Sprintf("Staff %s read the location of %d vehicles", c.Key, len(w.List)),
			Explanation: fmt.Sprintf("Staff account %s read the location of %d distinct vehicles within %s (threshold %d in %v), "+
				"last through %s at %s local time.", c.Key, len(w.List), fmtSpan(first, ev.Time), s.StaffLocationVehicles, s.StaffWindow,
				a.Route, lt.Format("15:04")),
			Entities: alert.Entities{Account: c.Key, IP: a.Actor.IP, Vehicles: w.Names(s.MaxEvidence)},
			Evidence: w.Refs(s.MaxEvidence),
		})
	}
}

// OnTimer is unused: the detector sets no timers.
func (d *Privileged) OnTimer(*detect.Context, detect.State, int64) {}
