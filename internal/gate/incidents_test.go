package gate

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/directory"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/store"
	"github.com/vigil-project/vigil/internal/store/sqlite"
	"github.com/vigil-project/vigil/internal/twin"
)

// pausedLister answers from incs, and, while paused is set, holds each call
// until it is closed (a load in flight when an alert is stored).
type pausedLister struct {
	mu       sync.Mutex
	incs     openIncidents
	paused   chan struct{}
	began    chan struct{}
	calls    atomic.Int64 // loads of every open incident
	targeted atomic.Int64 // loads of some incidents by id
}

func (l *pausedLister) ListIncidents(ctx context.Context, s store.Scope, q store.IncidentQuery) (store.IncidentPage, error) {
	if q.IDs != nil {
		l.targeted.Add(1)
	} else {
		l.calls.Add(1)
	}
	l.mu.Lock()
	paused, began, incs := l.paused, l.began, l.incs
	l.mu.Unlock()
	if paused != nil {
		began <- struct{}{}
		<-paused
	}
	return incs.ListIncidents(ctx, s, q)
}

func criticalAlert(id, incident, vehicle, account string, vehicles ...string) store.Alert {
	return store.Alert{Alert: alert.Alert{ID: id, Tenant: "fleet-a", Severity: event.SeverityCritical, Incident: incident,
		Entities: alert.Entities{Vehicle: vehicle, Vehicles: vehicles, Account: account}}}
}

// TestStoredAlertDeniesAtOnce: a critical alert's vehicles and account are
// denied commands as soon as the alert is stored, before any reload; a load
// that began before it keeps them, a load that began after it answers for
// them (the store's word: here, the incident is not open); an erasure of
// the subject removes them.
func TestStoredAlertDeniesAtOnce(t *testing.T) {
	dir := directory.New()
	dir.Link("fleet-a", directory.Account, "acc-9", "V-9", event.RoleOwner)
	dir.Link("fleet-a", directory.Account, "acc-9", "V-10", event.RoleOwner)
	dir.Link("fleet-a", directory.Account, "acc-9", "V-OTHER", event.RoleOwner)
	l := &pausedLister{}
	g, err := New(Options{Directory: dir, Incidents: l, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.loadIncidents(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := codes(ask(t, g, "V-9", "unlock", "acc-9")); got != "allow " {
		t.Fatalf("before the alert: %q", got)
	}
	// Not critical, shadow, or without incident: nothing changes.
	low := criticalAlert("a0", "inc-0", "V-9", "")
	low.Severity = event.SeverityHigh
	shadow := criticalAlert("a1", "inc-1", "V-9", "")
	shadow.Shadow = true
	for _, a := range []store.Alert{low, shadow, criticalAlert("a2", "", "V-9", "")} {
		g.AlertStored(a)
	}
	if got := codes(ask(t, g, "V-9", "unlock", "acc-9")); got != "allow " {
		t.Fatalf("after alerts that are not a critical incident's: %q", got)
	}

	// A load begins, the alert is stored, the load ends without it.
	l.mu.Lock()
	l.paused, l.began = make(chan struct{}), make(chan struct{})
	l.mu.Unlock()
	loaded := make(chan error)
	go func() { loaded <- g.loadIncidents(context.Background()) }()
	<-l.began
	g.AlertStored(criticalAlert("a3", "inc-9", "", "acc-9", "V-10"))
	if got := codes(ask(t, g, "V-OTHER", "unlock", "acc-9")); got != "deny open_incident" {
		t.Errorf("the alert's account, at once: %q", got)
	}
	if got := codes(ask(t, g, "V-10", "unlock", "acc-9")); got != "deny open_incident,open_incident" {
		t.Errorf("the alert's vehicle and account, at once: %q", got)
	}
	l.mu.Lock()
	close(l.paused)
	l.paused = nil
	l.mu.Unlock()
	if err := <-loaded; err != nil {
		t.Fatal(err)
	}
	if got := codes(ask(t, g, "V-10", "unlock", "acc-9")); got != "deny open_incident,open_incident" {
		t.Errorf("after a load that began before the alert: %q", got)
	}
	// The next load is the store's word.
	if err := g.loadIncidents(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := codes(ask(t, g, "V-10", "unlock", "acc-9")); got != "allow " {
		t.Errorf("after a load that began after the alert: %q", got)
	}

	// An erased subject's entry goes with its incidents.
	g.AlertStored(criticalAlert("a4", "inc-10", "V-9", ""))
	if got := codes(ask(t, g, "V-9", "unlock", "acc-9")); got != "deny open_incident" {
		t.Errorf("a second alert: %q", got)
	}
	g.forget(vkey{"fleet-a", "V-9"}, twin.SubjectVehicle)
	if got := codes(ask(t, g, "V-9", "unlock", "acc-9")); got != "allow " {
		t.Errorf("after the vehicle's erasure: %q", got)
	}
}

// TestStoredAlertsCoalesceReloads: a burst of critical alerts takes effect
// at once, reads their incidents at most every kickLoadEvery and never
// makes the gate reload every open incident.
func TestStoredAlertsCoalesceReloads(t *testing.T) {
	l := &pausedLister{}
	g, stop := runGate(t, Options{Incidents: l, Config: Config{Links: LinksConfig{TrustWithoutDirectory: true}},
		Now: func() time.Time { return now }})
	start := time.Now()
	for i := range 200 {
		g.AlertStored(criticalAlert("a", "inc", "V-BURST", ""))
		if i%2 == 0 {
			time.Sleep(5 * time.Millisecond) // a burst of about a second
		}
	}
	if got := codes(ask(t, g, "V-BURST", "unlock", "anyone")); got != "deny open_incident" {
		t.Errorf("during the burst: %q", got)
	}
	time.Sleep(2 * kickLoadEvery)
	elapsed := time.Since(start)
	stop()
	// The first load, then one per refresh, and the one in flight.
	if n, limit := l.calls.Load(), 1+int64(elapsed/time.Second)+1; n > limit {
		t.Errorf("%d loads of every open incident in %v: want at most %d", n, elapsed, limit)
	}
	// One read of the alerts' incidents per kickLoadEvery begun, and the
	// one in flight.
	if n, limit := l.targeted.Load(), int64(elapsed/kickLoadEvery)+2; n == 0 || n > limit {
		t.Errorf("%d reads of the alerts' incidents in %v: want 1 to %d", n, elapsed, limit)
	}
}

// TestStoredAlertBringsItsIncident: a critical alert's incident is read at
// once, alone, for the entities earlier alerts of it named (an account, a
// second vehicle): they are denied long before the next reload of every
// open incident. An erasure reloads them all.
func TestStoredAlertBringsItsIncident(t *testing.T) {
	l := &pausedLister{}
	g, stop := runGate(t, Options{Incidents: l, Config: Config{Links: LinksConfig{TrustWithoutDirectory: true},
		Incidents: IncidentsConfig{Refresh: time.Hour}}, Now: func() time.Time { return now }})
	defer stop()
	if got := codes(ask(t, g, "V-2", "unlock", "acc-7")); got != "allow " {
		t.Fatalf("before the incident: %q", got)
	}
	l.mu.Lock()
	l.incs = openIncidents{{ID: "inc-9", Tenant: "fleet-a", Severity: event.SeverityCritical, Status: store.StatusAcknowledged,
		Entities: []store.Entity{{Kind: store.EntityAccount, Value: "acc-7"}, {Kind: store.EntityIP, Value: "192.0.2.7"},
			{Kind: store.EntityVehicle, Value: "V-1"}, {Kind: store.EntityVehicle, Value: "V-2"}}}}
	l.mu.Unlock()
	g.AlertStored(criticalAlert("a9", "inc-9", "V-1", ""))
	if got := codes(ask(t, g, "V-1", "unlock", "anyone")); got != "deny open_incident" {
		t.Errorf("the alert's vehicle, at once: %q", got)
	}
	// Watched in the index, not by asking: asks count against rate limits.
	deadline := time.Now().Add(10 * time.Second)
	indexed := func() bool {
		_, ok := g.incidents.Load().find("fleet-a", store.EntityAccount, "acc-7")
		return ok
	}
	for !indexed() {
		if time.Now().After(deadline) {
			t.Fatal("the incident's account is not in the index 10 s after its alert")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := codes(ask(t, g, "V-2", "unlock", "acc-7")); got != "deny open_incident,open_incident" {
		t.Errorf("the incident's other vehicle and account: %q", got)
	}
	// Resolved meanwhile: a late alert of it denies at once, until its
	// incident, read again, is not open any more.
	l.mu.Lock()
	l.incs = nil
	l.mu.Unlock()
	g.AlertStored(criticalAlert("a10", "inc-9", "V-1", ""))
	for indexed() {
		if time.Now().After(deadline) {
			t.Fatal("a resolved incident's entries are still in the index")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := codes(ask(t, g, "V-1", "unlock", "acc-7")); got != "allow " {
		t.Errorf("after its incident was read resolved: %q", got)
	}
	if n := l.calls.Load(); n != 1 {
		t.Errorf("%d loads of every open incident, want the first alone", n)
	}
	// An erasure (here of another vehicle) reloads every open incident.
	g.forget(vkey{"fleet-a", "V-3"}, twin.SubjectVehicle)
	for l.calls.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatal("no reload of every open incident after an erasure")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// runGate builds a gate, runs it until it is ready, and returns it with a
// stop that ends Run and checks its error.
func runGate(t *testing.T, o Options) (*Gate, func()) {
	t.Helper()
	g, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- g.Run(ctx) }()
	for !g.Ready() {
		time.Sleep(time.Millisecond)
	}
	return g, func() {
		t.Helper()
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

// TestCriticalAlertOnAResolvedIncident: the alert manager groups a new
// critical alert into an incident an analyst has resolved; the store
// reopens it, so the gate's read by id finds it open and goes on denying.
func TestCriticalAlertOnAResolvedIncident(t *testing.T) {
	ctx := context.Background()
	// The analyst resolves the incident half an hour before now.
	db, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{Now: func() time.Time { return now.Add(-30 * time.Minute) }})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mk := func(id string, at time.Time) *alert.Alert {
		return &alert.Alert{ID: id, Tenant: "fleet-a", Detector: "cmd.unlinked-principal", Category: alert.UnauthorizedCommand,
			Severity: event.SeverityCritical, FirstSeen: at.UnixNano(), LastSeen: at.UnixNano(), Title: "unlinked principal",
			Entities: alert.Entities{Vehicle: "V-1", Account: "acc-1"}}
	}
	inc := &alert.Incident{ID: "inc-1", Tenant: "fleet-a", FirstSeen: now.Add(-time.Hour).UnixNano(), LastSeen: now.Add(-time.Hour).UnixNano(),
		Severity: event.SeverityCritical, Categories: []alert.Category{alert.UnauthorizedCommand}}
	first := mk("al-1", now.Add(-time.Hour))
	if _, err := db.UpsertAlerts(ctx, store.AllTenants(), []*alert.Alert{first}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.UpsertIncidents(ctx, store.AllTenants(), []store.Incident{store.IncidentUpsert(inc, first)}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.UpdateIncident(ctx, store.AllTenants(), store.IncidentChange{ID: "inc-1", Actor: "analyst", Status: store.StatusResolved}); err != nil {
		t.Fatal(err)
	}
	g, err := New(Options{Config: Config{Links: LinksConfig{TrustWithoutDirectory: true}}, Incidents: db, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.loadIncidents(ctx); err != nil {
		t.Fatal(err)
	}
	if got := codes(ask(t, g, "V-1", "unlock", "acc-1")); got != "allow " {
		t.Fatalf("resolved incident: %q", got)
	}
	// The processor stores the new alert with its incident, then tells the gate.
	second := mk("al-2", now.Add(-time.Minute))
	second.Incident, inc.LastSeen = "inc-1", second.LastSeen
	if _, err := db.UpsertAlerts(ctx, store.AllTenants(), []*alert.Alert{second}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.UpsertIncidents(ctx, store.AllTenants(), []store.Incident{store.IncidentUpsert(inc, second)}); err != nil {
		t.Fatal(err)
	}
	g.AlertStored(store.Alert{Alert: *second})
	if got := codes(ask(t, g, "V-1", "unlock", "acc-1")); got != "deny open_incident,open_incident" {
		t.Errorf("right after the alert was stored: %q", got)
	}
	if _, err := g.loadKicked(ctx); err != nil {
		t.Fatal(err)
	}
	if err := g.loadIncidents(ctx); err != nil {
		t.Fatal(err)
	}
	if got := codes(ask(t, g, "V-1", "unlock", "acc-1")); got != "deny open_incident,open_incident" {
		t.Errorf("after the gate read the incident again: %q", got)
	}
}

// TestTooManyOpenIncidents: max_open bounds each tenant's open critical
// incidents, so one tenant's flood cannot push another's out of the index;
// a tenant over the bound, or every tenant when a load stops at its bound
// on rows, gets 503 rather than a decision the gate cannot make.
func TestTooManyOpenIncidents(t *testing.T) {
	crit := func(tenant, id, vehicle string) store.Incident {
		return store.Incident{ID: id, Tenant: tenant, Severity: event.SeverityCritical, Status: store.StatusNew,
			Entities: []store.Entity{{Kind: store.EntityVehicle, Value: vehicle}}}
	}
	// The flood is newest, so it comes first.
	var incs openIncidents
	for i := range 5 {
		incs = append(incs, crit("tenant-b", fmt.Sprintf("inc-b%d", i), fmt.Sprintf("VB-%d", i)))
	}
	incs = append(incs, crit("fleet-a", "inc-a", "V-A"))
	post := func(g *Gate, tenant, vehicle string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		body := fmt.Sprintf(`{"tenant":%q,"vehicle":%q,"command":"unlock","actor":{"account":"acc-1"}}`, tenant, vehicle)
		g.DecideHandler(nil).ServeHTTP(w, httptest.NewRequest("POST", "/v1/gate", strings.NewReader(body)))
		return w
	}
	cfg := Config{Links: LinksConfig{TrustWithoutDirectory: true}, Incidents: IncidentsConfig{MaxOpen: 3}}
	g, stop := runGate(t, Options{Config: cfg, Incidents: incs, Now: func() time.Time { return now }})
	if w := post(g, "fleet-a", "V-A"); w.Code != 200 || !strings.Contains(w.Body.String(), `"code":"open_incident"`) {
		t.Errorf("the other tenant's vehicle under an open critical incident: %d %s", w.Code, w.Body)
	}
	for _, v := range []string{"VB-0", "VB-4", "VB-OTHER"} {
		if w := post(g, "tenant-b", v); w.Code != 503 || w.Header().Get("Retry-After") == "" ||
			!strings.Contains(w.Body.String(), `tenant \"tenant-b\" has more than 3 open critical incidents`) {
			t.Errorf("tenant-b, over its bound, %s: %d %s", v, w.Code, w.Body)
		}
	}
	stop()
	// A load reads at most ten times max_open rows: past them, it cannot
	// know any tenant's.
	cfg.Incidents.MaxOpen = 1
	for i := range 10 {
		incs = append(incs, crit(fmt.Sprintf("tenant-%d", i), fmt.Sprintf("inc-%d", i), "V"))
	}
	g, stop = runGate(t, Options{Config: cfg, Incidents: incs, Now: func() time.Time { return now }})
	defer stop()
	if w := post(g, "fleet-a", "V-NONE"); w.Code != 503 || !strings.Contains(w.Body.String(), "more than the gate reads (10)") {
		t.Errorf("a load that stopped at its bound: %d %s", w.Code, w.Body)
	}
}

// TestStoredAlertsBoundedPerTenant: the entries stored critical alerts add
// are bounded per tenant too: one tenant's flood does not keep another's
// first critical alert from denying at once, and the flooding tenant past
// its bound is answered 503 until a full load reads its incidents.
func TestStoredAlertsBoundedPerTenant(t *testing.T) {
	dir := directory.New()
	dir.Link("fleet-a", directory.Account, "acc-b", "V-B", event.RoleOwner)
	g, err := New(Options{Config: Config{Incidents: IncidentsConfig{MaxOpen: 2}}, Directory: dir, Incidents: openIncidents{}, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.loadIncidents(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		a := criticalAlert(fmt.Sprintf("ax-%d", i), fmt.Sprintf("inc-x%d", i), fmt.Sprintf("X-%d", i), "")
		a.Tenant = "fleet-x"
		g.AlertStored(a)
	}
	// One incident naming more entities than max_open is one incident.
	g.AlertStored(criticalAlert("ab", "inc-b", "V-B", "acc-b", "V-C1", "V-C2", "V-C3"))
	if why := g.incidents.Load().blind("fleet-a", 2); why != "" {
		t.Errorf("fleet-a blind: %s", why)
	}
	if got := codes(ask(t, g, "V-C3", "unlock", "acc-b")); !strings.HasPrefix(got, "deny open_incident") {
		t.Errorf("a vehicle the campaign's incident names: %q", got)
	}
	if got := codes(ask(t, g, "V-B", "unlock", "acc-b")); got != "deny open_incident,open_incident" {
		t.Errorf("fleet-a's vehicle right after its critical alert was stored: %q", got)
	}
	if why := g.incidents.Load().blind("fleet-x", 2); !strings.Contains(why, `tenant "fleet-x" has more than 2 open critical incidents`) {
		t.Errorf("fleet-x past its bound: %q", why)
	}
	// A full load that began after reads the store's word (here: none open).
	if err := g.loadIncidents(context.Background()); err != nil {
		t.Fatal(err)
	}
	if why := g.incidents.Load().blind("fleet-x", 2); why != "" {
		t.Errorf("fleet-x after a full load: %q", why)
	}
}
