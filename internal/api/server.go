// Package api is vigil's REST API under /v1: alerts and incidents and their
// triage, event timelines and search, the vehicle twin, detectors, health,
// readiness and Prometheus metrics. Every error comes from the problem
// catalogue; every route but health and metrics needs a credential, and
// every read and change is scoped to the credential's tenants in the store.
package api

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/api/live"
	"github.com/vigil-project/vigil/internal/api/problem"
	"github.com/vigil-project/vigil/internal/console"
	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/engine"
	"github.com/vigil-project/vigil/internal/gate"
	"github.com/vigil-project/vigil/internal/pseudo"
	"github.com/vigil-project/vigil/internal/rules"
	"github.com/vigil-project/vigil/internal/sink"
	"github.com/vigil-project/vigil/internal/store"
)

// Processor is what the API needs from detection.
type Processor interface {
	Query(ctx context.Context, f func(engine.ShardView)) error
	Ready() bool
	Lag() int64
}

// Options configure the API.
type Options struct {
	Store     store.Store
	Processor Processor
	Engine    *engine.Engine // detector list and counters
	Ingest    http.Handler   // POST /v1/events
	Auth      *Auth
	Metrics   http.Handler // GET /metrics
	// RequestLatency, when not nil, observes every request by route and
	// status class (RequestLatency).
	RequestLatency *prometheus.HistogramVec
	// Console serves the analyst console (nil: the default, maps without
	// a tile server).
	Console http.Handler
	// Rules returns the rules' counters (nil: no rules).
	Rules func() []rules.RuleMetrics
	Gate  *gate.Gate // POST /v1/gate, GET /v1/gate/decisions; nil answers 503
	// Live feeds GET /v1/alerts/stream (fed by the processor's OnAlert;
	// closed when the server shuts down); nil answers 503.
	Live *live.Broadcaster
	// Sinks are the outbound alert sinks (GET /v1/sinks); nil: none.
	Sinks *sink.Set
	// Modes and Off describe the detectors' modes for GET /v1/detectors:
	// shadow or off per tenant, and the built-in detectors off for every
	// tenant (not in the engine). Nil: every detector is enabled.
	Modes  *alert.Modes
	Off    []detect.Info
	Logger *slog.Logger

	// Privacy pseudonymises (POST /v1/pseudonymise, the gate's requests),
	// re-identifies and erases (docs/privacy.md); nil: pseudonymisation
	// is off, erasure still works on values as they are.
	Privacy *pseudo.Pseudonymiser
}

// Server routes the API.
type Server struct {
	o   Options
	mux *http.ServeMux
}

// New builds the API.
func New(o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{o: o, mux: http.NewServeMux()}
	// The OIDC routes are registered always: OIDC may be configured after
	// New; they answer 404 while it is not.
	all := s.routes()
	if s.o.Auth.oidcConfig() == nil {
		all = append(all, s.oidcRoutes()...)
	}
	for _, r := range all {
		h := r.handler
		if r.role != roleNone {
			h = o.Auth.require(r.role, h)
		}
		s.mux.Handle(r.method+" "+r.path, h)
	}
	// The analyst console: static files from the binary; its data comes
	// from this API with the user's key.
	ch := o.Console
	if ch == nil {
		ch = console.Handler()
	}
	s.mux.Handle("GET /console/", ch)
	s.mux.Handle("GET /{$}", ch)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		problem.Write(w, problem.New(problem.NotFound, "no route %s %s: see /v1/openapi.json", r.Method, r.URL.Path))
	})
	return s
}

// route is one endpoint; the OpenAPI test checks the document against
// this table.
type route struct {
	method, path string
	role         role
	handler      http.Handler
	doc          doc
}

func (s *Server) routes() []route {
	hf := func(f func(http.ResponseWriter, *http.Request) error) http.Handler { return s.handle(f) }
	list := []string{"tenant", "category", "severity", "status", "detector", "kind", "entity", "from", "to", "shadow", "order", "limit", "cursor"}
	rs := []route{
		{"GET", "/v1/health", roleNone, hf(s.health), doc{summary: "Liveness: the process answers.", resp: status{}}},
		{"GET", "/v1/ready", roleNone, hf(s.ready), doc{summary: "Readiness: the store answers and detection has caught up with the archive.", resp: status{}}},
		{"GET", "/v1/openapi.json", roleNone, hf(s.openapi), doc{summary: "This document."}},
		{"GET", "/metrics", roleNone, s.o.Metrics, doc{summary: "Prometheus metrics (text exposition format)."}},
		{"POST", "/v1/events", roleIngest, s.o.Ingest, doc{summary: "Ingest events: CloudEvents structured, batch or binary mode, or NDJSON; gzip allowed. Answers after the events are durable.", resp: ingestResult{}, body: "events"}},
		{"GET", "/v1/events", roleViewer, hf(s.searchEvents), doc{summary: "Search the event archive: a timeline of a vehicle, account, device, IP or client.", query: []string{"tenant", "kind", "value", "type", "from", "to", "order", "limit", "cursor"}, resp: eventPage{}}},
		{"GET", "/v1/alerts", roleViewer, hf(s.listAlerts), doc{summary: "List alerts, filtered, newest first, with cursor pagination. " +
			"Shadow alerts (detectors in shadow mode, shadow rules) are left out unless shadow=true (only them) or shadow=all.", query: list, resp: alertPage{}}},
		{"GET", "/v1/alerts/stream", roleViewer, hf(s.alertStream), doc{summary: "Live alerts as Server-Sent Events (text/event-stream, not JSON): " +
			"an `alert` event whose data is the JSON of GET /v1/alerts/{id} for each new alert of the key's tenants that the filters admit, " +
			"a comment every 15 s when idle, and a last `overflow` event when the client fell too far behind (read GET /v1/alerts, then reconnect). " +
			"Beyond the server's limit of open streams the answer is 429.", query: []string{"tenant", "category", "severity"}}},
		{"GET", "/v1/alerts/{id}", roleViewer, hf(s.getAlert), doc{summary: "One alert.", resp: alertJSON{}}},
		{"PATCH", "/v1/alerts/{id}", roleAnalyst, hf(s.updateAlert), doc{summary: "Change an alert's status or assignee (audited).", resp: alertJSON{}, body: alertPatch{}}},
		{"GET", "/v1/alerts/{id}/evidence", roleViewer, hf(s.evidence), doc{summary: "The archived events that prove an alert, first first.", resp: evidenceList{}}},
		{"GET", "/v1/incidents", roleViewer, hf(s.listIncidents), doc{summary: "List incidents, filtered, with cursor pagination.", query: append(list[:0:0], "tenant", "category", "severity", "status", "assignee", "kind", "entity", "from", "to", "order", "limit", "cursor"), resp: incidentPage{}}},
		{"GET", "/v1/incidents/{id}", roleViewer, hf(s.getIncident), doc{summary: "One incident with its alerts and history.", resp: incidentJSON{}}},
		{"PATCH", "/v1/incidents/{id}", roleAnalyst, hf(s.updateIncident), doc{summary: "Change an incident's status or assignee, or comment (recorded in its history and audited).", resp: incidentJSON{}, body: incidentPatch{}}},
		{"GET", "/v1/vehicles/{id}", roleViewer, hf(s.vehicle), doc{summary: "A vehicle's digital twin as detection sees it now.", query: []string{"tenant"}, resp: vehicleJSON{}}},
		{"GET", "/v1/principals/{kind}/{id}", roleViewer, hf(s.principal), doc{summary: "What detection holds now about an account, IP, API client, device or subnet " +
			"(kind: account, ip, client, device, subnet): recent failures and logins, links, devices, a pending takeover trail, commands and reads outside entitlement. " +
			"Its events: GET /v1/events?kind=…&value=….", query: []string{"tenant"}, resp: principalJSON{}}},
		{"GET", "/v1/detectors", roleViewer, hf(s.detectors), doc{summary: "The detectors and the alerts raised by category.", resp: detectorList{}}},
		{"GET", "/v1/stats", roleViewer, hf(s.stats), doc{summary: "Counters for dashboards.", resp: statsJSON{}}},
		{"GET", "/v1/sinks", roleAdmin, hf(s.sinks), doc{summary: "The outbound alert sinks with their target (secrets redacted), filter, delivery counters since the server started, the persisted cursor and the lag behind the newest stored alert. " +
			"An admin of some tenants sees the sinks whose filter names only tenants of theirs.", resp: sinkList{}}},
		{"GET", "/v1/keys", roleAdmin, hf(s.listKeys), doc{summary: "The API keys within the caller's tenants, newest first: never their secret or its hash.", resp: keyList{}}},
		{"POST", "/v1/keys", roleAdmin, hf(s.createKey), doc{summary: "Create an API key (audited). The answer holds its secret, shown this once: only its hash is stored.", resp: keyCreated{}, body: keyCreate{}}},
		{"DELETE", "/v1/keys/{id}", roleAdmin, hf(s.revokeKey), doc{summary: "Revoke an API key (audited): it stops working at once. The last admin key for every tenant cannot be revoked.", resp: keyJSON{}}},
		{"GET", "/v1/me", roleAny, hf(s.me), doc{summary: "The caller: how it authenticated (key or session), its key id or user, name, role and tenants; with a session, the session's CSRF token and end.", resp: meJSON{}}},
		{"POST", "/v1/me/password", roleAny, hf(s.changePassword), doc{summary: "Change your own password (a user signed in with a session; needs the current one, audited). Every session of the user ends; the answer sets a new session cookie and holds its CSRF token.", resp: sessionJSON{}, body: passwordChange{}}},
		{"POST", "/v1/session", roleNone, hf(s.signIn), doc{summary: "Sign in with a user name and password: sets the __Host-vigil_session cookie (HttpOnly, Secure, SameSite=Strict, Path=/) and answers the CSRF token to send as X-CSRF-Token with every change. " +
			"Refused with 429 and Retry-After beyond the client address's rate or while the user name is locked after repeated failures (docs/auth.md).", resp: sessionJSON{}, body: sessionCreate{}}},
		{"DELETE", "/v1/session", roleAny, hf(s.signOut), doc{summary: "Sign out: the session ends at once and its cookie is cleared (audited).", resp: signedOut{}}},
		{"GET", "/v1/session/methods", roleNone, hf(s.signInMethods), doc{summary: "The ways to sign in to this server, for the console's sign-in page: passwords, and the OpenID Connect provider when one is configured.", resp: signInMethods{}}},
		{"GET", "/v1/users", roleAdmin, hf(s.listUsers), doc{summary: "The users within the caller's tenants, by name: never their password hash.", resp: userList{}}},
		{"POST", "/v1/users", roleAdmin, hf(s.createUser), doc{summary: "Create a user who signs in with a password (audited). Roles: admin, analyst, viewer; the password must pass the policy (docs/auth.md).", resp: userJSON{}, body: userCreate{}}},
		{"PATCH", "/v1/users/{name}", roleAdmin, hf(s.patchUser), doc{summary: "Change a user's role, tenants or disabled flag, or reset the password (audited). Disabling or a new password ends the user's sessions. The only enabled admin user for every tenant cannot be demoted or disabled.", resp: userJSON{}, body: userPatch{}}},
		{"DELETE", "/v1/users/{name}", roleAdmin, hf(s.deleteUser), doc{summary: "Delete a user (audited): the user's sessions end at once. The only enabled admin user for every tenant cannot be deleted.", resp: userJSON{}}},
		{"GET", "/v1/tenants", roleViewer, hf(s.tenants), doc{summary: "The tenants the caller may see.", resp: tenantList{}}},
		{"POST", "/v1/pseudonymise", roleAnalyst, hf(s.pseudonymise), doc{summary: "What a value (a VIN, an account, an e-mail address, an IP or an IP prefix, …) is stored as in the tenant: " +
			"its pseudonym when the tenant pseudonymises its kind, else itself; search events and alerts with it (audited, docs/privacy.md).", resp: pseudonymJSON{}, body: pseudonymiseBody{}}},
		{"POST", "/v1/reidentify", roleAdmin, hf(s.reidentify), doc{summary: "The original value behind a pseudonym, from the re-identification vault. A reason is required; every call is audited " +
			"(the audit entry names the pseudonym and the reason, never the value). 409 when the vault is off.", resp: reidentified{}, body: reidentifyBody{}}},
		{"POST", "/v1/erasure", roleAdmin, hf(s.erase), doc{summary: "Erase one data subject of a tenant: every archived event, alert and incident naming the value or its pseudonym, " +
			"and its vault entry (so the pseudonym can no longer be re-identified); then what detection derived from it, answering once a checkpoint without it is saved. " +
			"A reason is required; audited with the counts, never the value.", resp: erasureJSON{}, body: erasureBody{}}},
		{"POST", "/v1/gate", roleGate, s.gateDecide(), doc{summary: "Command gate: may this remote command go to the vehicle now? Answers allow, deny or step_up with reasons (docs/gate.md). " +
			"With pseudonymisation on, the request's identities are pseudonymised once the gate has read and checked it, before it decides or logs anything; a request that cannot be is refused.", resp: gate.Decision{}, body: gate.CommandRequest{}}},
		{"GET", "/v1/gate/decisions", roleAnalyst, s.o.Gate.DecisionsHandler(), doc{summary: "The command gate's recent decisions, newest first.", query: []string{"tenant", "vehicle", "account", "decision", "limit"}, resp: gate.DecisionList{}}},
	}
	// Sign-in with an OpenID provider: its routes exist while it is configured.
	if s.o.Auth.oidcConfig() != nil {
		rs = append(rs, s.oidcRoutes()...)
	}
	return rs
}

// Routes lists "METHOD /path" of every route the server answers.
func (s *Server) Routes() []string {
	var out []string
	for _, r := range s.routes() {
		out = append(out, r.method+" "+r.path)
	}
	return out
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	if s.o.RequestLatency == nil {
		s.mux.ServeHTTP(w, r)
		return
	}
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	s.mux.ServeHTTP(sw, r)
	// The mux set r.Pattern: a route of the table, never a raw path, so
	// the label's values are bounded.
	s.o.RequestLatency.WithLabelValues(cmp.Or(r.Pattern, "none"), statusClass(sw.status)).Observe(time.Since(start).Seconds())
}

// statusWriter remembers the status a handler answered with.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (the live
// stream flushes and sets deadlines through it).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// statusClass is "2xx" for 200–299 and so on; a handler that wrote
// nothing answered 200.
func statusClass(code int) string {
	if code == 0 {
		code = http.StatusOK
	}
	return strconv.Itoa(code/100) + "xx"
}

// handle turns a handler that returns an error into an http.Handler that
// answers from the catalogue.
func (s *Server) handle(f func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := f(w, r)
		if err == nil {
			return
		}
		var pe *problem.Error
		switch {
		case errors.As(err, &pe):
		case errors.Is(err, store.ErrNotFound):
			pe = problem.New(problem.NotFound, "%s", err.Error())
		case errors.Is(err, store.ErrForbidden):
			pe = problem.New(problem.Forbidden, "%s", err.Error())
		case errors.Is(err, store.ErrInvalid):
			pe = problem.New(problem.InvalidParameter, "%s", err.Error())
		case errors.Is(err, store.ErrConflict):
			pe = problem.New(problem.Conflict, "%s", err.Error())
		case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
			pe = problem.New(problem.Unavailable, "the request was cancelled or timed out")
		default:
			id := time.Now().UnixNano()
			s.o.Logger.Error("request failed", "id", id, "method", r.Method, "path", r.URL.Path, "err", err)
			pe = problem.New(problem.Internal, "internal error %d (logged)", id)
		}
		problem.Write(w, pe)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

// maxBody bounds the JSON bodies of API changes.
const maxBody = 64 << 10

func readJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return problem.New(problem.BadRequest, "the body is not the expected JSON object: %v", err)
	}
	return nil
}

func (s *Server) health(w http.ResponseWriter, _ *http.Request) error {
	return writeJSON(w, http.StatusOK, status{"status": "ok"})
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.o.Store.Ping(ctx); err != nil {
		return problem.New(problem.Unavailable, "the store does not answer: %v", err)
	}
	if !s.o.Processor.Ready() {
		return problem.New(problem.Unavailable, "detection is still reading the archive (%d events behind)", s.o.Processor.Lag())
	}
	return writeJSON(w, http.StatusOK, status{"status": "ready", "lag": s.o.Processor.Lag()})
}

// GateOnly is the API as the gate's own listener serves it (vigil serve
// --gate-listen): POST /v1/gate, with the same keys, checks, metrics and
// decision log; every other path answers 404.
func (s *Server) GateOnly() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/gate" {
			w.Header().Set("X-Content-Type-Options", "nosniff")
			w.Header().Set("Cache-Control", "no-store")
			problem.Write(w, problem.New(problem.NotFound, "no route %s %s on the gate's listener: it serves POST /v1/gate alone; the rest of the API is on the main listener", r.Method, r.URL.Path))
			return
		}
		s.ServeHTTP(w, r)
	})
}
