package sim

import (
	"iter"
	"math"
	"math/rand/v2"
	"strconv"

	"github.com/vigil-project/vigil/internal/event"
)

// fleet is everything that exists before the first event: tenants, vehicles,
// the principals who use them and how they are linked.
type fleet struct {
	tenants   []tenant
	vehicles  []vehicle
	accounts  []account
	operators []operator
	partners  []partner
	staffIP   string
	vinIndex  map[string]int32 // built on first use by VIN enumeration
}

// tenant is one fleet / OEM customer of the TSP.
type tenant struct {
	name     string
	vehicles []int32 // every vehicle, in VIN order
	private  []int32 // vehicles of private owners
	dealers  []int32 // dealer accounts
	// Outages injected as service anomalies.
	telemetryDown      [2]int64 // [from, to)
	telemetryDownGates uint8    // bit per gateway that is down
	commandsDown       [2]int64
}

// noTenant marks principals of the TSP itself (staff): their events carry no tenant.
const noTenant = math.MaxUint16

func (s *Simulator) tenantName(t uint16) string {
	if t == noTenant {
		return ""
	}
	return s.tenants[t].name
}

// operator is a business running a fleet from a depot: a fleet manager
// commands and watches all of its vehicles.
type operator struct {
	id       string
	tenant   uint16
	vehicles []int32
	vins     []string // for the dashboard's list calls
	managers []int32
	lat, lon float64 // depot
}

// partner is a third-party API client linked to some vehicles (an insurer, a
// charging app).
type partner struct {
	clientID string
	ip       string
	tenant   uint16
	vehicles []int32
	vins     []string
	stage    int
	page     int
}

// Link says that a principal may use a vehicle.
type Link struct {
	Tenant   string
	Vehicle  string
	Account  string // set for accounts
	ClientID string // set for API clients
	Role     event.Role
}

// Links lists who may use which vehicle: owners, drivers, fleet managers,
// dealers (their inventory) and API clients. Staff may read any vehicle and
// are not listed. This is the entitlement data a TSP would hand vigil.
func (s *Simulator) Links() iter.Seq[Link] {
	return func(yield func(Link) bool) {
		for i := range s.accounts {
			a := &s.accounts[i]
			for _, vi := range a.vehicles {
				v := &s.vehicles[vi]
				if !yield(Link{Tenant: s.tenants[v.tenant].name, Vehicle: v.vin, Account: a.id, Role: a.role}) {
					return
				}
			}
		}
		for i := range s.partners {
			p := &s.partners[i]
			for _, vi := range p.vehicles {
				if !yield(Link{Tenant: s.tenants[p.tenant].name, Vehicle: s.vehicles[vi].vin, ClientID: p.clientID, Role: event.RoleThirdParty}) {
					return
				}
			}
		}
	}
}

func tenantLabel(i int) string {
	const letters = "abcdefghijklmnopqrstuvwxyz"
	s := ""
	for i++; i > 0; i = (i - 1) / 26 {
		s = string(letters[(i-1)%26]) + s
	}
	return "fleet-" + s
}

const (
	appUA     = "MyCar/5.4.2 (iOS 18.3)"
	appUAAndr = "MyCar/5.4.2 (Android 15)"
	browserUA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/133.0 Safari/537.36"
)

func buildFleet(r *rand.Rand, c Config, fw *firmware) fleet {
	f := fleet{vehicles: make([]vehicle, c.Vehicles), staffIP: "62.157.14.2"}
	// Tenants get contiguous blocks, the first the largest (weights 1, 1/2, 1/3, …).
	var sum float64
	for t := range c.Tenants {
		sum += 1 / float64(t+1)
	}
	next := 0
	for t := range c.Tenants {
		n := int(float64(c.Vehicles) / float64(t+1) / sum)
		if t == c.Tenants-1 {
			n = c.Vehicles - next
		}
		n = max(1, min(n, c.Vehicles-next-(c.Tenants-1-t)))
		tn := tenant{name: tenantLabel(t)}
		for i := next; i < next+n; i++ {
			tn.vehicles = append(tn.vehicles, int32(i))
			f.initVehicle(r, fw, i, uint16(t))
		}
		next += n
		f.tenants = append(f.tenants, tn)
	}
	for t := range f.tenants {
		f.populate(r, uint16(t))
	}
	for i := range max(2, c.Vehicles/2000) {
		f.accounts = append(f.accounts, account{
			id: "staff-" + string(zeroPad(101+i, 3)), role: event.RoleStaff, tenant: noTenant,
			device: hexID(r, "ws-", 8), ip: f.staffIP, ua: browserUA, operator: -1,
		})
	}
	return f
}

// initVehicle gives vehicle i its identity and firmware; where it lives is
// decided by populate.
func (f *fleet) initVehicle(r *rand.Rand, fw *firmware, i int, t uint16) {
	v := &f.vehicles[i]
	// Consecutive vehicles come from different makers' lines; within a line
	// serials count up with gaps.
	line := i%len(wmis) + len(wmis)*(i/(len(wmis)*vinLineSize))
	v.idx = int32(i)
	v.tenant = t
	v.vin = makeVIN(vinPrefix(line, r.IntN(len(years))), 100_000+(i/len(wmis)%vinLineSize)*16+r.IntN(16))
	v.imei, v.iccid, v.msisdn = imei(i), iccid(i), msisdn(i)
	v.deviceIP = hostIP(10, i)
	v.gateway = uint8(i % len(gateways))
	v.owner, v.driver, v.operator = -1, -1, -1
	v.locked = true
	for e := range numECUs {
		// Most vehicles run the latest base release, some lag behind.
		rel := len(baseVersions[e]) - 1
		if r.IntN(10) < 3 {
			rel -= 1 + r.IntN(len(baseVersions[e])-1)
		}
		v.setFirmware(fw, e, rel)
	}
}

// populate splits a tenant into operator fleets (about a fifth of its
// vehicles) and private vehicles with owners, then adds dealers and partners.
func (f *fleet) populate(r *rand.Rand, t uint16) {
	tn := &f.tenants[t]
	vs := tn.vehicles
	target := len(vs) / 5
	pos := 0
	for target-pos >= 10 {
		n := min(target-pos, 100+r.IntN(401))
		f.addOperator(r, t, vs[pos:pos+n:pos+n])
		pos += n
	}
	var prev int32 = -1
	for _, vi := range vs[pos:] {
		v := &f.vehicles[vi]
		tn.private = append(tn.private, vi)
		if prev >= 0 && r.IntN(20) == 0 { // a household's second car
			pv := &f.vehicles[prev]
			v.city, v.owner = pv.city, pv.owner
			v.homeLat, v.homeLon = moveBy(pv.homeLat, pv.homeLon, r.Float64()*60-30, r.Float64()*60-30)
			f.accounts[v.owner].vehicles = append(f.accounts[v.owner].vehicles, vi)
		} else {
			v.city = pickCity(r)
			v.homeLat, v.homeLon = around(r, v.city, 6000, 30000)
			v.owner = f.addAccount(r, t, event.RoleOwner, v.city, vi)
		}
		v.workLat, v.workLon = around(r, v.city, 4000, 25000)
		if Distance(v.homeLat, v.homeLon, v.workLat, v.workLon) < 2500 {
			v.workLat, v.workLon = moveBy(v.workLat, v.workLon, 3000, 2000)
		}
		v.kind = kindCommuter
		if r.IntN(100) < 35 {
			v.kind = kindOccasional
		}
		if r.IntN(5) == 0 {
			v.driver = f.addAccount(r, t, event.RoleDriver, v.city, vi)
		}
		v.latLonHome()
		prev = vi
	}
	f.addDealers(r, t)
	for k, name := range [...]string{"insureco", "chargepoint"} {
		f.addPartner(r, t, name, k)
	}
}

func (f *fleet) addAccount(r *rand.Rand, t uint16, role event.Role, c uint8, vehicles ...int32) int32 {
	i := int32(len(f.accounts))
	ua := appUA
	if r.IntN(2) == 0 {
		ua = appUAAndr
	}
	f.accounts = append(f.accounts, account{
		id: "acc-" + strconv.Itoa(100_000+int(i)), role: role, tenant: t, city: c,
		device: hexID(r, "dev-", 12), ip: hostIP(cities[c].ipNet, int(i)), ua: ua,
		vehicles: vehicles, operator: -1,
	})
	return i
}

func (f *fleet) addOperator(r *rand.Rand, t uint16, vs []int32) {
	o := operator{id: "op-" + strconv.Itoa(len(f.operators)+1), tenant: t, vehicles: vs}
	c := pickCity(r)
	o.lat, o.lon = around(r, c, 5000, 15000)
	oi := int32(len(f.operators))
	for _, vi := range vs {
		v := &f.vehicles[vi]
		v.operator, v.city, v.kind = oi, c, kindFleet
		v.homeLat, v.homeLon = moveBy(o.lat, o.lon, r.Float64()*400-200, r.Float64()*400-200)
		v.workLat, v.workLon = v.homeLat, v.homeLon
		v.latLonHome()
		o.vins = append(o.vins, v.vin)
	}
	for k := range 1 + r.IntN(2) {
		m := f.addAccount(r, t, event.RoleFleetManager, c, vs...)
		a := &f.accounts[m]
		a.ua, a.operator, a.lead = browserUA, oi, k == 0
		o.managers = append(o.managers, m)
	}
	f.operators = append(f.operators, o)
}

// addDealers gives each dealer an inventory of private vehicles of its city.
func (f *fleet) addDealers(r *rand.Rand, t uint16) {
	tn := &f.tenants[t]
	if len(tn.private) == 0 {
		return
	}
	for range max(1, len(tn.private)/300) {
		c := f.vehicles[tn.private[r.IntN(len(tn.private))]].city
		want := 20 + r.IntN(61)
		var inv []int32
		for k, off := 0, r.IntN(len(tn.private)); k < len(tn.private) && len(inv) < want; k++ {
			vi := tn.private[(off+k)%len(tn.private)]
			if f.vehicles[vi].city == c {
				inv = append(inv, vi)
			}
		}
		d := int32(len(f.accounts))
		f.accounts = append(f.accounts, account{
			id: "dlr-" + strconv.Itoa(1000+int(d)), role: event.RoleDealer, tenant: t, city: c,
			device: hexID(r, "ws-", 8), ip: hostIP(cities[c].ipNet, int(d)), ua: browserUA,
			vehicles: inv, operator: -1,
		})
		tn.dealers = append(tn.dealers, d)
	}
}

func (f *fleet) addPartner(r *rand.Rand, t uint16, name string, k int) {
	tn := &f.tenants[t]
	p := partner{clientID: "partner-" + name + "-" + tn.name[len("fleet-"):], tenant: t,
		ip: hostIP(52, len(f.partners)*7+k)}
	if len(tn.private) > 0 {
		n := len(tn.private) * (3 + r.IntN(6)) / 100
		off := r.IntN(len(tn.private))
		step := max(1, len(tn.private)/max(1, n))
		for j := range n {
			vi := tn.private[(off+j*step)%len(tn.private)]
			p.vehicles = append(p.vehicles, vi)
			p.vins = append(p.vins, f.vehicles[vi].vin)
		}
	}
	f.partners = append(f.partners, p)
}

func pickCity(r *rand.Rand) uint8 {
	total := 0
	for _, c := range cities {
		total += c.weight
	}
	n := r.IntN(total)
	for i, c := range cities {
		if n -= c.weight; n < 0 {
			return uint8(i)
		}
	}
	return 0
}

// around returns a point at an exponentially distributed distance (mean
// metres, capped) from the centre of city c.
func around(r *rand.Rand, c uint8, mean, limit float64) (float64, float64) {
	d := min(r.ExpFloat64()*mean, limit)
	a := r.Float64() * 2 * math.Pi
	return moveBy(cities[c].lat, cities[c].lon, d*math.Sin(a), d*math.Cos(a))
}

// SMSGateways returns the MSISDNs the simulated TSP's SMS gateway sends
// from: the allow-list the TSP would hand vigil.
func (s *Simulator) SMSGateways() []string { return append([]string(nil), gatewayMSISDNs[:]...) }
