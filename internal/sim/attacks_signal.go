package sim

import (
	"math"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/event"
)

// Spoofed telemetry and service outages.

// teleport: for a minute the unit reports a place hundreds of kilometres
// away, between its true fixes (a GNSS spoofer, an injected message).
func teleport(s *Simulator, sc *scenario, now int64) bool {
	moving := s.attack.IntN(2) == 0
	v := s.pickVehicle(func(v *vehicle) bool { return v.free(now) && !s.silenced(v, now) && v.driving() == moving })
	if v == nil {
		v = s.pickVehicle(func(v *vehicle) bool { return v.free(now) && !s.silenced(v, now) })
	}
	if v == nil {
		return false
	}
	d, a := 300_000+600_000*s.attack.Float64(), 2*math.Pi*s.attack.Float64()
	dx, dy := d*math.Sin(a), d*math.Cos(a)
	for _, t := range s.spread(now, 3+s.attack.IntN(3), 10*secondNs) {
		sc.at(t, func(now int64) {
			e, tm := s.telemetry(v, now)
			lat, lon := moveBy(v.lat, v.lon, dx, dy)
			v.fill(s.attack, tm, lat, lon, 5)
			if v.driving() {
				tm.Position.Heading, tm.Position.HasHeading = round1(v.heading), true
			}
			s.pushTelemetry(v, e)
		})
	}
	v.attacked = now + 15*minuteNs
	sc.onVehicle(s, v, alert.Entities{Device: v.imei})
	return true
}

// gpsDrift: a spoofer drags a parked car's GNSS position away at road speed
// and back, while the serving cell stays where the car is. No jump is
// impossible; only the cell gives it away.
func gpsDrift(s *Simulator, sc *scenario, now int64) bool {
	v := s.pickVehicle(func(v *vehicle) bool { return parkedFree(now)(v) && !s.silenced(v, now) })
	if v == nil {
		return false
	}
	times := s.spread(now, 14+s.attack.IntN(8), minuteNs)
	total := times[len(times)-1] - now
	a := 2 * math.Pi * s.attack.Float64()
	for _, t := range times {
		out := float64(min(t-now, total-(t-now))) / float64(secondNs) // seconds away from the true place
		d := 200 + 25*out                                             // 90 km/h out, then back
		sc.at(t, func(now int64) {
			e, tm := s.telemetry(v, now)
			lat, lon := moveBy(v.lat, v.lon, d*math.Sin(a), d*math.Cos(a))
			v.fill(s.attack, tm, lat, lon, 6)
			s.pushTelemetry(v, e)
		})
	}
	v.quietUntil = times[len(times)-1] + 1 // the unit's own reports would give the truth away
	v.hold(times[len(times)-1])
	sc.onVehicle(s, v, alert.Entities{Device: v.imei})
	return true
}

// clonedDevice: a second unit with the same IMEI and SIM reports from
// another city, with its own message counter.
func clonedDevice(s *Simulator, sc *scenario, now int64) bool {
	v := s.pickVehicle(func(v *vehicle) bool { return v.free(now) })
	if v == nil {
		return false
	}
	c := uint8(s.attack.IntN(len(cities)))
	for k := 0; k < len(cities) && Distance(cities[c].lat, cities[c].lon, v.lat, v.lon) < 300_000; k++ {
		c = uint8((int(c) + 1) % len(cities))
	}
	lat, lon := around(s.attack, c, 3000, 10_000)
	seq := uint64(1 + s.attack.IntN(500))
	odo := float64(20_000_000 + s.attack.IntN(40_000_000))
	ip := hostIP(11, int(v.idx))
	for _, t := range s.spread(now, 15+s.attack.IntN(10), minuteNs) {
		sc.at(t, func(now int64) {
			e, tm := s.telemetry(v, now)
			seq++
			tm.Device.IP = ip
			tm.Position = event.Position{Lat: round6(lat), Lon: round6(lon), Accuracy: 6, HasAcc: true}
			tm.HasSpeed, tm.Seq, tm.HasSeq = true, seq, true
			tm.Signals = event.Signals{TraveledDistance: odo, HasTraveledDistance: true, LowVoltageState: event.LVLock,
				DriverDoorLocked: event.True, EngineRunning: event.False}
			servingCell(tm.Cell, lat, lon, cities[c].mcc, cities[c].mncs[0])
			tm.Cell.DBM, tm.Cell.HasDBM = -80, true
			s.push(e) // its own connection: no ordering with the real unit
		})
	}
	v.attacked = now + 40*minuteNs
	sc.onVehicle(s, v, alert.Entities{Device: v.imei})
	return true
}

// telemetryDrop: two of a tenant's three gateways go down for about an hour;
// the vehicles behind them fall silent. Its label spans the outage.
func telemetryDrop(s *Simulator, sc *scenario, now int64) bool {
	t := s.vehicles[s.attack.IntN(len(s.vehicles))].tenant
	tn := &s.tenants[t]
	if tn.telemetryDown[1] > now || len(tn.vehicles) < 3 {
		return false
	}
	mask := uint8(1<<len(gateways)-1) &^ (1 << s.attack.IntN(len(gateways)))
	end := now + 50*minuteNs + s.attack.Int64N(20*minuteNs)
	sc.at(now, func(now int64) { tn.telemetryDown, tn.telemetryDownGates = [2]int64{now, end}, mask })
	sc.at(end, func(int64) {})
	sc.run.window = [2]int64{now, end}
	var affected []string
	for _, vi := range tn.vehicles {
		v := &s.vehicles[vi]
		v.outageExempt = now < v.attacked
		if mask&(1<<v.gateway) != 0 && !v.outageExempt {
			affected = append(affected, v.vin)
		}
	}
	sc.run.label.Tenant, sc.run.label.Entities = tn.name, alert.Entities{Vehicles: affected}
	return true
}

// commandFailures: the command service of a tenant stops delivering for
// half an hour; every command times out and owners try again.
func commandFailures(s *Simulator, sc *scenario, now int64) bool {
	t := s.vehicles[s.attack.IntN(len(s.vehicles))].tenant
	tn := &s.tenants[t]
	if tn.commandsDown[1] > now {
		return false
	}
	win := 20*minuteNs + s.attack.Int64N(10*minuteNs)
	vs := s.pickVehicles(t, min(max(len(tn.private)/40, 30), 150), parkedFree(now))
	if len(vs) < min(10, len(tn.private)) || len(vs) == 0 {
		return false
	}
	sc.at(now, func(now int64) { tn.commandsDown = [2]int64{now, now + win} })
	kinds := [...]event.CommandKind{event.CmdClimate, event.CmdLock, event.CmdUnlock, event.CmdLocate}
	for _, v := range vs {
		q := cmdReq{kind: kinds[s.attack.IntN(len(kinds))], channel: event.ChannelApp, actor: s.accounts[v.owner].actor(), r: s.attack}
		at := now + secondNs + s.attack.Int64N(win-5*minuteNs)
		for range 2 + s.attack.IntN(2) {
			sc.at(at, func(now int64) { s.command(v, now, q) })
			at += 40*secondNs + s.attack.Int64N(50*secondNs)
		}
		v.hold(at)
	}
	sc.run.label.Tenant, sc.run.label.Entities = tn.name, alert.Entities{Vehicles: vins(vs)}
	return true
}
