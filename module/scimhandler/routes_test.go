package scimhandler

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/adapters/adaptertest"
	"github.com/caddy-scim/caddy-scim/module/links"
	"github.com/caddy-scim/caddy-scim/module/provision"
	"github.com/caddy-scim/caddy-scim/module/scim"
)

// fixedUsers are the managed users of fixedHandler's upstream.
func fixedUsers() []*scim.User {
	at := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	return []*scim.User{
		{ID: "10", UserName: "carol@x", Active: true, Meta: scim.Meta{Created: at},
			Emails: []scim.MultiValue{{Value: "carol@x", Type: "work", Primary: true}}},
		{ID: "2", UserName: "bob@x", ExternalID: "e-2", Name: &scim.Name{GivenName: "Bob", FamilyName: "<&>"},
			Enterprise: &scim.EnterpriseUser{EmployeeNumber: "7", Manager: &scim.Manager{Value: "10"}}},
		{ID: "1", UserName: "alice@x", DisplayName: "Alice \u2028", Active: true, Name: &scim.Name{},
			Addresses: []scim.Address{{Country: "CH", Primary: true}}, Roles: []scim.MultiValue{{Value: "admin"}}},
	}
}

// fixedHandler serves a fresh upstream holding fixedUsers, so that every handler
// sees the same state; the next user created gets id 11.
func fixedHandler(t *testing.T) *Handler {
	h := testHandler(t)
	a := &adaptertest.Memory{PageSize: 2}
	for _, u := range fixedUsers() {
		a.Seed(adapters.Record{User: u, Managed: true})
	}
	h.adapter = a
	h.features.UserAttributes = a.Info().UserAttributes
	h.svc = &provision.Service{Adapter: a, Links: links.NewMemory(time.Minute, 0), Deprovision: provision.DeprovisionBlock,
		LinkExisting: provision.LinkOff, MaxResults: 50}
	h.logger = zap.NewNop()
	return h
}

// TestTypedUserAnswers checks that user answers without attributes or
// excludedAttributes (AppendUserJSON) are those of the projected map path, which an
// excludedAttributes naming no attribute takes.
func TestTypedUserAnswers(t *testing.T) {
	const create = `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"dave@x","name":{"givenName":"D"}}`
	for _, tc := range []struct{ method, target, body string }{
		{"GET", "/scim/v2/Users/2", ""},
		{"GET", "/scim/v2/Users/1", ""},
		{"GET", "/scim/v2/Users", ""},
		{"GET", "/scim/v2/Users?startIndex=2&count=1", ""},
		{"GET", "/scim/v2/Users?startIndex=9", ""},
		{"GET", "/scim/v2/Users?sortBy=userName&sortOrder=descending", ""},
		{"GET", "/scim/v2/Users?filter=" + strings.ReplaceAll(`userName sw "b"`, " ", "%20"), ""},
		{"POST", "/scim/v2/Users/.search", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"sortBy":"userName","count":2}`},
		{"POST", "/scim/v2/.search", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"startIndex":2}`},
		{"POST", "/scim/v2/Users", create},
		{"PUT", "/scim/v2/Users/2", create},
		{"PATCH", "/scim/v2/Users/2", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"displayName","value":"B"}]}`},
	} {
		t.Run(tc.method+" "+tc.target, func(t *testing.T) {
			typed, _ := serve(t, fixedHandler(t), tc.method, tc.target, tc.body, true)
			target, body := tc.target, tc.body
			if strings.Contains(target, ".search") {
				body = strings.Replace(body, "{", `{"excludedAttributes":["zzz"],`, 1)
			} else if strings.Contains(target, "?") {
				target += "&excludedAttributes=zzz"
			} else {
				target += "?excludedAttributes=zzz"
			}
			mapped, _ := serve(t, fixedHandler(t), tc.method, target, body, true)
			if typed.Code != mapped.Code || typed.Code >= 300 {
				t.Fatalf("status %d, map path %d: %s", typed.Code, mapped.Code, mapped.Body)
			}
			for _, k := range []string{"Content-Type", "Content-Length", "ETag", "Location"} {
				if typed.Header().Get(k) != mapped.Header().Get(k) {
					t.Errorf("%s: %q, map path %q", k, typed.Header().Get(k), mapped.Header().Get(k))
				}
			}
			if typed.Body.String() != mapped.Body.String() {
				t.Errorf("body\n %s\nmap path\n %s", typed.Body, mapped.Body)
			}
			if n, _ := strconv.Atoi(typed.Header().Get("Content-Length")); n != typed.Body.Len() || typed.Header().Get("Content-Type") != scim.ContentType {
				t.Errorf("headers %v for %d bytes", typed.Header(), typed.Body.Len())
			}
		})
	}
	if rec, _ := serve(t, fixedHandler(t), http.MethodPost, "/scim/v2/Users", create, true); rec.Header().Get("Location") != "http://example.com/scim/v2/Users/11" {
		t.Errorf("Location %q", rec.Header().Get("Location"))
	}
}
