package sim

import (
	"math"
	"math/rand/v2"

	"github.com/vigil-project/vigil/internal/event"
)

// vehicle is one car and its telematics unit, and the process of its day:
// parked with a heartbeat, unlocked, driving, stopped.
type vehicle struct {
	idx      int32
	tenant   uint16
	city     uint8
	kind     uint8
	gateway  uint8
	phase    uint8
	vin      string
	imei     string
	iccid    string
	msisdn   string
	deviceIP string
	owner    int32 // account, -1 for fleet vehicles
	driver   int32 // secondary driver account, -1 if none
	operator int32 // -1 for private vehicles

	homeLat, homeLon float64
	workLat, workLon float64
	lat, lon         float64
	heading          float64
	speed            float64 // km/h
	odo              float64 // m
	seq              uint64
	locked, engine   bool

	fw    [numECUs]string
	fwRel [numECUs]int // index in the release list, -1 for an image that is none

	plan        dayPlan
	trip        *trip
	nextBeat    int64
	busyUntil   int64 // a command or an attack is using the vehicle: no departure before
	quietUntil  int64 // an attack speaks for the telematics unit: it stays silent
	attacked    int64 // an attack targets it until then: other attacks pick another
	remindLock  int64 // the owner forgot to lock and will lock remotely then; 0 if not
	lastArrival int64
	lastNonce   string // nonce of the last authenticated SMS to the vehicle
	lastKind    event.SMSKind
	// outageExempt keeps a vehicle that an attack was using when its gateway
	// went down talking, so that neither attack's label is wrong.
	outageExempt bool
	pending      *pendingInstall
}

const (
	phParked   = iota
	phUnlocked // someone got in; the engine starts soon
	phDriving
	phStopped // engine off; the driver locks up soon
)

const heartbeat = 15 * minuteNs

func (v *vehicle) latLonHome() {
	v.lat, v.lon = v.homeLat, v.homeLon
	v.odo = float64(8_000_000 + int(v.idx)%97*731_113%90_000_000)
}

func (v *vehicle) setFirmware(fw *firmware, ecu, rel int) {
	v.fwRel[ecu] = rel
	v.fw[ecu] = fw.releases[ecu][rel].version
}

func (v *vehicle) driving() bool { return v.phase == phDriving }

func (v *vehicle) step(s *Simulator, now int64) int64 {
	switch v.phase {
	case phUnlocked:
		return v.startEngine(s, now)
	case phDriving:
		return v.drive(s, now)
	case phStopped:
		if s.life.IntN(20) == 0 && v.owner >= 0 {
			v.remindLock = now + 20*minuteNs + s.life.Int64N(100*minuteNs) // forgot to lock
		} else {
			v.locked = true
			s.push(s.vehicleEvent(v, now, event.NameLocked, keyOrigin(s.life), ""))
		}
		v.phase = phParked
		v.nextBeat = now + heartbeat/2 + s.life.Int64N(heartbeat)
		return v.parkedWake(s, now)
	}
	if v.remindLock != 0 && now >= v.remindLock {
		v.remindLock = 0
		if !v.locked && now >= v.busyUntil {
			s.ownerCommand(v, now, &s.accounts[v.owner], event.CmdLock, event.ChannelApp)
		}
	}
	if dep, ok := v.departure(s, now); ok && now >= dep && now >= v.busyUntil {
		return v.depart(s, now)
	}
	if now >= v.nextBeat {
		if v.pending != nil && now >= v.pending.at {
			s.install(v, now)
		}
		v.sendParked(s, now)
		v.nextBeat = now + heartbeat - 3*minuteNs + s.life.Int64N(6*minuteNs)
	}
	return v.parkedWake(s, now)
}

func (v *vehicle) parkedWake(s *Simulator, now int64) int64 {
	next := v.nextBeat
	if dep, ok := v.departure(s, now); ok {
		next = min(next, max(dep, v.busyUntil))
	}
	if v.remindLock != 0 {
		next = min(next, v.remindLock)
	}
	return max(next, now+1)
}

// departure is the time of the next planned trip, planning days as they
// come (never more than one day ahead). Trips the vehicle could not make on
// time leave late.
func (v *vehicle) departure(s *Simulator, now int64) (int64, bool) {
	for range 2 {
		if t, ok := v.plan.next(); ok {
			return t.at, true
		}
		d := max(localDay(now), v.plan.day+1)
		if d > localDay(now)+1 {
			return 0, false
		}
		v.plan = plan(s.life, v.kind, d)
		for v.plan.i < v.plan.n && v.plan.trips[v.plan.i].at < s.start {
			v.plan.i++
		}
	}
	return 0, false
}

func (v *vehicle) depart(s *Simulator, now int64) int64 {
	t, _ := v.plan.next()
	v.plan.i++
	lat, lon := v.destination(s.life, &s.fleet, t.dest)
	if Distance(v.lat, v.lon, lat, lon) < 300 {
		return v.parkedWake(s, now) // already there
	}
	// Now and then a family member unlocks from the app for the driver.
	var remote int64
	if v.locked && v.owner >= 0 && s.life.IntN(30) == 0 {
		by := v.owner
		if v.driver >= 0 && s.life.IntN(2) == 0 {
			by = v.driver
		}
		remote = s.ownerCommand(v, now, &s.accounts[by], event.CmdUnlock, event.ChannelApp)
	}
	tr := s.newTrip()
	tr.route(s.life, v.lat, v.lon, lat, lon)
	tr.dest = t.dest
	v.trip = tr
	v.phase = phUnlocked
	if remote > 0 {
		return remote + 30*secondNs + s.life.Int64N(2*minuteNs)
	}
	if v.locked {
		v.locked = false
		s.push(s.vehicleEvent(v, now, event.NameUnlocked, keyOrigin(s.life), ""))
	}
	return now + 15*secondNs + s.life.Int64N(75*secondNs)
}

func (v *vehicle) startEngine(s *Simulator, now int64) int64 {
	if v.locked { // the remote unlock failed: the driver uses the key
		v.locked = false
		s.push(s.vehicleEvent(v, now, event.NameUnlocked, keyOrigin(s.life), ""))
	}
	if !v.engine {
		v.engine = true
		s.push(s.vehicleEvent(v, now, event.NameEngineStarted, keyOrigin(s.life), ""))
	}
	if s.life.IntN(100) == 0 { // benign IDS noise
		s.push(s.idsReport(v, now, benignIDS(s.life)))
	}
	v.phase = phDriving
	v.trip.last = now
	return now + s.interval
}

func (v *vehicle) drive(s *Simulator, now int64) int64 {
	tr := v.trip
	dist, arrived := tr.advance(s.life, now)
	v.odo += dist
	v.lat, v.lon, v.heading = tr.position()
	v.speed = round1(tr.v * kmhPerMps)
	if !tr.inTunnel() && !s.silenced(v, now) {
		v.sendDriving(s, now)
	}
	if !arrived {
		return now + s.interval
	}
	v.speed, v.engine, v.trip = 0, false, nil
	s.freeTrip(tr)
	s.push(s.vehicleEvent(v, now, event.NameEngineStopped, keyOrigin(s.life), ""))
	v.phase = phStopped
	return now + 10*secondNs + s.life.Int64N(50*secondNs)
}

func (v *vehicle) sendDriving(s *Simulator, now int64) {
	e, t := s.telemetry(v, now)
	lat, lon := v.lat, v.lon
	acc := 3 + 5*s.life.Float64()
	if s.life.IntN(50) == 0 { // multipath: a fix off by tens of metres
		lat, lon = moveBy(lat, lon, 120*s.life.Float64()-60, 120*s.life.Float64()-60)
		acc = 30 + 50*s.life.Float64()
	}
	v.fill(s.life, t, lat, lon, acc)
	t.Position.Heading, t.Position.HasHeading = round1(v.heading), true
	s.pushTelemetry(v, e)
}

func (v *vehicle) sendParked(s *Simulator, now int64) {
	if s.silenced(v, now) {
		return
	}
	e, t := s.telemetry(v, now)
	v.fill(s.life, t, v.lat, v.lon, 4+8*s.life.Float64())
	s.pushTelemetry(v, e)
}

// fill sets what every telemetry message of v carries: the fix at (lat, lon),
// speed, counters, signals and the cell serving v's true position.
func (v *vehicle) fill(r *rand.Rand, t *event.Telemetry, lat, lon, acc float64) {
	v.seq++
	t.Position = event.Position{Lat: round6(lat), Lon: round6(lon), Accuracy: round1(acc), HasAcc: true}
	t.Speed, t.HasSpeed = v.speed, true
	t.Seq, t.HasSeq = v.seq, true
	t.Signals = event.Signals{
		TraveledDistance: math.Round(v.odo), HasTraveledDistance: true,
		LowVoltageState: v.voltage(), DriverDoorLocked: event.TriOf(v.locked), EngineRunning: event.TriOf(v.engine),
	}
	servingCell(t.Cell, v.lat, v.lon, cities[v.city].mcc, cities[v.city].mncs[v.idx%3])
	t.Cell.DBM, t.Cell.HasDBM = -65-r.IntN(45), true
}

func (v *vehicle) voltage() event.LowVoltageState {
	switch {
	case v.engine:
		return event.LVOn
	case v.locked:
		return event.LVLock
	}
	return event.LVOff
}

// silenced says whether v's telemetry is lost: its gateway is down, or an
// attack speaks for the unit.
func (s *Simulator) silenced(v *vehicle, now int64) bool {
	if now < v.quietUntil {
		return true
	}
	tn := &s.tenants[v.tenant]
	return tn.telemetryDownGates&(1<<v.gateway) != 0 && now >= tn.telemetryDown[0] && now < tn.telemetryDown[1] && !v.outageExempt
}

func keyOrigin(r *rand.Rand) event.Origin {
	if r.IntN(3) == 0 {
		return event.OriginKey
	}
	return event.OriginKeyless
}

var benignIDSEvents = [...]string{"CAN_TIMING_DEVIATION", "DIAG_UNKNOWN_DID", "CAN_BUS_OFF_RECOVERED", "ETH_LINK_FLAP"}

func benignIDS(r *rand.Rand) event.IDSReport {
	return event.IDSReport{ECU: "gateway", Sensor: "can-monitor", EventID: benignIDSEvents[r.IntN(len(benignIDSEvents))],
		Severity: event.SeverityLow, Count: int64(1 + r.IntN(3)), HasCount: true, Product: "vsoc-ids 3.1"}
}

func (s *Simulator) newTrip() *trip {
	if n := len(s.tripPool); n > 0 {
		tr := s.tripPool[n-1]
		s.tripPool = s.tripPool[:n-1]
		return tr
	}
	return new(trip)
}

func (s *Simulator) freeTrip(tr *trip) { s.tripPool = append(s.tripPool, tr) }
