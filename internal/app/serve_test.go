package app

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vigil-project/vigil/internal/osprio"
)

// testServer runs serve on a free loopback port over dir until the test
// (or stop) ends.
type testServer struct {
	base string
	srv  *server
	stop func() error
}

func startServer(t *testing.T, dir string) *testServer {
	t.Helper()
	return startServerWith(t, serveOptions{DataDir: dir})
}

// startServerWith starts a server with o on a free loopback port; it stops
// when the test ends.
func startServerWith(t *testing.T, o serveOptions) *testServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *testServer, 1)
	done := make(chan error, 1)
	o.Listen, o.KeyOut = "127.0.0.1:0", io.Discard
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.Ready = func(base string, srv *server) { ready <- &testServer{base: base, srv: srv} }
	go func() { done <- serve(ctx, o) }()
	var ts *testServer
	select {
	case ts = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("serve: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("serve did not start")
	}
	stopped := false
	ts.stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		return <-done
	}
	t.Cleanup(func() { ts.stop() })
	return ts
}

// metricsText reads GET /metrics.
func (ts *testServer) metricsText(t *testing.T) string {
	t.Helper()
	resp, err := http.Get(ts.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v", resp.StatusCode, err)
	}
	return string(b)
}

func (ts *testServer) key(t *testing.T, role string, tenants ...string) string {
	t.Helper()
	k, _, err := ts.srv.auth.Create(context.Background(), role, tenants, "test "+role)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// call makes a request and decodes a JSON answer into out (when not nil).
func (ts *testServer) call(t *testing.T, method, path, key string, body []byte, header map[string]string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, ts.base+path, bytes.NewReader(body))
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields() // the answer must match the documented type exactly
		if err := dec.Decode(out); err != nil {
			t.Fatalf("%s %s: answer does not match %T: %v\n%s", method, path, out, err, data)
		}
	}
	return resp.StatusCode
}

// post sends the stream in gzip NDJSON batches and returns the totals.
func (ts *testServer) post(t *testing.T, key string, stream []byte, batch int) (accepted, duplicates int) {
	t.Helper()
	lines := bytes.SplitAfter(bytes.TrimSpace(stream), []byte("\n"))
	for i := 0; i < len(lines); i += batch {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		for _, l := range lines[i:min(i+batch, len(lines))] {
			zw.Write(l)
		}
		zw.Close()
		var res ingestAnswer
		code := ts.call(t, "POST", "/v1/events", key, b.Bytes(), map[string]string{"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"}, &res)
		if code != 200 || res.Rejected != 0 {
			t.Fatalf("ingest answered %d: %+v", code, res)
		}
		accepted += res.Accepted
		duplicates += res.Duplicates
	}
	return accepted, duplicates
}

type ingestAnswer struct {
	Accepted   int               `json:"accepted"`
	Duplicates int               `json:"duplicates"`
	Rejected   int               `json:"rejected"`
	Errors     []json.RawMessage `json:"errors"`
	Truncated  bool              `json:"errors_truncated"`
}

// waitCaughtUp waits until detection has processed everything stored.
func (ts *testServer) waitCaughtUp(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if ts.srv.proc.Ready() && ts.srv.proc.Lag() == 0 {
			// One more round trip through the shards, then let the alert
			// writer store what they produced.
			time.Sleep(300 * time.Millisecond)
			if ts.srv.proc.Lag() == 0 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("detection did not catch up: %s", ts.srv.proc)
}

type alertList struct {
	Alerts []map[string]any `json:"alerts"`
	Next   string           `json:"next"`
}

func (ts *testServer) allAlerts(t *testing.T, key, query string) []map[string]any {
	t.Helper()
	var all []map[string]any
	cursor := ""
	for {
		var page alertList
		path := "/v1/alerts?limit=500&" + query
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		if code := ts.call(t, "GET", path, key, nil, nil, &page); code != 200 {
			t.Fatalf("GET %s: %d", path, code)
		}
		all = append(all, page.Alerts...)
		if page.Next == "" {
			return all
		}
		cursor = page.Next
	}
}

// TestServe runs the service end to end on the embedded store: ingest over
// HTTP, detection, the API with its roles and tenant scopes, triage, and a
// restart that neither loses nor duplicates anything.
func TestServe(t *testing.T) {
	dir := t.TempDir()
	stream, _ := simStream(t, 21)
	ts := startServer(t, dir)
	admin := ts.key(t, "admin", "*")
	ingest := ts.key(t, "ingest", "fleet-a", "fleet-b", "default")
	viewerB := ts.key(t, "viewer", "fleet-b")

	acc, dup := ts.post(t, ingest, stream, 1000)
	if acc == 0 || dup != 0 {
		t.Fatalf("accepted %d, duplicates %d", acc, dup)
	}
	// Resending a batch changes nothing: (tenant, source, id) is the key.
	firstLines := bytes.Join(bytes.SplitAfter(stream, []byte("\n"))[:500], nil)
	if acc2, dup2 := ts.post(t, ingest, firstLines, 500); acc2 != 0 || dup2 != 500 {
		t.Fatalf("resent: accepted %d, duplicates %d", acc2, dup2)
	}
	ts.waitCaughtUp(t)
	if n := ts.srv.proc.Stats().UndecodableArchived; n != 0 {
		t.Fatalf("%d archived events do not decode: the archive must hold each event's own bytes", n)
	}
	if code := ts.call(t, "GET", "/v1/ready", "", nil, nil, nil); code != 200 {
		t.Fatalf("ready: %d", code)
	}

	all := ts.allAlerts(t, admin, "")
	if len(all) < 5 {
		t.Fatalf("only %d alerts", len(all))
	}
	onlyB := ts.allAlerts(t, viewerB, "")
	for _, a := range onlyB {
		if a["tenant"] != "fleet-b" {
			t.Fatalf("a fleet-b viewer sees an alert of %v", a["tenant"])
		}
	}
	if len(onlyB) == 0 || len(onlyB) == len(all) {
		t.Fatalf("fleet-b viewer sees %d of %d alerts", len(onlyB), len(all))
	}
	// Naming another tenant, or another tenant's alert id, reveals nothing.
	if code := ts.call(t, "GET", "/v1/alerts?tenant=fleet-a", viewerB, nil, nil, nil); code != 400 {
		t.Errorf("viewer of fleet-b asking for fleet-a: %d, want 400", code)
	}
	// An alert of fleet-a whose evidence is archived events (a tenant-wide
	// anomaly's evidence is the engine's minute statistics instead).
	var aOfA string
	for _, a := range all {
		if a["tenant"] == "fleet-a" && a["category"] != "service-anomaly" {
			aOfA = a["id"].(string)
			break
		}
	}
	if code := ts.call(t, "GET", "/v1/alerts/"+aOfA, viewerB, nil, nil, nil); code != 404 {
		t.Errorf("viewer of fleet-b reading a fleet-a alert: %d, want 404", code)
	}

	// Roles.
	for _, c := range []struct {
		method, path, key string
		body              string
		want              int
	}{
		{"GET", "/v1/alerts", "", "", 401},
		{"GET", "/v1/alerts", "vgl_0123456789abcdef_nope", "", 401},
		{"GET", "/v1/alerts", ingest, "", 403},
		{"PATCH", "/v1/alerts/" + aOfA, viewerB, `{"status":"acknowledged"}`, 403},
		{"POST", "/v1/events", viewerB, "{}", 403},
		{"GET", "/v1/nowhere", admin, "", 404},
		{"GET", "/v1/health", "", "", 200},
		{"GET", "/metrics", "", "", 200},
	} {
		if code := ts.call(t, c.method, c.path, c.key, []byte(c.body), map[string]string{"Content-Type": "application/json"}, nil); code != c.want {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, code, c.want)
		}
	}

	// Triage an alert and its incident; the change is kept.
	var got map[string]any
	if code := ts.call(t, "PATCH", "/v1/alerts/"+aOfA, admin, []byte(`{"status":"acknowledged","assignee":"ana"}`), nil, &got); code != 200 || got["status"] != "acknowledged" {
		t.Fatalf("PATCH alert: %d %v", code, got)
	}
	inc := got["incident"].(string)
	var detail map[string]any
	code := ts.call(t, "PATCH", "/v1/incidents/"+inc, admin, []byte(`{"status":"resolved","comment":"contained: owner confirmed"}`), nil, &detail)
	if code != 200 || detail["status"] != "resolved" || len(detail["history"].([]any)) < 2 {
		t.Fatalf("PATCH incident: %d %v", code, detail)
	}
	var ev map[string]any
	if code := ts.call(t, "GET", "/v1/alerts/"+aOfA+"/evidence", admin, nil, nil, &ev); code != 200 || len(ev["evidence"].([]any)) == 0 {
		t.Fatalf("evidence: %d %v", code, ev)
	}
	firstEv := ev["evidence"].([]any)[0].(map[string]any)
	if firstEv["event"] == nil {
		t.Errorf("the first evidence event is not in the archive: %v", firstEv)
	}

	// The twin of a vehicle named by an alert.
	for _, a := range all {
		ents := a["entities"].(map[string]any)
		if v, ok := ents["vehicle"].(string); ok {
			var twin map[string]any
			if code := ts.call(t, "GET", fmt.Sprintf("/v1/vehicles/%s?tenant=%s", v, a["tenant"]), admin, nil, nil, &twin); code != 200 || twin["id"] != v {
				t.Errorf("vehicle %s: %d %v", v, code, twin)
			}
			break
		}
	}

	// Restart: the archive is read again; alerts are derived again with
	// the same ids, so nothing is duplicated and the triage stays.
	if err := ts.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	ts2 := startServer(t, dir)
	ts2.waitCaughtUp(t)
	after := ts2.allAlerts(t, admin, "")
	if len(after) != len(all) {
		t.Errorf("after restart %d alerts, before %d", len(after), len(all))
	}
	var again map[string]any
	if code := ts2.call(t, "GET", "/v1/alerts/"+aOfA, admin, nil, nil, &again); code != 200 || again["status"] != "acknowledged" || again["assignee"] != "ana" {
		t.Errorf("triage lost in the restart: %d %v", code, again)
	}
	metrics := ts2.metricsText(t)
	for _, m := range []string{"vigil_processing_lag_events", "vigil_engine_events_total", "vigil_store_seconds_bucket", "vigil_alerts_total"} {
		if !strings.Contains(metrics, m) {
			t.Errorf("metrics lack %s", m)
		}
	}
}

// Raising GOMAXPROCS for the request threads (prioritiseRequests) leaves
// what is sized by cores alone: one shard per core, sixteen ingest requests
// in flight per core (their memory is bounded by bytes).
func TestServeSizesByCores(t *testing.T) {
	ts := startServer(t, t.TempDir())
	if osprio.Supported && os.Getenv("GOMAXPROCS") == "" && runtime.GOMAXPROCS(0) <= startProcs {
		t.Errorf("GOMAXPROCS %d: not raised above the %d cores", runtime.GOMAXPROCS(0), startProcs)
	}
	if n := ts.srv.proc.Engine().Shards(); n != startProcs {
		t.Errorf("%d shards, want %d", n, startProcs)
	}
	if n := ts.srv.ingest.MaxInFlight(); n != 16*startProcs {
		t.Errorf("%d ingest requests in flight, want %d", n, 16*startProcs)
	}
}
