package store

import (
	"errors"
	"fmt"
)

// The kinds of store errors. Test with errors.Is; the API layer maps each to
// one stable code. Messages say what was wrong and which id.
var (
	// ErrNotFound: no such object in the caller's scope.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the change contradicts what is stored (an id taken by
	// another tenant, a configuration version that moved on).
	ErrConflict = errors.New("conflict")
	// ErrInvalid: the input breaks a rule or a limit of the store.
	ErrInvalid = errors.New("invalid")
	// ErrForbidden: the input names a tenant outside the caller's scope,
	// or the operation needs the all-tenants scope.
	ErrForbidden = errors.New("forbidden")
	// ErrSchemaTooNew: the database was migrated by a newer vigil.
	ErrSchemaTooNew = errors.New("database schema is newer than this binary")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store closed")
)

// Error is a store error of one of the kinds above.
type Error struct {
	Kind error  // one of the Err* values
	Msg  string // what was wrong, naming the object
}

func (e *Error) Error() string { return "store: " + e.Msg }

// Unwrap makes errors.Is(err, ErrNotFound) and friends work.
func (e *Error) Unwrap() error { return e.Kind }

// Errorf returns an *Error of the given kind.
func Errorf(kind error, format string, args ...any) error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// clip shortens a user-supplied string for an error message.
func clip(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}
