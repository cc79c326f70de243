package auth

import (
	"errors"
	"strings"
	"testing"
)

func TestPolicy(t *testing.T) {
	p := NewPolicy()
	cases := []struct {
		name, user, password string
		refused              string // a word of the error, "" when accepted
	}{
		{"a passphrase", "ana", "tulip lantern orbit 7", ""},
		{"twelve characters", "ana", "k3#Lm9!qZ2@w", ""},
		{"unicode counts characters", "ana", "éèêëéèêëéèÿü", ""},
		{"256 characters", "ana", strings.Repeat("abcdefghijklmnoq", 16), ""},
		{"eleven characters", "ana", "k3#Lm9!qZ2@", "at least 12"},
		{"six accented letters are 12 bytes but 6 characters", "ana", "éèêëéè", "at least 12"},
		{"257 characters", "ana", strings.Repeat("x", 256) + "y", "at most 256"},
		{"over 1024 bytes", "ana", strings.Repeat("€", 342), "bytes"},
		{"control character", "ana", "tulip lantern\norbit 7", "control character"},
		{"not UTF-8", "ana", "tulip lantern \xff orbit", "UTF-8"},
		{"the user name", "ana.lopez@example.org", "ana.lopez@example.org", "user name"},
		{"the user name in capitals", "ana.lopez@example.org", "ANA.LOPEZ@EXAMPLE.ORG", "user name"},
		{"the user name with digits", "anastasia", "anastasia2024!", "user name"},
		{"the user name reversed", "anastasia123", "321aisatsana", "user name"},
		{"common", "ana", "qwertyuiop123", "common"},
		{"common in capitals", "ana", "PASSWORD123456", "common"},
		{"common with digits and symbols", "ana", "Password2024!!", "common"},
		{"common base with digits in front", "ana", "1234monkey!!!!", "common"},
		{"common phrase without spaces", "ana", "correct horse battery staple", "common"},
		{"the product's name", "ana", "Vigil-2026-2026", "product"},
		{"repeated character", "ana", "aaaaaaaaaaaaaa", "repeated"},
		{"repeated unit", "ana", "xyzxyzxyzxyz", "repeated"},
		{"repeated unit, partial end", "ana", "a1b2a1b2a1b2a", "repeated"},
		{"ascending run", "ana", "defghijklmnop", "run"},
		{"descending run", "ana", "zyxwvutsrqpon", "run"},
		{"digits wrapping", "ana", "789012345678", "run"},
	}
	for _, c := range cases {
		err := p.Check(c.user, c.password)
		var pe *PolicyError
		switch {
		case c.refused == "" && err != nil:
			t.Errorf("%s: refused: %v", c.name, err)
		case c.refused != "" && !errors.As(err, &pe):
			t.Errorf("%s: %q accepted (err %v), want it refused for %q", c.name, c.password, err, c.refused)
		case c.refused != "" && !strings.Contains(pe.Msg, c.refused):
			t.Errorf("%s: refused with %q, want the reason to mention %q", c.name, pe.Msg, c.refused)
		}
	}
}

// TestCommonListLoaded: the embedded list is there and has no comments
// left in it.
func TestCommonListLoaded(t *testing.T) {
	p := NewPolicy()
	if len(p.common) < 200 {
		t.Errorf("%d common passwords loaded, want the whole list", len(p.common))
	}
	for w := range p.common {
		if strings.HasPrefix(w, "#") || w != strings.TrimSpace(w) {
			t.Errorf("entry %q", w)
		}
	}
}
