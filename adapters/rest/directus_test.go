package rest_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/caddy-scim/caddy-scim/adapters"
	"github.com/caddy-scim/caddy-scim/adapters/adaptertest"
	"github.com/caddy-scim/caddy-scim/adapters/adaptertest/roundtrip"
	"github.com/caddy-scim/caddy-scim/adapters/rest"
	"github.com/caddy-scim/caddy-scim/adapters/upstream"
	"github.com/caddy-scim/caddy-scim/integration/testenv"
)

// directus calls the real Directus API as its administrator, behind the adapter's
// back.
func directus(t *testing.T, d *testenv.DirectusServer, method, path string, body any) (int, map[string]any) {
	t.Helper()
	return decoded(d.Do(t, method, path, body))
}

func newDirectusAdapter(t *testing.T, d *testenv.DirectusServer) *rest.Adapter {
	t.Helper()
	return provisioned(t, &rest.Adapter{Config: upstream.Config{URL: d.URL, Token: d.Token}, Preset: "directus"})
}

// directusUnmanaged creates accounts by hand, as an operator would: no SCIM marks.
// Directus has no usernames, so the operator fills in the username field the preset
// reads (scim_user_name, with its lower-case key), as for an account SCIM should
// recognise by userName.
func directusUnmanaged(d *testenv.DirectusServer) func(t *testing.T, username, email string) string {
	return func(t *testing.T, username, email string) string {
		st, out := directus(t, d, "POST", "/users?fields=id", map[string]any{"email": email, "first_name": "Hand", "last_name": "Made",
			"password": "Aa1!hand-made-password", "status": "active", "scim_user_name": username, "scim_user_key": strings.ToLower(username)})
		data, _ := out["data"].(map[string]any)
		id, _ := data["id"].(string)
		if st != http.StatusOK || id == "" {
			t.Fatalf("creating an account by hand: %d %v", st, out)
		}
		return id
	}
}

// directusPatch changes account id by hand, as an administrator would.
func directusPatch(t *testing.T, d *testenv.DirectusServer, id string, fields map[string]any) {
	t.Helper()
	if st, out := directus(t, d, "PATCH", "/users/"+id+"?fields=id", fields); st != http.StatusOK {
		t.Fatalf("changing account %s by hand: %d %v", id, st, out)
	}
}

// TestDirectusPresetChecks: the shipped preset loads as check-mapping reads it, keeps
// SCIM's marks in Directus and deprovisions through the status actions.
func TestDirectusPresetChecks(t *testing.T) {
	presetSummary(t, "directus", "ids uuid", "kept in Directus", "users.deactivate", "fixed by the application", "kept in scim_state.tenant")
}

// TestDirectusConformance runs the shared adapter suite against a real Directus 12
// through the directus preset. Its Delete case fails until the rest adapter can tell
// "not found" from an answer other than 404: Directus answers 403 FORBIDDEN for an id
// it does not have, so the preset reads a user through a listing filtered on the id,
// whose empty answer the adapter reports as a bad answer, not as no user.
func TestDirectusConformance(t *testing.T) {
	d := testenv.Directus(t)
	a := newDirectusAdapter(t, d)
	adaptertest.Run(t, adaptertest.Harness{
		Adapter:       a,
		MakeUnmanaged: directusUnmanaged(d),
		Admin:         func(t *testing.T) (string, string) { return d.AdminID, d.AdminName },
		BlockByHand:   func(t *testing.T, id string) { directusPatch(t, d, id, map[string]any{"status": "suspended"}) },
		Upstream: adaptertest.Upstream{
			UserExists: func(t *testing.T, id string) bool {
				// Directus answers 403 for an id it does not have, as for one it hides
				st, _ := directus(t, d, "GET", "/users/"+id+"?fields=id", nil)
				if st != http.StatusOK && st != http.StatusForbidden {
					t.Fatalf("GET user %s: %d", id, st)
				}
				return st == http.StatusOK
			},
		},
	})
}

// TestDirectusGroups runs the shared group suite against Directus' policies.
func TestDirectusGroups(t *testing.T) {
	a := newDirectusAdapter(t, testenv.Directus(t))
	adaptertest.RunGroups(t, adaptertest.GroupHarness{Adapter: a, Users: a})
}

// TestDirectusRoundTrip: every attribute the preset advertises round-trips exactly
// through POST, PUT and the PATCH forms of Okta and Entra.
func TestDirectusRoundTrip(t *testing.T) {
	roundtrip.Run(t, newDirectusAdapter(t, testenv.Directus(t)))
}

// TestDirectusIdentityOfRecord: the userName of record is scim_user_name, which an
// account's owner cannot change (Directus lets users edit only their profile
// fields), and the tenant rides in scim_state; a policy SCIM made for one tenant
// is invisible to another.
func TestDirectusIdentityOfRecord(t *testing.T) {
	d := testenv.Directus(t)
	identityOfRecord(t, realApp{
		adapter: func(t *testing.T, tenant string) *rest.Adapter {
			return withTenant(t, newDirectusAdapter(t, d), tenant)
		},
		rename: func(t *testing.T, id, name string) {
			directusPatch(t, d, id, map[string]any{"scim_user_name": name, "scim_user_key": strings.ToLower(name)})
		},
		blockByHand: func(t *testing.T, id string) { directusPatch(t, d, id, map[string]any{"status": "suspended"}) },
		fixed:       true,
	})

	ctx := context.Background()
	acme, globex := withTenant(t, newDirectusAdapter(t, d), "acme"), withTenant(t, newDirectusAdapter(t, d), "globex")
	name := testenv.UniqueName("tg")
	g, err := acme.CreateGroup(ctx, &adapters.Group{DisplayName: name, ExternalID: "ext-" + name})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = acme.DeleteGroup(ctx, g.ID) })
	for _, q := range []adapters.Lookup{{Kind: adapters.ByID, Value: g.ID}, {Kind: adapters.ByDisplayName, Value: name}, {Kind: adapters.ByExternalID, Value: "ext-" + name}} {
		if gs, err := globex.FindGroups(ctx, q, false); err != nil || len(gs) != 0 {
			t.Errorf("globex's FindGroups(%v) = %v, %v; want none", q, gs, err)
		}
	}
	if err := globex.DeleteGroup(ctx, g.ID); err == nil {
		t.Error("globex deleted acme's group")
	}
}

// TestDirectusAccounts: what the preset writes is what Directus does with an
// account: a user without a name is created (null, not ""), one without an e-mail
// is refused with Directus' reason (the e-mail is its login), a deprovisioned
// account is suspended and can no longer use its token, and an account in a role
// with an admin policy reads as an administrator, whose admin rights come from the
// role's parent too.
func TestDirectusAccounts(t *testing.T) {
	d := testenv.Directus(t)
	a := newDirectusAdapter(t, d)
	ctx := context.Background()
	name := testenv.UniqueName("dxacct")
	_, err := a.CreateUser(ctx, &adapters.User{UserName: name + "n", Active: true})
	if f, ok := adapters.FactOf(err); !ok || f.Fact != adapters.Invalid || !strings.Contains(f.Reason, "email") {
		t.Errorf("creating a user without e-mail: %v; want Directus' refusal, invalid", err)
	}
	bare, err := a.CreateUser(ctx, &adapters.User{UserName: name, Active: true,
		Emails: []adapters.MultiValue{{Value: name + "b@example.com", Type: "work", Primary: true}}})
	if err != nil {
		t.Fatalf("creating a user without a name: %v", err)
	}
	if bare.User.Name != nil || !bare.Managed {
		t.Errorf("user without a name: %+v", bare)
	}

	u := &adapters.User{UserName: name + "t", ExternalID: "ext-" + name, Active: true,
		Emails: []adapters.MultiValue{{Value: name + "@example.com", Type: "work", Primary: true}}}
	rec, err := a.CreateUser(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	id := rec.User.ID
	token := "tok-" + testenv.UniqueName("")
	directusPatch(t, d, id, map[string]any{"token": token})
	me := func() int {
		req, _ := http.NewRequest("GET", d.URL+"/users/me?fields=id", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := me(); st != http.StatusOK {
		t.Fatalf("the account's own token: %d before deprovisioning", st)
	}
	off := *u
	off.Active = false
	if _, err := a.UpdateUser(ctx, id, &off, adapters.State{Managed: true, Deactivating: true}); err != nil {
		t.Fatal(err)
	}
	if st, out := directus(t, d, "GET", "/users/"+id+"?fields=status", nil); st != http.StatusOK || out["data"].(map[string]any)["status"] != "suspended" {
		t.Errorf("deprovisioned account: %d %v; want status suspended", st, out)
	}
	if st := me(); st == http.StatusOK {
		t.Error("a suspended account still signs in with its token")
	}

	// an administrator through a parent role
	st, out := directus(t, d, "POST", "/roles?fields=id", map[string]any{"name": "Child of admin " + name, "parent": d.AdminRole})
	if st != http.StatusOK {
		t.Fatalf("creating a child role: %d %v", st, out)
	}
	child := out["data"].(map[string]any)["id"].(string)
	directusPatch(t, d, bare.User.ID, map[string]any{"role": child})
	if r := read(t, a, bare.User.ID); !r.Admin {
		t.Error("an account whose role's parent carries the admin policy does not read as an administrator")
	}
	directusPatch(t, d, bare.User.ID, map[string]any{"role": nil, "policies": map[string]any{"create": []any{map[string]any{"policy": d.AdminPolicy}}}})
	if r := read(t, a, bare.User.ID); !r.Admin {
		t.Error("an account given the admin policy directly does not read as an administrator")
	}
}
