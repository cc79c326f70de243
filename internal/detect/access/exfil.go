package access

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

// ExfilConfig configures the data-exfiltration detector. Zero fields take
// the documented defaults.
type ExfilConfig struct {
	// Window is the sliding event-time window of unlinked reads and of VIN
	// enumeration. Default 10m.
	Window time.Duration `yaml:"window"`
	// UnlinkedVehicles is how many distinct vehicles a caller may read
	// within the window without being entitled to them (directory or links
	// learned from account.change). Default 20.
	UnlinkedVehicles int `yaml:"unlinked_vehicles"`
	// FleetRoles are roles whose principals read many vehicles by trade:
	// when the directory does not list such a principal, its entitlement
	// is unknown and unlinked reads do not judge it (the volume baseline
	// still does). Default fleet_manager, third_party, service.
	FleetRoles []string `yaml:"fleet_roles"`

	// Lookups is how many single-vehicle requests for vehicles the caller
	// is not entitled to, within the window, make an enumeration when
	// enough of them are answered 404 or walk serial numbers. Default 50.
	Lookups int `yaml:"lookups"`
	// NotFoundShare is the share of those lookups answered 404 that makes
	// an enumeration. Default 0.5.
	NotFoundShare float64 `yaml:"not_found_share"`
	// SequentialShare is the share of those lookups whose serial (the last
	// six characters) lies within SerialGap of an earlier lookup's on the
	// same production line (the first eleven) that makes an enumeration.
	// Default 0.5.
	SequentialShare float64 `yaml:"sequential_share"`
	// SerialGap: default 3.
	SerialGap int `yaml:"serial_gap"`

	// VolumeRecords is the fewest records of one feature (location, other
	// personal data) read in the last hour that can be bulk. Default 200.
	VolumeRecords int `yaml:"volume_records"`
	// VolumeFactor is how many times its baseline a caller must read in
	// the last hour. Default 10.
	VolumeFactor float64 `yaml:"volume_factor"`
	// VolumeFloor is the smallest baseline, in records per hour. Default 20.
	VolumeFloor float64 `yaml:"volume_floor"`
	// LearnHours is how many hours with reads a caller needs before its
	// learned baseline is trusted alone; until then the baseline is at
	// least its role's prior. Default 3.
	LearnHours int `yaml:"learn_hours"`
	// RolePriors is the records per hour assumed for a new caller of a
	// role, by role name. Default fleet_manager 5000, third_party 2000,
	// service 5000; other roles VolumeFloor.
	RolePriors map[string]float64 `yaml:"role_priors"`

	// IPWindow is the window of distinct source addresses. Default 1h.
	IPWindow time.Duration `yaml:"ip_window"`
	// ClientIPs is how many distinct addresses one API client may use
	// within IPWindow. Default 5.
	ClientIPs int `yaml:"client_ips"`
	// AccountIPs is the same for an account (phones roam). Default 8.
	AccountIPs int `yaml:"account_ips"`

	// SkipRoles are roles this detector leaves to privileged-misuse.
	// Default dealer, staff.
	SkipRoles []string `yaml:"skip_roles"`
	// Cooldown is the quiet time per caller and rule after an alert (bulk
	// reads have their own rule, see access.bulk-read). Default 30m.
	Cooldown time.Duration `yaml:"cooldown"`
	// MaxEvidence bounds the events and vehicles named in an alert.
	// Default 20.
	MaxEvidence int `yaml:"max_evidence"`
}

// Rules of the exfiltration detector, indexes of ReadState.LastAlert.
const (
	ruleUnlinked = iota
	ruleEnumeration
	ruleVolume
	ruleIPs
)

type exfilSettings struct {
	ExfilConfig
	window, ipWindow, cooldown int64
	fleet, skip                roleSet
	priors                     [8]float64
}

func prepareExfil(c ExfilConfig) (*exfilSettings, error) {
	if c.Window <= 0 {
		c.Window = 10 * time.Minute
	}
	if c.UnlinkedVehicles <= 0 {
		c.UnlinkedVehicles = 20
	}
	if c.FleetRoles == nil {
		c.FleetRoles = []string{"fleet_manager", "third_party", "service"}
	}
	if c.Lookups <= 0 {
		c.Lookups = 50
	}
	if c.NotFoundShare <= 0 {
		c.NotFoundShare = 0.5
	}
	if c.SequentialShare <= 0 {
		c.SequentialShare = 0.5
	}
	if c.SerialGap <= 0 {
		c.SerialGap = 3
	}
	if c.VolumeRecords <= 0 {
		c.VolumeRecords = 200
	}
	if c.VolumeFactor <= 0 {
		c.VolumeFactor = 10
	}
	if c.VolumeFloor <= 0 {
		c.VolumeFloor = 20
	}
	if c.LearnHours <= 0 {
		c.LearnHours = 3
	}
	if c.RolePriors == nil {
		c.RolePriors = map[string]float64{"fleet_manager": 5000, "third_party": 2000, "service": 5000}
	}
	if c.IPWindow <= 0 {
		c.IPWindow = time.Hour
	}
	if c.ClientIPs <= 0 {
		c.ClientIPs = 5
	}
	if c.AccountIPs <= 0 {
		c.AccountIPs = 8
	}
	if c.SkipRoles == nil {
		c.SkipRoles = []string{"dealer", "staff"}
	}
	if c.Cooldown <= 0 {
		c.Cooldown = 30 * time.Minute
	}
	if c.MaxEvidence <= 0 {
		c.MaxEvidence = 20
	}
	s := &exfilSettings{ExfilConfig: c, window: int64(c.Window), ipWindow: int64(c.IPWindow), cooldown: int64(c.Cooldown)}
	var err error
	if s.fleet, err = parseRoles(c.FleetRoles); err != nil {
		return nil, fmt.Errorf("data-exfiltration: fleet_roles: %w", err)
	}
	if s.skip, err = parseRoles(c.SkipRoles); err != nil {
		return nil, fmt.Errorf("data-exfiltration: skip_roles: %w", err)
	}
	for i := range s.priors {
		s.priors[i] = c.VolumeFloor
	}
	for name, v := range c.RolePriors {
		r, ok := event.ParseRole(name)
		if !ok {
			return nil, fmt.Errorf("data-exfiltration: role_priors: %q is not a role", name)
		}
		s.priors[r] = max(v, c.VolumeFloor)
	}
	return s, nil
}

// Exfiltration raises data-exfiltration on four rules, each with its own
// detector id in the alert:
//
//   - access.unlinked-reads: a caller reads many distinct vehicles it is not
//     entitled to (successful reads only).
//   - access.vin-enumeration: a caller (or an address used by several)
//     looks up many vehicles one by one that it is not entitled to, and
//     most are not found or their serials walk up a production line.
//   - access.bulk-read: a caller reads far more location or personal-data
//     records in an hour than its learned baseline; the alert names the
//     feature and the factor. It is told when a read carries the hour's
//     volume across the line, and again each time the volume quadruples
//     while it stays beyond the baseline (no cooldown).
//   - access.token-ips: one API client or account is used from many
//     addresses within an hour.
//
// Dealers and staff are left to the privileged-misuse detector.
type Exfiltration struct {
	dir *directory.Directory
	cfg detect.PerTenant[exfilSettings]
}

// NewExfiltration returns the detector. dir may be nil: then only links
// learned from account.change entitle.
func NewExfiltration(dir *directory.Directory, cfg detect.PerTenant[ExfilConfig]) (*Exfiltration, error) {
	s, err := detect.Prepare(cfg, prepareExfil)
	if err != nil {
		return nil, err
	}
	return &Exfiltration{dir: dir, cfg: s}, nil
}

func (d *Exfiltration) settings(tenant string) *exfilSettings { return d.cfg.For(tenant) }

var _ detect.Detector = (*Exfiltration)(nil)

// Info describes the detector.
func (d *Exfiltration) Info() detect.Info {
	s := &d.cfg.Default
	return detect.Info{
		ID:       "access.exfiltration",
		Category: alert.DataExfiltration,
		Title:    "Data exfiltration through the API",
		Description: fmt.Sprintf("A caller reads %d or more distinct vehicles it is not entitled to within %v; looks up %d or more such "+
			"vehicles one by one within %v with %.0f%% answered 404 or %.0f%% walking serial numbers; reads %.0f× its hourly baseline "+
			"of location or personal-data records (at least %d); or is used from %d (client) or %d (account) addresses within %v. "+
			"Roles %s are left to privileged-misuse.",
			s.UnlinkedVehicles, s.Window, s.Lookups, s.Window, s.NotFoundShare*100, s.SequentialShare*100, s.VolumeFactor,
			s.VolumeRecords, s.ClientIPs, s.AccountIPs, s.IPWindow, strings.Join(s.SkipRoles, ", ")),
		Subscribe: []detect.Subscription{
			{Kind: detect.KindAccount, Types: []event.Type{event.TypeAPIAccess, event.TypeAccountChange}},
			{Kind: detect.KindClient, Types: []event.Type{event.TypeAPIAccess}},
			{Kind: detect.KindIP, Types: []event.Type{event.TypeAPIAccess}},
		},
	}
}

// OnEvent judges one request on each rule.
func (d *Exfiltration) OnEvent(c *detect.Context, st detect.State, ev *event.Event) {
	p := st.Principal
	if ev.Type == event.TypeAccountChange {
		p.LearnLink(ev.AccountChange)
		if p.Reads != nil {
			p.Reads.Vehicle = "" // entitlement may have changed
		}
		return
	}
	a := ev.APIAccess
	s := d.settings(c.Tenant)
	cl, known := callerOf(c, d.dir, &a.Actor)
	if known && s.skip.has(cl.role) {
		return
	}
	if c.Kind == detect.KindIP {
		// An address keeps state only once it looks up a vehicle its caller
		// is not entitled to: attackers choose how many addresses appear.
		if len(a.Vehicles) != 1 || (known && entitled(d.dir, c.Tenant, cl, a.Vehicles[0], nil)) {
			return
		}
		r := p.Reads
		if r == nil {
			r = &twin.ReadState{}
			p.Reads = r
		}
		var h uint64
		if known {
			h = twin.HashID(cl.id)
		}
		if r.CallerSeen && r.Caller != h {
			r.Callers = true
		}
		r.Caller, r.CallerSeen = h, true
		d.lookup(c, s, r, cl, ev)
		return
	}
	r := p.Reads
	if r == nil {
		r = &twin.ReadState{}
		p.Reads = r
	}
	// Most requests name one vehicle, mostly the one named last time:
	// remember whether the caller may read it.
	own := false
	if len(a.Vehicles) == 1 {
		v := a.Vehicles[0]
		own = v == r.Vehicle && r.Entitled
		if v != r.Vehicle {
			own = entitled(d.dir, c.Tenant, cl, v, p.Links)
			r.Vehicle, r.Entitled = v, own
		}
	}
	d.unlinked(c, s, r, p, cl, own, ev)
	if len(a.Vehicles) == 1 && !own {
		d.lookup(c, s, r, cl, ev)
	}
	d.volume(c, s, r, cl, ev)
	d.addresses(c, s, r, cl, ev)
}

// cool reports whether rule may alert at t, and if so starts its cooldown.
func (s *exfilSettings) cool(r *twin.ReadState, rule int, t int64) bool {
	if r.LastAlert[rule] != 0 && t-r.LastAlert[rule] < s.cooldown {
		return false
	}
	r.LastAlert[rule] = t
	return true
}

func entitiesOf(cl caller, ip string) alert.Entities {
	e := alert.Entities{IP: ip}
	if cl.kind == directory.Client {
		e.ClientID = cl.id
	} else {
		e.Account = cl.id
	}
	return e
}

// unlinked counts the vehicles read that the caller is not entitled to;
// own says that the one vehicle of a single-vehicle request is the caller's.
func (d *Exfiltration) unlinked(c *detect.Context, s *exfilSettings, r *twin.ReadState, p *twin.Principal, cl caller, own bool, ev *event.Event) {
	a := ev.APIAccess
	if !ok(a) || len(a.Vehicles) == 0 || own {
		return
	}
	if s.fleet.has(cl.role) && !d.dir.Known(c.Tenant, cl.kind, cl.id) {
		return // reads many vehicles by trade, and nobody says which
	}
	added, inReq := false, 0
	for _, v := range a.Vehicles {
		if len(a.Vehicles) > 1 && entitled(d.dir, c.Tenant, cl, v, p.Links) {
			continue
		}
		if r.Unlinked == nil {
			r.Unlinked = &twin.HitWindow{}
		}
		inReq++
		added = r.Unlinked.Add(twin.Hit{At: ev.Time, Key: twin.HashID(v), Name: v, Ref: ev.Ref()}, s.window, 2*s.UnlinkedVehicles) || added
	}
	if !added {
		return
	}
	w := r.Unlinked
	n := len(w.List)
	if n < s.UnlinkedVehicles || !s.cool(r, ruleUnlinked, ev.Time) {
		return
	}
	count := fmt.Sprint(n)
	if n == 2*s.UnlinkedVehicles {
		count = fmt.Sprintf("at least %d", max(n, inReq)) // the window is full
	}
	first, _ := w.Span()
	what := a.Fields.Names()
	ents := entitiesOf(cl, a.Actor.IP)
	ents.Vehicles = w.Names(s.MaxEvidence)
	c.Emit(&alert.Alert{
		Detector: "access.unlinked-reads", Time: ev.Time, FirstSeen: first, LastSeen: ev.Time, Severity: event.SeverityHigh,
		Title: fmt.Sprintf("%s read %s vehicles it is not linked to", capital(who(cl)), count),
		Explanation: fmt.Sprintf("%s read %s distinct vehicles it is not entitled to (directory or account.change) within %s "+
			"(threshold %d in %v), from IP %s; the last read returned %s through %s.", capital(who(cl)), count, fmtSpan(first, ev.Time),
			s.UnlinkedVehicles, s.Window, a.Actor.IP, fieldList(what), a.Route),
		Entities: ents,
		Evidence: w.Refs(s.MaxEvidence),
	})
}

func fieldList(f []string) string {
	if len(f) == 0 {
		return "no personal data"
	}
	return strings.Join(f, ", ")
}

// vinParts splits an identifier into its production line (all but the last
// six characters) and its serial (the last six, when they are digits).
func vinParts(v string) (line string, serial int32) {
	if len(v) < 7 {
		return "", -1
	}
	line = v[:len(v)-6]
	for _, ch := range []byte(v[len(v)-6:]) {
		if ch < '0' || ch > '9' {
			return line, -1
		}
		serial = serial*10 + int32(ch-'0')
	}
	return line, serial
}

// lookup counts a single-vehicle request for a vehicle the caller is not
// entitled to (a dealer's own inventory, an owner's own car never get here).
func (d *Exfiltration) lookup(c *detect.Context, s *exfilSettings, r *twin.ReadState, cl caller, ev *event.Event) {
	a := ev.APIAccess
	v := a.Vehicles[0]
	if r.Lookups == nil {
		r.Lookups = &twin.LookupWindow{}
	}
	w := r.Lookups
	line, serial := vinParts(v)
	w.Add(twin.Lookup{At: ev.Time, Line: twin.HashID(line), VIN: twin.HashID(v), Serial: serial, NotFound: a.Status == 404, Ref: ev.Ref()},
		s.window, 2*s.Lookups, int32(s.SerialGap))
	n := len(w.List)
	if n < s.Lookups {
		return
	}
	nf, sq := float64(w.NotFound)/float64(n), float64(w.Seq)/float64(n)
	if nf < s.NotFoundShare && sq < s.SequentialShare {
		return
	}
	if c.Kind == detect.KindIP && !r.Callers && r.Caller != 0 {
		return // one principal behind the address: its own key tells it
	}
	if !s.cool(r, ruleEnumeration, ev.Time) {
		return
	}
	first := w.List[0].At
	by := who(cl)
	ents := alert.Entities{IP: a.Actor.IP}
	if c.Kind == detect.KindIP {
		by = "IP " + c.Key
		if r.Callers {
			by += " (several callers)"
		}
		ents.IP = c.Key
	} else {
		ents = entitiesOf(cl, a.Actor.IP)
	}
	refs := make([]event.Ref, 0, min(n, s.MaxEvidence))
	for _, l := range w.List[:min(n, s.MaxEvidence)] {
		refs = append(refs, l.Ref)
	}
	c.Emit(&alert.Alert{
		Detector: "access.vin-enumeration", Time: ev.Time, FirstSeen: first, LastSeen: ev.Time, Severity: event.SeverityHigh,
		Title: fmt.Sprintf("VIN enumeration by %s", by),
		Explanation: fmt.Sprintf("%s looked up %d vehicles one by one that it is not entitled to within %s (threshold %d in %v), "+
			"%d distinct: %d answered 404 (%.0f%%, threshold %.0f%%) and %d had a serial within %d of an earlier lookup on the same "+
			"production line (%.0f%%, threshold %.0f%%), through %s.", capital(by), n, fmtSpan(first, ev.Time), s.Lookups, s.Window,
			w.Distinct, w.NotFound, nf*100, s.NotFoundShare*100, w.Seq, s.SerialGap, sq*100, s.SequentialShare*100, a.Route),
		Entities: ents,
		Evidence: refs,
	})
}

const hourNs = int64(time.Hour)

var featureNames = [2]string{"location", "personal-data"}

// baseline is the records per hour a caller is expected to read, per
// feature: learned, raised to the role's prior while still learning, never
// below the floor.
func (s *exfilSettings) baseline(v *twin.ReadVolume, f int, role event.Role) float64 {
	b := float64(v.Base[f])
	if int(v.Hours) < s.LearnHours && int(role) < len(s.priors) {
		b = max(b, s.priors[role])
	}
	return max(b, s.VolumeFloor)
}

// roll moves the learning to the clock hour of t, folding a finished
// active hour into the baseline (capped at VolumeFactor × the baseline, so
// an attack does not teach the baseline much).
func (s *exfilSettings) roll(v *twin.ReadVolume, t int64, role event.Role) {
	hour := t - t%hourNs
	if hour <= v.Hour {
		return
	}
	if v.Cur != [2]uint32{} {
		for f := range v.Base {
			x := min(float64(v.Cur[f]), s.VolumeFactor*s.baseline(v, f, role))
			if v.Hours == 0 {
				v.Base[f] = float32(x)
			} else {
				v.Base[f] += float32((x - float64(v.Base[f])) / 8)
			}
		}
		v.Hours = min(v.Hours+1, 1<<16-1)
	}
	v.Cur = [2]uint32{}
	v.Hour = hour
}

func (d *Exfiltration) volume(c *detect.Context, s *exfilSettings, r *twin.ReadState, cl caller, ev *event.Event) {
	a := ev.APIAccess
	if !ok(a) {
		return
	}
	n := records(a)
	var add [2]int
	if a.Fields&event.FieldLocation != 0 {
		add[0] = n
	}
	if a.Fields&personal != 0 {
		add[1] = n
	}
	if add == [2]int{} {
		return
	}
	v := &r.Volume
	s.roll(v, ev.Time, cl.role)
	var vol, base [2]float64
	beyond, worst := false, -1
	for f := range add {
		v.Cur[f] = uint32(min(int(v.Cur[f])+add[f], 1<<32-1))
		vol[f] = v.Count(ev.Time, f, add[f])
		base[f] = s.baseline(v, f, cl.role)
		if add[f] > 0 && vol[f] > base[f] {
			beyond = true
		}
		// This read carries the volume across the line: the threshold, or
		// four times what was told already in this stretch.
		line := max(float64(s.VolumeRecords), s.VolumeFactor*base[f], 4*float64(v.Told))
		if add[f] > 0 && vol[f] >= line && vol[f]-float64(add[f]) < line && (worst < 0 || vol[f]/base[f] > vol[worst]/base[worst]) {
			worst = f
		}
	}
	switch {
	case beyond && len(v.Evidence) < s.MaxEvidence:
		if len(v.Evidence) == 0 {
			v.Since = ev.Time
		}
		v.Evidence = append(v.Evidence, ev.Ref())
	case !beyond && vol[0] <= base[0] && vol[1] <= base[1]:
		v.Evidence, v.Told = v.Evidence[:0], 0
	}
	if worst < 0 {
		return
	}
	f := worst
	v.Told, r.LastAlert[ruleVolume] = float32(vol[f]), ev.Time
	learned := fmt.Sprintf("learned over %d hour(s) with reads", v.Hours)
	if int(v.Hours) < s.LearnHours {
		learned = fmt.Sprintf("the prior for role %s while it learns (%d of %d hours seen)", roleName(cl.role), v.Hours, s.LearnHours)
	}
	other := ""
	if o := 1 - f; vol[o] > 0 {
		other = fmt.Sprintf("; %s records: %.0f against a baseline of %.0f (%.1f×)", featureNames[o], vol[o], base[o], vol[o]/base[o])
	}
	sev := event.SeverityHigh
	if f == 1 {
		sev = event.SeverityMedium
	}
	refs, since := slices.Clone(v.Evidence), v.Since
	if len(refs) == 0 {
		refs, since = []event.Ref{ev.Ref()}, ev.Time
	}
	c.Emit(&alert.Alert{
		Detector: "access.bulk-read", Time: ev.Time, FirstSeen: since, LastSeen: ev.Time, Severity: sev,
		Title: fmt.Sprintf("%s read %.1f× its usual %s records", capital(who(cl)), vol[f]/base[f], featureNames[f]),
		Explanation: fmt.Sprintf("%s read %.0f %s records in the last hour, %.1f× its baseline of %.0f per hour (%s); "+
			"threshold %.0f× and at least %d records%s. Last request: %s from IP %s.", capital(who(cl)), vol[f], featureNames[f],
			vol[f]/base[f], base[f], learned, s.VolumeFactor, s.VolumeRecords, other, a.Route, a.Actor.IP),
		Entities: entitiesOf(cl, a.Actor.IP),
		Evidence: refs,
	})
}

func roleName(r event.Role) string {
	if r == event.RoleUnset {
		return "(none)"
	}
	return r.String()
}

func (d *Exfiltration) addresses(c *detect.Context, s *exfilSettings, r *twin.ReadState, cl caller, ev *event.Event) {
	ip := ev.APIAccess.Actor.IP
	if ip == "" || ip == r.LastIP {
		r.LastAt = ev.Time
		return
	}
	prev, prevAt := r.LastIP, r.LastAt
	r.LastIP, r.LastAt = ip, ev.Time
	if prev == "" {
		return
	}
	limit := s.AccountIPs
	if cl.kind == directory.Client {
		limit = s.ClientIPs
	}
	if r.IPs == nil {
		r.IPs = &twin.HitWindow{}
		r.IPs.Add(twin.Hit{At: prevAt, Key: twin.HashID(prev), Name: prev}, s.ipWindow, limit+1)
	}
	w := r.IPs
	if !w.Add(twin.Hit{At: ev.Time, Key: twin.HashID(ip), Name: ip, Ref: ev.Ref()}, s.ipWindow, limit+1) {
		return
	}
	n := len(w.List)
	if n < limit || !s.cool(r, ruleIPs, ev.Time) {
		return
	}
	first, _ := w.Span()
	var refs []event.Ref
	for _, h := range w.List {
		if h.Ref != (event.Ref{}) && len(refs) < s.MaxEvidence {
			refs = append(refs, h.Ref)
		}
	}
	c.Emit(&alert.Alert{
		Detector: "access.token-ips", Time: ev.Time, FirstSeen: first, LastSeen: ev.Time, Severity: event.SeverityHigh,
		Title: fmt.Sprintf("%s used from %d addresses", capital(who(cl)), n),
		Explanation: fmt.Sprintf("%s called the API from %d distinct IP addresses within %s (threshold %d in %v): %s. "+
			"Its token or credentials are probably in more than one pair of hands.", capital(who(cl)), n, fmtSpan(first, ev.Time),
			limit, s.IPWindow, strings.Join(w.Names(10), ", ")),
		Entities: entitiesOf(cl, ip),
		Evidence: refs,
	})
}

// OnTimer is unused: the detector sets no timers.
func (d *Exfiltration) OnTimer(*detect.Context, detect.State, int64) {}
