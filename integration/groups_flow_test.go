package integration_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/caddy-scim/caddy-scim/integration/testenv"
)

// appGroup reads a group as the application keeps it: its name and member ids
// (sorted); ok=false when it does not exist.
type appGroup func(t *testing.T, gid string) (name string, members []string, ok bool)

// groupFlow is the group traffic every application with groups gets through a real
// Caddy (the rest presets' group tests share it): three users, Okta's sequence and
// Entra's, each step checked in the application.
type groupFlow struct {
	c                *scimClient
	read             appGroup
	what             string   // the application's word for a group, for messages
	users            []string // three SCIM user ids
	okta, oktaName   string   // Okta's group after the sequence: users[1], users[2]
	entra, entraName string   // Entra's group after the sequence: users[1]
	entraExternalID  string
}

// want checks group gid in the application: its name and exactly members ids.
func (f *groupFlow) want(t *testing.T, gid, name string, ids ...string) {
	t.Helper()
	got, members, ok := f.read(t, gid)
	ids = slices.Clone(ids)
	slices.Sort(ids)
	if !ok || got != name || !slices.Equal(members, ids) {
		t.Fatalf("%s %s: %q %v (exists %v); want %q %v", f.what, gid, got, members, ok, name, ids)
	}
}

// runGroupFlow creates the users (names from prefix), then runs Okta's sequence
// (create empty, rename by a pathless replace, add, remove by a filter, the user's
// groups on request), afterOkta (nil: nothing), and Entra's (POST with externalId
// and a member, found by externalId, Add several, Remove a value list).
func runGroupFlow(t *testing.T, c *scimClient, prefix, what string, read appGroup, afterOkta func(f *groupFlow)) *groupFlow {
	t.Helper()
	f := &groupFlow{c: c, read: read, what: what}
	for i := range 3 {
		name := testenv.UniqueName(fmt.Sprintf("%s%d", prefix, i))
		f.users = append(f.users, str(c.do("POST", "/Users", oktaUser(name+"@example.com", "ext-"+name)).want(t, 201).JSON, "id"))
	}
	u := f.users

	disp := testenv.UniqueName("Okta Group ")
	f.okta, f.oktaName = str(c.do("POST", "/Groups", map[string]any{"schemas": []string{groupSchema}, "displayName": disp, "members": []any{}}).want(t, 201).JSON, "id"), disp+" Renamed"
	f.want(t, f.okta, disp)
	c.do("PATCH", "/Groups/"+f.okta, patchOps(`{"op":"replace","value":{"id":"`+f.okta+`","displayName":"`+f.oktaName+`"}}`)).want(t, 204)
	c.do("PATCH", "/Groups/"+f.okta, patchOps(`{"op":"add","path":"members","value":`+memberValues(u[0], u[1])+`}`)).want(t, 204)
	f.want(t, f.okta, f.oktaName, u[0], u[1])
	c.do("PATCH", "/Groups/"+f.okta, patchOps(`{"op":"remove","path":"members[value eq \"`+u[0]+`\"]"}`,
		`{"op":"add","path":"members","value":`+memberValues(u[2])+`}`)).want(t, 204)
	f.want(t, f.okta, f.oktaName, u[1], u[2])
	if ur := c.do("GET", "/Users/"+u[1]+"?attributes=groups", nil).want(t, 200); !slices.ContainsFunc(ur.JSON["groups"].([]any), func(g any) bool {
		return g.(map[string]any)["value"] == f.okta
	}) {
		t.Fatalf("the user's groups lack %s: %s", f.okta, ur.Body)
	}
	if afterOkta != nil {
		afterOkta(f)
	}

	f.entraExternalID = testenv.UniqueName("ext-grp-")
	f.entraName = testenv.UniqueName("Entra Group ")
	f.entra = str(c.do("POST", "/Groups", map[string]any{"schemas": []string{groupSchema}, "displayName": f.entraName, "externalId": f.entraExternalID,
		"members": []any{map[string]any{"value": u[0]}}}).want(t, 201).JSON, "id")
	f.want(t, f.entra, f.entraName, u[0])
	if got := resources(t, c.do("GET", "/Groups?excludedAttributes=members&"+filterQuery(`externalId eq "`+f.entraExternalID+`"`), nil).want(t, 200)); len(got) != 1 || str(got[0], "id") != f.entra {
		t.Fatalf("group by externalId: %v", got)
	}
	c.do("PATCH", "/Groups/"+f.entra, patchOps(`{"op":"Add","path":"members","value":`+memberValues(u[1], u[2])+`}`)).want(t, 204)
	f.want(t, f.entra, f.entraName, u...)
	c.do("PATCH", "/Groups/"+f.entra, patchOps(`{"op":"Remove","path":"members","value":`+memberValues(u[0], u[2])+`}`)).want(t, 204)
	f.want(t, f.entra, f.entraName, u[1])
	return f
}

// onlyOurs checks that /Groups lists SCIM's two groups and nothing made by hand.
func (f *groupFlow) onlyOurs(t *testing.T) {
	t.Helper()
	for _, g := range resources(t, f.c.do("GET", "/Groups", nil).want(t, 200)) {
		if id := str(g, "id"); id != f.okta && id != f.entra {
			t.Errorf("a group SCIM did not create is listed: %v", g)
		}
	}
}

// deleteBoth DELETEs the two groups and checks they are gone from the application.
func (f *groupFlow) deleteBoth(t *testing.T) {
	t.Helper()
	for _, id := range []string{f.okta, f.entra} {
		f.c.do("DELETE", "/Groups/"+id, nil).want(t, 204)
		if _, _, ok := f.read(t, id); ok {
			t.Errorf("%s %s still exists after DELETE", f.what, id)
		}
	}
}
