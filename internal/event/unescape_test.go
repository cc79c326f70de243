package event

import "testing"

func TestAppendUnescaped(t *testing.T) {
	for _, c := range []struct {
		in, want string
		next     int
		fault    StringFault
	}{
		{`plain" rest`, "plain", 6, StringOK},
		{`a\"b\\c\/d\b\f\n\r\t"`, "a\"b\\c/d\b\f\n\r\t", 21, StringOK},
		{`\u00e9\u20AC"`, "é€", 13, StringOK},
		{`\ud83d\ude00"`, "😀", 13, StringOK},
		{`\ud83dx"`, "\uFFFDx", 8, StringOK},       // a lone high surrogate
		{`\ud83d\u0041"`, "\uFFFDA", 13, StringOK}, // not a pair: both read alone
		{"a\x01\"", "a", 1, StringControl},         // at the control character
		{`a\q"`, "a", 3, StringBadEscape},          // after the escape's character
		{`\u12"x`, "", 2, StringBadHex},            // where the digits start
		{`\u12`, "", 2, StringShortHex},
		{`\ud83d\uzzzz"`, "", 8, StringBadHex},
		{`abc`, "abc", 3, StringUnterminated},
		{`abc\`, "abc", 3, StringUnterminated},
	} {
		out, next, fault := AppendUnescaped(nil, []byte(c.in), 0)
		if string(out) != c.want && c.fault == StringOK || next != c.next || fault != c.fault {
			t.Errorf("%q: %q %d %d, want %q %d %d", c.in, out, next, fault, c.want, c.next, c.fault)
		}
	}
}
