package pseudo

import (
	"math"

	"github.com/vigil-project/vigil/internal/event"
)

// Mapping is a pseudonym and the value it replaced: a vault entry to write.
type Mapping struct {
	Tenant    string
	Kind      Kind
	Pseudonym string
	Original  string
}

// Event replaces, in place, the personal fields of ev that its tenant
// pseudonymises, and appends to fresh the mappings whose vault entry may
// not be written yet (none without a vault).
//
// The fields: the subject, data.vehicle, data.vehicles and the VIN signal
// (vehicle); the actor's account, device, ip and client_id; data.account
// and data.username_hash (account, or e-mail when the value is an
// address); data.originator and data.recipient of SMS (phone, except the
// gateway's own numbers); data.device.imei and .iccid (unit) and
// data.device.ip. Free text (user agents, vehicle.event detail, IDS
// context) is left as it is.
func (p *Pseudonymiser) Event(ev *event.Event, fresh []Mapping) ([]Mapping, error) {
	s := p.Settings(ev.Tenant)
	if s.Fields == 0 {
		return fresh, nil
	}
	t, err := p.tenant(ev.Tenant)
	if err != nil {
		return fresh, err
	}
	r := rewriter{p: p, t: t, tenant: ev.Tenant, fields: s.Fields, vault: p.o.Vault != nil, fresh: fresh}
	r.do(Vehicle, &ev.Subject)
	switch ev.Type {
	case event.TypeTelemetry:
		tm := ev.Telemetry
		r.do(Vehicle, &tm.Signals.VIN)
		if d := tm.Device; d != nil {
			r.do(Unit, &d.IMEI)
			r.do(Unit, &d.ICCID)
			r.do(IP, &d.IP)
		}
	case event.TypeCommand:
		r.actor(&ev.Command.Actor)
	case event.TypeLogin:
		r.actor(&ev.Login.Actor)
		r.do(Account, &ev.Login.UsernameHash)
	case event.TypeAccountChange:
		a := ev.AccountChange
		r.actor(&a.Actor)
		r.do(Account, &a.Account)
		r.do(Vehicle, &a.Vehicle)
	case event.TypeAPIAccess:
		a := ev.APIAccess
		r.actor(&a.Actor)
		for i := range a.Vehicles {
			r.do(Vehicle, &a.Vehicles[i])
		}
	case event.TypeSMS:
		r.do(Phone, &ev.SMS.Originator)
		r.do(Phone, &ev.SMS.Recipient)
	}
	p.m.events.Add(1)
	return r.fresh, nil
}

type rewriter struct {
	p      *Pseudonymiser
	t      *tenantKeys
	tenant string
	fields Fields
	vault  bool
	fresh  []Mapping
}

func (r *rewriter) actor(a *event.Actor) {
	r.do(Account, &a.Account)
	r.do(Device, &a.Device)
	r.do(IP, &a.IP)
	r.do(Client, &a.ClientID)
}

func (r *rewriter) do(k Kind, v *string) {
	if *v == "" {
		return
	}
	k = resolve(k, *v)
	if !r.fields.Has(k) {
		return
	}
	if k == Phone && r.p.kept(r.tenant, *v) {
		r.p.m.kept.Add(1)
		return
	}
	ps, vaulted := r.p.pseudonym(r.tenant, r.t, k, *v)
	if r.vault && !vaulted {
		r.fresh = append(r.fresh, Mapping{Tenant: r.tenant, Kind: k, Pseudonym: ps, Original: *v})
	}
	r.p.m.values[k].Add(1)
	*v = ps
}

// AppendArchive appends the JSON the archive keeps of ev: ev re-encoded
// (so nothing the decoder did not read, and may not have pseudonymised,
// reaches the store) with latitude and longitude rounded to the tenant's
// decimals. ev itself keeps its full precision for detection.
func (p *Pseudonymiser) AppendArchive(dst []byte, ev *event.Event) []byte {
	d := p.Settings(ev.Tenant).LocationDecimals
	if d <= 0 || ev.Type != event.TypeTelemetry {
		return event.AppendJSON(dst, ev)
	}
	e, t := *ev, *ev.Telemetry
	t.Position.Lat = Round(t.Position.Lat, d)
	t.Position.Lon = Round(t.Position.Lon, d)
	e.Telemetry = &t
	return event.AppendJSON(dst, &e)
}

var pow10 = [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7}

// Round rounds a coordinate to d decimals, halves away from zero.
func Round(v float64, d int) float64 {
	if d <= 0 || d >= len(pow10) {
		return v
	}
	return math.Round(v*pow10[d]) / pow10[d]
}
