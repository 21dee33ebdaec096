package rest

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/adapters/upstream"
)

// fakeApp is a small application with an admin REST API over JSON objects, for the
// unit tests of what a mapping reads and writes: /users and /groups (POST, GET), their
// /{id} (GET, PUT replaces all but the id, DELETE), /users/by-name/{login}, and
// /groups/{id}/members (POST {"user_id"}), /groups/{id}/members/{user} (DELETE). A
// group answers its member ids as "members". Logins are unique, case-insensitively.
type fakeApp struct {
	mu       sync.Mutex
	users    map[string]map[string]any
	groups   map[string]map[string]any
	members  map[string][]string
	next     int
	requests []string // each request's escaped path and raw query, "path?query"
}

func newFakeApp(t *testing.T) (*fakeApp, string) {
	f := &fakeApp{users: map[string]map[string]any{}, groups: map[string]map[string]any{}, members: map[string][]string{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv.URL
}

func (f *fakeApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, r.URL.EscapedPath()+"?"+r.URL.RawQuery)
	var seg []string
	for _, s := range strings.Split(strings.Trim(r.URL.EscapedPath(), "/"), "/") {
		u, err := url.PathUnescape(s)
		if err != nil {
			http.Error(w, "bad path", 400)
			return
		}
		seg = append(seg, u)
	}
	var body map[string]any
	_ = json.NewDecoder(r.Body).Decode(&body)
	answer := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	store := f.users
	if seg[0] == "groups" {
		store = f.groups
	}
	switch {
	case len(seg) == 3 && seg[0] == "users" && seg[1] == "by-name" && r.Method == "GET":
		out := []any{}
		for _, id := range sortedIDs(f.users) {
			if strings.EqualFold(str(f.users[id]["login"]), seg[2]) {
				out = append(out, f.users[id])
			}
		}
		answer(200, out)
	case len(seg) == 1 && r.Method == "GET":
		out := []any{}
		for _, id := range sortedIDs(store) {
			out = append(out, f.view(seg[0], id))
		}
		answer(200, out)
	case len(seg) == 1 && r.Method == "POST":
		if seg[0] == "users" && f.loginTaken("", body) {
			answer(409, map[string]any{"error": "login taken"})
			return
		}
		f.next++
		id := strconv.Itoa(f.next)
		body["id"] = id
		store[id] = body
		answer(201, f.view(seg[0], id))
	case len(seg) >= 2 && store[seg[1]] == nil:
		answer(404, map[string]any{"error": "not found"})
	case len(seg) == 2 && r.Method == "GET":
		answer(200, f.view(seg[0], seg[1]))
	case len(seg) == 2 && r.Method == "PUT":
		if seg[0] == "users" && f.loginTaken(seg[1], body) {
			answer(409, map[string]any{"error": "login taken"})
			return
		}
		body["id"] = seg[1]
		store[seg[1]] = body
		answer(200, f.view(seg[0], seg[1]))
	case len(seg) == 2 && r.Method == "DELETE":
		delete(store, seg[1])
		w.WriteHeader(204)
	case len(seg) == 3 && seg[0] == "groups" && seg[2] == "members" && r.Method == "POST":
		f.members[seg[1]] = append(f.members[seg[1]], str(body["user_id"]))
		w.WriteHeader(204)
	case len(seg) == 4 && seg[0] == "groups" && seg[2] == "members" && r.Method == "DELETE":
		f.members[seg[1]] = slices.DeleteFunc(f.members[seg[1]], func(m string) bool { return m == seg[3] })
		w.WriteHeader(204)
	default:
		answer(404, map[string]any{"error": "no such route"})
	}
}

// view is a stored object as the application answers it; f.mu is held.
func (f *fakeApp) view(kind, id string) map[string]any {
	if kind == "users" {
		return f.users[id]
	}
	g := map[string]any{}
	for k, v := range f.groups[id] {
		g[k] = v
	}
	g["members"] = slices.Clone(f.members[id])
	return g
}

// loginTaken reports whether another user than self has body's login; f.mu is held.
func (f *fakeApp) loginTaken(self string, body map[string]any) bool {
	for id, u := range f.users {
		if id != self && strings.EqualFold(str(u["login"]), str(body["login"])) {
			return true
		}
	}
	return false
}

// add stores an account made by hand, as an operator would, and returns its id.
func (f *fakeApp) add(u map[string]any) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.next++
	id := strconv.Itoa(f.next)
	u["id"] = id
	f.users[id] = u
	return id
}

// edit changes user id behind SCIM's back.
func (f *fakeApp) edit(id string, change func(u map[string]any)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(f.users[id])
}

// user returns a copy of user id as stored.
func (f *fakeApp) user(id string) map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, _ := json.Marshal(f.users[id])
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}

// sent returns the requests so far and forgets them.
func (f *fakeApp) sent() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.requests
	f.requests = nil
	return out
}

func sortedIDs(m map[string]map[string]any) []string {
	var ids []string
	for id := range m {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, adapters.CompareIDs)
	return ids
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// fakeMappingJSON maps fakeApp with every optional field the tests turn off: the
// userName of record in scim.un, tenants in scim.t, e-mail confirmation, groups.
const fakeMappingJSON = `{
  "name": "Fake", "auth": "none", "ids": "numeric",
  "users": {
    "attributes": ["userName", "emails", "active", "externalId"],
    "read": {"id": "id", "userName": "login", "email": "email", "externalId": "scim.ext",
      "active": "active", "managed": "scim.managed", "deleted": "scim.deleted", "scim_block": "scim.blocked",
      "recorded_user_name": "scim.un", "tenant": "scim.t", "email_verified": "email_verified"},
    "create": {"method": "POST", "path": "/users", "body": {"login": "{{.User.UserName}}", "email": "{{.User.Email}}", "active": true,
      "scim": {"managed": true, "ext": "{{.User.ExternalID}}", "deleted": false, "blocked": false, "un": "{{.User.UserName}}", "t": "{{.Tenant}}"}}},
    "get": {"method": "GET", "path": "/users/{{.ID}}"},
    "update": {"method": "PUT", "path": "/users/{{.ID}}", "body": {"login": "{{.User.UserName}}", "email": "{{.User.Email}}", "active": "{{json .User.Active}}",
      "scim": {"managed": "{{json .Managed}}", "ext": "{{.User.ExternalID}}", "deleted": "{{json .Deleted}}", "blocked": "{{json .Blocked}}",
        "un": "{{.User.UserName}}", "t": "{{.Tenant}}"}}},
    "delete": {"method": "DELETE", "path": "/users/{{.ID}}"},
    "list": {"method": "GET", "path": "/users", "paging": "none"}
  },
  "groups": {
    "attributes": ["displayName", "members", "externalId"],
    "read": {"id": "id", "displayName": "name", "externalId": "ext", "managed": "managed", "tenant": "t", "members": "members"},
    "create": {"method": "POST", "path": "/groups", "body": {"name": "{{.Group.DisplayName}}", "ext": "{{.Group.ExternalID}}", "managed": true, "t": "{{.Tenant}}"}},
    "get": {"method": "GET", "path": "/groups/{{.ID}}"},
    "members": {"method": "GET", "path": "/groups/{{.ID}}"},
    "update": {"method": "PUT", "path": "/groups/{{.ID}}", "body": {"name": "{{.Group.DisplayName}}", "ext": "{{.Group.ExternalID}}", "managed": true, "t": "{{.Tenant}}"}},
    "delete": {"method": "DELETE", "path": "/groups/{{.ID}}"},
    "list": {"method": "GET", "path": "/groups", "paging": "none"},
    "add_member": {"method": "POST", "path": "/groups/{{.ID}}/members", "body": {"user_id": "{{.Member}}"}},
    "remove_member": {"method": "DELETE", "path": "/groups/{{.ID}}/members/{{.Member}}"}
  }
}`

// fakeMapping is fakeMappingJSON, changed by edit.
func fakeMapping(t *testing.T, edit func(m *Mapping)) *Mapping {
	t.Helper()
	m, err := parseMapping([]byte(fakeMappingJSON))
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(m)
	}
	return m
}

// fakeAdapter is an adapter of m over the application at base, for tenant.
func fakeAdapter(t *testing.T, base string, m *Mapping, tenant string) *Adapter {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	a := &Adapter{Config: upstream.Config{URL: base}, Mapping: m}
	if err := a.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Cleanup() })
	if err := a.SetTenant(tenant); err != nil {
		t.Fatal(err)
	}
	return a
}

// handBlocked reads r's block facts as the service does (module/provision decides
// ownership once): blocked, with a reason, without SCIM's mark.
func handBlocked(r adapters.Record) bool {
	return r.Managed && r.User != nil && !r.User.Active && r.BlockReason != "" && !r.BlockMark
}
