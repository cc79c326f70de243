package auth

import (
	"strings"
	"testing"
	"time"
)

func TestSessionTokens(t *testing.T) {
	uid, err := NewUserID()
	if err != nil || !ValidUserID(uid) {
		t.Fatalf("user id %q %v", uid, err)
	}
	s1, _ := NewSessionSecret()
	s2, _ := NewSessionSecret()
	if s1 == s2 || len(s1) != secretLen {
		t.Fatalf("secrets %q %q", s1, s2)
	}
	gotU, gotS, ok := ParseSessionCookie(SessionCookie(uid, s1))
	if !ok || gotU != uid || gotS != s1 {
		t.Fatalf("round trip: %q %q %v", gotU, gotS, ok)
	}
	if SessionHash(s1) == SessionHash(s2) || len(SessionHash(s1)) != 64 {
		t.Error("session hashes")
	}
	tok := CSRFToken(s1)
	if !CSRFValid(s1, tok) || CSRFValid(s2, tok) || CSRFValid(s1, "") || CSRFValid(s1, tok[:len(tok)-1]) {
		t.Error("CSRF token checks")
	}
	if tok == SessionHash(s1) || strings.Contains(tok, s1) {
		t.Error("the CSRF token is derived the same way as the stored hash, or shows the secret")
	}
	for _, bad := range []string{"", ".", uid, uid + ".", "." + s1, strings.ToUpper(uid) + "." + s1, uid + "." + s1 + "x",
		uid + "." + s1[:42] + "=", uid + "." + s1[:42] + "+", uid + ".." + s1[1:], "0123456789abcdeg." + s1} {
		if _, _, ok := ParseSessionCookie(bad); ok {
			t.Errorf("cookie %q accepted", bad)
		}
	}
}

func TestSessionLimits(t *testing.T) {
	l := SessionLimits{Idle: 30 * time.Minute, Lifetime: 12 * time.Hour}
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	cases := []struct {
		seen, now time.Duration // after start
		want      string
	}{
		{0, 0, ""},
		{0, 29 * time.Minute, ""},
		{0, 30 * time.Minute, SessionIdle},
		{11 * time.Hour, 11*time.Hour + 29*time.Minute, ""},
		{11*time.Hour + 50*time.Minute, 12 * time.Hour, SessionExpired},
		{11*time.Hour + 59*time.Minute, 11*time.Hour + 59*time.Minute, ""},
	}
	for _, c := range cases {
		if got := l.Check(start, start.Add(c.seen), start.Add(c.now)); got != c.want {
			t.Errorf("seen +%v, now +%v: %q, want %q", c.seen, c.now, got, c.want)
		}
	}
	if !l.Ends(start).Equal(start.Add(12 * time.Hour)) {
		t.Error("Ends")
	}
}

func FuzzParseSessionCookie(f *testing.F) {
	uid, _ := NewUserID()
	s, _ := NewSessionSecret()
	f.Add(SessionCookie(uid, s))
	f.Add("0123456789abcdef.")
	f.Fuzz(func(t *testing.T, v string) {
		u, sec, ok := ParseSessionCookie(v)
		if !ok {
			return
		}
		if SessionCookie(u, sec) != v || !ValidUserID(u) || len(sec) != secretLen {
			t.Fatalf("accepted %q as %q %q", v, u, sec)
		}
	})
}
