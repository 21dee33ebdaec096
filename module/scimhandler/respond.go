package scimhandler

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/caddy-scim/caddy-scim/module/provision"
	"github.com/caddy-scim/caddy-scim/module/scim"
)

// writeJSON writes a SCIM response body with the SCIM media type.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	writeBody(w, status, b, err)
}

// writeBody writes an encoded SCIM response body, or a 500 if encoding failed.
func writeBody(w http.ResponseWriter, status int, b []byte, err error) {
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(&scim.Error{Status: status, Detail: "response could not be encoded"})
	}
	w.Header().Set("Content-Type", scim.ContentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeError writes an RFC 7644 §3.12 error.
func writeError(w http.ResponseWriter, e *scim.Error) {
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	writeJSON(w, e.Status, e)
}

// toSCIMError maps any error from the service or the adapter to a SCIM error;
// internal is true for an error nothing explains (its detail reveals nothing; the
// cause is logged).
func toSCIMError(err error) (*scim.Error, bool) {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &scim.Error{Status: http.StatusRequestEntityTooLarge,
			Detail: "request body exceeds " + strconv.FormatInt(mbe.Limit, 10) + " bytes"}, false
	}
	se, ok := provision.SCIMError(err)
	return se, !ok
}
