package command

import (
	"fmt"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/twin"
)

// UnrequestedConfig configures the unrequested execution detector.
type UnrequestedConfig struct {
	// Window is how long after an execution its requested stage may still
	// show up (stages come from different services with their own clocks
	// and delays). Default 2 minutes.
	Window time.Duration `yaml:"window"`
}

// Unrequested raises unauthorized-command when a command transaction is
// executed, or the vehicle echoes its command id, and no requested stage of
// that transaction shows up within the window: the command entered the
// command service, or reached the vehicle, without going through the
// front door where principals are authenticated and entitlements checked.
// The absence is decided on event time once the window has closed.
//
// Echoes of unknown command ids for unlocked, engine_started, trunk_opened
// and key_added are left to cmd.orphan-state-change.
type Unrequested struct {
	window int64
}

// NewUnrequested returns the detector.
func NewUnrequested(cfg UnrequestedConfig) *Unrequested {
	if cfg.Window <= 0 {
		cfg.Window = 2 * time.Minute
	}
	return &Unrequested{window: int64(cfg.Window)}
}

var _ detect.Detector = (*Unrequested)(nil)

// Info describes the detector.
func (u *Unrequested) Info() detect.Info {
	return detect.Info{
		ID:       "cmd.unrequested-execution",
		Category: alert.UnauthorizedCommand,
		Title:    "Command executed that nobody requested",
		Description: fmt.Sprintf("A command transaction was executed, or the vehicle echoed its command id, and no requested stage "+
			"of it was seen within %v.", time.Duration(u.window)),
		Subscribe: []detect.Subscription{{Kind: detect.KindVehicle, Types: []event.Type{event.TypeCommand, event.TypeVehicleEvent}}},
	}
}

// OnEvent opens a finding on an execution or echo without a requested
// stage, and closes findings when the requested stage arrives.
func (u *Unrequested) OnEvent(c *detect.Context, s detect.State, ev *event.Event) {
	v := s.Vehicle
	switch ev.Type {
	case event.TypeCommand:
		cmd := ev.Command
		h := twin.HashID(cmd.CommandID)
		switch cmd.Stage {
		case event.StageRequested:
			if m := v.MoreIfAny(); m != nil && len(m.Awaiting) > 0 {
				m.Resolve(twin.AwaitRequested, func(a *twin.Awaiting) bool { return a.ID == h })
			}
		case event.StageExecuted:
			if tx := v.FindCommand(h); tx != nil && tx.Has(event.StageRequested) {
				return
			}
			u.open(c, v, ev, h, fmt.Sprintf("command %s (%s) was executed on vehicle %s", cmd.CommandID, commandName(cmd), c.Key), cmd.Actor.Account)
		}
	case event.TypeVehicleEvent:
		ve := ev.VehicleEvent
		if ve.CommandID == "" {
			return
		}
		h := twin.HashID(ve.CommandID)
		tx := v.FindCommand(h)
		if tx != nil && tx.Has(event.StageRequested) {
			return
		}
		if tx == nil && commandFor(ve.Name) != event.CmdUnset {
			return // cmd.orphan-state-change decides unknown ids of these
		}
		u.open(c, v, ev, h, fmt.Sprintf("vehicle %s reported %s echoing command id %s", c.Key, eventName(ve), ve.CommandID), "")
	}
}

func (u *Unrequested) open(c *detect.Context, v *twin.Vehicle, ev *event.Event, h uint64, what, who string) {
	m := v.More()
	if m.Has(twin.AwaitRequested, h) {
		return // the execution and the echo of one transaction make one finding
	}
	a := twin.Awaiting{Kind: twin.AwaitRequested, At: ev.Time, Deadline: ev.Time + u.window, ID: h, Ref: ev.Ref(), Who: who, What: what}
	if old, full := m.Await(a); full {
		u.alert(c, v, old)
	}
	c.After(a.Deadline)
}

// OnTimer decides the findings whose window closed.
func (u *Unrequested) OnTimer(c *detect.Context, s detect.State, deadline int64) {
	v := s.Vehicle
	m := v.MoreIfAny()
	if m == nil {
		return
	}
	m.Due(twin.AwaitRequested, deadline, func(a twin.Awaiting) {
		if tx := v.FindCommand(a.ID); tx != nil && tx.Has(event.StageRequested) {
			return
		}
		u.alert(c, v, a)
	})
}

func (u *Unrequested) alert(c *detect.Context, v *twin.Vehicle, a twin.Awaiting) {
	tx := v.FindCommand(a.ID)
	sev := event.SeverityHigh
	var seen string
	if tx != nil {
		if sensitive(tx.Kind) {
			sev = event.SeverityCritical
		}
		seen = " Stages seen: " + stages(tx) + "."
	}
	by := ""
	if a.Who != "" {
		by = " on behalf of account " + a.Who
	}
	c.Emit(&alert.Alert{
		Time:      a.Deadline,
		FirstSeen: a.At,
		LastSeen:  a.At,
		Severity:  sev,
		Title:     fmt.Sprintf("Unrequested command on %s", c.Key),
		Explanation: fmt.Sprintf("%s at %s%s, but no requested stage of that command transaction was seen between %s and %s "+
			"(window %v, closed on event time): the command bypassed the request path where principals are checked.%s",
			upperFirst(a.What), fmtTime(a.At), by, fmtTime(a.At-u.window), fmtTime(a.Deadline), time.Duration(u.window), seen),
		Entities: alert.Entities{Vehicle: c.Key, Account: a.Who},
		Evidence: []event.Ref{a.Ref},
	})
}

// stages lists the stages a transaction went through.
func stages(tx *twin.CommandTx) string {
	out := ""
	for s := event.StageRequested; s <= event.StageRejected; s++ {
		if tx.Has(s) {
			if out != "" {
				out += ", "
			}
			out += s.String()
		}
	}
	return out
}

func upperFirst(s string) string {
	if s != "" && s[0] >= 'a' && s[0] <= 'z' {
		return string(s[0]-'a'+'A') + s[1:]
	}
	return s
}

func eventName(ve *event.VehicleEvent) string {
	if ve.Name == event.NameOther && ve.NameText != "" {
		return ve.NameText
	}
	return ve.Name.String()
}
