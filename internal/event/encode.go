package event

import (
	"encoding/base64"
	"encoding/hex"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// AppendJSON appends e as one CloudEvents 1.0 JSON object (structured mode,
// no trailing newline). Decode(AppendJSON(e)) gives e back.
func AppendJSON(dst []byte, e *Event) []byte {
	dst = append(dst, `{"specversion":"1.0","id":`...)
	dst = AppendString(dst, e.ID)
	dst = append(dst, `,"source":`...)
	dst = AppendString(dst, e.Source)
	dst = append(dst, `,"type":"`...)
	dst = append(dst, e.Type.String()...)
	dst = append(dst, `","time":"`...)
	dst = AppendTime(dst, e.Time)
	dst = append(dst, '"')
	if e.Subject != "" {
		dst = append(dst, `,"subject":`...)
		dst = AppendString(dst, e.Subject)
	}
	if e.Tenant != "" && e.Tenant != DefaultTenant {
		dst = append(dst, `,"tenant":`...)
		dst = AppendString(dst, e.Tenant)
	}
	dst = append(dst, `,"data":`...)
	o := obj{dst: dst}
	o.open()
	switch e.Type {
	case TypeTelemetry:
		encodeTelemetry(&o, e.Telemetry)
	case TypeVehicleEvent:
		v := e.VehicleEvent
		o.str("name", vehicleEventText(v))
		o.enum("origin", v.Origin.String())
		o.str("command_id", v.CommandID)
		o.raw("detail", v.Detail)
	case TypeCommand:
		c := e.Command
		o.str("command_id", c.CommandID)
		if c.Command == CmdOther {
			o.str("command", c.CommandText)
		} else {
			o.enum("command", c.Command.String())
		}
		o.enum("stage", c.Stage.String())
		o.enum("channel", c.Channel.String())
		o.actor(&c.Actor)
	case TypeLogin:
		l := e.Login
		o.actor(&l.Actor)
		o.str("username_hash", l.UsernameHash)
		o.enum("result", l.Result.String())
		o.enum("reason", l.Reason.String())
		o.enum("method", l.Method.String())
		o.tri("mfa", l.MFA)
	case TypeAccountChange:
		a := e.AccountChange
		o.actor(&a.Actor)
		o.str("account", a.Account)
		o.enum("change", a.Change.String())
		o.str("vehicle", a.Vehicle)
		o.tri("confirmed_by_previous_contact", a.ConfirmedByPreviousContact)
	case TypeAPIAccess:
		encodeAPIAccess(&o, e.APIAccess)
	case TypeSMS:
		s := e.SMS
		o.enum("direction", s.Direction.String())
		o.str("originator", s.Originator)
		o.str("recipient", s.Recipient)
		o.enum("kind", s.Kind.String())
		o.str("command", s.Command)
		o.enum("auth", s.Auth.String())
		o.str("nonce", s.Nonce)
	case TypeFirmware:
		encodeFirmware(&o, e.Firmware)
	case TypeIDS:
		r := e.IDS
		o.str("ecu", r.ECU)
		o.str("sensor", r.Sensor)
		o.str("event_id", r.EventID)
		o.enum("severity", r.Severity.String())
		if r.HasCount {
			o.int("count", r.Count)
		}
		o.str("product", r.Product)
		o.raw("context", r.Context)
	}
	o.close()
	return append(o.dst, '}')
}

func vehicleEventText(v *VehicleEvent) string {
	if v.Name == NameOther {
		return v.NameText
	}
	return v.Name.String()
}

func encodeTelemetry(o *obj, t *Telemetry) {
	o.key("position")
	p := obj{dst: o.dst}
	p.open()
	p.float("lat", t.Position.Lat)
	p.float("lon", t.Position.Lon)
	if t.Position.HasAlt {
		p.float("alt", t.Position.Alt)
	}
	if t.Position.HasHeading {
		p.float("heading", t.Position.Heading)
	}
	if t.Position.HasAcc {
		p.float("accuracy", t.Position.Accuracy)
	}
	p.close()
	o.dst = p.dst
	if t.HasSpeed {
		o.float("speed", t.Speed)
	}
	if t.HasSeq {
		o.key("seq")
		o.dst = strconv.AppendUint(o.dst, t.Seq, 10)
	}
	s := &t.Signals
	if *s != (Signals{}) {
		o.key("signals")
		g := obj{dst: o.dst}
		g.open()
		if s.HasTraveledDistance {
			g.float(SignalTraveledDistance, s.TraveledDistance)
		}
		if s.HasSpeed {
			g.float(SignalSpeed, s.Speed)
		}
		g.enum(SignalLowVoltageState, s.LowVoltageState.String())
		g.tri(SignalDriverDoorLocked, s.DriverDoorLocked)
		g.tri(SignalDriverDoorOpen, s.DriverDoorOpen)
		g.tri(SignalEngineRunning, s.EngineRunning)
		g.tri(SignalIsMoving, s.IsMoving)
		g.str(SignalVIN, s.VIN)
		g.close()
		o.dst = g.dst
	}
	if d := t.Device; d != nil {
		o.key("device")
		g := obj{dst: o.dst}
		g.open()
		g.str("imei", d.IMEI)
		g.str("iccid", d.ICCID)
		g.str("ip", d.IP)
		g.str("firmware", d.Firmware)
		g.close()
		o.dst = g.dst
	}
	if c := t.Cell; c != nil {
		o.key("cell")
		g := obj{dst: o.dst}
		g.open()
		g.int("mcc", int64(c.MCC))
		g.int("mnc", int64(c.MNC))
		g.int("lac", c.LAC)
		g.int("cid", c.CID)
		if c.HasDBM {
			g.int("dbm", int64(c.DBM))
		}
		g.close()
		o.dst = g.dst
	}
}

func encodeAPIAccess(o *obj, a *APIAccess) {
	o.actor(&a.Actor)
	o.enum("method", a.Method.String())
	o.str("route", a.Route)
	if a.Vehicles != nil {
		o.key("vehicles")
		o.dst = append(o.dst, '[')
		for i, v := range a.Vehicles {
			if i > 0 {
				o.dst = append(o.dst, ',')
			}
			o.dst = AppendString(o.dst, v)
		}
		o.dst = append(o.dst, ']')
	}
	o.int("status", int64(a.Status))
	if a.HasRecords {
		o.int("records", a.Records)
	}
	if a.HasBytes {
		o.int("bytes", a.Bytes)
	}
	if a.Fields != 0 {
		o.key("fields")
		o.dst = append(o.dst, '[')
		for i, n := range a.Fields.Names() {
			if i > 0 {
				o.dst = append(o.dst, ',')
			}
			o.dst = AppendString(o.dst, n)
		}
		o.dst = append(o.dst, ']')
	}
}

func encodeFirmware(o *obj, f *Firmware) {
	o.str("ecu", f.ECU)
	o.str("version", f.Version)
	o.str("previous_version", f.PreviousVersion)
	o.key("sha256")
	o.dst = append(o.dst, '"')
	o.dst = hex.AppendEncode(o.dst, f.SHA256[:])
	o.dst = append(o.dst, '"')
	if f.HasSize {
		o.int("size", f.Size)
	}
	if s := f.Signature; s != nil {
		o.key("signature")
		g := obj{dst: o.dst}
		g.open()
		g.enum("alg", s.Alg.String())
		g.str("key_id", s.KeyID)
		g.key("value")
		g.dst = append(g.dst, '"')
		g.dst = base64.StdEncoding.AppendEncode(g.dst, s.Value)
		g.dst = append(g.dst, '"')
		g.close()
		o.dst = g.dst
	}
	o.enum("channel", f.Channel.String())
	o.str("campaign", f.Campaign)
	o.enum("result", f.Result.String())
}

// obj writes the members of one JSON object, skipping empty optional ones.
type obj struct {
	dst   []byte
	comma bool
}

func (o *obj) open()  { o.dst = append(o.dst, '{') }
func (o *obj) close() { o.dst = append(o.dst, '}') }

// key writes a member name. Names are the encoder's own literals, which
// never need escaping.
func (o *obj) key(k string) {
	if o.comma {
		o.dst = append(o.dst, ',')
	}
	o.comma = true
	o.dst = append(o.dst, '"')
	o.dst = append(o.dst, k...)
	o.dst = append(o.dst, '"', ':')
}

func (o *obj) str(k, v string) {
	if v == "" {
		return
	}
	o.key(k)
	o.dst = AppendString(o.dst, v)
}

// enum writes a name from a table; names never need escaping.
func (o *obj) enum(k, v string) {
	if v == "" {
		return
	}
	o.key(k)
	o.dst = append(o.dst, '"')
	o.dst = append(o.dst, v...)
	o.dst = append(o.dst, '"')
}

func (o *obj) float(k string, v float64) {
	o.key(k)
	o.dst = AppendFloat(o.dst, v)
}

func (o *obj) int(k string, v int64) {
	o.key(k)
	o.dst = strconv.AppendInt(o.dst, v, 10)
}

func (o *obj) tri(k string, v Tri) {
	if v == Unset {
		return
	}
	o.key(k)
	o.dst = strconv.AppendBool(o.dst, v == True)
}

func (o *obj) raw(k string, v []byte) {
	if v == nil {
		return
	}
	o.key(k)
	o.dst = append(o.dst, v...)
}

// actor writes the actor, empty or not: every type that has one requires it.
func (o *obj) actor(a *Actor) {
	o.key("actor")
	g := obj{dst: o.dst}
	g.open()
	g.str("account", a.Account)
	g.str("device", a.Device)
	g.str("ip", a.IP)
	g.str("client_id", a.ClientID)
	g.enum("role", a.Role.String())
	g.str("user_agent", a.UserAgent)
	g.close()
	o.dst = g.dst
}

// AppendFloat appends v as a JSON number (finite values only).
func AppendFloat(dst []byte, v float64) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return append(dst, '0')
	}
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.AppendInt(dst, int64(v), 10)
	}
	return strconv.AppendFloat(dst, v, 'f', -1, 64)
}

// AppendTime appends Unix nanoseconds as RFC 3339 UTC with milliseconds or
// finer when needed: what time.RFC3339Nano writes, without its cost for
// the years events may have (1970 to 2199).
func AppendTime(dst []byte, ns int64) []byte {
	if ns < minTime || ns >= maxTime {
		return time.Unix(0, ns).UTC().AppendFormat(dst, time.RFC3339Nano)
	}
	secs, frac := ns/1e9, ns%1e9
	y, m, d := civilFromDays(secs / 86400)
	rem := secs % 86400
	two := func(v int64) { dst = append(dst, byte('0'+v/10), byte('0'+v%10)) }
	two(y / 100)
	two(y % 100)
	dst = append(dst, '-')
	two(m)
	dst = append(dst, '-')
	two(d)
	dst = append(dst, 'T')
	two(rem / 3600)
	dst = append(dst, ':')
	two(rem / 60 % 60)
	dst = append(dst, ':')
	two(rem % 60)
	if frac != 0 {
		var b [10]byte
		b[0] = '.'
		for i := 9; i >= 1; i-- {
			b[i] = byte('0' + frac%10)
			frac /= 10
		}
		n := 10
		for b[n-1] == '0' {
			n--
		}
		dst = append(dst, b[:n]...)
	}
	return append(dst, 'Z')
}

// civilFromDays is daysFromCivil's inverse (Howard Hinnant's algorithm),
// for days ≥ 0.
func civilFromDays(z int64) (y, m, d int64) {
	z += 719468
	era := z / 146097
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = doy - (153*mp+2)/5 + 1
	m = mp + 3
	if m > 12 {
		m -= 12
	}
	y = yoe + era*400
	if m <= 2 {
		y++
	}
	return y, m, d
}

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
