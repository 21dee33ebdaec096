package rest

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/adapters/upstream"
)

// actionApp is a tiny application whose writes cannot set the account's state: only
// POST /u/{id}/block and /unblock can. It stands in for such APIs in a unit test.
type actionApp struct {
	mu      sync.Mutex
	users   map[string]map[string]any
	actions []string
}

func (p *actionApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	var body map[string]any
	_ = json.NewDecoder(r.Body).Decode(&body)
	switch {
	case r.Method == "POST" && len(parts) == 1:
		body["id"], body["active"] = "1", true
		p.users["1"] = body
		w.WriteHeader(201)
		_ = json.NewEncoder(w).Encode(body)
	case len(parts) == 2 && p.users[parts[1]] != nil && (r.Method == "GET" || r.Method == "PUT"):
		u := p.users[parts[1]]
		if r.Method == "PUT" {
			for k, v := range body {
				if k != "active" && k != "id" {
					u[k] = v
				}
			}
		}
		_ = json.NewEncoder(w).Encode(u)
	case len(parts) == 3 && r.Method == "POST" && p.users[parts[1]] != nil:
		p.actions = append(p.actions, parts[2])
		p.users[parts[1]]["active"] = parts[2] == "unblock"
		w.WriteHeader(204)
	default:
		http.NotFound(w, r)
	}
}

// TestActionEndpoints: with deactivate and reactivate mapped, a write that changes
// active calls the one action it needs, once, and a write that does not calls none.
func TestActionEndpoints(t *testing.T) {
	app := &actionApp{users: map[string]map[string]any{}}
	srv := httptest.NewServer(app)
	defer srv.Close()
	body := json.RawMessage(`{"login": "{{.User.UserName}}", "managed": "{{json .Managed}}", "blocked": "{{json .Blocked}}", "active": "{{json .User.Active}}"}`)
	m := &Mapping{Name: "Actions", Auth: "none", Users: Users{
		Attributes: []string{"userName", "active"},
		Read: Fields{ID: "id", UserName: "login", ExternalID: "ext", Active: Flag{Path: "active"},
			Managed: Flag{Path: "managed"}, Deleted: Flag{Path: "deleted"}, SCIMBlock: Flag{Path: "blocked"}},
		Create:     Call{Method: "POST", Path: "/u", Body: body},
		Get:        Call{Method: "GET", Path: "/u/{{.ID}}"},
		Update:     Call{Method: "PUT", Path: "/u/{{.ID}}", Body: body},
		Delete:     Call{Method: "DELETE", Path: "/u/{{.ID}}"},
		List:       List{Call: Call{Method: "GET", Path: "/u"}, Paging: "none"},
		Deactivate: &Call{Method: "POST", Path: "/u/{{.ID}}/block"},
		Reactivate: &Call{Method: "POST", Path: "/u/{{.ID}}/unblock"},
	}}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	a := &Adapter{Config: upstream.Config{URL: srv.URL}, Mapping: m}
	if err := a.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	u := &adapters.User{UserName: "ada", Active: true}
	if _, err := a.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		active bool
		want   string
	}{{false, "block"}, {false, "block"}, {true, "block unblock"}, {true, "block unblock"}} {
		v := *u
		v.Active = step.active
		r, err := a.UpdateUser(ctx, "1", &v, adapters.State{Managed: true})
		if err != nil {
			t.Fatal(err)
		}
		if r.User.Active != step.active || strings.Join(app.actions, " ") != step.want {
			t.Fatalf("after a write with active %v: active %v, actions %v; want %q", step.active, r.User.Active, app.actions, step.want)
		}
	}
	half := *m
	half.Users.Reactivate = nil
	if _, err := compile(&half, nil); err == nil || !strings.Contains(err.Error(), "users.deactivate, users.reactivate") {
		t.Errorf("deactivate without reactivate: %v", err)
	}
}

// TestFreshPasswords: every write that reads {{.Password}} gets a new random one,
// so that an application without a block can be locked (and unlocked) with a
// password nobody knows.
func TestFreshPasswords(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	user := map[string]any{"id": "1", "login": "ada"}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		if pw, ok := body["password"].(string); ok {
			seen = append(seen, pw)
		}
		_ = json.NewEncoder(w).Encode(user)
	}))
	defer srv.Close()
	pw := json.RawMessage(`{"login": "{{.User.UserName}}", "password": "{{.Password}}"}`)
	m := &Mapping{Name: "Passwords", Auth: "none", Users: Users{
		Attributes: []string{"userName", "active"},
		Read:       Fields{ID: "id", UserName: "login"},
		Create:     Call{Method: "POST", Path: "/u", Body: pw},
		Get:        Call{Method: "GET", Path: "/u/{{.ID}}"},
		Update:     Call{Method: "PUT", Path: "/u/{{.ID}}", Body: json.RawMessage(`{"login": "{{.User.UserName}}"}`)},
		Delete:     Call{Method: "DELETE", Path: "/u/{{.ID}}"},
		List:       List{Call: Call{Method: "GET", Path: "/u"}, Paging: "none"},
		Deactivate: &Call{Method: "PUT", Path: "/u/{{.ID}}", Body: pw},
		Reactivate: &Call{Method: "PUT", Path: "/u/{{.ID}}", Body: pw},
	}}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	a := &Adapter{Config: upstream.Config{URL: srv.URL}, Mapping: m}
	if err := a.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	u := &adapters.User{UserName: "ada", Active: true}
	if _, err := a.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	off := *u
	off.Active = false
	if _, err := a.UpdateUser(ctx, "1", &off, adapters.State{Managed: true, Deactivating: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.UpdateUser(ctx, "1", u, adapters.State{Managed: true, Reactivating: true}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 3 || seen[0] == "" || seen[0] == seen[1] || seen[1] == seen[2] || seen[0] == seen[2] {
		t.Fatalf("passwords sent by create, deactivate, reactivate: %q; want three different ones", seen)
	}
}
