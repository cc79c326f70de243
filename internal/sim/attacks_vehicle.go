package sim

import (
	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/event"
)

// Attacks on vehicles and their commands.

func (sc *scenario) onVehicle(s *Simulator, v *vehicle, e alert.Entities) {
	sc.run.label.Tenant = s.tenants[v.tenant].name
	e.Vehicle = v.vin
	sc.run.label.Entities = e
}

// orphanStateChange: the car reports a remote unlock or start that no
// back-end command asked for (a fake base station, a compromised TSP link).
func orphanStateChange(name event.VehicleEventName, origin event.Origin) func(*Simulator, *scenario, int64) bool {
	return func(s *Simulator, sc *scenario, now int64) bool {
		v := s.pickVehicle(parkedFree(now))
		if v == nil {
			return false
		}
		sc.at(now, func(now int64) {
			if name == event.NameUnlocked {
				v.locked = false
			} else {
				v.engine = true
			}
			s.push(s.vehicleEvent(v, now, name, origin, ""))
		})
		end := now
		if name == event.NameEngineStarted {
			end = now + 2*minuteNs + s.attack.Int64N(6*minuteNs)
			sc.at(end, func(now int64) {
				v.engine = false
				s.push(s.vehicleEvent(v, now, event.NameEngineStopped, origin, ""))
			})
		}
		v.hold(end)
		sc.onVehicle(s, v, alert.Entities{})
		return true
	}
}

// unlinkedCommand: an owner commands a car that is not theirs (an API that
// does not check the link).
func unlinkedCommand(s *Simulator, sc *scenario, now int64) bool {
	v := s.pickVehicle(parkedFree(now))
	if v == nil {
		return false
	}
	_, a := s.victim(now, func(o *vehicle) bool { return o.tenant == v.tenant && o.owner != v.owner && o.owner != v.driver })
	if a == nil {
		return false
	}
	act := a.actor()
	sc.at(now, func(now int64) {
		s.command(v, now, cmdReq{kind: event.CmdUnlock, channel: event.ChannelApp, actor: act, outcome: outcomeExecuted, r: s.attack})
	})
	v.hold(now + minuteNs)
	a.attacked = now + 10*minuteNs
	sc.onVehicle(s, v, alert.Entities{Account: a.id})
	return true
}

// unsafeCommand stops or immobilises a car on the move. The engine stop is
// refused by the vehicle's interlock; the immobiliser arms for the next start.
func unsafeCommand(kind event.CommandKind, fleet bool) func(*Simulator, *scenario, int64) bool {
	return func(s *Simulator, sc *scenario, now int64) bool {
		// The back-end must be hearing the vehicle: a car whose telemetry an
		// outage swallows is moving for nobody but its driver.
		v := s.pickVehicle(func(v *vehicle) bool {
			return v.driving() && v.speed > 45 && v.trip.cum[v.trip.n]-v.trip.s > 5000 && now >= v.attacked &&
				(v.operator >= 0) == fleet && (fleet || v.owner >= 0) && !s.silenced(v, now)
		})
		if v == nil {
			return false
		}
		var a *account
		ch := event.ChannelApp
		if fleet {
			a, ch = &s.accounts[s.operators[v.operator].managers[0]], event.ChannelWeb
		} else {
			a = &s.accounts[v.owner]
		}
		o := outcomeRejected
		if kind == event.CmdImmobilize {
			o = outcomeExecuted
		}
		act := a.actor()
		sc.at(now, func(now int64) {
			s.command(v, now, cmdReq{kind: kind, channel: ch, actor: act, outcome: o, r: s.attack})
		})
		v.attacked = now + 10*minuteNs
		sc.onVehicle(s, v, alert.Entities{Account: a.id})
		return true
	}
}

// massCommand: one owner account scripts a command to dozens of cars.
func massCommand(kind event.CommandKind) func(*Simulator, *scenario, int64) bool {
	return func(s *Simulator, sc *scenario, now int64) bool {
		_, a := s.victim(now, anyVehicle)
		if a == nil {
			return false
		}
		want := 50 + s.attack.IntN(71)
		vs := s.pickVehicles(a.tenant, want, func(v *vehicle) bool {
			return v.phase == phParked && v.free(now) && (v.owner < 0 || &s.accounts[v.owner] != a)
		})
		if len(vs) < min(50, len(s.tenants[a.tenant].vehicles)/2) || len(vs) == 0 {
			return false
		}
		act := event.Actor{Account: a.id, IP: s.attackerIP(), Role: event.RoleOwner, UserAgent: scriptUA}
		t := now
		for _, v := range vs {
			sc.at(t, func(now int64) {
				s.command(v, now, cmdReq{kind: kind, channel: event.ChannelAPI, actor: act, r: s.attack})
			})
			v.hold(t + minuteNs)
			t += secondNs + s.attack.Int64N(4*secondNs)
		}
		a.attacked = t + 10*minuteNs
		sc.run.label.Tenant = s.tenants[a.tenant].name
		sc.run.label.Entities = alert.Entities{Account: a.id, IP: act.IP, Vehicles: vins(vs)}
		return true
	}
}

type tamperMode int

const (
	tamperUnsigned tamperMode = iota
	tamperBadSignature
	tamperUnknownHash
	tamperDowngrade
)

// tamper installs an image the OEM did not release, or an old one, by hand.
func tamper(mode tamperMode) func(*Simulator, *scenario, int64) bool {
	return func(s *Simulator, sc *scenario, now int64) bool {
		ecu := [...]int{ecuTCU, ecuGateway, ecuInfotainment, ecuTCU}[mode]
		v := s.pickVehicle(func(v *vehicle) bool { return parkedFree(now)(v) && (mode != tamperDowngrade || v.fwRel[ecu] > 0) })
		if v == nil {
			return false
		}
		f := event.Firmware{ECU: ecuNames[ecu], PreviousVersion: v.fw[ecu], Size: ecuSizes[ecu], HasSize: true,
			Channel: event.FWChannelUnknown, Result: event.FWInstalled}
		var digest [32]byte
		for i := range digest {
			digest[i] = byte(s.attack.Uint32())
		}
		rel := -1
		switch mode {
		case tamperUnsigned:
			f.Version, f.SHA256, f.Channel = v.fw[ecu]+"-mod", digest, event.FWChannelUSB
		case tamperBadSignature:
			sig := make([]byte, 64)
			for i := range sig {
				sig[i] = byte(s.attack.Uint32())
			}
			f.Version, f.SHA256 = s.fw.releases[ecu][len(s.fw.releases[ecu])-1].version, digest
			f.Signature = &event.Signature{Alg: event.AlgEd25519, KeyID: s.fw.keyID, Value: sig}
		case tamperUnknownHash: // signed with the real key: the key leaked
			r := s.fw.sign(digest, nextMajor[ecu]+"99.0")
			f.Version, f.SHA256 = r.version, digest
			f.Signature = &event.Signature{Alg: event.AlgEd25519, KeyID: s.fw.keyID, Value: r.sig}
		case tamperDowngrade:
			f = s.fw.genuine(ecu, 0, v.fw[ecu], "", event.FWInstalled)
			f.Channel, rel = event.FWChannelUSB, 0
		}
		sc.at(now, func(now int64) {
			s.push(s.firmwareEvent(v, now, f))
			if rel >= 0 {
				v.setFirmware(&s.fw, ecu, rel)
			} else {
				v.fw[ecu], v.fwRel[ecu] = f.Version, -1
			}
		})
		v.hold(now)
		sc.onVehicle(s, v, alert.Entities{})
		return true
	}
}

type smsMode int

const (
	smsUnknownOriginator smsMode = iota
	smsNoAuth
	smsReplay
)

// smsSpoof sends command SMS to a vehicle's SIM that the gateway did not
// originate, or replays one it did. The unit ignores them.
func smsSpoof(mode smsMode) func(*Simulator, *scenario, int64) bool {
	return func(s *Simulator, sc *scenario, now int64) bool {
		v := s.pickVehicle(func(v *vehicle) bool { return v.free(now) && (mode != smsReplay || v.lastNonce != "") })
		if v == nil {
			return false
		}
		from := "+4479" + string(zeroPad(s.attack.IntN(100_000_000), 8))
		n := 2 + s.attack.IntN(3)
		for i, t := range s.spread(now, n, 40*secondNs) {
			m := event.SMS{Direction: event.DirMT, Originator: from, Recipient: v.msisdn, Kind: event.SMSCommand,
				Command: [...]string{"unlock", "engine_start", "immobilize_off", "unlock"}[i%4]}
			switch mode {
			case smsUnknownOriginator:
				m.Auth, m.Nonce = event.AuthInvalid, nonce(s.attack)
			case smsNoAuth:
				m.Auth = event.AuthAbsent
			case smsReplay: // a captured message, sent again as it was
				m.Originator, m.Kind, m.Auth, m.Nonce = gatewayMSISDNs[v.idx%int32(len(gatewayMSISDNs))], v.lastKind, event.AuthValid, v.lastNonce
				if m.Kind != event.SMSCommand {
					m.Command = ""
				}
				from = m.Originator
			}
			sc.emit(s, t, func(now int64) *event.Event { return s.sms(v, now, m) })
		}
		v.attacked = now + 15*minuteNs
		sc.onVehicle(s, v, alert.Entities{MSISDN: from})
		return true
	}
}

// criticalIDS: the car's IDS sees an attack on its buses.
func criticalIDS(s *Simulator, sc *scenario, now int64) bool {
	v := s.pickVehicle(func(v *vehicle) bool { return v.free(now) })
	if v == nil {
		return false
	}
	events := [...]struct {
		id, ecu string
		sev     event.Severity
	}{{"CAN_MSG_INJECTION", "gateway", event.SeverityCritical}, {"UDS_SECURITY_ACCESS_BRUTEFORCE", "bcm", event.SeverityHigh},
		{"GW_FIREWALL_VIOLATION", "gateway", event.SeverityHigh}, {"ECU_REPROGRAMMING_ATTEMPT", "ecm", event.SeverityCritical}}
	first := s.attack.IntN(len(events))
	for i, t := range s.spread(now, 2+s.attack.IntN(4), 45*secondNs) {
		ev := events[(first+i)%len(events)]
		r := event.IDSReport{ECU: ev.ecu, Sensor: "can-monitor", EventID: ev.id, Severity: ev.sev,
			Count: int64(5 + s.attack.IntN(200)), HasCount: true, Product: "vsoc-ids 3.1"}
		sc.at(t, func(now int64) { s.push(s.idsReport(v, now, r)) })
	}
	v.attacked = now + 15*minuteNs
	sc.onVehicle(s, v, alert.Entities{})
	return true
}

// fleetWideIDS: the same IDS event on many cars within minutes (a worm, a
// malicious back-end message).
func fleetWideIDS(s *Simulator, sc *scenario, now int64) bool {
	t := s.vehicles[s.attack.IntN(len(s.vehicles))].tenant
	vs := s.pickVehicles(t, 20+s.attack.IntN(41), func(v *vehicle) bool { return v.free(now) })
	if len(vs) < min(10, len(s.tenants[t].vehicles)) || len(vs) == 0 {
		return false
	}
	r := event.IDSReport{ECU: "tcu", Sensor: "host-ids", EventID: "TCU_UNEXPECTED_INBOUND_CONNECTION",
		Severity: event.SeverityHigh, Count: 1, HasCount: true, Product: "vsoc-ids 3.1"}
	for i, at := range s.spread(now, len(vs), 10*secondNs) {
		v := vs[i]
		sc.at(at, func(now int64) { s.push(s.idsReport(v, now, r)) })
		v.attacked = at + 15*minuteNs
	}
	sc.run.label.Tenant = s.tenants[t].name
	sc.run.label.Entities = alert.Entities{Vehicles: vins(vs)}
	return true
}
