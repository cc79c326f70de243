package gate

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/vigil-project/vigil/internal/api/problem"
)

// DecisionList is the answer of GET /v1/gate/decisions.
type DecisionList struct {
	Decisions []DecisionRecord `json:"decisions"`
	// Recent is how many decisions the gate keeps in memory; older ones are
	// in the decision log file only.
	Recent int `json:"recent"`
}

// Rewrite changes a request the gate has read and checked, in place,
// before anything decides on it or records it: with pseudonymisation on,
// its identities become the pseudonyms detection and the directory know.
// An error refuses the request (a *problem.Error is answered as it is).
type Rewrite func(*CommandRequest) error

// DecideHandler serves POST /v1/gate, each request rewritten by rewrite
// when it is not nil. It must run behind authentication: AllowTenant
// reads the credential. A nil Gate answers 503.
func (g *Gate) DecideHandler(rewrite Rewrite) http.Handler {
	if g == nil {
		return notConfigured
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if perr := g.serveDecide(w, r, rewrite); perr != nil {
			g.metrics.rejected.Add(1)
			problem.Write(w, perr)
		}
	})
}

// DecisionsHandler serves GET /v1/gate/decisions: the recent decisions,
// newest first, of the tenants the credential may see.
func (g *Gate) DecisionsHandler() http.Handler {
	if g == nil {
		return notConfigured
	}
	return http.HandlerFunc(g.serveDecisions)
}

var notConfigured = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
	problem.Write(w, problem.New(problem.Unavailable, "the command gate is not configured on this server"))
})

func (g *Gate) serveDecide(w http.ResponseWriter, r *http.Request, rewrite Rewrite) *problem.Error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return problem.New(problem.UnsupportedMedia, "Content-Type %q is not accepted: send application/json", ct)
		}
	}
	if r.ContentLength > maxBodyBytes {
		return problem.New(problem.BodyTooLarge, "the body is %d bytes, the limit is %d", r.ContentLength, maxBodyBytes)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return problem.New(problem.BadRequest, "reading the body failed: %v", err)
	}
	p, perr := decodeRequest(body, g.names)
	if perr != nil {
		return perr
	}
	if g.o.AllowTenant != nil && !g.o.AllowTenant(r, p.Tenant) {
		e := problem.New(problem.Forbidden, "these credentials may not ask about vehicles of tenant %q", p.Tenant)
		e.Field = "tenant"
		return e
	}
	if !g.Ready() {
		e := problem.New(problem.Unavailable, "the gate is not ready: detection is still reading the event archive or the open incidents are not loaded; retry shortly")
		e.RetryAfter = time.Second
		return e
	}
	idx := g.incidents.Load()
	if why := idx.blind(p.Tenant, g.cfg.Incidents.MaxOpen); why != "" {
		e := problem.New(problem.Unavailable, "%s; nothing was decided: resolve incidents or raise the limit", why)
		e.RetryAfter = time.Second
		return e
	}
	// After the strict decoder, so what is rewritten is what is decided
	// on; never decided on or logged as sent when it cannot be.
	if rewrite != nil {
		if err := rewrite(&p.CommandRequest); err != nil {
			g.log.Error("gate: rewriting a request failed; it was refused", "err", err)
			var perr *problem.Error
			if errors.As(err, &perr) {
				return perr
			}
			return problem.New(problem.Internal, "rewriting the request failed (%v): it was refused, nothing was decided", err)
		}
	}
	d := g.decideOn(idx, p, g.now())
	out := append(appendDecision(make([]byte, 0, 512), &d), '\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(http.StatusOK)
	w.Write(out)
	return nil
}

func (g *Gate) serveDecisions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	bad := func(field, format string, args ...any) {
		g.metrics.rejected.Add(1)
		problem.Write(w, invalid(field, format, args...))
	}
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			bad("limit", "%q is not a number between 1 and 1000", clip(v))
			return
		}
		limit = n
	}
	tenant, vehicle, account, decision := q.Get("tenant"), q.Get("vehicle"), q.Get("account"), q.Get("decision")
	for name, v := range map[string]string{"tenant": tenant, "vehicle": vehicle, "account": account} {
		if len(v) > maxAttrBytes {
			bad(name, "longer than %d bytes", maxAttrBytes)
			return
		}
	}
	switch decision {
	case "", "allow", "deny", "step_up":
	default:
		bad("decision", "%q is not allow, deny or step_up", clip(decision))
		return
	}
	if tenant != "" && g.o.AllowTenant != nil && !g.o.AllowTenant(r, tenant) {
		bad("tenant", "%q is not a tenant these credentials may see", clip(tenant))
		return
	}
	recs := g.ring.newest(limit, func(rec *DecisionRecord) bool {
		return (tenant == "" || rec.Tenant == tenant) && (vehicle == "" || rec.Vehicle == vehicle) &&
			(account == "" || rec.Actor.Account == account) && (decision == "" || rec.Decision == decision) &&
			(g.o.AllowTenant == nil || g.o.AllowTenant(r, rec.Tenant))
	})
	out := DecisionList{Decisions: make([]DecisionRecord, len(recs)), Recent: g.cfg.Log.Recent}
	for i, rec := range recs {
		out.Decisions[i] = *rec
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	json.NewEncoder(w).Encode(out)
}
