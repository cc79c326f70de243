// Package event is vigil's canonical event model: the ingest contract of
// shared/spec/events.md decoded once into typed structs. Nothing downstream of
// the decoder sees JSON.
package event

import "time"

// Event is one decoded CloudEvent. Exactly one of the typed payload pointers
// is set, the one named by Type.
type Event struct {
	ID      string
	Source  string
	Type    Type
	Time    int64 // event time, Unix nanoseconds
	Subject string
	Tenant  string // "default" when the producer sent none

	// Arrived is the monotonic arrival stamp (nanoseconds, process-local) set
	// by the source; 0 when unknown. It is never serialised.
	Arrived int64

	Telemetry     *Telemetry
	VehicleEvent  *VehicleEvent
	Command       *Command
	Login         *Login
	AccountChange *AccountChange
	APIAccess     *APIAccess
	SMS           *SMS
	Firmware      *Firmware
	IDS           *IDSReport
	Stats         *TenantStats // TypeTenantStats only
}

// TenantStats is what one tenant sent in one minute of event time. The
// engine's router counts every event it routes and hands the count to the
// tenant's key when the watermark has passed the minute, so detectors can
// watch a tenant's traffic as a whole (outages, failure spikes).
type TenantStats struct {
	Start, End int64         // the minute, Unix ns, End exclusive
	ByType     [NumTypes]int // events by type
	Commands   [7]int        // vehicle.command events by Stage
	Late       int           // events for this minute that arrived after it was closed
}

// DefaultTenant is the tenant of events that carry none.
const DefaultTenant = "default"

// When returns the event time as a time.Time in UTC.
func (e *Event) When() time.Time { return time.Unix(0, e.Time).UTC() }

// Ref names an event by its idempotency key.
type Ref struct {
	Source string `json:"source"`
	ID     string `json:"id"`
}

// Ref returns the (source, id) of the event.
func (e *Event) Ref() Ref { return Ref{Source: e.Source, ID: e.ID} }

// Actor is the principal behind an event. Every field is optional.
type Actor struct {
	Account   string
	Device    string
	IP        string
	ClientID  string
	Role      Role
	UserAgent string
}

// Actor returns the event's principal, or nil for types that carry none.
func (e *Event) Actor() *Actor {
	switch e.Type {
	case TypeCommand:
		return &e.Command.Actor
	case TypeLogin:
		return &e.Login.Actor
	case TypeAccountChange:
		return &e.AccountChange.Actor
	case TypeAPIAccess:
		return &e.APIAccess.Actor
	}
	return nil
}

// Tri is an optional boolean.
type Tri uint8

const (
	Unset Tri = iota
	False
	True
)

// TriOf converts a bool into a set Tri.
func TriOf(b bool) Tri {
	if b {
		return True
	}
	return False
}

// Position is a WGS 84 fix. Optional members are flagged in Has.
type Position struct {
	Lat, Lon                   float64
	Alt, Heading, Accuracy     float64
	HasAlt, HasHeading, HasAcc bool
}

// Signals holds the COVESA VSS 6.0 signals vigil reasons about. Signals it
// does not know are validated as JSON and left to the raw archive.
type Signals struct {
	TraveledDistance    float64 // Vehicle.TraveledDistance, m
	HasTraveledDistance bool
	LowVoltageState     LowVoltageState // Vehicle.LowVoltageSystemState
	DriverDoorLocked    Tri             // Vehicle.Cabin.Door.Row1.DriverSide.IsLocked
	DriverDoorOpen      Tri             // Vehicle.Cabin.Door.Row1.DriverSide.IsOpen
	EngineRunning       Tri             // Vehicle.Powertrain.CombustionEngine.IsRunning
	IsMoving            Tri             // Vehicle.IsMoving
	Speed               float64         // Vehicle.Speed, km/h
	HasSpeed            bool
	VIN                 string // Vehicle.VehicleIdentification.VIN
}

// Device identifies the telematics unit.
type Device struct {
	IMEI, ICCID, IP, Firmware string
}

// Cell is the serving cell.
type Cell struct {
	MCC, MNC int
	LAC, CID int64
	DBM      int
	HasDBM   bool
}

// Telemetry is the data of vehicle.telemetry.
type Telemetry struct {
	Position Position
	Speed    float64 // km/h
	HasSpeed bool
	Seq      uint64
	HasSeq   bool
	Signals  Signals
	Device   *Device
	Cell     *Cell
}

// VehicleEvent is the data of vehicle.event.
type VehicleEvent struct {
	Name      VehicleEventName
	NameText  string // the name as sent; set for names vigil does not know
	Origin    Origin
	CommandID string
	Detail    []byte // raw JSON object, nil when absent
}

// Command is the data of vehicle.command.
type Command struct {
	CommandID   string
	Command     CommandKind
	CommandText string // the command as sent; set for commands vigil does not know
	Stage       Stage
	Channel     Channel
	Actor       Actor
}

// Login is the data of auth.login.
type Login struct {
	Actor        Actor
	UsernameHash string
	Result       LoginResult
	Reason       LoginReason
	Method       LoginMethod
	MFA          Tri
}

// AccountChange is the data of account.change.
type AccountChange struct {
	Actor                      Actor
	Account                    string
	Change                     ChangeKind
	Vehicle                    string
	ConfirmedByPreviousContact Tri
}

// APIAccess is the data of api.access.
type APIAccess struct {
	Actor      Actor
	Method     HTTPMethod
	Route      string
	Vehicles   []string
	Status     int
	Records    int64
	HasRecords bool
	Bytes      int64
	HasBytes   bool
	Fields     PersonalFields
}

// SMS is the data of sms.message.
type SMS struct {
	Direction  SMSDirection
	Originator string
	Recipient  string
	Kind       SMSKind
	Command    string
	Auth       SMSAuth
	Nonce      string
}

// Signature is a firmware image signature over the raw SHA-256 digest.
type Signature struct {
	Alg   SignatureAlg
	KeyID string
	Value []byte // decoded from base64
}

// Firmware is the data of firmware.install.
type Firmware struct {
	ECU             string
	Version         string
	PreviousVersion string
	SHA256          [32]byte
	Size            int64
	HasSize         bool
	Signature       *Signature
	Channel         FirmwareChannel
	Campaign        string
	Result          FirmwareResult
}

// IDSReport is the data of ids.report.
type IDSReport struct {
	ECU      string
	Sensor   string
	EventID  string
	Severity Severity
	Count    int64
	HasCount bool
	Product  string
	Context  []byte // raw JSON object, nil when absent
}

// VSS paths of the signals decoded into Signals.
const (
	SignalTraveledDistance = "Vehicle.TraveledDistance"
	SignalSpeed            = "Vehicle.Speed"
	SignalLowVoltageState  = "Vehicle.LowVoltageSystemState"
	SignalDriverDoorLocked = "Vehicle.Cabin.Door.Row1.DriverSide.IsLocked"
	SignalDriverDoorOpen   = "Vehicle.Cabin.Door.Row1.DriverSide.IsOpen"
	SignalEngineRunning    = "Vehicle.Powertrain.CombustionEngine.IsRunning"
	SignalIsMoving         = "Vehicle.IsMoving"
	SignalVIN              = "Vehicle.VehicleIdentification.VIN"
)
