package sim

import (
	"slices"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/event"
)

// scenarioDef is one way to carry out an attack of a category. build picks
// targets among what exists at now and plans the steps; it returns false
// when nothing suitable exists right now.
type scenarioDef struct {
	name  string
	build func(s *Simulator, sc *scenario, now int64) bool
	// hours, when set, is the local time window the attack happens in.
	hours [2]float64
}

// scenarios lists the scenarios of each category; instances rotate through
// them, the first scenario first.
func scenarios(c alert.Category) []scenarioDef {
	switch c {
	case alert.CredentialAttack:
		return []scenarioDef{{name: "brute-force", build: bruteForce}, {name: "password-spraying", build: passwordSpraying},
			{name: "credential-stuffing", build: credentialStuffing}, {name: "pin-guessing", build: pinGuessing}}
	case alert.AccountTakeover:
		return []scenarioDef{{name: "email-change-new-device-unlock", build: takeover(event.ChangeEmail, event.CmdUnlock)},
			{name: "phone-change-new-device-engine-start", build: takeover(event.ChangePhone, event.CmdEngineStart)},
			{name: "password-reset-new-device-unlock", build: takeover(event.ChangePasswordReset, event.CmdUnlock)}}
	case alert.UnauthorizedCommand:
		return []scenarioDef{{name: "unlock-without-command", build: orphanStateChange(event.NameUnlocked, event.OriginRemote)},
			{name: "command-from-unlinked-account", build: unlinkedCommand},
			{name: "engine-start-without-command", build: orphanStateChange(event.NameEngineStarted, event.OriginUnknown)}}
	case alert.UnsafeCommand:
		return []scenarioDef{{name: "engine-stop-while-driving", build: unsafeCommand(event.CmdEngineStop, false), hours: [2]float64{7, 19}},
			{name: "fleet-immobilize-while-driving", build: unsafeCommand(event.CmdImmobilize, true), hours: [2]float64{7, 19}}}
	case alert.MassCommand:
		return []scenarioDef{{name: "mass-unlock", build: massCommand(event.CmdUnlock)},
			{name: "mass-horn-lights", build: massCommand(event.CmdHornLights)},
			{name: "mass-engine-start", build: massCommand(event.CmdEngineStart)}}
	case alert.DataExfiltration:
		return []scenarioDef{{name: "bulk-location-read", build: bulkLocation},
			{name: "vin-enumeration", build: vinEnumeration}, {name: "token-misuse", build: tokenMisuse}}
	case alert.PrivilegedMisuse:
		return []scenarioDef{{name: "dealer-outside-inventory", build: dealerOutsideInventory, hours: [2]float64{9, 17}},
			{name: "staff-bulk-location-history-at-night", build: staffAtNight, hours: [2]float64{1, 4}}}
	case alert.FirmwareTampering:
		return []scenarioDef{{name: "unsigned-usb-install", build: tamper(tamperUnsigned)},
			{name: "invalid-signature", build: tamper(tamperBadSignature)},
			{name: "unknown-image-hash", build: tamper(tamperUnknownHash)},
			{name: "downgrade", build: tamper(tamperDowngrade)}}
	case alert.SMSSpoofing:
		return []scenarioDef{{name: "unknown-originator", build: smsSpoof(smsUnknownOriginator)},
			{name: "unauthenticated-command", build: smsSpoof(smsNoAuth)},
			{name: "replayed-nonce", build: smsSpoof(smsReplay)}}
	case alert.TelemetrySpoofing:
		return []scenarioDef{{name: "teleport", build: teleport},
			{name: "gps-far-from-cell", build: gpsDrift}, {name: "cloned-device", build: clonedDevice}}
	case alert.InVehicleIntrusion:
		return []scenarioDef{{name: "critical-ids-report", build: criticalIDS},
			{name: "fleet-wide-ids-event", build: fleetWideIDS}}
	case alert.ServiceAnomaly:
		return []scenarioDef{{name: "telemetry-drop", build: telemetryDrop},
			{name: "command-failure-burst", build: commandFailures}}
	}
	return nil
}

// scenario is one attack instance: steps at planned event times.
type scenario struct {
	run   *attackRun
	steps []plannedStep
	i     int
}

type plannedStep struct {
	at int64
	do func(now int64)
}

// at plans fn at time t.
func (sc *scenario) at(t int64, fn func(now int64)) { sc.steps = append(sc.steps, plannedStep{t, fn}) }

func (sc *scenario) step(s *Simulator, now int64) int64 {
	s.running = sc.run
	sc.steps[sc.i].do(now)
	s.running = nil
	sc.i++
	if sc.i < len(sc.steps) {
		return sc.steps[sc.i].at
	}
	s.finish(sc.run)
	return never
}

// pendingAttack waits for its time, then looks for targets; when none suit
// yet it tries again a little later.
type pendingAttack struct {
	cat      alert.Category
	k        int
	deadline int64
}

const (
	attackMargin  = 30 * minuteNs // keep attacks clear of the span's edges
	attackLongest = 75 * minuteNs
	retryEvery    = 5 * minuteNs
)

func (s *Simulator) scheduleAttacks() {
	cats := slices.Clone(s.cfg.Attacks)
	slices.Sort(cats)
	lo, hi := s.start+attackMargin, s.end-attackMargin-attackLongest
	n := int64(s.cfg.AttacksPerCategory)
	for _, c := range cats {
		defs := scenarios(c)
		for k := range s.cfg.AttacksPerCategory {
			w := (hi - lo) / n
			t := lo + w*int64(k) + w/6 + s.attack.Int64N(max(1, w*2/3))
			if h := defs[k%len(defs)].hours; h != [2]float64{} {
				t = inHours(t, h, lo, hi)
			}
			s.procs.push(t, &pendingAttack{cat: c, k: k, deadline: hi})
		}
	}
}

// inHours moves t into the nearest local-time window [h0, h1) within [lo, hi].
func inHours(t int64, h [2]float64, lo, hi int64) int64 {
	best, bestDist := t, never
	for d := localDay(t) - 1; d <= localDay(t)+1; d++ {
		a, b := max(atLocal(d, h[0]), lo), min(atLocal(d, h[1]), hi)
		if a >= b {
			continue
		}
		c := min(max(t, a), b-1)
		if dist := abs(c - t); dist < bestDist {
			best, bestDist = c, dist
		}
	}
	return best
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

func (p *pendingAttack) step(s *Simulator, now int64) int64 {
	defs := scenarios(p.cat)
	for j := range defs {
		def := defs[(p.k+j)%len(defs)]
		if def.hours != [2]float64{} && j > 0 && !inWindow(now, def.hours) {
			continue
		}
		sc := &scenario{run: &attackRun{cat: p.cat, label: Label{Scenario: def.name}}}
		if !def.build(s, sc, now) {
			continue
		}
		slices.SortStableFunc(sc.steps, func(a, b plannedStep) int { return cmpInt(a.at, b.at) })
		s.runs = append(s.runs, sc.run)
		s.procs.push(sc.steps[0].at, sc)
		return never
	}
	if now+retryEvery < p.deadline {
		return now + retryEvery
	}
	s.missed[p.cat]++
	return never
}

func inWindow(t int64, h [2]float64) bool {
	x := localHour(t)
	return x >= h[0] && x < h[1]
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// attackerIP is a fresh address outside every range the benign fleet uses.
func (s *Simulator) attackerIP() string {
	nets := [...]byte{45, 185, 193, 5}
	s.attackSeq++
	return hostIP(nets[s.attackSeq%len(nets)], (s.attackSeq*1_000_003+s.attack.IntN(1000))%16_000_000)
}

// pickVehicle returns a random vehicle that satisfies ok, or nil.
func (s *Simulator) pickVehicle(ok func(*vehicle) bool) *vehicle {
	n := len(s.vehicles)
	off := s.attack.IntN(n)
	for k := range n {
		if v := &s.vehicles[(off+k)%n]; ok(v) {
			return v
		}
	}
	return nil
}

// pickVehicles returns up to want random vehicles of tenant t that satisfy ok.
func (s *Simulator) pickVehicles(t uint16, want int, ok func(*vehicle) bool) []*vehicle {
	vs := s.tenants[t].vehicles
	off := s.attack.IntN(len(vs))
	var out []*vehicle
	for k := 0; k < len(vs) && len(out) < want; k++ {
		if v := &s.vehicles[vs[(off+k)%len(vs)]]; ok(v) {
			out = append(out, v)
		}
	}
	return out
}

// free says whether no attack or command holds v at now.
func (v *vehicle) free(now int64) bool { return now >= v.attacked && now >= v.busyUntil }

// parkedFree is a parked vehicle nobody is using, with a known owner.
func parkedFree(now int64) func(*vehicle) bool {
	return func(v *vehicle) bool { return v.phase == phParked && v.free(now) && v.owner >= 0 }
}

// hold keeps v parked and out of other attacks until end.
func (v *vehicle) hold(end int64) {
	v.attacked = max(v.attacked, end+10*minuteNs)
	v.busyUntil = max(v.busyUntil, end+minuteNs)
}

func vins(vs []*vehicle) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.vin
	}
	return out
}

// spread returns n times from t on, gap apart on average (±50%).
func (s *Simulator) spread(t int64, n int, gap int64) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = t
		t += gap/2 + s.attack.Int64N(max(1, gap))
	}
	return out
}
