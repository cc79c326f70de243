package gate

import (
	"context"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/detect/takeover"
	"github.com/vigil-project/vigil/internal/directory"
	"github.com/vigil-project/vigil/internal/engine"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/store"
	"github.com/vigil-project/vigil/internal/twin"
)

// openIncidents is a store's answer with the given open critical
// incidents (the decision logic reads the gate's index, never the store).
type openIncidents []store.Incident

func (o openIncidents) ListIncidents(_ context.Context, _ store.Scope, q store.IncidentQuery) (store.IncidentPage, error) {
	if q.IDs == nil {
		return store.IncidentPage{Incidents: o}, nil
	}
	var page store.IncidentPage
	for _, inc := range o {
		if slices.Contains(q.IDs, inc.ID) {
			page.Incidents = append(page.Incidents, inc)
		}
	}
	return page, nil
}

var now = time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC)

// newTestGate builds a gate whose clock is now, loads its incidents and
// runs an engine with the takeover detector and the gate's observer over
// events (NDJSON lines, times relative to now as Go durations in the
// "time" attribute, e.g. "-5s").
func newTestGate(t testing.TB, cfg Config, dir *directory.Directory, incs openIncidents, events ...string) *Gate {
	t.Helper()
	g, err := New(Options{Config: cfg, Directory: dir, Incidents: incs, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.loadIncidents(context.Background()); err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(engine.Options{Detectors: []detect.Detector{takeover.New(detect.PerTenant[takeover.Config]{}), g.Observer()}})
	if err != nil {
		t.Fatal(err)
	}
	push(t, eng, events...)
	eng.Close() // every timer fires: the observer copies what is pending
	return g
}

// push decodes events (NDJSON lines, times relative to now as Go durations
// in the "time" attribute, e.g. "-5s") into eng.
func push(t testing.TB, eng *engine.Engine, events ...string) {
	t.Helper()
	dec := event.NewDecoder(event.Limits{})
	for i, l := range events {
		// "time":"-5s" → an RFC 3339 time 5 s before now.
		if a, b, ok := strings.Cut(l, `"time":"`); ok {
			d, rest, _ := strings.Cut(b, `"`)
			off, err := time.ParseDuration(d)
			if err != nil {
				t.Fatalf("event %d: time %q", i, d)
			}
			l = a + `"time":"` + now.Add(off).Format(time.RFC3339Nano) + `"` + rest
		}
		ev, err := dec.Decode([]byte(l))
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		eng.Push(ev)
	}
}

func ev(typ, subject, time, data string) string {
	s := ""
	if subject != "" {
		s = `"subject":"` + subject + `",`
	}
	h := fnv.New64a()
	h.Write([]byte(typ + subject + time + data))
	return fmt.Sprintf(`{"specversion":"1.0","id":"%x","source":"tsp/test","type":%q,"time":%q,%s"tenant":"fleet-a","data":%s}`,
		h.Sum64(), typ, time, s, data)
}

func link(account, vehicle, change, time string) string {
	return ev("account.change", vehicle, time, fmt.Sprintf(`{"actor":{"account":%q},"account":%q,"change":%q,"vehicle":%q}`, account, account, change, vehicle))
}

func fix(vehicle string, speed float64, lv, time string) string {
	return ev("vehicle.telemetry", vehicle, time, fmt.Sprintf(`{"position":{"lat":48.1,"lon":11.5},"speed":%g,"signals":{"Vehicle.LowVoltageSystemState":%q}}`, speed, lv))
}

func ask(t testing.TB, g *Gate, vehicle, command, account string) Decision {
	t.Helper()
	body := fmt.Sprintf(`{"tenant":"fleet-a","vehicle":%q,"command":%q,"actor":{"account":%q,"device":"dev-1"}}`, vehicle, command, account)
	if strings.HasPrefix(account, "client:") {
		body = fmt.Sprintf(`{"tenant":"fleet-a","vehicle":%q,"command":%q,"actor":{"client_id":%q}}`, vehicle, command, strings.TrimPrefix(account, "client:"))
	}
	p, err := decodeRequest([]byte(body), newNames())
	if err != nil {
		t.Fatal(err)
	}
	return g.decide(p, now)
}

func codes(d Decision) string {
	var out []string
	for _, r := range d.Reasons {
		out = append(out, r.Code)
	}
	return d.Decision + " " + strings.Join(out, ",")
}

func TestDecide(t *testing.T) {
	dir := directory.New()
	dir.Link("fleet-a", directory.Account, "owner-d", "V-DIR", event.RoleOwner)
	dir.Link("fleet-a", directory.Account, "fm-1", "V-FLEET", event.RoleFleetManager)
	dir.Link("fleet-a", directory.Account, "old-owner", "V-SOLD", event.RoleOwner)
	dir.Link("fleet-a", directory.Account, "staff-1", "", event.RoleStaff)
	dir.Link("fleet-a", directory.Client, "partner-1", "V-DIR", event.RoleThirdParty)
	incs := openIncidents{{ID: "inc-1", Tenant: "fleet-a", Severity: event.SeverityCritical, Status: store.StatusNew,
		Entities: []store.Entity{{Kind: store.EntityVehicle, Value: "V-INC"}, {Kind: store.EntityAccount, Value: "acc-inc"}}}}
	g := newTestGate(t, Config{}, dir, incs,
		link("acc-1", "V-1", "vehicle_linked", "-1h"),
		fix("V-MOVE", 80, "ON", "-10s"),
		link("acc-1", "V-MOVE", "vehicle_linked", "-1h"),
		fix("V-TUNNEL", 60, "ON", "-6m"), // a tunnel: no fix for 6 minutes, ignition on
		link("acc-1", "V-TUNNEL", "vehicle_linked", "-1h"),
		fix("V-PARKED-OLD", 60, "OFF", "-6m"), // moving 6 minutes ago, ignition off since
		link("acc-1", "V-PARKED-OLD", "vehicle_linked", "-1h"),
		fix("V-STOPPED", 70, "ON", "-30s"),
		fix("V-STOPPED", 0, "ON", "-5s"), // the newest fix shows it stopped
		link("acc-1", "V-STOPPED", "vehicle_linked", "-1h"),
		link("acc-gone", "V-1", "vehicle_linked", "-3h"),
		link("acc-gone", "V-1", "vehicle_unlinked", "-2h"),
		link("new-owner", "V-SOLD", "ownership_transfer", "-1h"),
		link("acc-inc", "V-INC", "vehicle_linked", "-1h"),
		link("acc-ato", "V-ATO", "vehicle_linked", "-2h"),
		ev("account.change", "", "-10m", `{"actor":{"account":"acc-ato","ip":"198.51.100.9"},"account":"acc-ato","change":"email","confirmed_by_previous_contact":false}`),
		ev("account.change", "", "-5m", `{"actor":{"account":"acc-ato","device":"dev-new"},"account":"acc-ato","change":"device_registered"}`),
		link("acc-old-ato", "V-ATO", "vehicle_linked", "-3h"),
		ev("account.change", "", "-2h", `{"actor":{"account":"acc-old-ato"},"account":"acc-old-ato","change":"phone"}`),
		ev("account.change", "", "-119m", `{"actor":{"account":"acc-old-ato","device":"d"},"account":"acc-old-ato","change":"device_registered"}`),
		link("acc-conf", "V-ATO", "vehicle_linked", "-3h"),
		ev("account.change", "", "-10m", `{"actor":{"account":"acc-conf"},"account":"acc-conf","change":"email","confirmed_by_previous_contact":true}`),
		ev("account.change", "", "-5m", `{"actor":{"account":"acc-conf","device":"dev-2"},"account":"acc-conf","change":"device_registered"}`),
	)
	for _, c := range []struct {
		name, vehicle, command, account, want string
	}{
		{"owner linked by an account change", "V-1", "unlock", "acc-1", "allow "},
		{"owner in the directory", "V-DIR", "unlock", "owner-d", "allow "},
		{"fleet manager of the vehicle", "V-FLEET", "lock", "fm-1", "allow "},
		{"fleet manager of another vehicle", "V-DIR", "lock", "fm-1", "deny not_linked"},
		{"staff may act on any vehicle", "V-DIR", "locate", "staff-1", "allow "},
		{"API client in the directory", "V-DIR", "locate", "client:partner-1", "allow "},
		{"API client not linked", "V-1", "locate", "client:partner-1", "deny not_linked"},
		{"unknown account", "V-1", "unlock", "mallory", "deny not_linked"},
		{"unlinked account", "V-1", "unlock", "acc-gone", "deny unlinked"},
		{"previous owner still in the directory", "V-SOLD", "unlock", "old-owner", "deny ownership_transferred"},
		{"new owner", "V-SOLD", "unlock", "new-owner", "allow "},
		{"engine stop while moving", "V-MOVE", "engine_stop", "acc-1", "deny moving"},
		{"immobilize while moving", "V-MOVE", "immobilize", "acc-1", "deny moving"},
		{"unlock while moving is no safety matter", "V-MOVE", "unlock", "acc-1", "allow "},
		{"engine stop in a tunnel", "V-TUNNEL", "engine_stop", "acc-1", "deny moving"},
		{"engine stop after the ignition went off", "V-PARKED-OLD", "engine_stop", "acc-1", "allow "},
		{"engine stop of a stopped vehicle", "V-STOPPED", "engine_stop", "acc-1", "allow "},
		{"not linked and moving", "V-MOVE", "engine_stop", "mallory", "deny moving,not_linked"},
		{"open incident on the vehicle and the account", "V-INC", "unlock", "acc-inc", "deny open_incident,open_incident"},
		{"open incident on the vehicle", "V-INC", "lock", "staff-1", "deny open_incident"},
		{"contact change and new device", "V-ATO", "unlock", "acc-ato", "step_up recent_account_change"},
		{"steps too old", "V-ATO", "unlock", "acc-old-ato", "allow "},
		{"confirmed change", "V-ATO", "unlock", "acc-conf", "allow "},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := ask(t, g, c.vehicle, c.command, c.account)
			if got := codes(d); got != c.want {
				t.Errorf("got %q, want %q: %v", got, c.want, d.Reasons)
			}
			if d.DecisionID == "" || d.DecidedAt != now.Format(time.RFC3339Nano) {
				t.Errorf("decision id %q, time %q", d.DecisionID, d.DecidedAt)
			}
		})
	}
	// The takeover detector forgets the steps once it has told them, in an
	// alert on the account's first command after them. That alert is
	// critical only when the previous contact refused the change, and its
	// incident denies only once stored: the gate goes on asking for a
	// step-up while the steps are in the window, whatever the alert.
	for _, confirmed := range []string{`,"confirmed_by_previous_contact":false`, ""} {
		g2 := newTestGate(t, Config{}, nil, nil,
			link("acc-ato", "V-ATO", "vehicle_linked", "-2h"),
			ev("account.change", "", "-10m", `{"actor":{"account":"acc-ato"},"account":"acc-ato","change":"email"`+confirmed+`}`),
			ev("account.change", "", "-5m", `{"actor":{"account":"acc-ato","device":"dev-new"},"account":"acc-ato","change":"device_registered"}`),
			ev("vehicle.command", "V-ATO", "-1m", `{"command_id":"c1","command":"unlock","stage":"requested","channel":"app","actor":{"account":"acc-ato","device":"dev-new"}}`),
			ev("vehicle.command", "V-ATO", "-30s", `{"command_id":"c2","command":"lock","stage":"requested","channel":"app","actor":{"account":"acc-ato","device":"dev-new"}}`))
		if got := codes(ask(t, g2, "V-ATO", "unlock", "acc-ato")); got != "step_up recent_account_change" {
			t.Errorf("after the takeover alert (change%s): %q", confirmed, got)
		}
	}
	// Steps told half an hour ago and more have left the window.
	g3 := newTestGate(t, Config{}, nil, nil,
		link("acc-ato", "V-ATO", "vehicle_linked", "-3h"),
		ev("account.change", "", "-50m", `{"actor":{"account":"acc-ato"},"account":"acc-ato","change":"email"}`),
		ev("account.change", "", "-40m", `{"actor":{"account":"acc-ato","device":"dev-new"},"account":"acc-ato","change":"device_registered"}`),
		ev("vehicle.command", "V-ATO", "-39m", `{"command_id":"c1","command":"unlock","stage":"requested","channel":"app","actor":{"account":"acc-ato","device":"dev-new"}}`))
	if got := codes(ask(t, g3, "V-ATO", "unlock", "acc-ato")); got != "allow " {
		t.Errorf("steps told 40 minutes ago: %q", got)
	}
}

func TestTrustWithoutDirectory(t *testing.T) {
	g := newTestGate(t, Config{Links: LinksConfig{TrustWithoutDirectory: true}}, nil, nil, link("acc-gone", "V-1", "vehicle_unlinked", "-1h"))
	if got := codes(ask(t, g, "V-1", "unlock", "anyone")); got != "allow " {
		t.Errorf("no directory, trusted: %q", got)
	}
	if got := codes(ask(t, g, "V-1", "unlock", "acc-gone")); got != "deny unlinked" {
		t.Errorf("an unlinked account is denied even then: %q", got)
	}
}

func TestMovingCommandsConfigured(t *testing.T) {
	g := newTestGate(t, Config{Moving: MovingConfig{Commands: []string{"limp_mode"}, MinSpeedKmh: 30}, Links: LinksConfig{TrustWithoutDirectory: true}}, nil, nil,
		fix("V-1", 40, "ON", "-5s"), fix("V-2", 25, "ON", "-5s"))
	for _, c := range []struct{ vehicle, command, want string }{
		{"V-1", "limp_mode", "deny moving"},
		{"V-1", "engine_stop", "allow "}, // not configured
		{"V-2", "limp_mode", "allow "},   // below 30 km/h
	} {
		if got := codes(ask(t, g, c.vehicle, c.command, "acc")); got != c.want {
			t.Errorf("%s %s: %q, want %q", c.command, c.vehicle, got, c.want)
		}
	}
}

func TestMoving(t *testing.T) {
	g, err := New(Options{Incidents: openIncidents{}})
	if err != nil {
		t.Fatal(err)
	}
	at := now.UnixNano()
	for _, c := range []struct {
		age    time.Duration
		ign    uint8
		moving bool
	}{
		{10 * time.Second, 0, true},
		{-30 * time.Second, 0, true}, // a fix stamped slightly ahead
		{2 * time.Minute, 0, true},
		{3 * time.Minute, 0, false},
		{3 * time.Minute, 2, true}, // ignition on: a tunnel
		{9 * time.Minute, 2, true},
		{11 * time.Minute, 2, false},
		{-3 * time.Minute, 2, false}, // far ahead of the clock: not trusted beyond max_fix_age
	} {
		m := motion{FixTime: at - int64(c.age), Speed: 50, Ignition: twin.Ignition(c.ign)}
		if got := g.moving(m, at) != ""; got != c.moving {
			t.Errorf("fix %v ago, ignition %d: moving %v, want %v", c.age, c.ign, got, c.moving)
		}
	}
}

func TestRateLimits(t *testing.T) {
	g := newTestGate(t, Config{RateLimits: RateLimitsConfig{Account: RateLimit{PerMinute: 60, Burst: 2}, Vehicle: RateLimit{PerMinute: 6, Burst: 3}},
		Links: LinksConfig{TrustWithoutDirectory: true}}, nil, nil)
	var got []string
	for _, acc := range []string{"a", "a", "a", "b", "c", "d"} {
		d := ask(t, g, "V-1", "lock", acc)
		got = append(got, codes(d))
	}
	want := []string{"allow ", "allow ", "deny rate_limited_account", "allow ", "deny rate_limited_vehicle", "deny rate_limited_vehicle"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
	// A token a second for accounts, one every ten seconds for vehicles.
	l := g.accounts
	k := vkey{"fleet-a", "a"}
	if ok, wait := l.take(k, now.UnixNano()); ok || wait != time.Second {
		t.Errorf("empty bucket: ok %v wait %v", ok, wait)
	}
	if ok, _ := l.take(k, now.Add(time.Second).UnixNano()); !ok {
		t.Error("a second later the bucket has a token again")
	}
	if n := l.sweep(now.Add(time.Minute).UnixNano()); n != 0 {
		t.Errorf("%d buckets left after they refilled", n)
	}
	// Full: new keys are not limited (and not kept) until a sweep makes room.
	small := newLimiter(RateLimit{PerMinute: 1, Burst: 1}, 1)
	small.take(vkey{"t", "x"}, 0)
	for range 3 {
		if ok, _ := small.take(vkey{"t", "y"}, 0); !ok {
			t.Error("a new key in a full limiter was limited")
		}
	}
	if !small.full() {
		t.Error("the limiter does not say it is full")
	}
	if ok, _ := newLimiter(RateLimit{Disabled: true}, 1).take(vkey{}, 0); !ok {
		t.Error("a disabled limit limited")
	}
}

func TestDecisionLog(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Log: LogConfig{Recent: 5, MaxFileBytes: 1 << 20, MaxFiles: 2, SyncInterval: 10 * time.Millisecond}, Links: LinksConfig{TrustWithoutDirectory: true},
		RateLimits: RateLimitsConfig{Account: RateLimit{Disabled: true}, Vehicle: RateLimit{Disabled: true}}}
	g, err := New(Options{Config: cfg, Incidents: openIncidents{}, DataDir: dir, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- g.Run(ctx) }()
	// 16,000 records of ~200 bytes: more than three files of 1 MiB.
	const n = 16_000
	for i := range n {
		ask(t, g, fmt.Sprintf("V-%d", i), "lock", "acc")
	}
	recent := g.ring.newest(100, func(*DecisionRecord) bool { return true })
	if len(recent) != 5 || recent[0].Vehicle != fmt.Sprintf("V-%d", n-1) {
		t.Errorf("ring: %d records, newest %+v", len(recent), recent[0])
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	files := rotatedFiles(filepath.Join(dir, "gate"))
	if len(files) != 3 || files[2] != logName {
		t.Fatalf("files %v, want 2 rotated and the current one", files)
	}
	lines := 0
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, "gate", f))
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(b)) > cfg.Log.MaxFileBytes {
			t.Errorf("%s is %d bytes", f, len(b))
		}
		lines += strings.Count(string(b), "\n")
	}
	if w, d := g.file.written.Load(), g.file.dropped.Load(); w != n || d != 0 || lines >= n || lines < n/2 {
		t.Errorf("written %d, dropped %d, %d lines in the files kept", w, d, lines)
	}
	// After Run, decisions are still answered and kept in the ring; the
	// file no longer takes them, and says so.
	ask(t, g, "V-late", "lock", "acc")
	if g.file.dropped.Load() != 1 {
		t.Errorf("dropped %d after the writer stopped", g.file.dropped.Load())
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, ""},
		{Config{Moving: MovingConfig{MinSpeedKmh: 400}}, "min_speed_kmh"},
		{Config{Moving: MovingConfig{MaxFixAge: 20 * time.Minute}}, "max_drive_gap"},
		{Config{Moving: MovingConfig{Commands: []string{"Engine Stop"}}}, "moving.commands[0]"},
		{Config{RateLimits: RateLimitsConfig{Account: RateLimit{PerMinute: 10}}}, "rate_limits.account"},
		{Config{RateLimits: RateLimitsConfig{Vehicle: RateLimit{Disabled: true}}}, ""},
		{Config{Incidents: IncidentsConfig{Refresh: time.Millisecond}}, "incidents.refresh"},
		{Config{Log: LogConfig{MaxFileBytes: 100}}, "log.max_file_bytes"},
	} {
		err := c.cfg.Validate()
		if (err == nil) != (c.want == "") || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
	}
}

// BenchmarkGateDecide measures the decision alone (request decoded): a
// fleet of 100,000 vehicles with directory links, some moving, some
// trails, some open incidents.
func BenchmarkGateDecide(b *testing.B) {
	const vehicles = 100_000
	dir := directory.New()
	var incs openIncidents
	for i := range vehicles {
		dir.Link("fleet-a", directory.Account, fmt.Sprintf("acc-%d", i), fmt.Sprintf("V-%d", i), event.RoleOwner)
		if i%1000 == 0 {
			incs = append(incs, store.Incident{ID: fmt.Sprintf("inc-%d", i), Tenant: "fleet-a", Severity: event.SeverityCritical,
				Entities: []store.Entity{{Kind: store.EntityVehicle, Value: fmt.Sprintf("V-%d", i)}}})
		}
	}
	g := newTestGate(b, Config{RateLimits: RateLimitsConfig{Account: RateLimit{Disabled: true}, Vehicle: RateLimit{Disabled: true}}}, dir, incs)
	for i := 0; i < vehicles; i += 5 {
		g.view.setMotion(vkey{"fleet-a", fmt.Sprintf("V-%d", i)}, motion{FixTime: now.UnixNano() - int64(time.Second), Speed: 50})
	}
	for i := 0; i < vehicles; i += 100 {
		g.view.setTrail(vkey{"fleet-a", fmt.Sprintf("acc-%d", i)}, trail{Change: event.ChangeEmail, ChangeAt: now.UnixNano(), Added: event.ChangeDeviceRegistered, AddedAt: now.UnixNano()}, true)
	}
	names := newNames()
	commands := []string{"unlock", "lock", "engine_stop", "climate"}
	reqs := make([]*parsed, 4096)
	for i := range reqs {
		v, a := i*24%vehicles, i*24%vehicles
		if i%5 == 1 {
			a++ // someone else's vehicle
		}
		p, err := decodeRequest(fmt.Appendf(nil, `{"tenant":"fleet-a","vehicle":"V-%d","command":%q,"actor":{"account":"acc-%d","device":"d","ip":"203.0.113.7"}}`,
			v, commands[i%len(commands)], a), names)
		if err != nil {
			b.Fatal(err)
		}
		reqs[i] = p
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		g.decide(reqs[i%len(reqs)], now)
		i++
	}
}

// BenchmarkDecodeRequest measures reading and validating one request.
func BenchmarkDecodeRequest(b *testing.B) {
	body := []byte(`{"tenant":"fleet-a","vehicle":"WVWZZZ1JZXW000001","command":"unlock","channel":"app","command_id":"cmd-77",` +
		`"actor":{"account":"acc-1042","device":"dev-9","ip":"203.0.113.7","role":"owner"}}`)
	names := newNames()
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := decodeRequest(body, names); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDecisionIDs: each decision has an id of its own, and ids do not count
// up, so one tenant cannot tell from two of its ids how many decisions
// other tenants got between them.
func TestDecisionIDs(t *testing.T) {
	g := newTestGate(t, Config{Links: LinksConfig{TrustWithoutDirectory: true}}, nil, nil)
	format := regexp.MustCompile(`^gd_[0-9a-f]{32}$`)
	seen := map[string]bool{}
	prev := ""
	ordered := 0
	for range 10_000 {
		id := ask(t, g, "V-1", "locate", "acc-1").DecisionID
		if !format.MatchString(id) || seen[id] {
			t.Fatalf("decision id %q: badly formed or seen before", id)
		}
		seen[id] = true
		if id > prev {
			ordered++
		}
		prev = id
	}
	if ordered > 6_000 { // about half, by chance
		t.Errorf("%d of 10,000 ids came after the one before: they count up", ordered)
	}
}

// TestUnlinkOutlastsLaterLinks: eight digital keys shared after an account
// was unlinked do not make the vehicle forget the unlink, so a stale
// directory entry does not let the account back in.
func TestUnlinkOutlastsLaterLinks(t *testing.T) {
	dir := directory.New()
	dir.Link("fleet-a", directory.Account, "old-driver", "V-1", event.RoleDriver)
	events := []string{link("old-driver", "V-1", "vehicle_linked", "-3h"), link("old-driver", "V-1", "vehicle_unlinked", "-2h")}
	for i := range 2 * twin.MaxVehicleLinks {
		events = append(events, link(fmt.Sprintf("key-%d", i), "V-1", "digital_key_added", fmt.Sprintf("-%dm", 60-i)))
	}
	g := newTestGate(t, Config{}, dir, nil, events...)
	if got := codes(ask(t, g, "V-1", "unlock", "old-driver")); got != "deny unlinked" {
		t.Errorf("an unlinked account still in the directory: %q", got)
	}
	if got := codes(ask(t, g, "V-1", "unlock", fmt.Sprintf("key-%d", 2*twin.MaxVehicleLinks-1))); got != "allow " {
		t.Errorf("the newest digital key: %q", got)
	}
}

// TestFullUnlinksKeepTheNeededOne: when a vehicle's list holds only
// unlinks, the ones its ownership transfer already implies go first, not
// the new owner's own later unlink.
func TestFullUnlinksKeepTheNeededOne(t *testing.T) {
	dir := directory.New()
	dir.Link("fleet-a", directory.Account, "y", "V-1", event.RoleOwner) // stale
	events := []string{link("y", "V-1", "vehicle_linked", "-5h")}
	for i := range twin.MaxVehicleLinks - 1 {
		events = append(events, link(fmt.Sprintf("k-%d", i), "V-1", "digital_key_added", fmt.Sprintf("-%dm", 280-i)))
	}
	events = append(events, link("y", "V-1", "ownership_transfer", "-3h"), link("y", "V-1", "vehicle_unlinked", "-2h"),
		link("z", "V-1", "vehicle_linked", "-1h"))
	g := newTestGate(t, Config{}, dir, nil, events...)
	if got := codes(ask(t, g, "V-1", "unlock", "y")); got != "deny unlinked" {
		t.Errorf("y, unlinked after the transfer to it, still in the directory: %q", got)
	}
	if got := codes(ask(t, g, "V-1", "unlock", "z")); got != "allow " {
		t.Errorf("z, linked last: %q", got)
	}
}
