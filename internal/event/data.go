package event

import (
	"encoding/base64"
	"encoding/hex"
	"math"
)

// Each type's event and payload are allocated together: one allocation
// per event instead of two.
type (
	telemetryEvent struct {
		Event
		d Telemetry
	}
	vehicleEventEvent struct {
		Event
		d VehicleEvent
	}
	commandEvent struct {
		Event
		d Command
	}
	loginEvent struct {
		Event
		d Login
	}
	accountChangeEvent struct {
		Event
		d AccountChange
	}
	apiAccessEvent struct {
		Event
		d APIAccess
	}
	smsEvent struct {
		Event
		d SMS
	}
	firmwareEvent struct {
		Event
		d Firmware
	}
	idsEvent struct {
		Event
		d IDSReport
	}
)

// data decodes the data member of an event of type t.
func (d *Decoder) data(t Type) *Event {
	s := &d.s
	if !s.object("data") {
		return nil
	}
	switch t {
	case TypeTelemetry:
		x := &telemetryEvent{}
		x.Telemetry = &x.d
		d.telemetry(&x.d)
		return &x.Event
	case TypeVehicleEvent:
		x := &vehicleEventEvent{}
		x.VehicleEvent = &x.d
		d.vehicleEvent(&x.d)
		return &x.Event
	case TypeCommand:
		x := &commandEvent{}
		x.Command = &x.d
		d.command(&x.d)
		return &x.Event
	case TypeLogin:
		x := &loginEvent{}
		x.Login = &x.d
		d.login(&x.d)
		return &x.Event
	case TypeAccountChange:
		x := &accountChangeEvent{}
		x.AccountChange = &x.d
		d.accountChange(&x.d)
		return &x.Event
	case TypeAPIAccess:
		x := &apiAccessEvent{}
		x.APIAccess = &x.d
		d.apiAccess(&x.d)
		return &x.Event
	case TypeSMS:
		x := &smsEvent{}
		x.SMS = &x.d
		d.sms(&x.d)
		return &x.Event
	case TypeFirmware:
		x := &firmwareEvent{}
		x.Firmware = &x.d
		d.firmware(&x.d)
		return &x.Event
	case TypeIDS:
		x := &idsEvent{}
		x.IDS = &x.d
		d.ids(&x.d)
		return &x.Event
	}
	s.skip()
	return nil
}

// fields tracks which members of one object were seen, to reject
// duplicates and report missing required ones.
type fields struct {
	s    *scanner
	seen uint32
}

func (f *fields) once(bit uint32, field string) {
	if f.seen&bit != 0 {
		f.s.fail(field, CodeDuplicate, "is given twice")
	}
	f.seen |= bit
}

func (f *fields) require(bit uint32, field string) {
	if f.seen&bit == 0 {
		f.s.fail(field, CodeMissing, "is required")
	}
}

func (d *Decoder) telemetry(t *Telemetry) {
	s := &d.s
	f := fields{s: s}
	for first := true; s.more(&first); {
		switch string(s.key()) {
		case "position":
			f.once(1, "data.position")
			d.position(&t.Position)
		case "speed":
			f.once(2, "data.speed")
			t.Speed, t.HasSpeed = s.numIn("data.speed", 0, 100000)
		case "seq":
			f.once(4, "data.seq")
			var v int64
			v, t.HasSeq = s.integer("data.seq", 0, 1<<53)
			t.Seq = uint64(v)
		case "signals":
			f.once(8, "data.signals")
			d.signals(&t.Signals)
		case "device":
			f.once(16, "data.device")
			if !s.null() {
				t.Device = d.device()
			}
		case "cell":
			f.once(32, "data.cell")
			if !s.null() {
				t.Cell = d.cell()
			}
		default:
			s.skip()
		}
	}
	f.require(1, "data.position")
}

func (d *Decoder) position(p *Position) {
	s := &d.s
	if !s.object("data.position") {
		return
	}
	f := fields{s: s}
	for first := true; s.more(&first); {
		switch string(s.key()) {
		case "lat":
			f.once(1, "data.position.lat")
			p.Lat, _ = s.numIn("data.position.lat", -90, 90)
		case "lon":
			f.once(2, "data.position.lon")
			p.Lon, _ = s.numIn("data.position.lon", -180, 180)
		case "alt":
			f.once(4, "data.position.alt")
			p.Alt, p.HasAlt = s.numIn("data.position.alt", -1000, 100000)
		case "heading":
			f.once(8, "data.position.heading")
			p.Heading, p.HasHeading = s.numIn("data.position.heading", 0, 360)
		case "accuracy":
			f.once(16, "data.position.accuracy")
			p.Accuracy, p.HasAcc = s.numIn("data.position.accuracy", 0, 1e7)
		default:
			s.skip()
		}
	}
	f.require(1, "data.position.lat")
	f.require(2, "data.position.lon")
}

func (d *Decoder) signals(g *Signals) {
	s := &d.s
	if !s.object("data.signals") {
		return
	}
	for first := true; s.more(&first); {
		k := s.key()
		switch string(k) {
		case SignalTraveledDistance:
			g.TraveledDistance, g.HasTraveledDistance = s.numIn("data.signals."+SignalTraveledDistance, 0, math.MaxFloat64)
		case SignalSpeed:
			g.Speed, g.HasSpeed = s.numIn("data.signals."+SignalSpeed, -1000, 100000)
		case SignalLowVoltageState:
			g.LowVoltageState = enum[LowVoltageState](s, "data.signals."+SignalLowVoltageState, lvNames)
		case SignalDriverDoorLocked:
			g.DriverDoorLocked = s.boolean("data.signals." + SignalDriverDoorLocked)
		case SignalDriverDoorOpen:
			g.DriverDoorOpen = s.boolean("data.signals." + SignalDriverDoorOpen)
		case SignalEngineRunning:
			g.EngineRunning = s.boolean("data.signals." + SignalEngineRunning)
		case SignalIsMoving:
			g.IsMoving = s.boolean("data.signals." + SignalIsMoving)
		case SignalVIN:
			g.VIN = s.str("data.signals."+SignalVIN, d.lim.MaxAttrBytes)
		default:
			s.skip()
		}
	}
}

func (d *Decoder) device() *Device {
	s := &d.s
	if !s.object("data.device") {
		return nil
	}
	dev := &Device{}
	max := d.lim.MaxStringBytes
	for first := true; s.more(&first); {
		switch string(s.key()) {
		case "imei":
			dev.IMEI = s.str("data.device.imei", max)
		case "iccid":
			dev.ICCID = s.str("data.device.iccid", max)
		case "ip":
			dev.IP = s.str("data.device.ip", max)
		case "firmware":
			dev.Firmware = d.internStr("data.device.firmware", max)
		default:
			s.skip()
		}
	}
	return dev
}

func (d *Decoder) cell() *Cell {
	s := &d.s
	if !s.object("data.cell") {
		return nil
	}
	c := &Cell{}
	f := fields{s: s}
	for first := true; s.more(&first); {
		switch string(s.key()) {
		case "mcc":
			f.once(1, "data.cell.mcc")
			v, _ := s.integer("data.cell.mcc", 0, 999)
			c.MCC = int(v)
		case "mnc":
			f.once(2, "data.cell.mnc")
			v, _ := s.integer("data.cell.mnc", 0, 999)
			c.MNC = int(v)
		case "lac":
			f.once(4, "data.cell.lac")
			c.LAC, _ = s.integer("data.cell.lac", 0, 1<<32)
		case "cid":
			f.once(8, "data.cell.cid")
			c.CID, _ = s.integer("data.cell.cid", 0, 1<<40)
		case "dbm":
			var v int64
			v, c.HasDBM = s.integer("data.cell.dbm", -200, 0)
			c.DBM = int(v)
		default:
			s.skip()
		}
	}
	f.require(1, "data.cell.mcc")
	f.require(2, "data.cell.mnc")
	f.require(8, "data.cell.cid")
	return c
}

func (d *Decoder) vehicleEvent(v *VehicleEvent) {
	s := &d.s
	f := fields{s: s}
	for first := true; s.more(&first); {
		switch string(s.key()) {
		case "name":
			f.once(1, "data.name")
			if b, ok := s.strBytes("data.name", 64); ok {
				if len(b) == 0 {
					s.fail("data.name", CodeInvalid, "must not be empty")
				} else if n, known := lookup[VehicleEventName](vehicleEventNames[:NameOther], b); known {
					v.Name = n
				} else {
					v.Name, v.NameText = NameOther, d.intern.get(b)
				}
			}
		case "origin":
			f.once(2, "data.origin")
			v.Origin = enum[Origin](s, "data.origin", originNames)
		case "command_id":
			f.once(4, "data.command_id")
			v.CommandID = s.str("data.command_id", d.lim.MaxAttrBytes)
		case "detail":
			f.once(8, "data.detail")
			if !s.null() {
				v.Detail = s.rawValue("data.detail")
			}
		default:
			s.skip()
		}
	}
	f.require(1, "data.name")
}

func (d *Decoder) command(c *Command) {
	s := &d.s
	f := fields{s: s}
	for first := true; s.more(&first); {
		switch string(s.key()) {
		case "command_id":
			f.once(1, "data.command_id")
			c.CommandID = s.str("data.command_id", d.lim.MaxAttrBytes)
		case "command":
			f.once(2, "data.command")
			if b, ok := s.strBytes("data.command", 64); ok {
				if len(b) == 0 {
					s.fail("data.command", CodeInvalid, "must not be empty")
				} else if k, known := lookup[CommandKind](commandNames[:CmdOther], b); known {
					c.Command = k
				} else {
					c.Command, c.CommandText = CmdOther, d.intern.get(b)
				}
			}
		case "stage":
			f.once(4, "data.stage")
			c.Stage = enum[Stage](s, "data.stage", stageNames)
		case "channel":
			f.once(8, "data.channel")
			c.Channel = enum[Channel](s, "data.channel", channelNames)
		case "actor":
			f.once(16, "data.actor")
			d.actor(&c.Actor)
		default:
			s.skip()
		}
	}
	f.require(1, "data.command_id")
	f.require(2, "data.command")
	f.require(4, "data.stage")
	f.require(8, "data.channel")
	f.require(16, "data.actor")
}

func (d *Decoder) actor(a *Actor) {
	s := &d.s
	if !s.object("data.actor") {
		return
	}
	max := d.lim.MaxAttrBytes
	for first := true; s.more(&first); {
		switch string(s.key()) {
		case "account":
			a.Account = s.str("data.actor.account", max)
		case "device":
			a.Device = s.str("data.actor.device", max)
		case "ip":
			a.IP = s.str("data.actor.ip", max)
		case "client_id":
			a.ClientID = d.internStr("data.actor.client_id", max)
		case "role":
			a.Role = enum[Role](s, "data.actor.role", roleNames)
		case "user_agent":
			a.UserAgent = d.internStr("data.actor.user_agent", d.lim.MaxStringBytes)
		default:
			s.skip()
		}
	}
}

func (d *Decoder) login(l *Login) {
	s := &d.s
	f := fields{s: s}
	for first := true; s.more(&first); {
		switch string(s.key()) {
		case "actor":
			f.once(1, "data.actor")
			d.actor(&l.Actor)
		case "username_hash":
			f.once(2, "data.username_hash")
			l.UsernameHash = s.str("data.username_hash", d.lim.MaxAttrBytes)
		case "result":
			f.once(4, "data.result")
			l.Result = enum[LoginResult](s, "data.result", loginResultNames)
		case "reason":
			f.once(8, "data.reason")
			l.Reason = enum[LoginReason](s, "data.reason", loginReasonNames)
		case "method":
			f.once(16, "data.method")
			l.Method = enum[LoginMethod](s, "data.method", loginMethodNames)
		case "mfa":
			f.once(32, "data.mfa")
			l.MFA = s.boolean("data.mfa")
		default:
			s.skip()
		}
	}
	f.require(1, "data.actor")
	f.require(4, "data.result")
	f.require(16, "data.method")
}

func (d *Decoder) accountChange(a *AccountChange) {
	s := &d.s
	f := fields{s: s}
	for first := true; s.more(&first); {
		switch string(s.key()) {
		case "actor":
			f.once(1, "data.actor")
			d.actor(&a.Actor)
		case "account":
			f.once(2, "data.account")
			a.Account = s.str("data.account", d.lim.MaxAttrBytes)
		case "change":
			f.once(4, "data.change")
			a.Change = enum[ChangeKind](s, "data.change", changeNames)
		case "vehicle":
			f.once(8, "data.vehicle")
			a.Vehicle = s.str("data.vehicle", d.lim.MaxAttrBytes)
		case "confirmed_by_previous_contact":
			f.once(16, "data.confirmed_by_previous_contact")
			a.ConfirmedByPreviousContact = s.boolean("data.confirmed_by_previous_contact")
		default:
			s.skip()
		}
	}
	f.require(1, "data.actor")
	f.require(2, "data.account")
	f.require(4, "data.change")
}

func (d *Decoder) apiAccess(a *APIAccess) {
	s := &d.s
	f := fields{s: s}
	for first := true; s.more(&first); {
		switch string(s.key()) {
		case "actor":
			f.once(1, "data.actor")
			d.actor(&a.Actor)
		case "method":
			f.once(2, "data.method")
			a.Method = enum[HTTPMethod](s, "data.method", httpMethodNames)
		case "route":
			f.once(4, "data.route")
			a.Route = d.internStr("data.route", d.lim.MaxStringBytes)
		case "vehicles":
			f.once(8, "data.vehicles")
			a.Vehicles = d.stringList("data.vehicles")
		case "status":
			f.once(16, "data.status")
			v, _ := s.integer("data.status", 100, 599)
			a.Status = int(v)
		case "records":
			f.once(32, "data.records")
			a.Records, a.HasRecords = s.integer("data.records", 0, 1<<53)
		case "bytes":
			f.once(64, "data.bytes")
			a.Bytes, a.HasBytes = s.integer("data.bytes", 0, 1<<53)
		case "fields":
			f.once(128, "data.fields")
			a.Fields = d.personalFields()
		default:
			s.skip()
		}
	}
	f.require(1, "data.actor")
	f.require(2, "data.method")
	f.require(4, "data.route")
	f.require(16, "data.status")
}

func (d *Decoder) stringList(field string) []string {
	s := &d.s
	if !s.array(field) {
		return nil
	}
	out := make([]string, 0, 1)
	for first := true; s.moreItems(&first); {
		if len(out) == d.lim.MaxListItems {
			s.fail(field, CodeTooLarge, "has more than %d items", d.lim.MaxListItems)
			s.skip()
			continue
		}
		out = append(out, s.str(field, d.lim.MaxAttrBytes))
	}
	return out
}

func (d *Decoder) personalFields() PersonalFields {
	s := &d.s
	if !s.array("data.fields") {
		return 0
	}
	var set PersonalFields
	for first := true; s.moreItems(&first); {
		b, ok := s.strBytes("data.fields", 64)
		if !ok {
			continue
		}
		f, known := parsePersonalField(b)
		if !known {
			s.fail("data.fields", CodeInvalid, "%q is not %s", clip(b), oneOf(personalFieldNames))
		}
		set |= f
	}
	return set
}

func (d *Decoder) sms(m *SMS) {
	s := &d.s
	f := fields{s: s}
	max := d.lim.MaxAttrBytes
	for first := true; s.more(&first); {
		switch string(s.key()) {
		case "direction":
			f.once(1, "data.direction")
			m.Direction = enum[SMSDirection](s, "data.direction", smsDirectionNames)
		case "originator":
			f.once(2, "data.originator")
			m.Originator = d.internStr("data.originator", max)
		case "recipient":
			f.once(4, "data.recipient")
			m.Recipient = s.str("data.recipient", max)
		case "kind":
			f.once(8, "data.kind")
			m.Kind = enum[SMSKind](s, "data.kind", smsKindNames)
		case "command":
			f.once(16, "data.command")
			m.Command = d.internStr("data.command", 64)
		case "auth":
			f.once(32, "data.auth")
			m.Auth = enum[SMSAuth](s, "data.auth", smsAuthNames)
		case "nonce":
			f.once(64, "data.nonce")
			m.Nonce = s.str("data.nonce", max)
		default:
			s.skip()
		}
	}
	f.require(1, "data.direction")
	f.require(2, "data.originator")
	f.require(4, "data.recipient")
	f.require(8, "data.kind")
	f.require(32, "data.auth")
}

func (d *Decoder) firmware(fw *Firmware) {
	s := &d.s
	f := fields{s: s}
	max := d.lim.MaxAttrBytes
	for first := true; s.more(&first); {
		switch string(s.key()) {
		case "ecu":
			f.once(1, "data.ecu")
			fw.ECU = d.internStr("data.ecu", max)
		case "version":
			f.once(2, "data.version")
			fw.Version = d.internStr("data.version", max)
		case "previous_version":
			f.once(4, "data.previous_version")
			fw.PreviousVersion = d.internStr("data.previous_version", max)
		case "sha256":
			f.once(8, "data.sha256")
			if b, ok := s.strBytes("data.sha256", 128); ok {
				if len(b) != 64 {
					s.fail("data.sha256", CodeInvalid, "must be 64 hex digits, got %d characters", len(b))
				} else if _, err := hex.Decode(fw.SHA256[:], b); err != nil {
					s.fail("data.sha256", CodeInvalid, "must be 64 hex digits: %v", err)
				}
			}
		case "size":
			f.once(16, "data.size")
			fw.Size, fw.HasSize = s.integer("data.size", 0, 1<<53)
		case "signature":
			f.once(32, "data.signature")
			if !s.null() {
				fw.Signature = d.signature()
			}
		case "channel":
			f.once(64, "data.channel")
			fw.Channel = enum[FirmwareChannel](s, "data.channel", fwChannelNames)
		case "campaign":
			f.once(128, "data.campaign")
			fw.Campaign = d.internStr("data.campaign", max)
		case "result":
			f.once(256, "data.result")
			fw.Result = enum[FirmwareResult](s, "data.result", fwResultNames)
		default:
			s.skip()
		}
	}
	f.require(1, "data.ecu")
	f.require(2, "data.version")
	f.require(8, "data.sha256")
	f.require(64, "data.channel")
	f.require(256, "data.result")
}

func (d *Decoder) signature() *Signature {
	s := &d.s
	if !s.object("data.signature") {
		return nil
	}
	sig := &Signature{}
	f := fields{s: s}
	for first := true; s.more(&first); {
		switch string(s.key()) {
		case "alg":
			f.once(1, "data.signature.alg")
			sig.Alg = enum[SignatureAlg](s, "data.signature.alg", sigAlgNames)
		case "key_id":
			f.once(2, "data.signature.key_id")
			sig.KeyID = d.internStr("data.signature.key_id", d.lim.MaxAttrBytes)
		case "value":
			f.once(4, "data.signature.value")
			if b, ok := s.strBytes("data.signature.value", 1024); ok {
				v := make([]byte, base64.StdEncoding.DecodedLen(len(b)))
				n, err := base64.StdEncoding.Decode(v, b)
				if err != nil || n == 0 {
					s.fail("data.signature.value", CodeInvalid, "must be non-empty standard base64")
				}
				sig.Value = v[:n]
			}
		default:
			s.skip()
		}
	}
	f.require(1, "data.signature.alg")
	f.require(2, "data.signature.key_id")
	f.require(4, "data.signature.value")
	return sig
}

func (d *Decoder) ids(r *IDSReport) {
	s := &d.s
	f := fields{s: s}
	max := d.lim.MaxAttrBytes
	for first := true; s.more(&first); {
		switch string(s.key()) {
		case "ecu":
			f.once(1, "data.ecu")
			r.ECU = d.internStr("data.ecu", max)
		case "sensor":
			f.once(2, "data.sensor")
			r.Sensor = d.internStr("data.sensor", max)
		case "event_id":
			f.once(4, "data.event_id")
			r.EventID = d.internStr("data.event_id", max)
		case "severity":
			f.once(8, "data.severity")
			r.Severity = enum[Severity](s, "data.severity", severityNames)
		case "count":
			f.once(16, "data.count")
			r.Count, r.HasCount = s.integer("data.count", 0, 1<<53)
		case "product":
			f.once(32, "data.product")
			r.Product = d.internStr("data.product", max)
		case "context":
			f.once(64, "data.context")
			if !s.null() {
				r.Context = s.rawValue("data.context")
			}
		default:
			s.skip()
		}
	}
	f.require(1, "data.ecu")
	f.require(4, "data.event_id")
	f.require(8, "data.severity")
}
