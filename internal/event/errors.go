package event

import (
	"strconv"
	"strings"
)

// Code classifies why an event was rejected; rejection counters are kept per
// code and field.
type Code string

const (
	CodeSyntax      Code = "syntax"       // not JSON, or not a JSON object
	CodeMissing     Code = "missing"      // a required attribute or member is absent
	CodeWrongType   Code = "wrong-type"   // a member has the wrong JSON type
	CodeInvalid     Code = "invalid"      // a value is not allowed (unknown enum, bad format)
	CodeOutOfRange  Code = "out-of-range" // a number or time outside its domain
	CodeTooLarge    Code = "too-large"    // beyond a size limit
	CodeDuplicate   Code = "duplicate"    // a member given twice
	CodeUnsupported Code = "unsupported"  // valid CloudEvents that vigil does not take (data_base64)
)

// FieldError says what is wrong with one event and where.
type FieldError struct {
	Field  string // dotted path, e.g. "data.position.lat"; "" when the input is not an object
	Code   Code
	Reason string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Reason
	}
	return e.Field + ": " + e.Reason
}

// RejectError names a rejected event in its batch or stream.
type RejectError struct {
	Index int    // 0-based position of the event in its batch or stream
	Line  int    // 1-based line where the event starts; 0 when unknown
	ID    string // the event's id when it could be read
	*FieldError
}

func (e *RejectError) Error() string {
	var b strings.Builder
	b.WriteString("event ")
	b.WriteString(strconv.Itoa(e.Index))
	if e.Line > 0 || e.ID != "" {
		b.WriteString(" (")
		if e.Line > 0 {
			b.WriteString("line ")
			b.WriteString(strconv.Itoa(e.Line))
		}
		if e.ID != "" {
			if e.Line > 0 {
				b.WriteString(", ")
			}
			b.WriteString("id ")
			b.WriteString(strconv.Quote(clip([]byte(e.ID))))
		}
		b.WriteString(")")
	}
	b.WriteString(": ")
	b.WriteString(e.FieldError.Error())
	return b.String()
}

// Unwrap exposes the FieldError to errors.As.
func (e *RejectError) Unwrap() error { return e.FieldError }

// ReasonKey is the key rejection counters use: code and field.
func (e *FieldError) ReasonKey() string {
	if e.Field == "" {
		return string(e.Code)
	}
	return string(e.Code) + " " + e.Field
}
