package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/console"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/sim"
)

// chromium returns the path of Debian's chromium, installing it when it is
// missing (the test never skips: CI must run it).
func chromium(t *testing.T) string {
	t.Helper()
	const path = "/usr/bin/chromium"
	if _, err := os.Stat(path); err == nil {
		return path
	}
	t.Logf("%s is missing: installing Debian's chromium", path)
	cmd := exec.Command("sh", "-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the console's browser tests need %s and installing it failed (%v): run `apt-get install chromium` as root.\n%s", path, err, out)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("apt-get installed chromium but %s is still missing", path)
	}
	return path
}

// consoleServer serves the console and the API of ts on one origin, as
// vigil serve does once the console is mounted in it. If ts already serves
// the console itself, its own address is used.
func consoleServer(t *testing.T, ts *testServer) string {
	t.Helper()
	if resp, err := http.Get(ts.base + console.Prefix); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 && resp.Header.Get("Content-Security-Policy") != "" {
			return ts.base
		}
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+console.Prefix, console.Handler())
	mux.Handle("GET /{$}", console.Handler())
	mux.Handle("/", ts.srv.api)
	front := httptest.NewServer(mux)
	t.Cleanup(front.Close)
	return front.URL
}

// browser drives one headless chromium tab and records what the page logs.
type browser struct {
	t      *testing.T
	ctx    context.Context
	shots  string
	mu     sync.Mutex
	logged []chromedp.ConsoleMessage
}

func newBrowser(t *testing.T, shots string) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		// Without these chromium reaches for the network, which this
		// machine refuses.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	ctx, cancelC := context.WithTimeout(ctx, 240*time.Second)
	t.Cleanup(func() { cancelC(); cancelB(); cancelA() })
	b := &browser{t: t, ctx: ctx, shots: shots}
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("starting chromium: %v", err)
	}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.logged = append(b.logged, m)
			b.mu.Unlock()
		}
	}()
	return b
}

func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v\npage log:\n%s", what, err, b.log())
	}
}

// clickRow clicks sel in a table that polls and live updates redraw: a
// node replaced between being found and being clicked is found again, as
// a user would click again.
func (b *browser) clickRow(what, sel string) {
	b.t.Helper()
	for try := 1; ; try++ {
		err := chromedp.Do(b.ctx, chromedp.Click(sel))
		if err == nil {
			return
		}
		gone := strings.Contains(err.Error(), "Could not find node") || strings.Contains(err.Error(), "detached")
		if !gone || try == 5 {
			b.t.Fatalf("%s (try %d): %v\npage log:\n%s", what, try, err, b.log())
		}
	}
}

func (b *browser) eval(js string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](js))
	if err != nil {
		b.t.Fatalf("evaluating %s: %v", js, err)
	}
	return v
}

// waitJS waits until the expression is true.
func (b *browser) waitJS(what, js string) {
	b.t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		b.shot("failed")
		b.t.Fatalf("waiting for %s (%s): %v\nat %s the page at %s showed, at its end, %q\npage log:\n%s", what, js, err,
			time.Now().UTC().Format("15:04:05.000"), b.peek(`location.hash`), b.peek(`(document.getElementById('main')?.innerText || '').slice(-1500)`), b.log())
	}
}

// peek evaluates js for a failure's report: an error is its answer.
func (b *browser) peek(js string) string {
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](js))
	if err != nil {
		return "(" + err.Error() + ")"
	}
	return v
}

func (b *browser) shot(name string) {
	b.t.Helper()
	// The whole page, cut at 2,400 px: enough to see the layout, small
	// enough to look at. From the top, so the sticky header is there.
	b.eval(`window.scrollTo(0, 0), ''`)
	w, err := chromedp.Run(b.ctx, chromedp.Evaluate[float64](`document.documentElement.scrollWidth`))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	ht, err := chromedp.Run(b.ctx, chromedp.Evaluate[float64](`document.documentElement.scrollHeight`))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	res, err := chromedp.Call(b.ctx, page.CaptureScreenshot, page.CaptureScreenshotParams{Format: page.CaptureScreenshotFormatPng,
		CaptureBeyondViewport: ptr(true), FromSurface: ptr(true), Clip: &page.Viewport{Width: w, Height: min(ht, 2400), Scale: 1}})
	png := res.Data
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	p := filepath.Join(b.shots, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: %s", p)
}

func (b *browser) log() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var sb strings.Builder
	for _, m := range b.logged {
		// The time and the address say which request failed and when.
		fmt.Fprintf(&sb, "  %s %s [%s] %s", m.Time.UTC().Format("15:04:05.000"), m.Type, m.Source, m.Text)
		if m.URL != "" {
			fmt.Fprintf(&sb, " (%s)", m.URL)
		}
		sb.WriteByte('\n')
	}
	return sb.String()
}

// problems are uncaught exceptions and Content-Security-Policy violations.
func (b *browser) problems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, m := range b.logged {
		if m.IsException() || strings.Contains(m.Text, "Content Security Policy") || strings.Contains(m.Text, "Content-Security-Policy") {
			out = append(out, m.String())
		}
	}
	return out
}

// TestConsole drives the console in headless chromium against a server fed
// a simulated fleet under attack: sign in, the overview, the alert queue
// and its filters and bulk triage, an incident with its timeline and map,
// triage that survives a reload, a vehicle, the detectors, the dark theme
// and a narrow screen. Screenshots go to $VIGIL_ARTIFACTS (or a temporary
// directory); look at them after a change to the console.
func TestConsole(t *testing.T) {
	shots := os.Getenv("VIGIL_ARTIFACTS")
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	stream, _ := simStream(t, 21)
	ts := startServer(t, t.TempDir())
	ingest := ts.key(t, "ingest", "*")
	analyst := ts.key(t, "analyst", "*")
	ts.post(t, ingest, stream, 2000)
	ts.waitCaughtUp(t)
	base := consoleServer(t, ts)

	// The incident to work on: one of an alert about a vehicle that moved,
	// so its map has a track.
	var target, parked map[string]any
	for _, a := range ts.allAlerts(t, analyst, "") {
		ents, _ := a["entities"].(map[string]any)
		if a["incident"] == nil || ents["vehicle"] == nil || a["category"] == "service-anomaly" {
			continue
		}
		var evs struct {
			Events []map[string]any `json:"events"`
		}
		inc := a["incident"].(string)
		var detail struct {
			FirstSeen  string `json:"first_seen"`
			LastSeen   string `json:"last_seen"`
			AlertCount int    `json:"alert_count"`
		}
		if code := ts.callLoose(t, "/v1/incidents/"+inc, analyst, &detail); code != 200 {
			t.Fatalf("incident %s: %d", inc, code)
		}
		if detail.AlertCount > 5 {
			continue // a smaller one fits a screenshot
		}
		from, _ := time.Parse(time.RFC3339Nano, detail.FirstSeen)
		to, _ := time.Parse(time.RFC3339Nano, detail.LastSeen)
		q := fmt.Sprintf("/v1/events?kind=vehicle&value=%s&type=vehicle.telemetry&from=%s&to=%s&limit=100", ents["vehicle"],
			from.Add(-30*time.Minute).Format(time.RFC3339), to.Add(31*time.Minute).Format(time.RFC3339))
		if ts.callLoose(t, q, analyst, &evs); len(evs.Events) < 3 {
			continue
		}
		if parked == nil {
			parked = a
		}
		// Better: a vehicle that moved, so the map shows a line.
		places := map[string]bool{}
		for _, e := range evs.Events {
			data, _ := e["event"].(map[string]any)["data"].(map[string]any)
			pos, _ := data["position"].(map[string]any)
			places[fmt.Sprintf("%.4f %.4f", pos["lat"], pos["lon"])] = true
		}
		if len(places) >= 3 {
			target = a
			break
		}
	}
	if target == nil {
		target = parked
	}
	if target == nil {
		t.Fatal("no alert about a vehicle with a track in the simulated stream")
	}
	alertID, incID, category := target["id"].(string), target["incident"].(string), target["category"].(string)
	t.Logf("working on alert %s (%s), incident %s", alertID, category, incID)

	b := newBrowser(t, shots)

	// Sign in with a password: a wrong one is refused with a clear
	// message, the right one opens the overview. The analyst works the
	// whole test through the session cookie and its CSRF token.
	if _, err := ts.srv.auth.CreateUser(context.Background(), "ana", "analyst", []string{"*"}, consolePassword); err != nil {
		t.Fatal(err)
	}
	b.do("open the console", chromedp.Navigate(base+"/"), chromedp.WaitVisible("#user"))
	b.do("wrong password", chromedp.SendKeys("#user", "ana"), chromedp.SendKeys("#password", "not the password at all"), chromedp.Click("#signin-submit"))
	b.waitJS("the sign-in error", `!document.getElementById('signin-error').hidden`)
	if msg := b.eval(`document.getElementById('signin-error').textContent`); !strings.Contains(msg, "user name or the password is wrong") {
		t.Errorf("sign-in error: %q", msg)
	}
	b.shot("01-signin-error")
	b.eval(`document.getElementById('password').value = ''`)
	b.do("sign in", chromedp.SendKeys("#password", consolePassword), chromedp.Click("#signin-submit"))
	b.waitJS("the overview", `location.hash === '#/overview' && document.querySelectorAll('.stat').length >= 5 && !!document.querySelector('ol.top-ents li')`)
	b.sessionCookie() // set, with its flags, on plain http://127.0.0.1
	b.waitJS("the ingest counter", `document.querySelector('.stat-v').textContent !== '0'`)
	b.shot("02-overview")

	// The alert queue: rows, then a filter done by the server.
	b.do("alert queue", chromedp.Navigate(base+"/console/#/alerts?status=any"))
	b.waitJS("alert rows", `document.querySelectorAll('#alert-table tbody tr').length > 5`)
	b.shot("03-alerts")
	b.eval(fmt.Sprintf(`(() => { const s = document.getElementById('category'); s.value = %q; s.dispatchEvent(new Event('change')); return ''; })()`, category))
	b.waitJS("the filtered queue", fmt.Sprintf(`location.hash.includes('category=%s') && document.querySelector('#alert-table tbody tr[data-id=%q]') !== null`, category, alertID))
	cats := b.eval(`[...document.querySelectorAll('#alert-table tbody tr td:nth-child(5)')].map(td => td.textContent).join(',')`)
	for _, c := range strings.Split(cats, ",") {
		if c != category {
			t.Errorf("filtered on %s, the queue shows %q", category, c)
		}
	}
	b.shot("04-alerts-filtered")

	// Bulk triage: acknowledge the target alert from the queue. The queue
	// then updates in place: the other rows stay the same nodes, one whose
	// explanation the analyst opened stays open; the acknowledged alert's
	// row is drawn again with its new status.
	if n := b.eval(`String(document.querySelectorAll('#alert-table tbody tr').length)`); n == "1" {
		t.Fatalf("the filtered queue has one row: no other row to see updated in place")
	}
	other := b.eval(fmt.Sprintf(`(() => {
		window.vigilRemoved = [];
		new MutationObserver((ms) => { for (const m of ms) for (const n of m.removedNodes) window.vigilRemoved.push(n.dataset ? n.dataset.id : '?'); })
			.observe(document.querySelector('#alert-table tbody'), {childList: true});
		for (const tr of document.querySelectorAll('#alert-table tbody tr')) tr.vigilBefore = true;
		const o = [...document.querySelectorAll('#alert-table tbody tr')].find((tr) => tr.dataset.id !== %q);
		o.querySelector('details').open = true;
		return o.dataset.id;
	})()`, alertID))
	b.clickRow("select the alert", fmt.Sprintf(`tr[data-id=%q] td.chk input`, alertID))
	b.waitJS("the bulk bar", `document.getElementById('sel-count').textContent === '1 alert selected'`)
	b.do("acknowledge", chromedp.Click(`//button[text()="Acknowledge"]`))
	b.waitJS("the acknowledgement", `!!document.querySelector('.feedback .ok')`)
	b.waitJS("the acknowledged row", fmt.Sprintf(`!!document.querySelector('tr[data-id=%q] .status.st-acknowledged')`, alertID))
	if kept := b.eval(fmt.Sprintf(`(() => {
		const rows = [...document.querySelectorAll('#alert-table tbody tr')];
		const o = document.querySelector('tr[data-id=%q]'), mine = document.querySelector('tr[data-id=%q]');
		return [rows.filter((tr) => tr !== mine).every((tr) => tr.vigilBefore), !!o && o.querySelector('details').open,
			!mine.vigilBefore, !mine.querySelector('td.chk input').checked, window.vigilRemoved.join(',') === %q].join(' ');
	})()`, other, alertID, alertID)); kept != "true true true true true" {
		t.Errorf("after the acknowledgement, [other rows kept, opened one still open, acknowledged row redrawn, unselected, only its old row removed] = %s (removed: %s)",
			kept, b.eval(`window.vigilRemoved.join(',')`))
	}
	var got struct {
		Status string `json:"status"`
	}
	if ts.callLoose(t, "/v1/alerts/"+alertID, analyst, &got); got.Status != "acknowledged" {
		t.Errorf("bulk acknowledge: the alert is %q", got.Status)
	}

	// The incident: explanation, timeline with evidence, map with a track.
	b.clickRow("open the incident", fmt.Sprintf(`tr[data-id=%q] a[href^="#/incidents/"]`, alertID))
	b.waitJS("the incident page", `location.hash.startsWith('#/incidents/') && !!document.querySelector('#inc-status')`)
	b.waitJS("the timeline", `document.querySelectorAll('table.timeline tbody tr').length > 3`)
	b.waitJS("evidence in the timeline", `document.querySelectorAll('table.timeline tr.evidence').length > 0`)
	b.waitJS("the map's track", `!!document.querySelector('figure.map svg .track path') && !!document.querySelector('.graticule line') && !!document.querySelector('.scale text')`)
	if n := b.eval(`String(document.querySelectorAll('.mappings code').length)`); n == "0" {
		t.Error("the incident shows no framework mapping")
	}
	b.shot("05-incident")

	// Triage: status, assignee and a comment; then reload.
	b.eval(`(() => { const s = document.getElementById('inc-status'); s.value = 'false_positive'; s.dispatchEvent(new Event('change')); return ''; })()`)
	b.waitJS("the suppression offer", `!document.querySelector('.fp-offer').hidden && document.querySelector('.fp-offer pre').textContent.includes('suppressions:')`)
	b.eval(`document.getElementById('inc-assignee').value = ''`)
	b.do("triage", chromedp.SendKeys("#inc-assignee", "ana"),
		chromedp.SendKeys("#inc-comment", "benign: fleet manager's scheduled run"), chromedp.Click(`//button[text()="Save"]`))
	b.waitJS("saved", `!!document.querySelector('.triage .ok')`)
	b.shot("06-incident-triaged")
	b.do("reload", chromedp.Reload())
	b.waitJS("the incident after the reload", `!!document.querySelector('#inc-status') && document.querySelectorAll('ol.history li').length > 0`)
	if st := b.eval(`document.getElementById('inc-status').value`); st != "false_positive" {
		t.Errorf("after a reload the status is %q", st)
	}
	if who := b.eval(`document.getElementById('inc-assignee').value`); who != "ana" {
		t.Errorf("after a reload the assignee is %q", who)
	}
	if h := b.eval(`document.querySelector('ol.history').textContent`); !strings.Contains(h, "benign: fleet manager's scheduled run") {
		t.Errorf("the comment is not in the history: %q", h)
	}

	// The dark theme, on the same page.
	b.waitJS("the timeline and map after the reload", `!!document.querySelector('table.timeline tr.evidence') && !!document.querySelector('figure.map svg')`)
	b.do("dark theme", chromedp.Click("#theme"))
	b.waitJS("the dark theme", `document.documentElement.dataset.theme === 'dark'`)
	b.shot("07-incident-dark")
	b.do("light theme", chromedp.Click("#theme"))

	// The vehicle.
	vin := target["entities"].(map[string]any)["vehicle"].(string)
	b.do("open the vehicle", chromedp.Click(fmt.Sprintf(`.inc-head a[href*=%q]`, "/"+vin)))
	b.waitJS("the twin", `location.hash.startsWith('#/vehicles/') && !!document.querySelector('#h-twin + dl') && !!document.querySelector('table.timeline')`)
	b.waitJS("the vehicle's track", `!!document.querySelector('figure.map svg .track path')`)
	b.shot("08-vehicle")

	// A vehicle that drove: its track is a line.
	mover := movingVehicle(t, stream)
	b.do("a moving vehicle", chromedp.Navigate(base+"/console/#/vehicles/"+mover))
	b.waitJS("a driven track", `(document.querySelector('figure.map svg .track path')?.getAttribute('d').split('L').length || 0) > 10`)
	b.shot("09-vehicle-moving")

	// An attacked account: what detection holds about it, from an alert's
	// entity link.
	var account, accTenant string
	for _, a := range ts.allAlerts(t, analyst, "category=credential-attack") {
		if acc, ok := a["entities"].(map[string]any)["account"].(string); ok {
			account, accTenant = acc, a["tenant"].(string)
			break
		}
	}
	if account == "" {
		t.Fatal("no credential alert naming an account")
	}
	b.do("the account's alerts", chromedp.Navigate(base+"/console/#/alerts?"+url.Values{"kind": {"account"}, "entity": {account}, "status": {"any"}}.Encode()))
	b.waitJS("an alert of the account", `document.querySelectorAll('main tbody tr').length > 0`)
	link := "#/principals/" + url.PathEscape(accTenant) + "/account/" + url.PathEscape(account)
	b.do("open the account from its alert", chromedp.Click(fmt.Sprintf(`main td.ents a[href=%q]`, link)))
	b.waitJS("the account's state", `document.querySelector('h1')?.textContent.startsWith('Account ') && !!document.querySelector('#h-pstate ~ dl') && [...document.querySelectorAll('main h3')].some((h) => h.textContent === 'Recent failures') && !!document.querySelector('table.timeline')`)
	b.shot("09b-account")

	// Detectors and incidents.
	b.do("detectors", chromedp.Click(`#nav a[href="#/detectors"]`))
	b.waitJS("the detector table", `document.querySelectorAll('main tbody tr').length > 5`)
	// Each detector shows the events it saw; some alerted and say when; the rules are listed with their cost.
	b.waitJS("detector counters", `(() => { const t = [...document.querySelectorAll('main table')].find((t) => t.caption?.textContent === 'Built-in detectors'); return !!t && [...t.tBodies[0].rows].some((tr) => tr.cells.length >= 8 && tr.cells[4].textContent !== '0' && !tr.cells[7].textContent.includes('never')); })()`)
	b.waitJS("the rules table", `(() => { const t = [...document.querySelectorAll('main table')].find((t) => t.caption?.textContent === 'Rules, slowest first'); return !!t && t.tBodies[0].rows.length > 5; })()`)
	b.shot("10-detectors")
	b.do("incidents", chromedp.Click(`#nav a[href="#/incidents"]`))
	b.waitJS("the incident list", `document.querySelectorAll('main tbody tr').length > 0`)
	b.shot("11-incidents")

	// A narrow screen.
	b.do("narrow", chromedp.EmulateViewport(390, 844), chromedp.Navigate(base+"/console/#/alerts"))
	b.waitJS("alert rows on a narrow screen", `document.querySelectorAll('#alert-table tbody tr').length > 0`)
	if w := b.eval(`String(document.documentElement.scrollWidth)`); w != "390" {
		t.Errorf("on a 390 px screen the page is %s px wide (only the tables may scroll)", w)
	}
	b.shot("12-alerts-narrow")

	b.do("wide again", chromedp.EmulateViewport(1280, 800))

	// Live: the queue is open, events arrive, and the new alerts slide in
	// without a reload, announced to screen readers.
	b.do("the queue, live", chromedp.Navigate(base+"/console/#/alerts?status=any"))
	b.waitJS("the live stream", `document.getElementById('live-state')?.dataset.state === 'live' && document.querySelectorAll('#alert-table tbody tr').length > 5`)
	b.eval(`window.vigilNotReloaded = true, ''`)
	ts.post(t, ingest, attackLater(t, 31, "fleet-live"), 2000)
	b.waitJS("a live alert in the queue", `!!document.querySelector('#alert-table tbody tr.fresh') && [...document.querySelectorAll('#alert-table tbody tr.fresh')].some(tr => tr.textContent.includes('fleet-live'))`)
	if b.eval(`String(window.vigilNotReloaded === true)`) != "true" {
		t.Error("the queue reloaded the page to show the new alert")
	}
	b.waitJS("the announcement", `/new .*alert/i.test(document.getElementById('live').textContent)`)
	b.shot("13-alerts-live")

	// The overview follows too.
	b.do("the overview, live", chromedp.Click(`#nav a[href="#/overview"]`))
	b.waitJS("the overview's stream", `document.getElementById('live-state')?.dataset.state === 'live' && document.querySelectorAll('#latest li').length > 0`)
	ts.post(t, ingest, attackLater(t, 32, "fleet-live-2"), 2000)
	b.waitJS("a live alert on the overview", `[...document.querySelectorAll('#latest li.fresh')].some(li => li.textContent.includes('fleet-live-2'))`)
	b.shot("14-overview-live")

	// Settings as an analyst: tenants, roles and sinks, no keys nor
	// users, the form to change the password.
	b.do("settings", chromedp.Click(`#nav a[href="#/settings"]`))
	b.waitJS("the settings", `document.querySelectorAll('.tenant-list li').length > 0 && document.querySelectorAll('table.roles tbody tr').length === 5`)
	if b.eval(`String(!!document.getElementById('keys') || !!document.getElementById('users'))`) != "false" {
		t.Error("an analyst sees the API keys or users section")
	}
	if b.eval(`String(!!document.getElementById('pw-current'))`) != "true" {
		t.Error("a signed-in user has no form to change the password")
	}
	if s := b.eval(`document.querySelector('[aria-labelledby="h-sinks"]').textContent`); !strings.Contains(s, "Only an admin sees the outbound sinks") {
		t.Errorf("the sinks section says %q", s)
	}
	b.shot("15-settings-analyst")

	// An admin creates a viewer key: the secret is shown once and works.
	admin := ts.key(t, "admin", "*")
	b.signIn(admin)
	b.do("settings as admin", chromedp.Navigate(base+"/console/#/settings"))
	b.waitJS("the key list", `document.querySelectorAll('#key-table tbody tr[data-id]').length >= 3`)
	b.do("a new key", chromedp.SendKeys("#key-name", "SOC wallboard"), chromedp.Click("#key-scope-some"),
		chromedp.SendKeys("#key-tenants", "fleet-a"), chromedp.Click(`//button[text()="Create key"]`))
	b.waitJS("the secret, once", `(document.getElementById('new-secret')?.value || '').startsWith('vgl_') && !document.getElementById('new-key').hidden`)
	b.do("copy", chromedp.Click("#copy-secret"))
	b.shot("16-settings-key-created")
	secret := b.eval(`document.getElementById('new-secret').value`)
	newID := strings.Split(secret, "_")[1]
	var me struct {
		Role    string   `json:"role"`
		Tenants []string `json:"tenants"`
		Name    string   `json:"name"`
	}
	if code := ts.callLoose(t, "/v1/me", secret, &me); code != 200 || me.Role != "viewer" || me.Name != "SOC wallboard" || len(me.Tenants) != 1 || me.Tenants[0] != "fleet-a" {
		t.Fatalf("the created key: %d %+v", code, me)
	}
	b.waitJS("the new key listed", fmt.Sprintf(`!!document.querySelector('#key-table tr[data-id=%q]')`, newID))

	// The viewer: no triage in the queue nor on an incident.
	b.signIn(secret)
	b.do("the queue as a viewer", chromedp.Navigate(base+"/console/#/alerts?status=any"))
	b.waitJS("the read-only queue", `document.querySelectorAll('#alert-table tbody tr').length > 0 && !document.getElementById('read-only').hidden && document.querySelector('.bulk').hidden`)
	if n := b.eval(`String([...document.querySelectorAll('#alert-table tbody tr')].filter(tr => !tr.textContent.includes('fleet-a')).length)`); n != "0" {
		t.Errorf("a fleet-a viewer sees %s alerts of other tenants", n)
	}
	b.shot("17-alerts-viewer")
	b.clickRow("an incident as a viewer", `#alert-table tbody tr a[href^="#/incidents/"]`)
	b.waitJS("the read-only triage", `location.hash.startsWith('#/incidents/') && !!document.querySelector('.triage #read-only') && !document.getElementById('inc-status')`)

	// Back as the admin: revoke it, with a confirmation; it stops at once.
	b.signIn(admin)
	b.do("settings again", chromedp.Navigate(base+"/console/#/settings"))
	b.waitJS("the key row", fmt.Sprintf(`!!document.querySelector('#key-table tr[data-id=%q] button.danger')`, newID))
	b.clickRow("revoke", fmt.Sprintf(`#key-table tr[data-id=%q] button.danger`, newID))
	b.waitJS("the confirmation", `!!document.querySelector('tr.confirm:not([hidden]) .confirm-box')`)
	b.shot("18-settings-revoke-confirm")
	b.do("confirm", chromedp.Click(`//button[text()="Revoke key"]`))
	b.waitJS("the key gone", fmt.Sprintf(`!document.querySelector('#key-table tr[data-id=%q]') && !!document.querySelector('#keys .feedback .ok')`, newID))
	if code, _ := rawCall(t, ts.base+"/v1/me", secret); code != 401 {
		t.Errorf("the revoked key answered %d, want 401", code)
	}
	b.shot("19-settings-revoked")
	b.do("narrow settings", chromedp.EmulateViewport(390, 844), chromedp.Reload())
	b.waitJS("the settings on a narrow screen", `document.querySelectorAll('#key-table tbody tr[data-id]').length > 0`)
	if w := b.eval(`String(document.documentElement.scrollWidth)`); w != "390" {
		t.Errorf("on a 390 px screen the settings page is %s px wide (only the tables may scroll)", w)
	}
	b.shot("20-settings-narrow")

	if p := b.problems(); len(p) > 0 {
		t.Errorf("the page logged exceptions or CSP violations:\n%s", strings.Join(p, "\n"))
	}
	// Refused: the first page's question whether a session holds, and the
	// wrong password. Any other 401 is a request sent without the
	// credential in use, such as a page's loads that went on after it was
	// left and its user signed out.
	if r := b.refused(); len(r) != 2 || !strings.HasSuffix(r[0], "/v1/me") || !strings.HasSuffix(r[1], "/v1/session") {
		t.Errorf("requests refused with 401: %q, want only /v1/me at the start and /v1/session for the wrong password", r)
	}
}

// refused are the addresses of the requests the server answered with 401.
func (b *browser) refused() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, m := range b.logged {
		if m.Source == "network" && strings.Contains(m.Text, "status of 401") {
			out = append(out, m.URL)
		}
	}
	return out
}

// signIn signs out (when signed in) and in again with an API key.
func (b *browser) signIn(key string) {
	b.t.Helper()
	b.signOut()
	b.do("open the key form", chromedp.Click("#key-signin summary"))
	b.do("sign in", chromedp.SendKeys("#key", key), chromedp.Click("#key-submit"))
	b.waitJS("signed in", `location.hash === '#/overview'`)
}

// signInPassword signs out (when signed in) and in again as a user.
func (b *browser) signInPassword(user, password string) {
	b.t.Helper()
	b.signOut()
	b.do("sign in", chromedp.SendKeys("#user", user), chromedp.SendKeys("#password", password), chromedp.Click("#signin-submit"))
	b.waitJS("signed in", `location.hash === '#/overview'`)
}

func (b *browser) signOut() {
	b.t.Helper()
	b.eval(`(() => { const s = document.getElementById('signout'); if (!s.hidden) s.click(); return ''; })()`)
	b.waitJS("the sign-in page", `location.hash.startsWith('#/signin') && !!document.getElementById('user') && !!document.getElementById('key')`)
}

const consolePassword = "tulip lantern orbit 7"

// sessionCookie returns the session cookie's value after checking that
// chromium keeps it with its flags (Secure is accepted on
// http://127.0.0.1, a potentially trustworthy origin) and that the page's
// script cannot read it.
func (b *browser) sessionCookie() string {
	b.t.Helper()
	cookies, err := chromedp.Call(b.ctx, network.GetCookies, network.GetCookiesParams{})
	if err != nil {
		b.t.Fatalf("reading the browser's cookies: %v", err)
	}
	for _, c := range cookies.Cookies {
		if c.Name != "__Host-vigil_session" {
			continue
		}
		if !c.Secure || !c.HTTPOnly || c.SameSite != network.CookieSameSiteStrict || c.Path != "/" || !c.Session {
			b.t.Errorf("the session cookie's flags: secure %v, httpOnly %v, sameSite %q, path %q, session %v", c.Secure, c.HTTPOnly, c.SameSite, c.Path, c.Session)
		}
		if b.eval(`document.cookie`) != "" {
			b.t.Errorf("the page's script sees cookies: %q", b.eval(`document.cookie`))
		}
		if k := b.eval(`sessionStorage.getItem('vigil.apiKey') || ''`); k != "" {
			b.t.Error("an API key is kept in the tab while signed in with a password")
		}
		return c.Value
	}
	b.t.Fatalf("chromium kept no __Host-vigil_session cookie (Secure on http://127.0.0.1 refused?)\npage log:\n%s", b.log())
	return ""
}

// attackLater is a small simulated fleet with a credential attack, two hours
// after the main stream (so its alerts are the newest), as tenant.
func attackLater(t *testing.T, seed int64, tenant string) []byte {
	t.Helper()
	s, err := sim.New(sim.Config{Seed: seed, Vehicles: 20, Tenants: 1, Duration: 2 * time.Hour,
		Start: time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC), Attacks: []alert.Category{alert.CredentialAttack}, AttacksPerCategory: 1})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	var line []byte
	err = s.Run(context.Background(), func(ev *event.Event) error {
		line = append(event.AppendJSON(line[:0], ev), '\n')
		buf.Write(line)
		return nil
	}, func(sim.Label) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	return bytes.ReplaceAll(buf.Bytes(), []byte(`"tenant":"fleet-a"`), []byte(`"tenant":"`+tenant+`"`))
}

// movingVehicle returns "tenant/vin" of the vehicle with the most distinct
// positions in the stream.
func movingVehicle(t *testing.T, stream []byte) string {
	t.Helper()
	places := map[string]map[[2]float64]bool{}
	for _, line := range strings.Split(string(stream), "\n") {
		if !strings.Contains(line, `"vehicle.telemetry"`) {
			continue
		}
		var e struct {
			Tenant, Subject string
			Data            struct{ Position *struct{ Lat, Lon float64 } }
		}
		if json.Unmarshal([]byte(line), &e) != nil || e.Data.Position == nil {
			continue
		}
		k := e.Tenant + "/" + e.Subject
		if places[k] == nil {
			places[k] = map[[2]float64]bool{}
		}
		places[k][[2]float64{e.Data.Position.Lat, e.Data.Position.Lon}] = true
	}
	best := ""
	for k, p := range places {
		if best == "" || len(p) > len(places[best]) || (len(p) == len(places[best]) && k < best) {
			best = k
		}
	}
	if len(places[best]) < 10 {
		t.Fatalf("no vehicle drove in the simulated stream (best %s: %d places)", best, len(places[best]))
	}
	return best
}

func ptr[T any](v T) *T { return &v }

// callLoose is call without the exact-type check (the test reads a few
// fields of larger answers).
func (ts *testServer) callLoose(t *testing.T, path, key string, out any) int {
	t.Helper()
	req, _ := http.NewRequest("GET", ts.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if bytes.Contains(body, []byte(`{"error":`)) {
		// Also after a 200: a handler that fails while it writes.
		t.Fatalf("GET %s: the API answered %d with an error: %s", path, resp.StatusCode, body)
	}
	if resp.StatusCode == 200 {
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
	}
	return resp.StatusCode
}

// TestConsoleUsers drives the console's users and sessions in chromium: an
// admin signs in with a password (the cookie is Secure on plain
// http://127.0.0.1 and out of the script's reach), creates a user (a weak
// password refused first), disables and enables it, resets its password,
// deletes it, changes their own password, survives a reload, signs out,
// and is locked out after five wrong passwords. Each step is checked
// against the API.
func TestConsoleUsers(t *testing.T) {
	shots := os.Getenv("VIGIL_ARTIFACTS")
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, t.TempDir())
	base := consoleServer(t, ts)
	if _, err := ts.srv.auth.CreateUser(context.Background(), "root", "admin", []string{"*"}, consolePassword); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, shots)
	b.do("open the console", chromedp.Navigate(base+"/"), chromedp.WaitVisible("#user"))
	b.shot("21-signin")
	// The API key stays a second way in; a wrong key is refused clearly.
	b.do("the key form", chromedp.Click("#key-signin summary"))
	b.do("wrong key", chromedp.SendKeys("#key", "vgl_0123456789abcdef_notTheRightSecretAtAll"), chromedp.Click("#key-submit"))
	b.waitJS("the key error", `!document.getElementById('key-error').hidden`)
	if msg := b.eval(`document.getElementById('key-error').textContent`); !strings.Contains(msg, "does not know this key") {
		t.Errorf("key sign-in error: %q", msg)
	}
	b.shot("21-signin-key-error")
	b.do("sign in", chromedp.SendKeys("#user", "root"), chromedp.SendKeys("#password", consolePassword), chromedp.Click("#signin-submit"))
	b.waitJS("the overview", `location.hash === '#/overview'`)
	first := b.sessionCookie()

	b.do("settings", chromedp.Navigate(base+"/console/#/settings"))
	b.waitJS("the users", `!!document.querySelector('#user-table tr[data-name="root"]') && document.getElementById('h-you').textContent === 'You'`)

	// A weak password is refused with the server's reason, then a good one.
	b.do("a new user", chromedp.SendKeys("#user-name", "night.shift"), chromedp.SetValue("#user-role", "viewer"),
		chromedp.Click("#user-scope-some"), chromedp.SendKeys("#user-tenants", "fleet-a"), chromedp.SendKeys("#user-password", "Password2024!"),
		chromedp.Click(`//button[text()="Create user"]`))
	b.waitJS("the refusal", `(document.querySelector('#user-feedback .error')?.textContent || '').includes('common passwords') && document.activeElement.id === 'user-password'`)
	b.shot("22-users-weak-password")
	b.eval(`document.getElementById('user-password').value = ''`)
	b.do("a good password", chromedp.SendKeys("#user-password", "granite meadow falcon"), chromedp.Click(`//button[text()="Create user"]`))
	b.waitJS("the new user listed", `!!document.querySelector('#user-table tr[data-name="night.shift"]') && !!document.querySelector('#user-feedback .ok')`)
	b.shot("23-users-created")
	night := ts.signIn(t, "night.shift", "granite meadow falcon")
	if code, _ := ts.rawSession(t, "GET", "/v1/me", night, ""); code != 200 {
		t.Fatalf("the user made in the console cannot use its session: %d", code)
	}

	// Disable: the user's session ends and sign-in is refused; enable.
	b.do("disable", chromedp.Click(`button[aria-label="Disable night.shift"]`))
	b.waitJS("disabled", `(document.querySelector('#user-table tr[data-name="night.shift"] .status')?.textContent) === 'disabled'`)
	if code, _ := ts.rawSession(t, "GET", "/v1/me", night, ""); code != 401 {
		t.Errorf("the disabled user's session answered %d, want 401", code)
	}
	if code := ts.signInCode(t, "night.shift", "granite meadow falcon"); code != 401 {
		t.Errorf("a disabled user signed in: %d", code)
	}
	b.do("enable", chromedp.Click(`button[aria-label="Enable night.shift"]`))
	b.waitJS("enabled", `(document.querySelector('#user-table tr[data-name="night.shift"] .status')?.textContent) === 'active'`)

	// Reset the password.
	b.do("reset", chromedp.Click(`button[aria-label="Reset the password of night.shift"]`))
	b.waitJS("the reset form", `document.activeElement === document.querySelector('tr.reset input[type=password]')`)
	b.do("the new password", chromedp.SendKeys(`tr.reset input[type=password]`, "a fresh set of words"))
	b.shot("24-users-reset")
	b.do("set it", chromedp.Click(`//button[text()="Set password"]`))
	b.waitJS("reset", `(document.querySelector('#user-feedback .ok')?.textContent || '').includes('is reset') && !document.querySelector('tr.reset')`)
	if code := ts.signInCode(t, "night.shift", "granite meadow falcon"); code != 401 {
		t.Errorf("the old password still works: %d", code)
	}
	ts.signIn(t, "night.shift", "a fresh set of words")

	// Delete, with a confirmation.
	b.do("delete", chromedp.Click(`button[aria-label="Delete night.shift"]`))
	b.waitJS("the confirmation", `!!document.querySelector('tr.confirm:not([hidden]) .confirm-box')`)
	b.shot("25-users-delete-confirm")
	b.do("confirm", chromedp.Click(`//button[text()="Delete user"]`))
	b.waitJS("deleted", `!document.querySelector('#user-table tr[data-name="night.shift"]') && (document.querySelector('#user-feedback .ok')?.textContent || '').includes('deleted')`)

	// Change my own password: the session goes on with a new cookie and
	// token; a change right after proves the page took the new token.
	b.do("change my password", chromedp.SendKeys("#pw-current", consolePassword), chromedp.SendKeys("#pw-new", "a brand new passphrase"),
		chromedp.SendKeys("#pw-again", "a brand new passphrase"), chromedp.Click(`//button[text()="Change password"]`))
	b.waitJS("changed", `!!document.querySelector('#pw-feedback .ok')`)
	b.shot("26-password-changed")
	second := b.sessionCookie()
	if second == first {
		t.Error("the session cookie did not change with the password")
	}
	if code, _ := ts.rawSession(t, "GET", "/v1/me", &testSession{cookie: first}, ""); code != 401 {
		t.Errorf("the session from before the password change answered %d, want 401", code)
	}
	b.do("a user after the change", chromedp.SendKeys("#user-name", "after.change"), chromedp.Click("#user-scope-some"),
		chromedp.SendKeys("#user-tenants", "fleet-b"), chromedp.SendKeys("#user-password", "granite meadow falcon"), chromedp.Click(`//button[text()="Create user"]`))
	b.waitJS("created after the change", `!!document.querySelector('#user-table tr[data-name="after.change"]')`)

	// A reload keeps the session (the cookie) and reads the token again.
	b.do("reload", chromedp.Reload())
	b.waitJS("still signed in", `location.hash === '#/settings' && !!document.querySelector('#user-table tr[data-name="after.change"]')`)
	b.do("disable after a reload", chromedp.Click(`button[aria-label="Disable after.change"]`))
	b.waitJS("disabled after a reload", `(document.querySelector('#user-table tr[data-name="after.change"] .status')?.textContent) === 'disabled'`)
	b.do("narrow", chromedp.EmulateViewport(390, 844), chromedp.Reload())
	b.waitJS("the users on a narrow screen", `!!document.querySelector('#user-table tr[data-name="root"]')`)
	if w := b.eval(`String(document.documentElement.scrollWidth)`); w != "390" {
		t.Errorf("on a 390 px screen the settings page is %s px wide", w)
	}
	b.shot("27-users-narrow")
	b.do("wide", chromedp.EmulateViewport(1280, 800))

	// Sign out: the session ends on the server and the cookie goes.
	b.signOut()
	if code, _ := ts.rawSession(t, "GET", "/v1/me", &testSession{cookie: second}, ""); code != 401 {
		t.Errorf("the session answered %d after signing out, want 401", code)
	}
	if c, _ := chromedp.Call(b.ctx, network.GetCookies, network.GetCookiesParams{}); len(c.Cookies) != 0 {
		t.Errorf("cookies left after signing out: %v", c.Cookies)
	}
	b.shot("28-signed-out")

	// Five wrong passwords lock the name: the page says so.
	for range 5 {
		b.eval(`document.getElementById('password').value = ''`)
		b.do("a wrong password", chromedp.SetValue("#user", "root"), chromedp.SendKeys("#password", "not the password at all"), chromedp.Click("#signin-submit"))
		b.waitJS("refused", `!document.getElementById('signin-error').hidden && !document.getElementById('signin-submit').disabled`)
	}
	b.eval(`document.getElementById('password').value = ''`)
	b.do("the right password, too late", chromedp.SendKeys("#password", "a brand new passphrase"), chromedp.Click("#signin-submit"))
	b.waitJS("locked", `/locked for another/.test(document.getElementById('signin-error').textContent)`)
	b.shot("29-signin-locked")

	if p := b.problems(); len(p) > 0 {
		t.Errorf("the page logged exceptions or CSP violations:\n%s", strings.Join(p, "\n"))
	}
}

// signInCode tries a sign-in and returns the status.
func (ts *testServer) signInCode(t *testing.T, user, password string) int {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"user": user, "password": password})
	code, _ := ts.rawWith(t, "POST", "/v1/session", string(b), func(*http.Request) {})
	return code
}
