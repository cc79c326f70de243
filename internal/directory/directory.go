// Package directory is the reference data a TSP hands vigil about who may
// use which vehicle: owners, drivers, fleet managers, dealers' inventories,
// API clients. Detectors ask it whether a principal is entitled to a vehicle
// and how many vehicles it is entitled to. It is read-only once built and
// safe for concurrent use; links learned from account.change events live in
// the keyed state instead.
package directory

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/vigil-project/vigil/internal/event"
)

// Kind of principal a link is for.
type Kind uint8

const (
	Account Kind = iota
	Client
)

// Directory maps principals to the vehicles they may use, per tenant.
type Directory struct {
	tenants map[string]*tenant
}

type tenant struct {
	principals [2]map[string]*principal // by Kind
}

type principal struct {
	role     event.Role
	vehicles map[string]struct{}
}

// New returns an empty directory.
func New() *Directory { return &Directory{tenants: map[string]*tenant{}} }

// Link records that a principal may use a vehicle. Build the directory
// before handing it to detectors: Link is not safe for concurrent use.
func (d *Directory) Link(tenantName string, k Kind, id, vehicle string, role event.Role) {
	t := d.tenants[tenantName]
	if t == nil {
		t = &tenant{principals: [2]map[string]*principal{{}, {}}}
		d.tenants[tenantName] = t
	}
	p := t.principals[k][id]
	if p == nil {
		p = &principal{role: role, vehicles: map[string]struct{}{}}
		t.principals[k][id] = p
	}
	if role != event.RoleUnset {
		p.role = role
	}
	if vehicle != "" {
		p.vehicles[vehicle] = struct{}{}
	}
}

func (d *Directory) lookup(tenantName string, k Kind, id string) *principal {
	if d == nil {
		return nil
	}
	t := d.tenants[tenantName]
	if t == nil {
		return nil
	}
	return t.principals[k][id]
}

// Known reports whether the directory lists the principal at all.
func (d *Directory) Known(tenantName string, k Kind, id string) bool {
	return d.lookup(tenantName, k, id) != nil
}

// Linked reports whether the principal may use the vehicle.
func (d *Directory) Linked(tenantName string, k Kind, id, vehicle string) bool {
	p := d.lookup(tenantName, k, id)
	if p == nil {
		return false
	}
	_, ok := p.vehicles[vehicle]
	return ok
}

// Vehicles returns how many vehicles the principal may use.
func (d *Directory) Vehicles(tenantName string, k Kind, id string) int {
	if p := d.lookup(tenantName, k, id); p != nil {
		return len(p.vehicles)
	}
	return 0
}

// Role returns the principal's role, RoleUnset when unknown.
func (d *Directory) Role(tenantName string, k Kind, id string) event.Role {
	if p := d.lookup(tenantName, k, id); p != nil {
		return p.role
	}
	return event.RoleUnset
}

// Each calls f for every link, and once with vehicle "" for a principal
// with no vehicle. The order is not defined.
func (d *Directory) Each(f func(tenant string, k Kind, principal, vehicle string, role event.Role)) {
	if d == nil {
		return
	}
	for name, t := range d.tenants {
		for k, ps := range t.principals {
			for id, p := range ps {
				if len(p.vehicles) == 0 {
					f(name, Kind(k), id, "", p.role)
				}
				for v := range p.vehicles {
					f(name, Kind(k), id, v, p.role)
				}
			}
		}
	}
}

// Load reads a directory from CSV with the header
// tenant,kind,principal,vehicle,role where kind is "account" or "client",
// vehicle may be empty (a principal with a role but no vehicle) and role is
// a role of the ingest contract or empty.
func Load(r io.Reader) (*Directory, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = 5
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("directory: reading the header: %w", err)
	}
	if strings.Join(head, ",") != "tenant,kind,principal,vehicle,role" {
		return nil, fmt.Errorf("directory: the header must be tenant,kind,principal,vehicle,role, got %s", strings.Join(head, ","))
	}
	d := New()
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return d, nil
		}
		if err != nil {
			return nil, fmt.Errorf("directory: %w", err)
		}
		var k Kind
		switch rec[1] {
		case "account":
			k = Account
		case "client":
			k = Client
		default:
			return nil, fmt.Errorf("directory: line %d: kind %q is not account or client", line, rec[1])
		}
		role, ok := event.ParseRole(rec[4])
		if !ok && rec[4] != "" {
			return nil, fmt.Errorf("directory: line %d: role %q is not a role of the ingest contract", line, rec[4])
		}
		if rec[0] == "" || rec[2] == "" {
			return nil, fmt.Errorf("directory: line %d: tenant and principal must not be empty", line)
		}
		d.Link(rec[0], k, rec[2], rec[3], role)
	}
}
