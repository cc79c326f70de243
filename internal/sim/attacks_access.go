package sim

import (
	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/event"
)

// Attacks on accounts and on the data behind the API.

const (
	scriptUA = "python-requests/2.32.3"
	botUA    = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:124.0) Gecko/20100101 Firefox/124.0"
)

// emit plans one event built at time t.
func (sc *scenario) emit(s *Simulator, t int64, build func(now int64) *event.Event) {
	sc.at(t, func(now int64) { s.push(build(now)) })
}

// victim picks a private vehicle whose owner no attack is using.
func (s *Simulator) victim(now int64, ok func(*vehicle) bool) (*vehicle, *account) {
	v := s.pickVehicle(func(v *vehicle) bool { return v.owner >= 0 && now >= s.accounts[v.owner].attacked && ok(v) })
	if v == nil {
		return nil, nil
	}
	return v, &s.accounts[v.owner]
}

func anyVehicle(*vehicle) bool { return true }

func (sc *scenario) failures(s *Simulator, tenant uint16, times []int64, l event.Login) {
	for _, t := range times {
		sc.emit(s, t, func(now int64) *event.Event { return s.login(tenant, now, l) })
	}
}

func bruteForce(s *Simulator, sc *scenario, now int64) bool {
	v, a := s.victim(now, anyVehicle)
	if v == nil {
		return false
	}
	ip := s.attackerIP()
	times := s.spread(now, 30+s.attack.IntN(51), 5*secondNs)
	sc.failures(s, v.tenant, times, event.Login{Actor: event.Actor{Account: a.id, IP: ip, UserAgent: scriptUA},
		Result: event.ResultFailure, Reason: event.ReasonBadPassword, Method: event.MethodPassword})
	a.attacked = times[len(times)-1] + 10*minuteNs
	sc.run.label.Tenant, sc.run.label.Entities = s.tenants[v.tenant].name, alert.Entities{Account: a.id, IP: ip}
	return true
}

// ownersOf lists up to want owner accounts of tenant t, from a random start.
func (s *Simulator) ownersOf(t uint16, want int, now int64) []*account {
	var out []*account
	for _, v := range s.pickVehicles(t, len(s.tenants[t].vehicles), func(v *vehicle) bool { return v.owner >= 0 }) {
		if a := &s.accounts[v.owner]; now >= a.attacked && (len(out) == 0 || out[len(out)-1] != a) {
			out = append(out, a)
		}
		if len(out) == want {
			break
		}
	}
	return out
}

func passwordSpraying(s *Simulator, sc *scenario, now int64) bool {
	t := s.vehicles[s.attack.IntN(len(s.vehicles))].tenant
	victims := s.ownersOf(t, 50+s.attack.IntN(71), now)
	if len(victims) < 20 {
		return false
	}
	ip := s.attackerIP()
	at := now
	for _, a := range victims {
		tries := 1 + s.attack.IntN(2)
		for range tries {
			sc.failures(s, t, []int64{at}, event.Login{Actor: event.Actor{Account: a.id, IP: ip, UserAgent: botUA},
				Result: event.ResultFailure, Reason: event.ReasonBadPassword, Method: event.MethodPassword})
			at += 2*secondNs + s.attack.Int64N(8*secondNs)
		}
		a.attacked = at + 10*minuteNs
	}
	sc.run.label.Tenant, sc.run.label.Entities = s.tenants[t].name, alert.Entities{IP: ip}
	return true
}

// credentialStuffing replays a leaked list: mostly unknown users, some wrong
// passwords, a few hits.
func credentialStuffing(s *Simulator, sc *scenario, now int64) bool {
	t := s.vehicles[s.attack.IntN(len(s.vehicles))].tenant
	known := s.ownersOf(t, 120, now)
	if len(known) < 10 {
		return false
	}
	ip := s.attackerIP()
	times := s.spread(now, 150+s.attack.IntN(250), 5*secondNs)
	for _, at := range times {
		l := event.Login{Actor: event.Actor{IP: ip, UserAgent: botUA}, Result: event.ResultFailure, Method: event.MethodPassword}
		switch n := s.attack.IntN(100); {
		case n < 70:
			l.UsernameHash, l.Reason = hexID(s.attack, "", 16), event.ReasonUnknownUser
		default:
			a := known[s.attack.IntN(len(known))]
			l.Actor.Account, l.Reason = a.id, event.ReasonBadPassword
			a.attacked = times[len(times)-1] + 10*minuteNs
			if n < 73 {
				l.Result, l.Reason = event.ResultSuccess, event.ReasonUnset
			}
		}
		sc.failures(s, t, []int64{at}, l)
	}
	sc.run.label.Tenant, sc.run.label.Entities = s.tenants[t].name, alert.Entities{IP: ip}
	return true
}

// pinGuessing: a stolen phone, its app asking for the PIN.
func pinGuessing(s *Simulator, sc *scenario, now int64) bool {
	v, a := s.victim(now, anyVehicle)
	if v == nil {
		return false
	}
	ip := s.attackerIP()
	times := s.spread(now, 12+s.attack.IntN(14), 10*secondNs)
	sc.failures(s, v.tenant, times, event.Login{Actor: event.Actor{Account: a.id, Device: a.device, IP: ip, Role: a.role, UserAgent: a.ua},
		Result: event.ResultFailure, Reason: event.ReasonBadPIN, Method: event.MethodPIN})
	a.attacked = times[len(times)-1] + 10*minuteNs
	sc.run.label.Tenant, sc.run.label.Entities = s.tenants[v.tenant].name, alert.Entities{Account: a.id, Device: a.device}
	return true
}

// takeover: log in with stolen credentials, change a contact without the old
// one confirming, register a new phone, then command the car from it.
func takeover(change event.ChangeKind, cmd event.CommandKind) func(*Simulator, *scenario, int64) bool {
	return func(s *Simulator, sc *scenario, now int64) bool {
		v, a := s.victim(now, parkedFree(now))
		if v == nil {
			return false
		}
		act := event.Actor{Account: a.id, Device: hexID(s.attack, "dev-", 12), IP: s.attackerIP(), Role: event.RoleOwner}
		t := now
		sc.emit(s, t, func(now int64) *event.Event {
			la := act
			la.UserAgent = appUAAndr
			return s.login(v.tenant, now, event.Login{Actor: la, Result: event.ResultSuccess, Method: event.MethodPassword, MFA: event.False})
		})
		t += minuteNs + s.attack.Int64N(2*minuteNs)
		sc.emit(s, t, func(now int64) *event.Event {
			return s.accountChange(v.tenant, now, "", event.AccountChange{Actor: act, Account: a.id, Change: change, ConfirmedByPreviousContact: event.False})
		})
		t += minuteNs + s.attack.Int64N(3*minuteNs)
		sc.emit(s, t, func(now int64) *event.Event {
			return s.accountChange(v.tenant, now, "", event.AccountChange{Actor: act, Account: a.id, Change: event.ChangeDeviceRegistered})
		})
		t += minuteNs + s.attack.Int64N(4*minuteNs)
		sc.at(t, func(now int64) {
			s.command(v, now, cmdReq{kind: cmd, channel: event.ChannelApp, actor: act, outcome: outcomeExecuted, r: s.attack})
		})
		v.hold(t + minuteNs)
		a.attacked = t + 30*minuteNs
		sc.run.label.Tenant = s.tenants[v.tenant].name
		sc.run.label.Entities = alert.Entities{Vehicle: v.vin, Account: a.id, Device: act.Device, IP: act.IP}
		return true
	}
}

// reads plans one API read per vehicle, gap apart on average.
func (sc *scenario) reads(s *Simulator, t int64, gap int64, tenant uint16, act event.Actor, route string, fields event.PersonalFields, vs []*vehicle) int64 {
	for _, v := range vs {
		sc.emit(s, t, func(now int64) *event.Event {
			return s.apiAccess(tenant, now, v.vin, event.APIAccess{Actor: act, Route: route, Vehicles: []string{v.vin}, Status: 200, Fields: fields})
		})
		t += gap/2 + s.attack.Int64N(gap)
	}
	return t
}

// bulkLocation: a partner's API client pages through the location of
// thousands of vehicles it is not linked to.
func bulkLocation(s *Simulator, sc *scenario, now int64) bool {
	p := &s.partners[s.attack.IntN(len(s.partners))]
	linked := map[int32]bool{}
	for _, vi := range p.vehicles {
		linked[vi] = true
	}
	var read []string
	want := 2000 + s.attack.IntN(3000)
	for _, vi := range s.tenants[p.tenant].vehicles {
		if !linked[vi] && len(read) < want {
			read = append(read, s.vehicles[vi].vin)
		}
	}
	if len(read) < 50 {
		return false
	}
	act := event.Actor{ClientID: p.clientID, IP: s.attackerIP(), Role: event.RoleThirdParty}
	sc.emit(s, now, func(now int64) *event.Event {
		return s.login(p.tenant, now, event.Login{Actor: act, Result: event.ResultSuccess, Method: event.MethodToken})
	})
	t := now + 2*secondNs
	for lo := 0; lo < len(read); lo += 100 {
		hi := min(lo+100, len(read))
		page := read[lo:hi:hi]
		sc.emit(s, t, func(now int64) *event.Event {
			return s.apiAccess(p.tenant, now, "", event.APIAccess{Actor: act, Route: "/v1/partner/vehicles/location",
				Vehicles: page, Status: 200, Fields: event.FieldLocation | event.FieldVIN})
		})
		t += 3*secondNs + s.attack.Int64N(10*secondNs)
	}
	sc.run.label.Tenant, sc.run.label.Entities = s.tenants[p.tenant].name, alert.Entities{ClientID: p.clientID, IP: act.IP}
	return true
}

// vinEnumeration walks serial numbers from a real VIN: most do not exist.
func vinEnumeration(s *Simulator, sc *scenario, now int64) bool {
	base := &s.vehicles[s.attack.IntN(len(s.vehicles))]
	if s.vinIndex == nil {
		s.vinIndex = make(map[string]int32, len(s.vehicles))
		for i := range s.vehicles {
			s.vinIndex[s.vehicles[i].vin] = int32(i)
		}
	}
	serial := 0
	for _, c := range base.vin[11:] {
		serial = serial*10 + int(c-'0')
	}
	serial = max(0, serial-s.attack.IntN(200))
	act := event.Actor{Account: "acc-9" + string(zeroPad(s.attack.IntN(1_000_000), 6)), IP: s.attackerIP(), Role: event.RoleOwner, UserAgent: scriptUA}
	prefix := []byte(base.vin[:11])
	t := now
	for i := range 300 + s.attack.IntN(300) {
		vin := makeVIN(prefix, (serial+i)%1_000_000)
		vi, ok := s.vinIndex[vin]
		sc.emit(s, t, func(now int64) *event.Event {
			a := event.APIAccess{Actor: act, Route: "/v1/vehicles/{vin}/status", Vehicles: []string{vin}, Status: 404}
			subject, tenant := "", base.tenant
			if ok {
				a.Status, a.Fields = 200, event.FieldVIN|event.FieldLocation|event.FieldName
				subject, tenant = vin, s.vehicles[vi].tenant
			}
			return s.apiAccess(tenant, now, subject, a)
		})
		t += secondNs + s.attack.Int64N(secondNs)
	}
	sc.run.label.Tenant, sc.run.label.Entities = s.tenants[base.tenant].name, alert.Entities{Account: act.Account, IP: act.IP}
	return true
}

// tokenMisuse: an owner's stolen token reads the location of other people's cars.
func tokenMisuse(s *Simulator, sc *scenario, now int64) bool {
	v, a := s.victim(now, anyVehicle)
	if v == nil {
		return false
	}
	others := s.pickVehicles(v.tenant, 300+s.attack.IntN(500), func(o *vehicle) bool { return o.owner != v.owner })
	if len(others) < 50 {
		return false
	}
	act := event.Actor{Account: a.id, Device: a.device, IP: s.attackerIP(), Role: a.role}
	end := sc.reads(s, now, 2*secondNs, v.tenant, act, "/v1/vehicles/{vin}/location", event.FieldLocation, others)
	a.attacked = end + 10*minuteNs
	sc.run.label.Tenant, sc.run.label.Entities = s.tenants[v.tenant].name, alert.Entities{Account: a.id, IP: act.IP}
	return true
}

// dealerOutsideInventory: a dealer looks up customers' cars it never sold or serviced.
func dealerOutsideInventory(s *Simulator, sc *scenario, now int64) bool {
	var d *account
	for off, k := s.attack.IntN(len(s.accounts)), 0; k < len(s.accounts); k++ {
		if a := &s.accounts[(off+k)%len(s.accounts)]; a.role == event.RoleDealer && now >= a.attacked {
			d = a
			break
		}
	}
	if d == nil {
		return false
	}
	inv := map[int32]bool{}
	for _, vi := range d.vehicles {
		inv[vi] = true
	}
	vs := s.pickVehicles(d.tenant, 120+s.attack.IntN(180), func(v *vehicle) bool { return !inv[v.idx] })
	if len(vs) < 30 {
		return false
	}
	end := sc.reads(s, now, 10*secondNs, d.tenant, d.actor(), "/v1/dealer/vehicles/{vin}",
		event.FieldVIN|event.FieldName|event.FieldAddress|event.FieldPhone, vs)
	d.attacked = end + 10*minuteNs
	sc.run.label.Tenant, sc.run.label.Entities = s.tenants[d.tenant].name, alert.Entities{Account: d.id}
	return true
}

// staffAtNight: a staff member logs in at night and pulls location histories.
func staffAtNight(s *Simulator, sc *scenario, now int64) bool {
	var st *account
	for off, k := s.attack.IntN(len(s.accounts)), 0; k < len(s.accounts); k++ {
		if a := &s.accounts[(off+k)%len(s.accounts)]; a.role == event.RoleStaff && now >= a.attacked {
			st = a
			break
		}
	}
	if st == nil {
		return false
	}
	t := s.vehicles[s.attack.IntN(len(s.vehicles))].tenant
	vs := s.pickVehicles(t, 60+s.attack.IntN(140), anyVehicle)
	sc.emit(s, now, func(now int64) *event.Event {
		return s.login(noTenant, now, event.Login{Actor: st.loginActor(), Result: event.ResultSuccess, Method: event.MethodSSO, MFA: event.True})
	})
	end := sc.reads(s, now+minuteNs, 16*secondNs, t, st.actor(), "/v1/support/vehicles/{vin}/location-history",
		event.FieldLocation|event.FieldName, vs)
	st.attacked = end + 10*minuteNs
	sc.run.label.Tenant, sc.run.label.Entities = s.tenants[t].name, alert.Entities{Account: st.id}
	return true
}
