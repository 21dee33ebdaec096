package integration_test

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/integration/gitlabemu"
	"github.com/caddy-scim/caddy-scim/integration/testenv"
)

// GitLab's answers the emulator follows where they differ from the naive API
// (integration/gitlabemu/fidelity_test.go names the GitLab source of each), through
// a real Caddy.

// newGitLabWith is newGitLab with emulator options.
func newGitLabWith(t *testing.T, o gitlabemu.Options) *gitlabBackend {
	t.Helper()
	o.AdminToken = gitlabToken
	emu := gitlabemu.New(o)
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	return &gitlabBackend{emu: emu, url: srv.URL, token: gitlabToken}
}

// emuClock is a settable emulator clock.
type emuClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *emuClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *emuClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// A userName whose GitLab username is a top-level group's path: GitLab's 400 on
// base (not the 409 of another user's name) takes a number.
func TestGitLabFidelityUsernameNextToGroupPath(t *testing.T) {
	b := newGitLab(t)
	path := testenv.UniqueName("grp")
	if _, err := b.emu.CreateGroupDirect(gitlabemu.GroupState{Path: path}); err != nil {
		t.Fatal(err)
	}
	e := start(t, b, "", "")
	login := path + "@example.com"
	id := str(e.c.do("POST", "/Users", oktaUser(login, "ext-"+login)).want(t, 201).JSON, "id")
	if u, _ := b.emu.User(atoiT(t, id)); u.Username != path+"1" {
		t.Fatalf("GitLab username %q, want %s1", u.Username, path)
	}
	e.c.do("GET", "/Users/"+id, nil).want(t, 200)
}

// Admin Mode on and a token without admin_mode: health says so, and so does a write.
func TestGitLabFidelityAdminMode(t *testing.T) {
	b := newGitLabWith(t, gitlabemu.Options{AdminMode: true, AdminTokenScopes: []string{"api"}})
	e := start(t, b, "", "")
	var health struct {
		Status   string `json:"status"`
		Handlers []struct {
			Upstream struct {
				OK    bool   `json:"ok"`
				Error string `json:"error"`
			} `json:"upstream"`
		} `json:"handlers"`
	}
	if st := admin(t, e, "/scim/health", &health); st != 503 || len(health.Handlers) != 1 || !strings.Contains(health.Handlers[0].Upstream.Error, "admin_mode") {
		t.Fatalf("health %d %+v", st, health)
	}
	login := testenv.UniqueName("am") + "@example.com"
	r := e.c.do("POST", "/Users", oktaUser(login, "ext-"+login)).wantError(t, 502, "")
	if !strings.Contains(str(r.JSON, "detail"), "admin_mode") {
		t.Fatalf("detail %s", r.Body)
	}
}

// deprovision delete while GitLab's deletion worker has not run: the account is
// blocked at once and out of SCIM's view; the same person's POST is a retryable 503
// until the worker ran, then a new account.
func TestGitLabFidelityDeleteWhileWorkerRuns(t *testing.T) {
	clk := &emuClock{t: time.Now()}
	b := newGitLabWith(t, gitlabemu.Options{UserDeletionDelay: time.Hour, Clock: clk.now})
	e := start(t, b, "deprovision delete", "")
	login := testenv.UniqueName("leaver") + "@example.com"
	user := oktaUser(login, "ext-"+login)
	id := str(e.c.do("POST", "/Users", user).want(t, 201).JSON, "id")
	e.c.do("DELETE", "/Users/"+id, nil).want(t, 204)
	if u := b.user(t, id); !u.Exists || !u.Blocked {
		t.Fatalf("while GitLab deletes it the account is %+v, want blocked", u)
	}
	e.c.do("GET", "/Users/"+id, nil).wantError(t, 404, "")
	r := e.c.do("POST", "/Users", user).wantError(t, 503, "")
	if r.Header.Get("Retry-After") == "" {
		t.Errorf("503 without Retry-After: %v", r.Header)
	}
	clk.advance(time.Hour)
	again := str(e.c.do("POST", "/Users", user).want(t, 201).JSON, "id")
	if again == id || b.user(t, id).Exists {
		t.Fatalf("re-created as %s; old %s exists %v", again, id, b.user(t, id).Exists)
	}
}

// parent_group: a member holding a higher role in the parent is skipped and
// logged; the rest of the group applies.
func TestGitLabFidelityInheritedMembers(t *testing.T) {
	b := newGitLab(t)
	parentPath := testenv.UniqueName("acme")
	parent, err := b.emu.CreateGroupDirect(gitlabemu.GroupState{Name: "Acme", Path: parentPath})
	if err != nil {
		t.Fatal(err)
	}
	e := start(t, b, "", "\tparent_group "+parentPath+"\n\tgroup_access_level reporter\n")
	u := make([]string, 2)
	for i := range u {
		login := testenv.UniqueName("inh") + "@example.com"
		u[i] = str(e.c.do("POST", "/Users", oktaUser(login, "ext-"+login)).want(t, 201).JSON, "id")
	}
	if code := b.api(t, "POST", "/groups/"+itoa(parent.ID)+"/members", `{"user_id":`+u[0]+`,"access_level":40}`); code != 201 {
		t.Fatalf("adding a maintainer to the parent: %d", code)
	}
	body := map[string]any{"schemas": []string{groupSchema}, "displayName": "Inherits", "members": json.RawMessage(memberValues(u...))}
	gid := str(e.c.do("POST", "/Groups", body).want(t, 201).JSON, "id")
	wantGitlabMembers(t, b, gid, u[1])
	if !e.caddy.LogsContain("GitLab group members skipped") {
		t.Error("no log line for the skipped member")
	}
}

// group_delete delete with delayed deletion: GitLab keeps the group marked; SCIM
// sees it gone, its members leave it, and its name is free.
func TestGitLabFidelityGroupMarkedForDeletion(t *testing.T) {
	b := newGitLabWith(t, gitlabemu.Options{DelayedGroupDeletion: true})
	e := start(t, b, "", "\tgroup_delete delete\n")
	login := testenv.UniqueName("gm") + "@example.com"
	uid := str(e.c.do("POST", "/Users", oktaUser(login, "ext-"+login)).want(t, 201).JSON, "id")
	name := "Marked " + testenv.UniqueName("")
	body := map[string]any{"schemas": []string{groupSchema}, "displayName": name, "members": json.RawMessage(memberValues(uid))}
	gid := str(e.c.do("POST", "/Groups", body).want(t, 201).JSON, "id")
	e.c.do("DELETE", "/Groups/"+gid, nil).want(t, 204)
	g, ok := b.emu.Group(atoiT(t, gid))
	if !ok || g.MarkedForDeletionOn == nil {
		t.Fatalf("GitLab group after DELETE: %+v %v", g, ok)
	}
	wantGitlabMembers(t, b, gid)
	e.c.do("GET", "/Groups/"+gid, nil).wantError(t, 404, "")
	if !e.caddy.LogsContain("marked the group for deletion") {
		t.Error("no log line saying what GitLab did")
	}
	e.c.do("POST", "/Groups", map[string]any{"schemas": []string{groupSchema}, "displayName": name}).want(t, 201)
}
