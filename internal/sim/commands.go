package sim

import (
	"math/rand/v2"

	"github.com/vigil-project/vigil/internal/event"
)

// outcome of a command transaction.
type outcome uint8

const (
	outcomeDraw     outcome = iota // the usual rates: mostly executed, a few failures
	outcomeExecuted                // forced
	outcomeRejected                // the vehicle refuses (e.g. its safety interlock)
	outcomeTimeout                 // never delivered
)

// cmdReq is one remote command to send.
type cmdReq struct {
	kind    event.CommandKind
	channel event.Channel
	actor   event.Actor
	outcome outcome
	r       *rand.Rand // the stream that draws timings: benign life or the attack's
}

var requestSource = [...]string{
	event.ChannelApp: srcMobileAPI, event.ChannelWeb: srcWebPortal, event.ChannelAPI: srcPartnerAPI,
	event.ChannelSMS: srcSMS, event.ChannelBackend: srcCommandSvc, event.ChannelDealer: srcDealer,
}

// commandEffect is the vehicle.event a command causes when executed.
var commandEffect = [...]event.VehicleEventName{
	event.CmdUnlock: event.NameUnlocked, event.CmdLock: event.NameLocked,
	event.CmdEngineStart: event.NameEngineStarted, event.CmdEngineStop: event.NameEngineStopped,
	event.CmdImmobilize: event.NameImmobilized, event.CmdTrunkOpen: event.NameTrunkOpened,
	event.CmdKeyAdd: event.NameKeyAdded, event.CmdOther: event.NameUnset,
}

// ownerCommand sends a command from an account's usual app or browser.
func (s *Simulator) ownerCommand(v *vehicle, now int64, by *account, kind event.CommandKind, ch event.Channel) int64 {
	return s.command(v, now, cmdReq{kind: kind, channel: ch, actor: by.actor(), r: s.life})
}

// command plays a whole transaction: requested → (SMS wake-up) → sent →
// delivered → executed, the vehicle echoing the command id in its own event.
// It returns the event time of the last stage and keeps the vehicle from
// driving off before then.
func (s *Simulator) command(v *vehicle, now int64, q cmdReq) int64 {
	r := q.r
	c := event.Command{CommandID: s.commandID(), Command: q.kind, Channel: q.channel, Actor: q.actor}
	stage := func(t int64, st event.Stage, src string) {
		c.Stage = st
		s.push(s.commandEvent(v, t, src, c))
	}
	stage(now, event.StageRequested, requestSource[q.channel])

	o := q.outcome
	if tn := &s.tenants[v.tenant]; now >= tn.commandsDown[0] && now < tn.commandsDown[1] {
		o = outcomeTimeout
	} else if o == outcomeDraw {
		switch n := r.IntN(200); {
		case n < 4:
			o = outcomeTimeout
		case n < 5:
			o = outcomeRejected
		default:
			o = outcomeExecuted
		}
	}
	asleep := v.phase == phParked
	t := now + 150*msNs + r.Int64N(300*msNs)
	if asleep && r.IntN(10) < 6 { // wake the unit by SMS first
		s.gatewaySMS(v, t, event.SMSWakeup, "", r)
		t += 100*msNs + r.Int64N(200*msNs)
	}
	stage(t, event.StageSent, srcCommandSvc)
	if o == outcomeTimeout {
		end := now + 30*secondNs
		stage(end, event.StageFailed, srcCommandSvc)
		v.busyUntil = max(v.busyUntil, end)
		return end
	}
	if asleep && r.IntN(7) == 0 { // some units take the command itself by SMS
		s.gatewaySMS(v, t+50*msNs, event.SMSCommand, q.kind.String(), r)
	}
	if asleep {
		t += 2*secondNs + r.Int64N(6*secondNs)
	} else {
		t += 400*msNs + r.Int64N(2*secondNs)
	}
	stage(t, event.StageDelivered, srcCommandSvc)
	if o == outcomeRejected {
		t += 200*msNs + r.Int64N(800*msNs)
		stage(t, event.StageRejected, srcCommandSvc)
		v.busyUntil = max(v.busyUntil, t)
		return t
	}
	t += 300*msNs + r.Int64N(1700*msNs)
	if int(q.kind) < len(commandEffect) && commandEffect[q.kind] != event.NameUnset {
		s.push(s.vehicleEvent(v, t-50*msNs-r.Int64N(200*msNs), commandEffect[q.kind], event.OriginRemote, c.CommandID))
	}
	stage(t, event.StageExecuted, srcCommandSvc)
	// Only the lock state follows commands: a remote start idles for minutes
	// between sparse heartbeats, and the simulator leaves it out.
	switch q.kind {
	case event.CmdUnlock:
		v.locked = false
	case event.CmdLock:
		v.locked = true
	}
	v.busyUntil = max(v.busyUntil, t)
	return t
}

// gatewaySMS is an authenticated SMS from the TSP's gateway to the vehicle.
func (s *Simulator) gatewaySMS(v *vehicle, t int64, kind event.SMSKind, cmd string, r *rand.Rand) {
	n := nonce(r)
	v.lastNonce, v.lastKind = n, kind
	s.push(s.sms(v, t, event.SMS{Direction: event.DirMT, Originator: gatewayMSISDNs[v.idx%int32(len(gatewayMSISDNs))],
		Recipient: v.msisdn, Kind: kind, Command: cmd, Auth: event.AuthValid, Nonce: n}))
}

const msNs = int64(1_000_000)
