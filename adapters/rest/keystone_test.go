package rest_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/adapters/adaptertest"
	"github.com/caddy-scim/caddy-scim/adapters/adaptertest/roundtrip"
	"github.com/caddy-scim/caddy-scim/adapters/rest"
	"github.com/caddy-scim/caddy-scim/adapters/upstream"
	"github.com/caddy-scim/caddy-scim/integration/testenv"
)

// keystone calls the real Keystone identity API as its administrator, behind the
// adapter's back.
func keystone(t *testing.T, k *testenv.KeystoneServer, method, path string, body any) (int, map[string]any) {
	t.Helper()
	return decoded(k.Do(t, method, path, body))
}

func newKeystoneAdapter(t *testing.T, k *testenv.KeystoneServer) *rest.Adapter {
	t.Helper()
	return provisioned(t, &rest.Adapter{Config: upstream.Config{URL: k.URL, Token: k.Token}, Preset: "keystone", Params: k.Params()})
}

// keystoneUnmanaged creates users by hand, as an operator would (openstack user
// create --email): no SCIM marks.
func keystoneUnmanaged(k *testenv.KeystoneServer) func(t *testing.T, username, email string) string {
	return func(t *testing.T, username, email string) string {
		st, out := keystone(t, k, "POST", "/v3/users", map[string]any{"user": map[string]any{
			"name": username, "domain_id": k.DomainID, "email": email, "enabled": true}})
		if st != http.StatusCreated {
			t.Fatalf("creating a user by hand: %d %v", st, out)
		}
		return out["user"].(map[string]any)["id"].(string)
	}
}

// keystoneUserID is the id of the user named name in the preset's domain.
func keystoneUserID(t *testing.T, k *testenv.KeystoneServer, name string) string {
	t.Helper()
	st, out := keystone(t, k, "GET", "/v3/users?domain_id="+k.DomainID+"&name="+name, nil)
	users, _ := out["users"].([]any)
	if st != http.StatusOK || len(users) != 1 {
		t.Fatalf("looking up user %s: %d %v", name, st, out)
	}
	return users[0].(map[string]any)["id"].(string)
}

// keystonePatch changes user id by hand, as an administrator would.
func keystonePatch(t *testing.T, k *testenv.KeystoneServer, id string, user map[string]any) {
	t.Helper()
	if st, out := keystone(t, k, "PATCH", "/v3/users/"+id, map[string]any{"user": user}); st != http.StatusOK {
		t.Fatalf("changing user %s by hand: %d %v", id, st, out)
	}
}

// TestKeystonePreset: the preset loads as caddy scim check-mapping reads it, keeping
// the tenant of users and of groups, and a listing Keystone cut short ([identity]
// list_limit: "truncated": true) is an error, never a partial list from which SCIM
// would miss an e-mail, an externalId or a group.
func TestKeystonePreset(t *testing.T) {
	presetSummary(t, "keystone", "tenants: users' kept in scim.tenant, groups' in scim.tenant")

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/v3/groups" {
			_, _ = w.Write([]byte(`{"groups": [{"id": "g1", "name": "Ops", "domain_id": "default", "scim": {"managed": true}}],
				"links": {"next": null, "self": "x", "previous": null}, "truncated": true}`))
			return
		}
		_, _ = w.Write([]byte(`{"users": [{"id": "a1", "name": "ann", "enabled": true, "scim": {"managed": true, "user_name": "ann"}}],
			"links": {"next": null, "self": "x", "previous": null}, "truncated": true}`))
	}))
	defer srv.Close()
	a := provisioned(t, &rest.Adapter{Config: upstream.Config{URL: srv.URL, Token: "t"}, Preset: "keystone",
		Params: map[string]string{"domain_id": "default"}})
	if recs, _, err := a.ListUsers(context.Background(), adapters.Page{Limit: 10}); err == nil {
		t.Fatalf("a truncated listing read as %d users; want an error", len(recs))
	}
	if gs, _, err := a.ListGroups(context.Background(), adapters.Page{Limit: 10}, false); err == nil {
		t.Fatalf("a truncated group listing read as %d groups; want an error", len(gs))
	}
}

// keystoneLax names the two conformance cases whose facts Keystone never reports, so
// that TestKeystoneConformance runs the rest: it keeps user names that differ only in
// case apart (on SQLite; MySQL's collation refuses them), and an e-mail is a free
// extra attribute, neither unique nor checked. The service's lookups (module/provision)
// refuse a taken userName or e-mail before a create; TestKeystoneLax shows Keystone's
// side, and fails once Keystone refuses them (then the suite can run whole).
const keystoneLax = "DuplicateUserName|InvalidEmail"

// keystoneChild carries the parent's Keystone (url, token, domain) to the process
// that runs the suite without the keystoneLax cases.
const keystoneChild = "CADDY_SCIM_KEYSTONE_CONFORMANCE"

// TestKeystoneConformance runs the shared adapter suite against a real Keystone
// (Zed) through the keystone preset, but for the keystoneLax cases: go test skips a
// subtest only by its -test.skip flag, so the suite runs in a child test process.
func TestKeystoneConformance(t *testing.T) {
	env := os.Getenv(keystoneChild)
	if env == "" {
		k := testenv.Keystone(t)
		args := []string{"-test.run=^TestKeystoneConformance$", "-test.skip=^TestKeystoneConformance$/^(" + keystoneLax + ")$", "-test.count=1"}
		if testing.Verbose() {
			args = append(args, "-test.v")
		}
		cmd := exec.Command(os.Args[0], args...)
		cmd.Env = append(os.Environ(), keystoneChild+"="+strings.Join([]string{k.URL, k.Token, k.DomainID}, " "))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("the suite without %s: %v\n%s", keystoneLax, err, out)
		}
		t.Logf("the suite without %s (Keystone does not refuse them: TestKeystoneLax):\n%s", keystoneLax, out)
		return
	}
	f := strings.Fields(env)
	k := &testenv.KeystoneServer{URL: f[0], Token: f[1], DomainID: f[2]}
	adaptertest.Run(t, adaptertest.Harness{
		Adapter:       newKeystoneAdapter(t, k),
		MakeUnmanaged: keystoneUnmanaged(k),
		Admin:         func(t *testing.T) (string, string) { return keystoneUserID(t, k, "admin"), "admin" },
		BlockByHand:   func(t *testing.T, id string) { keystonePatch(t, k, id, map[string]any{"enabled": false}) },
		Upstream: adaptertest.Upstream{
			UserExists: func(t *testing.T, id string) bool {
				st, _ := keystone(t, k, "GET", "/v3/users/"+id, nil)
				if st != http.StatusOK && st != http.StatusNotFound {
					t.Fatalf("GET user %s: %d", id, st)
				}
				return st == http.StatusOK
			},
		},
	})
}

// TestKeystoneLax: what the keystoneLax cases expect Keystone to refuse, it creates:
// a userName taken in another case, a taken e-mail, an e-mail without '@'.
func TestKeystoneLax(t *testing.T) {
	a := newKeystoneAdapter(t, testenv.Keystone(t))
	ctx := context.Background()
	name := testenv.UniqueName("lax")
	mk := func(userName, email string) {
		t.Helper()
		u := &adapters.User{UserName: userName, Active: true, Emails: []adapters.MultiValue{{Value: email, Type: "work", Primary: true}}}
		if _, err := a.CreateUser(ctx, u); err != nil {
			t.Fatalf("creating %q <%s>: %v; Keystone refuses it now: drop the case from keystoneLax", userName, email, err)
		}
	}
	mk(name, name+"@example.com")
	mk(strings.ToUpper(name), name+"-2@example.com")
	mk(name+"b", name+"@example.com")
	mk(name+"c", "not-an-address")
}

// TestKeystoneRoundTrip: every attribute the preset advertises round-trips exactly
// through POST, PUT and the PATCH forms of Okta and Entra.
func TestKeystoneRoundTrip(t *testing.T) {
	roundtrip.Run(t, newKeystoneAdapter(t, testenv.Keystone(t)))
}

// TestKeystoneIdentityOfRecord: the keystone preset keeps the userName of record and
// the tenant in the user's scim extra attribute, which a rename of the user (name)
// leaves alone.
func TestKeystoneIdentityOfRecord(t *testing.T) {
	k := testenv.Keystone(t)
	identityOfRecord(t, realApp{
		adapter: func(t *testing.T, tenant string) *rest.Adapter {
			return withTenant(t, newKeystoneAdapter(t, k), tenant)
		},
		rename:      func(t *testing.T, id, name string) { keystonePatch(t, k, id, map[string]any{"name": name}) },
		blockByHand: func(t *testing.T, id string) { keystonePatch(t, k, id, map[string]any{"enabled": false}) },
	})
}

// TestKeystoneGroups runs the shared group suite against Keystone's groups.
func TestKeystoneGroups(t *testing.T) {
	a := newKeystoneAdapter(t, testenv.Keystone(t))
	adaptertest.RunGroups(t, adaptertest.GroupHarness{Adapter: a, Users: a})
}

// keystoneGroup reads group id from Keystone itself, with its member ids, sorted;
// ok=false when it does not exist.
func keystoneGroup(t *testing.T, k *testenv.KeystoneServer, id string) (group map[string]any, members []string, ok bool) {
	t.Helper()
	st, out := keystone(t, k, "GET", "/v3/groups/"+id, nil)
	if st == http.StatusNotFound {
		return nil, nil, false
	}
	if st != http.StatusOK {
		t.Fatalf("keystone group %s: %d %v", id, st, out)
	}
	group, _ = out["group"].(map[string]any)
	st, out = keystone(t, k, "GET", "/v3/groups/"+id+"/users", nil)
	users, _ := out["users"].([]any)
	if st != http.StatusOK {
		t.Fatalf("keystone group %s's users: %d %v", id, st, out)
	}
	for _, u := range users {
		members = append(members, u.(map[string]any)["id"].(string))
	}
	slices.Sort(members)
	return group, members, true
}

// keystoneIDOf is the id of the project or role (what) named name.
func keystoneIDOf(t *testing.T, k *testenv.KeystoneServer, what, name string) string {
	t.Helper()
	st, out := keystone(t, k, "GET", "/v3/"+what+"?name="+name, nil)
	found, _ := out[what].([]any)
	if st != http.StatusOK || len(found) != 1 {
		t.Fatalf("keystone %s named %s: %d %v", what, name, st, out)
	}
	return found[0].(map[string]any)["id"].(string)
}

// keystoneHandGroup creates a group in the preset's domain by hand, as an operator
// would (openstack group create): no SCIM marks. It is deleted when t ends, with its
// role assignments.
func keystoneHandGroup(t *testing.T, k *testenv.KeystoneServer, name string) string {
	t.Helper()
	st, out := keystone(t, k, "POST", "/v3/groups", map[string]any{"group": map[string]any{"name": name, "domain_id": k.DomainID}})
	if st != http.StatusCreated {
		t.Fatalf("creating a group by hand: %d %v", st, out)
	}
	id := out["group"].(map[string]any)["id"].(string)
	t.Cleanup(func() { k.Do(t, "DELETE", "/v3/groups/"+id, nil) })
	return id
}

// keystoneAddByHand adds user to group in Keystone, as an operator would
// (openstack group add user).
func keystoneAddByHand(t *testing.T, k *testenv.KeystoneServer, group, user string) {
	t.Helper()
	if st, out := keystone(t, k, "PUT", "/v3/groups/"+group+"/users/"+user, nil); st != http.StatusNoContent {
		t.Fatalf("adding %s to group %s by hand: %d %v", user, group, st, out)
	}
}

// TestKeystoneGroupsInKeystone: what the preset keeps in Keystone and what it
// leaves alone. A group is made in the preset's domain with SCIM's marks and the
// tenant in its extra attribute scim, which a rename writes whole again (Keystone's
// PATCH replaces an extra attribute); another tenant's handler sees none of it. A
// name the domain already has is taken (displayName). A group made by hand is
// invisible, also when it grants the admin role (its members read as
// administrators): SCIM cannot add anyone to it. Members Keystone keeps that SCIM
// did not add are read (the service shows only managed ones) and never removed.
func TestKeystoneGroupsInKeystone(t *testing.T) {
	k := testenv.Keystone(t)
	ctx := context.Background()
	acme, globex := withTenant(t, newKeystoneAdapter(t, k), "acme"), withTenant(t, newKeystoneAdapter(t, k), "globex")
	name := testenv.UniqueName("kg")
	g, err := acme.CreateGroup(ctx, &adapters.Group{DisplayName: name, ExternalID: "ext-" + name})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = acme.DeleteGroup(ctx, g.ID) })
	marks := func(what, wantName, wantExt string) {
		t.Helper()
		kg, _, ok := keystoneGroup(t, k, g.ID)
		scim, _ := kg["scim"].(map[string]any)
		if !ok || kg["name"] != wantName || kg["domain_id"] != k.DomainID || kg["description"] != "Provisioned by SCIM" ||
			scim["managed"] != true || scim["external_id"] != wantExt || scim["tenant"] != "acme" {
			t.Fatalf("%s: Keystone keeps group %s as %v; want %q in domain %s, scim {managed true, external_id %q, tenant acme}",
				what, g.ID, kg, wantName, k.DomainID, wantExt)
		}
	}
	marks("after CreateGroup", name, "ext-"+name)
	if _, err := acme.UpdateGroup(ctx, g.ID, &adapters.Group{DisplayName: name + " B", ExternalID: "ext2-" + name}); err != nil {
		t.Fatal(err)
	}
	marks("after UpdateGroup", name+" B", "ext2-"+name)

	for _, q := range []adapters.Lookup{{Kind: adapters.ByID, Value: g.ID}, {Kind: adapters.ByDisplayName, Value: name + " B"},
		{Kind: adapters.ByExternalID, Value: "ext2-" + name}} {
		if gs, err := globex.FindGroups(ctx, q, false); err != nil || len(gs) != 0 {
			t.Errorf("globex's FindGroups(%v) = %v, %v; want none", q, gs, err)
		}
	}
	if err := globex.DeleteGroup(ctx, g.ID); !errors.Is(err, adapters.ErrNotFound) {
		t.Errorf("globex's DeleteGroup of acme's group: %v; want adapters.ErrNotFound", err)
	}

	// a hand-made group that grants the admin role on project admin
	handName := testenv.UniqueName("Hand Admins ")
	hand := keystoneHandGroup(t, k, handName)
	project, role := keystoneIDOf(t, k, "projects", "admin"), keystoneIDOf(t, k, "roles", "admin")
	if st, out := keystone(t, k, "PUT", "/v3/projects/"+project+"/groups/"+hand+"/roles/"+role, nil); st != http.StatusNoContent {
		t.Fatalf("giving the hand-made group the admin role: %d %v", st, out)
	}
	_, err = acme.CreateGroup(ctx, &adapters.Group{DisplayName: handName})
	if f, ok := adapters.FactOf(err); !ok || f.Fact != adapters.Taken || f.Field != "displayName" {
		t.Errorf("CreateGroup of the hand-made group's name: %v; want taken, displayName", err)
	}
	_, err = acme.UpdateGroup(ctx, g.ID, &adapters.Group{DisplayName: handName})
	if f, ok := adapters.FactOf(err); !ok || f.Fact != adapters.Taken || f.Field != "displayName" {
		t.Errorf("renaming a group to the hand-made group's name: %v; want taken, displayName", err)
	}

	var users []string
	for i := range 3 {
		rec, err := acme.CreateUser(ctx, &adapters.User{UserName: testenv.UniqueName(fmt.Sprintf("kgu%d", i)), Active: true})
		if err != nil {
			t.Fatal(err)
		}
		users = append(users, rec.User.ID)
	}
	boss := users[2]
	keystoneAddByHand(t, k, hand, boss)
	if recs, err := acme.FindUsers(ctx, adapters.Lookup{Kind: adapters.ByID, Value: boss}); err != nil || len(recs) != 1 || !recs[0].Admin {
		t.Fatalf("a member of a group with the admin role reads as %+v, %v; want an administrator", recs, err)
	}
	for _, q := range []adapters.Lookup{{Kind: adapters.ByID, Value: hand}, {Kind: adapters.ByDisplayName, Value: handName}} {
		if gs, err := acme.FindGroups(ctx, q, true); err != nil || len(gs) != 0 {
			t.Errorf("FindGroups(%v) of the hand-made group = %v, %v; want none", q, gs, err)
		}
	}
	if err := acme.AddMembers(ctx, hand, users[:2]); !errors.Is(err, adapters.ErrNotFound) {
		t.Errorf("AddMembers to the hand-made admin group: %v; want adapters.ErrNotFound", err)
	}
	if err := acme.RemoveMembers(ctx, hand, []string{boss}); !errors.Is(err, adapters.ErrNotFound) {
		t.Errorf("RemoveMembers from the hand-made admin group: %v; want adapters.ErrNotFound", err)
	}
	if err := acme.DeleteGroup(ctx, hand); !errors.Is(err, adapters.ErrNotFound) {
		t.Errorf("DeleteGroup of the hand-made admin group: %v; want adapters.ErrNotFound", err)
	}
	if _, members, ok := keystoneGroup(t, k, hand); !ok || !slices.Equal(members, []string{boss}) {
		t.Fatalf("the hand-made admin group: members %v (exists %v); want only %s", members, ok, boss)
	}

	// members SCIM did not add are read, and stay
	stranger := keystoneUnmanaged(k)(t, testenv.UniqueName("kgstranger"), testenv.UniqueName("kgs")+"@example.com")
	keystoneAddByHand(t, k, g.ID, stranger)
	if err := acme.AddMembers(ctx, g.ID, users[:2]); err != nil {
		t.Fatal(err)
	}
	if err := acme.RemoveMembers(ctx, g.ID, users[:1]); err != nil {
		t.Fatal(err)
	}
	want := []string{users[1], stranger}
	slices.Sort(want)
	if _, members, _ := keystoneGroup(t, k, g.ID); !slices.Equal(members, want) {
		t.Fatalf("Keystone's members of %s: %v; want %v", g.ID, members, want)
	}
	gs, err := acme.FindGroups(ctx, adapters.Lookup{Kind: adapters.ByID, Value: g.ID}, true)
	if err != nil || len(gs) != 1 {
		t.Fatalf("FindGroups(%s): %v, %v", g.ID, gs, err)
	}
	var read []string
	for _, m := range gs[0].Members {
		read = append(read, m.Value)
	}
	slices.Sort(read)
	if !slices.Equal(read, want) {
		t.Errorf("the adapter reads members %v; want %v (all Keystone keeps)", read, want)
	}

	// a user's groups are the managed ones of the tenant
	keystoneAddByHand(t, k, hand, users[1])
	refs, err := acme.UserGroups(ctx, users[1])
	if err != nil || len(refs) != 1 || refs[0].Value != g.ID || refs[0].Display != name+" B" {
		t.Errorf("UserGroups(%s) = %+v, %v; want only %s (%q)", users[1], refs, err, g.ID, name+" B")
	}
	if refs, err := globex.UserGroups(ctx, users[1]); err != nil || len(refs) != 0 {
		t.Errorf("globex's UserGroups(%s) = %+v, %v; want none", users[1], refs, err)
	}
}
