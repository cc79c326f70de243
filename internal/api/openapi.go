package api

import (
	"net/http"
	"reflect"
	"sort"
	"strings"

	"github.com/vigil-project/vigil/internal/api/problem"
	"github.com/vigil-project/vigil/internal/ingest/httpingest"
)

// doc describes a route for the OpenAPI document. resp and body are values
// of the Go types the handler writes and reads: the document's schemas are
// derived from them, so they cannot drift from the code.
type doc struct {
	summary string
	query   []string
	resp    any
	body    any // a Go value, or "events" for the ingest body
}

// Response and request types of the API (also the document's schemas).
type (
	status    map[string]any
	alertPage struct {
		Alerts []alertJSON `json:"alerts"`
		Next   string      `json:"next,omitempty"`
	}
	eventPage struct {
		Events []eventJSON `json:"events"`
		Next   string      `json:"next,omitempty"`
	}
	incidentPage struct {
		Incidents []incidentJSON `json:"incidents"`
		Next      string         `json:"next,omitempty"`
	}
	evidenceItem struct {
		Ref   refJSON    `json:"ref"`
		Event *eventJSON `json:"event"`
	}
	refJSON struct {
		Source string `json:"source"`
		ID     string `json:"id"`
	}
	evidenceList struct {
		Evidence []evidenceItem `json:"evidence"`
	}
	alertPatch struct {
		Status   *string `json:"status"`
		Assignee *string `json:"assignee"`
	}
	incidentPatch struct {
		Status   *string `json:"status"`
		Assignee *string `json:"assignee"`
		Comment  string  `json:"comment"`
	}
	detectorJSON struct {
		ID          string           `json:"id"`
		Category    string           `json:"category"`
		Title       string           `json:"title"`
		Description string           `json:"description"`
		Mode        string           `json:"mode"`                   // enabled, shadow or off: for tenants without an override
		TenantModes []tenantModeJSON `json:"tenant_modes,omitempty"` // overrides, for the caller's tenants
		Events      int64            `json:"events"`                 // events handed to it since the server started
		Alerts      int64            `json:"alerts"`                 // alerts it raised (before deduplication)
		Shadow      int64            `json:"shadow_alerts"`          // alerts stored as shadow, not raised
		OffAlerts   int64            `json:"off_alerts"`             // alerts discarded: off for their tenant
		LastAlert   string           `json:"last_alert,omitempty"`   // event time of its last alert
		MeanNs      float64          `json:"mean_ns_per_event"`      // sampled cost of one event
	}
	tenantModeJSON struct {
		Tenant string `json:"tenant"`
		Mode   string `json:"mode"`
	}
	detectorList struct {
		Detectors        []detectorJSON   `json:"detectors"`
		AlertsByCategory map[string]int64 `json:"alerts_by_category"`
		Rules            []ruleJSON       `json:"rules"` // user rules and the pack, slowest first
	}
	ruleJSON struct {
		ID          string  `json:"id"`
		Kind        string  `json:"kind"`
		Evaluations int64   `json:"evaluations"`
		Matches     int64   `json:"matches"`
		Alerts      int64   `json:"alerts"`
		Shadow      int64   `json:"shadow_alerts"`
		Errors      int64   `json:"errors"`
		Evictions   int64   `json:"evictions"`
		MeanNs      float64 `json:"mean_ns_per_evaluation"`
		TotalNs     float64 `json:"total_ns"`
	}
	statsJSON struct {
		EventsReceived   int64            `json:"events_received"`
		EventsDuplicate  int64            `json:"events_duplicate"`
		EventsLate       int64            `json:"events_late"`
		AlertsByCategory map[string]int64 `json:"alerts_by_category"`
		ProcessingLag    int64            `json:"processing_lag"`
	}
	ingestResult = httpingest.Result
	problemBody  struct {
		Error problem.Error `json:"error"`
	}
)

// openapi serves the OpenAPI 3 document built from the route table.
func (s *Server) openapi(w http.ResponseWriter, _ *http.Request) error {
	return writeJSON(w, http.StatusOK, s.Document())
}

// Document is the OpenAPI 3.0 document of the API.
func (s *Server) Document() map[string]any {
	schemas := map[string]any{}
	paths := map[string]any{}
	for _, r := range s.routes() {
		op := map[string]any{"summary": r.doc.summary, "operationId": opID(r.method, r.path)}
		var params []any
		for _, seg := range strings.Split(r.path, "/") {
			if strings.HasPrefix(seg, "{") {
				params = append(params, map[string]any{"name": strings.Trim(seg, "{}"), "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
			}
		}
		for _, q := range r.doc.query {
			params = append(params, map[string]any{"name": q, "in": "query", "required": false, "schema": map[string]any{"type": "string"}})
		}
		if len(params) > 0 {
			op["parameters"] = params
		}
		responses := map[string]any{"default": map[string]any{"description": "an error from the catalogue",
			"content": map[string]any{"application/json": map[string]any{"schema": ref(schemas, problemBody{})}}}}
		ok := map[string]any{"description": "success"}
		if r.doc.resp != nil {
			ok["content"] = map[string]any{"application/json": map[string]any{"schema": ref(schemas, r.doc.resp)}}
		}
		responses["200"] = ok
		op["responses"] = responses
		switch b := r.doc.body.(type) {
		case nil:
		case string:
			op["requestBody"] = map[string]any{"required": true, "description": "CloudEvents 1.0 (shared/spec/events.md)", "content": map[string]any{
				"application/cloudevents+json": map[string]any{}, "application/cloudevents-batch+json": map[string]any{}, "application/x-ndjson": map[string]any{}}}
		default:
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": ref(schemas, b)}}}
		}
		if r.role != roleNone {
			op["security"] = []any{map[string]any{"apiKey": []any{}}, map[string]any{"session": []any{}}}
			op["description"] = "Needs a key or a user's session with the " + r.role.String() + " role; with a session, a change also needs the X-CSRF-Token header."
		}
		item, _ := paths[r.path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[r.path] = item
		}
		item[strings.ToLower(r.method)] = op
	}
	codes := []string{}
	for c := range problem.Codes() {
		codes = append(codes, string(c))
	}
	sort.Strings(codes)
	return map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{"title": "vigil API", "version": "1",
			"description": "Errors carry a stable code from this catalogue: " + strings.Join(codes, ", ") + "."},
		"paths": paths,
		"components": map[string]any{"schemas": schemas,
			"securitySchemes": map[string]any{"apiKey": map[string]any{"type": "http", "scheme": "bearer", "description": "vgl_… API key"},
				"session": map[string]any{"type": "apiKey", "in": "cookie", "name": sessionCookie, "description": "a user's session, from POST /v1/session"}}},
	}
}

func opID(method, path string) string {
	id := strings.ToLower(method)
	for _, seg := range strings.Split(path, "/") {
		seg = strings.Trim(seg, "{}.")
		if seg != "" && seg != "v1" {
			id += "_" + strings.ReplaceAll(seg, ".", "_")
		}
	}
	return id
}

// ref registers the schema of v's type and returns a $ref to it.
func ref(schemas map[string]any, v any) map[string]any {
	t := reflect.TypeOf(v)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	name := t.Name()
	if _, ok := schemas[name]; !ok {
		schemas[name] = nil // recursion guard
		if t.Kind() == reflect.Struct {
			schemas[name] = structSchema(schemas, t)
		} else {
			schemas[name] = schemaOf(schemas, t)
		}
	}
	return map[string]any{"$ref": "#/components/schemas/" + name}
}

func schemaOf(schemas map[string]any, t reflect.Type) map[string]any {
	switch t.Kind() {
	case reflect.Pointer:
		s := schemaOf(schemas, t.Elem())
		s["nullable"] = true
		return s
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int64, reflect.Int32:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 { // json.RawMessage: the event as received
			return map[string]any{"type": "object", "description": "the CloudEvent as received"}
		}
		return map[string]any{"type": "array", "items": schemaOf(schemas, t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": schemaOf(schemas, t.Elem())}
	case reflect.Struct:
		if t.Name() != "" && t.PkgPath() != "" {
			if _, done := schemas[t.Name()]; !done {
				schemas[t.Name()] = nil
				schemas[t.Name()] = structSchema(schemas, t)
			}
			return map[string]any{"$ref": "#/components/schemas/" + t.Name()}
		}
		return structSchema(schemas, t)
	}
	return map[string]any{}
}

func structSchema(schemas map[string]any, t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		props[name] = schemaOf(schemas, f.Type)
		if !strings.Contains(opts, "omitempty") && f.Type.Kind() != reflect.Pointer {
			required = append(required, name)
		}
	}
	s := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		sort.Strings(required)
		s["required"] = required
	}
	return s
}
