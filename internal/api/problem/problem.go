// Package problem is the one catalogue of errors vigil's HTTP interfaces
// answer with: a stable code a client can branch on, the HTTP status, and
// a message that says what was wrong and what to do.
package problem

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Code is a stable error code. Codes are never renamed or reused.
type Code string

// The catalogue.
const (
	BadRequest       Code = "bad_request"        // the request cannot be understood
	InvalidParameter Code = "invalid_parameter"  // a query parameter or field is invalid
	UnsupportedMedia Code = "unsupported_media"  // Content-Type or Content-Encoding not accepted
	BodyTooLarge     Code = "body_too_large"     // beyond the body or batch limit
	Overloaded       Code = "overloaded"         // too much in flight: retry after Retry-After
	RateLimited      Code = "rate_limited"       // too many requests or sign-in attempts: retry after Retry-After
	Unauthenticated  Code = "unauthenticated"    // no or bad credentials
	Forbidden        Code = "forbidden"          // the credentials do not allow this
	NotFound         Code = "not_found"          // no such object (in the caller's tenants)
	Conflict         Code = "conflict"           // the object changed meanwhile
	MethodNotAllowed Code = "method_not_allowed" // wrong HTTP method for the route
	Unavailable      Code = "unavailable"        // not ready yet or shutting down
	Internal         Code = "internal"           // a bug or a failed dependency; logged with its id
)

var statuses = map[Code]int{
	BadRequest:       http.StatusBadRequest,
	InvalidParameter: http.StatusBadRequest,
	UnsupportedMedia: http.StatusUnsupportedMediaType,
	BodyTooLarge:     http.StatusRequestEntityTooLarge,
	Overloaded:       http.StatusTooManyRequests,
	RateLimited:      http.StatusTooManyRequests,
	Unauthenticated:  http.StatusUnauthorized,
	Forbidden:        http.StatusForbidden,
	NotFound:         http.StatusNotFound,
	Conflict:         http.StatusConflict,
	MethodNotAllowed: http.StatusMethodNotAllowed,
	Unavailable:      http.StatusServiceUnavailable,
	Internal:         http.StatusInternalServerError,
}

// Codes lists the catalogue (for the OpenAPI document and its test).
func Codes() map[Code]int {
	out := make(map[Code]int, len(statuses))
	for c, s := range statuses {
		out[c] = s
	}
	return out
}

// Error is an error with its catalogue code.
type Error struct {
	Code       Code          `json:"code"`
	Message    string        `json:"message"`
	Field      string        `json:"field,omitempty"`
	RetryAfter time.Duration `json:"-"`
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Status is the HTTP status of the error's code.
func (e *Error) Status() int {
	if s, ok := statuses[e.Code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// New returns an error with a formatted message.
func New(c Code, format string, args ...any) *Error {
	return &Error{Code: c, Message: fmt.Sprintf(format, args...)}
}

// Write answers with e as {"error": {...}}.
func Write(w http.ResponseWriter, e *Error) {
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((e.RetryAfter+time.Second-1)/time.Second)))
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(e.Status())
	json.NewEncoder(w).Encode(struct {
		Error *Error `json:"error"`
	}{e})
}
