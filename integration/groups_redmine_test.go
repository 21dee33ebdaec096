package integration_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/caddy-scim/caddy-scim/integration/testenv"
)

// redmineGroup reads a group's name and member ids from Redmine itself; ok=false when
// it does not exist.
func redmineGroup(t *testing.T, r *testenv.RedmineServer, id string) (name string, members []string, ok bool) {
	t.Helper()
	st, raw := r.Do(t, "GET", "/groups/"+id+".json?include=users", nil)
	if st == 404 {
		return "", nil, false
	}
	var out struct {
		Group struct {
			Name  string
			Users []struct{ ID int }
		}
	}
	if st != 200 || json.Unmarshal(raw, &out) != nil {
		t.Fatalf("redmine group %s: %d %.200s", id, st, raw)
	}
	for _, u := range out.Group.Users {
		members = append(members, fmt.Sprint(u.ID))
	}
	slices.Sort(members)
	return out.Group.Name, members, true
}

// TestGroupRedmine: Okta's and Entra's group traffic through a real Caddy onto
// Redmine's groups through the rest adapter's redmine preset, checked in Redmine.
func TestGroupRedmine(t *testing.T) {
	r := testenv.Redmine(t)
	e := start(t, redmineBackend{r}, "", "")
	c := e.c
	var u []string
	for i := range 3 {
		name := testenv.UniqueName(fmt.Sprintf("rg%d", i))
		u = append(u, str(c.do("POST", "/Users", oktaUser(name+"@example.com", "ext-"+name)).want(t, 201).JSON, "id"))
	}
	slices.Sort(u)
	want := func(gid, name string, ids ...string) {
		t.Helper()
		got, members, ok := redmineGroup(t, r, gid)
		slices.Sort(ids)
		if !ok || got != name || !slices.Equal(members, ids) {
			t.Fatalf("redmine group %s: %q %v (exists %v); want %q %v", gid, got, members, ok, name, ids)
		}
	}

	// Okta: create empty, rename by a pathless replace, add, remove by filter
	disp := testenv.UniqueName("Okta Group ")
	gid := str(c.do("POST", "/Groups", map[string]any{"schemas": []string{groupSchema}, "displayName": disp, "members": []any{}}).want(t, 201).JSON, "id")
	want(gid, disp)
	c.do("PATCH", "/Groups/"+gid, patchOps(`{"op":"replace","value":{"id":"`+gid+`","displayName":"`+disp+` Renamed"}}`)).want(t, 204)
	c.do("PATCH", "/Groups/"+gid, patchOps(`{"op":"add","path":"members","value":`+memberValues(u[0], u[1])+`}`)).want(t, 204)
	want(gid, disp+" Renamed", u[0], u[1])
	c.do("PATCH", "/Groups/"+gid, patchOps(`{"op":"remove","path":"members[value eq \"`+u[0]+`\"]"}`,
		`{"op":"add","path":"members","value":`+memberValues(u[2])+`}`)).want(t, 204)
	want(gid, disp+" Renamed", u[1], u[2])
	if ur := c.do("GET", "/Users/"+u[1]+"?attributes=groups", nil).want(t, 200); !json.Valid(ur.Body) || !slices.ContainsFunc(ur.JSON["groups"].([]any), func(g any) bool {
		return g.(map[string]any)["value"] == gid
	}) {
		t.Fatalf("the user's groups lack %s: %s", gid, ur.Body)
	}

	// Entra: POST with externalId and members, Add several, Remove a value list
	ext := testenv.UniqueName("ext-grp-")
	edisp := testenv.UniqueName("Entra Group ")
	eid := str(c.do("POST", "/Groups", map[string]any{"schemas": []string{groupSchema}, "displayName": edisp, "externalId": ext,
		"members": []any{map[string]any{"value": u[0]}}}).want(t, 201).JSON, "id")
	want(eid, edisp, u[0])
	if got := resources(t, c.do("GET", "/Groups?excludedAttributes=members&"+filterQuery(`externalId eq "`+ext+`"`), nil).want(t, 200)); len(got) != 1 || str(got[0], "id") != eid {
		t.Fatalf("group by externalId: %v", got)
	}
	c.do("PATCH", "/Groups/"+eid, patchOps(`{"op":"Add","path":"members","value":`+memberValues(u[1], u[2])+`}`)).want(t, 204)
	want(eid, edisp, u...)
	c.do("PATCH", "/Groups/"+eid, patchOps(`{"op":"Remove","path":"members","value":`+memberValues(u[0], u[2])+`}`)).want(t, 204)
	want(eid, edisp, u[1])

	// a group made in Redmine by hand is invisible to SCIM
	if st, raw := r.Do(t, "POST", "/groups.json", map[string]any{"group": map[string]any{"name": testenv.UniqueName("Hand Group ")}}); st != 201 {
		t.Fatalf("a group by hand: %d %s", st, raw)
	}
	for _, g := range resources(t, c.do("GET", "/Groups", nil).want(t, 200)) {
		if id := str(g, "id"); id != gid && id != eid {
			t.Errorf("a group SCIM did not create is listed: %v", g)
		}
	}

	for _, id := range []string{gid, eid} {
		c.do("DELETE", "/Groups/"+id, nil).want(t, 204)
		if _, _, ok := redmineGroup(t, r, id); ok {
			t.Errorf("redmine group %s still exists after DELETE", id)
		}
	}
}
