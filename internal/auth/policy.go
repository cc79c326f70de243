package auth

import (
	_ "embed"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The password policy follows NIST SP 800-63B: a minimum length, a generous
// maximum, no composition rules, and a refusal of passwords an attacker
// tries first (common ones, the user's own name, runs and repeats).
const (
	MinPasswordLen   = 12   // characters
	MaxPasswordLen   = 256  // characters
	MaxPasswordBytes = 1024 // bytes: a bound on what is read and hashed
)

//go:embed common.txt
var commonList string

// PolicyError says why a password is refused and what to do instead.
type PolicyError struct{ Msg string }

func (e *PolicyError) Error() string { return e.Msg }

// Policy checks new passwords. Build it once with NewPolicy.
type Policy struct {
	common map[string]bool
}

// NewPolicy returns the policy with the embedded list of common passwords.
func NewPolicy() *Policy {
	p := &Policy{common: map[string]bool{}}
	for line := range strings.SplitSeq(commonList, "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			p.common[strings.ToLower(line)] = true
		}
	}
	return p
}

// Check returns a *PolicyError when password may not be user's password.
func (p *Policy) Check(user, password string) error {
	bad := func(format string, args ...any) error { return &PolicyError{fmt.Sprintf(format, args...)} }
	if len(password) > MaxPasswordBytes {
		return bad("the password is %d bytes long: at most %d bytes (%d characters)", len(password), MaxPasswordBytes, MaxPasswordLen)
	}
	if !utf8.ValidString(password) {
		return bad("the password is not valid UTF-8 text")
	}
	if strings.ContainsFunc(password, unicode.IsControl) {
		return bad("the password contains a control character (tab, newline, …): use letters, digits, spaces and symbols")
	}
	pw := normalize(password)
	n := utf8.RuneCountInString(pw)
	if n < MinPasswordLen {
		return bad("the password has %d characters: use at least %d (a few unrelated words make a good one)", n, MinPasswordLen)
	}
	if n > MaxPasswordLen {
		return bad("the password has %d characters: at most %d", n, MaxPasswordLen)
	}
	lower := strings.ToLower(pw)
	// The core is what remains without the digits and symbols people add
	// around a word to pass composition rules ("Password2024!").
	core := strings.TrimFunc(lower, func(r rune) bool { return !unicode.IsLetter(r) })
	name := strings.ToLower(strings.TrimSpace(user))
	if name != "" && (lower == name || core == name || reverse(lower) == name) {
		return bad("the password is the user name (or the user name with digits or symbols around it): choose something else")
	}
	if core == "vigil" {
		return bad("the password is the name of this product with digits or symbols around it: choose something else")
	}
	if p.common[lower] || p.common[core] || p.common[strings.ReplaceAll(lower, " ", "")] {
		return bad("the password is one of the most common passwords (or one with digits or symbols added): attackers try those first")
	}
	if runOrRepeat(lower) {
		return bad("the password is a repeated pattern or a run of consecutive characters: choose something less predictable")
	}
	return nil
}

func reverse(s string) string {
	r := []rune(s)
	for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
		r[i], r[j] = r[j], r[i]
	}
	return string(r)
}

// runOrRepeat reports whether s is a unit of at most 4 characters repeated
// ("abcabcabcabc", "111111111111") or a run with a step of ±1
// ("abcdefghijkl"; digits wrap: "789012345678").
func runOrRepeat(s string) bool {
	r := []rune(s)
	for unit := 1; unit <= 4 && unit < len(r); unit++ {
		same := true
		for i := unit; i < len(r); i++ {
			if r[i] != r[i%unit] {
				same = false
				break
			}
		}
		if same {
			return true
		}
	}
	for _, step := range []rune{1, -1} {
		run := true
		for i := 1; i < len(r); i++ {
			d := r[i] - r[i-1]
			if d != step && !(isDigit(r[i]) && isDigit(r[i-1]) && d == -9*step) {
				run = false
				break
			}
		}
		if run {
			return true
		}
	}
	return false
}

func isDigit(r rune) bool { return r >= '0' && r <= '9' }
