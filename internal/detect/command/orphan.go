// Package command holds the detectors of remote-command abuse.
package command

import (
	"fmt"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/event"
	"github.com/vigil-project/vigil/internal/twin"
)

// OrphanConfig configures the orphan state change detector.
type OrphanConfig struct {
	// Window is how far apart in event time a state change and the command
	// behind it may be, either way. Default 2 minutes.
	Window time.Duration `yaml:"window"`
	// Origins whose state changes need a command. Default remote, unknown
	// and no origin at all ("none"); key, keyless and inside are physical.
	Origins []event.Origin `yaml:"origins"`
}

// Orphan raises unauthorized-command when the vehicle reports a state change
// that only a remote command should cause (unlocked, engine started, trunk
// opened, key added) and no such command for that vehicle shows up within the
// window. The absence is only decided once the window has closed on event
// time, so a command that arrives a little after the state change clears it.
type Orphan struct {
	window  int64
	origins [8]bool
}

// NewOrphan returns the detector.
func NewOrphan(cfg OrphanConfig) *Orphan {
	if cfg.Window <= 0 {
		cfg.Window = 2 * time.Minute
	}
	if cfg.Origins == nil {
		cfg.Origins = []event.Origin{event.OriginRemote, event.OriginUnknown, event.OriginUnset}
	}
	o := &Orphan{window: int64(cfg.Window)}
	for _, or := range cfg.Origins {
		o.origins[or] = true
	}
	return o
}

var _ detect.Detector = (*Orphan)(nil)

// Info describes the detector.
func (o *Orphan) Info() detect.Info {
	return detect.Info{
		ID:       "cmd.orphan-state-change",
		Category: alert.UnauthorizedCommand,
		Title:    "Vehicle state change with no command behind it",
		Description: fmt.Sprintf("A vehicle reported unlocked, engine_started, trunk_opened or key_added from a remote or unknown "+
			"origin and no matching remote command for it was seen within %v either side.", time.Duration(o.window)),
		Subscribe: []detect.Subscription{{Kind: detect.KindVehicle, Types: []event.Type{event.TypeVehicleEvent, event.TypeCommand}}},
	}
}

// commandFor maps a state change to the command that causes it.
func commandFor(n event.VehicleEventName) event.CommandKind {
	switch n {
	case event.NameUnlocked:
		return event.CmdUnlock
	case event.NameEngineStarted:
		return event.CmdEngineStart
	case event.NameTrunkOpened:
		return event.CmdTrunkOpen
	case event.NameKeyAdded:
		return event.CmdKeyAdd
	}
	return event.CmdUnset
}

// authorises reports whether tx is a command that can explain a state change
// of kind want at time t.
func (o *Orphan) authorises(tx *twin.CommandTx, want event.CommandKind, t int64) bool {
	if tx.Kind != want {
		return false
	}
	if !tx.Has(event.StageRequested) && !tx.Has(event.StageSent) && !tx.Has(event.StageDelivered) && !tx.Has(event.StageExecuted) {
		return false // failed or rejected only
	}
	return tx.At <= t+o.window && tx.Last >= t-o.window
}

// OnEvent handles vehicle.event (open a pending change) and vehicle.command
// (close pending changes it explains).
func (o *Orphan) OnEvent(c *detect.Context, s detect.State, ev *event.Event) {
	v := s.Vehicle
	switch ev.Type {
	case event.TypeVehicleEvent:
		ve := ev.VehicleEvent
		want := commandFor(ve.Name)
		if want == event.CmdUnset || !o.origins[ve.Origin] {
			return
		}
		var idHash uint64
		if ve.CommandID != "" {
			idHash = twin.HashID(ve.CommandID)
			if tx := v.FindCommand(idHash); tx != nil && o.authorises(tx, want, ev.Time) {
				return
			}
		} else {
			cmds := v.Commands()
			for i := range cmds {
				if o.authorises(&cmds[i], want, ev.Time) {
					return
				}
			}
		}
		a := v.More()
		if len(a.Pending) == twin.MaxPending {
			// Too many open at once: decide the oldest now rather than drop it.
			o.alert(c, a.Pending[0])
			a.Pending = append(a.Pending[:0], a.Pending[1:]...)
		}
		p := twin.PendingChange{Name: ve.Name, At: ev.Time, Deadline: ev.Time + o.window, CommandID: idHash, Ref: ev.Ref()}
		a.Pending = append(a.Pending, p)
		c.After(p.Deadline)
	case event.TypeCommand:
		if len(v.Pending()) == 0 {
			return
		}
		a := v.MoreIfAny()
		cmd := ev.Command
		if cmd.Stage == event.StageFailed || cmd.Stage == event.StageRejected {
			return
		}
		h := twin.HashID(cmd.CommandID)
		kept := a.Pending[:0]
		for _, p := range a.Pending {
			explained := commandFor(p.Name) == cmd.Command &&
				(p.CommandID == 0 || p.CommandID == h) &&
				ev.Time >= p.At-o.window && ev.Time <= p.Deadline
			if !explained {
				kept = append(kept, p)
			}
		}
		a.Pending = closePending(a.Pending, kept)
	}
}

// OnTimer decides the changes whose window closed at deadline.
func (o *Orphan) OnTimer(c *detect.Context, s detect.State, deadline int64) {
	a := s.Vehicle.MoreIfAny()
	if a == nil {
		return
	}
	kept := a.Pending[:0]
	for _, p := range a.Pending {
		if p.Deadline <= deadline {
			o.alert(c, p)
		} else {
			kept = append(kept, p)
		}
	}
	a.Pending = closePending(a.Pending, kept)
}

// closePending clears the tail left behind by in-place filtering and frees
// the list when it is empty.
func closePending(all, kept []twin.PendingChange) []twin.PendingChange {
	clear(all[len(kept):])
	if len(kept) == 0 {
		return nil
	}
	return kept
}

func (o *Orphan) alert(c *detect.Context, p twin.PendingChange) {
	sev := event.SeverityHigh
	if p.Name == event.NameEngineStarted || p.Name == event.NameKeyAdded {
		sev = event.SeverityCritical
	}
	win := time.Duration(o.window)
	expl := fmt.Sprintf("Vehicle %s reported %q at %s, but no %s command for it was requested, sent or delivered "+
		"between %s and %s (window %v either side, closed on event time).",
		c.Key, p.Name.String(), fmtTime(p.At), commandFor(p.Name), fmtTime(p.At-o.window), fmtTime(p.Deadline), win)
	if p.CommandID != 0 {
		expl += " The vehicle echoed a command id that the back-end never issued."
	}
	c.Emit(&alert.Alert{
		Time:        p.Deadline,
		FirstSeen:   p.At,
		LastSeen:    p.At,
		Severity:    sev,
		Title:       fmt.Sprintf("Vehicle %s with no command behind it", p.Name),
		Explanation: expl,
		Entities:    alert.Entities{Vehicle: c.Key},
		Evidence:    []event.Ref{p.Ref},
	})
}

func fmtTime(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }
