package scimhandler

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

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
	if sw, ok := w.(*statusWriter); ok {
		sw.scimType, sw.detail = e.ScimType, e.Detail
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	writeJSON(w, e.Status, e)
}

// readBody reads the request body (bounded by max_body_size, and in time by the
// read deadline ServeHTTP set); on failure it has answered the error: 413 for a body
// too large, 408 for one that did not arrive in time, 400 for one cut short.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(r.Body)
	if err == nil {
		return body, true
	}
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		h.fail(w, r, err)
	case errors.Is(err, os.ErrDeadlineExceeded):
		w.Header().Set("Connection", "close") // the rest of the body may still be coming
		h.fail(w, r, &scim.Error{Status: http.StatusRequestTimeout,
			Detail: "the request body did not arrive within " + time.Duration(h.Timeout).String()})
	default:
		h.fail(w, r, scim.BadRequest(scim.ErrInvalidSyntax, "the request body could not be read: it was cut short"))
	}
	return nil, false
}

// toSCIMError maps any error to its SCIM answer (provision.SCIMError, the one
// mapping); internal is true for an error nothing explains (its detail reveals
// nothing; the cause is logged).
func toSCIMError(err error) (*scim.Error, bool) {
	se, ok := provision.SCIMError(err)
	return se, !ok
}
