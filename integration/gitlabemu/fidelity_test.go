package gitlabemu

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable emulator clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().UTC()} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// A username equal to a top-level group's path is the user's namespace route
// clashing with the group's: 400 on base, not on username, and no 409 (no user has
// the name). app/models/user.rb set_username_errors; lib/api/users.rb.
func TestUsernameNextToGroupPath(t *testing.T) {
	e := newEnv(t, Options{})
	expect(t, e.admin("POST", "/groups", map[string]any{"name": "Team", "path": "team"}), 201, "*")
	body := map[string]any{"username": "Team", "email": "team@example.com", "name": "T", "force_random_password": true}
	want := `{"message":{"base":["A user, alias, or group already exists with that username."]}}`
	expect(t, e.admin("POST", "/users", body), 400, want)
	id := e.createUser("other", "other@example.com", nil)
	expect(t, e.admin("PUT", fmt.Sprintf("/users/%d", id), map[string]any{"username": "team"}), 400, want)
	// Another user's username is the 409 (lib/api/users.rb), and a subgroup's
	// path is no top-level route.
	expect(t, e.admin("PUT", fmt.Sprintf("/users/%d", id), map[string]any{"username": "root"}), 409, `{"message":"Username has already been taken"}`)
	expect(t, e.admin("POST", "/groups", map[string]any{"name": "Sub", "path": "subteam", "parent_id": 1}), 201, "*")
	expect(t, e.admin("PUT", fmt.Sprintf("/users/%d", id), map[string]any{"username": "subteam"}), 200, "*")
}

// Admin Mode: without the admin_mode scope an administrator's token is a normal
// user's for the API (lib/api/api_guard.rb, bypass_session_for_admin_mode?), while
// GET /user (User#admin?) and the token's scopes look fine.
func TestAdminMode(t *testing.T) {
	e := newEnv(t, Options{AdminMode: true, AdminTokenScopes: []string{"api"}, ExtraTokens: map[string]TokenInfo{
		"scoped-token": {Admin: true, Scopes: []string{"api", "admin_mode"}},
	}})
	r := e.admin("GET", "/user", nil)
	if u := r.json(t).(map[string]any); u["is_admin"] != true {
		t.Fatalf("GET /user: %s", r.body)
	}
	expect(t, e.admin("GET", "/personal_access_tokens/self", nil), 200, "*")
	body := map[string]any{"username": "am", "email": "am@example.com", "name": "A", "force_random_password": true}
	expect(t, e.admin("POST", "/users", body), 403, `{"message":"403 Forbidden"}`)
	expect(t, e.admin("GET", "/users/1/custom_attributes", nil), 403, `{"message":"403 Forbidden"}`)
	if r := e.admin("GET", "/users/1", nil); strings.Contains(r.body, `"identities"`) || strings.Contains(r.body, `"is_admin"`) {
		t.Fatalf("a normal user's view expected: %s", r.body)
	}
	expect(t, e.req("POST", "/users", "scoped-token", body), 201, "*")
	expect(t, e.req("GET", "/users/1/custom_attributes", "scoped-token", nil), 200, "[]")
	// Admin Mode off: the scope is not needed.
	off := newEnv(t, Options{AdminTokenScopes: []string{"api"}})
	expect(t, off.admin("POST", "/users", body), 201, "*")
}

// DELETE /users/:id answers 204 and leaves the removal to DeleteUserWorker
// (app/models/user.rb delete_async): until it runs the user keeps its state, its
// username and its e-mail; hard_delete blocks it first.
func TestAsyncUserDeletion(t *testing.T) {
	clk := newClock()
	e := newEnv(t, Options{UserDeletionDelay: time.Minute, Clock: clk.now})
	id := e.createUser("gone", "gone@example.com", nil)
	expect(t, e.admin("DELETE", fmt.Sprintf("/users/%d", id), nil), 204, "")
	if u, ok := e.emu.User(id); !ok || u.State != StateActive {
		t.Fatalf("user right after DELETE: %+v %v", u, ok)
	}
	body := map[string]any{"username": "gone", "email": "gone@example.com", "name": "G", "force_random_password": true}
	expect(t, e.admin("POST", "/users", body), 409, `{"message":"Email has already been taken"}`)
	if p := e.emu.PendingUserDeletions(); len(p) != 1 || p[0] != id {
		t.Fatalf("pending %v", p)
	}
	clk.advance(time.Minute)
	expect(t, e.admin("GET", fmt.Sprintf("/users/%d", id), nil), 404, `{"message":"404 User Not Found"}`)
	expect(t, e.admin("POST", "/users", body), 201, "*")

	hard := e.createUser("hard", "hard@example.com", nil)
	expect(t, e.admin("DELETE", fmt.Sprintf("/users/%d?hard_delete=true", hard), nil), 204, "")
	if u, _ := e.emu.User(hard); u.State != StateBlocked {
		t.Fatalf("hard_delete blocks first: %q", u.State)
	}

	stall := newEnv(t, Options{UserDeletionStalls: true, Clock: clk.now})
	sid := stall.createUser("stuck", "stuck@example.com", nil)
	expect(t, stall.admin("DELETE", fmt.Sprintf("/users/%d", sid), nil), 204, "")
	clk.advance(24 * time.Hour)
	if _, ok := stall.emu.User(sid); !ok {
		t.Fatal("a stalled worker removed the user")
	}
	stall.emu.RunUserDeletions()
	if _, ok := stall.emu.User(sid); ok {
		t.Fatal("RunUserDeletions left the user")
	}
}

// Delayed deletion (Premium; every tier from 18.0): 202, the group marked and
// renamed, members and projects kept for the retention period; permanently_remove
// only for a subgroup already marked, with its full path (ee/lib/ee/api/groups.rb,
// app/services/groups/mark_for_deletion_service.rb, ee/spec/requests/api/groups_spec.rb).
func TestDelayedGroupDeletion(t *testing.T) {
	clk := newClock()
	e := newEnv(t, Options{DelayedGroupDeletion: true, Clock: clk.now})
	uid := e.createUser("mem", "mem@example.com", nil)
	top := e.admin("POST", "/groups", map[string]any{"name": "Top", "path": "top"})
	tid := int(top.json(t).(map[string]any)["id"].(float64))
	sub := e.admin("POST", "/groups", map[string]any{"name": "Sub", "path": "sub", "parent_id": tid})
	sid := int(sub.json(t).(map[string]any)["id"].(float64))
	expect(t, e.admin("POST", fmt.Sprintf("/groups/%d/members", tid), map[string]any{"user_id": uid, "access_level": 30}), 201, "*")

	expect(t, e.admin("DELETE", fmt.Sprintf("/groups/%d?permanently_remove=true", tid), nil), 400,
		`{"message":"`+"`permanently_remove`"+` option is only available for subgroups."}`)
	expect(t, e.admin("DELETE", fmt.Sprintf("/groups/%d", tid), nil), 202, `{"message":"202 Accepted"}`)
	r := e.admin("GET", fmt.Sprintf("/groups/%d", tid), nil)
	g := r.json(t).(map[string]any)
	if g["marked_for_deletion_on"] != clk.now().Format("2006-01-02") || g["path"] != fmt.Sprintf("top-deletion_scheduled-%d", tid) {
		t.Fatalf("marked group: %s", r.body)
	}
	if gs, _ := e.emu.Group(tid); len(gs.Members) != 2 {
		t.Fatalf("members kept while marked: %+v", gs.Members)
	}
	expect(t, e.admin("DELETE", fmt.Sprintf("/groups/%d", tid), nil), 400, `{"message":"Group has been already marked for deletion"}`)
	// The name and path are free again.
	expect(t, e.admin("POST", "/groups", map[string]any{"name": "Top", "path": "top"}), 201, "*")

	expect(t, e.admin("DELETE", fmt.Sprintf("/groups/%d?permanently_remove=true&full_path=x", sid), nil), 400,
		`{"message":"Group must be marked for deletion first."}`)
	expect(t, e.admin("DELETE", fmt.Sprintf("/groups/%d", sid), nil), 202, "*")
	expect(t, e.admin("DELETE", fmt.Sprintf("/groups/%d?permanently_remove=true&full_path=x", sid), nil), 400,
		`{"message":"`+"`full_path`"+` is incorrect. You must enter the complete path for the subgroup."}`)
	fp := e.admin("GET", fmt.Sprintf("/groups/%d", sid), nil).json(t).(map[string]any)["full_path"].(string)
	expect(t, e.admin("DELETE", fmt.Sprintf("/groups/%d?permanently_remove=true&full_path=%s", sid, fp), nil), 202, "*")
	expect(t, e.admin("GET", fmt.Sprintf("/groups/%d", sid), nil), 404, "*")

	clk.advance(7 * 24 * time.Hour)
	expect(t, e.admin("GET", fmt.Sprintf("/groups/%d", tid), nil), 404, `{"message":"404 Group Not Found"}`)
}

// A member with a higher role in an ancestor cannot be added lower (app/models/
// member.rb higher_access_level_than_group; spec/requests/api/members_spec.rb).
func TestInheritedAccess(t *testing.T) {
	e := newEnv(t, Options{})
	uid := e.createUser("inh", "inh@example.com", nil)
	parent := e.admin("POST", "/groups", map[string]any{"name": "Parent Co", "path": "parent"})
	pid := int(parent.json(t).(map[string]any)["id"].(float64))
	child := e.admin("POST", "/groups", map[string]any{"name": "Child", "path": "child", "parent_id": pid})
	cid := int(child.json(t).(map[string]any)["id"].(float64))
	expect(t, e.admin("POST", fmt.Sprintf("/groups/%d/members", pid), map[string]any{"user_id": uid, "access_level": 30}), 201, "*")
	mp := fmt.Sprintf("/groups/%d/members", cid)
	expect(t, e.admin("POST", mp, map[string]any{"user_id": uid, "access_level": 20}), 400,
		`{"message":{"access_level":["should be greater than or equal to Developer inherited membership from group Parent Co"]}}`)
	expect(t, e.admin("POST", mp, map[string]any{"user_id": uid, "access_level": 30}), 201, "*")
	expect(t, e.admin("PUT", fmt.Sprintf("%s/%d", mp, uid), map[string]any{"access_level": 10}), 400, "*")
	expect(t, e.admin("PUT", fmt.Sprintf("%s/%d", mp, uid), map[string]any{"access_level": 40}), 200, "*")
}

// Namespace path rules (app/models/namespace.rb, app/models/user.rb, lib/gitlab/
// regex.rb) and the uniqueness of subgroup names and routes.
func TestPathRules(t *testing.T) {
	e := newEnv(t, Options{})
	user := func(name string) map[string]any {
		return map[string]any{"username": name, "email": name + "@example.com", "name": "N", "force_random_password": true}
	}
	expect(t, e.admin("POST", "/users", user("a")), 400, `{"message":{"username":["is too short (minimum is 2 characters)"]}}`)
	expect(t, e.admin("POST", "/users", user("report.json")), 400, `{"message":{"username":["ending with a reserved file extension is not allowed."]}}`)
	expect(t, e.admin("POST", "/users", user("a__b")), 400, `{"message":{"username":["`+ociPathMessage+`"]}}`)
	expect(t, e.admin("POST", "/users", user("reportjson")), 201, "*")
	expect(t, e.admin("POST", "/groups", map[string]any{"name": "X", "path": "x"}), 400,
		`{"message":"Failed to save group {:path=>[\"is too short (minimum is 2 characters)\"]}"}`)

	parent := e.admin("POST", "/groups", map[string]any{"name": "Parent", "path": "parent"})
	pid := int(parent.json(t).(map[string]any)["id"].(float64))
	expect(t, e.admin("POST", "/groups", map[string]any{"name": "Dup", "path": "dup-1", "parent_id": pid}), 201, "*")
	expect(t, e.admin("POST", "/groups", map[string]any{"name": "Dup", "path": "dup-2", "parent_id": pid}), 400,
		`{"message":"Failed to save group {:name=>[\"has already been taken\"]}"}`)
	// Top-level names may repeat.
	expect(t, e.admin("POST", "/groups", map[string]any{"name": "Parent", "path": "parent-2"}), 201, "*")
	if _, err := e.emu.CreateProjectDirect(ProjectState{Path: "app", NamespaceID: pid}); err != nil {
		t.Fatal(err)
	}
	expect(t, e.admin("POST", "/groups", map[string]any{"name": "App", "path": "App", "parent_id": pid}), 400,
		`{"message":"Failed to save group {:path=>[\"has already been taken\"]}"}`)
}

// PUT with a taken extern_uid: the identity made by find_or_create_by(provider)
// stays with a NULL extern_uid (app/services/users/update_service.rb, assign_identity).
func TestTakenExternUIDLeavesNullIdentity(t *testing.T) {
	e := newEnv(t, Options{})
	e.createUser("holder", "holder@example.com", map[string]any{"provider": "saml", "extern_uid": "uid-1"})
	id := e.createUser("plain", "plain@example.com", nil)
	expect(t, e.admin("PUT", fmt.Sprintf("/users/%d", id), map[string]any{"provider": "saml", "extern_uid": "UID-1"}), 200, "*")
	r := e.admin("GET", fmt.Sprintf("/users/%d", id), nil)
	if !strings.Contains(r.body, `"identities":[{"extern_uid":null,"provider":"saml","saml_provider_id":null}]`) {
		t.Fatalf("identities: %s", r.body)
	}
}

// banned is blocked? (app/models/user.rb): block answers null, activate and
// deactivate refuse.
func TestBannedIsBlocked(t *testing.T) {
	e := newEnv(t, Options{})
	id := e.createUser("ban", "ban@example.com", nil)
	p := func(action string) resp { return e.admin("POST", fmt.Sprintf("/users/%d/%s", id, action), nil) }
	expect(t, p("ban"), 201, "true")
	expect(t, p("block"), 201, "null")
	expect(t, p("activate"), 403, `{"message":"Error occurred. A blocked user must be unblocked to be activated"}`)
	expect(t, p("deactivate"), 403, `{"message":"Error occurred. A blocked user cannot be deactivated"}`)
	if u, _ := e.emu.User(id); u.State != StateBanned {
		t.Fatalf("state %q", u.State)
	}
}

// The maximum offset holds the page's end (lib/api/helpers/pagination_strategies.rb):
// with 25, page 3 of 10 (rows 21-30) is refused.
func TestOffsetLimitIsThePageEnd(t *testing.T) {
	e := newEnv(t, Options{ExtraTokens: map[string]TokenInfo{}, KeysetRequiredAbove: 25})
	expect(t, e.admin("GET", "/users?page=2&per_page=10", nil), 200, "*")
	expect(t, e.admin("GET", "/users?page=3&per_page=10", nil), 405, "*")
	expect(t, e.admin("GET", "/users?page=1&per_page=25", nil), 200, "*")
}

// GET /users/:user_id/memberships (lib/api/users.rb): admins only.
func TestMemberships(t *testing.T) {
	e := newEnv(t, Options{})
	uid := e.createUser("ms", "ms@example.com", nil)
	g := e.admin("POST", "/groups", map[string]any{"name": "MS", "path": "ms-group"})
	gid := int(g.json(t).(map[string]any)["id"].(float64))
	expect(t, e.admin("POST", fmt.Sprintf("/groups/%d/members", gid), map[string]any{"user_id": uid, "access_level": 20}), 201, "*")
	expect(t, e.admin("GET", fmt.Sprintf("/users/%d/memberships?type=Namespace", uid), nil), 200,
		fmt.Sprintf(`[{"access_level":20,"source_id":%d,"source_name":"MS","source_type":"Namespace"}]`, gid))
	expect(t, e.admin("GET", fmt.Sprintf("/users/%d/memberships?type=Project", uid), nil), 200, "[]")
	expect(t, e.admin("GET", fmt.Sprintf("/users/%d/memberships?type=Group", uid), nil), 400, `{"error":"type does not have a valid value"}`)
	expect(t, e.admin("GET", "/users/999/memberships", nil), 404, `{"message":"404 User Not Found"}`)
	expect(t, e.req("GET", fmt.Sprintf("/users/%d/memberships", uid), "user-token", nil), 403, `{"message":"403 Forbidden"}`)
}
