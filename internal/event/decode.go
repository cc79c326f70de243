package event

import (
	"time"
)

// Limits bound what one event may hold. Zero fields take the defaults.
type Limits struct {
	MaxEventBytes  int // one event's JSON, default 1 MiB
	MaxDepth       int // JSON nesting, default 32
	MaxAttrBytes   int // id, source, subject, tenant, default 256
	MaxStringBytes int // any other string, default 1024
	MaxRawBytes    int // free-form objects (detail, context), default 16 KiB
	MaxListItems   int // api.access vehicles, default 10000
}

// WithDefaults returns l with zero fields set to their defaults.
func (l Limits) WithDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.MaxEventBytes, 1<<20)
	def(&l.MaxDepth, 32)
	def(&l.MaxAttrBytes, 256)
	def(&l.MaxStringBytes, 1024)
	def(&l.MaxRawBytes, 16<<10)
	def(&l.MaxListItems, 10000)
	return l
}

// Decoder turns one CloudEvents JSON object into an Event. It keeps scratch
// buffers and a bounded intern table between calls, so reuse one per
// goroutine; it is not safe for concurrent use.
type Decoder struct {
	s      scanner
	lim    Limits
	intern interner
}

// NewDecoder returns a Decoder with the given limits (zero means defaults).
func NewDecoder(lim Limits) *Decoder {
	return &Decoder{lim: lim.WithDefaults(), intern: interner{max: 8192}}
}

// Limits returns the decoder's effective limits.
func (d *Decoder) Limits() Limits { return d.lim }

// envelope holds the attributes read before the event is built.
type envelope struct {
	id, source, subject, tenant string
	typ                         Type
	time                        int64
	seen                        uint16
}

const (
	seenSpec = 1 << iota
	seenID
	seenSource
	seenType
	seenTime
	seenSubject
	seenTenant
	seenData
	seenContentType
)

// Decode decodes and validates one event. On rejection it returns a
// *FieldError (with the id, when one was read, in the second result).
func (d *Decoder) Decode(b []byte) (*Event, error) {
	e, _, err := d.decode(b)
	return e, err
}

// DecodeID is Decode that also returns the id read from a rejected event.
func (d *Decoder) DecodeID(b []byte) (*Event, string, error) {
	return d.decode(b)
}

func (d *Decoder) decode(b []byte) (*Event, string, error) {
	s := &d.s
	s.reset(b, &d.lim)
	if len(b) > d.lim.MaxEventBytes {
		return nil, "", &FieldError{Code: CodeTooLarge, Reason: "event is " + itoa(len(b)) + " bytes, the limit is " + itoa(d.lim.MaxEventBytes)}
	}
	if s.peek() != '{' {
		if s.peek() == 0 {
			return nil, "", &FieldError{Code: CodeSyntax, Reason: "empty input: expected a JSON object"}
		}
		got := s.kind()
		s.skip()
		if s.fatal {
			return nil, "", s.err
		}
		return nil, "", &FieldError{Code: CodeSyntax, Reason: "an event must be a JSON object, got " + got}
	}
	s.pos++
	s.enter()
	var env envelope
	var ev *Event
	dataStart := -1
	for first := true; s.more(&first); {
		k := s.key()
		if s.fatal {
			break
		}
		switch string(k) {
		case "specversion":
			d.once(&env, seenSpec, "specversion")
			if v, ok := s.strBytes("specversion", 16); ok && string(v) != "1.0" {
				s.fail("specversion", CodeInvalid, "%q is not supported: vigil takes CloudEvents \"1.0\"", clip(v))
			}
		case "id":
			d.once(&env, seenID, "id")
			env.id = s.str("id", d.lim.MaxAttrBytes)
		case "source":
			d.once(&env, seenSource, "source")
			env.source = d.internStr("source", d.lim.MaxAttrBytes)
		case "type":
			d.once(&env, seenType, "type")
			if v, ok := s.strBytes("type", 64); ok {
				t, known := lookup[Type](typeNames, v)
				if !known {
					s.fail("type", CodeInvalid, "unknown event type %q: vigil takes %s", clip(v), oneOf(typeNames))
				}
				env.typ = t
			}
		case "time":
			d.once(&env, seenTime, "time")
			if v, ok := s.strBytes("time", 64); ok {
				t, err := parseTime(v)
				if err != "" {
					s.fail("time", CodeInvalid, "%q is not an RFC 3339 time: %s", clip(v), err)
				}
				env.time = t
			}
		case "subject":
			d.once(&env, seenSubject, "subject")
			env.subject = s.str("subject", d.lim.MaxAttrBytes)
		case "tenant":
			d.once(&env, seenTenant, "tenant")
			if v, ok := s.strBytes("tenant", 64); ok {
				if !validTenant(v) {
					s.fail("tenant", CodeInvalid, "%q is not a tenant name: use 1 to 64 letters, digits, '.', '_' or '-'", clip(v))
				}
				env.tenant = d.intern.get(v)
			}
		case "datacontenttype":
			d.once(&env, seenContentType, "datacontenttype")
			if v, ok := s.strBytes("datacontenttype", 128); ok && !jsonContentType(v) {
				s.fail("datacontenttype", CodeUnsupported, "%q is not supported: data must be JSON", clip(v))
			}
		case "data_base64":
			s.skip()
			s.fail("data_base64", CodeUnsupported, "binary data is not supported: send data as a JSON object")
		case "data":
			d.once(&env, seenData, "data")
			if env.seen&seenType != 0 && env.typ != TypeUnknown && s.err == nil {
				ev = d.data(env.typ)
			} else {
				dataStart = s.pos
				s.skip()
			}
		default:
			// Extension attributes (and dataschema) are allowed and ignored.
			s.skip()
		}
	}
	if !s.fatal {
		s.ws()
		if s.pos != len(s.buf) {
			s.syntax("unexpected content after the event object")
		}
	}
	if s.fatal {
		return nil, env.id, s.err
	}
	if s.err == nil {
		d.required(&env)
	}
	if s.err == nil && ev == nil && dataStart >= 0 {
		end := s.pos
		s.pos = dataStart
		ev = d.data(env.typ)
		s.pos = end
	}
	if s.err != nil {
		return nil, env.id, s.err
	}
	ev.ID, ev.Source, ev.Type, ev.Time, ev.Subject, ev.Tenant = env.id, env.source, env.typ, env.time, env.subject, env.tenant
	if ev.Tenant == "" {
		ev.Tenant = DefaultTenant
	}
	return ev, env.id, nil
}

func (d *Decoder) once(env *envelope, bit uint16, field string) {
	if env.seen&bit != 0 {
		d.s.fail(field, CodeDuplicate, "is given twice")
	}
	env.seen |= bit
}

func (d *Decoder) required(env *envelope) {
	for _, r := range [...]struct {
		bit   uint16
		field string
	}{{seenSpec, "specversion"}, {seenID, "id"}, {seenSource, "source"}, {seenType, "type"}, {seenTime, "time"}} {
		if env.seen&r.bit == 0 {
			d.s.fail(r.field, CodeMissing, "is required")
			return
		}
	}
	if env.typ.NeedsSubject() && env.seen&seenSubject == 0 {
		d.s.fail("subject", CodeMissing, "is required for %s events: it names the vehicle", env.typ)
		return
	}
	if env.seen&seenData == 0 {
		d.s.fail("data", CodeMissing, "is required")
	}
}

// internStr reads a non-empty string through the intern table.
func (d *Decoder) internStr(field string, max int) string {
	b, ok := d.s.strBytes(field, max)
	if !ok {
		return ""
	}
	if len(b) == 0 {
		d.s.fail(field, CodeInvalid, "must not be empty")
		return ""
	}
	return d.intern.get(b)
}

func validTenant(b []byte) bool {
	if len(b) == 0 || len(b) > 64 {
		return false
	}
	for _, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func jsonContentType(b []byte) bool {
	s := string(b)
	for i := 0; i < len(s); i++ {
		if s[i] == ';' {
			s = s[:i]
			break
		}
	}
	return s == "application/json" || s == "text/json" || len(s) > 5 && s[len(s)-5:] == "+json"
}

// interner shares the backing of strings that repeat across events (source,
// tenant, route, versions) so the hot path does not allocate them again.
// It stops growing at max entries.
type interner struct {
	m   map[string]string
	max int
}

func (in *interner) get(b []byte) string {
	if s, ok := in.m[string(b)]; ok {
		return s
	}
	s := string(b)
	if in.m == nil {
		in.m = make(map[string]string)
	}
	if len(in.m) < in.max {
		in.m[s] = s
	}
	return s
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	if n == 0 {
		return "0"
	}
	neg := n < 0
	if neg {
		n = -n
	}
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}

// minTime and maxTime bound event times vigil accepts: 1970 to 2200.
var (
	minTime = int64(0)
	maxTime = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
)

// parseTime parses an RFC 3339 time (YYYY-MM-DDTHH:MM:SS[.frac](Z|±hh:mm),
// 'T' and 'Z' in either case) into Unix nanoseconds, or returns a reason.
// It is stricter than time.Parse, which takes one-digit hours.
func parseTime(b []byte) (int64, string) {
	ns, ok := fastTime(b)
	if !ok {
		return 0, "expected e.g. 2026-03-02T07:14:05.120Z"
	}
	if ns < minTime || ns >= maxTime {
		return 0, "year outside 1970 to 2199"
	}
	return ns, ""
}

func fastTime(b []byte) (int64, bool) {
	if len(b) < 20 || b[4] != '-' || b[7] != '-' || (b[10] != 'T' && b[10] != 't') || b[13] != ':' || b[16] != ':' {
		return 0, false
	}
	num := func(i, n int) int {
		v := 0
		for _, c := range b[i : i+n] {
			if c < '0' || c > '9' {
				return -1
			}
			v = v*10 + int(c-'0')
		}
		return v
	}
	year, month, day := num(0, 4), num(5, 2), num(8, 2)
	hour, minute, sec := num(11, 2), num(14, 2), num(17, 2)
	if year < 1970 || year >= 2200 || month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour > 23 || minute > 59 || sec > 59 || hour < 0 || minute < 0 || sec < 0 {
		return 0, false
	}
	i := 19
	var frac int64
	if b[i] == '.' {
		i++
		start := i
		scale := int64(100000000)
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			if i-start < 9 {
				frac += int64(b[i]-'0') * scale
				scale /= 10
			}
			i++
		}
		if i == start {
			return 0, false
		}
	}
	if i >= len(b) {
		return 0, false
	}
	var offset int64
	switch b[i] {
	case 'Z', 'z':
		if i+1 != len(b) {
			return 0, false
		}
	case '+', '-':
		if len(b)-i != 6 || b[i+3] != ':' {
			return 0, false
		}
		oh, om := num(i+1, 2), num(i+4, 2)
		if oh < 0 || om < 0 || oh > 23 || om > 59 {
			return 0, false
		}
		offset = int64(oh*3600 + om*60)
		if b[i] == '-' {
			offset = -offset
		}
	default:
		return 0, false
	}
	days := daysFromCivil(year, month, day)
	secs := days*86400 + int64(hour*3600+minute*60+sec) - offset
	return secs*1e9 + frac, true
}

func daysIn(m, y int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil counts days from 1970-01-01 (Howard Hinnant's algorithm).
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era*146097 + doe - 719468)
}
