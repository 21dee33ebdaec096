package rest

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/adapters/upstream"
)

// TestErrorRulesAndEmptyGets: an application that answers 403 for an id it does
// not have (read through a filtered list), 403 for a seat limit and 400 for a taken
// e-mail. The mapping's errors give each answer its fact; empty_is_not_found makes
// the empty list "no such user" instead of a bad answer.
func TestErrorRulesAndEmptyGets(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == "GET" && r.URL.Path == "/u":
			_, _ = w.Write([]byte(`{"data":[]}`))
		case r.Method == "GET":
			w.WriteHeader(403)
			_, _ = w.Write([]byte(`{"errors":[{"message":"You don't have permission to access this.","code":"FORBIDDEN"}]}`))
		case r.Method == "POST" && strings.Contains(readAll(r), "full"):
			w.WriteHeader(403)
			_, _ = w.Write([]byte(`{"errors":[{"message":"Active user seats limit exceeded.","code":"LIMIT_EXCEEDED"}]}`))
		case r.Method == "POST" && strings.Contains(r.URL.RawQuery, "dup"):
			w.WriteHeader(500)
			_, _ = w.Write([]byte(`{"errors":[{"message":"Sorry, that username already exists!","code":"existing_user_login"}]}`))
		case r.Method == "POST":
			w.WriteHeader(400)
			_, _ = w.Write([]byte(`{"errors":[{"message":"Value for field \"email\" has to be unique.","code":"RECORD_NOT_UNIQUE"}]}`))
		default:
			w.WriteHeader(500)
		}
	}))
	defer srv.Close()
	body := json.RawMessage(`{"login": "{{.User.UserName}}", "state": {"managed": "{{json .Managed}}", "deleted": "{{json .Deleted}}", "blocked": "{{json .Blocked}}"}, "ext": "{{.User.ExternalID}}"}`)
	m := &Mapping{Name: "Seats", Auth: "none", ErrorMessage: []string{"errors.0.message"},
		Errors: []ErrorRule{
			{Rule: Rule{Status: 403, Contains: "LIMIT_EXCEEDED"}, Means: "refused"},
			{Rule: Rule{Status: 400, Contains: "RECORD_NOT_UNIQUE"}, Means: "taken", Field: "emails"},
			{Rule: Rule{Status: 500, Contains: "existing_user_login"}, Means: "taken", Field: "userName"},
		},
		Users: Users{
			Attributes: []string{"userName", "emails", "active"},
			Read: Fields{ID: "id", UserName: "login", Email: "email", ExternalID: "ext", Active: Flag{Path: "active"},
				Managed: Flag{Path: "state.managed"}, Deleted: Flag{Path: "state.deleted"}, SCIMBlock: Flag{Path: "state.blocked"}},
			Create: Call{Method: "POST", Path: "/u", Query: map[string]string{"n": "{{.User.UserName}}"}, Result: "data", Body: body},
			Get:    Call{Method: "GET", Path: "/u", Query: map[string]string{"id": "{{.ID}}"}, Result: "data.0", EmptyIsNotFound: true},
			Update: Call{Method: "PATCH", Path: "/u/{{.ID}}", Body: body},
			Delete: Call{Method: "DELETE", Path: "/u/{{.ID}}"},
			List:   List{Call: Call{Method: "GET", Path: "/u", Result: "data"}, Paging: "none"},
		}}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	a := &Adapter{Config: upstream.Config{URL: srv.URL}, Mapping: m}
	if err := a.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if recs, err := a.FindUsers(ctx, adapters.Lookup{Kind: adapters.ByID, Value: "7"}); err != nil || len(recs) != 0 {
		t.Errorf("an id the application does not have: %v %v, want none", recs, err)
	}
	_, err := a.CreateUser(ctx, &adapters.User{UserName: "full", Active: true})
	if f, ok := adapters.FactOf(err); !ok || f.Fact != adapters.Refused || !strings.Contains(f.Reason, "seats limit") {
		t.Errorf("a seat limit: %v, want refused with the application's text", err)
	}
	_, err = a.CreateUser(ctx, &adapters.User{UserName: "ada", Active: true})
	if f, ok := adapters.FactOf(err); !ok || f.Fact != adapters.Taken || f.Field != "emails" {
		t.Errorf("a taken e-mail: %v, want taken, naming emails", err)
	}
	// a 500 that a rule names is the application's answer, not an outage
	_, err = a.CreateUser(ctx, &adapters.User{UserName: "dup", Active: true})
	if f, ok := adapters.FactOf(err); !ok || f.Fact != adapters.Taken || f.Field != "userName" {
		t.Errorf("a 500 meaning a taken login: %v, want taken, naming userName", err)
	}
	// Without the rules the same answers mislead: a 403 reads as the adapter's own
	// token, and the empty list as an answer without a user.
	bare := *m
	bare.Errors = nil
	bare.Users.Get.EmptyIsNotFound = false
	b := &Adapter{Config: upstream.Config{URL: srv.URL}, Mapping: &bare}
	if err := b.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.FindUsers(ctx, adapters.Lookup{Kind: adapters.ByID, Value: "7"}); !adapters.Is(err, adapters.BadAnswer) {
		t.Errorf("without empty_is_not_found: %v, want a bad answer", err)
	}
	if _, err := b.CreateUser(ctx, &adapters.User{UserName: "full", Active: true}); !adapters.Is(err, adapters.Misconfigured) {
		t.Errorf("without the rule: %v, want misconfigured", err)
	}
	if _, err := b.CreateUser(ctx, &adapters.User{UserName: "dup", Active: true}); !adapters.Is(err, adapters.Unavailable) {
		t.Errorf("a 500 without the rule: %v, want unavailable", err)
	}
}

func readAll(r *http.Request) string {
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := r.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}
