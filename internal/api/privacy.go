package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/vigil-project/vigil/internal/api/problem"
	"github.com/vigil-project/vigil/internal/gate"
	"github.com/vigil-project/vigil/internal/processor"
	"github.com/vigil-project/vigil/internal/pseudo"
	"github.com/vigil-project/vigil/internal/store"
)

// The privacy routes (docs/privacy.md): what a value is stored as
// (analyst), the original behind a pseudonym and the erasure of one data
// subject (admin). Every call is audited; audit entries name pseudonyms,
// never values, because the audit log cannot be erased.

type (
	pseudonymiseBody struct {
		Tenant string `json:"tenant"` // default "default"
		Kind   string `json:"kind"`   // vehicle, account, email, phone, ip, device, client, unit
		Value  string `json:"value"`  // for ip also a prefix of 8, 16, 24, … bits
	}
	pseudonymJSON struct {
		Tenant string `json:"tenant"`
		Kind   string `json:"kind"` // account becomes email for an address
		// Pseudonym is the value as the archive, the alerts and the
		// detectors hold it: search and filter with it.
		Pseudonym string `json:"pseudonym"`
		// Pseudonymised is false when the tenant keeps this kind as it is:
		// Pseudonym is then the value itself.
		Pseudonymised bool `json:"pseudonymised"`
	}
	reidentifyBody struct {
		Tenant    string `json:"tenant"`
		Kind      string `json:"kind"` // optional: told by the pseudonym's shape
		Pseudonym string `json:"pseudonym"`
		Reason    string `json:"reason"` // required; kept in the audit log
	}
	reidentified struct {
		Tenant    string `json:"tenant"`
		Kind      string `json:"kind"`
		Pseudonym string `json:"pseudonym"`
		Value     string `json:"value"`
	}
	erasureBody struct {
		Tenant string `json:"tenant"`
		Kind   string `json:"kind"` // vehicle, account, email, phone, ip, device, client
		Value  string `json:"value"`
		Reason string `json:"reason"` // required; kept in the audit log
	}
	erasureJSON struct {
		Tenant string `json:"tenant"`
		Kind   string `json:"kind"`
		// Pseudonym is what was erased from the archive besides the value
		// itself (events from before pseudonymisation); empty when the
		// tenant keeps this kind as it is.
		Pseudonym  string `json:"pseudonym,omitempty"`
		Events     int64  `json:"events"`
		Alerts     int64  `json:"alerts"`
		Incidents  int64  `json:"incidents"`
		VaultEntry bool   `json:"vault_entry"` // the re-identification vault held it, and no longer does
		// Detection is what the running detection forgot; absent when this
		// server runs none (it forgets when it starts, or the server that
		// runs it finds the erasure within seconds).
		Detection *erasureDetection `json:"detection,omitempty"`
	}
	erasureDetection struct {
		States       int `json:"states"`        // the subject's own twin or principal state, per kind
		References   int `json:"references"`    // other keys whose state named it
		Timers       int `json:"timers"`        // pending windows on its keys, cancelled
		CachedEvents int `json:"cached_events"` // its events stored but not yet processed, dropped
		// DecisionRecords: lines of the gate's decision log files naming it, removed.
		DecisionRecords int  `json:"decision_records"`
		Checkpoint      bool `json:"checkpoint"` // a checkpoint without it was saved (false: checkpoints are off)
	}
)

// eraser is the part of detection an erasure reaches: the processor.
type eraser interface {
	Forget(ctx context.Context, er processor.Erasure) (processor.ForgetResult, error)
}

// Limits of the privacy bodies' strings.
const (
	maxPrivacyValue = 256 // the ingest contract's attribute limit
	maxPseudonym    = 64  // the longest pseudonym is an IPv6 address of 39
	maxReason       = 1000
)

func (s *Server) pseudonymise(w http.ResponseWriter, r *http.Request) error {
	var b pseudonymiseBody
	if err := readJSON(r, &b); err != nil {
		return err
	}
	tenant, k, err := privacySubject(callerOf(r), b.Tenant, b.Kind, b.Value, true)
	if err != nil {
		return err
	}
	ps := s.o.Privacy
	var out pseudonymJSON
	if prefix, perr := netip.ParsePrefix(b.Value); k == pseudo.IP && perr == nil {
		out = pseudonymJSON{Tenant: tenant, Kind: k.String(), Pseudonym: prefix.String()}
		if ps != nil && ps.Settings(tenant).Fields.Has(pseudo.IP) {
			q, err := ps.Prefix(tenant, prefix)
			if err != nil {
				return &problem.Error{Code: problem.InvalidParameter, Field: "value", Message: "value: " + err.Error()}
			}
			out.Pseudonym, out.Pseudonymised = q.String(), true
		}
	} else {
		stored, kind, on, err := ps.Stored(tenant, k, b.Value)
		if err != nil {
			return err
		}
		out = pseudonymJSON{Tenant: tenant, Kind: kind.String(), Pseudonym: stored, Pseudonymised: on}
	}
	detail := map[string]any{"kind": out.Kind, "pseudonymised": out.Pseudonymised}
	target := out.Kind
	if out.Pseudonymised {
		target += "/" + out.Pseudonym
	}
	if err := s.audit(r, "privacy.pseudonymise", tenant, target, detail); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) reidentify(w http.ResponseWriter, r *http.Request) error {
	var b reidentifyBody
	if err := readJSON(r, &b); err != nil {
		return err
	}
	p := callerOf(r)
	tenant, err := privacyTenant(p, b.Tenant)
	if err != nil {
		return err
	}
	if err := privacyText("pseudonym", b.Pseudonym, maxPseudonym); err != nil {
		return err
	}
	if err := privacyText("reason", b.Reason, maxReason); err != nil {
		return err
	}
	var k pseudo.Kind
	if b.Kind != "" {
		if k, err = privacyKind(b.Kind, true); err != nil {
			return err
		}
		// An account id that is an address is kept as an e-mail, and the
		// pseudonym's shape tells which.
		if kk, ok := pseudo.KindOf(b.Pseudonym); ok && (k == pseudo.Account || k == pseudo.Email) && (kk == pseudo.Account || kk == pseudo.Email) {
			k = kk
		}
	} else if kk, ok := pseudo.KindOf(b.Pseudonym); ok {
		k = kk
	} else {
		return &problem.Error{Code: problem.InvalidParameter, Field: "pseudonym",
			Message: "pseudonym: " + clipText(b.Pseudonym) + " has the shape of no pseudonym: name its kind (" + pseudo.KindList() + ")"}
	}
	value, lerr := s.o.Privacy.Reidentify(r.Context(), p.scope, tenant, k, b.Pseudonym)
	outcome := "found"
	switch {
	case errors.Is(lerr, store.ErrNotFound):
		outcome = "not_found"
	case errors.Is(lerr, pseudo.ErrNoVault):
		outcome = "vault_off"
	case lerr != nil:
		outcome = "error"
	}
	// Audited whatever the outcome, and before the answer: no original
	// leaves without its entry.
	if err := s.audit(r, "privacy.reidentify", tenant, k.String()+"/"+b.Pseudonym,
		map[string]any{"kind": k.String(), "reason": b.Reason, "outcome": outcome}); err != nil {
		return err
	}
	switch outcome {
	case "not_found":
		return problem.New(problem.NotFound, "the vault of tenant %s holds no %s %s: it was never seen, was seen before the vault was on, or was erased",
			tenant, k, clipText(b.Pseudonym))
	case "vault_off":
		return problem.New(problem.Conflict, "re-identification needs the vault, and it is off on this server (privacy.vault in the configuration)")
	case "error":
		return lerr
	}
	return writeJSON(w, http.StatusOK, reidentified{Tenant: tenant, Kind: k.String(), Pseudonym: b.Pseudonym, Value: value})
}

func (s *Server) erase(w http.ResponseWriter, r *http.Request) error {
	var b erasureBody
	if err := readJSON(r, &b); err != nil {
		return err
	}
	p := callerOf(r)
	tenant, k, err := privacySubject(p, b.Tenant, b.Kind, b.Value, false)
	if err != nil {
		return err
	}
	if err := privacyText("reason", b.Reason, maxReason); err != nil {
		return err
	}
	var forget pseudo.ForgetFunc
	var det *erasureDetection
	if d, ok := s.o.Processor.(eraser); ok {
		forget = func(ctx context.Context, er pseudo.PendingErasure) error {
			res, err := d.Forget(ctx, processor.Erasure{ID: er.ID, Tenant: er.Tenant, Subjects: er.Subjects})
			if err != nil {
				return err
			}
			if det == nil {
				det = &erasureDetection{}
			}
			// Summed over the passes (see pseudo.Erase).
			det.States += res.Keys
			det.References += res.References
			det.Timers += res.Timers
			det.CachedEvents += res.Cached
			det.Checkpoint = res.Checkpoint
			det.DecisionRecords += res.Records // the gate's decision log files
			return nil
		}
	}
	er, err := pseudo.Erase(r.Context(), s.o.Store, s.o.Privacy, p.scope, p.actor(), tenant, k, b.Value, b.Reason, forget)
	if errors.Is(err, pseudo.ErrDetection) {
		return problem.New(problem.Unavailable, "the archive was erased (%d events, %d alerts, %d incidents; vault entry deleted: %t), "+
			"but %v. Asking again is safe", er.Events, er.Alerts, er.Incidents, er.VaultEntry, err)
	}
	if err != nil {
		return err
	}
	out := erasureJSON{Tenant: tenant, Kind: er.Kind.String(), Events: er.Events, Alerts: er.Alerts, Incidents: er.Incidents,
		VaultEntry: er.VaultEntry, Detection: det}
	if er.Pseudonymised {
		out.Pseudonym = er.Stored
	}
	return writeJSON(w, http.StatusOK, out)
}

// audit appends an entry naming the caller.
func (s *Server) audit(r *http.Request, action, tenant, target string, detail map[string]any) error {
	p := callerOf(r)
	detail["via"] = p.via()
	b, _ := json.Marshal(detail)
	_, err := s.o.Store.AppendAudit(r.Context(), p.scope, store.AuditEntry{Actor: p.actor(), Action: action, Tenant: tenant, Target: target, Detail: b})
	return err
}

// privacySubject checks a body's tenant, kind (unit allowed or not) and
// value, in that order.
func privacySubject(p principal, tenant, kind, value string, unit bool) (string, pseudo.Kind, error) {
	t, err := privacyTenant(p, tenant)
	if err != nil {
		return "", 0, err
	}
	k, err := privacyKind(kind, unit)
	if err != nil {
		return "", 0, err
	}
	if err := privacyText("value", value, maxPrivacyValue); err != nil {
		return "", 0, err
	}
	return t, k, nil
}

// privacyTenant checks the body's tenant against the caller's: a key of
// other tenants is refused, whether or not the subject exists.
func privacyTenant(p principal, t string) (string, error) {
	if t == "" {
		t = "default"
	}
	if !store.ValidTenant(t) {
		return "", &problem.Error{Code: problem.InvalidParameter, Field: "tenant", Message: "tenant: " + clipText(t) + " is not a tenant name"}
	}
	if !p.scope.Allows(t) {
		return "", &problem.Error{Code: problem.Forbidden, Field: "tenant", Message: "tenant: " + t + " is outside your " + p.scope.String()}
	}
	return t, nil
}

func privacyKind(s string, unit bool) (pseudo.Kind, error) {
	k, ok := pseudo.ParseKind(s)
	if ok && (unit || k != pseudo.Unit) {
		return k, nil
	}
	msg := "kind: " + clipText(s) + " is not one of " + pseudo.KindList()
	if ok {
		msg = "kind: the archive is not indexed by unit (IMEI, ICCID): erase the vehicle instead"
	}
	return 0, &problem.Error{Code: problem.InvalidParameter, Field: "kind", Message: msg}
}

func privacyText(field, v string, max int) error {
	var why string
	switch {
	case v == "":
		why = "is required"
	case len(v) > max:
		why = "is longer than " + strconv.Itoa(max) + " bytes"
	case !utf8.ValidString(v):
		why = "is not valid UTF-8"
	case strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		why = "contains control characters"
	default:
		return nil
	}
	return &problem.Error{Code: problem.InvalidParameter, Field: field, Message: field + " " + why}
}

func clipText(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	b, _ := json.Marshal(s)
	return string(b)
}

// gateDecide is POST /v1/gate. With pseudonymisation on, the gate turns
// the identities of the TSP's request (vehicle, account, device, IP,
// client) into the pseudonyms detection and the directory know them by,
// once its own strict decoder has read and checked the request: one
// parser, so no value it reads can reach its decision log in clear.
func (s *Server) gateDecide() http.Handler {
	ps := s.o.Privacy
	if ps == nil {
		return s.o.Gate.DecideHandler(nil)
	}
	return s.o.Gate.DecideHandler(func(req *gate.CommandRequest) error { return pseudonymiseGate(ps, req) })
}

// pseudonymiseGate rewrites a request the gate has checked: its tenant
// set, every value within its limits, the IP an address.
func pseudonymiseGate(ps *pseudo.Pseudonymiser, req *gate.CommandRequest) error {
	a := &req.Actor
	for _, f := range []struct {
		field string
		k     pseudo.Kind
		v     *string
	}{{"vehicle", pseudo.Vehicle, &req.Vehicle}, {"actor.account", pseudo.Account, &a.Account}, {"actor.device", pseudo.Device, &a.Device},
		{"actor.ip", pseudo.IP, &a.IP}, {"actor.client_id", pseudo.Client, &a.ClientID}} {
		if *f.v == "" {
			continue
		}
		stored, _, _, err := ps.Stored(req.Tenant, f.k, *f.v)
		if err != nil {
			return &problem.Error{Code: problem.Internal, Field: f.field,
				Message: f.field + " could not be pseudonymised (" + err.Error() + "): the request was refused, nothing was decided"}
		}
		*f.v = stored
	}
	return nil
}
