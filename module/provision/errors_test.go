package provision

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/module/scim"
)

// TestSCIMError: every adapter fact has one SCIM answer, given here once.
func TestSCIMError(t *testing.T) {
	for _, c := range []struct {
		err        error
		status     int
		scimType   string
		retryAfter int
		detail     string
		internal   bool
	}{
		{adapters.TakenBy("emails", "email %q is taken", "a@x"), 409, scim.ErrUniqueness, 0, `email "a@x" is taken`, false},
		{adapters.InvalidValue("userName", "too long"), 400, scim.ErrInvalidValue, 0, "too long", false},
		{adapters.UnavailableFor(7, "App answered 503"), 503, "", 7, "upstream unavailable: App answered 503", false},
		{&adapters.Error{Fact: adapters.Unavailable, Reason: "App did not answer in time", Err: context.DeadlineExceeded}, 503, "", 30, "did not answer", false},
		{adapters.RefusedBecause("ldap_blocked"), 409, "", 0, "ldap_blocked", false},
		{adapters.MisconfiguredBecause("upstream rejected the adapter's admin token"), 502, "", 0, "admin token", false},
		{adapters.BadAnswerf("not JSON"), 502, "", 0, "not JSON", false},
		{adapters.ErrNotFound, 404, "", 0, "not found", false},
		{fmt.Errorf("wrapped: %w", adapters.TakenBy("userName", "taken")), 409, scim.ErrUniqueness, 0, "taken", false},
		{&adapters.Error{Fact: adapters.Unavailable, Reason: "the request was cancelled", Err: context.Canceled}, StatusClientClosed, "", 0, "canceled", false},
		{context.DeadlineExceeded, 503, "", 30, "did not answer", false},
		{scim.BadRequest(scim.ErrInvalidFilter, "bad filter"), 400, scim.ErrInvalidFilter, 0, "bad filter", false},
		{&adapters.MemberError{Failed: map[string]error{"7": adapters.NotFoundf("no user 7")}}, 502, "", 0, `"7"`, false},
		{errors.New("a bug"), 500, "", 0, "internal error", true},
	} {
		se, ok := SCIMError(c.err)
		if se.Status != c.status || se.ScimType != c.scimType || se.RetryAfter != c.retryAfter || !strings.Contains(se.Detail, c.detail) || ok == c.internal {
			t.Errorf("SCIMError(%v) = %d %q retry %d %q ok %v; want %d %q retry %d %q internal %v",
				c.err, se.Status, se.ScimType, se.RetryAfter, se.Detail, ok, c.status, c.scimType, c.retryAfter, c.detail, c.internal)
		}
	}
}

// A membership change that failed as a whole (not per member) still tells the IdP
// what happened to the rest of the request.
func TestMemberFailureNotAboutMembers(t *testing.T) {
	err := memberFailure(adapters.UnavailableFor(7, "App answered 503"), "the other changes were applied")
	se, _ := SCIMError(err)
	if se.Status != 503 || se.RetryAfter != 7 || !strings.Contains(se.Detail, "App answered 503") || !strings.Contains(se.Detail, "the other changes were applied") {
		t.Errorf("%d retry %d %q", se.Status, se.RetryAfter, se.Detail)
	}
	if err := memberFailure(context.Canceled, "x"); !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled change: %v", err)
	}
}
