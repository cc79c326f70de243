package api

import (
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/api/problem"
	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/engine"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/store"
	"github.com/vigil-project/vigil/internal/twin"
)

// params reads query parameters, collecting the first error.
type params struct {
	q   url.Values
	err *problem.Error
}

func (p *params) bad(name, format string, args ...any) {
	if p.err == nil {
		p.err = problem.New(problem.InvalidParameter, "%s: "+format, append([]any{name}, args...)...)
		p.err.Field = name
	}
}

func (p *params) str(name string, max int) string {
	v := p.q.Get(name)
	if len(v) > max {
		p.bad(name, "longer than %d bytes", max)
		return ""
	}
	return v
}

func (p *params) int(name string) int {
	v := p.q.Get(name)
	if v == "" {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		p.bad(name, "%q is not a non-negative integer", v)
	}
	return n
}

func (p *params) time(name string) int64 {
	v := p.q.Get(name)
	if v == "" {
		return 0
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		p.bad(name, "%q is not an RFC 3339 time", v)
	}
	return t.UnixNano()
}

func (p *params) order() store.Order {
	switch v := p.q.Get("order"); v {
	case "", "newest":
		return store.NewestFirst
	case "oldest":
		return store.OldestFirst
	default:
		p.bad("order", "%q is not newest or oldest", v)
		return store.NewestFirst
	}
}

// shadow reads ?shadow=: false (the default, the alert queue: raised
// alerts only), true (shadow alerts only) or all.
func (p *params) shadow() store.ShadowFilter {
	switch v := p.q.Get("shadow"); v {
	case "", "false":
		return store.ShadowExclude
	case "true":
		return store.ShadowOnly
	case "all":
		return store.ShadowAny
	default:
		p.bad("shadow", "%q is not false, true or all", v)
		return store.ShadowExclude
	}
}

func (p *params) statuses() []store.Status {
	var out []store.Status
	for _, v := range p.q["status"] {
		for _, f := range strings.Split(v, ",") {
			st, ok := store.ParseStatus(f)
			if !ok {
				p.bad("status", "%q is not new, acknowledged, resolved or false_positive", f)
				continue
			}
			out = append(out, st)
		}
	}
	return out
}

func (p *params) category() alert.Category {
	v := p.q.Get("category")
	if v == "" {
		return alert.CategoryUnset
	}
	c, ok := alert.ParseCategory(v)
	if !ok {
		p.bad("category", "%q is not a category of the alert contract", v)
	}
	return c
}

func (p *params) severity() event.Severity {
	v := p.q.Get("severity")
	if v == "" {
		return event.SeverityUnset
	}
	s, ok := event.ParseSeverity(v)
	if !ok {
		p.bad("severity", "%q is not low, medium, high or critical", v)
	}
	return s
}

func (p *params) entity() store.Entity {
	e := store.Entity{Kind: store.EntityKind(p.q.Get("kind")), Value: p.str("entity", 256)}
	if e.Kind != "" && !e.Kind.Valid() {
		p.bad("kind", "%q is not vehicle, account, device, ip, client or msisdn", e.Kind)
	}
	return e
}

// scope narrows the caller's scope to ?tenant= when given.
func scope(r *http.Request, p *params) store.Scope {
	sc := callerOf(r).scope
	if t := p.q.Get("tenant"); t != "" {
		n, err := sc.Narrow(t)
		if err != nil {
			p.bad("tenant", "%q is not a tenant these credentials may see", t)
			return store.Scope{}
		}
		return n
	}
	return sc
}

// alertJSON is the API's alert: the alert contract plus the analysts' state.
type alertJSON struct {
	ID          string         `json:"id"`
	Time        string         `json:"time"`
	FirstSeen   string         `json:"first_seen"`
	LastSeen    string         `json:"last_seen"`
	Tenant      string         `json:"tenant"`
	Category    string         `json:"category"`
	Severity    string         `json:"severity"`
	Detector    string         `json:"detector"`
	Title       string         `json:"title"`
	Explanation string         `json:"explanation"`
	Entities    alert.Entities `json:"entities"`
	Evidence    []event.Ref    `json:"evidence"`
	Mappings    alert.Mappings `json:"mappings"`
	Incident    string         `json:"incident,omitempty"`
	Shadow      bool           `json:"shadow,omitempty"` // stored by a detector in shadow mode, not raised
	Status      string         `json:"status"`
	Assignee    string         `json:"assignee,omitempty"`
	Created     string         `json:"created"`
	Updated     string         `json:"updated"`
}

func ts(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }

func toAlertJSON(a store.Alert) alertJSON {
	return alertJSON{ID: a.ID, Time: ts(a.Time), FirstSeen: ts(a.FirstSeen), LastSeen: ts(a.LastSeen), Tenant: a.Tenant,
		Category: a.Category.String(), Severity: a.Severity.String(), Detector: a.Detector, Title: a.Title,
		Explanation: a.Explanation, Entities: a.Entities, Evidence: a.Evidence, Mappings: a.Mappings, Incident: a.Incident,
		Shadow: a.Shadow, Status: a.Status.String(), Assignee: a.Assignee, Created: ts(a.Created), Updated: ts(a.Updated)}
}

func (s *Server) listAlerts(w http.ResponseWriter, r *http.Request) error {
	p := &params{q: r.URL.Query()}
	sc := scope(r, p)
	q := store.AlertQuery{Category: p.category(), MinSeverity: p.severity(), Statuses: p.statuses(),
		Detector: p.str("detector", 128), Entity: p.entity(), From: p.time("from"), To: p.time("to"),
		Shadow: p.shadow(), Order: p.order(), Limit: p.int("limit"), Cursor: p.str("cursor", 512)}
	if p.err != nil {
		return p.err
	}
	page, err := s.o.Store.ListAlerts(r.Context(), sc, q)
	if err != nil {
		return err
	}
	out := alertPage{Alerts: make([]alertJSON, 0, len(page.Alerts)), Next: page.Next}
	for _, a := range page.Alerts {
		out.Alerts = append(out.Alerts, toAlertJSON(a))
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) getAlert(w http.ResponseWriter, r *http.Request) error {
	a, err := s.o.Store.GetAlert(r.Context(), callerOf(r).scope, r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toAlertJSON(a))
}

func (s *Server) updateAlert(w http.ResponseWriter, r *http.Request) error {
	var body alertPatch
	if err := readJSON(r, &body); err != nil {
		return err
	}
	c := store.AlertChange{ID: r.PathValue("id"), Assignee: body.Assignee}
	if body.Status != nil {
		st, ok := store.ParseStatus(*body.Status)
		if !ok {
			return &problem.Error{Code: problem.InvalidParameter, Field: "status",
				Message: "status: " + strconv.Quote(*body.Status) + " is not new, acknowledged, resolved or false_positive"}
		}
		c.Status = st
	}
	if body.Assignee != nil && len(*body.Assignee) > 256 {
		return &problem.Error{Code: problem.InvalidParameter, Field: "assignee", Message: "assignee: longer than 256 bytes"}
	}
	who := callerOf(r)
	// The audit entry belongs to the alert's tenant: a key scoped to that
	// tenant may write it (the platform's entries need every tenant).
	cur, err := s.o.Store.GetAlert(r.Context(), who.scope, c.ID)
	if err != nil {
		return err
	}
	detail, _ := json.Marshal(body)
	c.Audit = &store.AuditEntry{Time: time.Now().UnixNano(), Actor: who.actor(), Action: "alert.update", Tenant: cur.Tenant, Target: c.ID, Detail: detail}
	a, err := s.o.Store.UpdateAlert(r.Context(), who.scope, c)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toAlertJSON(a))
}

type eventJSON struct {
	Seq     int64           `json:"seq"`
	Tenant  string          `json:"tenant"`
	Source  string          `json:"source"`
	ID      string          `json:"id"`
	Type    string          `json:"type"`
	Time    string          `json:"time"`
	Subject string          `json:"subject,omitempty"`
	Event   json.RawMessage `json:"event"`
	// Unreadable says why the event's JSON could not be read back from
	// the archive (a damaged row); event is null then.
	Unreadable string `json:"unreadable,omitempty"`
}

func toEventJSON(e store.ArchivedEvent) eventJSON {
	out := eventJSON{Seq: e.Seq, Tenant: e.Tenant, Source: e.Source, ID: e.ID, Type: e.Type, Time: ts(e.Time), Subject: e.Subject, Event: e.Raw}
	if e.RawErr != nil {
		out.Event, out.Unreadable = nil, e.RawErr.Error()
	}
	return out
}

func (s *Server) evidence(w http.ResponseWriter, r *http.Request) error {
	items, err := s.o.Store.Evidence(r.Context(), callerOf(r).scope, r.PathValue("id"))
	if err != nil {
		return err
	}
	out := evidenceList{Evidence: make([]evidenceItem, len(items))}
	for i, it := range items {
		out.Evidence[i].Ref = refJSON{Source: it.Ref.Source, ID: it.Ref.ID}
		if it.Event != nil {
			e := toEventJSON(*it.Event)
			out.Evidence[i].Event = &e
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) searchEvents(w http.ResponseWriter, r *http.Request) error {
	p := &params{q: r.URL.Query()}
	sc := scope(r, p)
	q := store.EventQuery{Kind: store.EntityKind(p.q.Get("kind")), Value: p.str("value", 256), From: p.time("from"), To: p.time("to"),
		Order: p.order(), Limit: p.int("limit"), Cursor: p.str("cursor", 512)}
	for _, t := range p.q["type"] {
		q.Types = append(q.Types, strings.Split(t, ",")...)
	}
	if p.err != nil {
		return p.err
	}
	page, err := s.o.Store.SearchEvents(r.Context(), sc, q)
	if err != nil {
		return err
	}
	out := eventPage{Events: make([]eventJSON, 0, len(page.Events)), Next: page.Next}
	for _, e := range page.Events {
		out.Events = append(out.Events, toEventJSON(e))
	}
	return writeJSON(w, http.StatusOK, out)
}

type incidentJSON struct {
	ID         string         `json:"id"`
	Tenant     string         `json:"tenant"`
	FirstSeen  string         `json:"first_seen"`
	LastSeen   string         `json:"last_seen"`
	Severity   string         `json:"severity"`
	Categories []string       `json:"categories"`
	Entities   []store.Entity `json:"entities"`
	AlertCount int            `json:"alert_count"`
	Status     string         `json:"status"`
	Assignee   string         `json:"assignee,omitempty"`
	Created    string         `json:"created"`
	Updated    string         `json:"updated"`
	Alerts     []alertJSON    `json:"alerts,omitempty"`
	History    []historyJSON  `json:"history,omitempty"`
}

type historyJSON struct {
	Time   string `json:"time"`
	Actor  string `json:"actor"`
	Action string `json:"action"`
	Old    string `json:"old,omitempty"`
	New    string `json:"new,omitempty"`
}

func toIncidentJSON(i store.Incident) incidentJSON {
	out := incidentJSON{ID: i.ID, Tenant: i.Tenant, FirstSeen: ts(i.FirstSeen), LastSeen: ts(i.LastSeen), Severity: i.Severity.String(),
		Entities: i.Entities, AlertCount: i.AlertCount, Status: i.Status.String(), Assignee: i.Assignee,
		Created: ts(i.Created), Updated: ts(i.Updated), Categories: []string{}}
	for _, c := range i.Categories {
		out.Categories = append(out.Categories, c.String())
	}
	return out
}

func (s *Server) listIncidents(w http.ResponseWriter, r *http.Request) error {
	p := &params{q: r.URL.Query()}
	sc := scope(r, p)
	q := store.IncidentQuery{Category: p.category(), MinSeverity: p.severity(), Statuses: p.statuses(), Entity: p.entity(),
		From: p.time("from"), To: p.time("to"), Order: p.order(), Limit: p.int("limit"), Cursor: p.str("cursor", 512)}
	if p.q.Has("assignee") {
		a := p.str("assignee", 256)
		q.Assignee = &a
	}
	if p.err != nil {
		return p.err
	}
	page, err := s.o.Store.ListIncidents(r.Context(), sc, q)
	if err != nil {
		return err
	}
	out := incidentPage{Incidents: make([]incidentJSON, 0, len(page.Incidents)), Next: page.Next}
	for _, i := range page.Incidents {
		out.Incidents = append(out.Incidents, toIncidentJSON(i))
	}
	return writeJSON(w, http.StatusOK, out)
}

func toIncidentDetail(d store.IncidentDetail) incidentJSON {
	out := toIncidentJSON(d.Incident)
	for _, a := range d.Alerts {
		out.Alerts = append(out.Alerts, toAlertJSON(a))
	}
	for _, h := range d.History {
		out.History = append(out.History, historyJSON{Time: ts(h.Time), Actor: h.Actor, Action: h.Action, Old: h.Old, New: h.New})
	}
	return out
}

func (s *Server) getIncident(w http.ResponseWriter, r *http.Request) error {
	d, err := s.o.Store.GetIncident(r.Context(), callerOf(r).scope, r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toIncidentDetail(d))
}

func (s *Server) updateIncident(w http.ResponseWriter, r *http.Request) error {
	var body incidentPatch
	if err := readJSON(r, &body); err != nil {
		return err
	}
	who := callerOf(r)
	c := store.IncidentChange{ID: r.PathValue("id"), Actor: who.actor(), Assignee: body.Assignee, Comment: body.Comment}
	if body.Status != nil {
		st, ok := store.ParseStatus(*body.Status)
		if !ok {
			return &problem.Error{Code: problem.InvalidParameter, Field: "status",
				Message: "status: " + strconv.Quote(*body.Status) + " is not new, acknowledged, resolved or false_positive"}
		}
		c.Status = st
	}
	if len(body.Comment) > 16<<10 {
		return &problem.Error{Code: problem.InvalidParameter, Field: "comment", Message: "comment: longer than 16 KiB"}
	}
	cur, err := s.o.Store.GetIncident(r.Context(), who.scope, c.ID)
	if err != nil {
		return err
	}
	detail, _ := json.Marshal(body)
	c.Audit = &store.AuditEntry{Time: time.Now().UnixNano(), Actor: c.Actor, Action: "incident.update", Tenant: cur.Tenant, Target: c.ID, Detail: detail}
	d, err := s.o.Store.UpdateIncident(r.Context(), who.scope, c)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toIncidentDetail(d))
}

// vehicleJSON is the twin as the API shows it.
type vehicleJSON struct {
	Tenant    string        `json:"tenant"`
	ID        string        `json:"id"`
	LastFix   *fixJSON      `json:"last_fix,omitempty"`
	Lock      string        `json:"lock"`
	Ignition  string        `json:"ignition"`
	Firmware  string        `json:"firmware,omitempty"`
	IMEI      string        `json:"imei,omitempty"`
	ICCID     string        `json:"iccid,omitempty"`
	ECUs      []ecuJSON     `json:"ecus,omitempty"`
	Commands  []commandJSON `json:"recent_commands,omitempty"`
	Accounts  []string      `json:"accounts_seen,omitempty"`
	LastEvent string        `json:"last_event,omitempty"`
	LastAlert string        `json:"last_alert,omitempty"`
}

type fixJSON struct {
	Time     string    `json:"time"`
	Lat      float64   `json:"lat"`
	Lon      float64   `json:"lon"`
	Speed    float32   `json:"speed"`
	Event    event.Ref `json:"event"`
	Odometer *float64  `json:"odometer,omitempty"`
}

type ecuJSON struct {
	ECU     string `json:"ecu"`
	Version string `json:"version"`
}

type commandJSON struct {
	Command string   `json:"command"`
	First   string   `json:"first"`
	Last    string   `json:"last"`
	Stages  []string `json:"stages"`
}

func toVehicleJSON(tenant, id string, v *twin.Vehicle) vehicleJSON {
	out := vehicleJSON{Tenant: tenant, ID: id, Lock: [...]string{"unknown", "locked", "unlocked"}[v.Lock],
		Ignition: [...]string{"unknown", "off", "on"}[v.Ignition], Firmware: v.Firmware, IMEI: v.IMEI, ICCID: v.ICCID}
	if v.FixTime != 0 {
		f := &fixJSON{Time: ts(v.FixTime), Lat: v.Lat, Lon: v.Lon, Speed: v.Speed, Event: v.FixRef}
		if v.HasOdometer() {
			o := v.Odometer
			f.Odometer = &o
		}
		out.LastFix = f
	}
	if v.LastEvent != 0 {
		out.LastEvent = ts(v.LastEvent)
	}
	if v.LastAlert != 0 {
		out.LastAlert = ts(v.LastAlert)
	}
	if a := v.Act; a != nil {
		for _, e := range a.ECUs {
			out.ECUs = append(out.ECUs, ecuJSON{e.ECU, e.Version})
		}
		for _, c := range a.Commands {
			cj := commandJSON{Command: c.Kind.String(), First: ts(c.At), Last: ts(c.Last)}
			for st := event.StageRequested; st <= event.StageRejected; st++ {
				if c.Has(st) {
					cj.Stages = append(cj.Stages, st.String())
				}
			}
			out.Commands = append(out.Commands, cj)
		}
		out.Accounts = append(out.Accounts, a.Principals...)
	}
	return out
}

// vehicle returns a vehicle's twin, read on the shard that owns it.
func (s *Server) vehicle(w http.ResponseWriter, r *http.Request) error {
	p := &params{q: r.URL.Query()}
	tenant := p.q.Get("tenant")
	if tenant == "" {
		tenant = event.DefaultTenant
	}
	if err := callerOf(r).scope.Check(tenant); err != nil {
		return problem.New(problem.NotFound, "no vehicle %q in tenant %q", r.PathValue("id"), tenant)
	}
	id := r.PathValue("id")
	var found *vehicleJSON
	err := s.o.Processor.Query(r.Context(), func(v engine.ShardView) {
		if t := v.Vehicle(tenant, id); t != nil {
			j := toVehicleJSON(tenant, id, t) // copied on the shard's goroutine
			found = &j
		}
	})
	if err != nil {
		return err
	}
	if found == nil {
		return problem.New(problem.NotFound, "no vehicle %q in tenant %q", id, tenant)
	}
	return writeJSON(w, http.StatusOK, found)
}

func (s *Server) detectors(w http.ResponseWriter, r *http.Request) error {
	out := detectorList{Detectors: []detectorJSON{}, AlertsByCategory: s.o.Engine.Stats().Alerts, Rules: []ruleJSON{}}
	if s.o.Rules != nil {
		ms := s.o.Rules()
		sort.SliceStable(ms, func(i, j int) bool { return ms[i].TotalNs > ms[j].TotalNs })
		for _, m := range ms {
			out.Rules = append(out.Rules, ruleJSON{ID: m.ID, Kind: m.Kind, Evaluations: m.Evaluations, Matches: m.Matches, Alerts: m.Alerts,
				Shadow: m.Shadow, Errors: m.Errors, Evictions: m.Evictions, MeanNs: m.MeanNs, TotalNs: m.TotalNs})
		}
	}
	var mu sync.Mutex
	var per [][]engine.DetectorStats
	if err := s.o.Processor.Query(r.Context(), func(v engine.ShardView) {
		st := v.DetectorStats()
		mu.Lock()
		per = append(per, st)
		mu.Unlock()
	}); err != nil {
		return err
	}
	stats := engine.SumDetectorStats(per)
	for n, i := range s.o.Engine.Detectors() {
		d := s.detectorOf(r, i)
		if n < len(stats) {
			st := stats[n]
			d.Events, d.Alerts, d.Shadow, d.OffAlerts, d.MeanNs = st.Calls, st.Alerts, st.Shadow, st.Off, st.MeanNs()
			if st.LastAlert != 0 {
				d.LastAlert = ts(st.LastAlert)
			}
		}
		out.Detectors = append(out.Detectors, d)
	}
	for _, i := range s.o.Off {
		out.Detectors = append(out.Detectors, s.detectorOf(r, i))
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) stats(w http.ResponseWriter, _ *http.Request) error {
	st := s.o.Engine.Stats()
	return writeJSON(w, http.StatusOK, statsJSON{EventsReceived: st.Received, EventsDuplicate: st.Duplicates, EventsLate: st.Late,
		AlertsByCategory: st.Alerts, ProcessingLag: s.o.Processor.Lag()})
}

// detectorOf describes a detector with its modes: the default, and the
// overrides of the tenants the caller may see.
func (s *Server) detectorOf(r *http.Request, i detect.Info) detectorJSON {
	d := detectorJSON{ID: i.ID, Category: i.Category.String(), Title: i.Title, Description: i.Description,
		Mode: s.o.Modes.Default(i.ID).String()}
	sc := callerOf(r).scope
	for _, o := range s.o.Modes.Overrides(i.ID) {
		if sc.Allows(o.Tenant) {
			d.TenantModes = append(d.TenantModes, tenantModeJSON{Tenant: o.Tenant, Mode: o.Mode.String()})
		}
	}
	return d
}
