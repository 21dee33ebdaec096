package gitlab

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/integration/gitlabemu"
	"github.com/caddy-scim/caddy-scim/module/scim"
)

// These tests hold the adapter to GitLab's answers as the emulator gives them
// (see integration/gitlabemu/fidelity_test.go for the GitLab sources).

// testClock is a settable emulator clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// observe makes the adapter log into an observer.
func observe(a *Adapter) *observer.ObservedLogs {
	core, logs := observer.New(zap.InfoLevel)
	a.logger = zap.New(core)
	return logs
}

// Point 1: a rename onto a group's path takes a suffix, as a create does
// (TestCreateUsernameCollisionGetsSuffix).
func TestFidelityRenameNextToGroupPath(t *testing.T) {
	e := newEnv(t, gitlabemu.Options{})
	rec := e.create(t, scimUser("dana", "ext-dana", "dana@example.com"))
	if _, err := e.emu.CreateGroupDirect(gitlabemu.GroupState{Path: "ops"}); err != nil {
		t.Fatal(err)
	}
	u := scimUser("ops", "ext-dana", "dana@example.com")
	if _, err := e.a.UpdateUser(tctx(t), rec.User.ID, u, adapters.State{Managed: true}); err != nil {
		t.Fatalf("rename onto a group path: %v", err)
	}
	if got := e.user(t, rec.User.ID).Username; got != "ops1" {
		t.Errorf("username %q, want ops1", got)
	}
}

// Point 2: under Admin Mode a token without admin_mode passes GET /user and has
// api; health must fail and say why.
func TestFidelityAdminModeHealth(t *testing.T) {
	for _, c := range []struct {
		name      string
		adminMode bool
		scopes    []string
		ok        bool
	}{
		{"admin mode, no admin_mode scope", true, []string{"api"}, false},
		{"admin mode, admin_mode scope", true, []string{"api", "admin_mode"}, true},
		{"no admin mode", false, []string{"api"}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, gitlabemu.Options{AdminMode: c.adminMode, AdminTokenScopes: c.scopes})
			err := e.a.CheckHealth(tctx(t))
			if c.ok {
				if err != nil {
					t.Fatalf("CheckHealth: %v", err)
				}
				return
			}
			se := asSCIM(t, err, http.StatusBadGateway)
			if !strings.Contains(se.Detail, "admin_mode") || !strings.Contains(se.Detail, "Admin Mode") {
				t.Errorf("detail %q does not name the admin_mode scope and Admin Mode", se.Detail)
			}
			// Every admin call's refusal names the scope too.
			_, err = e.a.CreateUser(tctx(t), scimUser("am", "ext-am", "am@example.com"))
			if se := asSCIM(t, err, http.StatusBadGateway); !strings.Contains(se.Detail, "admin_mode") {
				t.Errorf("create detail %q lacks the admin_mode hint", se.Detail)
			}
		})
	}
}

// Point 3: DELETE /users/:id is asynchronous. The account is blocked before the
// DELETE, leaves the SCIM view at once, and a re-create waits for GitLab's worker
// or answers a retryable 503.
func TestFidelityDeleteWhileWorkerRuns(t *testing.T) {
	clk := &testClock{t: time.Now()}
	e := newEnv(t, gitlabemu.Options{UserDeletionDelay: time.Hour, Clock: clk.now}, func(a *Adapter) { a.deletionWait = 50 * time.Millisecond })
	u := scimUser("leaver", "ext-leaver", "leaver@example.com")
	rec := e.create(t, u)
	if err := e.a.DeleteUser(tctx(t), rec.User.ID); err != nil {
		t.Fatal(err)
	}
	if gu := e.user(t, rec.User.ID); gu.State != "blocked" {
		t.Fatalf("state while the worker runs %q, want blocked", gu.State)
	}
	for _, q := range []adapters.Lookup{{Kind: adapters.ByID, Value: rec.User.ID}, {Kind: adapters.ByUserName, Value: "leaver"},
		{Kind: adapters.ByEmail, Value: "leaver@example.com"}, {Kind: adapters.ByExternalID, Value: "ext-leaver"}} {
		if recs, err := e.a.FindUsers(tctx(t), q); err != nil || len(recs) != 0 {
			t.Errorf("FindUsers(%v) = %v, %v; want none while GitLab deletes it", q, recs, err)
		}
	}
	if recs, total, _ := e.a.ListUsers(tctx(t), adapters.Page{Limit: 10}); total != 0 || len(recs) != 0 {
		t.Errorf("ListUsers total %d", total)
	}
	if err := e.a.DeleteUser(tctx(t), rec.User.ID); !adapters.Is(err, adapters.NotFound) {
		t.Errorf("second DeleteUser: %v", err)
	}
	_, err := e.a.CreateUser(tctx(t), u)
	se := asSCIM(t, err, http.StatusServiceUnavailable)
	if se.RetryAfter <= 0 || !strings.Contains(se.Detail, "deleting") {
		t.Errorf("re-create while deleting: %d %q", se.RetryAfter, se.Detail)
	}
	clk.advance(time.Hour)
	if again := e.create(t, u); again.User.ID == rec.User.ID || e.user(t, again.User.ID).Username != "leaver" {
		t.Errorf("re-create after the worker: %+v", again.User)
	}
}

// A short worker is waited for.
func TestFidelityRecreateWaitsForTheWorker(t *testing.T) {
	e := newEnv(t, gitlabemu.Options{UserDeletionDelay: 300 * time.Millisecond})
	u := scimUser("quick", "ext-quick", "quick@example.com")
	rec := e.create(t, u)
	if err := e.a.DeleteUser(tctx(t), rec.User.ID); err != nil {
		t.Fatal(err)
	}
	again := e.create(t, u)
	if again.User.ID == rec.User.ID || e.user(t, again.User.ID).Username != "quick" {
		t.Errorf("re-create: %+v", again.User)
	}
}

// A worker that never ran (its job failed) is the administrator's to finish.
func TestFidelityStalledDeletion(t *testing.T) {
	e := newEnv(t, gitlabemu.Options{UserDeletionStalls: true}, func(a *Adapter) { a.deletionWait = 50 * time.Millisecond })
	u := scimUser("stuck", "ext-stuck", "stuck@example.com")
	rec := e.create(t, u)
	if err := e.a.DeleteUser(tctx(t), rec.User.ID); err != nil {
		t.Fatal(err)
	}
	_ = e.emu.ModifyUser(atoi(t, rec.User.ID), func(gu *gitlabemu.UserState) {
		gu.CustomAttributes[attrDeleting] = time.Now().Add(-2 * time.Hour).UTC().Format(time.RFC3339)
	})
	_, err := e.a.CreateUser(tctx(t), u)
	se := asSCIM(t, err, http.StatusConflict)
	if !strings.Contains(se.Detail, "Admin Area") {
		t.Errorf("detail %q", se.Detail)
	}
}

// A DELETE GitLab refuses (sole owner) leaves the account as it was.
func TestFidelityRefusedDeleteRollsBack(t *testing.T) {
	e := newEnv(t, gitlabemu.Options{})
	rec := e.create(t, scimUser("owner", "ext-owner", "owner@example.com"))
	if _, err := e.emu.CreateGroupDirect(gitlabemu.GroupState{Path: "own", Members: []gitlabemu.Member{{UserID: atoi(t, rec.User.ID), AccessLevel: 50}}}); err != nil {
		t.Fatal(err)
	}
	asSCIM(t, e.a.DeleteUser(tctx(t), rec.User.ID), http.StatusConflict)
	gu := e.user(t, rec.User.ID)
	if gu.State != "active" || gu.CustomAttributes[attrManaged] != "true" || gu.CustomAttributes[attrDeleting] != "" || gu.CustomAttributes[attrBlocked] != "" {
		t.Errorf("after a refused DELETE: %q %v", gu.State, gu.CustomAttributes)
	}
}

// Point 4: delayed group deletion keeps the group; SCIM sees it gone, its members
// leave it, and the log says what GitLab did.
func TestFidelityGroupMarkedForDeletion(t *testing.T) {
	e := newEnv(t, gitlabemu.Options{DelayedGroupDeletion: true}, func(a *Adapter) { a.GroupDelete = "delete" })
	logs := observe(e.a)
	g, err := e.a.CreateGroup(tctx(t), &adapters.Group{DisplayName: "Doomed"})
	if err != nil {
		t.Fatal(err)
	}
	u := e.newUser(t, "doomedmember")
	if err := e.a.AddMembers(tctx(t), g.ID, []string{u}); err != nil {
		t.Fatal(err)
	}
	if err := e.a.DeleteGroup(tctx(t), g.ID); err != nil {
		t.Fatal(err)
	}
	st := e.group(t, g.ID)
	if st.MarkedForDeletionOn == nil || st.CustomAttributes[attrManaged] != "" || memberLevel(st, atoi(t, u)) >= 0 {
		t.Errorf("group after DeleteGroup: marked %v attrs %v members %+v", st.MarkedForDeletionOn, st.CustomAttributes, st.Members)
	}
	if gs, _ := e.a.FindGroups(tctx(t), adapters.Lookup{Kind: adapters.ByID, Value: g.ID}, false); len(gs) != 0 {
		t.Errorf("FindGroups = %+v", gs)
	}
	if logs.FilterMessageSnippet("marked the group for deletion").Len() != 1 {
		t.Errorf("logs %v", logs.All())
	}
	// Without delayed deletion the group is gone, and the log says so.
	now := newEnv(t, gitlabemu.Options{}, func(a *Adapter) { a.GroupDelete = "delete" })
	nlogs := observe(now.a)
	g2, _ := now.a.CreateGroup(tctx(t), &adapters.Group{DisplayName: "Gone"})
	if err := now.a.DeleteGroup(tctx(t), g2.ID); err != nil {
		t.Fatal(err)
	}
	if nlogs.FilterMessageSnippet("deleted the group").Len() != 1 {
		t.Errorf("logs %v", nlogs.All())
	}
}

// Point 5: a member whose role in parent_group is higher than
// group_access_level is skipped with a log line, not failed.
func TestFidelityInheritedAccessIsSkipped(t *testing.T) {
	emu := gitlabemu.New(gitlabemu.Options{AdminToken: adminToken})
	parent, _ := emu.CreateGroupDirect(gitlabemu.GroupState{Name: "Acme", Path: "acme"})
	e := newEnvWith(t, emu, func(a *Adapter) { a.ParentGroup = "acme"; a.GroupAccessLevel = 20 })
	logs := observe(e.a)
	g, err := e.a.CreateGroup(tctx(t), &adapters.Group{DisplayName: "Team"})
	if err != nil {
		t.Fatal(err)
	}
	lead, plain := e.newUser(t, "lead"), e.newUser(t, "plain")
	if code, b := e.api(t, "POST", fmt.Sprintf("/groups/%d/members", parent.ID), map[string]any{"user_id": atoi(t, lead), "access_level": 40}); code != 201 {
		t.Fatalf("%d %s", code, b)
	}
	if err := e.a.AddMembers(tctx(t), g.ID, []string{lead, plain}); err != nil {
		t.Fatalf("AddMembers with an inherited maintainer: %v", err)
	}
	st := e.group(t, g.ID)
	if memberLevel(st, atoi(t, plain)) != 20 || memberLevel(st, atoi(t, lead)) >= 0 {
		t.Errorf("members %+v", st.Members)
	}
	l := logs.FilterMessageSnippet("inherited")
	if l.Len() != 1 || l.All()[0].ContextMap()["count"] != int64(1) {
		t.Errorf("logs %v", logs.All())
	}
}

// Point 6: path rules: a suffix fixes a username or group path that is too short
// or ends with a file extension; a subgroup name taken by an unmanaged sibling is
// the Taken fact; a project's path takes a suffix.
func TestFidelityPathRules(t *testing.T) {
	e := newEnv(t, gitlabemu.Options{})
	for userName, want := range map[string]string{"a@example.com": "a1", "report.json": "report.json1"} {
		rec := e.create(t, scimUser(userName, "ext-"+want, want+"@example.org"))
		if got := e.user(t, rec.User.ID).Username; got != want {
			t.Errorf("userName %q → username %q, want %q", userName, got, want)
		}
	}
	g, err := e.a.CreateGroup(tctx(t), &adapters.Group{DisplayName: "X"})
	if err != nil {
		t.Fatal(err)
	}
	if got := e.group(t, g.ID).Path; got != "x-2" {
		t.Errorf("path %q, want x-2", got)
	}

	emu := gitlabemu.New(gitlabemu.Options{AdminToken: adminToken})
	parent, _ := emu.CreateGroupDirect(gitlabemu.GroupState{Name: "Acme", Path: "acme"})
	if _, err := emu.CreateGroupDirect(gitlabemu.GroupState{Name: "Ops", Path: "ops-by-hand", ParentID: parent.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := emu.CreateProjectDirect(gitlabemu.ProjectState{Path: "web", NamespaceID: parent.ID}); err != nil {
		t.Fatal(err)
	}
	sub := newEnvWith(t, emu, func(a *Adapter) { a.ParentGroup = "acme" })
	_, err = sub.a.CreateGroup(tctx(t), &adapters.Group{DisplayName: "Ops"})
	if se := asSCIM(t, err, http.StatusConflict); se.ScimType != scim.ErrUniqueness {
		t.Errorf("name clash: %q %q", se.ScimType, se.Detail)
	}
	web, err := sub.a.CreateGroup(tctx(t), &adapters.Group{DisplayName: "Web"})
	if err != nil {
		t.Fatal(err)
	}
	if got := sub.group(t, web.ID).Path; got != "web-2" {
		t.Errorf("path next to a project %q, want web-2", got)
	}
}

// Point 7: a PUT whose extern_uid is taken leaves an identity with a NULL
// extern_uid; it is no proof that SCIM manages the account, and it is removed.
func TestFidelityNullIdentityIsNotManaged(t *testing.T) {
	e := newEnv(t, gitlabemu.Options{})
	e.create(t, scimUser("holder", "ext-held", "holder@example.com"))
	hand, _ := e.emu.CreateUserDirect(gitlabemu.UserState{Username: "byhand", Email: "byhand@example.com"})
	id := strconv.Itoa(hand.ID)
	_, err := e.a.UpdateUser(tctx(t), id, scimUser("byhand", "ext-held", "byhand@example.com"), adapters.State{Managed: true})
	asSCIM(t, err, http.StatusConflict)
	recs, err := e.a.FindUsers(tctx(t), adapters.Lookup{Kind: adapters.ByID, Value: id})
	if err != nil || len(recs) != 1 || recs[0].Managed {
		t.Fatalf("the refused account reads managed: %+v %v", recs, err)
	}
	if ids := e.user(t, id).Identities; len(ids) != 0 {
		t.Errorf("identities left %+v", ids)
	}
}

// Point 8: rate limits. Rack::Attack's Retry-After (the rest of an epoch-aligned
// window) is honoured; a per-endpoint limit, which sends no hint, is one minute.
func TestFidelityRateLimits(t *testing.T) {
	t.Run("Rack::Attack", func(t *testing.T) {
		clk := &testClock{t: time.Date(2026, 1, 5, 10, 29, 30, 0, time.UTC)}
		e := newEnv(t, gitlabemu.Options{RateLimit: 1, RateLimitWindow: time.Hour, Clock: clk.now})
		_, _ = e.a.FindUsers(tctx(t), adapters.Lookup{Kind: adapters.ByID, Value: "1"})
		_, err := e.a.FindUsers(tctx(t), adapters.Lookup{Kind: adapters.ByID, Value: "1"})
		if se := asSCIM(t, err, http.StatusServiceUnavailable); se.RetryAfter != 1830 {
			t.Errorf("RetryAfter %d, want 1830", se.RetryAfter)
		}
	})
	t.Run("GET /groups/:id limit", func(t *testing.T) {
		e := newEnv(t, gitlabemu.Options{GroupAPILimit: 1})
		g, err := e.a.CreateGroup(tctx(t), &adapters.Group{DisplayName: "Limited"})
		if err != nil {
			t.Fatal(err)
		}
		_, _ = e.a.FindGroups(tctx(t), adapters.Lookup{Kind: adapters.ByID, Value: g.ID}, false)
		_, err = e.a.FindGroups(tctx(t), adapters.Lookup{Kind: adapters.ByID, Value: g.ID}, false)
		if se := asSCIM(t, err, http.StatusServiceUnavailable); se.RetryAfter != 60 {
			t.Errorf("RetryAfter %d, want 60", se.RetryAfter)
		}
	})
	t.Run("GET /groups limit", func(t *testing.T) {
		e := newEnv(t, gitlabemu.Options{GroupsAPILimit: 1})
		_, _, _ = e.a.ListGroups(tctx(t), adapters.Page{Limit: 10}, false)
		_, _, err := e.a.ListGroups(tctx(t), adapters.Page{Limit: 10}, false)
		if se := asSCIM(t, err, http.StatusServiceUnavailable); se.RetryAfter != 60 {
			t.Errorf("RetryAfter %d, want 60", se.RetryAfter)
		}
	})
}

// Point 9: the smaller differences, which need no adapter change but are held
// here: a banned account reactivates by unban and deprovisions without a call;
// extern_uid is compared exactly although GitLab ignores case; a listing past
// the offset limit pages by keyset; UserGroups reads /users/:id/memberships.
func TestFidelitySmaller(t *testing.T) {
	e := newEnv(t, gitlabemu.Options{KeysetRequiredAbove: 150})
	u := scimUser("banned", "ext-banned", "banned@example.com")
	rec := e.create(t, u)
	_ = e.emu.SetState(atoi(t, rec.User.ID), "banned")
	off := *u
	off.Active = false
	e.emu.ResetCalls()
	if _, err := e.a.UpdateUser(tctx(t), rec.User.ID, &off, adapters.State{Managed: true}); err != nil {
		t.Fatal(err)
	}
	if n := e.emu.Calls()["POST /users/:id/block"]; n != 0 || e.user(t, rec.User.ID).State != "banned" {
		t.Errorf("deprovisioning a banned user blocked it (%d calls)", n)
	}
	recs, err := e.a.FindUsers(tctx(t), adapters.Lookup{Kind: adapters.ByExternalID, Value: "EXT-BANNED"})
	if err != nil || len(recs) != 0 {
		t.Errorf("externalId is caseExact: %v %v", recs, err)
	}
	ids := append([]int{atoi(t, rec.User.ID)}, seedManaged(t, e, 229)...)
	checkWindow(t, e, ids, 100, 100)

	g, _ := e.a.CreateGroup(tctx(t), &adapters.Group{DisplayName: "Via Memberships"})
	if err := e.a.AddMembers(tctx(t), g.ID, []string{rec.User.ID}); err != nil {
		t.Fatal(err)
	}
	e.emu.ResetCalls()
	refs, err := e.a.UserGroups(tctx(t), rec.User.ID)
	if err != nil || len(refs) != 1 || refs[0].Value != g.ID {
		t.Fatalf("UserGroups = %v, %v", refs, err)
	}
	if e.emu.Calls()["GET /users/:user_id/memberships"] != 1 {
		t.Errorf("calls %v; want the memberships endpoint", e.emu.Calls())
	}
}
