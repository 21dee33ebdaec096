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

// TestGroupMembersBehindTheirOwnEndpoint: an application that keeps a group's
// members behind /groups/{id}/users (Keystone) is read with a then call of
// groups.members; the members join the group under the call's as name.
func TestGroupMembersBehindTheirOwnEndpoint(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/groups/g1":
			_, _ = w.Write([]byte(`{"group":{"id":"g1","name":"Ops","scim":{"managed":true,"ext":"e1"}}}`))
		case "/groups/g1/users":
			_, _ = w.Write([]byte(`{"users":[{"id":"u7","name":"ada"},{"id":"u8","name":"bob"}]}`))
		case "/groups":
			_, _ = w.Write([]byte(`{"groups":[{"id":"g1","name":"Ops","scim":{"managed":true,"ext":"e1"}}]}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	m := &Mapping{Name: "Members", Auth: "none", Users: Users{
		Attributes: []string{"userName"},
		Read:       Fields{ID: "id", UserName: "name"},
		Create:     Call{Method: "POST", Path: "/users", Body: json.RawMessage(`{"name": "{{.User.UserName}}"}`)},
		Get:        Call{Method: "GET", Path: "/users/{{.ID}}"},
		Update:     Call{Method: "PUT", Path: "/users/{{.ID}}", Body: json.RawMessage(`{"name": "{{.User.UserName}}"}`)},
		Delete:     Call{Method: "DELETE", Path: "/users/{{.ID}}"},
		List:       List{Call: Call{Method: "GET", Path: "/users"}, Paging: "none"},
	}, Groups: &Groups{
		Attributes: []string{"displayName", "members", "externalId"},
		Read:       GroupFields{ID: "id", DisplayName: "name", ExternalID: "scim.ext", Managed: Flag{Path: "scim.managed"}, Members: "members.users.#.id"},
		Create:     Call{Method: "POST", Path: "/groups", Result: "group", Body: json.RawMessage(`{"name": "{{.Group.DisplayName}}"}`)},
		Get:        Call{Method: "GET", Path: "/groups/{{.ID}}", Result: "group"},
		Update:     Call{Method: "PATCH", Path: "/groups/{{.ID}}", Result: "group", Body: json.RawMessage(`{"name": "{{.Group.DisplayName}}"}`)},
		Delete:     Call{Method: "DELETE", Path: "/groups/{{.ID}}"},
		List:       List{Call: Call{Method: "GET", Path: "/groups", Result: "groups"}, Paging: "none"},
		Members: Call{Method: "GET", Path: "/groups/{{.ID}}", Result: "group",
			Then: []Call{{Method: "GET", Path: "/groups/{{.ID}}/users", As: "members"}}},
		AddMember:    Call{Method: "PUT", Path: "/groups/{{.ID}}/users/{{.Member}}"},
		RemoveMember: Call{Method: "DELETE", Path: "/groups/{{.ID}}/users/{{.Member}}"},
	}}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	a := &Adapter{Config: upstream.Config{URL: srv.URL}, Mapping: m}
	if err := a.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	gs, err := a.FindGroups(ctx, adapters.Lookup{Kind: adapters.ByID, Value: "g1"}, true)
	if err != nil || len(gs) != 1 {
		t.Fatalf("FindGroups: %v %v", gs, err)
	}
	var ids []string
	for _, mb := range gs[0].Members {
		ids = append(ids, mb.Value)
	}
	if gs[0].DisplayName != "Ops" || gs[0].ExternalID != "e1" || strings.Join(ids, " ") != "u7 u8" {
		t.Fatalf("group %+v, members %v; want Ops, e1, u7 u8", gs[0], ids)
	}
	// a then call elsewhere in groups is refused, and one of members must name its answer
	bad := *m.Groups
	bad.Get.Then = bad.Members.Then
	if _, err := compileGroups(&bad, nil); err == nil || !strings.Contains(err.Error(), "groups.get.then") {
		t.Errorf("a then call on groups.get: %v", err)
	}
	bad = *m.Groups
	bad.Members.Then = []Call{{Method: "GET", Path: "/groups/{{.ID}}/users"}}
	if _, err := compileGroups(&bad, nil); err == nil || !strings.Contains(err.Error(), "groups.members.then[0].as") {
		t.Errorf("a members then call without as: %v", err)
	}
}
