package scim

import (
	"strings"
	"testing"
)

// The body is decoded into any; a body that is not an object keeps the errors that
// decoding into a map gave.
func TestDecodeResourceNotAnObject(t *testing.T) {
	for body, want := range map[string]string{
		`null`:  "request body must be a JSON object",
		`[]`:    "request body is not valid JSON: expected an object",
		`"x"`:   "request body is not valid JSON: expected an object",
		`1`:     "request body is not valid JSON: expected an object",
		`true`:  "request body is not valid JSON: expected an object",
		`{`:     "request body is not valid JSON: unexpected end of JSON input (at byte 1)",
		`{} x`:  "request body is not valid JSON: invalid character 'x' after top-level value (at byte 4)",
		`[{},`:  "request body is not valid JSON: unexpected end of JSON input (at byte 4)",
		`{"a":`: "request body is not valid JSON: unexpected end of JSON input (at byte 5)",
	} {
		_, err := DecodeResource([]byte(body), UserResourceType)
		if se, ok := err.(*Error); !ok || se.ScimType != ErrInvalidSyntax || !strings.HasSuffix(se.Detail, want) {
			t.Errorf("%s: %v, want %q", body, err, want)
		}
	}
}
