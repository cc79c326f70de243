package rules

import (
	"encoding/hex"
	"time"

	"github.com/vigil-project/vigil/internal/event"
)

// Env is what a rule condition sees: one event, by the names of the ingest
// contract (shared/spec/events.md). Conditions are compiled against this
// type once, so a misspelt field is a load error, and evaluated against one
// Env per event delivery that the detector fills in place (no map, no
// allocation for the fields of the event's type).
//
// Data is the union of every type's payload: a field the event's type does
// not carry reads as its zero value ("", 0, false, an empty list, nil). The
// tag `on` lists the types that set a field; docs/rules.md is generated from
// these tags (TestFieldTable keeps it in step).
type Env struct {
	ID      string    `expr:"id" on:"*" doc:"the event's id (unique per source)"`
	Source  string    `expr:"source" on:"*" doc:"the producer, e.g. tsp/mobile-api"`
	Type    string    `expr:"type" on:"*" doc:"the event type, e.g. auth.login"`
	Time    time.Time `expr:"time" on:"*" doc:"event time (UTC); compare with date(\"2026-03-01T00:00:00Z\")"`
	Hour    int       `expr:"hour" on:"*" doc:"hour of the event time, 0-23, in the rule's timezone (UTC unless the rule sets timezone)"`
	Weekday int       `expr:"weekday" on:"*" doc:"day of the week of the event time, 0 = Sunday, in the rule's timezone"`
	Subject string    `expr:"subject" on:"*" doc:"the vehicle concerned (VIN or device id); may be empty for principal events"`
	Tenant  string    `expr:"tenant" on:"*" doc:"the tenant (default when the producer sent none)"`
	Data    Data      `expr:"data"`
}

// Data is the payload of every event type, by contract name.
type Data struct {
	// vehicle.telemetry
	Position Position    `expr:"position" on:"vehicle.telemetry"`
	Speed    float64     `expr:"speed" on:"vehicle.telemetry" doc:"km/h; 0 when not sent"`
	Seq      int         `expr:"seq" on:"vehicle.telemetry" doc:"the device's message counter; 0 when not sent"`
	Signals  Signals     `expr:"signals" on:"vehicle.telemetry"`
	Device   TelemDevice `expr:"device" on:"vehicle.telemetry"`
	Cell     Cell        `expr:"cell" on:"vehicle.telemetry"`

	// vehicle.event
	Name   string `expr:"name" on:"vehicle.event" doc:"unlocked, locked, engine_started, engine_stopped, immobilized, key_added, key_removed, config_changed, alarm, trunk_opened, sim_changed, or the name as sent"`
	Origin string `expr:"origin" on:"vehicle.event" doc:"remote, key, keyless, inside, unknown; empty when not sent"`
	Detail string `expr:"detail" on:"vehicle.event" doc:"the detail object as JSON text; empty when not sent"`

	CommandID string `expr:"command_id" on:"vehicle.event,vehicle.command" doc:"the command transaction id"`
	Command   string `expr:"command" on:"vehicle.command,sms.message" doc:"unlock, lock, engine_start, engine_stop, immobilize, horn_lights, climate, locate, trunk_open, key_add, config, firmware_update, or the command as sent"`
	Stage     string `expr:"stage" on:"vehicle.command" doc:"requested, sent, delivered, executed, failed, rejected"`
	Channel   string `expr:"channel" on:"vehicle.command,firmware.install" doc:"command: app, web, api, sms, backend, dealer; firmware: ota, usb, dealer, unknown"`

	Actor Actor `expr:"actor" on:"vehicle.command,auth.login,account.change,api.access"`

	// auth.login
	UsernameHash string `expr:"username_hash" on:"auth.login" doc:"set when the account is unknown"`
	Result       string `expr:"result" on:"auth.login,firmware.install" doc:"login: success, failure; firmware: offered, installed, failed"`
	Reason       string `expr:"reason" on:"auth.login" doc:"bad_password, unknown_user, locked, bad_pin, mfa_failed; empty when not sent"`
	Method       string `expr:"method" on:"auth.login,api.access" doc:"login: password, pin, token, sso, biometric; api: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"`
	MFA          any    `expr:"mfa" on:"auth.login" doc:"true or false; nil when not sent (compare with == true / == false)"`

	// account.change
	Account                    string `expr:"account" on:"account.change" doc:"whose account changed"`
	Change                     string `expr:"change" on:"account.change" doc:"email, phone, password, password_reset, mfa, vehicle_linked, vehicle_unlinked, device_registered, device_removed, digital_key_added, ownership_transfer, role"`
	Vehicle                    string `expr:"vehicle" on:"account.change" doc:"the vehicle linked or unlinked; empty when not sent"`
	ConfirmedByPreviousContact any    `expr:"confirmed_by_previous_contact" on:"account.change" doc:"true or false; nil when not sent"`

	// api.access
	Route    string   `expr:"route" on:"api.access" doc:"the templated path, e.g. /v1/vehicles/{vin}/location"`
	Vehicles []string `expr:"vehicles" on:"api.access" doc:"vehicle ids read or written; len(data.vehicles) counts them"`
	Status   int      `expr:"status" on:"api.access" doc:"HTTP status"`
	Records  int      `expr:"records" on:"api.access" doc:"records returned; 0 when not sent"`
	Bytes    int      `expr:"bytes" on:"api.access" doc:"bytes returned; 0 when not sent"`
	Fields   []string `expr:"fields" on:"api.access" doc:"classes of personal data returned: location, name, email, phone, address, vin, payment (\"payment\" in data.fields)"`

	// sms.message
	Direction  string `expr:"direction" on:"sms.message" doc:"mt (to the vehicle), mo (from it)"`
	Originator string `expr:"originator" on:"sms.message" doc:"MSISDN or ICCID"`
	Recipient  string `expr:"recipient" on:"sms.message" doc:"MSISDN or ICCID"`
	Kind       string `expr:"kind" on:"sms.message" doc:"command, wakeup, config, other"`
	Auth       string `expr:"auth" on:"sms.message" doc:"valid, invalid, absent"`
	Nonce      string `expr:"nonce" on:"sms.message" doc:"empty when not sent"`

	// firmware.install and ids.report
	ECU             string    `expr:"ecu" on:"firmware.install,ids.report" doc:"the ECU"`
	Version         string    `expr:"version" on:"firmware.install" doc:"the version offered or installed"`
	PreviousVersion string    `expr:"previous_version" on:"firmware.install" doc:"empty when not sent"`
	SHA256          string    `expr:"sha256" on:"firmware.install" doc:"lower-case hex"`
	Size            int       `expr:"size" on:"firmware.install" doc:"bytes; 0 when not sent"`
	Signature       Signature `expr:"signature" on:"firmware.install"`
	Campaign        string    `expr:"campaign" on:"firmware.install" doc:"empty when installed outside a campaign"`
	Sensor          string    `expr:"sensor" on:"ids.report" doc:"empty when not sent"`
	EventID         string    `expr:"event_id" on:"ids.report"`
	Severity        string    `expr:"severity" on:"ids.report" doc:"low, medium, high, critical"`
	Count           int       `expr:"count" on:"ids.report" doc:"0 when not sent"`
	Product         string    `expr:"product" on:"ids.report" doc:"empty when not sent"`
	Context         string    `expr:"context" on:"ids.report" doc:"the context object as JSON text; empty when not sent"`
}

// Actor is the principal behind an event.
type Actor struct {
	Account   string `expr:"account" doc:"the account acting"`
	Device    string `expr:"device" doc:"the phone or device"`
	IP        string `expr:"ip" doc:"the IP address"`
	ClientID  string `expr:"client_id" doc:"the API client"`
	Role      string `expr:"role" doc:"owner, driver, fleet_manager, dealer, staff, service, third_party; empty when not sent"`
	UserAgent string `expr:"user_agent" doc:"empty when not sent"`
}

// Position is a WGS 84 fix.
type Position struct {
	Lat      float64 `expr:"lat" doc:"degrees"`
	Lon      float64 `expr:"lon" doc:"degrees"`
	Alt      float64 `expr:"alt" doc:"m; 0 when not sent"`
	Heading  float64 `expr:"heading" doc:"degrees; 0 when not sent"`
	Accuracy float64 `expr:"accuracy" doc:"m; 0 when not sent"`
}

// Signals are the COVESA VSS signals vigil decodes, by their VSS paths.
type Signals struct {
	Vehicle VSSVehicle `expr:"Vehicle"`
}

// VSSVehicle is the Vehicle branch of VSS.
type VSSVehicle struct {
	TraveledDistance      float64 `expr:"TraveledDistance" doc:"odometer, m; 0 when not sent"`
	Speed                 float64 `expr:"Speed" doc:"km/h; 0 when not sent"`
	LowVoltageSystemState string  `expr:"LowVoltageSystemState" doc:"LOCK, OFF, ACC, ON, START; empty when not sent"`
	IsMoving              any     `expr:"IsMoving" doc:"true or false; nil when not sent"`
	Cabin                 struct {
		Door struct {
			Row1 struct {
				DriverSide struct {
					IsLocked any `expr:"IsLocked" doc:"true or false; nil when not sent"`
					IsOpen   any `expr:"IsOpen" doc:"true or false; nil when not sent"`
				} `expr:"DriverSide"`
			} `expr:"Row1"`
		} `expr:"Door"`
	} `expr:"Cabin"`
	Powertrain struct {
		CombustionEngine struct {
			IsRunning any `expr:"IsRunning" doc:"true or false; nil when not sent"`
		} `expr:"CombustionEngine"`
	} `expr:"Powertrain"`
	VehicleIdentification struct {
		VIN string `expr:"VIN" doc:"empty when not sent"`
	} `expr:"VehicleIdentification"`
}

// TelemDevice identifies the telematics unit.
type TelemDevice struct {
	IMEI     string `expr:"imei" doc:"empty when not sent"`
	ICCID    string `expr:"iccid" doc:"the SIM; empty when not sent"`
	IP       string `expr:"ip" doc:"the unit's IP address; empty when not sent"`
	Firmware string `expr:"firmware" doc:"the unit's firmware; empty when not sent"`
}

// Cell is the serving cell; zero when not sent.
type Cell struct {
	MCC int `expr:"mcc" doc:"mobile country code; 0 when no cell was sent"`
	MNC int `expr:"mnc" doc:"mobile network code"`
	LAC int `expr:"lac" doc:"location area code"`
	CID int `expr:"cid" doc:"cell id"`
	DBM int `expr:"dbm" doc:"0 when not sent"`
}

// Signature of a firmware image.
type Signature struct {
	Alg   string `expr:"alg" doc:"ed25519, ecdsa-p256-sha256; empty when unsigned"`
	KeyID string `expr:"key_id" doc:"empty when unsigned"`
}

// triValue turns an optional boolean into true, false or nil.
func triValue(t event.Tri) any {
	switch t {
	case event.True:
		return true
	case event.False:
		return false
	}
	return nil
}

// fieldLists holds data.fields for every set of personal-data classes, so
// filling it never allocates.
var fieldLists = func() (out [128][]string) {
	for i := range out {
		out[i] = event.PersonalFields(i).Names()
	}
	return out
}()

// fill sets env to ev. Only the part of Data that ev's type carries is
// written; the rest is zeroed, so a field of another type reads as zero.
func (env *Env) fill(ev *event.Event) {
	*env = Env{
		ID: ev.ID, Source: ev.Source, Type: ev.Type.String(), Subject: ev.Subject, Tenant: ev.Tenant,
	}
	t := time.Unix(0, ev.Time).UTC()
	env.Time, env.Hour, env.Weekday = t, t.Hour(), int(t.Weekday())
	d := &env.Data
	switch ev.Type {
	case event.TypeTelemetry:
		x := ev.Telemetry
		d.Position = Position{Lat: x.Position.Lat, Lon: x.Position.Lon, Alt: x.Position.Alt,
			Heading: x.Position.Heading, Accuracy: x.Position.Accuracy}
		d.Speed, d.Seq = x.Speed, int(x.Seq)
		s, v := &x.Signals, &d.Signals.Vehicle
		v.TraveledDistance, v.Speed = s.TraveledDistance, s.Speed
		v.LowVoltageSystemState = s.LowVoltageState.String()
		v.IsMoving = triValue(s.IsMoving)
		v.Cabin.Door.Row1.DriverSide.IsLocked = triValue(s.DriverDoorLocked)
		v.Cabin.Door.Row1.DriverSide.IsOpen = triValue(s.DriverDoorOpen)
		v.Powertrain.CombustionEngine.IsRunning = triValue(s.EngineRunning)
		v.VehicleIdentification.VIN = s.VIN
		if dv := x.Device; dv != nil {
			d.Device = TelemDevice{IMEI: dv.IMEI, ICCID: dv.ICCID, IP: dv.IP, Firmware: dv.Firmware}
		}
		if c := x.Cell; c != nil {
			d.Cell = Cell{MCC: c.MCC, MNC: c.MNC, LAC: int(c.LAC), CID: int(c.CID), DBM: c.DBM}
		}
	case event.TypeVehicleEvent:
		x := ev.VehicleEvent
		d.Name = x.Name.String()
		if x.Name == event.NameOther {
			d.Name = x.NameText
		}
		d.Origin, d.CommandID = x.Origin.String(), x.CommandID
		if x.Detail != nil {
			d.Detail = string(x.Detail)
		}
	case event.TypeCommand:
		x := ev.Command
		d.CommandID, d.Command = x.CommandID, x.Command.String()
		if x.Command == event.CmdOther {
			d.Command = x.CommandText
		}
		d.Stage, d.Channel = x.Stage.String(), x.Channel.String()
		d.Actor.set(&x.Actor)
	case event.TypeLogin:
		x := ev.Login
		d.Actor.set(&x.Actor)
		d.UsernameHash, d.Result, d.Reason, d.Method = x.UsernameHash, x.Result.String(), x.Reason.String(), x.Method.String()
		d.MFA = triValue(x.MFA)
	case event.TypeAccountChange:
		x := ev.AccountChange
		d.Actor.set(&x.Actor)
		d.Account, d.Change, d.Vehicle = x.Account, x.Change.String(), x.Vehicle
		d.ConfirmedByPreviousContact = triValue(x.ConfirmedByPreviousContact)
	case event.TypeAPIAccess:
		x := ev.APIAccess
		d.Actor.set(&x.Actor)
		d.Method, d.Route, d.Vehicles, d.Status = x.Method.String(), x.Route, x.Vehicles, x.Status
		d.Records, d.Bytes, d.Fields = int(x.Records), int(x.Bytes), fieldLists[x.Fields&127]
	case event.TypeSMS:
		x := ev.SMS
		d.Direction, d.Originator, d.Recipient, d.Kind = x.Direction.String(), x.Originator, x.Recipient, x.Kind.String()
		d.Command, d.Auth, d.Nonce = x.Command, x.Auth.String(), x.Nonce
	case event.TypeFirmware:
		x := ev.Firmware
		d.ECU, d.Version, d.PreviousVersion = x.ECU, x.Version, x.PreviousVersion
		d.SHA256, d.Size = hex.EncodeToString(x.SHA256[:]), int(x.Size)
		if s := x.Signature; s != nil {
			d.Signature = Signature{Alg: s.Alg.String(), KeyID: s.KeyID}
		}
		d.Channel, d.Campaign, d.Result = x.Channel.String(), x.Campaign, x.Result.String()
	case event.TypeIDS:
		x := ev.IDS
		d.ECU, d.Sensor, d.EventID, d.Severity = x.ECU, x.Sensor, x.EventID, x.Severity.String()
		d.Count, d.Product = int(x.Count), x.Product
		if x.Context != nil {
			d.Context = string(x.Context)
		}
	}
}

func (a *Actor) set(x *event.Actor) {
	*a = Actor{Account: x.Account, Device: x.Device, IP: x.IP, ClientID: x.ClientID, Role: x.Role.String(), UserAgent: x.UserAgent}
}

// setHour sets hour and weekday in loc (nil: UTC).
func (env *Env) setHour(loc *time.Location) {
	t := env.Time
	if loc != nil {
		t = t.In(loc)
	}
	env.Hour, env.Weekday = t.Hour(), int(t.Weekday())
}
