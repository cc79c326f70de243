package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// schemaChecker validates JSON values against the components of the
// served OpenAPI document: types, required members, and no member the
// document does not list.
type schemaChecker struct{ schemas map[string]any }

func (c schemaChecker) check(schema map[string]any, v any, at string) error {
	if ref, ok := schema["$ref"].(string); ok {
		name := strings.TrimPrefix(ref, "#/components/schemas/")
		s, ok := c.schemas[name].(map[string]any)
		if !ok {
			return fmt.Errorf("%s: $ref %s is not in the document", at, ref)
		}
		return c.check(s, v, at)
	}
	if v == nil {
		if schema["nullable"] == true {
			return nil
		}
		if _, typed := schema["type"]; typed {
			return fmt.Errorf("%s: null where the document says %v", at, schema["type"])
		}
		return nil
	}
	switch schema["type"] {
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: %T where the document says object", at, v)
		}
		props, _ := schema["properties"].(map[string]any)
		if add, ok := schema["additionalProperties"].(map[string]any); ok {
			for k, x := range obj {
				if err := c.check(add, x, at+"."+k); err != nil {
					return err
				}
			}
			return nil
		}
		for k, x := range obj {
			p, ok := props[k].(map[string]any)
			if !ok {
				if props == nil {
					continue // a free-form object (an event as received)
				}
				return fmt.Errorf("%s: member %q is not in the document", at, k)
			}
			if err := c.check(p, x, at+"."+k); err != nil {
				return err
			}
		}
		req, _ := schema["required"].([]any)
		for _, r := range req {
			if _, ok := obj[r.(string)]; !ok {
				return fmt.Errorf("%s: required member %q missing", at, r)
			}
		}
	case "array":
		arr, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s: %T where the document says array", at, v)
		}
		items, _ := schema["items"].(map[string]any)
		for i, x := range arr {
			if err := c.check(items, x, fmt.Sprintf("%s[%d]", at, i)); err != nil {
				return err
			}
		}
	case "string":
		if _, ok := v.(string); !ok {
			return fmt.Errorf("%s: %T where the document says string", at, v)
		}
	case "integer", "number":
		if _, ok := v.(float64); !ok {
			return fmt.Errorf("%s: %T where the document says a number", at, v)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("%s: %T where the document says boolean", at, v)
		}
	}
	return nil
}

// TestOpenAPIMatchesHandlers fetches the document from a running server,
// checks it lists every route the server answers (and only those), then
// calls each documented GET with real data and validates the answers, and
// an error answer, against the document.
func TestOpenAPIMatchesHandlers(t *testing.T) {
	stream, _ := simStream(t, 22)
	ts := startServer(t, t.TempDir())
	admin := ts.key(t, "admin", "*")
	ts.post(t, admin, stream, 1000)
	ts.waitCaughtUp(t)

	resp, err := http.Get(ts.base + "/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	if doc["openapi"] != "3.0.3" {
		t.Fatalf("openapi version %v", doc["openapi"])
	}
	c := schemaChecker{schemas: doc["components"].(map[string]any)["schemas"].(map[string]any)}
	paths := doc["paths"].(map[string]any)
	var documented []string
	for p, item := range paths {
		for m := range item.(map[string]any) {
			documented = append(documented, strings.ToUpper(m)+" "+p)
		}
	}
	sort.Strings(documented)
	var served []string
	for _, r := range ts.srv.api.Routes() {
		served = append(served, r)
	}
	sort.Strings(served)
	if !slices.Equal(documented, served) {
		t.Fatalf("documented routes differ from served ones:\n%v\n%v", documented, served)
	}

	// Real ids to fill the paths with.
	alerts := ts.allAlerts(t, admin, "")
	a := alerts[0]
	vehicle, account := "", ""
	for _, x := range alerts {
		if v, ok := x["entities"].(map[string]any)["vehicle"].(string); ok && vehicle == "" {
			vehicle = v + "?tenant=" + x["tenant"].(string)
		}
		if v, ok := x["entities"].(map[string]any)["account"].(string); ok && account == "" && x["category"] == "credential-attack" {
			account = v + "?tenant=" + x["tenant"].(string)
		}
	}
	if vehicle == "" || account == "" {
		t.Fatalf("no alert naming a vehicle (%q) or an attacked account (%q)", vehicle, account)
	}
	fill := strings.NewReplacer("{id}", a["id"].(string))
	for _, route := range documented {
		method, path, _ := strings.Cut(route, " ")
		if method != "GET" || path == "/metrics" || path == "/v1/openapi.json" {
			continue
		}
		url := fill.Replace(path)
		switch {
		case strings.HasPrefix(path, "/v1/incidents/"):
			url = "/v1/incidents/" + a["incident"].(string)
		case strings.HasPrefix(path, "/v1/vehicles/"):
			url = "/v1/vehicles/" + vehicle
		case strings.HasPrefix(path, "/v1/principals/"):
			url = "/v1/principals/account/" + account
		case path == "/v1/events":
			url = "/v1/events?limit=50"
		}
		op := paths[path].(map[string]any)["get"].(map[string]any)
		content, _ := op["responses"].(map[string]any)["200"].(map[string]any)["content"].(map[string]any)
		code, ctype, body := answerOf(t, ts.base+url, admin)
		if code != 200 {
			t.Errorf("GET %s: %d %s", url, code, body)
			continue
		}
		if mt, _, _ := strings.Cut(ctype, ";"); mt != "application/json" {
			// Not JSON (the live alert stream, text/event-stream): no
			// schema to check, but the document must not promise JSON and
			// its summary must name what comes.
			if content["application/json"] != nil || !strings.Contains(op["summary"].(string), mt) {
				t.Errorf("GET %s answers %s, and the document does not say so: %v", path, ctype, op)
			}
			continue
		}
		schema := content["application/json"].(map[string]any)["schema"].(map[string]any)
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		if err := c.check(schema, v, "GET "+path); err != nil {
			t.Errorf("answer does not match the document: %v", err)
		}
	}
	// Errors match the documented problem body.
	code, body := rawCall(t, ts.base+"/v1/alerts?severity=apocalyptic", admin)
	var v any
	json.Unmarshal(body, &v)
	errSchema := map[string]any{"$ref": "#/components/schemas/problemBody"}
	if code != 400 {
		t.Errorf("bad severity: %d", code)
	}
	if err := c.check(errSchema, v, "error"); err != nil {
		t.Errorf("error body does not match the document: %v (%s)", err, body)
	}
}

// answerOf makes a GET and returns the status, the content type and, for a
// JSON answer or an error, the body; any other answer (a stream that would
// not end) is closed after its headers.
func answerOf(t *testing.T, url, key string) (int, string, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	ctype := resp.Header.Get("Content-Type")
	if resp.StatusCode == 200 && !strings.HasPrefix(ctype, "application/json") {
		return resp.StatusCode, ctype, nil
	}
	var b bytes.Buffer
	io.Copy(&b, resp.Body)
	return resp.StatusCode, ctype, b.Bytes()
}

func rawCall(t *testing.T, url, key string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	io.Copy(&b, resp.Body)
	return resp.StatusCode, b.Bytes()
}
