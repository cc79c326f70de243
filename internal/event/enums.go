package event

import "fmt"

// Every enumeration of the contract is a uint8 whose zero value means "not
// sent". The name tables are the single place a value is spelled.

// lookup finds b in names (index 0 is the unset value and never matches).
func lookup[T ~uint8](names []string, b []byte) (T, bool) {
	for i := 1; i < len(names); i++ {
		if string(b) == names[i] {
			return T(i), true
		}
	}
	return 0, false
}

func name(names []string, i uint8) string {
	if int(i) < len(names) {
		return names[i]
	}
	return ""
}

// Type is the CloudEvents type of an event.
type Type uint8

const (
	TypeUnknown Type = iota
	TypeTelemetry
	TypeVehicleEvent
	TypeCommand
	TypeLogin
	TypeAccountChange
	TypeAPIAccess
	TypeSMS
	TypeFirmware
	TypeIDS
	numTypes

	// TypeTenantStats is not part of the contract and never decoded: the
	// engine makes one per tenant and minute of event time (see TenantStats).
	TypeTenantStats = numTypes
	// NumTypes bounds every Type, the engine's internal one included.
	NumTypes = numTypes + 1
)

var typeNames = []string{"", "vehicle.telemetry", "vehicle.event", "vehicle.command", "auth.login",
	"account.change", "api.access", "sms.message", "firmware.install", "ids.report"}

func (t Type) String() string {
	if t == TypeTenantStats {
		return "vigil.tenant.stats"
	}
	return name(typeNames, uint8(t))
}

// Types lists every event type of the contract.
func Types() []Type {
	out := make([]Type, 0, numTypes-1)
	for t := TypeTelemetry; t < numTypes; t++ {
		out = append(out, t)
	}
	return out
}

// NeedsSubject reports whether the contract requires a subject for the type.
func (t Type) NeedsSubject() bool {
	return t == TypeTelemetry || t == TypeVehicleEvent || t == TypeCommand || t == TypeFirmware || t == TypeIDS
}

// Role of a principal.
type Role uint8

const (
	RoleUnset Role = iota
	RoleOwner
	RoleDriver
	RoleFleetManager
	RoleDealer
	RoleStaff
	RoleService
	RoleThirdParty
)

var roleNames = []string{"", "owner", "driver", "fleet_manager", "dealer", "staff", "service", "third_party"}

func (r Role) String() string { return name(roleNames, uint8(r)) }

// LowVoltageState is Vehicle.LowVoltageSystemState.
type LowVoltageState uint8

const (
	LVUnset LowVoltageState = iota
	LVUndefined
	LVLock
	LVOff
	LVAcc
	LVOn
	LVStart
)

var lvNames = []string{"", "UNDEFINED", "LOCK", "OFF", "ACC", "ON", "START"}

func (s LowVoltageState) String() string { return name(lvNames, uint8(s)) }

// VehicleEventName is the name of a vehicle.event. The list is open: names
// vigil does not know decode as NameOther with the text kept.
type VehicleEventName uint8

const (
	NameUnset VehicleEventName = iota
	NameUnlocked
	NameLocked
	NameEngineStarted
	NameEngineStopped
	NameImmobilized
	NameKeyAdded
	NameKeyRemoved
	NameConfigChanged
	NameAlarm
	NameTrunkOpened
	NameSIMChanged
	NameOther
)

var vehicleEventNames = []string{"", "unlocked", "locked", "engine_started", "engine_stopped", "immobilized",
	"key_added", "key_removed", "config_changed", "alarm", "trunk_opened", "sim_changed", ""}

func (n VehicleEventName) String() string { return name(vehicleEventNames, uint8(n)) }

// Origin is what triggered a vehicle.event.
type Origin uint8

const (
	OriginUnset Origin = iota
	OriginRemote
	OriginKey
	OriginKeyless
	OriginInside
	OriginUnknown
)

var originNames = []string{"", "remote", "key", "keyless", "inside", "unknown"}

func (o Origin) String() string { return name(originNames, uint8(o)) }

// CommandKind is a remote command. The list is open, like VehicleEventName.
type CommandKind uint8

const (
	CmdUnset CommandKind = iota
	CmdUnlock
	CmdLock
	CmdEngineStart
	CmdEngineStop
	CmdImmobilize
	CmdHornLights
	CmdClimate
	CmdLocate
	CmdTrunkOpen
	CmdKeyAdd
	CmdConfig
	CmdFirmwareUpdate
	CmdOther
)

var commandNames = []string{"", "unlock", "lock", "engine_start", "engine_stop", "immobilize", "horn_lights",
	"climate", "locate", "trunk_open", "key_add", "config", "firmware_update", ""}

func (c CommandKind) String() string { return name(commandNames, uint8(c)) }

// Stage of a command transaction.
type Stage uint8

const (
	StageUnset Stage = iota
	StageRequested
	StageSent
	StageDelivered
	StageExecuted
	StageFailed
	StageRejected
)

var stageNames = []string{"", "requested", "sent", "delivered", "executed", "failed", "rejected"}

func (s Stage) String() string { return name(stageNames, uint8(s)) }

// Channel a command came through.
type Channel uint8

const (
	ChannelUnset Channel = iota
	ChannelApp
	ChannelWeb
	ChannelAPI
	ChannelSMS
	ChannelBackend
	ChannelDealer
)

var channelNames = []string{"", "app", "web", "api", "sms", "backend", "dealer"}

func (c Channel) String() string { return name(channelNames, uint8(c)) }

// LoginResult of an auth.login.
type LoginResult uint8

const (
	ResultUnset LoginResult = iota
	ResultSuccess
	ResultFailure
)

var loginResultNames = []string{"", "success", "failure"}

func (r LoginResult) String() string { return name(loginResultNames, uint8(r)) }

// LoginReason explains a failed login.
type LoginReason uint8

const (
	ReasonUnset LoginReason = iota
	ReasonBadPassword
	ReasonUnknownUser
	ReasonLocked
	ReasonBadPIN
	ReasonMFAFailed
)

var loginReasonNames = []string{"", "bad_password", "unknown_user", "locked", "bad_pin", "mfa_failed"}

func (r LoginReason) String() string { return name(loginReasonNames, uint8(r)) }

// LoginMethod of an auth.login.
type LoginMethod uint8

const (
	MethodUnset LoginMethod = iota
	MethodPassword
	MethodPIN
	MethodToken
	MethodSSO
	MethodBiometric
)

var loginMethodNames = []string{"", "password", "pin", "token", "sso", "biometric"}

func (m LoginMethod) String() string { return name(loginMethodNames, uint8(m)) }

// ChangeKind of an account.change.
type ChangeKind uint8

const (
	ChangeUnset ChangeKind = iota
	ChangeEmail
	ChangePhone
	ChangePassword
	ChangePasswordReset
	ChangeMFA
	ChangeVehicleLinked
	ChangeVehicleUnlinked
	ChangeDeviceRegistered
	ChangeDeviceRemoved
	ChangeDigitalKeyAdded
	ChangeOwnershipTransfer
	ChangeRole
)

var changeNames = []string{"", "email", "phone", "password", "password_reset", "mfa", "vehicle_linked",
	"vehicle_unlinked", "device_registered", "device_removed", "digital_key_added", "ownership_transfer", "role"}

func (c ChangeKind) String() string { return name(changeNames, uint8(c)) }

// HTTPMethod of an api.access.
type HTTPMethod uint8

const (
	HTTPUnset HTTPMethod = iota
	HTTPGet
	HTTPHead
	HTTPPost
	HTTPPut
	HTTPPatch
	HTTPDelete
	HTTPOptions
)

var httpMethodNames = []string{"", "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

func (m HTTPMethod) String() string { return name(httpMethodNames, uint8(m)) }

// PersonalFields is a set of classes of personal data returned by an API.
type PersonalFields uint8

const (
	FieldLocation PersonalFields = 1 << iota
	FieldName
	FieldEmail
	FieldPhone
	FieldAddress
	FieldVIN
	FieldPayment
)

var personalFieldNames = []string{"location", "name", "email", "phone", "address", "vin", "payment"}

func parsePersonalField(b []byte) (PersonalFields, bool) {
	for i, n := range personalFieldNames {
		if string(b) == n {
			return 1 << i, true
		}
	}
	return 0, false
}

// Names lists the classes in the set in contract order.
func (f PersonalFields) Names() []string {
	var out []string
	for i, n := range personalFieldNames {
		if f&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

// SMSDirection of an sms.message.
type SMSDirection uint8

const (
	DirUnset SMSDirection = iota
	DirMT
	DirMO
)

var smsDirectionNames = []string{"", "mt", "mo"}

func (d SMSDirection) String() string { return name(smsDirectionNames, uint8(d)) }

// SMSKind of an sms.message.
type SMSKind uint8

const (
	SMSKindUnset SMSKind = iota
	SMSCommand
	SMSWakeup
	SMSConfig
	SMSOther
)

var smsKindNames = []string{"", "command", "wakeup", "config", "other"}

func (k SMSKind) String() string { return name(smsKindNames, uint8(k)) }

// SMSAuth is the gateway's verdict on an SMS's authentication.
type SMSAuth uint8

const (
	AuthUnset SMSAuth = iota
	AuthValid
	AuthInvalid
	AuthAbsent
)

var smsAuthNames = []string{"", "valid", "invalid", "absent"}

func (a SMSAuth) String() string { return name(smsAuthNames, uint8(a)) }

// SignatureAlg of a firmware signature.
type SignatureAlg uint8

const (
	AlgUnset SignatureAlg = iota
	AlgEd25519
	AlgECDSAP256SHA256
)

var sigAlgNames = []string{"", "ed25519", "ecdsa-p256-sha256"}

func (a SignatureAlg) String() string { return name(sigAlgNames, uint8(a)) }

// FirmwareChannel an image arrived through.
type FirmwareChannel uint8

const (
	FWChannelUnset FirmwareChannel = iota
	FWChannelOTA
	FWChannelUSB
	FWChannelDealer
	FWChannelUnknown
)

var fwChannelNames = []string{"", "ota", "usb", "dealer", "unknown"}

func (c FirmwareChannel) String() string { return name(fwChannelNames, uint8(c)) }

// FirmwareResult of a firmware.install.
type FirmwareResult uint8

const (
	FWResultUnset FirmwareResult = iota
	FWOffered
	FWInstalled
	FWFailed
)

var fwResultNames = []string{"", "offered", "installed", "failed"}

func (r FirmwareResult) String() string { return name(fwResultNames, uint8(r)) }

// Severity of an IDS report (and of an alert).
type Severity uint8

const (
	SeverityUnset Severity = iota
	SeverityLow
	SeverityMedium
	SeverityHigh
	SeverityCritical
)

var severityNames = []string{"", "low", "medium", "high", "critical"}

func (s Severity) String() string { return name(severityNames, uint8(s)) }

// ParseSeverity parses a severity name.
func ParseSeverity(s string) (Severity, bool) { return lookup[Severity](severityNames, []byte(s)) }

// oneOf renders a name table for an error message: "one of a, b, c".
func oneOf(names []string) string {
	out := "one of "
	first := true
	for _, n := range names {
		if n == "" {
			continue
		}
		if !first {
			out += ", "
		}
		out += n
		first = false
	}
	return out
}

// ParseRole parses a role name of the contract.
func ParseRole(s string) (Role, bool) { return lookup[Role](roleNames, []byte(s)) }

// UnmarshalText reads a role by name (configuration files).
func (r *Role) UnmarshalText(b []byte) error { return unmarshalName(roleNames, b, r) }

// MarshalText writes a role by name.
func (r Role) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText reads a severity by name (configuration files).
func (s *Severity) UnmarshalText(b []byte) error { return unmarshalName(severityNames, b, s) }

// MarshalText writes a severity by name.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads an origin by name (configuration files); "none" is
// an event that gives no origin.
func (o *Origin) UnmarshalText(b []byte) error {
	if string(b) == "none" {
		*o = OriginUnset
		return nil
	}
	return unmarshalName(originNames, b, o)
}

// MarshalText writes an origin by name.
func (o Origin) MarshalText() ([]byte, error) {
	if o == OriginUnset {
		return []byte("none"), nil
	}
	return []byte(o.String()), nil
}

// unmarshalName reads an enumeration value by its name.
func unmarshalName[T ~uint8](names []string, b []byte, dst *T) error {
	v, ok := lookup[T](names, b)
	if !ok {
		return fmt.Errorf("%q is not %s", clip(b), oneOf(names))
	}
	*dst = v
	return nil
}
