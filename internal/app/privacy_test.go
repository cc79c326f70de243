package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/ingest/httpingest"
	"github.com/vigil-project/vigil/internal/pseudo"
	"github.com/vigil-project/vigil/internal/sim"
	"github.com/vigil-project/vigil/internal/store"
)

var privacyTestSecret = []byte("vigil privacy test secret, 32 bytes or more")

// foundAlert is what the pipeline tests read of an alert line.
type foundAlert struct {
	Time     time.Time      `json:"time"`
	Category string         `json:"category"`
	Detector string         `json:"detector"`
	Entities alert.Entities `json:"entities"`
}

func replayAlerts(t *testing.T, stream []byte, ref reference) ([]foundAlert, string) {
	t.Helper()
	var out bytes.Buffer
	sum, err := replay(context.Background(), bytes.NewReader(stream), &out, replayOptions{Reference: &ref})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Read != sum.Accepted {
		t.Fatalf("%d events rejected: %v", sum.Read-sum.Accepted, sum.Samples)
	}
	var alerts []foundAlert
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var a foundAlert
		if err := json.Unmarshal([]byte(l), &a); err != nil {
			t.Fatalf("alert line %q: %v", l, err)
		}
		alerts = append(alerts, a)
	}
	return alerts, out.String()
}

// captureSink keeps what the pseudonymising sink hands on.
type captureSink struct {
	mu  sync.Mutex
	evs []*event.Event
	raw [][]byte
}

func (c *captureSink) Accept(_ context.Context, batch []httpingest.Accepted) ([]bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, b := range batch {
		c.evs = append(c.evs, b.Event)
		c.raw = append(c.raw, bytes.Clone(b.Raw))
	}
	return make([]bool, len(batch)), nil
}

// pseudoEntities are a label's entities as pseudonymised events name them.
func pseudoEntities(t *testing.T, p *pseudo.Pseudonymiser, tenant string, e alert.Entities) alert.Entities {
	t.Helper()
	st := func(k pseudo.Kind, v string) string {
		if v == "" {
			return ""
		}
		s, _, _, err := p.Stored(tenant, k, v)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	out := alert.Entities{Vehicle: st(pseudo.Vehicle, e.Vehicle), Account: st(pseudo.Account, e.Account), Device: st(pseudo.Device, e.Device),
		IP: st(pseudo.IP, e.IP), ClientID: st(pseudo.Client, e.ClientID), MSISDN: st(pseudo.Phone, e.MSISDN)}
	for _, v := range e.Vehicles {
		out.Vehicles = append(out.Vehicles, st(pseudo.Vehicle, v))
	}
	return out
}

func detected(alerts []foundAlert, l sim.Label, e alert.Entities) bool {
	return slices.ContainsFunc(alerts, func(a foundAlert) bool {
		return a.Category == l.Category && !a.Time.Before(l.Start) && !a.Time.After(l.End.Add(10*time.Minute)) && shareEntity(a.Entities, e)
	})
}

func countBy(alerts []foundAlert) map[string]int {
	m := map[string]int{}
	for _, a := range alerts {
		m[a.Category+" "+a.Detector]++
	}
	return m
}

// TestPrivacyPipelineDetectsTheSame replays a simulated fleet with every
// attack through the pseudonymising sink, with every field on and the
// archive rounded to 3 decimals: the typed events as detection sees them
// live, and the archived JSON as it reads them again after a restart.
// Every attack found in clear is found in both, naming the pseudonyms of
// its entities, and no clear identity of an attack reaches an alert.
func TestPrivacyPipelineDetectsTheSame(t *testing.T) {
	s, err := sim.New(sim.Config{Seed: 41, Vehicles: 300, Duration: 6 * time.Hour, Attacks: alert.Categories(), AttacksPerCategory: 2})
	if err != nil {
		t.Fatal(err)
	}
	var stream bytes.Buffer
	var labels []sim.Label
	err = s.Run(context.Background(), func(ev *event.Event) error {
		stream.Write(append(event.AppendJSON(nil, ev), '\n'))
		return nil
	}, func(l sim.Label) error { labels = append(labels, l); return nil })
	if err != nil {
		t.Fatal(err)
	}
	ref := referenceFromSim(s)
	clear, _ := replayAlerts(t, stream.Bytes(), ref)

	p, err := pseudo.New(pseudo.Options{Secret: privacyTestSecret, Default: pseudo.Settings{Fields: pseudo.AllFields, LocationDecimals: 3},
		KeepPhones: ref.SMSGateways})
	if err != nil {
		t.Fatal(err)
	}
	pref, err := pseudonymiseReference(ref, p)
	if err != nil {
		t.Fatal(err)
	}
	// Through the sink, in batches as the HTTP handler makes them.
	capture := &captureSink{}
	sink := pseudo.NewSink(p, capture)
	dec := event.NewDecoder(event.Limits{})
	var batch []httpingest.Accepted
	flush := func() {
		if _, err := sink.Accept(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
		batch = batch[:0]
	}
	for _, line := range bytes.Split(bytes.TrimSpace(stream.Bytes()), []byte("\n")) {
		ev, err := dec.Decode(line)
		if err != nil {
			t.Fatal(err)
		}
		if batch = append(batch, httpingest.Accepted{Event: ev, Raw: line}); len(batch) == 500 {
			flush()
		}
	}
	flush()
	var live, archived bytes.Buffer
	for i, ev := range capture.evs {
		live.Write(append(event.AppendJSON(nil, ev), '\n'))
		archived.Write(append(capture.raw[i], '\n'))
	}
	if bytes.Equal(live.Bytes(), archived.Bytes()) {
		t.Fatal("the archive kept full precision")
	}

	for _, run := range []struct {
		name   string
		stream []byte
	}{{"live", live.Bytes()}, {"archived", archived.Bytes()}} {
		t.Run(run.name, func(t *testing.T) {
			got, text := replayAlerts(t, run.stream, pref)
			checked := 0
			for _, l := range labels {
				if !detected(clear, l, l.Entities) {
					continue
				}
				checked++
				if !detected(got, l, pseudoEntities(t, p, l.Tenant, l.Entities)) {
					t.Errorf("%s/%s on %+v was detected in clear, not pseudonymised", l.Category, l.Scenario, l.Entities)
				}
				for _, v := range []string{l.Entities.Vehicle, l.Entities.Account, l.Entities.IP, l.Entities.ClientID, l.Entities.Device} {
					if v != "" && strings.Contains(text, `"`+v+`"`) {
						t.Errorf("the clear identity %q of %s/%s is in an alert", v, l.Category, l.Scenario)
					}
				}
			}
			cats := map[string]bool{}
			for _, a := range got {
				cats[a.Category] = true
			}
			for _, a := range clear {
				if !cats[a.Category] {
					t.Errorf("category %s is detected in clear, not pseudonymised", a.Category)
					cats[a.Category] = true
				}
			}
			if checked < len(alert.Categories()) {
				t.Fatalf("only %d attacks detected in clear: the stream does not exercise the detectors", checked)
			}
			// Detectors look at equality, subnets and shapes that
			// pseudonyms keep: they raise as many alerts. The exception
			// allowed is VIN enumeration, whose serial-number signal
			// pseudonyms do not keep (docs/privacy.md).
			cc, gc := countBy(clear), countBy(got)
			var diff []string
			for k := range maps.Keys(cc) {
				if gc[k] != cc[k] && !strings.HasSuffix(k, " access.exfiltration") {
					diff = append(diff, fmt.Sprintf("%s: %d in clear, %d pseudonymised", k, cc[k], gc[k]))
				}
			}
			for k, n := range gc {
				if _, ok := cc[k]; !ok {
					diff = append(diff, fmt.Sprintf("%s: 0 in clear, %d pseudonymised", k, n))
				}
			}
			sort.Strings(diff)
			if len(diff) > 0 {
				t.Errorf("alerts differ by detector: %v", diff)
			}
			t.Logf("%d attacks checked; %d alerts in clear, %d pseudonymised", checked, len(clear), len(got))
		})
	}
}

// privacyServer starts vigil serve with privacy on (every field, the
// vault, 3 decimals) and the directory given; it returns the server and
// the pseudonymiser the test uses to compute expected pseudonyms.
func privacyServer(t *testing.T, dirCSV string) (*testServer, *pseudo.Pseudonymiser) {
	t.Helper()
	keyFile := filepath.Join(t.TempDir(), "vigil.key")
	if err := os.WriteFile(keyFile, privacyTestSecret, 0o600); err != nil {
		t.Fatal(err)
	}
	ts, _ := gateServer(t, "privacy:\n  enabled: true\n  key_file: "+keyFile+"\n  vault: true\n  location_decimals: 3\n", dirCSV)
	p, err := pseudo.New(pseudo.Options{Secret: privacyTestSecret, Default: pseudo.Settings{Fields: pseudo.AllFields}})
	if err != nil {
		t.Fatal(err)
	}
	return ts, p
}

func (ts *testServer) postJSON(t *testing.T, path, key string, body any, out any) int {
	t.Helper()
	b, _ := json.Marshal(body)
	return ts.call(t, "POST", path, key, b, map[string]string{"Content-Type": "application/json"}, out)
}

// TestPrivacyServe runs the server with pseudonymisation on: nothing
// personal reaches the archive or the alerts; analysts find a subject by
// its pseudonym; admins re-identify and erase, audited; the gate answers
// from requests in clear; other tenants' keys can do none of it.
func TestPrivacyServe(t *testing.T) {
	s, err := sim.New(sim.Config{Seed: 43, Vehicles: 80, Duration: 3 * time.Hour, Attacks: alert.Categories(), AttacksPerCategory: 1})
	if err != nil {
		t.Fatal(err)
	}
	var stream bytes.Buffer
	var evs []*event.Event
	err = s.Run(context.Background(), func(ev *event.Event) error {
		stream.Write(append(event.AppendJSON(nil, ev), '\n'))
		evs = append(evs, ev)
		return nil
	}, func(sim.Label) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	// A vehicle of fleet-a, one of its accounts, and the directory linking them.
	var vin, account, tenant string
	for _, ev := range evs {
		if ev.Type == event.TypeCommand && ev.Command.Actor.Account != "" && ev.Tenant != "" && ev.Tenant != event.DefaultTenant {
			vin, account, tenant = ev.Subject, ev.Command.Actor.Account, ev.Tenant
			break
		}
	}
	if vin == "" {
		t.Fatal("no command with an account in the simulated stream")
	}
	ts, p := privacyServer(t, "tenant,kind,principal,vehicle,role\n"+tenant+",account,"+account+","+vin+",owner\n")
	admin := ts.key(t, "admin", "*")
	ts.post(t, admin, stream.Bytes(), 500)
	ts.waitCaughtUp(t)
	pvin, _, _ := p.Pseudonym(tenant, pseudo.Vehicle, vin)

	// The archive: pseudonyms, rounded coordinates.
	st := ts.srv.store
	page, err := st.SearchEvents(context.Background(), store.AllTenants(), store.EventQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range page.Events {
		if strings.Contains(string(e.Raw), vin) || strings.Contains(string(e.Raw), `"`+account+`"`) {
			t.Fatalf("a clear identity reached the archive: %s", e.Raw)
		}
		if e.Type == "vehicle.telemetry" {
			ev, err := event.NewDecoder(event.Limits{}).Decode(e.Raw)
			if err != nil {
				t.Fatal(err)
			}
			if pos := ev.Telemetry.Position; pos.Lat != pseudo.Round(pos.Lat, 3) || pos.Lon != pseudo.Round(pos.Lon, 3) {
				t.Fatalf("archived position %v not rounded", pos)
			}
		}
	}
	// Alerts name pseudonyms.
	alerts := ts.allAlerts(t, admin, "")
	if len(alerts) == 0 {
		t.Fatal("no alerts")
	}
	for _, a := range alerts {
		if v, _ := a["entities"].(map[string]any)["vehicle"].(string); v != "" && !pseudo.ValidVIN(v) {
			t.Errorf("alert %s names vehicle %q, not a pseudonym", a["id"], v)
		}
	}

	analystA, analystB := ts.key(t, "analyst", tenant), ts.key(t, "analyst", "other")
	adminA, adminB := ts.key(t, "admin", tenant), ts.key(t, "admin", "other")

	// An analyst learns what to search for.
	var pj pseudonymJSONTest
	if code := ts.postJSON(t, "/v1/pseudonymise", analystA, map[string]string{"tenant": tenant, "kind": "vehicle", "value": vin}, &pj); code != 200 ||
		pj.Pseudonym != pvin || !pj.Pseudonymised {
		t.Fatalf("pseudonymise: %d %+v, want %s", code, pj, pvin)
	}
	var events struct {
		Events []json.RawMessage `json:"events"`
	}
	if code := ts.call(t, "GET", "/v1/events?tenant="+tenant+"&kind=vehicle&value="+pj.Pseudonym, analystA, nil, nil, &events); code != 200 || len(events.Events) == 0 {
		t.Fatalf("search by pseudonym: %d, %d events", code, len(events.Events))
	}
	// An IP prefix maps onto a prefix.
	if code := ts.postJSON(t, "/v1/pseudonymise", analystA, map[string]string{"tenant": tenant, "kind": "ip", "value": "10.0.0.0/8"}, &pj); code != 200 ||
		!strings.HasSuffix(pj.Pseudonym, "/8") || pj.Pseudonym == "10.0.0.0/8" {
		t.Errorf("prefix: %d %+v", code, pj)
	}

	// Re-identification: admin of the tenant, with a reason.
	var re struct {
		Tenant, Kind, Pseudonym, Value string
	}
	for _, c := range []struct {
		key  string
		body map[string]string
		code int
	}{
		{analystA, map[string]string{"tenant": tenant, "pseudonym": pvin, "reason": "x"}, 403},
		{adminB, map[string]string{"tenant": tenant, "pseudonym": pvin, "reason": "x"}, 403},
		{adminA, map[string]string{"tenant": tenant, "pseudonym": pvin}, 400},
		{adminA, map[string]string{"tenant": tenant, "pseudonym": "no-shape-at-all", "reason": "x"}, 400},
		{adminA, map[string]string{"tenant": tenant, "pseudonym": "acct_aaaaaaaaaaaaaaaaaaaaaaaaaa", "reason": "x"}, 404},
		{adminA, map[string]string{"tenant": tenant, "pseudonym": pvin, "reason": "incident inc-7: police request 2026/118"}, 200},
	} {
		if code := ts.postJSON(t, "/v1/reidentify", c.key, c.body, &re); code != c.code {
			t.Errorf("reidentify %v: %d, want %d", c.body, code, c.code)
		}
	}
	if re.Value != vin || re.Kind != "vehicle" {
		t.Errorf("reidentified %+v, want %s", re, vin)
	}

	// The gate takes the TSP's request in clear and answers from the
	// directory and the twin, which hold pseudonyms.
	var dec gateDecision
	code := ts.postJSON(t, "/v1/gate", admin, map[string]any{"tenant": tenant, "vehicle": vin, "command": "lock", "channel": "app",
		"actor": map[string]string{"account": account}}, &dec)
	if code != 200 || slices.Contains(dec.codes(), "not_linked") {
		t.Errorf("gate for the linked account: %d %+v", code, dec)
	}
	code = ts.postJSON(t, "/v1/gate", admin, map[string]any{"tenant": tenant, "vehicle": vin, "command": "lock", "channel": "app",
		"actor": map[string]string{"account": "stranger-1"}}, &dec)
	if code != 200 || !slices.Contains(dec.codes(), "not_linked") {
		t.Errorf("gate for an unlinked account: %d %+v", code, dec)
	}
	if code := ts.postJSON(t, "/v1/gate", admin, json.RawMessage(`{"vehicle":"a","vehicle":"b","command":"lock","actor":{"account":"x"}}`), nil); code != 400 {
		t.Errorf("a request the gate refuses (a duplicate key) went through: %d", code)
	}

	// Erasure: admin of the tenant, with a reason; counts; then nothing.
	var er erasureJSONTest
	for _, c := range []struct {
		key  string
		body map[string]string
		code int
	}{
		{analystA, map[string]string{"tenant": tenant, "kind": "vehicle", "value": vin, "reason": "x"}, 403},
		{adminB, map[string]string{"tenant": tenant, "kind": "vehicle", "value": vin, "reason": "x"}, 403},
		{analystB, map[string]string{"tenant": tenant, "kind": "vehicle", "value": vin, "reason": "x"}, 403},
		{adminA, map[string]string{"tenant": tenant, "kind": "unit", "value": "356938030000047", "reason": "x"}, 400},
		{adminA, map[string]string{"tenant": tenant, "kind": "vehicle", "value": vin}, 400},
		{adminA, map[string]string{"tenant": tenant, "kind": "vehicle", "value": vin, "reason": "GDPR art. 17, request 2026-0042"}, 200},
	} {
		if code := ts.postJSON(t, "/v1/erasure", c.key, c.body, &er); code != c.code {
			t.Errorf("erasure %v: %d, want %d", c.body, code, c.code)
		}
	}
	if er.Events == 0 || er.Pseudonym != pvin || !er.VaultEntry || !er.Detection.Checkpoint || er.Detection.States == 0 {
		t.Errorf("erasure answered %+v", er)
	}
	if code := ts.call(t, "GET", "/v1/events?tenant="+tenant+"&kind=vehicle&value="+pvin, analystA, nil, nil, &events); code != 200 || len(events.Events) != 0 {
		t.Errorf("after erasure: %d, %d events", code, len(events.Events))
	}
	if code := ts.postJSON(t, "/v1/reidentify", adminA, map[string]string{"tenant": tenant, "pseudonym": pvin, "reason": "x"}, nil); code != 404 {
		t.Errorf("reidentify after erasure: %d", code)
	}

	// The audit log: every call, with its reason, never the value.
	entries, err := st.ExportAudit(context.Background(), store.AllTenants(), store.AuditQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	actions := map[string]int{}
	for _, e := range entries {
		if !strings.HasPrefix(e.Action, "privacy.") {
			continue
		}
		actions[e.Action]++
		if strings.Contains(e.Target+string(e.Detail), vin) {
			t.Errorf("audit entry %s names the value: %s %s", e.Action, e.Target, e.Detail)
		}
	}
	if actions["privacy.reidentify"] != 3 || actions["privacy.erase"] != 1 || actions["privacy.pseudonymise"] != 2 {
		t.Errorf("audited privacy actions: %v", actions)
	}

	// The counters are exposed.
	metrics := ts.metricsText(t)
	for _, m := range []string{`vigil_privacy_pseudonymised_values_total{kind="vehicle"}`, `vigil_privacy_vault_total{result="written"}`} {
		if !strings.Contains(metrics, m) {
			t.Errorf("metrics lack %s", m)
		}
	}
}

type pseudonymJSONTest struct {
	Tenant        string `json:"tenant"`
	Kind          string `json:"kind"`
	Pseudonym     string `json:"pseudonym"`
	Pseudonymised bool   `json:"pseudonymised"`
}

type erasureJSONTest struct {
	Tenant     string `json:"tenant"`
	Kind       string `json:"kind"`
	Pseudonym  string `json:"pseudonym"`
	Events     int64  `json:"events"`
	Alerts     int64  `json:"alerts"`
	Incidents  int64  `json:"incidents"`
	VaultEntry bool   `json:"vault_entry"`
	Detection  struct {
		States          int  `json:"states"`
		References      int  `json:"references"`
		Timers          int  `json:"timers"`
		CachedEvents    int  `json:"cached_events"`
		DecisionRecords int  `json:"decision_records"`
		Checkpoint      bool `json:"checkpoint"`
	} `json:"detection"`
}

// TestPrivacyServeNeedsAKey: with pseudonymisation on and no usable key,
// the server does not start, and says how to make one.
func TestPrivacyServeNeedsAKey(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short.key")
	os.WriteFile(short, []byte("short"), 0o600)
	for _, yaml := range []string{
		"privacy:\n  enabled: true\n",
		"privacy:\n  enabled: true\n  key_file: " + filepath.Join(dir, "missing.key") + "\n",
		"privacy:\n  enabled: true\n  key_file: " + short + "\n",
	} {
		cfg := filepath.Join(dir, "vigil.yaml")
		os.WriteFile(cfg, []byte(yaml), 0o600)
		err := serve(context.Background(), serveOptions{Listen: "127.0.0.1:0", DataDir: filepath.Join(dir, "data"), ConfigPath: cfg,
			Logger: slog.New(slog.DiscardHandler), KeyOut: io.Discard})
		if err == nil || !strings.Contains(err.Error(), "vigil privacy keygen") {
			t.Errorf("%q: %v", yaml, err)
		}
	}
}

// TestPrivacyCommands runs vigil privacy keygen, pseudonymise and erase.
func TestPrivacyCommands(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "vigil.key")
	var out, errOut bytes.Buffer
	if code := Main(context.Background(), []string{"privacy", "keygen", key}, nil, &out, &errOut); code != 0 {
		t.Fatalf("keygen: %d %s", code, errOut.String())
	}
	if code := Main(context.Background(), []string{"privacy", "keygen", key}, nil, &out, &errOut); code != 1 {
		t.Errorf("keygen over an existing key: %d", code)
	}
	cfg := filepath.Join(dir, "vigil.yaml")
	os.WriteFile(cfg, []byte("privacy:\n  enabled: true\n  key_file: vigil.key\n  fields: {ips: false}\n"), 0o600)
	out.Reset()
	code := Main(context.Background(), []string{"privacy", "pseudonymise", "--config", cfg, "--tenant", "fleet-a", "--kind", "vehicle",
		"WVWZZZ1JZXW000001", "WVWZZZ1JZXW000002"}, nil, &out, &errOut)
	lines := strings.Fields(out.String())
	if code != 0 || len(lines) != 2 || !pseudo.ValidVIN(lines[0]) || lines[0] == lines[1] {
		t.Fatalf("pseudonymise: %d %q %s", code, out.String(), errOut.String())
	}
	out.Reset()
	Main(context.Background(), []string{"privacy", "pseudonymise", "--config", cfg, "--tenant", "fleet-a", "--kind", "ip", "203.0.113.7"}, nil, &out, &errOut)
	if strings.TrimSpace(out.String()) != "203.0.113.7" {
		t.Errorf("ips are off, and the address became %q", out.String())
	}
	// Erase from a store with the CLI: the events go, the audit says so.
	data := filepath.Join(dir, "data")
	o := serveOptions{DataDir: data}
	st, err := openStore(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	raw := `{"specversion":"1.0","id":"c1","source":"s","type":"vehicle.command","time":"2026-03-02T07:00:00Z","subject":"` + lines[0] +
		`","tenant":"fleet-a","data":{"command_id":"c","command":"lock","stage":"requested","channel":"app","actor":{"account":"a"}}}`
	if _, err := st.InsertEvents(context.Background(), store.AllTenants(), []store.ArchivedEvent{{Tenant: "fleet-a", Source: "s", ID: "c1",
		Type: "vehicle.command", Time: 1, Subject: lines[0], Raw: []byte(raw), Arrived: 1}}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	out.Reset()
	code = Main(context.Background(), []string{"privacy", "erase", "--config", cfg, "--data-dir", data, "--tenant", "fleet-a", "--kind", "vehicle",
		"--value", "WVWZZZ1JZXW000001", "--reason", "request 12"}, nil, &out, &errOut)
	if code != 0 || !strings.Contains(out.String(), "1 events") {
		t.Errorf("erase: %d %q %s", code, out.String(), errOut.String())
	}
	for _, args := range [][]string{{"privacy"}, {"privacy", "shred"}, {"privacy", "keygen"},
		{"privacy", "erase", "--config", cfg, "--data-dir", data, "--tenant", "fleet-a", "--kind", "unit", "--value", "x", "--reason", "y"}} {
		if code := Main(context.Background(), args, nil, &out, &errOut); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}
