package api

import (
	"net/http"

	"github.com/vigil-project/vigil/internal/api/problem"
	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/engine"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/twin"
)

// principalKinds are the kinds GET /v1/principals/{kind}/{id} answers for.
var principalKinds = map[string]detect.Kind{"account": detect.KindAccount, "ip": detect.KindIP, "client": detect.KindClient,
	"device": detect.KindDevice, "subnet": detect.KindSubnet}

// maxListed bounds the lists of a principal's answer.
const maxListed = 50

// principalJSON is what detection holds about an account, IP, API client,
// device or subnet: the windows and trails its detectors decide on.
type principalJSON struct {
	Tenant    string `json:"tenant"`
	Kind      string `json:"kind"`
	ID        string `json:"id"`
	FirstSeen string `json:"first_seen,omitempty"` // first event time detection remembers
	LastSeen  string `json:"last_seen,omitempty"`
	LastAlert string `json:"last_alert,omitempty"`
	// Failures are the recent failed logins (accounts), or PIN failures
	// (devices), newest last.
	Failures []failureJSON `json:"failures,omitempty"`
	// Logins are the recent login attempts from an IP or subnet.
	Logins   []loginJSON    `json:"logins,omitempty"`
	Links    []linkJSON     `json:"links,omitempty"` // vehicles linked or unlinked by account.change, newest last
	Devices  *devicesJSON   `json:"devices,omitempty"`
	Takeover *takeoverJSON  `json:"takeover,omitempty"`
	Commands *commandsJSON  `json:"commands,omitempty"`
	Reads    *readsJSON     `json:"reads,omitempty"`
	Staff    *staffReadJSON `json:"privileged_reads,omitempty"`
}

type failureJSON struct {
	Time  string    `json:"time"`
	Other string    `json:"other,omitempty"` // the IP for an account, the account tried for a device
	Event event.Ref `json:"event"`
}

type loginJSON struct {
	Time    string    `json:"time"`
	Account string    `json:"account,omitempty"`
	IP      string    `json:"ip,omitempty"`
	OK      bool      `json:"ok"`
	Unknown bool      `json:"unknown_user,omitempty"`
	Event   event.Ref `json:"event"`
}

type linkJSON struct {
	Vehicle string `json:"vehicle"`
	Linked  bool   `json:"linked"`
}

type devicesJSON struct {
	Known int `json:"known"` // distinct devices remembered (at most 4)
	// NewDevice is a login from a device not seen before, still watched
	// for a command.
	NewDevice *newDeviceJSON `json:"new_device,omitempty"`
}

type newDeviceJSON struct {
	Time   string    `json:"time"`
	Device string    `json:"device,omitempty"`
	IP     string    `json:"ip,omitempty"`
	Event  event.Ref `json:"event"`
}

type takeoverJSON struct {
	Change      string     `json:"change,omitempty"` // email, phone, password, password_reset or mfa
	ChangeTime  string     `json:"change_time,omitempty"`
	ChangeIP    string     `json:"change_ip,omitempty"`
	ChangeEvent *event.Ref `json:"change_event,omitempty"`
	Added       string     `json:"added,omitempty"` // device_registered or digital_key_added
	AddedTime   string     `json:"added_time,omitempty"`
	AddedDevice string     `json:"added_device,omitempty"`
	AddedEvent  *event.Ref `json:"added_event,omitempty"`
	LastAlertAt string     `json:"last_alert,omitempty"`
}

type commandsJSON struct {
	// OutsideEntitlement counts distinct vehicles commanded that the
	// principal is not entitled to, in the detector's window.
	OutsideEntitlement int      `json:"outside_entitlement"`
	Vehicles           []string `json:"vehicles,omitempty"`
}

type readsJSON struct {
	UnlinkedVehicles int      `json:"unlinked_vehicles"` // distinct vehicles read without entitlement, in the window
	Unlinked         []string `json:"unlinked,omitempty"`
	Lookups          int      `json:"lookups"` // single-vehicle lookups of vehicles it is not entitled to
	NotFound         int      `json:"lookups_not_found"`
	IPs              int      `json:"ips"` // distinct addresses, once a second one showed up
	LastIP           string   `json:"last_ip,omitempty"`
	LastTime         string   `json:"last_time,omitempty"`
}

type staffReadJSON struct {
	OutsideInventory int `json:"outside_inventory"` // dealers: distinct vehicles read outside their inventory
	Located          int `json:"located"`           // staff: distinct vehicles whose location was read
	OutOfHours       int `json:"out_of_hours"`      // staff: distinct vehicles read out of office hours
}

func (s *Server) principal(w http.ResponseWriter, r *http.Request) error {
	kindName, id := r.PathValue("kind"), r.PathValue("id")
	kind, ok := principalKinds[kindName]
	if !ok {
		return problem.New(problem.InvalidParameter, "kind %q: want account, ip, client, device or subnet", kindName)
	}
	tenant := r.URL.Query().Get("tenant")
	if tenant == "" {
		tenant = event.DefaultTenant
	}
	if err := callerOf(r).scope.Check(tenant); err != nil {
		return problem.New(problem.NotFound, "detection holds no state for %s %q in tenant %q", kindName, id, tenant)
	}
	var found *principalJSON
	err := s.o.Processor.Query(r.Context(), func(v engine.ShardView) {
		if p := v.Principal(tenant, kind, id); p != nil {
			j := toPrincipalJSON(tenant, kindName, id, p) // copied on the shard's goroutine
			found = &j
		}
	})
	if err != nil {
		return err
	}
	if found == nil {
		return problem.New(problem.NotFound, "detection holds no state for %s %q in tenant %q: it did nothing a detector remembers "+
			"(see its events with GET /v1/events?kind=%s&value=…)", kindName, id, tenant, kindName)
	}
	return writeJSON(w, http.StatusOK, found)
}

func tsOpt(ns int64) string {
	if ns == 0 {
		return ""
	}
	return ts(ns)
}

func refOpt(r event.Ref) *event.Ref {
	if r == (event.Ref{}) {
		return nil
	}
	return &r
}

// lastOf returns the last n items of list.
func lastOf[T any](list []T, n int) []T { return list[max(0, len(list)-n):] }

func toPrincipalJSON(tenant, kind, id string, p *twin.Principal) principalJSON {
	out := principalJSON{Tenant: tenant, Kind: kind, ID: id, FirstSeen: tsOpt(p.FirstSeen), LastSeen: tsOpt(p.LastSeen), LastAlert: tsOpt(p.LastAlert)}
	failures := func(w *twin.FailureWindow) {
		for _, f := range lastOf(w.List, maxListed) {
			out.Failures = append(out.Failures, failureJSON{Time: ts(f.At), Other: f.Other, Event: f.Ref})
		}
	}
	if p.Failures != nil {
		failures(p.Failures)
	}
	for _, d := range []*twin.DeviceFailures{p.PIN, p.Phone} {
		if d != nil {
			failures(&d.Fails)
		}
	}
	if p.Logins != nil {
		for _, a := range lastOf(p.Logins.List, maxListed) {
			out.Logins = append(out.Logins, loginJSON{Time: ts(a.At), Account: a.Account, IP: a.IP, OK: a.OK, Unknown: a.Unknown, Event: a.Ref})
		}
	}
	if p.Links != nil {
		for _, l := range lastOf(p.Links.List, maxListed) {
			out.Links = append(out.Links, linkJSON{Vehicle: l.Vehicle, Linked: l.Linked})
		}
	}
	if d := p.Devices; d != nil {
		out.Devices = &devicesJSON{Known: int(d.N)}
		if n := d.Pending; n != nil {
			out.Devices.NewDevice = &newDeviceJSON{Time: ts(n.At), Device: n.Device, IP: n.IP, Event: n.Ref}
		}
	}
	if t := p.Takeover; t != nil {
		j := &takeoverJSON{ChangeTime: tsOpt(t.ChangeAt), ChangeIP: t.ChangeIP, ChangeEvent: refOpt(t.ChangeRef),
			AddedTime: tsOpt(t.AddedAt), AddedDevice: t.AddedDevice, AddedEvent: refOpt(t.AddedRef), LastAlertAt: tsOpt(t.LastAlert)}
		if t.ChangeAt != 0 {
			j.Change = t.Change.String()
		}
		if t.AddedAt != 0 {
			j.Added = t.Added.String()
		}
		out.Takeover = j
	}
	if sp := p.Spread; sp != nil {
		out.Commands = &commandsJSON{OutsideEntitlement: len(sp.Vehicles.List), Vehicles: sp.Vehicles.Names(maxListed)}
	}
	if rd := p.Reads; rd != nil {
		j := &readsJSON{LastIP: rd.LastIP, LastTime: tsOpt(rd.LastAt)}
		if rd.Unlinked != nil {
			j.UnlinkedVehicles, j.Unlinked = len(rd.Unlinked.List), rd.Unlinked.Names(maxListed)
		}
		if rd.Lookups != nil {
			j.Lookups, j.NotFound = len(rd.Lookups.List), rd.Lookups.NotFound
		}
		if rd.IPs != nil {
			j.IPs = len(rd.IPs.List)
		}
		out.Reads = j
	}
	if pr := p.Priv; pr != nil {
		out.Staff = &staffReadJSON{OutsideInventory: len(pr.Outside.List), Located: len(pr.Located.List), OutOfHours: len(pr.Night.List)}
	}
	return out
}
