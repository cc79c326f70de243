package sim

import (
	"github.com/vigil-project/vigil/internal/event"
)

// account is a person's or an organisation's login: an owner or driver with
// the app, a fleet manager, a dealer, a TSP staff member. Its process is the
// rhythm of its days.
type account struct {
	id, device, ip, ua string
	role               event.Role
	tenant             uint16
	city               uint8
	lead               bool  // the fleet manager who locks the fleet up at night
	operator           int32 // fleet managers: their operator, else -1
	vehicles           []int32
	stage              uint8
	attacked           int64 // an attack uses the account until then
}

func (a *account) actor() event.Actor {
	return event.Actor{Account: a.id, Device: a.device, IP: a.ip, Role: a.role}
}

func (a *account) loginActor() event.Actor {
	act := a.actor()
	act.UserAgent = a.ua
	return act
}

func (a *account) firstWake(s *Simulator) int64 {
	switch a.role {
	case event.RoleOwner, event.RoleDriver:
		return a.nextSession(s, s.start)
	case event.RoleFleetManager, event.RoleDealer, event.RoleStaff:
		return a.nextWorkday(s, localDay(s.start))
	}
	return never
}

// workdayStart is when a professional logs in on local day d.
var workdayStart = [...]float64{event.RoleFleetManager: 7.3, event.RoleDealer: 8.5, event.RoleStaff: 8}

func (a *account) nextWorkday(s *Simulator, d int64) int64 {
	for ; ; d++ {
		wd := weekday(d)
		if wd == 6 || (wd == 5 && a.role == event.RoleStaff) {
			continue
		}
		if t := atLocal(d, workdayStart[a.role]+s.life.Float64()); t >= s.start {
			return t
		}
	}
}

func (a *account) step(s *Simulator, now int64) int64 {
	switch a.role {
	case event.RoleOwner, event.RoleDriver:
		a.session(s, now)
		return a.nextSession(s, now)
	}
	d := localDay(now)
	if a.stage == 0 { // start of the working day
		a.stage = 1
		s.push(s.login(a.tenant, now, event.Login{Actor: a.loginActor(), Result: event.ResultSuccess, Method: a.method(), MFA: event.True}))
		return now + 2*minuteNs + s.life.Int64N(10*minuteNs)
	}
	end := 18.0
	if a.role == event.RoleStaff || weekday(d) == 5 {
		end = 17
	}
	if localHour(now) >= end {
		a.stage = 0
		if a.lead && a.role == event.RoleFleetManager {
			s.procs.push(atLocal(d, 19+1.5*s.life.Float64()), &lockAll{a: a})
		}
		return a.nextWorkday(s, d+1)
	}
	switch a.role {
	case event.RoleFleetManager:
		a.dashboard(s, now)
		return now + 20*minuteNs + s.life.Int64N(20*minuteNs)
	case event.RoleDealer:
		if len(a.vehicles) > 0 {
			a.dealerLookup(s, now)
		}
		return now + 4*minuteNs + s.life.Int64N(16*minuteNs)
	default:
		a.supportLookup(s, now)
		return now + 20*minuteNs + s.life.Int64N(40*minuteNs)
	}
}

func (a *account) method() event.LoginMethod {
	if a.role == event.RoleStaff {
		return event.MethodSSO
	}
	return event.MethodPassword
}

// nextSession: an owner opens the app two or three times a day, in waking hours.
func (a *account) nextSession(s *Simulator, now int64) int64 {
	mean := 8 * float64(hourNs)
	if a.role == event.RoleDriver {
		mean *= 2.5
	}
	t := now + int64(s.life.ExpFloat64()*mean)
	if h := localHour(t); h < 6.5 || h > 23.5 {
		d := localDay(t)
		if h > 23.5 {
			d++
		}
		t = atLocal(d, 6.5+3*s.life.Float64())
	}
	return t
}

// session is one use of the app: log in, look at the car, now and then
// command it, rarely change the account.
func (a *account) session(s *Simulator, now int64) {
	r := s.life
	t := a.appLogin(s, now)
	v := &s.vehicles[a.vehicles[r.IntN(len(a.vehicles))]]
	t += secondNs + r.Int64N(2*secondNs)
	s.push(s.apiAccess(a.tenant, t, v.vin, event.APIAccess{Actor: a.actor(), Route: "/v1/vehicles/{vin}/status",
		Vehicles: []string{v.vin}, Status: 200, Fields: event.FieldVIN}))
	if r.IntN(5) < 2 {
		t += secondNs + r.Int64N(4*secondNs)
		s.push(s.apiAccess(a.tenant, t, v.vin, event.APIAccess{Actor: a.actor(), Route: "/v1/vehicles/{vin}/location",
			Vehicles: []string{v.vin}, Status: 200, Fields: event.FieldLocation}))
	}
	if r.IntN(10) == 0 && v.phase == phParked && t >= v.busyUntil && t >= v.attacked {
		kind := [...]event.CommandKind{event.CmdClimate, event.CmdClimate, event.CmdLocate, event.CmdHornLights, event.CmdLock}[r.IntN(5)]
		ch := event.ChannelApp
		if r.IntN(5) == 0 {
			ch = event.ChannelWeb
		}
		s.ownerCommand(v, t+3*secondNs+r.Int64N(15*secondNs), a, kind, ch)
	}
	switch n := r.IntN(1000); {
	case n < 2: // new e-mail address or phone number, confirmed through the old one
		change := event.ChangeEmail
		if n == 1 {
			change = event.ChangePhone
		}
		s.push(s.accountChange(a.tenant, t+20*secondNs, "", event.AccountChange{Actor: a.actor(), Account: a.id,
			Change: change, ConfirmedByPreviousContact: event.True}))
	case n == 2: // a new phone: the old device goes, the new one comes
		a.device = hexID(r, "dev-", 12)
		s.push(s.accountChange(a.tenant, t+30*secondNs, "", event.AccountChange{Actor: a.actor(), Account: a.id,
			Change: event.ChangeDeviceRegistered}))
	}
}

// appLogin logs in from the usual device and address: mostly a token or a
// fingerprint, sometimes the password with an honest typo or two, rarely a
// forgotten password and a reset. It returns the time of the success.
func (a *account) appLogin(s *Simulator, now int64) int64 {
	r := s.life
	l := event.Login{Actor: a.loginActor(), Result: event.ResultSuccess}
	switch n := r.IntN(100); {
	case n < 65:
		l.Method = event.MethodToken
	case n < 80:
		l.Method = event.MethodBiometric
	default:
		l.Method = event.MethodPassword
		fails := 0
		switch m := r.IntN(100); {
		case m < 2:
			fails = 3
		case m < 6:
			fails = 2
		case m < 12:
			fails = 1
		}
		for range fails {
			s.push(s.login(a.tenant, now, event.Login{Actor: l.Actor, Result: event.ResultFailure,
				Reason: event.ReasonBadPassword, Method: event.MethodPassword}))
			now += 5*secondNs + r.Int64N(20*secondNs)
		}
		if fails == 3 { // gave up and reset it through the known e-mail
			now += minuteNs + r.Int64N(2*minuteNs)
			s.push(s.accountChange(a.tenant, now, "", event.AccountChange{Actor: a.actor(), Account: a.id,
				Change: event.ChangePasswordReset, ConfirmedByPreviousContact: event.True}))
			now += minuteNs + r.Int64N(minuteNs)
		}
	}
	s.push(s.login(a.tenant, now, l))
	return now
}

// dashboard is the fleet manager's map of the fleet.
func (a *account) dashboard(s *Simulator, now int64) {
	o := &s.operators[a.operator]
	s.push(s.apiAccess(a.tenant, now, "", event.APIAccess{Actor: a.actor(), Route: "/v1/fleets/{fleet}/vehicles",
		Vehicles: o.vins, Status: 200, Fields: event.FieldLocation | event.FieldVIN}))
}

func (a *account) dealerLookup(s *Simulator, now int64) {
	v := &s.vehicles[a.vehicles[s.life.IntN(len(a.vehicles))]]
	s.push(s.apiAccess(a.tenant, now, v.vin, event.APIAccess{Actor: a.actor(), Route: "/v1/dealer/vehicles/{vin}",
		Vehicles: []string{v.vin}, Status: 200, Fields: event.FieldVIN | event.FieldName}))
	if s.life.IntN(10) < 3 {
		s.push(s.apiAccess(a.tenant, now+10*secondNs+s.life.Int64N(50*secondNs), v.vin, event.APIAccess{Actor: a.actor(),
			Route: "/v1/dealer/vehicles/{vin}/service-history", Vehicles: []string{v.vin}, Status: 200, Fields: event.FieldVIN}))
	}
}

// supportLookup is a staff member opening a customer's case.
func (a *account) supportLookup(s *Simulator, now int64) {
	v := &s.vehicles[s.life.IntN(len(s.vehicles))]
	s.push(s.apiAccess(v.tenant, now, v.vin, event.APIAccess{Actor: a.actor(), Route: "/v1/support/vehicles/{vin}",
		Vehicles: []string{v.vin}, Status: 200, Fields: event.FieldName | event.FieldEmail | event.FieldPhone | event.FieldVIN}))
	if s.life.IntN(7) == 0 {
		s.push(s.apiAccess(v.tenant, now+30*secondNs+s.life.Int64N(2*minuteNs), v.vin, event.APIAccess{Actor: a.actor(),
			Route: "/v1/support/vehicles/{vin}/location-history", Vehicles: []string{v.vin}, Status: 200, Fields: event.FieldLocation}))
	}
}

// lockAll is a fleet manager locking every parked vehicle of the fleet in
// the evening: a legitimate mass command.
type lockAll struct {
	a *account
	i int
}

func (l *lockAll) step(s *Simulator, now int64) int64 {
	vs := s.operators[l.a.operator].vehicles
	for ; l.i < len(vs); l.i++ {
		v := &s.vehicles[vs[l.i]]
		if v.phase != phParked || now < v.busyUntil || now < v.attacked {
			continue
		}
		l.i++
		s.command(v, now, cmdReq{kind: event.CmdLock, channel: event.ChannelWeb, actor: l.a.actor(), r: s.life})
		return now + 300*msNs + s.life.Int64N(1500*msNs)
	}
	return never
}

func (p *partner) firstWake(s *Simulator) int64 { return p.nightly(s, localDay(s.start)) }

// nightly is the partner's batch job, between 2 and 3:30 at night.
func (p *partner) nightly(s *Simulator, d int64) int64 {
	if len(p.vins) == 0 {
		return never
	}
	for ; ; d++ {
		if t := atLocal(d, 2+1.5*s.life.Float64()); t >= s.start {
			return t
		}
	}
}

const partnerPage = 50

func (p *partner) step(s *Simulator, now int64) int64 {
	act := event.Actor{ClientID: p.clientID, IP: p.ip, Role: event.RoleThirdParty}
	if p.stage == 0 {
		p.stage, p.page = 1, 0
		s.push(s.login(p.tenant, now, event.Login{Actor: act, Result: event.ResultSuccess, Method: event.MethodToken}))
		return now + secondNs + s.life.Int64N(2*secondNs)
	}
	lo := p.page * partnerPage
	hi := min(lo+partnerPage, len(p.vins))
	route, fields := "/v1/partner/vehicles/odometer", event.FieldVIN
	if p.clientID[len("partner-"):][0] == 'c' { // the charging app wants positions
		route, fields = "/v1/partner/vehicles/location", event.FieldVIN|event.FieldLocation
	}
	s.push(s.apiAccess(p.tenant, now, "", event.APIAccess{Actor: act, Route: route, Vehicles: p.vins[lo:hi:hi], Status: 200, Fields: fields}))
	p.page++
	if hi < len(p.vins) {
		return now + 500*msNs + s.life.Int64N(2*secondNs)
	}
	p.stage = 0
	return p.nightly(s, localDay(now)+1)
}
