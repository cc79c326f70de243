package event

import (
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// scanner is a small JSON reader over one event's bytes. It never allocates
// except for the strings it hands out. Semantic problems are recorded with
// fail (the first one wins) and scanning goes on, so the event's id can still
// be found; a syntax error stops the scan (fatal).
type scanner struct {
	buf     []byte
	pos     int
	depth   int
	lim     *Limits
	err     *FieldError
	fatal   bool
	scratch []byte
	escaped bool // the last string read had escapes
}

func (s *scanner) reset(b []byte, lim *Limits) {
	s.buf, s.pos, s.depth, s.lim, s.err, s.fatal = b, 0, 0, lim, nil, false
}

func (s *scanner) fail(field string, code Code, format string, args ...any) {
	if s.err == nil {
		s.err = &FieldError{Field: field, Code: code, Reason: fmt.Sprintf(format, args...)}
	}
}

func (s *scanner) syntax(format string, args ...any) {
	if !s.fatal {
		s.fatal = true
		s.err = &FieldError{Code: CodeSyntax, Reason: fmt.Sprintf("not valid JSON at byte %d: ", s.pos) + fmt.Sprintf(format, args...)}
	}
}

func (s *scanner) ws() {
	for s.pos < len(s.buf) {
		switch s.buf[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// peek returns the next non-space byte, or 0 at the end.
func (s *scanner) peek() byte {
	s.ws()
	if s.pos < len(s.buf) {
		return s.buf[s.pos]
	}
	return 0
}

func (s *scanner) enter() bool {
	s.depth++
	if s.depth > s.lim.MaxDepth {
		s.syntax("nesting deeper than %d", s.lim.MaxDepth)
		return false
	}
	return true
}

// object consumes '{' of a value that must be an object. When the value is
// something else it is skipped and a wrong-type error recorded for field.
func (s *scanner) object(field string) bool {
	if s.peek() != '{' {
		s.wrongType(field, "an object")
		return false
	}
	s.pos++
	return s.enter()
}

// more advances to the next member of an object opened by object: it reads
// the separating comma, or the closing brace and then reports false.
func (s *scanner) more(first *bool) bool {
	if s.fatal {
		return false
	}
	c := s.peek()
	if c == '}' {
		s.pos++
		s.depth--
		return false
	}
	if !*first {
		if c != ',' {
			s.syntax("expected ',' or '}' in object")
			return false
		}
		s.pos++
		s.ws()
	}
	*first = false
	return true
}

// key reads a member name and its colon. The bytes are valid until the next
// key or string read.
func (s *scanner) key() []byte {
	if s.peek() != '"' {
		s.syntax("expected a member name in quotes")
		return nil
	}
	k := s.rawString()
	if s.fatal {
		return nil
	}
	if s.peek() != ':' {
		s.syntax("expected ':' after member name")
		return nil
	}
	s.pos++
	return k
}

// array consumes '[' of a value that must be an array.
func (s *scanner) array(field string) bool {
	if s.peek() != '[' {
		s.wrongType(field, "an array")
		return false
	}
	s.pos++
	return s.enter()
}

// moreItems is more for arrays.
func (s *scanner) moreItems(first *bool) bool {
	if s.fatal {
		return false
	}
	c := s.peek()
	if c == ']' {
		s.pos++
		s.depth--
		return false
	}
	if !*first {
		if c != ',' {
			s.syntax("expected ',' or ']' in array")
			return false
		}
		s.pos++
		s.ws()
	}
	*first = false
	return true
}

// null consumes a JSON null if one comes next.
func (s *scanner) null() bool {
	if s.peek() == 'n' {
		s.literal("null")
		return true
	}
	return false
}

func (s *scanner) literal(lit string) {
	if len(s.buf)-s.pos < len(lit) || string(s.buf[s.pos:s.pos+len(lit)]) != lit {
		s.syntax("invalid literal")
		return
	}
	s.pos += len(lit)
}

func (s *scanner) wrongType(field, want string) {
	got := s.kind()
	s.skip()
	if !s.fatal {
		s.fail(field, CodeWrongType, "must be %s, got %s", want, got)
	}
}

func (s *scanner) kind() string {
	switch s.peek() {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}

// skip consumes one value of any kind, checking its syntax and depth.
func (s *scanner) skip() {
	switch s.peek() {
	case '{':
		s.pos++
		if !s.enter() {
			return
		}
		for first := true; s.more(&first); {
			s.key()
			s.skip()
		}
	case '[':
		s.pos++
		if !s.enter() {
			return
		}
		for first := true; s.moreItems(&first); {
			s.skip()
		}
	case '"':
		s.rawString()
	case 't':
		s.literal("true")
	case 'f':
		s.literal("false")
	case 'n':
		s.literal("null")
	case 0:
		s.syntax("unexpected end of input")
	default:
		s.number()
	}
}

// rawValue consumes a value that must be an object and returns a copy of its
// bytes (for free-form members such as detail), bounded by MaxRawBytes.
func (s *scanner) rawValue(field string) []byte {
	if s.peek() != '{' {
		s.wrongType(field, "an object")
		return nil
	}
	start := s.pos
	s.skip()
	if s.fatal {
		return nil
	}
	if s.pos-start > s.lim.MaxRawBytes {
		s.fail(field, CodeTooLarge, "is %d bytes, the limit is %d", s.pos-start, s.lim.MaxRawBytes)
		return nil
	}
	return append([]byte(nil), s.buf[start:s.pos]...)
}

// rawString reads a string at pos (which holds '"') and returns its
// unescaped bytes: a view of buf when there are no escapes, else scratch.
func (s *scanner) rawString() []byte {
	s.pos++
	start := s.pos
	ascii := true
	b := s.buf
	for {
		i := s.pos
		for i < len(b) && plain[b[i]] {
			i++
		}
		s.pos = i
		if i >= len(b) {
			s.syntax("unterminated string")
			return nil
		}
		switch c := b[i]; {
		case c == '"':
			out := b[start:i]
			s.pos++
			if !ascii && !utf8.Valid(out) {
				s.syntax("invalid UTF-8 in string")
				return nil
			}
			return out
		case c == '\\':
			return s.escapedString(start)
		case c < 0x20:
			s.syntax("control character in string")
			return nil
		default: // non-ASCII: checked as a whole at the end
			ascii = false
			s.pos++
		}
	}
}

// plain marks the bytes a string scan passes over without a second look.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func (s *scanner) escapedString(start int) []byte {
	s.escaped = true
	out, next, fault := AppendUnescaped(append(s.scratch[:0], s.buf[start:s.pos]...), s.buf, s.pos)
	s.scratch = out
	switch fault {
	case StringOK:
		s.pos = next
		if !utf8.Valid(out) {
			s.syntax("invalid UTF-8 in string")
			return nil
		}
		return out
	case StringControl:
		s.pos = next
		s.syntax("control character in string")
	case StringShortHex:
		s.pos = next
		s.syntax("short \\u escape")
	case StringBadHex:
		s.pos = next
		s.syntax("invalid \\u escape")
	case StringBadEscape:
		s.pos = next
		s.syntax("invalid escape '\\%c' in string", s.buf[next-1])
	default:
		s.pos = next
		s.syntax("unterminated string")
	}
	return nil
}

// strBytes reads a value that must be a string, bounded by max bytes.
func (s *scanner) strBytes(field string, max int) ([]byte, bool) {
	if s.peek() != '"' {
		s.wrongType(field, "a string")
		return nil, false
	}
	s.escaped = false
	b := s.rawString()
	if s.fatal {
		return nil, false
	}
	if s.escaped {
		for _, c := range b {
			if c < 0x20 || c == 0x7f {
				s.fail(field, CodeInvalid, "must not contain control characters")
				return nil, false
			}
		}
	}
	if len(b) > max {
		s.fail(field, CodeTooLarge, "is %d bytes long, the limit is %d", len(b), max)
		return nil, false
	}
	return b, true
}

// str reads a string value that must not be empty.
func (s *scanner) str(field string, max int) string {
	b, ok := s.strBytes(field, max)
	if !ok {
		return ""
	}
	if len(b) == 0 {
		s.fail(field, CodeInvalid, "must not be empty")
		return ""
	}
	return string(b)
}

// boolean reads a value that must be true or false.
func (s *scanner) boolean(field string) Tri {
	switch s.peek() {
	case 't':
		s.literal("true")
		return True
	case 'f':
		s.literal("false")
		return False
	}
	s.wrongType(field, "a boolean")
	return Unset
}

// number consumes a JSON number and returns its value. ok is false (and a
// syntax error recorded) when the bytes are not a number.
func (s *scanner) number() (float64, bool) {
	start := s.pos
	b := s.buf
	i := s.pos
	neg := false
	if i < len(b) && b[i] == '-' {
		neg = true
		i++
	}
	var mant uint64
	digits, exp := 0, 0
	intStart := i
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		if digits < 19 {
			mant = mant*10 + uint64(b[i]-'0')
			if mant != 0 {
				digits++
			}
		} else {
			exp++
		}
		i++
	}
	if i == intStart || (b[intStart] == '0' && i-intStart > 1) {
		s.syntax("invalid number")
		return 0, false
	}
	simple := true
	if i < len(b) && b[i] == '.' {
		i++
		fracStart := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			if digits < 19 {
				mant = mant*10 + uint64(b[i]-'0')
				if mant != 0 {
					digits++
				}
				exp--
			}
			i++
		}
		if i == fracStart {
			s.syntax("invalid number")
			return 0, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		simple = false
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		expStart := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == expStart {
			s.syntax("invalid number")
			return 0, false
		}
	}
	s.pos = i
	// Exact fast path (Clinger): the mantissa and the power of ten are both
	// exactly representable, so one multiplication or division is exact.
	if simple && digits < 16 && mant < 1<<53 && exp >= -22 && exp <= 0 {
		f := float64(mant)
		if exp < 0 {
			f /= pow10[-exp]
		}
		if neg {
			f = -f
		}
		return f, true
	}
	f, err := strconv.ParseFloat(string(b[start:i]), 64)
	if err != nil && !math.IsInf(f, 0) {
		s.syntax("invalid number")
		return 0, false
	}
	return f, true
}

var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// num reads a value that must be a finite number.
func (s *scanner) num(field string) (float64, bool) {
	c := s.peek()
	if c != '-' && (c < '0' || c > '9') {
		s.wrongType(field, "a number")
		return 0, false
	}
	f, ok := s.number()
	if !ok {
		return 0, false
	}
	if math.IsInf(f, 0) {
		s.fail(field, CodeOutOfRange, "is too large")
		return 0, false
	}
	return f, true
}

// numIn reads a number that must lie in [lo, hi].
func (s *scanner) numIn(field string, lo, hi float64) (float64, bool) {
	f, ok := s.num(field)
	if !ok {
		return 0, false
	}
	if f < lo || f > hi {
		s.fail(field, CodeOutOfRange, "%s is outside [%s, %s]", fmtNum(f), fmtNum(lo), fmtNum(hi))
		return 0, false
	}
	return f, true
}

// integer reads a number that must be an integer in [lo, hi].
func (s *scanner) integer(field string, lo, hi int64) (int64, bool) {
	f, ok := s.num(field)
	if !ok {
		return 0, false
	}
	if f != math.Trunc(f) {
		s.fail(field, CodeWrongType, "must be an integer, got %s", fmtNum(f))
		return 0, false
	}
	if f < float64(lo) || f > float64(hi) {
		s.fail(field, CodeOutOfRange, "%s is outside [%d, %d]", fmtNum(f), lo, hi)
		return 0, false
	}
	return int64(f), true
}

func fmtNum(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// enum reads a string that must be one of names.
func enum[T ~uint8](s *scanner, field string, names []string) T {
	b, ok := s.strBytes(field, 64)
	if !ok {
		return 0
	}
	v, ok := lookup[T](names, b)
	if !ok {
		s.fail(field, CodeInvalid, "%q is not %s", clip(b), oneOf(names))
	}
	return v
}

// clip shortens hostile values quoted back in error messages.
func clip(b []byte) string {
	if len(b) > 64 {
		return string(b[:64]) + "…"
	}
	return string(b)
}
