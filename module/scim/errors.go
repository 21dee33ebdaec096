// Package scim is the SCIM 2.0 protocol core of caddy-scim (RFC 7643, RFC 7644):
// schemas, resource decoding, filters, PATCH, projection, paging and errors.
// It imports nothing of Caddy, of upstream applications or of storage, so it can be
// table-tested and fuzzed on its own.
package scim

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
)

// URNs defined by RFC 7643 and RFC 7644.
const (
	SchemaUser           = "urn:ietf:params:scim:schemas:core:2.0:User"
	SchemaGroup          = "urn:ietf:params:scim:schemas:core:2.0:Group"
	SchemaEnterpriseUser = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	SchemaSPC            = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
	SchemaResourceType   = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
	SchemaSchema         = "urn:ietf:params:scim:schemas:core:2.0:Schema"
	MessageListResponse  = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	MessageSearchRequest = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
	MessagePatchOp       = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	MessageError         = "urn:ietf:params:scim:api:messages:2.0:Error"
	MessageBulkRequest   = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
	MessageBulkResponse  = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
)

// ContentType is the media type of every SCIM response, errors included.
const ContentType = "application/scim+json"

// scimType values of RFC 7644 §3.12.
const (
	ErrInvalidFilter = "invalidFilter"
	ErrTooMany       = "tooMany"
	ErrUniqueness    = "uniqueness"
	ErrMutability    = "mutability"
	ErrInvalidSyntax = "invalidSyntax"
	ErrInvalidPath   = "invalidPath"
	ErrNoTarget      = "noTarget"
	ErrInvalidValue  = "invalidValue"
	ErrInvalidVers   = "invalidVers"
	ErrSensitive     = "sensitive"
)

// Error is a SCIM error (RFC 7644 §3.12). It is both a Go error and the exact body
// written to the client, so Detail must never carry a secret or an upstream internal.
type Error struct {
	Status   int    // HTTP status
	ScimType string // optional scimType keyword
	Detail   string // human-readable, safe to show to an IdP admin
	// RetryAfter, when positive, becomes a Retry-After header (seconds).
	RetryAfter int
}

func (e *Error) Error() string {
	if e.ScimType != "" {
		return fmt.Sprintf("scim %d %s: %s", e.Status, e.ScimType, e.Detail)
	}
	return fmt.Sprintf("scim %d: %s", e.Status, e.Detail)
}

// MarshalJSON writes the RFC 7644 error body; status is a string there.
func (e *Error) MarshalJSON() ([]byte, error) {
	type body struct {
		Schemas  []string `json:"schemas"`
		ScimType string   `json:"scimType,omitempty"`
		Detail   string   `json:"detail,omitempty"`
		Status   string   `json:"status"`
	}
	return json.Marshal(body{
		Schemas:  []string{MessageError},
		ScimType: e.ScimType,
		Detail:   e.Detail,
		Status:   strconv.Itoa(e.Status),
	})
}

// Errorf builds an *Error.
func Errorf(status int, scimType, format string, args ...any) *Error {
	return &Error{Status: status, ScimType: scimType, Detail: fmt.Sprintf(format, args...)}
}

// BadRequest is a 400 with the given scimType.
func BadRequest(scimType, format string, args ...any) *Error {
	return Errorf(http.StatusBadRequest, scimType, format, args...)
}

// NotFound is a 404 for a resource id.
func NotFound(resourceType, id string) *Error {
	return Errorf(http.StatusNotFound, "", "%s %q not found", resourceType, id)
}

// Conflict is a 409 uniqueness error.
func Conflict(format string, args ...any) *Error {
	return Errorf(http.StatusConflict, ErrUniqueness, format, args...)
}

// Unavailable is a 503, optionally with a Retry-After in seconds.
func Unavailable(retryAfter int, format string, args ...any) *Error {
	e := Errorf(http.StatusServiceUnavailable, "", format, args...)
	e.RetryAfter = retryAfter
	return e
}

// NotImplemented is a 501 for a feature this build or adapter does not offer.
func NotImplemented(format string, args ...any) *Error {
	return Errorf(http.StatusNotImplemented, "", format, args...)
}

// AsError converts any error into a *Error; non-SCIM errors become a generic 500
// whose detail reveals nothing of the cause.
func AsError(err error) *Error {
	if err == nil {
		return nil
	}
	var se *Error
	if errors.As(err, &se) {
		return se
	}
	return &Error{Status: http.StatusInternalServerError, Detail: "internal error"}
}
