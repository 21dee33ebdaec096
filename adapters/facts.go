package adapters

import (
	"errors"
	"fmt"
)

// Fact is the kind of an adapter's typed answer. The provisioning service turns each
// into the SCIM error the IdP sees (module/provision, errors.go); adapters never
// build a SCIM error themselves.
type Fact int

// The facts an adapter reports.
const (
	// NotFound: the upstream has no such user or group (errors.Is ErrNotFound).
	NotFound Fact = iota + 1
	// Taken: Field's value belongs to another upstream account.
	Taken
	// Invalid: the upstream cannot store Field's value; Reason says why.
	Invalid
	// Unavailable: the upstream did not answer usably (5xx, 429, timeout,
	// connection failure); RetryAfter is its hint in seconds, 0 when none.
	Unavailable
	// Refused: the upstream will not do this to this account; Reason says why
	// and what an administrator can do.
	Refused
	// Misconfigured: the upstream rejected the adapter's own credentials or
	// configuration (a token without a scope, a missing organization).
	Misconfigured
	// BadAnswer: the upstream answered something the adapter cannot read.
	BadAnswer
)

var factNames = map[Fact]string{NotFound: "not found", Taken: "taken", Invalid: "invalid",
	Unavailable: "unavailable", Refused: "refused", Misconfigured: "misconfigured", BadAnswer: "bad answer"}

func (f Fact) String() string {
	if n, ok := factNames[f]; ok {
		return n
	}
	return fmt.Sprintf("fact(%d)", int(f))
}

// ErrNotFound is returned when the upstream has no such user or group.
var ErrNotFound = errors.New("not found")

// Error is a typed fact about an upstream operation. Reason is read by IdP
// administrators: it names no secret (upstream text goes through
// upstream.Client.Scrub) and no internal host.
type Error struct {
	Fact Fact
	// Field is the SCIM attribute concerned (Taken, Invalid): "userName",
	// "emails", "externalId", "displayName", "members", "name", …
	Field string
	// Reason says what happened, for the SCIM detail.
	Reason string
	// RetryAfter is the upstream's Retry-After in seconds (Unavailable).
	RetryAfter int
	// Err is the cause (a context error), for errors.Is; never shown.
	Err error
}

func (e *Error) Error() string {
	s := e.Fact.String()
	if e.Field != "" {
		s += " (" + e.Field + ")"
	}
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is makes a NotFound fact match ErrNotFound.
func (e *Error) Is(target error) bool { return target == ErrNotFound && e.Fact == NotFound }

func fact(f Fact, field string, format string, args []any) *Error {
	return &Error{Fact: f, Field: field, Reason: fmt.Sprintf(format, args...)}
}

// NotFoundf is a NotFound fact with a reason.
func NotFoundf(format string, args ...any) *Error { return fact(NotFound, "", format, args) }

// TakenBy reports that field's value belongs to another account.
func TakenBy(field, format string, args ...any) *Error { return fact(Taken, field, format, args) }

// InvalidValue reports a value the upstream cannot store.
func InvalidValue(field, format string, args ...any) *Error {
	return fact(Invalid, field, format, args)
}

// UnavailableFor reports an upstream that did not answer usably.
func UnavailableFor(retryAfter int, format string, args ...any) *Error {
	e := fact(Unavailable, "", format, args)
	e.RetryAfter = retryAfter
	return e
}

// RefusedBecause reports an operation the upstream will not do to this account.
func RefusedBecause(format string, args ...any) *Error { return fact(Refused, "", format, args) }

// MisconfiguredBecause reports credentials or configuration the upstream rejects.
func MisconfiguredBecause(format string, args ...any) *Error {
	return fact(Misconfigured, "", format, args)
}

// BadAnswerf reports an upstream answer the adapter cannot read.
func BadAnswerf(format string, args ...any) *Error { return fact(BadAnswer, "", format, args) }

// FactOf returns the typed fact of err, if it carries one.
func FactOf(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

// Is reports whether err carries fact f.
func Is(err error, f Fact) bool {
	if f == NotFound && errors.Is(err, ErrNotFound) {
		return true
	}
	e, ok := FactOf(err)
	return ok && e.Fact == f
}

// MemberError reports the members a membership change could not apply.
type MemberError struct {
	// Failed maps a SCIM user id to why it was not applied (a fact).
	Failed map[string]error
}

func (e *MemberError) Error() string {
	return fmt.Sprintf("%d member changes were not applied", len(e.Failed))
}
