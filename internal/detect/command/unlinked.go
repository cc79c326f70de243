package command

import (
	"fmt"
	"strings"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/directory"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/twin"
)

// UnlinkedConfig configures the unlinked principal detector.
type UnlinkedConfig struct {
	// Directory lists who may use which vehicle (owners, drivers, fleet
	// managers, dealers' inventories, API clients). nil: only what
	// account.change events taught the twins is known, and only accounts
	// known to have lost the vehicle are flagged.
	Directory *directory.Directory `yaml:"-"`
	// ExemptRoles are directory roles whose commands this detector does not
	// judge: they may act on any vehicle and privileged-misuse watches them.
	// Default staff and service.
	ExemptRoles []event.Role `yaml:"exempt_roles"`
}

// Unlinked raises unauthorized-command when a principal commands a vehicle
// it is not linked to. Who is linked comes from the directory and from the
// account.change events the vehicle twin has seen (vehicle_linked,
// digital_key_added, vehicle_unlinked, ownership_transfer).
//
// History alone never makes a principal trusted: an account that commanded
// the vehicle before is judged like any other (the twin remembers accounts
// that tried, not only those entitled, so trusting history would let an
// attacker whitelist itself with its first command). History only serves as
// evidence that an account flagged after an ownership transfer used the
// vehicle before it.
//
// The judgement, for an account A commanding vehicle V at time t:
//   - A was unlinked from V by vehicle_unlinked before t: flagged.
//   - V changed owner before t and A is neither the new owner nor linked
//     since: flagged (critical when A used or was entitled to V before).
//   - A was linked to V by an account change: trusted.
//   - with a directory: A linked to V there: trusted; else flagged.
//   - without a directory: trusted (nothing says otherwise).
//
// API clients without an account are judged by the directory alone. Each
// command transaction is judged once, on the first of its stages seen.
type Unlinked struct {
	dir    *directory.Directory
	exempt [8]bool
}

// NewUnlinked returns the detector.
func NewUnlinked(cfg UnlinkedConfig) *Unlinked {
	if cfg.ExemptRoles == nil {
		cfg.ExemptRoles = []event.Role{event.RoleStaff, event.RoleService}
	}
	u := &Unlinked{dir: cfg.Directory}
	for _, r := range cfg.ExemptRoles {
		if int(r) < len(u.exempt) {
			u.exempt[r] = true
		}
	}
	return u
}

var _ detect.Detector = (*Unlinked)(nil)

// Info describes the detector.
func (u *Unlinked) Info() detect.Info {
	return detect.Info{
		ID:       "cmd.unlinked-principal",
		Category: alert.UnauthorizedCommand,
		Title:    "Command from a principal not linked to the vehicle",
		Description: "A remote command came from an account or API client that the directory does not link to the vehicle, " +
			"that was unlinked from it, or that lost it in an ownership transfer; links learned from account changes count.",
		Subscribe: []detect.Subscription{{Kind: detect.KindVehicle, Types: []event.Type{event.TypeCommand}}},
	}
}

// OnEvent judges the first stage seen of each command transaction.
func (u *Unlinked) OnEvent(c *detect.Context, s detect.State, ev *event.Event) {
	v, cmd := s.Vehicle, ev.Command
	if cmd.Actor.Account == "" && cmd.Actor.ClientID == "" {
		return // a back-end job: no principal to judge
	}
	if v.Act != nil && v.FindCommand(twin.HashID(cmd.CommandID)) != nil {
		return // judged on its first stage
	}
	if cmd.Actor.Account == "" {
		u.judgeClient(c, ev)
		return
	}
	u.judgeAccount(c, v, ev)
}

func (u *Unlinked) judgeClient(c *detect.Context, ev *event.Event) {
	id := ev.Command.Actor.ClientID
	if u.dir == nil || u.dir.Linked(c.Tenant, directory.Client, id, c.Key) {
		return
	}
	why := fmt.Sprintf("API client %s is not linked to vehicle %s in the directory", id, c.Key)
	if n := u.dir.Vehicles(c.Tenant, directory.Client, id); n > 0 {
		why += fmt.Sprintf(" (it is entitled to %d other vehicle(s))", n)
	} else if !u.dir.Known(c.Tenant, directory.Client, id) {
		why += " (the directory does not know it)"
	}
	u.emit(c, ev, event.SeverityHigh, why, event.Ref{}, 0)
}

func (u *Unlinked) judgeAccount(c *detect.Context, v *twin.Vehicle, ev *event.Event) {
	acc := ev.Command.Actor.Account
	dirRole := event.RoleUnset
	if u.dir != nil {
		dirRole = u.dir.Role(c.Tenant, directory.Account, acc)
		if int(dirRole) < len(u.exempt) && u.exempt[dirRole] {
			return
		}
	}
	links := v.Links()
	l := links.Find(acc)
	if l != nil && l.At <= ev.Time {
		if l.Linked {
			return
		}
		if l.By == event.ChangeVehicleUnlinked {
			u.emit(c, ev, event.SeverityCritical, fmt.Sprintf("account %s was unlinked from vehicle %s at %s", acc, c.Key, fmtTime(l.At)),
				l.Ref, l.At)
			return
		}
	}
	if links != nil && links.Transfer.At != 0 && links.Transfer.At <= ev.Time && acc != links.Transfer.To {
		tr := links.Transfer
		before := u.dir.Linked(c.Tenant, directory.Account, acc, c.Key) || usedBefore(v, acc) || (l != nil && l.At <= tr.At)
		why := fmt.Sprintf("vehicle %s changed owner to account %s at %s and account %s has not been linked to it since", c.Key, tr.To, fmtTime(tr.At), acc)
		sev := event.SeverityHigh
		if before {
			why += "; it used or was entitled to the vehicle before the transfer (a previous owner or driver)"
			sev = event.SeverityCritical
		}
		u.emit(c, ev, sev, why, tr.Ref, tr.At)
		return
	}
	if l != nil && l.Linked {
		return // linked after the command's time: arrived late, still trusted
	}
	if u.dir == nil || u.dir.Linked(c.Tenant, directory.Account, acc, c.Key) {
		return
	}
	var why string
	switch n := u.dir.Vehicles(c.Tenant, directory.Account, acc); {
	case dirRole != event.RoleUnset || n > 0:
		why = fmt.Sprintf("account %s (%s in the directory, entitled to %d vehicle(s)) is not linked to vehicle %s", acc, roleName(dirRole), n, c.Key)
	default:
		why = fmt.Sprintf("account %s is not in the directory and no account change linked it to vehicle %s", acc, c.Key)
	}
	u.emit(c, ev, event.SeverityHigh, why, event.Ref{}, 0)
}

// usedBefore reports whether the twin saw acc command the vehicle.
func usedBefore(v *twin.Vehicle, acc string) bool {
	if v.Act == nil {
		return false
	}
	for _, p := range v.Act.Principals {
		if p == acc {
			return true
		}
	}
	return false
}

func roleName(r event.Role) string {
	if r == event.RoleUnset {
		return "no role"
	}
	return r.String()
}

// sensitive commands give physical access or control: their misuse is critical.
func sensitive(k event.CommandKind) bool {
	switch k {
	case event.CmdUnlock, event.CmdEngineStart, event.CmdEngineStop, event.CmdImmobilize, event.CmdTrunkOpen, event.CmdKeyAdd:
		return true
	}
	return false
}

// emit raises the alert for the command ev; prior, when set, is the account
// change that took the vehicle from the principal, at priorAt.
func (u *Unlinked) emit(c *detect.Context, ev *event.Event, sev event.Severity, why string, prior event.Ref, priorAt int64) {
	cmd := ev.Command
	if sev < event.SeverityCritical && sensitive(cmd.Command) {
		sev = event.SeverityCritical
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Command %s (%s) %s through %s at %s by %s, but %s.",
		cmd.CommandID, commandName(cmd), stagePhrase(cmd.Stage), channelName(cmd.Channel), fmtTime(ev.Time), who(&cmd.Actor), why)
	refs, first := []event.Ref{ev.Ref()}, ev.Time
	if prior != (event.Ref{}) {
		refs, first = []event.Ref{prior, ev.Ref()}, min(priorAt, ev.Time)
	}
	c.Emit(&alert.Alert{
		// One alert per command, even when several share the prior change.
		ID:          alert.MakeID(c.Info.ID, c.Tenant, c.Kind.String()+":"+c.Key, ev.Ref()),
		Time:        ev.Time,
		FirstSeen:   first,
		LastSeen:    ev.Time,
		Severity:    sev,
		Title:       fmt.Sprintf("%s of %s by a principal not linked to it", commandName(cmd), c.Key),
		Explanation: b.String(),
		Entities:    alert.Entities{Vehicle: c.Key, Account: cmd.Actor.Account, Device: cmd.Actor.Device, IP: cmd.Actor.IP, ClientID: cmd.Actor.ClientID},
		Evidence:    refs,
	})
}

func commandName(cmd *event.Command) string {
	if cmd.Command == event.CmdOther && cmd.CommandText != "" {
		return cmd.CommandText
	}
	if s := cmd.Command.String(); s != "" {
		return s
	}
	return "unnamed"
}

func channelName(ch event.Channel) string {
	if s := ch.String(); s != "" {
		return s
	}
	return "an unnamed channel"
}

// stagePhrase says what happened to a command at stage s.
func stagePhrase(s event.Stage) string {
	switch s {
	case event.StageUnset:
		return "was seen"
	case event.StageFailed:
		return "failed"
	}
	return "was " + s.String()
}

// who names a principal with what the event says about it.
func who(a *event.Actor) string {
	var parts []string
	if a.Account != "" {
		parts = append(parts, "account "+a.Account)
	}
	if a.ClientID != "" {
		parts = append(parts, "API client "+a.ClientID)
	}
	if a.Device != "" {
		parts = append(parts, "device "+a.Device)
	}
	if a.IP != "" {
		parts = append(parts, "IP "+a.IP)
	}
	if len(parts) == 0 {
		return "an unnamed principal"
	}
	return strings.Join(parts, ", ")
}

// OnTimer is unused: the detector sets no timers.
func (u *Unlinked) OnTimer(*detect.Context, detect.State, int64) {}
