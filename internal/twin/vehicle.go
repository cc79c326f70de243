package twin

import "github.com/vigil-project/vigil/internal/event"

// Vehicle is the digital twin of one vehicle: what the back-end last knew
// about it. It is kept small (see docs/performance.md): optional parts are
// nil until used and strings are shared with the decoded events.
type Vehicle struct {
	// Last fix.
	Lat, Lon float64
	FixTime  int64 // Unix ns; 0 = no fix yet
	FixRef   event.Ref
	Seq      uint64  // device message counter at the last fix
	Odometer float64 // m

	LastEvent int64 // event time of the newest event seen
	// LastSpoofAlert is the event time of the last telemetry-spoofing
	// alert, so the detectors do not repeat themselves on every fix; it
	// also opens a spoofing episode (see SpoofEpisode).
	LastSpoofAlert int64
	// LastAlert is the event time of the newest alert any detector raised
	// on this vehicle (set by the engine).
	LastAlert int64

	Speed    float32 // km/h at the last fix
	Lock     Lock
	Ignition Ignition
	flags    uint8
	// CellMisses counts consecutive fixes far from their serving cell
	// (telemetry.gps-cell-mismatch); it fits in the padding after flags.
	CellMisses uint8

	Firmware string // telematics unit firmware
	IMEI     string
	ICCID    string

	// Act holds what only commanded or updated vehicles need; nil until then.
	Act *Activity
}

// Activity is the part of a twin that most parked vehicles never need.
type Activity struct {
	ECUs       []ECUVersion
	Commands   []CommandTx // recent command transactions, newest last
	Principals []string    // accounts seen commanding the vehicle, most recent last
	// More is what even fewer vehicles need (state changes waiting for
	// their command, learned links, SMS nonces, findings waiting for their
	// window, detector marks); nil until used.
	More *More
}

// Activity returns v.Act, allocating it on first use.
func (v *Vehicle) Activity() *Activity {
	if v.Act == nil {
		v.Act = &Activity{}
	}
	return v.Act
}

// Commands returns the recent command transactions (nil when none).
func (v *Vehicle) Commands() []CommandTx {
	if v.Act == nil {
		return nil
	}
	return v.Act.Commands
}

// Pending returns the state changes waiting for their command (nil when none).
func (v *Vehicle) Pending() []PendingChange {
	if m := v.MoreIfAny(); m != nil {
		return m.Pending
	}
	return nil
}

const (
	hasSeq uint8 = 1 << iota
	hasOdometer
)

// Lock state of the doors.
type Lock uint8

const (
	LockUnknown Lock = iota
	Locked
	Unlocked
)

// Ignition state.
type Ignition uint8

const (
	IgnitionUnknown Ignition = iota
	IgnitionOff
	IgnitionOn
)

// ECUVersion is the installed firmware of one ECU.
type ECUVersion struct {
	ECU, Version string
}

// CommandTx is one remote command transaction as the twin remembers it.
type CommandTx struct {
	IDHash uint64 // hash of command_id
	At     int64  // event time of the first stage seen
	Last   int64  // event time of the last stage seen
	Kind   event.CommandKind
	Stages uint8 // bit set of event.Stage seen
}

// Has reports whether the transaction went through stage s.
func (c *CommandTx) Has(s event.Stage) bool { return c.Stages&(1<<s) != 0 }

// PendingChange is a state change the vehicle reported that still waits for
// the command behind it; a detector's timer closes its window.
type PendingChange struct {
	Name      event.VehicleEventName
	At        int64 // event time of the state change
	Deadline  int64 // end of the window to find its command
	CommandID uint64
	Ref       event.Ref
}

// Limits on the twin's lists: the oldest entries make way.
const (
	MaxCommands   = 6
	MaxPrincipals = 4
	MaxPending    = 16
	MaxECUs       = 32
)

// HasSeq reports whether Seq holds a device counter.
func (v *Vehicle) HasSeq() bool { return v.flags&hasSeq != 0 }

// HasOdometer reports whether Odometer is known.
func (v *Vehicle) HasOdometer() bool { return v.flags&hasOdometer != 0 }

// FindCommand returns the newest transaction with the given id hash.
func (v *Vehicle) FindCommand(idHash uint64) *CommandTx {
	cmds := v.Commands()
	for i := len(cmds) - 1; i >= 0; i-- {
		if cmds[i].IDHash == idHash {
			return &cmds[i]
		}
	}
	return nil
}

// Apply folds an event into the twin. Detectors run before Apply, so they
// see the state the event found.
func (v *Vehicle) Apply(ev *event.Event) {
	if ev.Time > v.LastEvent {
		v.LastEvent = ev.Time
	}
	switch ev.Type {
	case event.TypeTelemetry:
		v.applyTelemetry(ev)
	case event.TypeVehicleEvent:
		v.applyVehicleEvent(ev.VehicleEvent)
	case event.TypeCommand:
		v.applyCommand(ev)
	case event.TypeFirmware:
		if f := ev.Firmware; f.Result == event.FWInstalled {
			v.setECU(f.ECU, f.Version)
		}
	case event.TypeAccountChange:
		v.applyLinkChange(ev)
	}
}

func (v *Vehicle) applyTelemetry(ev *event.Event) {
	t := ev.Telemetry
	if ev.Time < v.FixTime && !v.FollowsFutureFix(ev) {
		return // out of order: keep the newest fix
	}
	if v.leftOut(ev) {
		return // a jump during a spoofing episode: keep the plausible track
	}
	v.Lat, v.Lon, v.FixTime, v.FixRef = t.Position.Lat, t.Position.Lon, ev.Time, ev.Ref()
	v.Speed = 0
	if t.HasSpeed {
		v.Speed = float32(t.Speed)
	}
	if t.HasSeq {
		v.Seq, v.flags = t.Seq, v.flags|hasSeq
	}
	s := &t.Signals
	if s.HasTraveledDistance {
		v.Odometer, v.flags = s.TraveledDistance, v.flags|hasOdometer
	}
	switch s.DriverDoorLocked {
	case event.True:
		v.Lock = Locked
	case event.False:
		v.Lock = Unlocked
	}
	switch {
	case s.EngineRunning == event.True || s.LowVoltageState == event.LVOn || s.LowVoltageState == event.LVStart:
		v.Ignition = IgnitionOn
	case s.EngineRunning == event.False || s.LowVoltageState == event.LVOff || s.LowVoltageState == event.LVLock:
		v.Ignition = IgnitionOff
	}
	if d := t.Device; d != nil {
		if d.Firmware != "" {
			v.Firmware = d.Firmware
		}
		if d.IMEI != "" && d.IMEI != v.IMEI {
			v.IMEI = d.IMEI
		}
		if d.ICCID != "" && d.ICCID != v.ICCID {
			v.ICCID = d.ICCID
		}
	}
}

func (v *Vehicle) applyVehicleEvent(e *event.VehicleEvent) {
	switch e.Name {
	case event.NameUnlocked:
		v.Lock = Unlocked
	case event.NameLocked:
		v.Lock = Locked
	case event.NameEngineStarted:
		v.Ignition = IgnitionOn
	case event.NameEngineStopped, event.NameImmobilized:
		v.Ignition = IgnitionOff
	}
}

func (v *Vehicle) applyCommand(ev *event.Event) {
	c := ev.Command
	h := HashID(c.CommandID)
	tx := v.FindCommand(h)
	if tx == nil {
		a := v.Activity()
		if len(a.Commands) == MaxCommands {
			copy(a.Commands, a.Commands[1:])
			a.Commands = a.Commands[:MaxCommands-1]
		}
		a.Commands = append(a.Commands, CommandTx{IDHash: h, At: ev.Time, Kind: c.Command})
		tx = &a.Commands[len(a.Commands)-1]
	}
	tx.Stages |= 1 << c.Stage
	if ev.Time < tx.At {
		tx.At = ev.Time
	}
	if ev.Time > tx.Last {
		tx.Last = ev.Time
	}
	if a := c.Actor.Account; a != "" {
		v.notePrincipal(a)
	}
}

func (v *Vehicle) notePrincipal(account string) {
	a := v.Activity()
	for i, p := range a.Principals {
		if p == account {
			// Move to the end: the list keeps the most recent.
			copy(a.Principals[i:], a.Principals[i+1:])
			a.Principals[len(a.Principals)-1] = account
			return
		}
	}
	if len(a.Principals) == MaxPrincipals {
		copy(a.Principals, a.Principals[1:])
		a.Principals = a.Principals[:MaxPrincipals-1]
	}
	a.Principals = append(a.Principals, account)
}

// FutureSkew is how far before the twin's last fix a fix may be stamped,
// while the unit's message counter says it came after it, for the twin to
// decide that the last fix was stamped in the future (see FollowsFutureFix).
const FutureSkew = int64(10 * 60 * 1e9)

// maxSeqStep is how far a unit's message counter may advance between two
// fixes for the second to count as the first's successor.
const maxSeqStep = 1000

// FollowsFutureFix reports whether the telemetry ev, stamped more than
// FutureSkew before the twin's last fix, carries the message counter that
// comes right after it: the unit's clock or an injected message put the
// last fix in the future. The twin then takes ev as its newest fix instead
// of ignoring every fix until the clock catches up.
func (v *Vehicle) FollowsFutureFix(ev *event.Event) bool {
	t := ev.Telemetry
	return t.HasSeq && v.HasSeq() && t.Seq > v.Seq && t.Seq-v.Seq <= maxSeqStep && v.FixTime-ev.Time > FutureSkew
}

// ECUVersion returns the firmware version the twin knows for ecu, "" if none.
func (v *Vehicle) ECUVersion(ecu string) string {
	if v.Act == nil {
		return ""
	}
	for i := range v.Act.ECUs {
		if v.Act.ECUs[i].ECU == ecu {
			return v.Act.ECUs[i].Version
		}
	}
	return ""
}

func (v *Vehicle) setECU(ecu, version string) {
	a := v.Activity()
	for i := range a.ECUs {
		if a.ECUs[i].ECU == ecu {
			a.ECUs[i].Version = version
			return
		}
	}
	if len(a.ECUs) == MaxECUs {
		// ECU names come from the events: bounded, the oldest makes way.
		copy(a.ECUs, a.ECUs[1:])
		a.ECUs = a.ECUs[:MaxECUs-1]
	}
	a.ECUs = append(a.ECUs, ECUVersion{ECU: ecu, Version: version})
}
