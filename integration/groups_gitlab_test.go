package integration_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/caddy-scim/caddy-scim/integration/gitlabemu"
	"github.com/caddy-scim/caddy-scim/integration/testenv"
)

// gitlabMembers reads a group's real members from the emulator (the token's own
// user, the group's creator, excluded), sorted.
func gitlabMembers(t *testing.T, b *gitlabBackend, gid string) []string {
	t.Helper()
	n, _ := strconv.Atoi(gid)
	g, ok := b.emu.Group(n)
	if !ok {
		t.Fatalf("gitlab group %s does not exist", gid)
	}
	var ids []string
	for _, m := range g.Members {
		if m.UserID != 1 { // root, whose token the adapter uses
			ids = append(ids, strconv.Itoa(m.UserID))
		}
	}
	sortIDs(ids)
	return ids
}

func wantGitlabMembers(t *testing.T, b *gitlabBackend, gid string, want ...string) {
	t.Helper()
	want = slices.Clone(want)
	sortIDs(want)
	if got := gitlabMembers(t, b, gid); !slices.Equal(got, want) {
		t.Fatalf("gitlab group %s members %v, want %v", gid, got, want)
	}
}

// Okta Group Push and Entra group provisioning through a real Caddy in front of the
// GitLab emulator: SCIM groups become GitLab groups, memberships really change.
func TestGroupGitLab(t *testing.T) {
	b := newGitLab(t)
	e := start(t, b, "unknown_members reject", "")
	c := e.c
	u := make([]string, 4)
	for i := range u {
		login := fmt.Sprintf("%s-%d@example.com", testenv.UniqueName("glg"), i)
		u[i] = str(c.do("POST", "/Users", oktaUser(login, "ext-"+login)).want(t, 201).JSON, "id")
	}

	t.Run("okta push", func(t *testing.T) {
		gid := str(c.do("POST", "/Groups", map[string]any{"schemas": []string{groupSchema}, "displayName": "Okta Pushed", "members": []any{}}).want(t, 201).JSON, "id")
		n, _ := strconv.Atoi(gid)
		if g, ok := b.emu.Group(n); !ok || g.Name != "Okta Pushed" || g.CustomAttributes["scim_managed"] != "true" {
			t.Fatalf("gitlab group after POST: %+v", g)
		}
		c.do("PATCH", "/Groups/"+gid, patchOps(`{"op":"replace","value":{"id":"`+gid+`","displayName":"Okta Pushed 2"}}`)).want(t, 204)
		if g, _ := b.emu.Group(n); g.Name != "Okta Pushed 2" {
			t.Fatalf("gitlab group after rename: %+v", g)
		}
		c.do("PATCH", "/Groups/"+gid, patchOps(`{"op":"add","path":"members","value":`+memberValues(u[0], u[1])+`}`)).want(t, 204)
		wantGitlabMembers(t, b, gid, u[0], u[1])
		c.do("PATCH", "/Groups/"+gid, patchOps(
			`{"op":"remove","path":"members[value eq \"`+u[0]+`\"]"}`,
			`{"op":"add","path":"members","value":[{"value":"`+u[2]+`","display":"x"}]}`)).want(t, 204)
		wantGitlabMembers(t, b, gid, u[1], u[2])
		c.do("PATCH", "/Groups/"+gid, patchOps(`{"op":"replace","path":"members","value":[]}`)).want(t, 204)
		wantGitlabMembers(t, b, gid)
		c.do("DELETE", "/Groups/"+gid, nil).want(t, 204)
		c.do("GET", "/Groups/"+gid, nil).wantError(t, 404, "")
	})

	t.Run("entra", func(t *testing.T) {
		name := "Entra " + testenv.UniqueName("")
		probe := resources(t, c.do("GET", "/Groups?excludedAttributes=members&"+filterQuery(`displayName eq "`+name+`"`), nil).want(t, 200))
		if len(probe) != 0 {
			t.Fatalf("probe found %v", probe)
		}
		gid := str(c.do("POST", "/Groups", map[string]any{
			"schemas":     []string{groupSchema, "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"},
			"externalId":  "8aa1a0c0-" + testenv.UniqueName(""),
			"displayName": name,
		}).want(t, 201).JSON, "id")
		c.do("POST", "/Groups", map[string]any{"schemas": []string{groupSchema}, "displayName": name}).wantError(t, 409, "uniqueness")
		c.do("PATCH", "/Groups/"+gid, patchOps(`{"op":"Add","path":"members","value":[{"$ref":null,"value":"`+u[0]+`"},{"$ref":null,"value":"`+u[1]+`"},{"$ref":null,"value":"`+u[3]+`"}]}`)).want(t, 204)
		wantGitlabMembers(t, b, gid, u[0], u[1], u[3])
		// remove with a value list removes only those members
		c.do("PATCH", "/Groups/"+gid, patchOps(`{"op":"Remove","path":"members","value":[{"value":"`+u[1]+`"}]}`)).want(t, 204)
		wantGitlabMembers(t, b, gid, u[0], u[3])
		// root search spans resource types: a group filter finds the group, a user
		// filter (userName is not a Group attribute) finds only users
		ext := str(c.do("GET", "/Groups/"+gid, nil).want(t, 200).JSON, "externalId")
		search := func(filter string) []map[string]any {
			body := map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:SearchRequest"}, "filter": filter}
			return resources(t, c.do("POST", "/.search", body).want(t, 200))
		}
		if rs := search(`externalId eq "` + ext + `"`); len(rs) != 1 || str(rs[0], "id") != gid || str(rs[0], "meta.resourceType") != "Group" {
			t.Fatalf("root search by the group's externalId: %v", rs)
		}
		if rs := search(`userName eq "` + str(c.do("GET", "/Users/"+u[0], nil).want(t, 200).JSON, "userName") + `"`); len(rs) != 1 || str(rs[0], "meta.resourceType") != "User" {
			t.Fatalf("root search by userName: %v", rs)
		}
		g := c.do("GET", "/Groups/"+gid+"?excludedAttributes=members", nil).want(t, 200)
		if _, has := g.JSON["members"]; has || str(g.JSON, "displayName") != name {
			t.Fatalf("GET excluding members: %s", g.Body)
		}
		// an unknown member is refused and nothing is applied
		c.do("PATCH", "/Groups/"+gid, patchOps(`{"op":"Add","path":"members","value":[{"value":"`+u[2]+`"},{"value":"99999999"}]}`)).wantError(t, 400, "invalidValue")
		wantGitlabMembers(t, b, gid, u[0], u[3])
		// a deprovisioned member stays manageable
		c.do("PATCH", "/Users/"+u[3], `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":"False"}]}`).want(t, 200)
		c.do("PATCH", "/Groups/"+gid, patchOps(`{"op":"Remove","path":"members","value":[{"value":"`+u[3]+`"}]}`)).want(t, 204)
		wantGitlabMembers(t, b, gid, u[0])
	})
}

// TestGroupGitLabUnlink (#11 case 7) through Caddy: a member added by hand in GitLab
// is neither shown nor removed by a replace of members, and DELETE /Groups/{id}
// leaves the GitLab group (its projects and subgroups) in place, unlinked.
func TestGroupGitLabUnlink(t *testing.T) {
	b := newGitLab(t)
	e := start(t, b, "", "")
	c := e.c
	login := testenv.UniqueName("glu") + "@example.com"
	u := str(c.do("POST", "/Users", oktaUser(login, "ext-"+login)).want(t, 201).JSON, "id")
	gid := str(c.do("POST", "/Groups", map[string]any{"schemas": []string{groupSchema}, "displayName": "Unlink " + testenv.UniqueName(""),
		"members": []any{map[string]any{"value": u}}}).want(t, 201).JSON, "id")
	hand, err := b.emu.CreateUserDirect(gitlabemu.UserState{Username: testenv.UniqueName("byhand"), Email: testenv.UniqueName("byhand") + "@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(gid)
	if code := b.api(t, "POST", "/groups/"+gid+"/members", `{"user_id":`+strconv.Itoa(hand.ID)+`,"access_level":30}`); code != 201 {
		t.Fatalf("adding a member by hand: %d", code)
	}
	g := c.do("GET", "/Groups/"+gid, nil).want(t, 200)
	if strings.Contains(string(g.Body), `"value":"`+strconv.Itoa(hand.ID)+`"`) {
		t.Fatalf("a member added by hand is shown: %s", g.Body)
	}
	c.do("PATCH", "/Groups/"+gid, patchOps(`{"op":"replace","path":"members","value":[]}`)).want(t, 204)
	if got := gitlabMembers(t, b, gid); !slices.Contains(got, strconv.Itoa(hand.ID)) || slices.Contains(got, u) {
		t.Fatalf("after replace members []: %v; want the hand-added member kept, the SCIM one removed", got)
	}
	c.do("DELETE", "/Groups/"+gid, nil).want(t, 204)
	c.do("GET", "/Groups/"+gid, nil).wantError(t, 404, "")
	if _, ok := b.emu.Group(n); !ok {
		t.Fatal("DELETE destroyed the GitLab group")
	}
}
