package gate

import (
	"strconv"
	"unicode/utf8"

	"github.com/vigil-project/vigil/internal/api/problem"
	"github.com/vigil-project/vigil/internal/event"
)

// A gate request is one small object of strings, decided on the hot path:
// a scanner written for it reads it in one pass with an allocation per
// string, and is stricter than encoding/json (a key twice is an error, as
// is any value but a string where a string belongs). FuzzDecodeRequest
// checks it against encoding/json.

type scanner struct {
	b []byte
	i int
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next byte after whitespace, 0 at the end.
func (s *scanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *scanner) syntax(where, what string) *problem.Error {
	if s.i >= len(s.b) {
		return problem.New(problem.BadRequest, "the body ends before the JSON object does (in %s)", where)
	}
	return problem.New(problem.BadRequest, "the body is not valid JSON at byte %d (in %s): %s", s.i, where, what)
}

// object reads an object, calling field for each key (each at most once).
func (s *scanner) object(path string, field func(key, path string) *problem.Error) *problem.Error {
	where := path
	if where == "" {
		where = "body"
	}
	if s.peek() != '{' {
		if path == "" {
			return problem.New(problem.BadRequest, "the body must be a JSON object")
		}
		return invalid(path, "must be an object")
	}
	s.i++
	var seen [8]string
	n := 0
	if s.peek() == '}' {
		s.i++
		return nil
	}
	for {
		if s.peek() != '"' {
			return s.syntax(where, "want a key in double quotes")
		}
		key, err := s.str(where)
		if err != nil {
			return err
		}
		sub := key
		if path != "" {
			sub = path + "." + key
		}
		if len(key) > 64 {
			return invalid(where, "a key is longer than 64 bytes")
		}
		for _, k := range seen[:n] {
			if k == key {
				return invalid(sub, "appears twice")
			}
		}
		if n < len(seen) {
			seen[n] = key
			n++
		}
		if s.peek() != ':' {
			return s.syntax(where, "want ':' after a key")
		}
		s.i++
		if err := field(key, sub); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return nil
		default:
			return s.syntax(where, "want ',' or '}' after a value")
		}
	}
}

// value reads a string value into out.
func (s *scanner) value(path string, out *string) *problem.Error {
	switch s.peek() {
	case '"':
		v, err := s.str(path)
		if err != nil {
			return err
		}
		*out = v
		return nil
	case '{', '[':
		return invalid(path, "must be a string, not an object or array")
	case 0:
		return s.syntax(path, "")
	}
	return invalid(path, "must be a string")
}

// str reads a JSON string at s.i (an opening quote).
func (s *scanner) str(where string) (string, *problem.Error) {
	s.i++ // the quote
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			v := string(s.b[start:s.i])
			s.i++
			return v, nil
		case c == '\\':
			return s.escaped(where, start)
		case c < 0x20:
			return "", s.syntax(where, "a control character in a string")
		}
		s.i++
	}
	return "", s.syntax(where, "")
}

// escaped finishes a string that has escapes, from start.
func (s *scanner) escaped(where string, start int) (string, *problem.Error) {
	out, next, fault := event.AppendUnescaped(make([]byte, 0, s.i-start+16), s.b, start)
	s.i = next
	switch fault {
	case event.StringOK:
		return string(out), nil
	case event.StringControl:
		return "", s.syntax(where, "a control character in a string")
	case event.StringShortHex, event.StringBadHex:
		return "", s.syntax(where, `a \u escape needs 4 hex digits`)
	case event.StringBadEscape:
		return "", s.syntax(where, "an unknown escape in a string")
	}
	return "", s.syntax(where, "")
}

// appendString appends s as a JSON string: quotes, backslashes and control
// characters escaped, invalid UTF-8 replaced, HTML-sensitive characters
// and the JavaScript line separators escaped as encoding/json does.
func appendString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

func appendReasons(b []byte, rs []DecisionReason) []byte {
	b = append(b, '[')
	for i, r := range rs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"code":`...)
		b = appendString(b, r.Code)
		b = append(b, `,"message":`...)
		b = appendString(b, r.Message)
		b = append(b, '}')
	}
	return append(b, ']')
}

// appendDecision appends d as JSON, as encoding/json would write it.
func appendDecision(b []byte, d *Decision) []byte {
	b = append(b, `{"decision":`...)
	b = appendString(b, d.Decision)
	b = append(b, `,"reasons":`...)
	b = appendReasons(b, d.Reasons)
	b = append(b, `,"decision_id":`...)
	b = appendString(b, d.DecisionID)
	b = append(b, `,"decided_at":`...)
	b = appendString(b, d.DecidedAt)
	if d.RetryAfterMS != 0 {
		b = append(b, `,"retry_after_ms":`...)
		b = strconv.AppendInt(b, d.RetryAfterMS, 10)
	}
	return append(b, '}')
}

// appendRecord appends r as JSON, as encoding/json would write it.
func appendRecord(b []byte, r *DecisionRecord) []byte {
	field := func(name, v string, omitEmpty bool) {
		if omitEmpty && v == "" {
			return
		}
		b = append(b, ',', '"')
		b = append(b, name...)
		b = append(b, '"', ':')
		b = appendString(b, v)
	}
	b = append(b, `{"decision_id":`...)
	b = appendString(b, r.DecisionID)
	field("decided_at", r.DecidedAt, false)
	field("decision", r.Decision, false)
	b = append(b, `,"reasons":`...)
	b = appendReasons(b, r.Reasons)
	field("tenant", r.Tenant, false)
	field("vehicle", r.Vehicle, false)
	field("command", r.Command, false)
	field("channel", r.Channel, true)
	field("command_id", r.CommandID, true)
	b = append(b, `,"actor":{`...)
	first := true
	for _, f := range [...]struct{ name, v string }{{"account", r.Actor.Account}, {"device", r.Actor.Device}, {"ip", r.Actor.IP},
		{"client_id", r.Actor.ClientID}, {"role", r.Actor.Role}} {
		if f.v == "" {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '"')
		b = append(b, f.name...)
		b = append(b, '"', ':')
		b = appendString(b, f.v)
	}
	b = append(b, `},"decide_us":`...)
	b = strconv.AppendInt(b, r.DecideMicros, 10)
	return append(b, '}')
}
