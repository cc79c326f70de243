package twin

import (
	"hash/maphash"

	"github.com/vigil-project/vigil/internal/event"
)

// Vehicle is the digital twin of one vehicle: what the back-end last knew
// about it. It is kept small (see docs/performance.md): optional parts are
// nil until used and strings are shared with the decoded events.
type Vehicle struct {
	// Last fix.
	Lat, Lon float64
	FixTime  int64 // Unix ns; 0 = no fix yet
	FixRef   event.Ref
	Speed    float32 // km/h at the last fix
	Seq      uint64  // device message counter at the last fix
	Odometer float64 // m

	Lock      Lock
	Ignition  Ignition
	flags     uint8
	LastEvent int64 // event time of the newest event seen

	Firmware string // telematics unit firmware
	IMEI     string
	ICCID    string

	ECUs       []ECUVersion
	Commands   []CommandTx // recent command transactions, newest last
	Principals []string    // accounts seen commanding the vehicle, bounded
	Pending    []PendingChange

	// Detector bookkeeping: event time of the last alert per family, so a
	// detector does not repeat itself on every event.
	LastSpoofAlert int64
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
	MaxPending    = 4
)

// HasSeq reports whether Seq holds a device counter.
func (v *Vehicle) HasSeq() bool { return v.flags&hasSeq != 0 }

// HasOdometer reports whether Odometer is known.
func (v *Vehicle) HasOdometer() bool { return v.flags&hasOdometer != 0 }

// HashID hashes an identifier for compact matching (command ids). The seed
// is fixed per process; hashes are never stored or compared across runs.
func HashID(s string) uint64 { return maphash.String(hashSeed, s) }

var hashSeed = maphash.MakeSeed()

// FindCommand returns the newest transaction with the given id hash.
func (v *Vehicle) FindCommand(idHash uint64) *CommandTx {
	for i := len(v.Commands) - 1; i >= 0; i-- {
		if v.Commands[i].IDHash == idHash {
			return &v.Commands[i]
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
	}
}

func (v *Vehicle) applyTelemetry(ev *event.Event) {
	t := ev.Telemetry
	if ev.Time < v.FixTime {
		return // out of order: keep the newest fix
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
		if len(v.Commands) == MaxCommands {
			copy(v.Commands, v.Commands[1:])
			v.Commands = v.Commands[:MaxCommands-1]
		}
		v.Commands = append(v.Commands, CommandTx{IDHash: h, At: ev.Time, Kind: c.Command})
		tx = &v.Commands[len(v.Commands)-1]
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
	for i, p := range v.Principals {
		if p == account {
			// Move to the end: the list keeps the most recent.
			copy(v.Principals[i:], v.Principals[i+1:])
			v.Principals[len(v.Principals)-1] = account
			return
		}
	}
	if len(v.Principals) == MaxPrincipals {
		copy(v.Principals, v.Principals[1:])
		v.Principals = v.Principals[:MaxPrincipals-1]
	}
	v.Principals = append(v.Principals, account)
}

func (v *Vehicle) setECU(ecu, version string) {
	for i := range v.ECUs {
		if v.ECUs[i].ECU == ecu {
			v.ECUs[i].Version = version
			return
		}
	}
	v.ECUs = append(v.ECUs, ECUVersion{ECU: ecu, Version: version})
}
