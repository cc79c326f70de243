package sim

import (
	"fmt"
	"math/rand/v2"
	"strconv"

	"github.com/vigil-project/vigil/internal/event"
)

// Sources: the back-end services that produce each kind of event.
const (
	srcMobileAPI  = "tsp/mobile-api"
	srcWebPortal  = "tsp/web-portal"
	srcPartnerAPI = "tsp/partner-api"
	srcDealer     = "tsp/dealer-portal"
	srcCommandSvc = "tsp/command-svc"
	srcAuth       = "tsp/auth"
	srcAccounts   = "tsp/account-svc"
	srcAPIGateway = "tsp/api-gw"
	srcSMS        = "tsp/sms-gateway"
	srcOTA        = "tsp/ota-backend"
	srcIDS        = "tsp/ids-collector"
)

// gateways are the telematics gateways vehicles report through.
var gateways = [...]string{"tsp/telematics-gw-eu1", "tsp/telematics-gw-eu2", "tsp/telematics-gw-eu3"}

// idPrefix per type keeps ids readable; the counter makes them unique.
var idPrefix = [...]string{"", "tm-", "ve-", "cm-", "lg-", "ac-", "ap-", "sm-", "fw-", "ids-"}

// with allocates an event and its payload in one block: one allocation per
// event instead of two or four.
type with[P any] struct {
	e event.Event
	p P
}

func newEvent[P any](s *Simulator, t event.Type, src, subject, tenant string, at int64) (*event.Event, *P) {
	b := &with[P]{}
	at = (at + msNs - 1) / msNs * msNs // producers stamp milliseconds; rounding up keeps at ≥ now
	s.nextID++
	var buf [24]byte
	id := append(buf[:0], idPrefix[t]...)
	id = strconv.AppendUint(id, s.nextID, 36)
	b.e = event.Event{ID: string(id), Source: src, Type: t, Time: at, Subject: subject, Tenant: tenant}
	return &b.e, &b.p
}

// push queues e for delivery at its arrival time. Events past the span are
// dropped: the stream ends mid-flight, as a capture window does.
func (s *Simulator) push(e *event.Event) {
	s.pushAt(e, s.arrival(e.Time))
}

func (s *Simulator) pushAt(e *event.Event, arrival int64) {
	if e.Time < s.now {
		panic(fmt.Sprintf("sim: %s event %s at %d is before the step time %d", e.Type, e.ID, e.Time, s.now))
	}
	if e.Time >= s.end {
		return
	}
	if r := s.running; r != nil {
		r.saw(e.Time)
		s.attackEvents++
	}
	s.arrivals.push(arrival, e)
}

// arrival draws the network delay: mostly small, now and then up to Jitter.
func (s *Simulator) arrival(t int64) int64 {
	if s.jitter == 0 {
		return t
	}
	u := s.net.Float64()
	return t + int64(u*u*u*float64(s.jitter))
}

// pushTelemetry keeps a unit's telemetry in order: it shares one connection,
// so the network delays messages but never reorders them. Telemetry is made
// at its step time, so this never delays it beyond the jitter.
func (s *Simulator) pushTelemetry(v *vehicle, e *event.Event) {
	a := max(s.arrival(e.Time), v.lastArrival)
	v.lastArrival = a
	s.pushAt(e, a)
}

func (s *Simulator) telemetry(v *vehicle, at int64) (*event.Event, *event.Telemetry) {
	type block struct {
		t event.Telemetry
		d event.Device
		c event.Cell
	}
	e, b := newEvent[block](s, event.TypeTelemetry, gateways[v.gateway], v.vin, s.tenantName(v.tenant), at)
	e.Telemetry = &b.t
	b.d = event.Device{IMEI: v.imei, ICCID: v.iccid, IP: v.deviceIP, Firmware: v.fw[ecuTCU]}
	b.t.Device = &b.d
	b.t.Cell = &b.c
	return e, &b.t
}

func (s *Simulator) vehicleEvent(v *vehicle, at int64, name event.VehicleEventName, origin event.Origin, cmdID string) *event.Event {
	e, p := newEvent[event.VehicleEvent](s, event.TypeVehicleEvent, gateways[v.gateway], v.vin, s.tenantName(v.tenant), at)
	*p = event.VehicleEvent{Name: name, Origin: origin, CommandID: cmdID}
	e.VehicleEvent = p
	return e
}

func (s *Simulator) commandEvent(v *vehicle, at int64, src string, c event.Command) *event.Event {
	e, p := newEvent[event.Command](s, event.TypeCommand, src, v.vin, s.tenantName(v.tenant), at)
	*p = c
	e.Command = p
	return e
}

func (s *Simulator) login(tenant uint16, at int64, l event.Login) *event.Event {
	e, p := newEvent[event.Login](s, event.TypeLogin, srcAuth, "", s.tenantName(tenant), at)
	*p = l
	e.Login = p
	return e
}

func (s *Simulator) accountChange(tenant uint16, at int64, subject string, c event.AccountChange) *event.Event {
	e, p := newEvent[event.AccountChange](s, event.TypeAccountChange, srcAccounts, subject, s.tenantName(tenant), at)
	*p = c
	e.AccountChange = p
	return e
}

// apiAccess builds one API request. subject is the vehicle for calls about one
// vehicle, empty for list calls.
func (s *Simulator) apiAccess(tenant uint16, at int64, subject string, a event.APIAccess) *event.Event {
	e, p := newEvent[event.APIAccess](s, event.TypeAPIAccess, srcAPIGateway, subject, s.tenantName(tenant), at)
	if a.Method == event.HTTPUnset {
		a.Method = event.HTTPGet
	}
	if !a.HasRecords {
		a.HasRecords = true
		if a.Status == 200 {
			a.Records = int64(len(a.Vehicles))
		}
	}
	if !a.HasBytes {
		a.HasBytes = true
		a.Bytes = 180 + a.Records*int64(420+s.nextID%200) // varied without touching a random stream
	}
	*p = a
	e.APIAccess = p
	return e
}

func (s *Simulator) sms(v *vehicle, at int64, m event.SMS) *event.Event {
	e, p := newEvent[event.SMS](s, event.TypeSMS, srcSMS, v.vin, s.tenantName(v.tenant), at)
	*p = m
	e.SMS = p
	return e
}

func (s *Simulator) firmwareEvent(v *vehicle, at int64, f event.Firmware) *event.Event {
	e, p := newEvent[event.Firmware](s, event.TypeFirmware, srcOTA, v.vin, s.tenantName(v.tenant), at)
	*p = f
	e.Firmware = p
	return e
}

func (s *Simulator) idsReport(v *vehicle, at int64, r event.IDSReport) *event.Event {
	e, p := newEvent[event.IDSReport](s, event.TypeIDS, srcIDS, v.vin, s.tenantName(v.tenant), at)
	*p = r
	e.IDS = p
	return e
}

// nonce is a fresh SMS nonce (48 random bits).
func nonce(r *rand.Rand) string {
	var buf [20]byte
	b := append(buf[:0], "n-"...)
	return string(strconv.AppendUint(b, r.Uint64()>>16, 16))
}

// commandID is a fresh command id.
func (s *Simulator) commandID() string {
	s.nextID++
	var buf [24]byte
	return string(strconv.AppendUint(append(buf[:0], "cmd-"...), s.nextID, 36))
}
