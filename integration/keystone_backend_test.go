package integration_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/caddy-scim/caddy-scim/integration/testenv"
)

func init() {
	moreBackends = append(moreBackends, func(t *testing.T) backend { return keystoneBackend{testenv.Keystone(t)} })
}

// keystoneBackend is the test binary's real OpenStack Keystone (Zed), provisioned
// through the rest adapter's keystone preset.
type keystoneBackend struct{ k *testenv.KeystoneServer }

func (b keystoneBackend) name() string  { return "keystone" }
func (b keystoneBackend) groups() bool  { return true }
func (b keystoneBackend) oneName() bool { return false }
func (b keystoneBackend) adapter(extra string) (string, []string) {
	return fmt.Sprintf("adapter rest {\n\turl %s\n\tpreset keystone\n\ttoken {env.KEYSTONE_TOKEN}\n\tparams domain_id=%s\n%s}",
		b.k.URL, b.k.DomainID, extra), []string{"KEYSTONE_TOKEN=" + b.k.Token}
}
func (b keystoneBackend) proxy() string     { return strings.TrimPrefix(b.k.URL, "http://") }
func (b keystoneBackend) adminName() string { return "admin" }

// keystoneUser is a user as Keystone's identity API answers it, with the extra
// attributes the keystone preset writes.
type keystoneUser struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Enabled    bool   `json:"enabled"`
	Email      string `json:"email"`
	GivenName  string `json:"given_name"`
	FamilyName string `json:"family_name"`
	SCIM       struct {
		ExternalID string `json:"external_id"`
	} `json:"scim"`
}

func (b keystoneBackend) user(t *testing.T, id string) upstreamUser {
	st, raw := b.k.Do(t, "GET", "/v3/users/"+id, nil)
	if st == http.StatusNotFound {
		return upstreamUser{}
	}
	var out struct{ User keystoneUser }
	if st != http.StatusOK || json.Unmarshal(raw, &out) != nil {
		t.Fatalf("keystone user %s: %d %.200s", id, st, raw)
	}
	u := out.User
	return upstreamUser{Exists: true, Email: u.Email, FullName: strings.TrimSpace(u.GivenName + " " + u.FamilyName),
		Blocked: !u.Enabled, State: map[bool]string{true: "enabled", false: "disabled"}[u.Enabled], Linked: u.SCIM.ExternalID}
}

func (b keystoneBackend) count(t *testing.T) int {
	st, raw := b.k.Do(t, "GET", "/v3/users?domain_id="+b.k.DomainID, nil)
	var out struct{ Users []keystoneUser }
	if st != http.StatusOK || json.Unmarshal(raw, &out) != nil {
		t.Fatalf("keystone users: %d %.200s", st, raw)
	}
	return len(out.Users)
}

func (b keystoneBackend) makeUnmanaged(t *testing.T, username, email string) {
	if st, raw := b.k.Do(t, "POST", "/v3/users", map[string]any{"user": map[string]any{
		"name": username, "domain_id": b.k.DomainID, "email": email, "enabled": true}}); st != http.StatusCreated {
		t.Fatalf("creating a user by hand: %d %s", st, raw)
	}
}

func (b keystoneBackend) patch(t *testing.T, id string, fields map[string]any) {
	if st, raw := b.k.Do(t, "PATCH", "/v3/users/"+id, map[string]any{"user": fields}); st != http.StatusOK {
		t.Fatalf("editing user %s: %d %s", id, st, raw)
	}
}

// makeAdmin gives user id the admin role on project admin, as an operator would
// (openstack role add --project admin --user <id> admin): Keystone's administrators
// are role assignments, which the preset reads with each user.
func (b keystoneBackend) makeAdmin(t *testing.T, id string) {
	project, role := b.idOf(t, "projects", "admin"), b.idOf(t, "roles", "admin")
	if st, raw := b.k.Do(t, "PUT", "/v3/projects/"+project+"/users/"+id+"/roles/"+role, nil); st != http.StatusNoContent {
		t.Fatalf("giving %s the admin role: %d %s", id, st, raw)
	}
}

// idOf is the id of the project or role (what) named name.
func (b keystoneBackend) idOf(t *testing.T, what, name string) string {
	st, raw := b.k.Do(t, "GET", "/v3/"+what+"?name="+name, nil)
	var out map[string]json.RawMessage
	var found []struct{ ID string }
	if st != http.StatusOK || json.Unmarshal(raw, &out) != nil || json.Unmarshal(out[what], &found) != nil || len(found) != 1 {
		t.Fatalf("keystone %s named %s: %d %.200s", what, name, st, raw)
	}
	return found[0].ID
}

func (b keystoneBackend) blockByHand(t *testing.T, id string) {
	b.patch(t, id, map[string]any{"enabled": false})
}
func (b keystoneBackend) renameByHand(t *testing.T, id, name string) {
	b.patch(t, id, map[string]any{"name": name})
}

// keystoneGroup reads a group's name and member ids from Keystone itself; ok=false
// when it does not exist.
func keystoneGroup(t *testing.T, k *testenv.KeystoneServer, id string) (name string, members []string, ok bool) {
	t.Helper()
	st, raw := k.Do(t, "GET", "/v3/groups/"+id, nil)
	if st == http.StatusNotFound {
		return "", nil, false
	}
	var g struct{ Group struct{ Name string } }
	if st != http.StatusOK || json.Unmarshal(raw, &g) != nil {
		t.Fatalf("keystone group %s: %d %.200s", id, st, raw)
	}
	st, raw = k.Do(t, "GET", "/v3/groups/"+id+"/users", nil)
	var out struct{ Users []keystoneUser }
	if st != http.StatusOK || json.Unmarshal(raw, &out) != nil {
		t.Fatalf("keystone group %s's users: %d %.200s", id, st, raw)
	}
	for _, u := range out.Users {
		members = append(members, u.ID)
	}
	slices.Sort(members)
	return g.Group.Name, members, true
}

// TestGroupKeystone: Okta's and Entra's group traffic through a real Caddy onto
// Keystone's groups through the rest adapter's keystone preset, checked in
// Keystone. A group made by hand stays invisible and SCIM adds no one to it, also
// when it grants the admin role; its name is taken. A member added in Keystone by
// hand is neither shown nor removed, and an administrator stays where he is, also
// one through a SCIM group an operator gave the admin role.
func TestGroupKeystone(t *testing.T) {
	k := testenv.Keystone(t)
	b := keystoneBackend{k}
	e := start(t, b, "", "")
	c := e.c
	f := runGroupFlow(t, c, "kg", "keystone group", func(t *testing.T, gid string) (string, []string, bool) { return keystoneGroup(t, k, gid) }, nil)
	u, gid, eid := f.users, f.okta, f.entra

	// a group made in Keystone by hand, with the admin role on project admin, is
	// invisible: SCIM adds no one to it, and its name is taken
	hdisp := testenv.UniqueName("Hand Admins ")
	st, raw := k.Do(t, "POST", "/v3/groups", map[string]any{"group": map[string]any{"name": hdisp, "domain_id": k.DomainID}})
	var hg struct{ Group struct{ ID string } }
	if st != http.StatusCreated || json.Unmarshal(raw, &hg) != nil {
		t.Fatalf("a group by hand: %d %s", st, raw)
	}
	hid := hg.Group.ID
	t.Cleanup(func() { k.Do(t, "DELETE", "/v3/groups/"+hid, nil) })
	if st, raw := k.Do(t, "PUT", "/v3/projects/"+b.idOf(t, "projects", "admin")+"/groups/"+hid+"/roles/"+b.idOf(t, "roles", "admin"), nil); st != http.StatusNoContent {
		t.Fatalf("giving the hand-made group the admin role: %d %s", st, raw)
	}
	c.do("GET", "/Groups/"+hid, nil).wantError(t, 404, "")
	c.do("PATCH", "/Groups/"+hid, patchOps(`{"op":"add","path":"members","value":`+memberValues(u[0])+`}`)).wantError(t, 404, "")
	c.do("DELETE", "/Groups/"+hid, nil).wantError(t, 404, "")
	f.want(t, hid, hdisp)
	f.onlyOurs(t)
	c.do("POST", "/Groups", map[string]any{"schemas": []string{groupSchema}, "displayName": hdisp}).wantError(t, 409, "uniqueness")
	c.do("PATCH", "/Groups/"+eid, patchOps(`{"op":"replace","path":"displayName","value":"`+hdisp+`"}`)).wantError(t, 409, "uniqueness")
	f.want(t, eid, f.entraName, u[1])

	// a member added in Keystone by hand is not shown, and a members replace keeps it
	hand := testenv.UniqueName("kghand")
	b.makeUnmanaged(t, hand, hand+"@example.com")
	st, raw = k.Do(t, "GET", "/v3/users?domain_id="+k.DomainID+"&name="+hand, nil)
	var found struct{ Users []keystoneUser }
	if st != http.StatusOK || json.Unmarshal(raw, &found) != nil || len(found.Users) != 1 {
		t.Fatalf("the hand-made user: %d %s", st, raw)
	}
	handID := found.Users[0].ID
	if st, raw := k.Do(t, "PUT", "/v3/groups/"+eid+"/users/"+handID, nil); st != http.StatusNoContent {
		t.Fatalf("adding a user to %s by hand: %d %s", eid, st, raw)
	}
	if g := c.do("GET", "/Groups/"+eid, nil).want(t, 200).JSON; len(g["members"].([]any)) != 1 {
		t.Fatalf("group %s shows members %v; want only %s", eid, g["members"], u[1])
	}
	c.do("PATCH", "/Groups/"+eid, patchOps(`{"op":"replace","path":"members","value":`+memberValues(u[0])+`}`)).want(t, 204)
	f.want(t, eid, f.entraName, u[0], handID)

	// an administrator (made one in Keystone) is neither added nor removed
	b.makeAdmin(t, u[0])
	c.do("PATCH", "/Groups/"+eid, patchOps(`{"op":"Remove","path":"members","value":`+memberValues(u[0])+`}`)).want(t, 204)
	c.do("PATCH", "/Groups/"+gid, patchOps(`{"op":"Add","path":"members","value":`+memberValues(u[0])+`}`)).want(t, 204)
	f.want(t, eid, f.entraName, u[0], handID)
	f.want(t, gid, f.oktaName, u[1], u[2])

	// what the README warns of: an operator who gives a SCIM group the admin role
	// makes its members administrators, whom SCIM then leaves alone (no group
	// change, no deprovisioning); the preset cannot see a group's role assignments,
	// so the group itself is still SCIM's: its DELETE below takes the role away
	// with it (Keystone deletes a group's assignments)
	if st, raw := k.Do(t, "PUT", "/v3/projects/"+b.idOf(t, "projects", "admin")+"/groups/"+gid+"/roles/"+b.idOf(t, "roles", "admin"), nil); st != http.StatusNoContent {
		t.Fatalf("giving group %s the admin role: %d %s", gid, st, raw)
	}
	c.do("PATCH", "/Groups/"+gid, patchOps(`{"op":"Remove","path":"members","value":`+memberValues(u[1])+`}`)).want(t, 204)
	f.want(t, gid, f.oktaName, u[1], u[2])
	c.do("PATCH", "/Users/"+u[1], patchOps(`{"op":"replace","value":{"active":false}}`)).wantError(t, 403, "")
	if b.user(t, u[1]).Blocked {
		t.Fatalf("SCIM deprovisioned %s, an administrator through group %s", u[1], gid)
	}

	f.deleteBoth(t)
}
