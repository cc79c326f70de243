package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"time"
)

// A session's cookie holds "<user id>.<secret>": the user id (16 hex
// digits) names where its sessions are kept, the secret (256 random bits,
// base64url) is the credential. The server keeps only the SHA-256 of the
// secret, so a copy of the store does not hold usable sessions.
const (
	secretBytes = 32
	secretLen   = 43 // base64url without padding of 32 bytes
	userIDLen   = 16
)

// NewSessionSecret returns a fresh session secret.
func NewSessionSecret() (string, error) {
	var b [secretBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// NewUserID returns a fresh user id: a user deleted and made again under
// the same name gets another, so sessions of the first never apply.
func NewUserID() (string, error) {
	var b [userIDLen / 2]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// ValidUserID reports whether s is a user id as NewUserID makes them.
func ValidUserID(s string) bool {
	return len(s) == userIDLen && strings.Trim(s, "0123456789abcdef") == ""
}

// SessionCookie is the cookie value of a session.
func SessionCookie(userID, secret string) string { return userID + "." + secret }

// ParseSessionCookie splits a cookie value into user id and secret; ok is
// false for anything NewUserID and NewSessionSecret could not have made.
func ParseSessionCookie(v string) (userID, secret string, ok bool) {
	userID, secret, found := strings.Cut(v, ".")
	if !found || !ValidUserID(userID) || len(secret) != secretLen {
		return "", "", false
	}
	for i := 0; i < len(secret); i++ {
		c := secret[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return "", "", false
		}
	}
	return userID, secret, true
}

// SessionHash is what the server keeps of a secret: hex SHA-256. The
// secret has 256 bits of entropy, so no slow hash is needed.
func SessionHash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// CSRFToken is the session's synchronizer token: derived from the secret
// under its own label, so the server can check it without storing it, a
// copy of the store (which has SessionHash) cannot forge it, and the token
// (readable by the page's script) does not reveal the cookie (which is not).
func CSRFToken(secret string) string {
	sum := sha256.Sum256([]byte("vigil csrf token\x00" + secret))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// CSRFValid reports, in constant time, whether token is the session's.
func CSRFValid(secret, token string) bool {
	return subtle.ConstantTimeCompare([]byte(CSRFToken(secret)), []byte(token)) == 1
}

// SessionLimits are a session's idle timeout and absolute lifetime.
type SessionLimits struct {
	Idle     time.Duration
	Lifetime time.Duration
}

// Why a session is no longer valid.
const (
	SessionIdle    = "idle"
	SessionExpired = "expired"
)

// Check returns "" for a session created at created and last used at seen
// that is still valid at now, else SessionIdle or SessionExpired.
func (l SessionLimits) Check(created, seen, now time.Time) string {
	switch {
	case now.Sub(created) >= l.Lifetime:
		return SessionExpired
	case now.Sub(seen) >= l.Idle:
		return SessionIdle
	}
	return ""
}

// Ends is when a session ends if it stays in use.
func (l SessionLimits) Ends(created time.Time) time.Time { return created.Add(l.Lifetime) }
