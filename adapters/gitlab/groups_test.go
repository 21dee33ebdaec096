package gitlab

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/adapters/upstream"
	"github.com/caddy-scim/caddy-scim/integration/gitlabemu"
	"github.com/caddy-scim/caddy-scim/module/links"
	"github.com/caddy-scim/caddy-scim/module/provision"
	"github.com/caddy-scim/caddy-scim/module/scim"
)

// newEnvWith provisions an adapter against emu served through h (emu itself
// when h is nil), for tests that shape the emulator first or wrap it.
func newEnvWith(t *testing.T, emu *gitlabemu.Server, configure ...func(*Adapter)) *env {
	return newEnvHandler(t, emu, nil, configure...)
}

func newEnvHandler(t *testing.T, emu *gitlabemu.Server, h http.Handler, configure ...func(*Adapter)) *env {
	t.Helper()
	if h == nil {
		h = emu
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	a := &Adapter{Config: upstream.Config{URL: srv.URL, Token: adminToken}}
	for _, f := range configure {
		f(a)
	}
	a.retry = fastRetry
	provisionAdapter(t, a)
	return &env{emu: emu, srv: srv, a: a}
}

// api sends one admin request to the emulator, as an operator would.
func (e *env) api(t *testing.T, method, path string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.srv.URL+"/api/v4"+path, rd)
	req.Header.Set("PRIVATE-TOKEN", adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (e *env) group(t *testing.T, id string) gitlabemu.GroupState {
	t.Helper()
	g, ok := e.emu.Group(atoi(t, id))
	if !ok {
		t.Fatalf("emulator has no group %s", id)
	}
	return g
}

func (e *env) newUser(t *testing.T, name string) string {
	t.Helper()
	rec, err := e.a.CreateUser(tctx(t), &adapters.User{
		UserName: name, Active: true,
		Emails: []adapters.MultiValue{{Value: name + "@example.com", Primary: true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return rec.User.ID
}

func memberLevel(g gitlabemu.GroupState, uid int) int {
	for _, m := range g.Members {
		if m.UserID == uid {
			return m.AccessLevel
		}
	}
	return -1
}

func TestGroupLayout(t *testing.T) {
	e := newEnv(t, gitlabemu.Options{})
	g, err := e.a.CreateGroup(tctx(t), &adapters.Group{DisplayName: "Platform Engineering", ExternalID: "okta-00g1"})
	if err != nil {
		t.Fatal(err)
	}
	st := e.group(t, g.ID)
	if st.Name != "Platform Engineering" || st.Path != "platform-engineering" || st.ParentID != 0 || st.Visibility != "private" {
		t.Errorf("group %+v; want name as sent, slug path, top level, private", st)
	}
	want := map[string]string{"scim_managed": "true", "scim_external_id": "okta-00g1"}
	if fmt.Sprint(st.CustomAttributes) != fmt.Sprint(want) {
		t.Errorf("custom attributes %v, want %v (no scim_display_name for an unaltered name)", st.CustomAttributes, want)
	}
	// The token's user is the creator and owner in GitLab, not a SCIM member.
	if memberLevel(st, 1) != 50 {
		t.Errorf("root is not the owner: %+v", st.Members)
	}
	if len(g.Members) != 0 {
		t.Errorf("members %v", g.Members)
	}
}

func TestGroupAlteredDisplayName(t *testing.T) {
	e := newEnv(t, gitlabemu.Options{})
	dn := "R&D / Ops, EMEA"
	g, err := e.a.CreateGroup(tctx(t), &adapters.Group{DisplayName: dn})
	if err != nil {
		t.Fatal(err)
	}
	st := e.group(t, g.ID)
	if st.Name != "R D Ops EMEA" || st.Path != "r-d-ops-emea" {
		t.Errorf("name %q path %q", st.Name, st.Path)
	}
	if st.CustomAttributes["scim_display_name"] != dn || g.DisplayName != dn {
		t.Errorf("displayName %q, attributes %v; want %q kept", g.DisplayName, st.CustomAttributes, dn)
	}
	gs, err := e.a.FindGroups(tctx(t), adapters.Lookup{Kind: adapters.ByDisplayName, Value: "r&d / ops, emea"}, false)
	if err != nil || len(gs) != 1 || gs[0].DisplayName != dn {
		t.Fatalf("FindGroups(ByDisplayName) = %+v, %v", gs, err)
	}
	// A rename to a name GitLab keeps as is drops the attribute.
	if _, err := e.a.UpdateGroup(tctx(t), g.ID, &adapters.Group{DisplayName: "RD Ops"}); err != nil {
		t.Fatal(err)
	}
	st = e.group(t, g.ID)
	if _, ok := st.CustomAttributes["scim_display_name"]; ok || st.Name != "RD Ops" || st.Path != "r-d-ops-emea" {
		t.Errorf("after rename: name %q path %q attributes %v; want path kept, no scim_display_name", st.Name, st.Path, st.CustomAttributes)
	}
	if _, ok := st.CustomAttributes["scim_external_id"]; ok {
		t.Error("scim_external_id written for an empty externalId")
	}
	// A rename in GitLab's UI wins over a stale stored displayName.
	if _, err := e.a.UpdateGroup(tctx(t), g.ID, &adapters.Group{DisplayName: "Q&A"}); err != nil {
		t.Fatal(err)
	}
	if code, b := e.api(t, "PUT", "/groups/"+g.ID, map[string]string{"name": "Quality"}); code != 200 {
		t.Fatalf("PUT: %d %s", code, b)
	}
	gs, _ = e.a.FindGroups(tctx(t), adapters.Lookup{Kind: adapters.ByID, Value: g.ID}, false)
	if len(gs) != 1 || gs[0].DisplayName != "Quality" {
		t.Errorf("after a GitLab-side rename: %+v", gs)
	}
}

func TestGroupPathDedupe(t *testing.T) {
	e := newEnv(t, gitlabemu.Options{})
	if _, err := e.emu.CreateUserDirect(gitlabemu.UserState{Username: "design", Email: "design@example.com"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ dn, path string }{
		{"Team X", "team-x"},
		{"Team/X", "team-x-2"}, // another displayName, same slug
		{"team_x!", "team_x"},
		{"Design", "design-2"}, // a username holds the top-level path
		{"Admin", "admin-2"},   // reserved top-level route
		{"日本語", "group"},
		{"--Ops.git", "ops"},
	} {
		g, err := e.a.CreateGroup(tctx(t), &adapters.Group{DisplayName: c.dn})
		if err != nil {
			t.Fatalf("CreateGroup(%q): %v", c.dn, err)
		}
		if st := e.group(t, g.ID); st.Path != c.path {
			t.Errorf("CreateGroup(%q): path %q, want %q", c.dn, st.Path, c.path)
		}
		if g.DisplayName != c.dn {
			t.Errorf("CreateGroup(%q): displayName %q", c.dn, g.DisplayName)
		}
	}
}

func TestGroupParent(t *testing.T) {
	for _, ref := range []string{"acme/teams", "ACME/Teams", "id"} {
		t.Run(ref, func(t *testing.T) {
			emu := gitlabemu.New(gitlabemu.Options{AdminToken: adminToken})
			top, _ := emu.CreateGroupDirect(gitlabemu.GroupState{Name: "Acme", Path: "acme", Visibility: "private"})
			parent, _ := emu.CreateGroupDirect(gitlabemu.GroupState{Name: "Teams", Path: "teams", ParentID: top.ID, Visibility: "private"})
			if ref == "id" {
				ref = strconv.Itoa(parent.ID)
			}
			e := newEnvWith(t, emu, func(a *Adapter) { a.ParentGroup = ref })
			g, err := e.a.CreateGroup(tctx(t), &adapters.Group{DisplayName: "Admin"})
			if err != nil {
				t.Fatal(err)
			}
			st := e.group(t, g.ID)
			// "admin" is reserved only at the top level.
			if st.ParentID != parent.ID || st.Path != "admin" {
				t.Errorf("group %+v; want a subgroup of %d with path admin", st, parent.ID)
			}
			// Resolved once.
			calls := e.emu.Calls()["GET /groups/:gid"]
			if _, err := e.a.CreateGroup(tctx(t), &adapters.Group{DisplayName: "Second"}); err != nil {
				t.Fatal(err)
			}
			if n := e.emu.Calls()["GET /groups/:gid"]; n != calls {
				t.Errorf("parent_group looked up again: %d → %d GETs", calls, n)
			}
		})
	}
	t.Run("missing", func(t *testing.T) {
		e := newEnv(t, gitlabemu.Options{}, func(a *Adapter) { a.ParentGroup = "nowhere/at-all" })
		_, err := e.a.CreateGroup(tctx(t), &adapters.Group{DisplayName: "X"})
		se, _ := provision.SCIMError(err)
		if err == nil || se.Status != http.StatusBadGateway || !strings.Contains(se.Detail, "parent_group") {
			t.Fatalf("err %v; want 502 naming parent_group", err)
		}
		if len(e.emu.Groups()) != 0 {
			t.Error("a group was created without its parent")
		}
	})
}

func TestGroupAccessLevel(t *testing.T) {
	for _, c := range []struct {
		level AccessLevel
		want  int
	}{{0, 30}, {20, 20}, {40, 40}} {
		e := newEnv(t, gitlabemu.Options{}, func(a *Adapter) { a.GroupAccessLevel = c.level })
		g, err := e.a.CreateGroup(tctx(t), &adapters.Group{DisplayName: "Levels"})
		if err != nil {
			t.Fatal(err)
		}
		u := e.newUser(t, "lvl")
		if err := e.a.AddMembers(tctx(t), g.ID, []string{u}); err != nil {
			t.Fatal(err)
		}
		if got := memberLevel(e.group(t, g.ID), atoi(t, u)); got != c.want {
			t.Errorf("group_access_level %d: member level %d, want %d", c.level, got, c.want)
		}
	}
}

func TestGroupMemberAlreadyExists(t *testing.T) {
	e := newEnv(t, gitlabemu.Options{})
	g, err := e.a.CreateGroup(tctx(t), &adapters.Group{DisplayName: "Existing"})
	if err != nil {
		t.Fatal(err)
	}
	u := e.newUser(t, "already")
	// Added by hand as maintainer before SCIM adds the user.
	if code, b := e.api(t, "POST", "/groups/"+g.ID+"/members", map[string]any{"user_id": atoi(t, u), "access_level": 40}); code != 201 {
		t.Fatalf("POST member: %d %s", code, b)
	}
	e.emu.ResetCalls()
	if err := e.a.AddMembers(tctx(t), g.ID, []string{u, u}); err != nil {
		t.Fatalf("AddMembers of an existing member: %v", err)
	}
	if n := e.emu.Calls()["POST /groups/:gid/members"]; n != 1 {
		t.Errorf("%d POSTs for one distinct user, want 1 (answered 409)", n)
	}
	if got := memberLevel(e.group(t, g.ID), atoi(t, u)); got != 40 {
		t.Errorf("existing member's level changed to %d; SCIM must leave it", got)
	}
	// Removing a non-member is a 404 in GitLab and success for SCIM.
	other := e.newUser(t, "never")
	if err := e.a.RemoveMembers(tctx(t), g.ID, []string{other}); err != nil {
		t.Errorf("RemoveMembers of a non-member: %v", err)
	}
}

func TestGroupTokenOwner(t *testing.T) {
	// A non-root admin token: the owner must come from GET /user, not id 1.
	emu := gitlabemu.New(gitlabemu.Options{AdminToken: "glpat-root-unused-000000000", ExtraTokens: map[string]gitlabemu.TokenInfo{
		adminToken: {Admin: true, Username: "scim-bot"},
	}})
	e := newEnvWith(t, emu)
	bot, _ := emu.FindByUsername("scim-bot")
	g, err := e.a.CreateGroup(tctx(t), &adapters.Group{DisplayName: "Owned"})
	if err != nil {
		t.Fatal(err)
	}
	if memberLevel(e.group(t, g.ID), bot.ID) != 50 {
		t.Fatal("the token's user is not the group owner")
	}
	u := e.newUser(t, "member")
	botID := strconv.Itoa(bot.ID)
	if err := e.a.AddMembers(tctx(t), g.ID, []string{u, botID}); err != nil {
		t.Fatal(err)
	}
	gs, err := e.a.FindGroups(tctx(t), adapters.Lookup{Kind: adapters.ByID, Value: g.ID}, true)
	if err != nil || len(gs) != 1 {
		t.Fatal(gs, err)
	}
	if len(gs[0].Members) != 1 || gs[0].Members[0].Value != u {
		t.Errorf("members %+v; want only %s (the token's user hidden)", gs[0].Members, u)
	}
	e.emu.ResetCalls()
	if err := e.a.RemoveMembers(tctx(t), g.ID, []string{botID, u}); err != nil {
		t.Fatal(err)
	}
	if memberLevel(e.group(t, g.ID), bot.ID) != 50 {
		t.Error("the token's user was removed")
	}
	if n := e.emu.Calls()["DELETE /groups/:gid/members/:user_id"]; n != 1 {
		t.Errorf("%d member DELETEs, want 1 (never one for the token's user)", n)
	}
	if n := e.emu.Calls()["GET /user"]; n != 0 {
		t.Errorf("GET /user repeated (%d); it is looked up once", n)
	}
	refs, err := e.a.UserGroups(tctx(t), botID)
	if err != nil || len(refs) != 0 {
		t.Errorf("UserGroups(token user) = %v, %v; want none", refs, err)
	}
}

func TestGroupUnmanagedInvisible(t *testing.T) {
	e := newEnv(t, gitlabemu.Options{})
	hand, _ := e.emu.CreateGroupDirect(gitlabemu.GroupState{Name: "Hand Made", Path: "hand-made", CustomAttributes: map[string]string{"scim_external_id": "x1"}})
	id := strconv.Itoa(hand.ID)
	u := e.newUser(t, "hm")
	for _, q := range []adapters.Lookup{{Kind: adapters.ByID, Value: id}, {Kind: adapters.ByExternalID, Value: "x1"}, {Kind: adapters.ByDisplayName, Value: "hand made"}} {
		if gs, err := e.a.FindGroups(tctx(t), q, true); err != nil || len(gs) != 0 {
			t.Errorf("FindGroups(%v) = %v, %v; want none", q, gs, err)
		}
	}
	if err := e.a.AddMembers(tctx(t), id, []string{u}); !errors.Is(err, adapters.ErrNotFound) {
		t.Errorf("AddMembers to an unmanaged group: %v", err)
	}
	if err := e.a.DeleteGroup(tctx(t), id); !errors.Is(err, adapters.ErrNotFound) {
		t.Errorf("DeleteGroup of an unmanaged group: %v", err)
	}
	if _, err := e.a.UpdateGroup(tctx(t), id, &adapters.Group{DisplayName: "Mine"}); !errors.Is(err, adapters.ErrNotFound) {
		t.Errorf("UpdateGroup of an unmanaged group: %v", err)
	}
	if _, ok := e.emu.Group(hand.ID); !ok {
		t.Fatal("unmanaged group deleted")
	}
	if gs, total, err := e.a.ListGroups(tctx(t), adapters.Page{Limit: 10}, false); err != nil || total != 0 || len(gs) != 0 {
		t.Errorf("ListGroups = %v, %d, %v; want nothing", gs, total, err)
	}
	// The same name is free for SCIM (GitLab does not require unique top-level names).
	if _, err := e.a.CreateGroup(tctx(t), &adapters.Group{DisplayName: "Hand Made"}); err != nil {
		t.Errorf("CreateGroup with an unmanaged namesake: %v", err)
	}
}

func TestGroupErrors(t *testing.T) {
	e := newEnv(t, gitlabemu.Options{})
	g, err := e.a.CreateGroup(tctx(t), &adapters.Group{DisplayName: "Errs"})
	if err != nil {
		t.Fatal(err)
	}
	u := e.newUser(t, "erru")
	status := func(err error) int {
		if se, ok := provision.SCIMError(err); ok && err != nil {
			return se.Status
		}
		return 0
	}
	e.emu.FailNext("POST /groups", 503, 1)
	if _, err := e.a.CreateGroup(tctx(t), &adapters.Group{DisplayName: "Down"}); status(err) != 503 {
		t.Errorf("CreateGroup on 503: %v", err)
	}
	e.emu.FailNext("POST /groups", 429, 1)
	if _, err := e.a.CreateGroup(tctx(t), &adapters.Group{DisplayName: "Busy"}); status(err) != 503 {
		t.Errorf("CreateGroup on 429: %v", err)
	}
	e.emu.FailNext("POST /groups", 403, 1)
	if _, err := e.a.CreateGroup(tctx(t), &adapters.Group{DisplayName: "Nope"}); status(err) != 502 {
		t.Errorf("CreateGroup on 403: %v", err)
	}
	// A blank displayName is the core's to refuse, before the adapter is called.
	svc := &provision.Service{Adapter: e.a, Groups: e.a, Links: links.NewMemory(time.Minute, 0)}
	if _, err := svc.CreateGroup(tctx(t), &scim.Group{DisplayName: "  "}); status(err) != 400 {
		t.Errorf("CreateGroup with a blank displayName: %v", err)
	}
	// A lasting outage of the member endpoint is the whole change's 503 (the
	// IdP retries it), not a per-member failure.
	e.emu.FailNext("POST /groups/:gid/members", 500, upstream.DefaultRetry.Tries)
	err = e.a.AddMembers(tctx(t), g.ID, []string{u})
	var me *adapters.MemberError
	if status(err) != 503 || errors.As(err, &me) {
		t.Errorf("AddMembers during an outage: %v (%T); want a 503", err, err)
	}
	// A transient one is retried (the add is idempotent).
	e.emu.FailNext("POST /groups/:gid/members", 502, 1)
	if err := e.a.AddMembers(tctx(t), g.ID, []string{u}); err != nil {
		t.Errorf("AddMembers after one 502: %v", err)
	}
	// Attributes that cannot be written leave no half-made group behind.
	before := len(e.emu.Groups())
	e.emu.FailNext("PUT /groups/:gid/custom_attributes/:key", 403, 1)
	if _, err := e.a.CreateGroup(tctx(t), &adapters.Group{DisplayName: "Half"}); status(err) != 502 {
		t.Errorf("CreateGroup with a refused attribute write: %v", err)
	}
	if n := len(e.emu.Groups()); n != before {
		t.Errorf("%d groups after a failed create, want %d", n, before)
	}
	// The token never appears in errors.
	e.emu.InjectFault(gitlabemu.Fault{Route: "POST /groups", Status: 400})
	_, err = e.a.CreateGroup(tctx(t), &adapters.Group{DisplayName: "Leak"})
	if err == nil || strings.Contains(err.Error(), adminToken) {
		t.Errorf("err %v", err)
	}
}

func TestGroupSaveErrors(t *testing.T) {
	for _, c := range []struct {
		body     string
		path     bool
		conflict bool // 409 uniqueness
	}{
		{`{"message":"Failed to save group {:path=>[\"has already been taken\"]}"}`, true, true},
		{`{"message":"Failed to save group {path: [\"has already been taken\"]}"}`, true, true},
		{`{"message":"Failed to save group {:\"route.path\"=>[\"has already been taken\"]}"}`, true, true},
		{`{"message":"Failed to save group {:path=>[\"admin is a reserved name\"]}"}`, true, true},
		{`{"message":"Failed to save group {:name=>[\"has already been taken\"]}"}`, false, true},
		{`{"message":{"name":["has already been taken"]}}`, false, true},
		{`{"message":{"name":["can contain only letters"]}}`, false, false},
		{`{"error":"name is missing"}`, false, false},
	} {
		resp := &upstream.Response{Status: 400, Body: []byte(c.body)}
		if got := pathTaken(groupSaveErrors(resp.Body)); got != c.path {
			t.Errorf("pathTaken(%s) = %v", c.body, got)
		}
		err := unprovisioned(t).groupWriteError(resp, "X")
		se, ok := provision.SCIMError(err)
		if !ok {
			t.Fatalf("%s: %v", c.body, err)
		}
		if c.conflict && (se.Status != 409 || se.ScimType != scim.ErrUniqueness) {
			t.Errorf("%s: %d %q, want 409 uniqueness", c.body, se.Status, se.ScimType)
		}
		if !c.conflict && (se.Status != 400 || se.ScimType != scim.ErrInvalidValue) {
			t.Errorf("%s: %d %q, want 400 invalidValue", c.body, se.Status, se.ScimType)
		}
	}
}

func TestGroupNameAndSlug(t *testing.T) {
	for _, c := range []struct{ in, name, slug string }{
		{"Engineering", "Engineering", "engineering"},
		{"Sales & Marketing (EMEA)", "Sales Marketing (EMEA)", "sales-marketing-emea"},
		{"  -Leading dash", "Leading dash", "leading-dash"},
		{"Équipe Données", "Équipe Données", "quipe-donn-es"},
		{"a.b_c", "a.b_c", "a.b_c"},
		{"...", "group", "group"},
		{"Team – Ops", "Team – Ops", "team-ops"},
		{"x.git", "x.git", "x"},
	} {
		if got := groupName(c.in); got != c.name {
			t.Errorf("groupName(%q) = %q, want %q", c.in, got, c.name)
		}
		if got := groupSlug(c.in); got != c.slug {
			t.Errorf("groupSlug(%q) = %q, want %q", c.in, got, c.slug)
		}
	}
	long := strings.Repeat("ab ", 200)
	if n := len([]rune(groupName(long))); n > maxGroupName {
		t.Errorf("groupName length %d", n)
	}
	if s := groupSlug(long); len(s)+4 > maxGroupPath {
		t.Errorf("groupSlug length %d leaves no room for a suffix", len(s))
	}
	if got := pathSuffix.Name("x", 1); got != "x-2" {
		t.Errorf("second path = %q", got)
	}
}

// Delayed deletion (GitLab Premium; every tier from 18.0): DELETE answers 202 and
// the group stays, marked and renamed; SCIM must see it gone.
func TestGroupDelayedDeletion(t *testing.T) {
	e := newEnv(t, gitlabemu.Options{DelayedGroupDeletion: true}, func(a *Adapter) { a.GroupDelete = "delete" })
	g, err := e.a.CreateGroup(tctx(t), &adapters.Group{DisplayName: "Lingering", ExternalID: "L1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.a.DeleteGroup(tctx(t), g.ID); err != nil {
		t.Fatal(err)
	}
	if st, ok := e.emu.Group(atoi(t, g.ID)); !ok || st.MarkedForDeletionOn == nil {
		t.Fatal("GitLab did not keep the group marked for deletion")
	}
	if gs, _ := e.a.FindGroups(tctx(t), adapters.Lookup{Kind: adapters.ByID, Value: g.ID}, false); len(gs) != 0 {
		t.Errorf("FindGroups after a delayed deletion = %+v", gs)
	}
	if gs, _ := e.a.FindGroups(tctx(t), adapters.Lookup{Kind: adapters.ByExternalID, Value: "L1"}, false); len(gs) != 0 {
		t.Errorf("FindGroups(ByExternalID) after a delayed deletion = %+v", gs)
	}
	if _, total, _ := e.a.ListGroups(tctx(t), adapters.Page{Limit: 10}, false); total != 0 {
		t.Errorf("ListGroups total %d after a delayed deletion", total)
	}
	if err := e.a.DeleteGroup(tctx(t), g.ID); !errors.Is(err, adapters.ErrNotFound) {
		t.Errorf("second DeleteGroup: %v", err)
	}
	// A new group of the same name gets the name and path back.
	again, err := e.a.CreateGroup(tctx(t), &adapters.Group{DisplayName: "Lingering"})
	if err != nil || e.group(t, again.ID).Path != "lingering" {
		t.Errorf("re-create: %+v %v", again, err)
	}
	// marked_for_deletion_on alone also hides a group.
	mark := "2026-01-01"
	gl := glGroup{MarkedForDeletionOn: &mark, CustomAttributes: &attrs{{attrManaged, "true"}}}
	if gl.managed("") {
		t.Error("a group marked for deletion counts as managed")
	}
}

// noMembershipsHandler answers GET /users/:id/memberships as an API without that
// route would (Grape's 404 {"error":"404 Not Found"}), for the adapter's fallback.
func noMembershipsHandler(emu *gitlabemu.Server) http.Handler {
	re := regexp.MustCompile(`^/api/v4/users/([0-9]+)/memberships$`)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !re.MatchString(r.URL.Path) {
			emu.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(404)
		_, _ = w.Write([]byte(`{"error":"404 Not Found"}`))
	})
}

func TestUserGroupsPaths(t *testing.T) {
	for _, withAPI := range []bool{true, false} {
		t.Run(fmt.Sprintf("memberships=%v", withAPI), func(t *testing.T) {
			emu := gitlabemu.New(gitlabemu.Options{AdminToken: adminToken})
			var h http.Handler
			if !withAPI {
				h = noMembershipsHandler(emu)
			}
			e := newEnvHandler(t, emu, h)
			u := e.newUser(t, "ug")
			var in []string
			for i := 0; i < 6; i++ {
				g, err := e.a.CreateGroup(tctx(t), &adapters.Group{DisplayName: fmt.Sprintf("UG %d", i)})
				if err != nil {
					t.Fatal(err)
				}
				if i%2 == 0 {
					if err := e.a.AddMembers(tctx(t), g.ID, []string{u}); err != nil {
						t.Fatal(err)
					}
					in = append(in, g.ID)
				}
			}
			// An unmanaged group the user is in does not count.
			hand, _ := emu.CreateGroupDirect(gitlabemu.GroupState{Name: "Hand", Path: "hand"})
			if code, _ := e.api(t, "POST", fmt.Sprintf("/groups/%d/members", hand.ID), map[string]any{"user_id": atoi(t, u), "access_level": 10}); code != 201 {
				t.Fatal(code)
			}
			before := e.a.UpstreamCalls()
			refs, err := e.a.UserGroups(tctx(t), u)
			if err != nil {
				t.Fatal(err)
			}
			calls := e.a.UpstreamCalls() - before
			var got []string
			for _, r := range refs {
				got = append(got, r.Value)
				if !strings.HasPrefix(r.Display, "UG ") {
					t.Errorf("display %q", r.Display)
				}
			}
			if strings.Join(got, " ") != strings.Join(in, " ") {
				t.Errorf("UserGroups = %v, want %v", got, in)
			}
			// GET /user once per adapter, then memberships: 1 + one GET per
			// group found (3 managed + 1 hand-made); scan: 1 list page + one
			// member check per managed group (6), and the first call also
			// learns that memberships is missing.
			want := int64(1 + 1 + 4)
			if !withAPI {
				want = 1 + 1 + 1 + 6
			}
			if calls != want {
				t.Errorf("UserGroups took %d calls, want %d", calls, want)
			}
			t.Logf("UserGroups with %d managed groups, member of %d: %d calls", 6, len(in), calls)
			if refs, err := e.a.UserGroups(tctx(t), "424242"); err != nil || len(refs) != 0 {
				t.Errorf("UserGroups(unknown) = %v, %v", refs, err)
			}
		})
	}
}

// TestGroupCallCounts measures the GitLab calls of each operation (reported in
// the README and checked against regressions).
func TestGroupCallCounts(t *testing.T) {
	e := newEnv(t, gitlabemu.Options{})
	ctx := tctx(t)
	var users []string
	for i := 0; i < 3; i++ {
		users = append(users, e.newUser(t, fmt.Sprintf("cc%d", i)))
	}
	measure := func(what string, max int64, fn func()) {
		t.Helper()
		before := e.a.UpstreamCalls()
		fn()
		n := e.a.UpstreamCalls() - before
		t.Logf("%-42s %d calls", what, n)
		if n > max {
			t.Errorf("%s: %d calls, want ≤ %d", what, n, max)
		}
	}
	var g *adapters.Group
	measure("CreateGroup (externalId)", 4, func() {
		var err error
		if g, err = e.a.CreateGroup(ctx, &adapters.Group{DisplayName: "Counted", ExternalID: "c1"}); err != nil {
			t.Fatal(err)
		}
	})
	measure("CreateGroup (altered name, externalId)", 5, func() { _, _ = e.a.CreateGroup(ctx, &adapters.Group{DisplayName: "A&B", ExternalID: "c2"}) })
	measure("FindGroups ByID", 1, func() { _, _ = e.a.FindGroups(ctx, adapters.Lookup{Kind: adapters.ByID, Value: g.ID}, false) })
	measure("FindGroups ByID withMembers (first: +GET /user)", 3, func() {
		_, _ = e.a.FindGroups(ctx, adapters.Lookup{Kind: adapters.ByID, Value: g.ID}, true)
	})
	measure("FindGroups ByID withMembers", 2, func() { _, _ = e.a.FindGroups(ctx, adapters.Lookup{Kind: adapters.ByID, Value: g.ID}, true) })
	measure("FindGroups ByExternalID", 1, func() { _, _ = e.a.FindGroups(ctx, adapters.Lookup{Kind: adapters.ByExternalID, Value: "c1"}, false) })
	measure("FindGroups ByDisplayName", 1, func() {
		_, _ = e.a.FindGroups(ctx, adapters.Lookup{Kind: adapters.ByDisplayName, Value: "counted"}, false)
	})
	measure("UpdateGroup (rename)", 3, func() { _, _ = e.a.UpdateGroup(ctx, g.ID, &adapters.Group{DisplayName: "Counted 2", ExternalID: "c1"}) })
	measure("UpdateGroup (no change)", 1, func() { _, _ = e.a.UpdateGroup(ctx, g.ID, &adapters.Group{DisplayName: "Counted 2", ExternalID: "c1"}) })
	measure("AddMembers (3 users)", 4, func() { _ = e.a.AddMembers(ctx, g.ID, users) })
	measure("RemoveMembers (1 user)", 2, func() { _ = e.a.RemoveMembers(ctx, g.ID, users[:1]) })
	measure("ListGroups (page of 10)", 1, func() { _, _, _ = e.a.ListGroups(ctx, adapters.Page{Limit: 10}, false) })
	// +1 read per member: only the members SCIM manages are shown
	measure("ListGroups (page of 10, withMembers)", 6, func() { _, _, _ = e.a.ListGroups(ctx, adapters.Page{Limit: 10}, true) })
	measure("UserGroups (scan, 2 managed groups)", 4, func() { _, _ = e.a.UserGroups(ctx, users[1]) })
	// unlink: read, members (+1 read each), one removal each, three marks
	measure("DeleteGroup", 10, func() { _ = e.a.DeleteGroup(ctx, g.ID) })
}

func TestGroupManyMembersConcurrently(t *testing.T) {
	e := newEnv(t, gitlabemu.Options{})
	g, err := e.a.CreateGroup(tctx(t), &adapters.Group{DisplayName: "Crowd"})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := 0; i < 40; i++ {
		ids = append(ids, e.newUser(t, fmt.Sprintf("crowd%02d", i)))
	}
	ids = append(ids, "999999", "not-a-number")
	err = e.a.AddMembers(tctx(t), g.ID, ids)
	var me *adapters.MemberError
	if !errors.As(err, &me) || len(me.Failed) != 2 || !errors.Is(me.Failed["999999"], adapters.ErrNotFound) || me.Failed["not-a-number"] == nil {
		t.Fatalf("AddMembers: %v; want a MemberError naming exactly the 2 unknown ids", err)
	}
	if n := len(e.group(t, g.ID).Members); n != 41 {
		t.Errorf("%d GitLab members, want 40 + the owner", n)
	}
	gs, _ := e.a.FindGroups(tctx(t), adapters.Lookup{Kind: adapters.ByID, Value: g.ID}, true)
	if len(gs) != 1 || len(gs[0].Members) != 40 {
		t.Fatalf("FindGroups withMembers: %+v", gs)
	}
	if err := e.a.RemoveMembers(tctx(t), g.ID, ids); err != nil {
		t.Fatalf("RemoveMembers: %v", err)
	}
	if n := len(e.group(t, g.ID).Members); n != 1 {
		t.Errorf("%d GitLab members left, want the owner only", n)
	}
}

func TestGroupMembersPaging(t *testing.T) {
	e := newEnv(t, gitlabemu.Options{MaxPerPage: 100})
	g, err := e.a.CreateGroup(tctx(t), &adapters.Group{DisplayName: "Big"})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := 0; i < 150; i++ {
		u, err := e.emu.CreateUserDirect(gitlabemu.UserState{Username: fmt.Sprintf("big%03d", i), Email: fmt.Sprintf("big%03d@example.com", i),
			CustomAttributes: map[string]string{attrManaged: "true"}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, strconv.Itoa(u.ID))
	}
	if err := e.a.AddMembers(tctx(t), g.ID, ids); err != nil {
		t.Fatal(err)
	}
	gs, err := e.a.FindGroups(tctx(t), adapters.Lookup{Kind: adapters.ByID, Value: g.ID}, true)
	if err != nil || len(gs) != 1 || len(gs[0].Members) != 150 {
		t.Fatalf("members across pages: %v %v", len(gs), err)
	}
	// a member added by hand is not shown (#11 case 7), however many there are
	hand, _ := e.emu.CreateUserDirect(gitlabemu.UserState{Username: "hand", Email: "hand@example.com"})
	if code, _ := e.api(t, "POST", "/groups/"+g.ID+"/members", map[string]any{"user_id": hand.ID, "access_level": 10}); code != 201 {
		t.Fatal(code)
	}
	gs, err = e.a.FindGroups(tctx(t), adapters.Lookup{Kind: adapters.ByID, Value: g.ID}, true)
	if err != nil || len(gs[0].Members) != 150 {
		t.Fatalf("with a hand-added member: %d members, %v", len(gs[0].Members), err)
	}
}

// TestGroupUnmanagedMembersAndUnlink (#11 case 7): a group's members used to include
// users SCIM does not manage (shown, and removed by a replace of members), and
// DELETE /Groups/{id} deleted the GitLab group with its subgroups and projects. Now
// only managed members are shown or removed, and DELETE unlinks unless
// group_delete is delete.
func TestGroupUnmanagedMembersAndUnlink(t *testing.T) {
	e := newEnv(t, gitlabemu.Options{})
	g, err := e.a.CreateGroup(tctx(t), &adapters.Group{DisplayName: "Mixed", ExternalID: "m1"})
	if err != nil {
		t.Fatal(err)
	}
	u := e.newUser(t, "scimmember")
	if err := e.a.AddMembers(tctx(t), g.ID, []string{u}); err != nil {
		t.Fatal(err)
	}
	hand, _ := e.emu.CreateUserDirect(gitlabemu.UserState{Username: "byhand", Email: "byhand@example.com"})
	if code, _ := e.api(t, "POST", "/groups/"+g.ID+"/members", map[string]any{"user_id": hand.ID, "access_level": 30}); code != 201 {
		t.Fatal(code)
	}
	gs, err := e.a.FindGroups(tctx(t), adapters.Lookup{Kind: adapters.ByID, Value: g.ID}, true)
	if err != nil || len(gs) != 1 || len(gs[0].Members) != 1 || gs[0].Members[0].Value != u {
		t.Fatalf("members %+v, %v; want only the SCIM member %s", gs, err, u)
	}
	if err := e.a.DeleteGroup(tctx(t), g.ID); err != nil {
		t.Fatal(err)
	}
	st, ok := e.emu.Group(atoi(t, g.ID))
	if !ok {
		t.Fatal("DELETE destroyed the GitLab group; it must only unlink it")
	}
	if memberLevel(st, atoi(t, u)) != -1 || memberLevel(st, hand.ID) != 30 {
		t.Errorf("after unlink: members %+v; want the SCIM member gone and the hand-added one kept", st.Members)
	}
	if len(st.CustomAttributes) != 0 {
		t.Errorf("SCIM marks left: %v", st.CustomAttributes)
	}
	if gs, _ := e.a.FindGroups(tctx(t), adapters.Lookup{Kind: adapters.ByExternalID, Value: "m1"}, false); len(gs) != 0 {
		t.Errorf("the unlinked group is still a SCIM group: %+v", gs)
	}
	// group_delete delete destroys it
	d := newEnv(t, gitlabemu.Options{}, func(a *Adapter) { a.GroupDelete = "delete" })
	g2, _ := d.a.CreateGroup(tctx(t), &adapters.Group{DisplayName: "Doomed"})
	if err := d.a.DeleteGroup(tctx(t), g2.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok := d.emu.Group(atoi(t, g2.ID)); ok {
		t.Error("group_delete delete kept the group")
	}
}

func TestGroupCaddyfile(t *testing.T) {
	for _, c := range []struct{ in, want, err string }{
		{in: "gitlab {\n url https://gl\n token t\n parent_group acme/teams\n group_access_level maintainer\n}",
			want: `{"url":"https://gl","token":"t","parent_group":"acme/teams","group_access_level":40}`},
		{in: "gitlab {\n parent_group 42\n group_access_level 20\n}", want: `{"parent_group":"42","group_access_level":20}`},
		{in: "gitlab {\n group_access_level Guest\n}", want: `{"group_access_level":10}`},
		{in: "gitlab {\n parent_group {env.GL_PARENT}\n}", want: `{"parent_group":"{env.GL_PARENT}"}`},
		{in: "gitlab {\n identity_provider saml\n link_existing email\n}", want: `{"identity_provider":"saml","link_existing":"email"}`},
		{in: "gitlab {\n group_access_level admin\n}", err: "group_access_level must be"},
		{in: "gitlab {\n group_access_level 35\n}", err: "group_access_level must be"},
		{in: "gitlab {\n group_access_level 0\n}", err: "group_access_level must be"},
		{in: "gitlab {\n parent_group /acme\n}", err: "parent_group must be"},
		{in: "gitlab {\n parent_group acme//teams\n}", err: "parent_group must be"},
		{in: "gitlab {\n parent_group 0\n}", err: "parent_group must be"},
		{in: "gitlab {\n parent_group a\n parent_group b\n}", err: "duplicate gitlab option 'parent_group'"},
		{in: "gitlab {\n parent_group\n}", err: "wrong argument count"},
	} {
		var a Adapter
		err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser(c.in))
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: error %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if b, _ := json.Marshal(&a); string(b) != c.want {
			t.Errorf("%q: JSON %s, want %s", c.in, b, c.want)
		}
	}
}

func TestGroupJSONConfig(t *testing.T) {
	for _, c := range []struct {
		in   string
		want AccessLevel
		err  string // from Unmarshal or Validate
	}{
		{`{"group_access_level":40}`, 40, ""},
		{`{"group_access_level":"reporter"}`, 20, ""},
		{`{"group_access_level":"30"}`, 30, ""},
		{`{}`, 0, ""},
		{`{"group_access_level":"boss"}`, 0, "group_access_level must be"},
		{`{"group_access_level":35}`, 0, "group_access_level 35"},
		{`{"group_access_level":true}`, 0, "number or a name"},
		{`{"parent_group":"a b"}`, 0, "parent_group must be"},
	} {
		a := Adapter{Config: upstream.Config{URL: "https://gl.example", Token: "t"}}
		err := json.Unmarshal([]byte(c.in), &a)
		if err == nil {
			a.groups = nil
			a.token = "t"
			a.api = unprovisioned(t).api
			a.provisionGroups()
			err = a.Validate()
		}
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		if a.GroupAccessLevel != c.want {
			t.Errorf("%s: level %d, want %d", c.in, a.GroupAccessLevel, c.want)
		}
	}
	// Placeholders resolve at provisioning.
	t.Setenv("GL_PARENT_TEST", "acme/sub")
	a := &Adapter{Config: upstream.Config{URL: "https://gl.example", Token: "t"}, ParentGroup: "{env.GL_PARENT_TEST}"}
	provisionAdapter(t, a)
	if a.groups.parent != "acme/sub" {
		t.Errorf("parent %q", a.groups.parent)
	}
	if got := (&Adapter{}).Info().GroupAttributes; strings.Join(got, ",") != "displayName,members" {
		t.Errorf("GroupAttributes %v", got)
	}
}
