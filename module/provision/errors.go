package provision

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/module/scim"
)

// StatusClientClosed answers a request whose client went away (nginx's 499): nobody
// reads it, and the metrics tell it from a failure.
const StatusClientClosed = 499

// SCIMError turns an error of the service, of an adapter or of the request's body into
// the SCIM error the IdP sees — the one place errors are mapped, at the edge (the
// handler's answer, each /Bulk operation's): adapter facts become their RFC 7644 status and scimType, a cancelled
// request 499, an expired one 503. ok is false for an error nothing explains (a
// bug): a 500 whose detail reveals nothing; the caller logs the cause.
func SCIMError(err error) (se *scim.Error, ok bool) {
	if errors.As(err, &se) {
		return se, true
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &scim.Error{Status: http.StatusRequestEntityTooLarge,
			Detail: "request body exceeds " + strconv.FormatInt(mbe.Limit, 10) + " bytes"}, true
	}
	if errors.Is(err, context.Canceled) {
		return &scim.Error{Status: StatusClientClosed, Detail: "request canceled"}, true
	}
	var me *adapters.MemberError
	if errors.As(err, &me) && len(me.Failed) > 0 {
		return memberFailure(me, "").(*scim.Error), true
	}
	if f, isFact := adapters.FactOf(err); isFact {
		return factError(f), true
	}
	if errors.Is(err, adapters.ErrNotFound) {
		return scim.Errorf(http.StatusNotFound, "", "not found in the upstream"), true
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return scim.Unavailable(30, "the upstream did not answer in time"), true
	}
	return &scim.Error{Status: http.StatusInternalServerError, Detail: "internal error"}, false
}

// factError is the SCIM answer to an adapter fact.
func factError(f *adapters.Error) *scim.Error {
	reason := f.Reason
	if reason == "" && f.Field != "" {
		reason = f.Field
	}
	switch f.Fact {
	case adapters.NotFound:
		return scim.Errorf(http.StatusNotFound, "", "%s", or(reason, "not found in the upstream"))
	case adapters.Taken:
		return scim.Conflict("%s", or(reason, "the value is already taken in the upstream"))
	case adapters.Invalid:
		return scim.BadRequest(scim.ErrInvalidValue, "%s", or(reason, "the upstream refused the value"))
	case adapters.Unavailable:
		retry := f.RetryAfter
		if retry == 0 && errors.Is(f, context.DeadlineExceeded) {
			retry = 30
		}
		return scim.Unavailable(retry, "upstream unavailable: %s", or(reason, "no answer"))
	case adapters.Refused:
		return scim.Errorf(http.StatusConflict, "", "%s", or(reason, "the upstream refused the change"))
	}
	// Misconfigured, BadAnswer: the IdP cannot fix these; the operator can.
	return scim.Errorf(http.StatusBadGateway, "", "%s", or(reason, "the upstream answered something unexpected"))
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// maxNamedMembers bounds how many member ids an error detail names.
const maxNamedMembers = 10

// memberFailure turns AddMembers/RemoveMembers errors into the SCIM answer: 503
// (with the largest Retry-After) when a failure is transient, else 502; the detail
// names the members not applied and what happened to the rest. Errors that are not
// about members pass through.
func memberFailure(err error, what string) error {
	failed := map[string]error{}
	var collect func(error)
	collect = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				collect(x)
			}
			return
		}
		var me *adapters.MemberError
		if errors.As(e, &me) {
			for id, why := range me.Failed {
				failed[id] = why
			}
		}
	}
	collect(err)
	if len(failed) == 0 {
		// not about members (the upstream unavailable, the group gone): the IdP still
		// learns what happened to the rest of the request
		if j, ok := err.(interface{ Unwrap() []error }); ok && len(j.Unwrap()) > 0 {
			err = j.Unwrap()[0]
		}
		se, ok := SCIMError(err)
		if !ok || what == "" || se.Status == StatusClientClosed {
			return err
		}
		out := *se
		out.Detail += "; " + what
		return &out
	}
	ids := make([]string, 0, len(failed))
	status, retry := http.StatusBadGateway, 0
	for id, why := range failed {
		ids = append(ids, id)
		if se, _ := SCIMError(why); se.Status == http.StatusServiceUnavailable {
			status = http.StatusServiceUnavailable
			retry = max(retry, se.RetryAfter)
		}
	}
	sort.Strings(ids)
	reason := ""
	if se, ok := SCIMError(failed[ids[0]]); ok {
		reason = ": " + se.Detail
	}
	if what != "" {
		what = "; " + what
	}
	e := scim.Errorf(status, "", "%d member change(s) were not applied (%s)%s%s", len(ids), nameIDs(ids), reason, what)
	e.RetryAfter = retry
	return e
}

// nameIDs quotes up to maxNamedMembers ids for an error detail.
func nameIDs(ids []string) string {
	var b strings.Builder
	for i, id := range ids {
		if i == maxNamedMembers {
			fmt.Fprintf(&b, " and %d more", len(ids)-i)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		if len(id) > 64 {
			id = id[:64] + "…"
		}
		fmt.Fprintf(&b, "%q", id)
	}
	return b.String()
}
