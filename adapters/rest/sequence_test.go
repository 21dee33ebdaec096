package rest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/caddy-scim/caddy-scim/adapters"
)

// seqApp is an application whose writes take several calls, as PHP applications'
// do: a token fetched first (GET /token), users written as forms carrying it
// (POST /users, POST /users/{id}), and a profile kept behind its own endpoint
// (GET and PUT /users/{id}/profile, JSON, the token in the body). Users read
// {"id", "login", "email"}; a profile {"bio"}.
type seqApp struct {
	mu       sync.Mutex
	users    map[string]map[string]any
	profiles map[string]string
	next     int
	tokens   int      // token fetches
	forms    []string // each form body received, as sent
}

const seqToken = `t0k+\`

func (p *seqApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	answer := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case r.Method == "GET" && r.URL.Path == "/token":
		p.tokens++
		answer(200, map[string]any{"query": map[string]any{"tokens": map[string]any{"csrftoken": seqToken}}})
	case r.Method == "POST" && parts[0] == "users" && len(parts) <= 2:
		if r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			answer(415, map[string]any{"error": "forms only"})
			return
		}
		b, _ := io.ReadAll(r.Body)
		p.forms = append(p.forms, string(b))
		form, _ := url.ParseQuery(string(b))
		if form.Get("token") != seqToken {
			answer(403, map[string]any{"error": "badtoken"})
			return
		}
		id := ""
		if len(parts) == 2 {
			id = parts[1]
		} else {
			p.next++
			id = strconv.Itoa(p.next)
		}
		p.users[id] = map[string]any{"id": id, "login": form.Get("login"), "email": form.Get("email"), "roles": form["roles"]}
		answer(200, p.users[id])
	case r.Method == "GET" && r.URL.Path == "/users":
		out := []any{}
		for _, id := range sortedIDs(p.users) {
			out = append(out, p.users[id])
		}
		answer(200, out)
	case len(parts) < 2 || p.users[parts[1]] == nil:
		answer(404, map[string]any{"error": "not found"})
	case r.Method == "GET" && len(parts) == 2:
		answer(200, p.users[parts[1]])
	case r.Method == "DELETE" && len(parts) == 2:
		delete(p.users, parts[1])
		delete(p.profiles, parts[1])
		w.WriteHeader(204)
	case r.Method == "GET" && len(parts) == 3 && parts[2] == "profile":
		bio, ok := p.profiles[parts[1]]
		if !ok {
			answer(404, map[string]any{"error": "no profile"})
			return
		}
		answer(200, map[string]any{"bio": bio})
	case r.Method == "PUT" && len(parts) == 3 && parts[2] == "profile":
		var body struct{ Bio, Token string }
		_ = json.NewDecoder(r.Body).Decode(&body)
		switch {
		case body.Token != seqToken:
			answer(403, map[string]any{"error": "badtoken"})
		case body.Bio == "refused":
			answer(422, map[string]any{"error": "bio refused"})
		default:
			p.profiles[parts[1]] = body.Bio
			w.WriteHeader(204)
		}
	default:
		answer(404, map[string]any{"error": "no such route"})
	}
}

const seqMappingJSON = `{
  "name": "Seq", "auth": "none", "ids": "numeric", "error_message": ["error"],
  "users": {
    "attributes": ["userName", "displayName", "emails", "active", "externalId"],
    "read": {"id": "id", "userName": "login", "email": "email", "displayName": "profile.bio"},
    "create": {"method": "POST", "path": "/users", "form": true,
      "before": [{"name": "token", "method": "GET", "path": "/token", "value": "query.tokens.csrftoken"}],
      "body": {"login": "{{.User.UserName}}", "email": "{{.User.Email}}", "token": "{{.Before.token}}", "roles": ["a", "b"], "managed": "{{json .Managed}}", "n": 3},
      "then": [{"method": "PUT", "path": "/users/{{.ID}}/profile", "body": {"bio": "{{.User.DisplayName}}", "token": "{{.Before.token}}"}}]},
    "get": {"method": "GET", "path": "/users/{{.ID}}",
      "then": [{"method": "GET", "path": "/users/{{.ID}}/profile", "as": "profile"}]},
    "update": {"method": "POST", "path": "/users/{{.ID}}", "form": true,
      "before": [{"name": "token", "method": "GET", "path": "/token", "value": "query.tokens.csrftoken"}],
      "body": {"login": "{{.User.UserName}}", "email": "{{.User.Email}}", "token": "{{.Before.token}}"},
      "then": [{"method": "PUT", "path": "/users/{{.ID}}/profile", "body": {"bio": "{{.User.DisplayName}}", "token": "{{.Before.token}}"}}]},
    "delete": {"method": "DELETE", "path": "/users/{{.ID}}"},
    "list": {"method": "GET", "path": "/users", "paging": "none"}
  }
}`

// TestCallsInSequence: a value fetched before a write reaches its form and its then
// calls, a form is sent as one, what a then call writes behind its own endpoint is
// read back through users.get's then call (lookups and the list included), and a
// create whose then call fails leaves no account behind.
func TestCallsInSequence(t *testing.T) {
	app := &seqApp{users: map[string]map[string]any{}, profiles: map[string]string{}}
	srv := httptest.NewServer(app)
	defer srv.Close()
	m, err := parseMapping([]byte(seqMappingJSON))
	if err != nil {
		t.Fatal(err)
	}
	a := fakeAdapter(t, srv.URL, m, "")
	ctx := context.Background()
	u := &adapters.User{UserName: "ada", DisplayName: "Ada L", Active: true, Emails: []adapters.MultiValue{{Value: "ada@example.com", Primary: true}}}
	rec, err := a.CreateUser(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	id := rec.User.ID
	if rec.User.DisplayName != "Ada L" || app.profiles[id] != "Ada L" || app.tokens != 1 {
		t.Fatalf("create: displayName %q profile %q token fetches %d", rec.User.DisplayName, app.profiles[id], app.tokens)
	}
	form, _ := url.ParseQuery(app.forms[0])
	if form.Get("login") != "ada" || form.Get("managed") != "true" || form.Get("n") != "3" || !slices.Equal(form["roles"], []string{"a", "b"}) {
		t.Fatalf("the create's form: %q", app.forms[0])
	}
	found, err := a.FindUsers(ctx, adapters.Lookup{Kind: adapters.ByUserName, Value: "ADA"})
	if err != nil || len(found) != 1 || found[0].User.DisplayName != "Ada L" {
		t.Fatalf("a lookup through the list: %v %+v", err, found)
	}
	v := *u
	v.DisplayName, v.Emails = "Ada Lovelace", []adapters.MultiValue{{Value: "ada@example.org", Primary: true}}
	rec, err = a.UpdateUser(ctx, id, &v, adapters.State{Managed: true})
	if err != nil || rec.User.DisplayName != "Ada Lovelace" || rec.User.PrimaryEmail() != "ada@example.org" || app.tokens != 2 {
		t.Fatalf("update: %v %+v, token fetches %d", err, rec.User, app.tokens)
	}
	app.mu.Lock()
	app.next++
	hand := strconv.Itoa(app.next)
	app.users[hand] = map[string]any{"id": hand, "login": "hand"}
	app.mu.Unlock()
	if got, err := a.FindUsers(ctx, adapters.Lookup{Kind: adapters.ByID, Value: hand}); err != nil || len(got) != 1 || got[0].User.DisplayName != "" {
		t.Fatalf("an account without a profile: %v %+v", err, got)
	}
	bad := &adapters.User{UserName: "bob", DisplayName: "refused", Active: true}
	if _, err := a.CreateUser(ctx, bad); !adapters.Is(err, adapters.Invalid) {
		t.Fatalf("a create whose then call fails: %v, want the Invalid fact", err)
	}
	if found, _ := a.FindUsers(ctx, adapters.Lookup{Kind: adapters.ByUserName, Value: "bob"}); len(found) != 0 {
		t.Fatalf("the half-made account stayed: %+v", found)
	}
}
