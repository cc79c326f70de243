// Package access holds the detectors of abuse of the back-end's data APIs:
// data exfiltration by any caller (reads of vehicles not linked to it, VIN
// enumeration, bulk reads beyond its baseline, one token used from many
// addresses) and misuse of privileged roles (dealers outside their
// inventory, staff reading location in bulk or out of hours).
package access

import (
	"fmt"
	"strings"
	"time"

	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/directory"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/twin"
)

// caller is who made a request, as the directory knows principals.
type caller struct {
	kind directory.Kind
	id   string
	role event.Role // from the event, else from the directory
}

// callerOf returns the principal of the key (account or client), or for an
// IP key the account or client in the event (ok false when there is none).
func callerOf(c *detect.Context, dir *directory.Directory, a *event.Actor) (caller, bool) {
	var cl caller
	switch {
	case c.Kind == detect.KindClient:
		cl = caller{kind: directory.Client, id: c.Key}
	case c.Kind == detect.KindAccount:
		cl = caller{kind: directory.Account, id: c.Key}
	case a.Account != "":
		cl = caller{kind: directory.Account, id: a.Account}
	case a.ClientID != "":
		cl = caller{kind: directory.Client, id: a.ClientID}
	default:
		return cl, false
	}
	// The back-end that sent the event knows the role; the directory is
	// asked only when the event does not say (it costs map lookups on the
	// hot path).
	cl.role = a.Role
	if cl.role == event.RoleUnset {
		cl.role = dir.Role(c.Tenant, cl.kind, cl.id)
	}
	return cl, true
}

// entitled reports whether the caller may use the vehicle: what
// account.change said last (links is nil when unknown), else the directory.
func entitled(dir *directory.Directory, tenant string, cl caller, vehicle string, links *twin.LinkSet) bool {
	if linked, known := links.Lookup(vehicle); known {
		return linked
	}
	return dir.Linked(tenant, cl.kind, cl.id, vehicle)
}

// roleSet is a set of roles, parsed from their names.
type roleSet [8]bool

func parseRoles(names []string) (roleSet, error) {
	var s roleSet
	for _, n := range names {
		r, ok := event.ParseRole(n)
		if !ok {
			return s, fmt.Errorf("%q is not a role (owner, driver, fleet_manager, dealer, staff, service, third_party)", n)
		}
		s[r] = true
	}
	return s, nil
}

func (s *roleSet) has(r event.Role) bool { return int(r) < len(s) && s[r] }

// ok is a successful read: data went back to the caller.
func ok(a *event.APIAccess) bool { return a.Status >= 200 && a.Status < 300 }

// records is how many records a read returned: its count when the producer
// gave one, else the vehicles it names, else one.
func records(a *event.APIAccess) int {
	switch {
	case a.HasRecords:
		return int(max(a.Records, 0))
	case len(a.Vehicles) > 0:
		return len(a.Vehicles)
	}
	return 1
}

// personal are the classes of personal data other than location and VIN.
const personal = event.FieldName | event.FieldEmail | event.FieldPhone | event.FieldAddress | event.FieldPayment

func who(cl caller) string {
	if cl.kind == directory.Client {
		return "API client " + cl.id
	}
	return "account " + cl.id
}

func capital(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func fmtTime(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }

func fmtSpan(first, last int64) string {
	return time.Duration(last - first).Round(time.Second).String()
}
