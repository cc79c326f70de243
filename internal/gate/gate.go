// Package gate is vigil's inline command gate: POST /v1/gate. Before the
// TSP back-end sends a remote command to a vehicle it asks the gate, which
// answers allow, deny or step_up with its reasons, decided from what
// detection knows at that moment:
//
//   - deny engine_stop and immobilize (and any configured command) while
//     the vehicle moves: safety first, a moving vehicle is never stopped;
//   - deny a principal not linked to the vehicle: the directory, and the
//     links account changes taught the twin (unlinked accounts and previous
//     owners are denied even where a stale directory still lists them);
//   - deny during an open critical incident naming the vehicle or account;
//   - deny beyond the per-account and per-vehicle rate limits;
//   - step_up after a recent contact or credential change plus a new device
//     or digital key on the account (the takeover detector's trail).
//
// Every decision is counted, kept in a ring shown by GET
// /v1/gate/decisions and appended to an NDJSON file in the data directory.
//
// A decision reads only memory: a copy of the detection state kept by an
// observer the engine runs on its shard goroutines (see state.go), an index
// of the open critical incidents reloaded every second, and the rate
// buckets. That is what keeps its p99 under 2 ms while the server ingests.
package gate

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/directory"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/store"
	"github.com/vigil-project/vigil/internal/twin"
)

// Options configure a Gate.
type Options struct {
	Config Config
	// Directory is the TSP's entitlements; nil when none is configured.
	Directory *directory.Directory
	// Incidents is the store the open critical incidents are read from.
	Incidents IncidentLister
	// Ready reports whether detection has caught up with the archive; the
	// gate answers 503 until it has (its state would be behind). nil:
	// always ready.
	Ready func() bool
	// DataDir is where the decision log goes (DataDir/gate/); "" keeps
	// decisions in memory only.
	DataDir string
	Logger  *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// AllowTenant reports whether the request's credential may ask about
	// (or see the decisions of) tenant; nil allows every tenant.
	AllowTenant func(r *http.Request, tenant string) bool
}

// Gate decides whether remote commands may go to vehicles.
type Gate struct {
	o         Options
	cfg       Config
	log       *slog.Logger
	now       func() time.Time
	names     names
	view      *view
	obs       *observer
	unsafe    map[string]bool // commands refused while moving
	exempt    [16]bool        // by event.Role
	accounts  *limiter
	vehicles  *limiter
	incidents atomic.Pointer[incidentIndex]
	incMu     sync.Mutex // orders changes of incidents: loads and stored alerts
	alertGen  uint64     // critical alerts applied to the index, under incMu
	kicked    kicked     // what the next kick loads, under incMu
	kick      chan struct{}
	ring      *ring
	file      *fileLog
	ids       cipher.Block // decision ids: the sequence, encrypted, so an id tells nothing of other tenants' decisions
	seq       atomic.Uint64
	metrics   metrics
	sweepMu   sync.Mutex
}

// New builds a gate; Run starts its background work.
func New(o Options) (*Gate, error) {
	if err := o.Config.Validate(); err != nil {
		return nil, fmt.Errorf("gate: %w", err)
	}
	if o.Incidents == nil {
		return nil, fmt.Errorf("gate: no incident store")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	cfg := o.Config.withDefaults()
	g := &Gate{o: o, cfg: cfg, log: o.Logger, now: o.Now, names: newNames(), view: newView(),
		unsafe: map[string]bool{}, kick: make(chan struct{}, 1), ring: newRing(cfg.Log.Recent),
		accounts: newLimiter(cfg.RateLimits.Account, cfg.RateLimits.MaxKeys),
		vehicles: newLimiter(cfg.RateLimits.Vehicle, cfg.RateLimits.MaxKeys)}
	g.obs = &observer{v: g.view, g: g, minSpeed: float32(cfg.Moving.MinSpeedKmh)}
	for _, c := range cfg.Moving.Commands {
		g.unsafe[c] = true
	}
	for _, r := range cfg.Links.ExemptRoles {
		if int(r) < len(g.exempt) {
			g.exempt[r] = true
		}
	}
	var key [16]byte
	if _, err := rand.Read(key[:]); err != nil {
		return nil, err
	}
	ids, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, err
	}
	g.ids = ids
	g.metrics.init()
	if o.DataDir != "" {
		f, err := newFileLog(filepath.Join(o.DataDir, "gate"), cfg.Log, g.log.Error)
		if err != nil {
			return nil, err
		}
		g.file = f
	}
	return g, nil
}

// Observer is the detector that keeps the gate's copy of detection state.
// Add it to the engine's detectors, last: it must run after the takeover
// detector, whose trail it copies.
func (g *Gate) Observer() detect.Detector { return g.obs }

// Run loads the open critical incidents, then keeps them fresh, sweeps old
// state and writes the decision log until ctx ends; it returns once the log
// is flushed and closed. Cancel ctx after the HTTP server has shut down, so
// the last decisions reach the file.
func (g *Gate) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	if g.file != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.file.run(ctx)
		}()
	}
	// The first load: the gate is not ready before it.
	for attempt := 0; ctx.Err() == nil; attempt++ {
		err := g.loadIncidents(ctx)
		if err == nil {
			break
		}
		if attempt == 0 {
			g.log.Error("gate: loading the open critical incidents failed; retrying (the gate answers 503 meanwhile)", "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		g.refreshIncidents(ctx)
	}()
	go func() {
		defer wg.Done()
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				g.sweep()
			}
		}
	}()
	wg.Wait()
	return nil
}

// sweep forgets state no decision would use and counts what is left.
func (g *Gate) sweep() {
	g.sweepMu.Lock()
	defer g.sweepMu.Unlock()
	now := g.now().UnixNano()
	m, l, t := g.view.sweep(now-int64(g.cfg.Moving.MaxDriveGap)-int64(time.Minute), now-int64(g.cfg.StepUp.Window))
	g.metrics.moving.Store(int64(m))
	g.metrics.linked.Store(int64(l))
	g.metrics.trails.Store(int64(t))
	g.metrics.accountBuckets.Store(int64(g.accounts.sweep(now)))
	g.metrics.vehicleBuckets.Store(int64(g.vehicles.sweep(now)))
}

// Ready reports whether the gate can decide: detection has caught up with
// the archive and the open incidents are loaded.
func (g *Gate) Ready() bool {
	return g.incidents.Load() != nil && (g.o.Ready == nil || g.o.Ready())
}

// Verdict is a decision's outcome.
type Verdict uint8

const (
	Allow Verdict = iota
	StepUp
	Deny
)

var verdictNames = [...]string{"allow", "step_up", "deny"}

func (v Verdict) String() string { return verdictNames[v] }

// DecisionReason explains a decision. Codes are stable: see docs/gate.md.
type DecisionReason struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// DecisionReason codes.
const (
	CodeMoving        = "moving"                // deny: the command would stop or immobilise a moving vehicle
	CodeNotLinked     = "not_linked"            // deny: no directory entry or account change links the principal
	CodeUnlinked      = "unlinked"              // deny: an account change unlinked the account from the vehicle
	CodePreviousOwner = "ownership_transferred" // deny: the vehicle changed owner and the account was not linked since
	CodeIncident      = "open_incident"         // deny: an open critical incident names the vehicle or account
	CodeRateAccount   = "rate_limited_account"  // deny: the account's (or client's) commands exceed its rate
	CodeRateVehicle   = "rate_limited_vehicle"  // deny: the vehicle's commands exceed its rate
	CodeTakeoverSteps = "recent_account_change" // step_up: contact or credential change and a new device or key
)

// Codes lists the reason codes with the verdict each leads to.
func Codes() map[string]Verdict {
	return map[string]Verdict{CodeMoving: Deny, CodeNotLinked: Deny, CodeUnlinked: Deny, CodePreviousOwner: Deny,
		CodeIncident: Deny, CodeRateAccount: Deny, CodeRateVehicle: Deny, CodeTakeoverSteps: StepUp}
}

// Decision is the gate's answer.
type Decision struct {
	Decision   string           `json:"decision"` // allow, deny or step_up
	Reasons    []DecisionReason `json:"reasons"`
	DecisionID string           `json:"decision_id"`
	DecidedAt  string           `json:"decided_at"` // RFC 3339, UTC
	// RetryAfterMS, with a rate_limited reason, is when the next command
	// would be within the limit.
	RetryAfterMS int64 `json:"retry_after_ms,omitempty"`
}

// decide judges a validated request at now. It reads the view, the
// incident index and the directory, takes rate tokens, and records the
// decision.
func (g *Gate) decide(p *parsed, now time.Time) Decision {
	return g.decideOn(g.incidents.Load(), p, now)
}

// decideOn decides on the open incidents of idx: the index the request was
// found answerable with (incidentIndex.blind), not a newer one.
func (g *Gate) decideOn(idx *incidentIndex, p *parsed, now time.Time) Decision {
	start := time.Now()
	nowNS := now.UnixNano()
	verdict := Allow
	reasons := make([]DecisionReason, 0, 2)
	add := func(v Verdict, code, format string, args ...any) {
		verdict = max(verdict, v)
		reasons = append(reasons, DecisionReason{Code: code, Message: fmt.Sprintf(format, args...)})
	}
	a := &p.Actor
	vk := vkey{p.Tenant, p.Vehicle}

	// An open critical incident on the vehicle or the account.
	if inc, ok := idx.find(p.Tenant, store.EntityVehicle, p.Vehicle); ok {
		add(Deny, CodeIncident, "incident %s (critical, %s) names vehicle %s: commands to it wait until the incident is resolved",
			inc.ID, inc.Status, p.Vehicle)
	}
	if inc, ok := idx.find(p.Tenant, store.EntityAccount, a.Account); ok {
		add(Deny, CodeIncident, "incident %s (critical, %s) names account %s: its commands wait until the incident is resolved",
			inc.ID, inc.Status, a.Account)
	}

	// Safety: never stop or immobilise a moving vehicle.
	if g.unsafe[p.Command] {
		if m, ok := g.view.motion(vk); ok {
			if why := g.moving(m, nowNS); why != "" {
				add(Deny, CodeMoving, "vehicle %s is moving: %s. %s must not be carried out while it moves",
					p.Vehicle, why, p.Command)
			}
		}
	}

	// Entitlement.
	g.judgeLink(p, g.view.links(vk), add)

	// A takeover in the making: a contact change and a new device.
	if a.Account != "" {
		if t, ok := g.view.trail(vkey{p.Tenant, a.Account}); ok {
			g.judgeTrail(p, t, nowNS, add)
		}
	}

	// Rate limits: the account's (or client's) every attempt counts; the
	// vehicle's only commands that would go through, so denied attempts by
	// others cannot lock the owner out.
	var retry time.Duration
	bucket, who := a.Account, "account "+a.Account
	if bucket == "" {
		bucket, who = "client:"+a.ClientID, "API client "+a.ClientID
	}
	if ok, wait := g.accounts.take(vkey{p.Tenant, bucket}, nowNS); !ok {
		retry = wait
		add(Deny, CodeRateAccount, "%s sent more than %s: retry in %v", who,
			rateText(g.cfg.RateLimits.Account), wait.Round(time.Millisecond))
	}
	if verdict != Deny {
		if ok, wait := g.vehicles.take(vk, nowNS); !ok {
			retry = max(retry, wait)
			add(Deny, CodeRateVehicle, "vehicle %s received more than %s: retry in %v", p.Vehicle,
				rateText(g.cfg.RateLimits.Vehicle), wait.Round(time.Millisecond))
		}
	}
	if verdict == Deny && retry > 0 {
		// Only a rate limit is worth retrying: say so only when nothing
		// else denied the command.
		for _, r := range reasons {
			if r.Code != CodeRateAccount && r.Code != CodeRateVehicle {
				retry = 0
				break
			}
		}
	}

	d := Decision{Decision: verdict.String(), Reasons: reasons, DecisionID: g.decisionID(),
		DecidedAt: now.UTC().Format(time.RFC3339Nano), RetryAfterMS: retry.Milliseconds()}
	took := time.Since(start)
	g.metrics.count(verdict, reasons, took)
	rec := &DecisionRecord{DecisionID: d.DecisionID, DecidedAt: d.DecidedAt, Decision: d.Decision, Reasons: reasons, Tenant: p.Tenant,
		Vehicle: p.Vehicle, Command: p.Command, Channel: p.Channel, CommandID: p.CommandID, Actor: p.Actor,
		DecideMicros: took.Microseconds(), at: nowNS}
	g.ring.add(rec)
	if g.file != nil {
		g.file.append(rec)
	}
	return d
}

// moving says why m shows a moving vehicle at now, "" when it does not.
func (g *Gate) moving(m motion, now int64) string {
	mv := &g.cfg.Moving
	age := now - m.FixTime
	when := "ago"
	if age < 0 {
		when = "ahead of the gate's clock"
	}
	ageText := time.Duration(abs(age)).Round(time.Second).String()
	switch {
	case abs(age) <= int64(mv.MaxFixAge):
		return fmt.Sprintf("its last fix, %s %s, showed %.0f km/h (above %.0f km/h)", ageText, when, m.Speed, mv.MinSpeedKmh)
	case age > 0 && age <= int64(mv.MaxDriveGap) && m.Ignition == twin.IgnitionOn:
		return fmt.Sprintf("its last fix, %s ago, showed %.0f km/h (above %.0f km/h) and the ignition has stayed on since",
			ageText, m.Speed, mv.MinSpeedKmh)
	}
	return ""
}

// judgeLink checks that the principal may command the vehicle, as the
// cmd.unlinked-principal detector judges it.
func (g *Gate) judgeLink(p *parsed, links *linkSet, add func(Verdict, string, string, ...any)) {
	a, dir := &p.Actor, g.o.Directory
	if a.Account == "" {
		if dir.Linked(p.Tenant, directory.Client, a.ClientID, p.Vehicle) || (dir == nil && g.cfg.Links.TrustWithoutDirectory) {
			return
		}
		add(Deny, CodeNotLinked, "API client %s is not linked to vehicle %s in the directory", a.ClientID, p.Vehicle)
		return
	}
	acc := a.Account
	role := dir.Role(p.Tenant, directory.Account, acc)
	if int(role) < len(g.exempt) && g.exempt[role] {
		return // staff and service may act on any vehicle; privileged-misuse watches them
	}
	l := links.find(acc)
	if l != nil && l.Linked {
		return
	}
	if l != nil && l.By == event.ChangeVehicleUnlinked {
		add(Deny, CodeUnlinked, "account %s was unlinked from vehicle %s at %s", acc, p.Vehicle, fmtTime(l.At))
		return
	}
	if links != nil && links.TransferAt != 0 && acc != links.TransferTo {
		add(Deny, CodePreviousOwner, "vehicle %s changed owner to account %s at %s and account %s has not been linked to it since",
			p.Vehicle, links.TransferTo, fmtTime(links.TransferAt), acc)
		return
	}
	if dir.Linked(p.Tenant, directory.Account, acc, p.Vehicle) || (dir == nil && g.cfg.Links.TrustWithoutDirectory) {
		return
	}
	switch n := dir.Vehicles(p.Tenant, directory.Account, acc); {
	case role != event.RoleUnset || n > 0:
		add(Deny, CodeNotLinked, "account %s (%s in the directory, entitled to %d vehicle(s)) is not linked to vehicle %s",
			acc, roleName(role), n, p.Vehicle)
	case dir == nil:
		add(Deny, CodeNotLinked, "no account change linked account %s to vehicle %s (and no directory is configured)", acc, p.Vehicle)
	default:
		add(Deny, CodeNotLinked, "account %s is not in the directory and no account change linked it to vehicle %s", acc, p.Vehicle)
	}
}

// judgeTrail asks for a step-up when the account changed a contact or
// credential and gained a device or key, recently and close together.
func (g *Gate) judgeTrail(p *parsed, t trail, now int64, add func(Verdict, string, string, ...any)) {
	w := int64(g.cfg.StepUp.Window)
	if t.Change == event.ChangeUnset || t.Added == event.ChangeUnset {
		return
	}
	newest := max(t.ChangeAt, t.AddedAt)
	if now-newest > w || abs(t.ChangeAt-t.AddedAt) > w {
		return
	}
	conf := "nothing says the previous contact confirmed it"
	switch t.Confirmed {
	case event.False:
		conf = "the previous contact did not confirm it"
	case event.True:
		conf = "the previous contact confirmed it"
	}
	what := "device " + t.AddedDevice
	if t.Added == event.ChangeDigitalKeyAdded {
		what = "a digital key"
	} else if t.AddedDevice == "" {
		what = "a device"
	}
	from := ""
	if t.AddedDevice != "" && t.AddedDevice == p.Actor.Device {
		from = "; this command comes from that new device"
	}
	add(StepUp, CodeTakeoverSteps, "account %s changed its %s at %s (%s) and registered %s at %s%s: confirm the owner before the command",
		p.Actor.Account, t.Change, fmtTime(t.ChangeAt), conf, what, fmtTime(t.AddedAt), from)
}

func rateText(r RateLimit) string {
	return fmt.Sprintf("%g commands a minute (burst %d)", r.PerMinute, r.Burst)
}

func roleName(r event.Role) string {
	if r == event.RoleUnset {
		return "no role"
	}
	return r.String()
}

func fmtTime(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339) }

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// decisionID is a new decision's id: unique (the cipher is a permutation
// of the sequence numbers), and unpredictable, so that a tenant cannot
// count other tenants' decisions between two of its own.
func (g *Gate) decisionID() string {
	var b [aes.BlockSize]byte
	binary.BigEndian.PutUint64(b[8:], g.seq.Add(1))
	g.ids.Encrypt(b[:], b[:])
	out := make([]byte, 3+2*len(b))
	copy(out, "gd_")
	hex.Encode(out[3:], b[:])
	return string(out)
}
