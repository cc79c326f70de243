package app

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-project/vigil/internal/gate"
)

// gateServer runs serve with a configuration file written from yaml (and
// a directory CSV when dirCSV is not empty) and returns it with its data
// directory.
func gateServer(t *testing.T, yaml, dirCSV string) (*testServer, string) {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "vigil.yaml")
	if dirCSV != "" {
		if err := os.WriteFile(filepath.Join(dir, "directory.csv"), []byte(dirCSV), 0o600); err != nil {
			t.Fatal(err)
		}
		yaml = "directory: directory.csv\n" + yaml
	}
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *testServer, 1)
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, serveOptions{Listen: "127.0.0.1:0", DataDir: filepath.Join(dir, "data"), ConfigPath: cfg,
			Logger: slog.New(slog.DiscardHandler), KeyOut: io.Discard,
			Ready: func(base string, srv *server) { ready <- &testServer{base: base, srv: srv} }})
	}()
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
	var stopped atomic.Bool
	ts.stop = func() error {
		if stopped.Swap(true) {
			return nil
		}
		cancel()
		return <-done
	}
	t.Cleanup(func() { ts.stop() })
	return ts, filepath.Join(dir, "data")
}

type gateDecision struct {
	Decision string `json:"decision"`
	Reasons  []struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"reasons"`
	DecisionID   string `json:"decision_id"`
	DecidedAt    string `json:"decided_at"`
	RetryAfterMS int64  `json:"retry_after_ms"`
}

func (d gateDecision) codes() []string {
	var out []string
	for _, r := range d.Reasons {
		out = append(out, r.Code)
	}
	return out
}

// gateAsk asks the gate whether account may send command to vehicle.
func gateAsk(t *testing.T, ts *testServer, key, tenant, vehicle, command, account, device string) gateDecision {
	t.Helper()
	body := fmt.Sprintf(`{"tenant":%q,"vehicle":%q,"command":%q,"channel":"app","actor":{"account":%q,"device":%q,"ip":"203.0.113.7","role":"owner"}}`,
		tenant, vehicle, command, account, device)
	var d gateDecision
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		code := ts.call(t, "POST", "/v1/gate", key, []byte(body), map[string]string{"Content-Type": "application/json"}, &d)
		if code == 200 {
			break
		}
		if code != 503 || time.Since(start) > 20*time.Second { // 503: the gate's first load of the incidents
			t.Fatalf("POST /v1/gate %s: %d", body, code)
		}
	}
	if d.DecisionID == "" || d.DecidedAt == "" {
		t.Fatalf("decision without id or time: %+v", d)
	}
	return d
}

// gateWait asks until the decision is want (state reaches the gate a
// moment after detection processed the events), or fails.
func gateWait(t *testing.T, ts *testServer, key, tenant, vehicle, command, account, device, want, code string) gateDecision {
	t.Helper()
	var d gateDecision
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		d = gateAsk(t, ts, key, tenant, vehicle, command, account, device)
		if d.Decision == want && (code == "" || slices.Contains(d.codes(), code)) {
			return d
		}
	}
	t.Fatalf("%s of %s by %s: got %s %v, want %s with %q", command, vehicle, account, d.Decision, d.Reasons, want, code)
	return d
}

// liveEvents renders events stamped relative to now, as NDJSON.
type liveEvents struct {
	b   strings.Builder
	n   int
	now time.Time
}

func (l *liveEvents) add(typ, subject, data string, ago time.Duration) {
	l.n++
	subj := ""
	if subject != "" {
		subj = fmt.Sprintf(`"subject":%q,`, subject)
	}
	fmt.Fprintf(&l.b, `{"specversion":"1.0","id":"gt-%d-%d","source":"tsp/gate-test","type":%q,"time":%q,%s"tenant":"fleet-a","data":%s}`+"\n",
		l.now.UnixNano(), l.n, typ, l.now.Add(-ago).UTC().Format(time.RFC3339Nano), subj, data)
}

func (l *liveEvents) link(account, vehicle string, ago time.Duration) {
	l.add("account.change", vehicle, fmt.Sprintf(`{"actor":{"account":%q},"account":%q,"change":"vehicle_linked","vehicle":%q}`, account, account, vehicle), ago)
}

func (l *liveEvents) fix(vehicle string, speed float64, ignition string, ago time.Duration) {
	l.add("vehicle.telemetry", vehicle, fmt.Sprintf(`{"position":{"lat":48.137,"lon":11.576},"speed":%g,"signals":{"Vehicle.LowVoltageSystemState":%q}}`,
		speed, ignition), ago)
}

// TestGate runs the command gate end to end: events in over HTTP,
// detection, and decisions from the state it keeps.
func TestGate(t *testing.T) {
	const (
		v1, v2, v3, v4 = "WVWZZZ1JZXW0G0001", "WVWZZZ1JZXW0G0002", "WVWZZZ1JZXW0G0003", "WVWZZZ1JZXW0G0004"
		generous       = "gate:\n  rate_limits:\n    account: {per_minute: 6000, burst: 1000}\n    vehicle: {per_minute: 6000, burst: 1000}\n"
	)
	ts, dataDir := gateServer(t, generous, "tenant,kind,principal,vehicle,role\nfleet-a,account,fm-1,"+v4+",fleet_manager\nfleet-a,account,staff-1,,staff\n")
	admin := ts.key(t, "admin", "*")
	ingest := ts.key(t, "ingest", "fleet-a")
	gateKey := ts.key(t, "gate", "fleet-a")
	analyst := ts.key(t, "analyst", "fleet-a")

	ev := &liveEvents{now: time.Now()}
	ev.link("acc-1", v1, 10*time.Minute)
	ev.link("acc-3", v2, 2*time.Hour)
	ev.link("acc-4", v3, time.Hour)
	ev.fix(v1, 80, "ON", 5*time.Second) // v1 is driving
	// acc-3: an e-mail change the previous address did not confirm, then a new phone.
	ev.add("account.change", "", `{"actor":{"account":"acc-3","ip":"198.51.100.9"},"account":"acc-3","change":"email","confirmed_by_previous_contact":false}`, 4*time.Minute)
	ev.add("account.change", "", `{"actor":{"account":"acc-3","device":"dev-new"},"account":"acc-3","change":"device_registered"}`, 2*time.Minute)
	// v3 is driving and someone asks it to stop its engine: a critical alert, so an open critical incident.
	ev.fix(v3, 90, "ON", 3*time.Second)
	ev.add("vehicle.command", v3, `{"command_id":"cmd-g1","command":"engine_stop","stage":"requested","channel":"app","actor":{"account":"acc-4","device":"dev-4"}}`, time.Second)
	if acc, _ := ts.post(t, ingest, []byte(ev.b.String()), 1000); acc != ev.n {
		t.Fatalf("accepted %d of %d events", acc, ev.n)
	}
	ts.waitCaughtUp(t)

	t.Run("allow a linked owner", func(t *testing.T) {
		d := gateWait(t, ts, gateKey, "fleet-a", v1, "unlock", "acc-1", "dev-1", "allow", "")
		if len(d.Reasons) != 0 {
			t.Errorf("reasons for an allow: %v", d.Reasons)
		}
		gateWait(t, ts, gateKey, "fleet-a", v4, "lock", "fm-1", "", "allow", "")      // the directory's fleet manager
		gateWait(t, ts, gateKey, "fleet-a", v4, "locate", "staff-1", "", "allow", "") // staff may act on any vehicle
	})
	t.Run("deny stopping a moving vehicle", func(t *testing.T) {
		for _, cmd := range []string{"engine_stop", "immobilize"} {
			d := gateWait(t, ts, gateKey, "fleet-a", v1, cmd, "acc-1", "dev-1", "deny", "moving")
			if !strings.Contains(d.Reasons[0].Message, "80 km/h") {
				t.Errorf("the reason does not say the speed: %v", d.Reasons)
			}
		}
	})
	t.Run("deny an account not linked", func(t *testing.T) {
		d := gateWait(t, ts, gateKey, "fleet-a", v1, "unlock", "acc-2", "", "deny", "not_linked")
		if len(d.Reasons) != 1 {
			t.Errorf("reasons %v, want not_linked only", d.Reasons)
		}
		gateWait(t, ts, gateKey, "fleet-a", v1, "unlock", "fm-1", "", "deny", "not_linked") // a fleet manager, but not of v1
	})
	t.Run("step up after a contact change and a new device", func(t *testing.T) {
		d := gateWait(t, ts, gateKey, "fleet-a", v2, "unlock", "acc-3", "dev-new", "step_up", "recent_account_change")
		if m := d.Reasons[0].Message; !strings.Contains(m, "email") || !strings.Contains(m, "dev-new") {
			t.Errorf("the reason does not name the change and the device: %s", m)
		}
	})
	t.Run("deny during an open critical incident", func(t *testing.T) {
		d := gateWait(t, ts, gateKey, "fleet-a", v3, "unlock", "acc-4", "dev-4", "deny", "open_incident")
		// Resolved, the incident no longer stops commands.
		var page struct {
			Incidents []map[string]any `json:"incidents"`
			Next      string           `json:"next"`
		}
		if code := ts.call(t, "GET", "/v1/incidents?kind=vehicle&entity="+v3+"&severity=critical", admin, nil, nil, &page); code != 200 || len(page.Incidents) == 0 {
			t.Fatalf("incidents of %s: %d %+v (gate said %v)", v3, code, page, d.Reasons)
		}
		for _, inc := range page.Incidents {
			if code := ts.call(t, "PATCH", "/v1/incidents/"+inc["id"].(string), admin, []byte(`{"status":"resolved","comment":"owner reached"}`), nil, nil); code != 200 {
				t.Fatalf("resolving %v: %d", inc["id"], code)
			}
		}
		gateWait(t, ts, gateKey, "fleet-a", v3, "unlock", "acc-4", "dev-4", "allow", "")
	})

	t.Run("roles and tenants", func(t *testing.T) {
		ok := `{"tenant":"fleet-a","vehicle":"` + v1 + `","command":"lock","actor":{"account":"acc-1"}}`
		for _, c := range []struct {
			method, path, key, body string
			want                    int
		}{
			{"POST", "/v1/gate", gateKey, ok, 200},
			{"POST", "/v1/gate", admin, ok, 200},
			{"POST", "/v1/gate", analyst, ok, 403},
			{"POST", "/v1/gate", ingest, ok, 403},
			{"POST", "/v1/gate", "", ok, 401},
			{"GET", "/v1/alerts", gateKey, "", 403},
			{"GET", "/v1/vehicles/" + v1 + "?tenant=fleet-a", gateKey, "", 403},
			{"POST", "/v1/events", gateKey, ev.b.String(), 403},
			{"GET", "/v1/gate/decisions", gateKey, "", 403},
			{"GET", "/v1/gate/decisions", analyst, "", 200},
			{"POST", "/v1/gate", gateKey, strings.Replace(ok, "fleet-a", "fleet-b", 1), 403}, // another tenant
		} {
			if code := ts.call(t, c.method, c.path, c.key, []byte(c.body), map[string]string{"Content-Type": "application/json"}, nil); code != c.want {
				t.Errorf("%s %s: %d, want %d", c.method, c.path, code, c.want)
			}
		}
	})

	t.Run("bad input names the field", func(t *testing.T) {
		for _, c := range []struct{ body, field string }{
			{`{"tenant":"fleet-a","command":"unlock","actor":{"account":"a"}}`, "vehicle"},
			{`{"vehicle":"V","command":"","actor":{"account":"a"}}`, "command"},
			{`{"vehicle":"V","command":"Unlock!","actor":{"account":"a"}}`, "command"},
			{`{"vehicle":"V","command":"unlock","channel":"carrier-pigeon","actor":{"account":"a"}}`, "channel"},
			{`{"vehicle":"V","command":"unlock","actor":{}}`, "actor"},
			{`{"vehicle":"V","command":"unlock","actor":{"account":"a","ip":"999.1.1.1"}}`, "actor.ip"},
			{`{"vehicle":"V","command":"unlock","actor":{"account":"a","role":"king"}}`, "actor.role"},
			{`{"vehicle":"V","command":"unlock","actor":{"account":"a","shoe":"x"}}`, "actor.shoe"},
			{`{"vehicle":"V","command":"unlock","actor":{"account":"a"},"urgent":true}`, "urgent"},
			{`{"vehicle":"V","vehicle":"W","command":"unlock","actor":{"account":"a"}}`, "vehicle"},
			{`{"vehicle":42,"command":"unlock","actor":{"account":"a"}}`, "vehicle"},
			{`{"vehicle":"` + strings.Repeat("V", 300) + `","command":"unlock","actor":{"account":"a"}}`, "vehicle"},
		} {
			resp := gatePost(t, ts, gateKey, c.body)
			if resp.status != 400 || !strings.Contains(resp.body, `"field":"`+c.field+`"`) {
				t.Errorf("%s: %d %s, want 400 naming %s", c.body, resp.status, resp.body, c.field)
			}
		}
		if resp := gatePost(t, ts, gateKey, `{"vehicle":"V"`); resp.status != 400 {
			t.Errorf("truncated JSON: %d", resp.status)
		}
		if resp := gatePost(t, ts, gateKey, strings.Repeat(" ", 9<<10)+"{}"); resp.status != 413 {
			t.Errorf("a 9 KiB body: %d, want 413", resp.status)
		}
	})

	t.Run("decisions are visible", func(t *testing.T) {
		d := gateAsk(t, ts, gateKey, "fleet-a", v1, "unlock", "acc-2", "")
		var list struct {
			Decisions []map[string]any `json:"decisions"`
			Recent    int              `json:"recent"`
		}
		if code := ts.call(t, "GET", "/v1/gate/decisions?decision=deny&account=acc-2&limit=5", analyst, nil, nil, &list); code != 200 || len(list.Decisions) == 0 {
			t.Fatalf("decisions: %d %+v", code, list)
		}
		if got := list.Decisions[0]; got["decision_id"] != d.DecisionID || got["vehicle"] != v1 || got["decision"] != "deny" {
			t.Errorf("the newest decision is %v, want %s", got, d.DecisionID)
		}
		metrics := ts.metricsText(t)
		for _, m := range []string{`vigil_gate_decisions_total{decision="deny"}`, `vigil_gate_reasons_total{code="moving"}`, "vigil_gate_decide_seconds_bucket"} {
			if !strings.Contains(metrics, m) {
				t.Errorf("metrics lack %s", m)
			}
		}
	})

	// Every decision reaches the log file once the server stops.
	if err := ts.stop(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dataDir, "gate", "decisions.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lines := 0
	for sc := bufio.NewScanner(f); sc.Scan(); {
		if !strings.Contains(sc.Text(), `"decision_id":"gd_`) {
			t.Fatalf("not a decision record: %s", sc.Text())
		}
		lines++
	}
	if lines < 10 {
		t.Errorf("the decision log holds %d records", lines)
	}
}

type gateResponse struct {
	status int
	body   string
	header http.Header
}

func gatePost(t *testing.T, ts *testServer, key, body string) gateResponse {
	t.Helper()
	req, _ := http.NewRequest("POST", ts.base+"/v1/gate", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return gateResponse{resp.StatusCode, string(b), resp.Header}
}

// TestGateRateLimit: beyond an account's burst the gate denies with a
// rate_limited reason and says when to retry; the vehicle's bucket counts
// only commands that would go through.
func TestGateRateLimit(t *testing.T) {
	const v = "WVWZZZ1JZXW0G0009"
	ts, _ := gateServer(t, "gate:\n  rate_limits:\n    account: {per_minute: 1, burst: 3}\n    vehicle: {per_minute: 1, burst: 4}\n",
		"tenant,kind,principal,vehicle,role\nfleet-a,account,acc-r,"+v+",owner\nfleet-a,account,acc-s,"+v+",driver\n")
	gateKey := ts.key(t, "gate", "fleet-a")
	for i := range 3 {
		if d := gateAsk(t, ts, gateKey, "fleet-a", v, "lock", "acc-r", ""); d.Decision != "allow" {
			t.Fatalf("command %d of acc-r: %s %v", i+1, d.Decision, d.Reasons)
		}
	}
	d := gateAsk(t, ts, gateKey, "fleet-a", v, "lock", "acc-r", "")
	if d.Decision != "deny" || !slices.Equal(d.codes(), []string{"rate_limited_account"}) || d.RetryAfterMS <= 0 {
		t.Fatalf("the 4th command of acc-r: %+v, want deny rate_limited_account with retry_after_ms", d)
	}
	// An account that is not linked hammering the vehicle spends its own
	// tokens only, not the vehicle's.
	for range 3 {
		gateAsk(t, ts, gateKey, "fleet-a", v, "unlock", "mallory", "")
	}
	if d := gateAsk(t, ts, gateKey, "fleet-a", v, "unlock", "mallory", ""); !slices.Equal(d.codes(), []string{"not_linked", "rate_limited_account"}) || d.RetryAfterMS != 0 {
		t.Fatalf("mallory: %+v, want not_linked and rate_limited_account, no retry", d)
	}
	// v has had 3 commands through: one more, then the vehicle's bucket is empty.
	if d := gateAsk(t, ts, gateKey, "fleet-a", v, "lock", "acc-s", ""); d.Decision != "allow" {
		t.Fatalf("the 4th command to %s: %+v", v, d)
	}
	if d := gateAsk(t, ts, gateKey, "fleet-a", v, "lock", "acc-s", ""); d.Decision != "deny" || !slices.Equal(d.codes(), []string{"rate_limited_vehicle"}) {
		t.Fatalf("the 5th command to %s: %+v, want deny rate_limited_vehicle", v, d)
	}
}

// TestGateListener: vigil serve --gate-listen serves POST /v1/gate alone on
// a listener of its own, with the same keys, checks and decision log.
func TestGateListener(t *testing.T) {
	ts := startServerWith(t, serveOptions{DataDir: t.TempDir(), GateListen: "127.0.0.1:0"})
	if ts.srv.gate == "" || ts.srv.gate == ts.base {
		t.Fatalf("gate listener at %q, main at %q", ts.srv.gate, ts.base)
	}
	gl := &testServer{base: ts.srv.gate, srv: ts.srv}
	gateKey, analyst := ts.key(t, "gate", "fleet-a"), ts.key(t, "analyst", "fleet-a")
	body := `{"tenant":"fleet-a","vehicle":"WVWZZZ1JZXW0L0001","command":"unlock","channel":"app","command_id":"cmd-gl","actor":{"account":"acc-gl"}}`
	r := gatePost(t, gl, gateKey, body)
	if r.status != 200 || !strings.Contains(r.body, `"decision":"deny"`) || !strings.Contains(r.body, `"decision_id":"gd_`) ||
		r.header.Get("X-Content-Type-Options") != "nosniff" || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("POST /v1/gate on the gate listener: %d %s %v", r.status, r.body, r.header)
	}
	for _, c := range []struct {
		method, path, key, body string
		status                  int
		code                    string
	}{
		{"POST", "/v1/gate", "", body, 401, "unauthenticated"},
		{"POST", "/v1/gate", analyst, body, 403, "forbidden"},
		{"POST", "/v1/gate", gateKey, strings.Replace(body, "fleet-a", "fleet-b", 1), 403, "forbidden"},
		{"POST", "/v1/gate", gateKey, `{"vehicle":`, 400, ""},
		{"GET", "/v1/gate", gateKey, "", 404, "not_found"}, // as on the main listener
		{"GET", "/v1/gate/decisions", analyst, "", 404, "not_found"},
		{"GET", "/v1/alerts", analyst, "", 404, "not_found"},
		{"POST", "/v1/events", gateKey, "{}", 404, "not_found"},
	} {
		req, _ := http.NewRequest(c.method, gl.base+c.path, strings.NewReader(c.body))
		if c.key != "" {
			req.Header.Set("Authorization", "Bearer "+c.key)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status || !strings.Contains(string(b), `"code":"`+c.code) {
			t.Errorf("%s %s on the gate listener: %d %s, want %d %s", c.method, c.path, resp.StatusCode, b, c.status, c.code)
		}
	}
	// What the listener refuses before the gate is counted in /metrics.
	c, err := net.Dial("tcp", strings.TrimPrefix(gl.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "HELLO\r\n\r\n")
	if got, _ := io.ReadAll(c); !strings.HasPrefix(string(got), "HTTP/1.1 400 ") {
		t.Errorf("a malformed request on the gate listener: %q", got)
	}
	c.Close()
	resp, err := http.Get(ts.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"\nvigil_gate_listener_malformed_total 1\n", "\nvigil_gate_listener_refused_total 0\n", "\nvigil_gate_listener_connections "} {
		if !strings.Contains(string(m), want) {
			t.Errorf("/metrics lacks %q", strings.TrimSpace(want))
		}
	}
	// The decision is in the log the main listener shows.
	var list gate.DecisionList
	if code := ts.call(t, "GET", "/v1/gate/decisions?account=acc-gl", analyst, nil, nil, &list); code != 200 ||
		len(list.Decisions) != 1 || list.Decisions[0].CommandID != "cmd-gl" {
		t.Errorf("GET /v1/gate/decisions: %d %+v, want the one decision asked on the gate listener", code, list.Decisions)
	}
}
