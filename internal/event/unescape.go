package event

import (
	"unicode/utf16"
	"unicode/utf8"
)

// StringFault is what AppendUnescaped found wrong in a JSON string.
type StringFault uint8

const (
	StringOK           StringFault = iota
	StringControl                  // a raw control character
	StringShortHex                 // a \u escape cut short by the end of the input
	StringBadHex                   // a \u escape without 4 hex digits
	StringBadEscape                // a backslash before a character no escape starts with
	StringUnterminated             // the input ends before the closing quote
)

// AppendUnescaped appends to out the rest of a JSON string from b[pos] — a
// position inside the string, after its opening quote — with its escapes
// decoded, up to the closing quote. It returns the result, the position
// after the quote and the fault. After a fault the position is that of a
// control character, just after a bad escape's character, or where a \u
// escape's digits start. A lone surrogate
// becomes U+FFFD, as encoding/json reads it. The event scanner and the
// command gate's request decoder share it; each words the faults its way.
func AppendUnescaped(out, b []byte, pos int) ([]byte, int, StringFault) {
	for pos < len(b) {
		c := b[pos]
		switch {
		case c == '"':
			return out, pos + 1, StringOK
		case c < 0x20:
			return out, pos, StringControl
		case c != '\\':
			out = append(out, c)
			pos++
			continue
		}
		if pos+1 >= len(b) {
			return out, pos, StringUnterminated // a backslash last
		}
		e := b[pos+1]
		pos += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, fault := hex4(b, pos)
			if fault != StringOK {
				return out, pos, fault
			}
			pos += 4
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if pos+1 < len(b) && b[pos] == '\\' && b[pos+1] == 'u' {
					lo, fault := hex4(b, pos+2)
					if fault != StringOK {
						return out, pos + 2, fault
					}
					if utf16.DecodeRune(r, lo) != utf8.RuneError {
						r2, pos = lo, pos+6
					}
				}
				r = utf16.DecodeRune(r, r2)
			}
			out = utf8.AppendRune(out, r)
		default:
			return out, pos, StringBadEscape
		}
	}
	return out, len(b), StringUnterminated
}

// hex4 reads the 4 hex digits of a \u escape at b[pos].
func hex4(b []byte, pos int) (rune, StringFault) {
	if len(b)-pos < 4 {
		return 0, StringShortHex
	}
	var r rune
	for _, c := range b[pos : pos+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, StringBadHex
		}
		r = r<<4 | rune(c)
	}
	return r, StringOK
}
