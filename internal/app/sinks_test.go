package app

import (
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-project/vigil/internal/sink/webhook"
)

const sinkSecret = "e2e-secret-0123456789abcdef"

// hookReceiver collects signed alerts by id.
type hookReceiver struct {
	mu  sync.Mutex
	ids map[string]bool
	bad int
}

func (h *hookReceiver) count() (int, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.ids), h.bad
}

func newHook(t *testing.T) (*hookReceiver, *httptest.Server) {
	h := &hookReceiver{ids: map[string]bool{}}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		if webhook.Verify([]byte(sinkSecret), r.Header.Get(webhook.HeaderTimestamp), r.Header.Get(webhook.HeaderSignature), body, time.Now(), time.Minute) != nil {
			h.bad++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var a struct {
			ID string `json:"id"`
		}
		json.Unmarshal(body, &a)
		h.ids[a.ID] = true
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return h, srv
}

// TestSinkShadowServe runs the server with detectors in shadow mode and
// off, a shadow rule, and two webhook sinks (one that takes shadow alerts):
// shadow alerts are stored, marked, out of the queue, the incidents and
// the first sink; the detector that is off stores nothing; the sinks get
// exactly what their filter admits, signed; the API shows modes and sink
// status.
func TestSinkShadowServe(t *testing.T) {
	stream, _ := simStream(t, 22)
	raised, raisedSrv := newHook(t)
	tap, tapSrv := newHook(t)
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caRaised := write("ca-raised.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: raisedSrv.Certificate().Raw})))
	caTap := write("ca-tap.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tapSrv.Certificate().Raw})))
	secret := write("hook.secret", sinkSecret+"\n")
	rules := filepath.Join(dir, "rules")
	os.Mkdir(rules, 0o700)
	write("rules/shadow.yaml", `rules:
  - id: e2e.shadow-lock
    title: Every lock, in shadow
    category: unauthorized-command
    severity: low
    shadow: true
    events: [vehicle.command]
    condition: data.command == "lock"
`)
	shadowDets := []string{"cred.login-failures", "cred.stuffing", "mass.command-spread", "sms.spoofing", "e2e.shadow-lock"}
	yaml := `rules: ` + rules + `
detectors:
  cred.login-failures: {mode: shadow}
  cred.stuffing: {mode: shadow}
  mass.command-spread: {mode: shadow}
  sms.spoofing: {mode: shadow}
  fw.tampering: {mode: off}
tenants:
  fleet-b:
    detectors:
      mass.command-spread: {mode: enabled}
sinks:
  - name: soc
    type: webhook
    url: ` + raisedSrv.URL + `/hook
    secret_file: ` + secret + `
    tls: {ca_file: ` + caRaised + `}
  - name: shadow-tap
    type: webhook
    url: ` + tapSrv.URL + `/hook?token=abc
    secret_file: ` + secret + `
    tls: {ca_file: ` + caTap + `}
    filter: {include_shadow: true, tenants: [fleet-a]}
`
	ts, _ := gateServer(t, yaml, "")
	admin := ts.key(t, "admin", "*")
	ts.post(t, admin, stream, 1000)
	ts.waitCaughtUp(t)

	all := ts.allAlerts(t, admin, "shadow=all")
	queue := ts.allAlerts(t, admin, "")
	shadow := ts.allAlerts(t, admin, "shadow=true")
	if len(shadow) == 0 || len(queue) == 0 || len(all) != len(queue)+len(shadow) {
		t.Fatalf("%d alerts: %d in the queue, %d shadow: want both kinds, adding up", len(all), len(queue), len(shadow))
	}
	shadowRule := 0
	for _, a := range shadow {
		det, tenant := a["detector"].(string), a["tenant"].(string)
		if a["shadow"] != true || a["incident"] != nil || !slices.Contains(shadowDets, det) || (det == "mass.command-spread" && tenant == "fleet-b") {
			t.Errorf("shadow alert %v %v %v (incident %v)", det, tenant, a["shadow"], a["incident"])
		}
		if det == "e2e.shadow-lock" {
			shadowRule++
		}
	}
	if shadowRule == 0 {
		t.Error("the shadow rule's alerts were not stored")
	}
	for _, a := range queue {
		det, tenant := a["detector"].(string), a["tenant"].(string)
		if a["shadow"] != nil || a["incident"] == nil || (slices.Contains(shadowDets, det) && !(det == "mass.command-spread" && tenant == "fleet-b")) {
			t.Errorf("raised alert %v %v shadow %v incident %v", det, tenant, a["shadow"], a["incident"])
		}
	}
	for _, a := range all {
		if a["detector"] == "fw.tampering" {
			t.Errorf("an alert of a detector that is off: %v", a["id"])
		}
	}

	// The sinks: "soc" gets the raised alerts, "shadow-tap" fleet-a's
	// alerts, shadow ones included.
	wantTap := 0
	for _, a := range all {
		if a["tenant"] == "fleet-a" {
			wantTap++
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		r, badR := raised.count()
		tp, badT := tap.count()
		if badR+badT > 0 {
			t.Fatalf("unsigned deliveries: %d, %d", badR, badT)
		}
		if r == len(queue) && tp == wantTap {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivered %d of %d raised alerts to soc, %d of %d to shadow-tap", r, len(queue), tp, wantTap)
		}
		time.Sleep(50 * time.Millisecond)
	}
	raised.mu.Lock()
	for _, a := range shadow {
		if raised.ids[a["id"].(string)] {
			t.Errorf("shadow alert %v reached a sink that does not take them", a["id"])
		}
	}
	raised.mu.Unlock()

	var sinks struct {
		Sinks []struct {
			Name   string `json:"name"`
			Target string `json:"target"`
			Filter struct {
				IncludeShadow bool `json:"include_shadow"`
			} `json:"filter"`
			Status struct {
				Delivered    int64 `json:"delivered"`
				DroppedTotal int64 `json:"dropped_total"`
			} `json:"status"`
		} `json:"sinks"`
	}
	if code := ts.callLoose(t, "/v1/sinks", admin, &sinks); code != 200 || len(sinks.Sinks) != 2 {
		t.Fatalf("GET /v1/sinks: %d %+v", code, sinks)
	}
	s0, s1 := sinks.Sinks[0], sinks.Sinks[1]
	if s0.Name != "soc" || s0.Status.Delivered != int64(len(queue)) || s1.Status.Delivered != int64(wantTap) || !s1.Filter.IncludeShadow ||
		s0.Status.DroppedTotal+s1.Status.DroppedTotal != 0 {
		t.Errorf("sinks %+v", sinks)
	}
	if strings.Contains(s1.Target, "abc") {
		t.Errorf("the target shows a secret: %s", s1.Target)
	}
	// An admin of fleet-a sees the sink dedicated to fleet-a only.
	sinks.Sinks = nil
	ts.callLoose(t, "/v1/sinks", ts.key(t, "admin", "fleet-a"), &sinks)
	if len(sinks.Sinks) != 1 || sinks.Sinks[0].Name != "shadow-tap" {
		t.Errorf("fleet-a admin sees %+v", sinks.Sinks)
	}

	var dets struct {
		Detectors []struct {
			ID          string `json:"id"`
			Mode        string `json:"mode"`
			Shadow      int64  `json:"shadow_alerts"`
			TenantModes []struct {
				Tenant, Mode string
			} `json:"tenant_modes"`
		} `json:"detectors"`
	}
	ts.callLoose(t, "/v1/detectors", admin, &dets)
	modes := map[string]string{}
	var shadowCount int64
	for _, d := range dets.Detectors {
		modes[d.ID] = d.Mode
		shadowCount += d.Shadow
		if d.ID == "mass.command-spread" && (len(d.TenantModes) != 1 || d.TenantModes[0].Tenant != "fleet-b" || d.TenantModes[0].Mode != "enabled") {
			t.Errorf("mass.command-spread tenant modes %+v", d.TenantModes)
		}
	}
	if modes["cred.stuffing"] != "shadow" || modes["fw.tampering"] != "off" || modes["cmd.unsafe-command"] != "enabled" {
		t.Errorf("modes %v", modes)
	}
	if shadowCount == 0 {
		t.Error("no shadow alert counted per detector")
	}
}

// TestCheckConfigSinks: check-config builds every sink (secrets, TLS
// files) without connecting, and names the sink and its line on a problem.
func TestCheckConfigSinks(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "hook.secret")
	os.WriteFile(secret, []byte(sinkSecret), 0o600)
	cfg := filepath.Join(dir, "vigil.yaml")
	run := func(yaml string) (string, int) {
		t.Helper()
		os.WriteFile(cfg, []byte(yaml), 0o600)
		var out, errb strings.Builder
		code := Main(t.Context(), []string{"check-config", "--config", cfg}, nil, &out, &errb)
		return out.String() + errb.String(), code
	}
	base := "detectors:\n  fw.tampering: {mode: off}\nsinks:\n  - name: soc\n    type: webhook\n    url: https://soc.example/hook\n"
	out, code := run(base + "    secret_file: hook.secret\n  - name: bus\n    type: nats\n    url: nats://127.0.0.1:1\n    subject: v.{tenant}\n")
	if code != 0 || !strings.Contains(out, "sinks: 2") || !strings.Contains(out, "detectors off: 1") {
		t.Errorf("valid configuration: exit %d\n%s", code, out)
	}
	out, code = run(base + "    secret_file: missing.secret\n")
	if code == 0 || !strings.Contains(out, "sink soc (line 4)") || !strings.Contains(out, "missing.secret") {
		t.Errorf("missing secret file: exit %d\n%s", code, out)
	}
	out, code = run(base + "    secret_file: hook.secret\n    retries: many\n")
	if code == 0 || !strings.Contains(out, "line 8") {
		t.Errorf("a bad value: exit %d\n%s", code, out)
	}
}
